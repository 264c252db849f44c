//! `process_startup`, `process_submit`, `process_map_chunked`: weft's `ProcessPoolExecutor` vs
//! CPython's `ProcessPoolExecutor` (fork context) and the bare mechanism (`floor`: fork +
//! socketpair round trips); `cpu_bound_processes` and `cpu_bound_threads`: the guide's
//! CPU-bound example, speedup over sequential, weft's pools vs two std threads.
//! `cpu_bound_sweep` (`_t<T>`: T workers, for each T of `--threads`): the same example cut in 16
//! pieces, speedup over sequential of weft's `ProcessPoolExecutor` with T workers vs T std
//! threads and a T-thread rayon pool.
//!
//! Process pools fork: every process workload runs first, and the sweep's process pools are
//! built then too, before any thread pool exists; the sweep and `cpu_bound_threads` then run
//! weft and its peers in interleaved rounds ([`weft_bench::rounds`]), so that the machine's
//! changes of state fall on all of them alike (a report once measured weft's sweep while the
//! second vCPU was mostly gone and the peers' after it was back), with one sequential baseline
//! per round, shared by its contenders ([`Baseline`]).
#![allow(clippy::disallowed_types, missing_docs)]

use std::{
    hint::black_box,
    os::fd::{AsRawFd, OwnedFd},
    time::{Duration, Instant},
};

use weft_bench::{
    emit, emit_rounds, emit_rounds_sweep, enabled, median, python_median, quick, rounds, scale,
    sweep_name, thread_counts, us_per_op,
};
use weft_futures::MapOptions;
use weft_pool::ThreadPoolExecutor;
use weft_process::ProcessPoolExecutor;

const WORKERS: usize = 2;

fn add_one(x: u64) -> u64 {
    x + 1
}

/// The guide's `sum(i * i for i in range(n))`, one `black_box` per term so that LLVM cannot
/// fold it into a closed form. Never inlined: every caller (the sequential baseline, a process
/// worker, a std thread, a rayon job) then runs the same machine code, and a speedup measures
/// the parallelism alone (inlined into rayon's closure it compiled to a loop about twice as fast
/// as the sequential baseline's, which read as a speedup of 2 on one thread).
#[inline(never)]
fn cpu_bound(n: u64) -> u64 {
    let mut s = 0u64;
    for i in 0..n {
        s = s.wrapping_add(black_box(i * i));
    }
    s
}

fn socketpair() -> (OwnedFd, OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut sv = [0; 2];
    // SAFETY: `sv` is the two-descriptor array socketpair fills.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0);
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) }
}

fn write8(fd: i32, v: u64) {
    let b = v.to_le_bytes();
    // SAFETY: writing a stack buffer.
    let n = unsafe { libc::write(fd, b.as_ptr().cast(), 8) };
    assert_eq!(n, 8);
}

fn read8(fd: i32) -> Option<u64> {
    let mut b = [0u8; 8];
    let mut at = 0;
    while at < 8 {
        // SAFETY: reading into a stack buffer.
        let n = unsafe { libc::read(fd, b[at..].as_mut_ptr().cast(), 8 - at) };
        if n <= 0 {
            return None;
        }
        at += n as usize;
    }
    Some(u64::from_le_bytes(b))
}

/// The floor: a forked child that answers each 8-byte number with number + 1 until EOF.
struct Echo {
    pid: libc::pid_t,
    fd: OwnedFd,
}

