//! `Lock` and `RLock` against `std::sync::Mutex`, parking_lot, a bare CAS spinlock and CPython.
//!
//! Workloads: `lock_uncontended`, `lock_contended_2`, `lock_contended_8`,
//! `rlock_uncontended`.
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

use weft_bench::{emit, enabled, median, ns_per_op, python_median, scale};
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

    let lock = Lock::new(0u64);
    emit(
        w,
        "weft",
        ns_per_op(n, || {
            for _ in 0..n {
                *black_box(&lock).acquire() += 1;
            }
        }),
        "ns/op",
    );

    let lock = Mutex::new(0u64);
    emit(
        w,
        "std",
        ns_per_op(n, || {
            for _ in 0..n {
                *black_box(&lock).lock().unwrap() += 1;
            }
        }),
        "ns/op",
    );

    let lock = parking_lot::Mutex::new(0u64);
    emit(
        w,
        "parking_lot",
        ns_per_op(n, || {
            for _ in 0..n {
                *black_box(&lock).lock() += 1;
            }
        }),
        "ns/op",
    );

    let lock = SpinLock::new(0u64);
    emit(
        w,
        "floor",
        ns_per_op(n, || {
            for _ in 0..n {
                black_box(&lock).with(|v| *v += 1);
            }
        }),
        "ns/op",
    );

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

/// Runs `threads` threads that each call `incr` `per` times, all released together, and returns
/// ns per increment: the wall time from the first thread's start to the last one's end, over
/// the total. Each thread reads the clock itself, so a descheduled `main` cannot skew it.
fn contended_run(threads: u64, incr: &(impl Fn() + Sync)) -> f64 {
    let per = scale(CONTENDED_TOTAL) / threads;
    median(|| {
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
    })
}

fn contended(threads: u64) {
    let w = format!("lock_contended_{threads}");
    if !enabled(&w) {
        return;
    }

    let lock = Lock::new(0u64);
    emit(
        &w,
        "weft",
        contended_run(threads, &|| *lock.acquire() += 1),
        "ns/op",
    );
    assert_eq!(
        lock.into_inner() % (scale(CONTENDED_TOTAL) / threads * threads),
        0
    );

    let lock = Mutex::new(0u64);
    emit(
        &w,
        "std",
        contended_run(threads, &|| *lock.lock().unwrap() += 1),
        "ns/op",
    );

    let lock = parking_lot::Mutex::new(0u64);
    emit(
        &w,
        "parking_lot",
        contended_run(threads, &|| *lock.lock() += 1),
        "ns/op",
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

    let lock = RLock::new(std::cell::Cell::new(0u64));
    emit(
        w,
        "weft",
        ns_per_op(n, || {
            for _ in 0..n {
                let g = black_box(&lock).acquire();
                g.set(g.get() + 1);
            }
        }),
        "ns/op",
    );

    let lock = parking_lot::ReentrantMutex::new(std::cell::Cell::new(0u64));
    emit(
        w,
        "parking_lot",
        ns_per_op(n, || {
            for _ in 0..n {
                let g = black_box(&lock).lock();
                g.set(g.get() + 1);
            }
        }),
        "ns/op",
    );

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

fn main() {
    if enabled("lock_uncontended") {
        uncontended();
    }
    contended(2);
    contended(8);
    if enabled("rlock_uncontended") {
        rlock_uncontended();
    }
}
