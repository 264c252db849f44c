//! `pool_submit`, `pool_map_overhead` and `pool_map_work`: weft's `ThreadPoolExecutor` vs
//! rayon (spawn + a Mutex/Condvar result slot; `par_iter` for map), the `threadpool` crate
//! (+ a channel per task) and CPython's `concurrent.futures.ThreadPoolExecutor`.
//!
//! Worker sweeps (`_t<T>`: T workers, for each T of `--threads`), every task ~1 µs of real work:
//! `pool_submit_1us` (submit every task, then take every result), `pool_map_1us` (`map` over the
//! items) and `pool_as_completed_1us` (submit every task, then take the results in completion
//! order); µs per task; weft vs rayon (spawn + a result slot; `par_iter` for map; spawn + a
//! channel for as_completed). The sweeps run weft and rayon in interleaved rounds
//! ([`weft_bench::rounds`]), each run after a 2 ms pause in which the other's idle threads go
//! to sleep.
#![allow(clippy::disallowed_types, missing_docs)]

use std::{
    hint::black_box,
    sync::{Arc, Condvar, Mutex, mpsc},
    time::{Duration, Instant},
};

use rayon::prelude::*;
use weft_bench::{
    emit, emit_rounds_sweep, enabled, median, ns_per_op, python_median, rounds, scale, spin,
    sweep_enabled, sweep_name, thread_counts, time, us_per_op, work,
};
use weft_futures::as_completed;
use weft_pool::ThreadPoolExecutor;

const WORKERS: usize = 2;

/// A rayon result slot: what a `Future` gives weft, built from a mutex and a condvar.
struct Slot<T> {
    value: Mutex<Option<T>>,
    ready: Condvar,
}

impl<T> Slot<T> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            value: Mutex::new(None),
            ready: Condvar::new(),
        })
    }
    fn set(&self, v: T) {
        *self.value.lock().unwrap() = Some(v);
        self.ready.notify_one();
    }
    fn wait(&self) -> T {
        let mut g = self.value.lock().unwrap();
        loop {
            if let Some(v) = g.take() {
                return v;
            }
            g = self.ready.wait(g).unwrap();
        }
    }
}

fn pool_submit() {
    let n = scale(100_000);
    let pool = ThreadPoolExecutor::new(WORKERS);
    emit(
        "pool_submit",
        "weft",
        us_per_op(n, || {
            let fs: Vec<_> = (0..n).map(|_| pool.submit(|| ())).collect();
            for f in fs {
                f.result().unwrap();
            }
        }),
        "µs/task",
    );
    drop(pool);

    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap();
    emit(
        "pool_submit",
        "rayon",
        us_per_op(n, || {
            let slots: Vec<_> = (0..n)
                .map(|_| {
                    let slot = Slot::new();
                    let s = slot.clone();
                    rayon.spawn(move || s.set(()));
                    slot
                })
                .collect();
            for s in slots {
                s.wait();
            }
        }),
        "µs/task",
    );
    drop(rayon);

    let tp = threadpool::ThreadPool::new(WORKERS);
    emit(
        "pool_submit",
        "threadpool",
        us_per_op(n, || {
            let rxs: Vec<_> = (0..n)
                .map(|_| {
                    let (tx, rx) = mpsc::channel();
                    tp.execute(move || tx.send(()).unwrap());
                    rx
                })
                .collect();
            for rx in rxs {
                rx.recv().unwrap();
            }
        }),
        "µs/task",
    );
    drop(tp);

    let py = format!(
        r#"
import os, time
from concurrent.futures import ThreadPoolExecutor
n = {n}
def noop(): pass
for _ in range(int(os.environ.get("WEFT_BENCH_RUNS", "5"))):
    with ThreadPoolExecutor({WORKERS}) as ex:
        ex.submit(noop).result()
        t = time.perf_counter()
        fs = [ex.submit(noop) for _ in range(n)]
        for f in fs: f.result()
        print((time.perf_counter() - t) / n * 1e6)
"#,
        n = scale(100_000).min(50_000)
    );
    if let Some(m) = python_median(&py) {
        emit("pool_submit", "python", m, "µs/task");
    }
}

