//! weft-futures benchmarks: `as_completed_1k` … `as_completed_1m` (µs per task).
//!
//! N futures are created ("submitted") and handed in windows of 64 to two completer threads
//! (kept alive across runs, standing in for a pool) that call `set_result` in a shuffled order
//! within each window; the caller then iterates `as_completed` over all N and takes each
//! result. Peers in the same run: rayon (`spawn` of N tasks, each sending its
//! result into a crossbeam channel, N receives) and CPython (`ThreadPoolExecutor(2)`, N
//! `submit`s, `as_completed`; N up to 100k).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::{
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use weft_bench::{emit, enabled, python_median, quick, runs};
use weft_futures::{Promise, as_completed, promise};

const SIZES: [(&str, usize); 4] = [
    ("as_completed_1k", 1_000),
    ("as_completed_10k", 10_000),
    ("as_completed_100k", 100_000),
    ("as_completed_1m", 1_000_000),
];

type Batch = Vec<(usize, Promise<usize>)>;

const WINDOW: usize = 64;

/// Two completer threads, alive for the whole binary, so no run pays for spawning them. They
/// play the pool: each receives windows of promises while the caller is still creating
/// ("submitting") the rest, and completes each window in a shuffled order. An empty batch
/// ends a run.
struct Completers {
    jobs: Vec<mpsc::Sender<Batch>>,
    done: mpsc::Receiver<()>,
}

impl Completers {
    fn new() -> Self {
        let (done_tx, done) = mpsc::channel();
        let jobs = (0..2)
            .map(|_| {
                let (tx, rx) = mpsc::channel::<Batch>();
                let done_tx = done_tx.clone();
                thread::spawn(move || {
                    loop {
                        // Like a pool's worker (rayon's among them), look for work a little
                        // while before sleeping: at 1k a run is shorter than a few wake-ups.
                        let mut batch = None;
                        for _ in 0..200 {
                            match rx.try_recv() {
                                Ok(b) => {
                                    batch = Some(b);
                                    break;
                                }
                                Err(mpsc::TryRecvError::Empty) => thread::yield_now(),
                                Err(mpsc::TryRecvError::Disconnected) => return,
                            }
                        }
                        let Some(batch) = batch.or_else(|| rx.recv().ok()) else {
                            return;
                        };
                        if batch.is_empty() {
                            done_tx.send(()).unwrap();
                        }
                        for (i, p) in batch {
                            p.set_result(i);
                        }
                    }
                });
                tx
            })
            .collect();
        Self { jobs, done }
    }
}

/// The completion order within each window of 64 consecutive tasks: a fixed pseudo-random
/// permutation (xorshift + Fisher-Yates) of 0..64, so that tasks finish out of order locally
/// but roughly in submission order, as in a pool. `WEFT_FUTURES_SHUFFLE=full` makes a run
/// create every future first and then complete all of them in one global random order: each
/// completion then touches a random cache line, which measures DRAM latency at 1m more than
/// the futures (see docs/futures.md).
fn permutation(n: usize) -> Vec<usize> {
    let window = if full_shuffle() { n.max(1) } else { WINDOW };
    let mut v: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in v.chunks_mut(window) {
        for i in (1..chunk.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }
    v
}

fn full_shuffle() -> bool {
    static FULL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FULL.get_or_init(|| std::env::var("WEFT_FUTURES_SHUFFLE").is_ok_and(|v| v == "full"))
}

fn weft_once(c: &Completers, n: usize, perm: &[usize]) -> Duration {
    let start = Instant::now();
    let mut futures = Vec::with_capacity(n);
    let full = full_shuffle();
    let window = if full { n.max(1) } else { WINDOW };
    for (w, order) in perm.chunks(window).enumerate() {
        let base = w * window;
        let mut slots: Vec<Option<Promise<usize>>> = (0..order.len())
            .map(|_| {
                let (p, f) = promise::<usize>();
                futures.push(f);
                Some(p)
            })
            .collect();
        let mut halves = [Vec::new(), Vec::new()];
        for (k, &i) in order.iter().enumerate() {
            let p = slots[i - base].take().expect("a permutation");
            // Whole windows alternate between the two completers; a single global window
            // (full shuffle) is dealt task by task.
            halves[if full { k % 2 } else { w % 2 }].push((i, p));
        }
        for (tx, half) in c.jobs.iter().zip(halves) {
            if !half.is_empty() {
                tx.send(half).unwrap();
            }
        }
    }
    let it = as_completed(futures);
    for tx in &c.jobs {
        tx.send(Vec::new()).unwrap();
    }
    let mut sum = 0;
    for f in it {
        sum += f.result().unwrap();
    }
    c.done.recv().unwrap();
    c.done.recv().unwrap();
    let took = start.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    took
}

fn rayon_once(pool: &rayon::ThreadPool, n: usize) -> Duration {
    let start = Instant::now();
    let (tx, rx) = crossbeam_channel::unbounded();
    for i in 0..n {
        let tx = tx.clone();
        pool.spawn(move || tx.send(i).unwrap());
    }
    drop(tx);
    let mut sum = 0;
    for _ in 0..n {
        sum += rx.recv().unwrap();
    }
    let took = start.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    took
}

fn median_us_per_task(k: usize, n: usize, mut once: impl FnMut() -> Duration) -> f64 {
    let mut v: Vec<f64> = (0..k)
        .map(|_| once().as_secs_f64() * 1e6 / n as f64)
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const PYTHON: &str = r#"
import os, sys, time
from concurrent.futures import ThreadPoolExecutor, as_completed
n = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ["WEFT_N"])
runs = int(os.environ.get("WEFT_BENCH_RUNS", "5"))
def task(i):
    return i
with ThreadPoolExecutor(2) as ex:
    for _ in range(runs):
        t = time.perf_counter()
        fs = [ex.submit(task, i) for i in range(n)]
        s = 0
        for f in as_completed(fs):
            s += f.result()
        print((time.perf_counter() - t) / n * 1e6)
"#;

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    let completers = Completers::new();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (name, full) in SIZES {
        if !enabled(name) {
            continue;
        }
        let n = if quick() { (full / 100).max(100) } else { full };
        // Fewer runs where one run is long (the 1m figure is a median of 3 at most).
        let k = if n >= 1_000_000 {
            runs().min(3)
        } else {
            runs()
        };
        let perm = permutation(n);
        // Warm-up (allocator, page faults) once per size.
        let _ = weft_once(&completers, n, &perm);
        let weft = median_us_per_task(k, n, || weft_once(&completers, n, &perm));
        emit(name, "weft", weft, "µs/task");
        let _ = rayon_once(&pool, n);
        let rayon = median_us_per_task(k, n, || rayon_once(&pool, n));
        emit(name, "rayon", rayon, "µs/task");
        if n <= 100_000 {
            let script = PYTHON.replace("int(os.environ[\"WEFT_N\"])", &n.to_string());
            if let Some(py) = python_median(&script) {
                emit(name, "python", py, "µs/task");
            }
        }
    }
}