impl Echo {
    fn spawn() -> Self {
        let (a, b) = socketpair();
        // SAFETY: the child only does read/write system calls and leaves through `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            drop(a);
            let fd = b.as_raw_fd();
            // Other children's sockets were inherited too: close all but ours and stdio.
            // SAFETY: close_range only closes descriptors, none of which this child uses.
            unsafe {
                libc::syscall(libc::SYS_close_range, 3u32, (fd - 1) as u32, 0u32);
                libc::syscall(libc::SYS_close_range, (fd + 1) as u32, u32::MAX, 0u32);
            }
            while let Some(v) = read8(fd) {
                write8(fd, v + 1);
            }
            // SAFETY: leaving the child at once.
            unsafe { libc::_exit(0) };
        }
        drop(b);
        Self { pid, fd: a }
    }

    fn round_trip(&self, v: u64) -> u64 {
        write8(self.fd.as_raw_fd(), v);
        read8(self.fd.as_raw_fd()).unwrap()
    }

    fn close(self) {
        drop(self.fd);
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(self.pid, &mut st, 0) };
    }
}

fn ms_median(mut f: impl FnMut() -> Duration) -> f64 {
    median(|| f().as_secs_f64() * 1e3)
}

fn process_startup() {
    emit(
        "process_startup",
        "weft",
        ms_median(|| {
            let t = Instant::now();
            let pool = ProcessPoolExecutor::new(WORKERS).unwrap();
            assert_eq!(pool.submit(add_one, 1).result(), Ok(2));
            let d = t.elapsed();
            drop(pool);
            d
        }),
        "ms",
    );
    emit(
        "process_startup",
        "floor",
        ms_median(|| {
            let t = Instant::now();
            let a = Echo::spawn();
            let b = Echo::spawn();
            assert_eq!(a.round_trip(1), 2);
            let d = t.elapsed();
            a.close();
            b.close();
            d
        }),
        "ms",
    );
    let py = r#"
import os, time, multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
def f(x): return x + 1
ctx = mp.get_context('fork')
for _ in range(int(os.environ['WEFT_BENCH_RUNS'])):
    t = time.perf_counter()
    p = ProcessPoolExecutor(2, mp_context=ctx)
    p.submit(f, 1).result()
    d = time.perf_counter() - t
    p.shutdown()
    print(d * 1e3)
"#;
    if let Some(m) = python_median(py) {
        emit("process_startup", "python", m, "ms");
    }
}

fn process_submit() {
    let n = scale(10_000);
    let pool = ProcessPoolExecutor::new(WORKERS).unwrap();
    emit(
        "process_submit",
        "weft",
        us_per_op(n, || {
            let fs: Vec<_> = (0..n).map(|i| pool.submit(add_one, i)).collect();
            for f in fs {
                black_box(f.result().unwrap());
            }
        }),
        "µs/task",
    );
    drop(pool);
    let echo = Echo::spawn();
    emit(
        "process_submit",
        "floor",
        us_per_op(n, || {
            for i in 0..n {
                black_box(echo.round_trip(i));
            }
        }),
        "µs/task",
    );
    echo.close();
    let py = format!(
        r#"
import os, time, multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
def f(x): return x + 1
n = {n}
with ProcessPoolExecutor(2, mp_context=mp.get_context('fork')) as p:
    p.submit(f, 0).result()
    for _ in range(int(os.environ['WEFT_BENCH_RUNS'])):
        t = time.perf_counter()
        fs = [p.submit(f, i) for i in range(n)]
        for x in fs: x.result()
        print((time.perf_counter() - t) * 1e6 / n)
"#
    );
    if let Some(m) = python_median(&py) {
        emit("process_submit", "python", m, "µs/task");
    }
}

fn process_map_chunked() {
    let n = scale(10_000);
    let pool = ProcessPoolExecutor::new(WORKERS).unwrap();
    emit(
        "process_map_chunked",
        "weft",
        us_per_op(n, || {
            let s: u64 = pool
                .map_with(add_one, 0..n, MapOptions::default().chunksize(100))
                .map(Result::unwrap)
                .sum();
            black_box(s);
        }),
        "µs/task",
    );
    drop(pool);
    let py = format!(
        r#"
import os, time, multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
def f(x): return x + 1
n = {n}
with ProcessPoolExecutor(2, mp_context=mp.get_context('fork')) as p:
    p.submit(f, 0).result()
    for _ in range(int(os.environ['WEFT_BENCH_RUNS'])):
        t = time.perf_counter()
        sum(p.map(f, range(n), chunksize=100))
        print((time.perf_counter() - t) * 1e6 / n)
"#
    );
    if let Some(m) = python_median(&py) {
        emit("process_map_chunked", "python", m, "µs/task");
    }
}

