//! The measuring kit shared by weft's benchmark binaries (`src/bin/<family>.rs`).
//!
//! Every binary measures its workloads for weft and each peer in the same process run and
//! reports each median with [`emit`] (or [`emit_sweep`] for one point of a thread sweep);
//! `cargo xtask bench` runs every binary, collects the [`Record`]s (one JSON line each,
//! written with serde_json), and prints the side-by-side table with ratios.
//!
//! Environment (set by `cargo xtask bench`):
//! * `WEFT_BENCH_FILTER`: only workloads whose name contains this text run ([`enabled`]).
//! * `WEFT_BENCH_RUNS`: how many runs a median is taken over ([`runs`], default 5).
//! * `WEFT_BENCH_QUICK`: set to shrink iteration counts ([`scale`]) for a smoke run.
//! * `WEFT_BENCH_THREADS`: the thread counts of the sweeps ([`thread_counts`], default
//!   `1,2,4,8,16`).
//! * `WEFT_BENCH_PROCESSES`: how many processes measure each figure ([`processes`], default 1;
//!   see [`fan_out`]).
//!
//! Each measuring process first reports the machine's state: the cache-line round trip between
//! two CPUs ([`cpu_round_trip`]), as the record `machine_round_trip_<binary>`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::{
    cell::{Cell, RefCell},
    hint::black_box,
    io::Write,
    process::{Command, Stdio},
    sync::{Barrier, OnceLock},
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

/// One reported figure: the line `WEFT-BENCH <json>` a benchmark binary prints, the element of
/// the array `cargo xtask bench --json` writes, and what the report reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The workload's name, e.g. `lock_contended_2` or `lock_out100_t4`.
    pub workload: String,
    /// The implementation: `weft`, `std`, `parking_lot`, `crossbeam`, `flume`, `kanal`,
    /// `async-channel`, `tokio`, `rayon`, `threadpool`, `python` or `floor`.
    #[serde(rename = "impl")]
    pub imp: String,
    /// The median over the runs.
    pub median: f64,
    /// `ns/op`, `ns/item`, `µs/task`, `×` (a speedup: higher is better) and so on.
    pub unit: String,
    /// For a point of a thread sweep: the sweep's name (the workload without `_t<T>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
    /// For a point of a thread sweep: the thread (or worker, or task) count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Every run's figure, in the order measured (when the binary kept them); merged from
    /// several processes ([`merge`]), one process's runs after the other's, as many from each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<f64>,
    /// The two clusters, when the runs fall in two ([`modes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<Modes>,
    /// How many processes measured this figure, when more than one did ([`fan_out`]): `runs`
    /// then holds every process's runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<usize>,
    /// The machine's state as the runs were measured: the cache-line round trip between two
    /// CPUs ([`cpu_round_trip`], ns) just before them, one per process; empty where the binary
    /// did not measure it (the workloads measured with [`rounds`] have it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub round_trips: Vec<f64>,
}

/// A bimodal row: its runs fall in two clusters, the `low` figures and the `high` ones (for a
/// time, low is the fast mode; for a speedup, high is).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Modes {
    /// The median of the low cluster.
    pub low: f64,
    /// How many runs fell in the low cluster.
    pub low_runs: usize,
    /// The median of the high cluster.
    pub high: f64,
    /// How many runs fell in the high cluster.
    pub high_runs: usize,
}

/// Whether `runs` fall in two clusters: split at the widest gap (on a log scale) that leaves at
/// least two runs on each side, and call it bimodal when the two clusters' medians are at least
/// 1.25× apart and the gap is more than twice as wide as either cluster. On this 2-core machine
/// that is the signature of two threads that sometimes share one core.
#[must_use]
pub fn modes(runs: &[f64]) -> Option<Modes> {
    let mut v: Vec<f64> = runs.iter().copied().filter(|x| *x > 0.0).collect();
    if v.len() < 4 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let (split, gap) = (2..=n - 2)
        .map(|i| (i, (v[i] / v[i - 1]).ln()))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let (low, high) = v.split_at(split);
    let spread = |c: &[f64]| (c[c.len() - 1] / c[0]).ln();
    let mid = |c: &[f64]| c[c.len() / 2];
    let (lm, hm) = (mid(low), mid(high));
    (hm / lm >= 1.25 && gap > 2.0 * spread(low).max(spread(high))).then_some(Modes {
        low: lm,
        low_runs: low.len(),
        high: hm,
        high_runs: high.len(),
    })
}

/// Whether `workload` passes the filter of this run.
#[must_use]
pub fn enabled(workload: &str) -> bool {
    std::env::var("WEFT_BENCH_FILTER").map_or(true, |f| f.is_empty() || workload.contains(&f))
}

