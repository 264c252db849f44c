//! `Lock` and `RLock` against `std::sync::Mutex`, parking_lot, a bare CAS spinlock and CPython.
//!
//! Workloads: `lock_uncontended`, `lock_contended_2`, `lock_contended_8`,
//! `rlock_uncontended`, and three thread sweeps (`_t<T>` for each T of `--threads`): `lock_inc`
//! (an increment and nothing else), `lock_out100` (an increment, then ~100 ns of work outside the
//! lock) and `lock_in20_out200` (~20 ns of work on the protected data inside, ~200 ns outside);
//! weft `Lock` vs std `Mutex` vs parking_lot `Mutex`.
// The peers are std's and parking_lot's locks, and the floor a std atomic: that is the point.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::{
    hint::black_box,
    sync::{
        Barrier, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Instant,
};

use weft_bench::{
    emit, emit_rounds, emit_rounds_sweep, enabled, ns_once, python_median, rounds, scale, spin,
    sweep_enabled, sweep_name, sweep_ns_once, thread_counts, work,
};
use weft_lock::{Lock, RLock};

/// The floor: the least an exclusive lock can cost, a test-and-set spinlock.
struct SpinLock<T> {
    locked: AtomicBool,
    data: std::cell::UnsafeCell<T>,
}

// SAFETY: the flag serializes every access to `data`, as a mutex does.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    fn new(v: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            data: std::cell::UnsafeCell::new(v),
        }
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the flag is ours until the store below.
        let r = f(unsafe { &mut *self.data.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

const UNCONTENDED: u64 = 10_000_000;
const CONTENDED_TOTAL: u64 = 2_000_000;

fn uncontended() {
    let n = scale(UNCONTENDED);
    let w = "lock_uncontended";

    let (weft, std, pl, floor) = (
        Lock::new(0u64),
        Mutex::new(0u64),
        parking_lot::Mutex::new(0u64),
        SpinLock::new(0u64),
    );
    let results = rounds(&mut [
        ("weft", &mut || {
            ns_once(n, || {
                for _ in 0..n {
                    *black_box(&weft).acquire() += 1;
                }
            })
        }),
        ("std", &mut || {
            ns_once(n, || {
                for _ in 0..n {
                    *black_box(&std).lock().unwrap() += 1;
                }
            })
        }),
        ("parking_lot", &mut || {
            ns_once(n, || {
                for _ in 0..n {
                    *black_box(&pl).lock() += 1;
                }
            })
        }),
        ("floor", &mut || {
            ns_once(n, || {
                for _ in 0..n {
                    black_box(&floor).with(|v| *v += 1);
                }
            })
        }),
    ]);
    emit_rounds(w, "ns/op", results);

    let py = format!(
        r#"
import os, threading, time
runs = int(os.environ.get("WEFT_BENCH_RUNS", "5"))
n = {n}
lock = threading.Lock()
acquire, release = lock.acquire, lock.release
for _ in range(runs):
    t = time.perf_counter()
    for _ in range(n):
        acquire(); release()
    print((time.perf_counter() - t) / n * 1e9)
"#,
        n = scale(1_000_000)
    );
    if let Some(m) = python_median(&py) {
        emit(w, "python", m, "ns/op");
    }
}

/// One run: `threads` threads that each call `incr` `per` times, all released together; ns per
/// increment: the wall time from the first thread's start to the last one's end, over the total.
/// Each thread reads the clock itself, so a descheduled `main` cannot skew it.
fn contended_once(threads: u64, incr: &(impl Fn() + Sync)) -> f64 {
    let per = scale(CONTENDED_TOTAL) / threads;
    {
        let start = Barrier::new(threads as usize);
        let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let t = Instant::now();
                        for _ in 0..per {
                            incr();
                        }
                        (t, Instant::now())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let first = spans.iter().map(|s| s.0).min().unwrap();
        let last = spans.iter().map(|s| s.1).max().unwrap();
        (last - first).as_nanos() as f64 / (per * threads) as f64
    }
}

fn contended(threads: u64) {
    let w = format!("lock_contended_{threads}");
    if !enabled(&w) {
        return;
    }

    let (weft, std, pl) = (
        Lock::new(0u64),
        Mutex::new(0u64),
        parking_lot::Mutex::new(0u64),
    );
    let results = rounds(&mut [
        ("weft", &mut || {
            contended_once(threads, &|| *weft.acquire() += 1)
        }),
        ("std", &mut || {
            contended_once(threads, &|| *std.lock().unwrap() += 1)
        }),
        ("parking_lot", &mut || {
            contended_once(threads, &|| *pl.lock() += 1)
        }),
    ]);
    emit_rounds(&w, "ns/op", results);
    assert_eq!(
        weft.into_inner() % (scale(CONTENDED_TOTAL) / threads * threads),
        0
    );

    let py = format!(
        r#"
import os, threading, time
runs = int(os.environ.get("WEFT_BENCH_RUNS", "5"))
threads, per = {threads}, {per}
lock = threading.Lock()
counter = [0]
def work():
    acquire, release = lock.acquire, lock.release
    for _ in range(per):
        acquire()
        counter[0] += 1
        release()
for _ in range(runs):
    ts = [threading.Thread(target=work) for _ in range(threads)]
    t = time.perf_counter()
    for x in ts: x.start()
    for x in ts: x.join()
    print((time.perf_counter() - t) / (threads * per) * 1e9)
"#,
        per = scale(200_000) / threads
    );
    if let Some(m) = python_median(&py) {
        emit(&w, "python", m, "ns/op");
    }
}

fn rlock_uncontended() {
    let n = scale(UNCONTENDED);
    let w = "rlock_uncontended";

    let weft = RLock::new(std::cell::Cell::new(0u64));
    let pl = parking_lot::ReentrantMutex::new(std::cell::Cell::new(0u64));
    let results = rounds(&mut [
        ("weft", &mut || {
            ns_once(n, || {
                for _ in 0..n {
                    let g = black_box(&weft).acquire();
                    g.set(g.get() + 1);
                }
            })
        }),
        ("parking_lot", &mut || {
            ns_once(n, || {
                for _ in 0..n {
                    let g = black_box(&pl).lock();
                    g.set(g.get() + 1);
                }
            })
        }),
    ]);
    emit_rounds(w, "ns/op", results);

    let py = format!(
        r#"
import os, threading, time
runs = int(os.environ.get("WEFT_BENCH_RUNS", "5"))
n = {n}
lock = threading.RLock()
acquire, release = lock.acquire, lock.release
for _ in range(runs):
    t = time.perf_counter()
    for _ in range(n):
        acquire(); release()
    print((time.perf_counter() - t) / n * 1e9)
"#,
        n = scale(1_000_000)
    );
    if let Some(m) = python_median(&py) {
        emit(w, "python", m, "ns/op");
    }
}

/// A mutex holding a `u64`, as each sweep needs it.
trait BenchLock: Sync + Default {
    fn update(&self, f: impl FnOnce(u64) -> u64);
}

impl BenchLock for Lock<u64> {
    #[inline]
    fn update(&self, f: impl FnOnce(u64) -> u64) {
        let mut g = self.acquire();
        *g = f(*g);
    }
}

impl BenchLock for Mutex<u64> {
    #[inline]
    fn update(&self, f: impl FnOnce(u64) -> u64) {
        let mut g = self.lock().unwrap();
        *g = f(*g);
    }
}

impl BenchLock for parking_lot::Mutex<u64> {
    #[inline]
    fn update(&self, f: impl FnOnce(u64) -> u64) {
        let mut g = self.lock();
        *g = f(*g);
    }
}

/// Total operations of one sweep point (whatever the thread count).
const SWEEP_TOTAL: u64 = 500_000;

/// One run of a sweep point: `threads` threads share `SWEEP_TOTAL` critical sections, each made of
/// `inside` [`spin`] iterations on the protected value (or a bare increment when 0), followed by
/// `outside` iterations on the thread's own value.
fn sweep_point<L: BenchLock>(threads: usize, inside: u64, outside: u64) -> f64 {
    let lock = L::default();
    sweep_ns_once(threads, scale(SWEEP_TOTAL), &|i, n| {
        let mut x = i as u64;
        for _ in 0..n {
            lock.update(|v| if inside == 0 { v + 1 } else { spin(inside, v) });
            if outside > 0 {
                x = spin(outside, x);
            }
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
            ("weft", &mut || sweep_point::<Lock<u64>>(t, inside, outside)),
            ("std", &mut || sweep_point::<Mutex<u64>>(t, inside, outside)),
            ("parking_lot", &mut || {
                sweep_point::<parking_lot::Mutex<u64>>(t, inside, outside)
            }),
        ]);
        emit_rounds_sweep(base, t, "ns/op", results);
    }
}

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    if enabled("lock_uncontended") {
        uncontended();
    }
    contended(2);
    contended(8);
    if enabled("rlock_uncontended") {
        rlock_uncontended();
    }
    sweep("lock_inc", 0.0, 0.0);
    sweep("lock_out100", 0.0, 100.0);
    sweep("lock_in20_out200", 20.0, 200.0);
}