fn numbers() -> Vec<u64> {
    let base = if quick() { 1_000_000 } else { 10_000_000 };
    (0..8).map(|i| base + i).collect()
}

fn sequential(nums: &[u64]) -> Duration {
    let t = Instant::now();
    for &n in nums {
        black_box(cpu_bound(n));
    }
    t.elapsed()
}

fn speedup(nums: &[u64], mut parallel: impl FnMut() -> Duration) -> f64 {
    median(|| one_speedup(nums, &mut parallel))
}

/// One run's speedup: the sequential loop, then `parallel`, back to back.
fn one_speedup(nums: &[u64], parallel: &mut dyn FnMut() -> Duration) -> f64 {
    let s = sequential(nums);
    let p = parallel();
    s.as_secs_f64() / p.as_secs_f64()
}

/// The sequential baseline of a [`rounds`] comparison, timed once per round and shared by
/// every contender of that round: each contender's speedup is that round's sequential time over
/// its own parallel time, so the paired ratio of two contenders in a round is the ratio of their
/// parallel times alone. With a baseline of its own per run, the ratio also carried two
/// independent sequential timings, and on this machine one process's runs of the same loop
/// differ up to twofold (the host halves a vCPU's speed for seconds at a time): the sweep's
/// speedups ranged 0.46–3.35× on two vCPUs (issue 12, fifteenth round).
struct Baseline<'a> {
    nums: &'a [u64],
    /// Contenders per round: the first call of every round times the loop again.
    per_round: usize,
    calls: std::cell::Cell<usize>,
    last: std::cell::Cell<Duration>,
}

impl<'a> Baseline<'a> {
    fn new(nums: &'a [u64], per_round: usize) -> Self {
        Self {
            nums,
            per_round,
            calls: std::cell::Cell::new(0),
            last: std::cell::Cell::new(Duration::ZERO),
        }
    }

    /// One contender's speedup in the current round: `parallel` over the round's baseline.
    fn speedup(&self, parallel: &mut dyn FnMut() -> Duration) -> f64 {
        let calls = self.calls.get();
        if calls.is_multiple_of(self.per_round) {
            self.last.set(sequential(self.nums));
        }
        self.calls.set(calls + 1);
        let p = parallel();
        self.last.get().as_secs_f64() / p.as_secs_f64()
    }
}

fn cpu_bound_processes() {
    let nums = numbers();
    let pool = ProcessPoolExecutor::new(WORKERS).unwrap();
    let x = speedup(&nums, || {
        let t = Instant::now();
        let s: u64 = pool
            .map_with(cpu_bound, nums.clone(), MapOptions::default())
            .map(Result::unwrap)
            .sum();
        black_box(s);
        t.elapsed()
    });
    emit("cpu_bound_processes", "weft", x, "×");
}

/// Two plain std threads (the peer) and weft's thread pool, in interleaved rounds.
fn cpu_bound_threads() {
    let nums = numbers();
    let pool = ThreadPoolExecutor::new(WORKERS);
    let baseline = Baseline::new(&nums, 2);
    let mut std_threads = || {
        baseline.speedup(&mut || {
            let t = Instant::now();
            let (a, b) = nums.split_at(nums.len() / 2);
            let s: u64 = std::thread::scope(|s| {
                let h = s.spawn(|| {
                    a.iter()
                        .map(|&n| cpu_bound(n))
                        .fold(0u64, u64::wrapping_add)
                });
                let mine = b
                    .iter()
                    .map(|&n| cpu_bound(n))
                    .fold(0u64, u64::wrapping_add);
                mine.wrapping_add(h.join().unwrap())
            });
            black_box(s);
            t.elapsed()
        })
    };
    let mut weft = || {
        baseline.speedup(&mut || {
            let t = Instant::now();
            let s: u64 = pool
                .map(cpu_bound, nums.clone())
                .map(Result::unwrap)
                .fold(0u64, u64::wrapping_add);
            black_box(s);
            t.elapsed()
        })
    };
    let results = rounds(&mut [("std", &mut std_threads), ("weft", &mut weft)]);
    emit_rounds("cpu_bound_threads", "×", results);
}