/// Whether any point of the sweep `base` passes the filter of this run.
#[must_use]
pub fn sweep_enabled(base: &str) -> bool {
    thread_counts()
        .into_iter()
        .any(|t| enabled(&sweep_name(base, t)))
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

/// How many processes measure each figure: `WEFT_BENCH_PROCESSES`, default 1.
#[must_use]
pub fn processes() -> usize {
    std::env::var("WEFT_BENCH_PROCESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// The thread counts of the sweeps: `WEFT_BENCH_THREADS` (comma-separated), default
/// `1,2,4,8,16`.
#[must_use]
pub fn thread_counts() -> Vec<usize> {
    let v: Vec<usize> = std::env::var("WEFT_BENCH_THREADS")
        .ok()
        .map(|s| {
            s.split(',')
                .filter_map(|t| t.trim().parse().ok())
                .filter(|t| *t > 0)
                .collect()
        })
        .unwrap_or_default();
    if v.is_empty() {
        vec![1, 2, 4, 8, 16]
    } else {
        v
    }
}

/// The workload name of one point of a sweep: `<base>_t<threads>`.
#[must_use]
pub fn sweep_name(base: &str, threads: usize) -> String {
    format!("{base}_t{threads}")
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

thread_local! {
    /// The runs of the last [`median`] (or [`python_median`]) on this thread, in the order
    /// measured, with their median, for [`emit`] to report with the median it came from.
    static LAST_RUNS: RefCell<(Vec<f64>, f64)> = const { RefCell::new((Vec::new(), 0.0)) };
    /// The machine's state measured by the last [`rounds`] on this thread, for
    /// [`emit_rounds`] and [`emit_rounds_sweep`].
    static ROUNDS_TRIP: Cell<Option<f64>> = const { Cell::new(None) };
}

/// The median of `runs()` values of `one_run` (each run returns its own figure).
pub fn median(mut one_run: impl FnMut() -> f64) -> f64 {
    let v: Vec<f64> = (0..runs()).map(|_| one_run()).collect();
    median_of(v)
}

/// The median of `v`, remembered with its runs for the next [`emit`] on this thread.
fn median_of(v: Vec<f64>) -> f64 {
    let m = median_value(&v);
    LAST_RUNS.with(|r| *r.borrow_mut() = (v, m));
    m
}

/// The median of `v` (the upper one of an even count), `v` left in its order.
///
/// # Panics
///
/// If `v` is empty.
#[must_use]
pub fn median_value(v: &[f64]) -> f64 {
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// weft ÷ a peer mode by mode, when either figure is bimodal: (low mode ÷ low mode, high mode ÷
/// high mode), a unimodal figure standing for both of its modes. On a 2-core machine the low
/// and high modes of a time are "the threads had a core each" and "they shared one", so this
/// compares like with like where the overall medians compare a coin toss.
#[must_use]
pub fn ratio_by_mode(weft: (f64, Option<Modes>), peer: (f64, Option<Modes>)) -> Option<(f64, f64)> {
    if weft.1.is_none() && peer.1.is_none() {
        return None;
    }
    let ends = |(m, modes): (f64, Option<Modes>)| modes.map_or((m, m), |x| (x.low, x.high));
    let (wl, wh) = ends(weft);
    let (pl, ph) = ends(peer);
    Some((wl / pl, wh / ph))
}

/// weft ÷ a peer in each state of the machine, when the figures' processes saw both: (with the
/// CPUs near, with them far), each the median of weft's runs in processes of that state over the
/// peer's. A process is "far" when its round trip ([`Record::round_trips`]) is above `far_above`
/// ns. `None` when the processes saw only one state, or the records do not say (no round trips,
/// or runs that do not split evenly into one share per process).
#[must_use]
pub fn ratio_by_state(weft: &Record, peer: &Record, far_above: f64) -> Option<(f64, f64)> {
    let split = |r: &Record| -> Option<(Vec<f64>, Vec<f64>)> {
        let p = r.round_trips.len();
        if p == 0 || r.runs.is_empty() || !r.runs.len().is_multiple_of(p) {
            return None;
        }
        let each = r.runs.len() / p;
        let (mut near, mut far) = (Vec::new(), Vec::new());
        for (k, trip) in r.round_trips.iter().enumerate() {
            let runs = &r.runs[k * each..(k + 1) * each];
            if *trip > far_above {
                far.extend_from_slice(runs);
            } else {
                near.extend_from_slice(runs);
            }
        }
        Some((near, far))
    };
    let (wn, wf) = split(weft)?;
    let (pn, pf) = split(peer)?;
    if [&wn, &wf, &pn, &pf].iter().any(|v| v.is_empty()) {
        return None;
    }
    Some((
        median_value(&wn) / median_value(&pn),
        median_value(&wf) / median_value(&pf),
    ))
}

/// How weft's runs compare with a peer's, run by run: the runs are paired in the order measured
/// (the same round of [`rounds`] in the same process, or for the binaries that measure one
/// implementation at a time, the same run of the same process), and the pairs tested with the
/// Wilcoxon signed-rank test on the log of each pair's ratio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// How many pairs differ (pairs with equal figures are left out, as the test does).
    pub pairs: usize,
    /// In how many of them weft did worse (a longer time, a lower speedup).
    pub worse: usize,
    /// The one-sided p-value of "weft is worse": the chance, were weft and the peer alike, of a
    /// signed-rank sum at least as far on weft's worse side as the one measured. Exact: the
    /// permutation distribution of the ranks measured, ties given their average rank.
    pub p: f64,
}

impl Paired {
    /// The fewest pairs from which the test can give a p-value below 0.05 (at 5 pairs the
    /// smallest possible is 1/32; below, a verdict is out of reach).
    pub const FEWEST: usize = 5;

    /// Whether the runs show weft behind beyond their spread: at least [`Self::FEWEST`] pairs
    /// and `p < 0.05`.
    #[must_use]
    pub fn behind(&self) -> bool {
        self.pairs >= Self::FEWEST && self.p < 0.05
    }
}

/// weft's runs against `peer`'s, pair by pair ([`Paired`]); `higher_is_better` for a speedup or
/// a rate. `None` when the two records do not hold as many runs each (a figure measured
/// elsewhere, like CPython's) or a run is not a positive figure.
#[must_use]
pub fn paired(weft: &Record, peer: &Record, higher_is_better: bool) -> Option<Paired> {
    if weft.runs.len() != peer.runs.len()
        || weft.runs.is_empty()
        || !weft
            .runs
            .iter()
            .chain(&peer.runs)
            .all(|v| v.is_finite() && *v > 0.0)
    {
        return None;
    }
    // Positive: weft worse in that pair.
    let d: Vec<f64> = weft
        .runs
        .iter()
        .zip(&peer.runs)
        .map(|(w, p)| {
            let l = (w / p).ln();
            if higher_is_better { -l } else { l }
        })
        .filter(|l| *l != 0.0)
        .collect();
    let n = d.len();
    let worse = d.iter().filter(|l| **l > 0.0).count();
    // Ranks of |d|, doubled so that average ranks of ties stay whole numbers.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| d[a].abs().total_cmp(&d[b].abs()));
    let mut rank2 = vec![0usize; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && d[order[j + 1]].abs() == d[order[i]].abs() {
            j += 1;
        }
        // Positions i..=j (ranks i + 1 ..= j + 1) share their average, doubled: i + j + 2.
        for &k in &order[i..=j] {
            rank2[k] = i + j + 2;
        }
        i = j + 1;
    }
    let observed: usize = (0..n).filter(|&k| d[k] > 0.0).map(|k| rank2[k]).sum();
    // ways[s]: how many of the 2^n sign patterns give the positive ranks the (doubled) sum s.
    let total: usize = rank2.iter().sum();
    let mut ways = vec![0f64; total + 1];
    ways[0] = 1.0;
    for &r in &rank2 {
        for s in (r..=total).rev() {
            ways[s] += ways[s - r];
        }
    }
    let at_least: f64 = ways[observed..].iter().sum();
    let p = at_least / ways.iter().sum::<f64>();
    Some(Paired { pairs: n, worse, p })
}

/// One implementation in a [`rounds`] comparison: its name (as [`emit`] takes it) and one run
/// of its workload, returning the run's figure.
pub type Contender<'a> = (&'static str, &'a mut dyn FnMut() -> f64);

/// Measures several implementations of one workload in interleaved rounds: each round runs
/// every contender once, starting one further along the list each round, for [`runs`] rounds.
/// First it takes the machine's state ([`cpu_round_trip`]), which [`emit_rounds`] reports with
/// the figures.
/// A change in the machine's load then falls on every implementation alike, where running all
/// of one implementation's runs before the next one's would hand one of them the quiet minutes.
/// Returns each contender's name with its runs, in the order given.
pub fn rounds(contenders: &mut [Contender<'_>]) -> Vec<(&'static str, Vec<f64>)> {
    ROUNDS_TRIP.with(|t| t.set(cpu_round_trip()));
    let n = contenders.len();
    let mut runs_of: Vec<Vec<f64>> = vec![Vec::new(); n];
    for round in 0..runs() {
        for k in 0..n {
            let i = (round + k) % n;
            runs_of[i].push((contenders[i].1)());
        }
    }
    contenders.iter().map(|c| c.0).zip(runs_of).collect()
}

/// Reports what [`rounds`] measured: each contender's median, with its runs (as [`emit`]).
pub fn emit_rounds(workload: &str, unit: &str, results: Vec<(&'static str, Vec<f64>)>) {
    let trip = ROUNDS_TRIP.with(Cell::take);
    for (imp, runs) in results {
        emit_record(Record {
            workload: workload.to_string(),
            imp: imp.to_string(),
            median: median_value(&runs),
            unit: unit.to_string(),
            sweep: None,
            threads: None,
            modes: modes(&runs),
            runs,
            processes: None,
            round_trips: trip.into_iter().collect(),
        });
    }
}

/// Reports what [`rounds`] measured for one point of the thread sweep `base` (as
/// [`emit_sweep`]).
pub fn emit_rounds_sweep(
    base: &str,
    threads: usize,
    unit: &str,
    results: Vec<(&'static str, Vec<f64>)>,
) {
    let trip = ROUNDS_TRIP.with(Cell::take);
    for (imp, runs) in results {
        emit_record(Record {
            workload: sweep_name(base, threads),
            imp: imp.to_string(),
            median: median_value(&runs),
            unit: unit.to_string(),
            sweep: Some(base.to_string()),
            threads: Some(threads),
            modes: modes(&runs),
            runs,
            processes: None,
            round_trips: trip.into_iter().collect(),
        });
    }
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

/// Nanoseconds per operation of one run of `f` (`ops` operations), for [`rounds`].
pub fn ns_once(ops: u64, f: impl FnOnce()) -> f64 {
    time(f).as_nanos() as f64 / ops as f64
}

/// Microseconds per operation, as [`ns_per_op`].
pub fn us_per_op(ops: u64, mut f: impl FnMut()) -> f64 {
    median(|| time(&mut f).as_nanos() as f64 / ops as f64 / 1_000.0)
}

/// Reports one median. `imp` is one of `weft`, `std`, `parking_lot`, `crossbeam`, `flume`,
/// `kanal`, `async-channel`, `tokio`, `rayon`, `threadpool`, `python`, `floor`; `unit` is
/// `ns/op`, `µs/task`, `×` and so on.
///
/// Prints a line `WEFT-BENCH {"workload":…,"impl":…,"median":…,"unit":…,…}` that
/// `cargo xtask bench` collects, and a readable line on stderr. When `median` is the figure the
/// last [`median`] on this thread returned, its runs go with it (and, if they fall in two
/// clusters, the two [`Modes`]).
pub fn emit(workload: &str, imp: &str, median: f64, unit: &str) {
    emit_record(Record {
        workload: workload.to_string(),
        imp: imp.to_string(),
        median,
        unit: unit.to_string(),
        sweep: None,
        threads: None,
        runs: Vec::new(),
        modes: None,
        processes: None,
        round_trips: Vec::new(),
    });
}

/// Reports one point of the thread sweep `base`: the workload `<base>_t<threads>`, as [`emit`].
pub fn emit_sweep(base: &str, threads: usize, imp: &str, median: f64, unit: &str) {
    emit_record(Record {
        workload: sweep_name(base, threads),
        imp: imp.to_string(),
        median,
        unit: unit.to_string(),
        sweep: Some(base.to_string()),
        threads: Some(threads),
        runs: Vec::new(),
        modes: None,
        processes: None,
        round_trips: Vec::new(),
    });
}

fn emit_record(mut r: Record) {
    let (last, m) = LAST_RUNS.with(|l| std::mem::take(&mut *l.borrow_mut()));
    if r.runs.is_empty() && !last.is_empty() && m.to_bits() == r.median.to_bits() {
        r.modes = modes(&last);
        r.runs = last;
    }
    print_record(&r);
}

/// Prints `r`: the `WEFT-BENCH` JSON line on stdout, a readable line on stderr.
fn print_record(r: &Record) {
    let modes = r.modes.map_or_else(String::new, |m| {
        format!(
            "   bimodal: {:.3} ({} runs) / {:.3} ({} runs)",
            m.low, m.low_runs, m.high, m.high_runs
        )
    });
    let over = r
        .processes
        .map_or_else(String::new, |p| format!("   ({p} processes)"));
    eprintln!(
        "  {:<28} {:<13} {:>12.3} {}{modes}{over}",
        r.workload, r.imp, r.median, r.unit
    );
    let json = serde_json::to_string(r).expect("a record always serializes");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "WEFT-BENCH {json}");
    let _ = out.flush();
}

/// Measures in several processes when [`processes`] asks for more than one; call it first thing
/// in a benchmark binary's `main`, and return at once when it returns `true`.
///
/// Some of this machine's modes hold for a whole process: where its threads (or a runtime's
/// workers) land, the first time they run, can decide every run after. A figure from one
/// process is then one draw of that placement, however many runs it takes. With
/// `WEFT_BENCH_PROCESSES=P` (P > 1) this binary runs itself P times in turn, each child
/// measuring every enabled workload with [`runs`] runs as usual; the children's records are
/// then [`merge`]d, figure by figure, and printed as this process's own. A mode that holds for
/// a whole process then shows as one of the [`Modes`] of the merged runs, rather than as
/// whichever mode the one process drew.
///
/// Returns `false` (measure here) when one process is asked for, or in a child; the process
/// that measures first reports the machine's state ([`cpu_round_trip`]).
///
/// # Panics
///
/// If this binary cannot be run again; a child that fails ends this process with its exit code
/// after its output has been passed on.
pub fn fan_out() -> bool {
    let p = processes();
    if p <= 1 {
        machine_probe();
        return false;
    }
    let exe = std::env::current_exe().expect("the benchmark binary's own path");
    let mut all = Vec::new();
    for k in 1..=p {
        eprintln!("  -- process {k} of {p}");
        let out = Command::new(&exe)
            .env("WEFT_BENCH_PROCESSES", "1")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("running the benchmark binary again");
        let mut stdout = std::io::stdout().lock();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            match line.strip_prefix("WEFT-BENCH ") {
                Some(json) => match serde_json::from_str::<Record>(json) {
                    Ok(r) => all.push(r),
                    Err(e) => eprintln!("  unreadable record ({e}): {line}"),
                },
                None => {
                    let _ = writeln!(stdout, "{line}");
                }
            }
        }
        drop(stdout);
        if !out.status.success() {
            std::process::exit(out.status.code().unwrap_or(1));
        }
    }
    eprintln!("  -- merged over {p} processes");
    for r in merge(all) {
        print_record(&r);
    }
    true
}

/// The prefix of the machine-state records: `machine_round_trip_<binary>`, implementation
/// `machine`, one figure per process ([`cpu_round_trip`]).
pub const MACHINE_PREFIX: &str = "machine_round_trip_";

/// The implementation name of the machine-state records ([`MACHINE_PREFIX`]).
pub const MACHINE: &str = "machine";

/// Reports the machine's state as this process starts to measure: [`cpu_round_trip`] as the
/// record `machine_round_trip_<binary>` (implementation `machine`, unit `ns`).
fn machine_probe() {
    let Some(ns) = cpu_round_trip() else {
        return;
    };
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bench".into());
    emit(&format!("{MACHINE_PREFIX}{bin}"), MACHINE, ns, "ns");
}

/// How far apart two CPUs of this process are: the round trip, in ns, of a value passed back and
/// forth through one cache line between two threads pinned to the first two CPUs this process
/// may use (the median of 5 batches of 4 000 round trips). `None` with fewer than two CPUs, or
/// when a thread cannot be pinned.
///
/// On a virtual machine this is the host's placement of the two vCPUs, and it changes while a
/// program runs: on this project's 2-vCPU machine it measures about 70 ns most of the time, and
/// about 430 ns for periods of seconds to tens of seconds, a factor of six on every cache line
/// that crosses between the two. Every workload whose threads share a line on both CPUs pays it; the report
/// prints each benchmark process's figure so that a bimodal row can be read against it.
///
/// # Panics
///
/// If a probe thread panics (neither does: they only load, store and read the clock).
#[must_use]
pub fn cpu_round_trip() -> Option<f64> {
    use std::sync::atomic::{
        AtomicBool, AtomicU64,
        Ordering::{Acquire, Relaxed, Release},
    };
    const BATCHES: u64 = 5;
    const TRIPS: u64 = 4_000;
    let cpus = allowed_cpus();
    let (&a, &b) = (cpus.first()?, cpus.get(1)?);
    // Even: the pinger's turn; odd: the ponger's. u64::MAX: the pinger could not be pinned.
    let line = AtomicU64::new(0);
    let ponger_failed = AtomicBool::new(false);
    let end = 2 * BATCHES * TRIPS;
    let figures = thread::scope(|s| {
        let (line, ponger_failed) = (&line, &ponger_failed);
        s.spawn(move || {
            if !pin_to_cpu(b) {
                ponger_failed.store(true, Release);
                return;
            }
            loop {
                let v = line.load(Acquire);
                if v >= end {
                    return;
                }
                if v % 2 == 1 {
                    line.store(v + 1, Release);
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        s.spawn(move || {
            if !pin_to_cpu(a) {
                line.store(u64::MAX, Release);
                return None;
            }
            let mut figures = Vec::new();
            for _ in 0..BATCHES {
                let t = Instant::now();
                for _ in 0..TRIPS {
                    let v = line.load(Relaxed);
                    line.store(v + 1, Release);
                    while line.load(Acquire) == v + 1 {
                        if ponger_failed.load(Acquire) {
                            return None;
                        }
                        std::hint::spin_loop();
                    }
                }
                figures.push(t.elapsed().as_nanos() as f64 / TRIPS as f64);
            }
            Some(figures)
        })
        .join()
        .expect("the probe's pinger does not panic")
    })?;
    let mut f = figures;
    f.sort_by(f64::total_cmp);
    Some(f[f.len() / 2])
}

/// The CPUs this process may run on, in order.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bitmask on our stack, sized as the call expects.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Merges the records of several processes ([`fan_out`]): one record per workload and
/// implementation, in the order of first appearance, whose runs are every process's runs one
/// process after the other (a record that kept no runs counts its median as one), its median
/// and [`Modes`] taken over them, its `round_trips` every process's, and `processes` the
/// number of records merged.
#[must_use]
pub fn merge(records: Vec<Record>) -> Vec<Record> {
    let mut merged: Vec<Record> = Vec::new();
    for r in records {
        let runs = if r.runs.is_empty() {
            vec![r.median]
        } else {
            r.runs.clone()
        };
        match merged
            .iter_mut()
            .find(|m| m.workload == r.workload && m.imp == r.imp)
        {
            Some(m) => {
                m.runs.extend(runs);
                m.round_trips.extend(r.round_trips);
                m.processes = Some(m.processes.unwrap_or(1) + 1);
            }
            None => merged.push(Record {
                runs,
                processes: Some(1),
                ..r
            }),
        }
    }
    for m in &mut merged {
        m.median = median_value(&m.runs);
        m.modes = modes(&m.runs);
    }
    merged
}

/// Runs `threads` threads, released together by a barrier; thread `i` runs `body(i)`. Returns
/// the wall time from the first thread's start to the last one's end (each thread reads the
/// clock itself, so a descheduled caller cannot skew it).
///
/// # Panics
///
/// If `body` panics on any thread (the panic is passed on).
pub fn run_threads(threads: usize, body: &(impl Fn(usize) + Sync)) -> Duration {
    let start = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let t = Instant::now();
                    body(i);
                    (t, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    last - first
}

/// Thread `i`'s share of `total` operations split over `threads` (the shares add up to
/// `total` exactly).
#[must_use]
pub fn share(total: u64, threads: usize, i: usize) -> u64 {
    let t = threads as u64;
    total / t + u64::from((i as u64) < total % t)
}

/// One run of the sweep harness ([`sweep_ns_per_op`]): ns per operation of a single run, for
/// [`rounds`].
///
/// # Panics
///
/// If `body` panics on any thread.
pub fn sweep_ns_once(threads: usize, total: u64, body: &(impl Fn(usize, u64) + Sync)) -> f64 {
    let wall = run_threads(threads, &|i| body(i, share(total, threads, i)));
    wall.as_nanos() as f64 / total as f64
}

/// The sweep harness: `threads` threads start together, thread `i` runs `body(i, n)` with its
/// [`share`] `n` of `total` operations; ns per operation = wall time / `total`, the median of
/// [`runs`].
///
/// # Panics
///
/// If `body` panics on any thread.
pub fn sweep_ns_per_op(threads: usize, total: u64, body: &(impl Fn(usize, u64) + Sync)) -> f64 {
    median(|| sweep_ns_once(threads, total, body))
}

/// Real work that the compiler cannot remove or fold: a chain of dependent multiply-xorshift
/// steps. `iters` comes from [`work`]; the result must reach a [`black_box`] or the data.
#[inline]
#[must_use]
pub fn spin(iters: u64, seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..black_box(iters) {
        x = x
            .wrapping_mul(0x5851_f42d_4c95_7f2d)
            .wrapping_add(0x1405_7b7e_f767_814f);
        x ^= x >> 29;
    }
    x
}

/// How many [`spin`] iterations take about `ns` nanoseconds on this machine (calibrated once
/// per process: the fastest of five timings of a million iterations).
#[must_use]
pub fn work(ns: f64) -> u64 {
    static NS_PER_ITER: OnceLock<f64> = OnceLock::new();
    let per = *NS_PER_ITER.get_or_init(|| {
        const N: u64 = 1_000_000;
        (0..5)
            .map(|k| {
                let t = Instant::now();
                black_box(spin(N, k));
                t.elapsed().as_nanos() as f64 / N as f64
            })
            .fold(f64::INFINITY, f64::min)
    });
    ((ns / per).round() as u64).max(1)
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
    let v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if v.is_empty() {
        return None;
    }
    Some(median_of(v))
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::{
        Modes, Paired, Record, allowed_cpus, cpu_round_trip, median_value, merge, modes, paired,
        ratio_by_mode, ratio_by_state, rounds, share,
    };

    #[test]
    fn two_clusters_are_two_modes() {
        let m = modes(&[161.0, 80.0, 160.0, 81.0, 158.0]).unwrap();
        assert_eq!(
            m,
            Modes {
                low: 81.0,
                low_runs: 2,
                high: 160.0,
                high_runs: 3
            }
        );
    }

    #[test]
    fn one_cluster_or_one_outlier_is_not_bimodal() {
        assert_eq!(modes(&[100.0, 101.0, 99.0, 102.0, 100.5]), None);
        // A single slow run is an outlier, not a second mode.
        assert_eq!(modes(&[100.0, 101.0, 99.0, 102.0, 190.0]), None);
        // Two clusters that are close together are noise.
        assert_eq!(modes(&[100.0, 101.0, 110.0, 111.0, 112.0]), None);
        assert_eq!(modes(&[1.0, 2.0, 3.0]), None);
    }

    #[test]
    fn ratios_by_mode_pair_low_with_low_and_high_with_high() {
        let m = |low, high| Modes {
            low,
            low_runs: 3,
            high,
            high_runs: 2,
        };
        assert_eq!(ratio_by_mode((5.0, None), (4.0, None)), None);
        // A unimodal weft against a bimodal peer: one figure for both modes.
        assert_eq!(
            ratio_by_mode((6.0, None), (4.5, Some(m(4.0, 24.0)))),
            Some((1.5, 0.25))
        );
        assert_eq!(
            ratio_by_mode((5.0, Some(m(4.0, 20.0))), (4.0, Some(m(4.0, 40.0)))),
            Some((1.0, 0.5))
        );
    }

    #[test]
    fn rounds_interleave_the_contenders_and_rotate_who_goes_first() {
        let order = RefCell::new(String::new());
        let run = |name: char, figure: f64| {
            order.borrow_mut().push(name);
            figure
        };
        let results = rounds(&mut [
            ("a", &mut || run('a', 1.0)),
            ("b", &mut || run('b', 2.0)),
            ("c", &mut || run('c', 3.0)),
        ]);
        let n = super::runs();
        let expected: String = (0..n)
            .flat_map(|r| (0..3).map(move |k| ['a', 'b', 'c'][(r + k) % 3]))
            .collect();
        assert_eq!(*order.borrow(), expected);
        assert_eq!(
            results,
            vec![
                ("a", vec![1.0; n]),
                ("b", vec![2.0; n]),
                ("c", vec![3.0; n])
            ]
        );
    }

    #[test]
    fn shares_add_up_to_the_total() {
        for (total, threads) in [(10, 3), (500_000, 16), (5, 8), (7, 1)] {
            let sum: u64 = (0..threads).map(|i| share(total, threads, i)).sum();
            assert_eq!(sum, total);
        }
    }

    #[test]
    fn a_record_is_one_json_line_and_reads_back() {
        let r = Record {
            workload: "queue_mpmc_out100_t2".into(),
            imp: "kanal".into(),
            median: 42.5,
            unit: "ns/item".into(),
            sweep: Some("queue_mpmc_out100".into()),
            threads: Some(2),
            runs: vec![40.0, 42.5, 43.0],
            modes: None,
            processes: None,
            round_trips: Vec::new(),
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains('\n'));
        assert!(!line.contains("modes"));
        assert!(!line.contains("processes"));
        assert!(!line.contains("round_trips"));
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    }

    #[test]
    fn merged_processes_show_a_mode_that_holds_for_a_whole_process() {
        let rec = |imp: &str, runs: Vec<f64>| Record {
            workload: "async_queue_mpmc_t2".into(),
            imp: imp.into(),
            median: runs[runs.len() / 2],
            unit: "ns/item".into(),
            sweep: Some("async_queue_mpmc".into()),
            threads: Some(2),
            runs,
            modes: None,
            processes: None,
            round_trips: Vec::new(),
        };
        // Three processes: the second ran weft in its slow mode throughout.
        let merged = merge(vec![
            rec("weft", vec![14.0, 14.5, 15.0]),
            rec("kanal", vec![12.0, 12.5, 13.0]),
            rec("weft", vec![33.0, 34.0, 35.0]),
            rec("kanal", vec![12.2, 12.4, 12.6]),
            rec("weft", vec![13.8, 14.2, 14.6]),
            Record {
                runs: Vec::new(),
                ..rec("kanal", vec![12.3])
            },
        ]);
        assert_eq!(merged.len(), 2);
        let (weft, kanal) = (&merged[0], &merged[1]);
        assert_eq!((weft.imp.as_str(), kanal.imp.as_str()), ("weft", "kanal"));
        assert_eq!(weft.processes, Some(3));
        assert_eq!(kanal.processes, Some(3));
        assert_eq!(weft.runs.len(), 9);
        // A record without runs counts its median as one run.
        assert_eq!(kanal.runs.len(), 7);
        assert_eq!(kanal.median, 12.4);
        assert_eq!(kanal.modes, None);
        assert_eq!(weft.median, 14.6);
        assert_eq!(
            weft.modes,
            Some(Modes {
                low: 14.5,
                low_runs: 6,
                high: 34.0,
                high_runs: 3
            })
        );
    }

    #[test]
    fn the_probe_times_a_round_trip_between_two_cpus_or_says_it_cannot() {
        let cpus = allowed_cpus();
        assert!(cpus.windows(2).all(|w| w[0] < w[1]));
        match cpu_round_trip() {
            Some(ns) => {
                assert!(cpus.len() >= 2);
                // A round trip is two stores seen by the other CPU: more than nothing, and on any
                // machine less than a millisecond.
                assert!(ns > 0.0 && ns < 1e6, "{ns} ns");
            }
            None => assert!(cpus.len() < 2),
        }
    }

    #[test]
    fn ratios_by_state_split_the_runs_process_by_process() {
        let rec = |imp: &str, runs: Vec<f64>, trips: Vec<f64>| Record {
            workload: "w_t2".into(),
            imp: imp.into(),
            median: median_value(&runs),
            unit: "ns/item".into(),
            sweep: None,
            threads: None,
            runs,
            modes: None,
            processes: Some(trips.len()),
            round_trips: trips,
        };
        // Three processes of two runs each; the second ran with the CPUs far apart.
        let trips = vec![70.0, 430.0, 75.0];
        let weft = rec(
            "weft",
            vec![18.0, 17.0, 40.0, 42.0, 18.5, 17.5],
            trips.clone(),
        );
        let kanal = rec("kanal", vec![21.0, 22.0, 19.0, 20.0, 21.5, 20.5], trips);
        let (near, far) = ratio_by_state(&weft, &kanal, 200.0).unwrap();
        assert!((near - 18.0 / 21.5).abs() < 1e-12, "{near}");
        assert!((far - 42.0 / 20.0).abs() < 1e-12, "{far}");
        // One state only, no round trips, or runs that do not split evenly: no split.
        assert_eq!(ratio_by_state(&weft, &kanal, 1000.0), None);
        let bare = Record {
            round_trips: Vec::new(),
            ..weft.clone()
        };
        assert_eq!(ratio_by_state(&bare, &kanal, 200.0), None);
        let odd = Record {
            runs: vec![1.0; 5],
            ..weft.clone()
        };
        assert_eq!(ratio_by_state(&odd, &kanal, 200.0), None);
    }

    #[test]
    fn merged_runs_keep_each_process_in_order_with_its_round_trip() {
        let rec = |runs: Vec<f64>, trip: f64| Record {
            workload: "w".into(),
            imp: "weft".into(),
            median: median_value(&runs),
            unit: "ns/op".into(),
            sweep: None,
            threads: None,
            runs,
            modes: None,
            processes: None,
            round_trips: vec![trip],
        };
        let m = merge(vec![rec(vec![3.0, 1.0], 70.0), rec(vec![9.0, 8.0], 440.0)]);
        assert_eq!(m[0].runs, vec![3.0, 1.0, 9.0, 8.0]);
        assert_eq!(m[0].round_trips, vec![70.0, 440.0]);
        assert_eq!(m[0].median, 8.0);
        assert_eq!(m[0].processes, Some(2));
    }

    fn runs(imp: &str, unit: &str, runs: Vec<f64>) -> Record {
        Record {
            workload: "w_t2".into(),
            imp: imp.into(),
            median: median_value(&runs),
            unit: unit.into(),
            sweep: None,
            threads: None,
            runs,
            modes: None,
            processes: None,
            round_trips: Vec::new(),
        }
    }

    #[test]
    fn paired_runs_weft_loses_every_one_of_are_behind() {
        // Nine pairs, weft slower in each: the largest signed-rank sum, 1 of 2^9 patterns.
        let weft = runs(
            "weft",
            "ns/op",
            (1..=9).map(|k| 100.0 + f64::from(k)).collect(),
        );
        let peer = runs("std", "ns/op", vec![100.0; 9]);
        let t = paired(&weft, &peer, false).unwrap();
        assert_eq!((t.pairs, t.worse), (9, 9));
        assert!((t.p - 1.0 / 512.0).abs() < 1e-15, "{}", t.p);
        assert!(t.behind());
        // The same figures as speedups: weft's are the higher, so it is ahead in every pair.
        let t = paired(&runs("weft", "×", weft.runs.clone()), &peer, true).unwrap();
        assert_eq!(t.worse, 0);
        assert!((t.p - 1.0).abs() < 1e-15);
        assert!(!t.behind());
    }

    #[test]
    fn the_signed_rank_p_value_is_exact() {
        // log ratios of +1, +2, -3, +4, +5 (in units of the smallest): ranks 1..5, W+ = 12.
        // Of the 32 sign patterns, 5 reach 12 or more ({} {1} {2} {3} {1,2} negative).
        let w = [1.0, 2.0, -3.0, 4.0, 5.0].map(|k: f64| 100.0 * (k * 0.01).exp());
        let t = paired(
            &runs("weft", "ns/op", w.to_vec()),
            &runs("kanal", "ns/op", vec![100.0; 5]),
            false,
        )
        .unwrap();
        assert_eq!((t.pairs, t.worse), (5, 4));
        assert!((t.p - 5.0 / 32.0).abs() < 1e-12, "{}", t.p);
        assert!(!t.behind());
    }

    #[test]
    fn ties_share_their_rank_and_equal_pairs_drop_out() {
        // Pairs: equal (left out), +a, +a, -a, +b with b > a (a = ln 2, b = ln 4, exact in
        // binary): ranks 2, 2, 2 (average of 1..3)
        // and 4, doubled 4, 4, 4, 8; W+ doubled = 16 of a total 20. Patterns of the four signs
        // with a doubled positive sum of 16 or more: all four positive (20), or one `a` negative
        // (16, three ways): 4 of 16.
        let t = paired(
            &runs("weft", "ns/op", vec![100.0, 200.0, 200.0, 50.0, 400.0]),
            &runs("std", "ns/op", vec![100.0; 5]),
            false,
        )
        .unwrap();
        assert_eq!((t.pairs, t.worse), (4, 3));
        assert!((t.p - 4.0 / 16.0).abs() < 1e-12, "{}", t.p);
        // Five pairs are the fewest that can show weft behind; four, even all lost, cannot.
        let four = paired(
            &runs("weft", "ns/op", vec![2.0; 4]),
            &runs("std", "ns/op", vec![1.0; 4]),
            false,
        )
        .unwrap();
        assert!((four.p - 1.0 / 16.0).abs() < 1e-12);
        assert!(!four.behind());
        assert_eq!(Paired::FEWEST, 5);
    }

    #[test]
    fn runs_that_do_not_pair_are_not_tested() {
        let weft = runs("weft", "ns/op", vec![1.0, 2.0, 3.0]);
        assert_eq!(
            paired(&weft, &runs("python", "ns/op", vec![9.0]), false),
            None
        );
        let bare = Record {
            runs: Vec::new(),
            ..runs("std", "ns/op", vec![2.0])
        };
        assert_eq!(paired(&weft, &bare, false), None);
        assert_eq!(
            paired(&weft, &runs("std", "ns/op", vec![1.0, 0.0, 1.0]), false),
            None
        );
        // Identical runs: no pair differs, nothing to hold against weft.
        let t = paired(&weft, &weft, false).unwrap();
        assert_eq!((t.pairs, t.worse), (0, 0));
        assert!((t.p - 1.0).abs() < 1e-15);
    }
}
