//! The measuring kit shared by weft's benchmark binaries (`src/bin/<family>.rs`).
//!
//! Every binary measures its workloads for weft and each peer in the same process run and
//! reports each median with [`emit`]; `cargo xtask bench` runs every binary, collects the
//! lines, and prints the side-by-side table with ratios.
//!
//! Environment (set by `cargo xtask bench`):
//! * `WEFT_BENCH_FILTER`: only workloads whose name contains this text run ([`enabled`]).
//! * `WEFT_BENCH_RUNS`: how many runs a median is taken over ([`runs`], default 5).
//! * `WEFT_BENCH_QUICK`: set to shrink iteration counts ([`scale`]) for a smoke run.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::{
    io::Write,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Whether `workload` passes the filter of this run.
#[must_use]
pub fn enabled(workload: &str) -> bool {
    std::env::var("WEFT_BENCH_FILTER").map_or(true, |f| f.is_empty() || workload.contains(&f))
}

/// How many runs each median is taken over.
#[must_use]
pub fn runs() -> usize {
    std::env::var("WEFT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1)
}

/// Whether this is a quick smoke run.
#[must_use]
pub fn quick() -> bool {
    std::env::var_os("WEFT_BENCH_QUICK").is_some()
}

/// `n`, or a hundredth of it (at least 1) in a quick run.
#[must_use]
pub fn scale(n: u64) -> u64 {
    if quick() { (n / 100).max(1) } else { n }
}

/// The median of `runs()` values of `one_run` (each run returns its own figure).
pub fn median(mut one_run: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..runs()).map(|_| one_run()).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `f` once and returns the elapsed wall time.
pub fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Nanoseconds per operation: the median over [`runs`] of `f`'s wall time divided by `ops`.
pub fn ns_per_op(ops: u64, mut f: impl FnMut()) -> f64 {
    median(|| time(&mut f).as_nanos() as f64 / ops as f64)
}

/// Microseconds per operation, as [`ns_per_op`].
pub fn us_per_op(ops: u64, f: impl FnMut()) -> f64 {
    ns_per_op(ops, f) / 1_000.0
}

/// Reports one median. `imp` is one of `weft`, `std`, `parking_lot`, `crossbeam`, `flume`,
/// `rayon`, `threadpool`, `python`, `floor`; `unit` is `ns/op`, `µs/task`, `×` and so on.
///
/// Prints a line `WEFT-BENCH {"workload":…,"impl":…,"median":…,"unit":…}` that
/// `cargo xtask bench` collects, and a readable line on stderr.
pub fn emit(workload: &str, imp: &str, median: f64, unit: &str) {
    eprintln!("  {workload:<28} {imp:<12} {median:>12.3} {unit}");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "WEFT-BENCH {{\"workload\":\"{workload}\",\"impl\":\"{imp}\",\"median\":{median},\"unit\":\"{unit}\"}}"
    );
    let _ = out.flush();
}

/// Runs a CPython script and returns the median of the numbers it prints, one per line (the
/// script does one run per printed line). `None` when `python3` is absent or the script fails.
#[must_use]
pub fn python_median(script: &str) -> Option<f64> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("WEFT_BENCH_RUNS", runs().to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Pins the calling thread to `cpu` (for the `_pinned` ping-pong workloads). Returns whether
/// it worked.
pub fn pin_to_cpu(cpu: usize) -> bool {
    // SAFETY: `set` is a plain bitmask on our stack, sized as the call expects.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Allows the calling thread on every CPU again.
pub fn unpin() {
    // SAFETY: as in `pin_to_cpu`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..(8 * std::mem::size_of::<libc::cpu_set_t>()) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