fn pool_map_overhead() {
    let n = scale(1_000_000);
    let pool = ThreadPoolExecutor::new(WORKERS);
    emit(
        "pool_map_overhead",
        "weft",
        ns_per_op(n, || {
            let s: u64 = pool.map(|x: u64| x * 2, 0..n).map(Result::unwrap).sum();
            black_box(s);
        }),
        "ns/item",
    );
    drop(pool);

    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap();
    emit(
        "pool_map_overhead",
        "rayon",
        ns_per_op(n, || {
            let v: Vec<u64> = rayon.install(|| (0..n).into_par_iter().map(|x| x * 2).collect());
            black_box(v);
        }),
        "ns/item",
    );
    drop(rayon);

    emit(
        "pool_map_overhead",
        "floor",
        ns_per_op(n, || {
            let v: Vec<u64> = (0..n).map(|x| black_box(x) * 2).collect();
            black_box(v);
        }),
        "ns/item",
    );

    let py = format!(
        r#"
import os, time
from concurrent.futures import ThreadPoolExecutor
n = {n}
def double(x): return x * 2
for _ in range(int(os.environ.get("WEFT_BENCH_RUNS", "5"))):
    with ThreadPoolExecutor({WORKERS}) as ex:
        t = time.perf_counter()
        s = sum(ex.map(double, range(n)))
        print((time.perf_counter() - t) / n * 1e9)
"#,
        n = scale(1_000_000).min(50_000)
    );
    if let Some(m) = python_median(&py) {
        emit("pool_map_overhead", "python", m, "ns/item");
    }
}

