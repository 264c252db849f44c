//! `semaphore_8x2`: 8 threads share 2 permits; each acquires and releases 100 k times; ns per
//! acquire + release (wall time / total operations). weft vs parking_lot (`Mutex<usize>` +
//! `Condvar` semaphore that counts its waiters and notifies only when someone waits), std (the
//! same with `std::sync`) and CPython (`threading.Semaphore`).
//!
//! Thread sweeps (`_t<T>` for each T of `--threads`), 2 permits: `semaphore_out100` (acquire,
//! release, then ~100 ns of work outside) and `semaphore_in20_out200` (~20 ns of work while
//! holding the permit, ~200 ns outside); same peers.
#![allow(clippy::disallowed_types, missing_docs)]

use std::{hint::black_box, sync::Arc, thread};

use weft_bench::{
    emit, emit_rounds, emit_rounds_sweep, enabled, ns_once, python_median, rounds, scale, spin,
    sweep_enabled, sweep_name, sweep_ns_once, thread_counts, work,
};
use weft_semaphore::Semaphore;

const THREADS: u64 = 8;
const PERMITS: usize = 2;

/// The operations the workload needs from a semaphore.
trait Sem: Send + Sync + 'static {
    fn new(permits: usize) -> Self;
    fn acquire(&self);
    fn release(&self);
}

impl Sem for Semaphore {
    fn new(permits: usize) -> Self {
        Semaphore::new(permits)
    }
    fn acquire(&self) {
        Semaphore::acquire(self).forget();
    }
    fn release(&self) {
        Semaphore::release(self, 1);
    }
}

/// (count, waiters) under a parking_lot mutex, and a condvar notified only when someone waits.
struct PlSem(parking_lot::Mutex<(usize, usize)>, parking_lot::Condvar);

impl Sem for PlSem {
    fn new(permits: usize) -> Self {
        Self(
            parking_lot::Mutex::new((permits, 0)),
            parking_lot::Condvar::new(),
        )
    }
    fn acquire(&self) {
        let mut g = self.0.lock();
        while g.0 == 0 {
            g.1 += 1;
            self.1.wait(&mut g);
            g.1 -= 1;
        }
        g.0 -= 1;
    }
    fn release(&self) {
        let mut g = self.0.lock();
        g.0 += 1;
        let waiters = g.1;
        drop(g);
        if waiters > 0 {
            self.1.notify_one();
        }
    }
}

struct StdSem(std::sync::Mutex<(usize, usize)>, std::sync::Condvar);

impl Sem for StdSem {
    fn new(permits: usize) -> Self {
        Self(
            std::sync::Mutex::new((permits, 0)),
            std::sync::Condvar::new(),
        )
    }
    fn acquire(&self) {
        let mut g = self.0.lock().unwrap();
        while g.0 == 0 {
            g.1 += 1;
            g = self.1.wait(g).unwrap();
            g.1 -= 1;
        }
        g.0 -= 1;
    }
    fn release(&self) {
        let mut g = self.0.lock().unwrap();
        g.0 += 1;
        let waiters = g.1;
        drop(g);
        if waiters > 0 {
            self.1.notify_one();
        }
    }
}

fn run<S: Sem>(iters: u64) {
    let sem = Arc::new(S::new(PERMITS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let sem = Arc::clone(&sem);
            thread::spawn(move || {
                for i in 0..iters {
                    sem.acquire();
                    black_box(i);
                    sem.release();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

const PY: &str = r#"
import os, threading, time
ITERS = int(os.environ["ITERS"])
def work(sem):
    for _ in range(ITERS):
        sem.acquire(); sem.release()
for _ in range(int(os.environ["WEFT_BENCH_RUNS"])):
    sem = threading.Semaphore(2)
    ts = [threading.Thread(target=work, args=(sem,)) for _ in range(8)]
    s = time.perf_counter()
    for t in ts: t.start()
    for t in ts: t.join()
    print((time.perf_counter() - s) / (8 * ITERS) * 1e9)
"#;

/// Total acquire + release pairs of one sweep point.
const SWEEP_TOTAL: u64 = 500_000;

/// One run of a sweep point.
fn sweep_point<S: Sem>(threads: usize, inside: u64, outside: u64) -> f64 {
    let sem = S::new(PERMITS);
    sweep_ns_once(threads, scale(SWEEP_TOTAL), &|i, n| {
        let mut x = i as u64;
        for _ in 0..n {
            sem.acquire();
            if inside > 0 {
                x = spin(inside, x);
            }
            sem.release();
            x = spin(outside, x);
        }
        black_box(x);
    })
}

fn sweep(base: &str, inside_ns: f64, outside_ns: f64) {
    if !sweep_enabled(base) {
        return;
    }
    let iters = |ns: f64| if ns > 0.0 { work(ns) } else { 0 };
    let (inside, outside) = (iters(inside_ns), iters(outside_ns));
    for t in thread_counts() {
        if !enabled(&sweep_name(base, t)) {
            continue;
        }
        let results = rounds(&mut [
            ("weft", &mut || sweep_point::<Semaphore>(t, inside, outside)),
            ("parking_lot", &mut || {
                sweep_point::<PlSem>(t, inside, outside)
            }),
            ("std", &mut || sweep_point::<StdSem>(t, inside, outside)),
        ]);
        emit_rounds_sweep(base, t, "ns/op", results);
    }
}

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    sweep("semaphore_out100", 0.0, 100.0);
    sweep("semaphore_in20_out200", 20.0, 200.0);
    let workload = "semaphore_8x2";
    if !enabled(workload) {
        return;
    }
    let iters = scale(100_000);
    let ops = THREADS * iters;
    let results = rounds(&mut [
        ("weft", &mut || ns_once(ops, || run::<Semaphore>(iters))),
        ("parking_lot", &mut || ns_once(ops, || run::<PlSem>(iters))),
        ("std", &mut || ns_once(ops, || run::<StdSem>(iters))),
    ]);
    emit_rounds(workload, "ns/op", results);
    let py_iters = (iters / 20).max(1);
    if let Some(py) = python_median(&format!(
        "import os\nos.environ['ITERS']='{py_iters}'\n{PY}"
    )) {
        emit(workload, "python", py, "ns/op");
    }
}