/// The sweep's items: the same total as [`numbers`], cut in 16 pieces so that 16 workers all
/// get work.
fn sweep_numbers() -> Vec<u64> {
    let base = if quick() { 500_000 } else { 5_000_000 };
    (0..16).map(|i| base + i).collect()
}

const SWEEP: &str = "cpu_bound_sweep";

/// The sweep's process pools, one per thread count, built first: they fork their zygotes while
/// this process runs a single thread, and the sweep then runs them in interleaved rounds with
/// the thread peers (the workers are forked by the zygotes, never by this process).
fn sweep_pools() -> Vec<(usize, ProcessPoolExecutor)> {
    thread_counts()
        .into_iter()
        .filter(|&t| enabled(&sweep_name(SWEEP, t)))
        .map(|t| (t, ProcessPoolExecutor::new(t).unwrap()))
        .collect()
}

/// Each point of the sweep: weft's process pool with T workers, T std threads (each a fixed
/// share of the items) and a T-thread rayon pool, in interleaved rounds, so that a change in
/// the machine's state (this machine's second vCPU is sometimes half there for seconds) falls
/// on all three alike.
fn sweep(pools: Vec<(usize, ProcessPoolExecutor)>) {
    let nums = sweep_numbers();
    for (t, pool) in pools {
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap();
        let baseline = Baseline::new(&nums, 3);
        let mut weft = || {
            baseline.speedup(&mut || {
                let start = Instant::now();
                let s: u64 = pool
                    .map_with(cpu_bound, nums.clone(), MapOptions::default())
                    .map(Result::unwrap)
                    .fold(0u64, u64::wrapping_add);
                black_box(s);
                start.elapsed()
            })
        };
        let mut std_threads = || {
            baseline.speedup(&mut || {
                let start = Instant::now();
                let s = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..t)
                        .map(|k| {
                            let nums = &nums;
                            s.spawn(move || {
                                nums.iter()
                                    .skip(k)
                                    .step_by(t)
                                    .map(|&n| cpu_bound(n))
                                    .fold(0u64, u64::wrapping_add)
                            })
                        })
                        .collect();
                    hs.into_iter()
                        .map(|h| h.join().unwrap())
                        .fold(0u64, u64::wrapping_add)
                });
                black_box(s);
                start.elapsed()
            })
        };
        let mut rayon_pool = || {
            baseline.speedup(&mut || {
                use rayon::prelude::*;
                let start = Instant::now();
                let s = rayon.install(|| {
                    nums.par_iter()
                        .map(|&n| cpu_bound(n))
                        .reduce(|| 0, u64::wrapping_add)
                });
                black_box(s);
                start.elapsed()
            })
        };
        let results = rounds(&mut [
            ("weft", &mut weft),
            ("std", &mut std_threads),
            ("rayon", &mut rayon_pool),
        ]);
        emit_rounds_sweep(SWEEP, t, "×", results);
    }
}

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    // Forking workloads first, while this process runs a single thread.
    if enabled("process_startup") {
        process_startup();
    }
    if enabled("process_submit") {
        process_submit();
    }
    if enabled("process_map_chunked") {
        process_map_chunked();
    }
    if enabled("cpu_bound_processes") {
        cpu_bound_processes();
    }
    let pools = sweep_pools();
    if enabled("cpu_bound_threads") {
        cpu_bound_threads();
    }
    sweep(pools);
}