/// About a microsecond of work that LLVM cannot fold away.
fn busy(x: u64, rounds: u64) -> u64 {
    let mut h = x;
    for i in 0..rounds {
        h = black_box(h.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    h
}

/// Rounds of `busy` that take about 1 µs of CPU on this machine (CPU time, not wall time, so
/// that a busy machine does not shrink the items).
fn calibrate() -> u64 {
    let rounds = 10_000u64;
    let c = cpu_seconds();
    for x in 0..300 {
        black_box(busy(x, rounds));
    }
    let per_round = (cpu_seconds() - c).max(1e-9) / (300.0 * rounds as f64);
    ((1e-6 / per_round) as u64).max(1)
}

/// CPU time (user + system) this process has used so far, in seconds: on a busy machine,
/// where wall-clock speedups say little, CPU per item shows what each pool spends.
fn cpu_seconds() -> f64 {
    // SAFETY: `usage` is a plain struct on our stack that `getrusage` fills in.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs `f` once and prints the CPU time it took per item.
fn cpu_per_item(label: &str, n: u64, f: impl FnOnce()) {
    let c = cpu_seconds();
    f();
    eprintln!(
        "  pool_map_work: {label} uses {:.3} µs of CPU per item",
        (cpu_seconds() - c) / n as f64 * 1e6
    );
}

fn pool_map_work() {
    let n = scale(100_000);
    let rounds = calibrate();
    let seq_run = || {
        let s: u64 = (0..n).map(|x| busy(x, rounds)).fold(0, u64::wrapping_add);
        black_box(s);
    };
    cpu_per_item("sequential", n, seq_run);
    let sequential = median(|| {
        let t = Instant::now();
        let s: u64 = (0..n).map(|x| busy(x, rounds)).fold(0, u64::wrapping_add);
        black_box(s);
        t.elapsed().as_secs_f64()
    });
    eprintln!(
        "  pool_map_work: sequential {:.2} µs/item",
        sequential / n as f64 * 1e6
    );

    let pool = ThreadPoolExecutor::new(WORKERS);
    cpu_per_item("weft", n, || {
        let s: u64 = pool
            .map(move |x| busy(x, rounds), 0..n)
            .map(Result::unwrap)
            .fold(0, u64::wrapping_add);
        black_box(s);
    });
    let weft = median(|| {
        let t = Instant::now();
        let s: u64 = pool
            .map(move |x| busy(x, rounds), 0..n)
            .map(Result::unwrap)
            .fold(0, u64::wrapping_add);
        black_box(s);
        t.elapsed().as_secs_f64()
    });
    drop(pool);
    emit("pool_map_work", "weft", sequential / weft, "×");

    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap();
    cpu_per_item("rayon", n, || {
        let v: Vec<u64> =
            rayon.install(|| (0..n).into_par_iter().map(|x| busy(x, rounds)).collect());
        black_box(v);
    });
    let ray = median(|| {
        let t = Instant::now();
        let v: Vec<u64> =
            rayon.install(|| (0..n).into_par_iter().map(|x| busy(x, rounds)).collect());
        black_box(v);
        t.elapsed().as_secs_f64()
    });
    drop(rayon);
    emit("pool_map_work", "rayon", sequential / ray, "×");

    let py = format!(
        r#"
import os, time
from concurrent.futures import ThreadPoolExecutor
n = {n}
def work(x):
    h = x
    for i in range(8): h = (h * 31 + i) & 0xffffffff
    return h
for _ in range(int(os.environ.get("WEFT_BENCH_RUNS", "5"))):
    t = time.perf_counter()
    s = sum(map(work, range(n)))
    seq = time.perf_counter() - t
    with ThreadPoolExecutor({WORKERS}) as ex:
        t = time.perf_counter()
        s = sum(ex.map(work, range(n)))
        par = time.perf_counter() - t
    print(seq / par)
"#,
        n = scale(100_000).min(20_000)
    );
    if let Some(m) = python_median(&py) {
        emit("pool_map_work", "python", m, "×");
    }
}

/// Tasks of one sweep point.
const SWEEP_TASKS: u64 = 20_000;

/// One timed run of a sweep point: a pause of [`SETTLE`] first (not timed), then `f`, in µs
/// per task. The pause lets the other contender's idle threads stop spinning and sleep (rayon's
/// yield for a few dozen rounds, weft's for a few dozen microseconds) before this one's run
/// starts, so that in interleaved rounds neither runs beside the other's leftovers, and every run
/// starts from parked workers, as a program's occasional burst of tasks does.
fn settled(n: u64, f: impl FnOnce()) -> f64 {
    std::thread::sleep(SETTLE);
    time(f).as_nanos() as f64 / n as f64 / 1_000.0
}

/// The pause before each run of a sweep point (see [`settled`]).
const SETTLE: Duration = Duration::from_millis(2);

/// The worker sweeps, weft and rayon in interleaved rounds ([`rounds`]) at each point: a
/// change of the machine's state falls on both alike, and the report pairs their runs round by
/// round. (The single-point rows above still measure one implementation at a time.)
fn sweeps() {
    let bases = ["pool_submit_1us", "pool_map_1us", "pool_as_completed_1us"];
    if !bases.iter().any(|b| sweep_enabled(b)) {
        return;
    }
    let iters = work(1_000.0);
    let n = scale(SWEEP_TASKS);
    let task = move |x: u64| spin(iters, x);
    for t in thread_counts() {
        let pool = ThreadPoolExecutor::new(t);
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap();
        let b = bases[0];
        if enabled(&sweep_name(b, t)) {
            let results = rounds(&mut [
                ("weft", &mut || {
                    settled(n, || {
                        let fs: Vec<_> = (0..n).map(|x| pool.submit(move || task(x))).collect();
                        let s = fs
                            .into_iter()
                            .fold(0u64, |a, f| a.wrapping_add(f.result().unwrap()));
                        black_box(s);
                    })
                }),
                ("rayon", &mut || {
                    settled(n, || {
                        let slots: Vec<_> = (0..n)
                            .map(|x| {
                                let slot = Slot::new();
                                let s = slot.clone();
                                rayon.spawn(move || s.set(task(x)));
                                slot
                            })
                            .collect();
                        let s = slots.iter().fold(0u64, |a, s| a.wrapping_add(s.wait()));
                        black_box(s);
                    })
                }),
            ]);
            emit_rounds_sweep(b, t, "µs/task", results);
        }
        let b = bases[1];
        if enabled(&sweep_name(b, t)) {
            let results = rounds(&mut [
                ("weft", &mut || {
                    settled(n, || {
                        let s = pool
                            .map(task, 0..n)
                            .fold(0u64, |a, r| a.wrapping_add(r.unwrap()));
                        black_box(s);
                    })
                }),
                ("rayon", &mut || {
                    settled(n, || {
                        let s = rayon.install(|| {
                            (0..n)
                                .into_par_iter()
                                .map(task)
                                .reduce(|| 0, u64::wrapping_add)
                        });
                        black_box(s);
                    })
                }),
            ]);
            emit_rounds_sweep(b, t, "µs/task", results);
        }
        let b = bases[2];
        if enabled(&sweep_name(b, t)) {
            let results = rounds(&mut [
                ("weft", &mut || {
                    settled(n, || {
                        let fs: Vec<_> = (0..n).map(|x| pool.submit(move || task(x))).collect();
                        let s =
                            as_completed(fs).fold(0u64, |a, f| a.wrapping_add(f.result().unwrap()));
                        black_box(s);
                    })
                }),
                ("rayon", &mut || {
                    settled(n, || {
                        let (tx, rx) = mpsc::channel();
                        for x in 0..n {
                            let tx = tx.clone();
                            rayon.spawn(move || tx.send(task(x)).unwrap());
                        }
                        drop(tx);
                        let s = rx.iter().fold(0u64, u64::wrapping_add);
                        black_box(s);
                    })
                }),
            ]);
            emit_rounds_sweep(b, t, "µs/task", results);
        }
    }
}

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    sweeps();
    if enabled("pool_submit") {
        pool_submit();
    }
    if enabled("pool_map_overhead") {
        pool_map_overhead();
    }
    if enabled("pool_map_work") {
        pool_map_work();
    }
}
