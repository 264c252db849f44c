//! `Barrier` against CPython's `Lib/test/lock_tests.py` `BarrierTests`, on real threads, plus
//! `wait_async` on tokio's current-thread and multi-thread runtimes.

use std::{
    panic::{self, AssertUnwindSafe},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use weft_barrier::{Barrier, BrokenBarrierError};
use weft_sync::Mutex;

const N: usize = 5;
/// How long a wait may take before a test calls it hung: far longer than any round here takes
/// to fill on a loaded machine under Miri, so that only a real hang reaches it.
const SLACK: Duration = Duration::from_secs(60);
/// The barriers' default timeout where it only turns a hang into a failure (CPython's is 2 s,
/// which a round of threads slowed down by Miri on a loaded machine can exceed, breaking it).
const DEFAULT_TIMEOUT: Duration = SLACK;

/// Runs `f` on `N - 1` new threads and on this one; waits for all (CPython's `run_threads`).
fn run_threads(f: impl Fn() + Send + Sync + 'static) {
    let f = Arc::new(f);
    let threads: Vec<_> = (0..N - 1)
        .map(|_| {
            let f = Arc::clone(&f);
            thread::spawn(move || f())
        })
        .collect();
    f();
    for t in threads {
        t.join().unwrap();
    }
}

/// Sleeps in small steps until `cond` holds, for at most [`SLACK`].
fn eventually(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < SLACK, "condition never held");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `b` is broken, for at most [`SLACK`]: a late party then arrives either way, so
/// that a timeout that never fires shows as a round that passes (failing the test) rather than
/// as a hang.
fn until_broken(b: &Barrier) {
    let start = Instant::now();
    while !b.broken() && start.elapsed() < SLACK {
        thread::sleep(Duration::from_millis(1));
    }
}

/// CPython `multipass` / `test_barrier` / `test_barrier_10`: passes in lockstep.
fn lockstep(passes: usize) {
    let b = Arc::new(Barrier::new(N).default_timeout(DEFAULT_TIMEOUT));
    let results = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let b2 = Arc::clone(&b);
    run_threads(move || {
        let m = b2.parties();
        assert_eq!(m, N);
        for i in 0..passes {
            results.0.fetch_add(1, Ordering::SeqCst);
            assert_eq!(results.1.load(Ordering::SeqCst), i * m);
            b2.wait().unwrap();
            results.1.fetch_add(1, Ordering::SeqCst);
            assert_eq!(results.0.load(Ordering::SeqCst), (i + 1) * m);
            b2.wait().unwrap();
        }
        assert_eq!(b2.n_waiting(), 0);
        assert!(!b2.broken());
    });
    assert!(!b.broken());
}

#[test]
fn test_barrier() {
    lockstep(1);
}

#[test]
fn test_barrier_10() {
    lockstep(10);
}

#[test]
fn test_wait_return() {
    let b = Arc::new(Barrier::new(N));
    let results = Arc::new(Mutex::new(Vec::new()));
    let (b2, r2) = (Arc::clone(&b), Arc::clone(&results));
    run_threads(move || {
        let i = b2.wait().unwrap();
        r2.lock().push(i);
    });
    let mut got = results.lock().clone();
    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

#[test]
fn test_action() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let b = Arc::new(Barrier::with_action(N, move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let (b2, r2) = (Arc::clone(&b), Arc::clone(&runs));
    run_threads(move || {
        b2.wait().unwrap();
        assert_eq!(
            r2.load(Ordering::SeqCst),
            1,
            "released before the action ran"
        );
    });
}

#[test]
fn test_abort() {
    let b = Arc::new(Barrier::new(N).default_timeout(DEFAULT_TIMEOUT));
    let results1 = Arc::new(AtomicUsize::new(0));
    let results2 = Arc::new(AtomicUsize::new(0));
    let (b2, r1, r2) = (Arc::clone(&b), Arc::clone(&results1), Arc::clone(&results2));
    run_threads(move || {
        let i = match b2.wait() {
            Ok(i) => i,
            Err(BrokenBarrierError) => {
                r2.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        if i == N / 2 {
            b2.abort(); // CPython: raise RuntimeError; the handler aborts
            return;
        }
        match b2.wait() {
            Ok(_) => r1.fetch_add(1, Ordering::SeqCst),
            Err(BrokenBarrierError) => r2.fetch_add(1, Ordering::SeqCst),
        };
    });
    assert_eq!(results1.load(Ordering::SeqCst), 0);
    assert_eq!(results2.load(Ordering::SeqCst), N - 1);
    assert!(b.broken());
}

#[test]
fn test_reset() {
    let b = Arc::new(Barrier::new(N).default_timeout(DEFAULT_TIMEOUT));
    let r = Arc::new([
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]);
    let (b2, r2) = (Arc::clone(&b), Arc::clone(&r));
    run_threads(move || {
        let i = b2.wait().unwrap();
        if i == N / 2 {
            // Wait until the other threads are all in the barrier.
            eventually(|| b2.n_waiting() >= N - 1);
            b2.reset();
        } else {
            match b2.wait() {
                Ok(_) => r2[0].fetch_add(1, Ordering::SeqCst),
                Err(BrokenBarrierError) => r2[1].fetch_add(1, Ordering::SeqCst),
            };
        }
        // Now, pass the barrier again.
        b2.wait().unwrap();
        r2[2].fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(r[0].load(Ordering::SeqCst), 0);
    assert_eq!(r[1].load(Ordering::SeqCst), N - 1);
    assert_eq!(r[2].load(Ordering::SeqCst), N);
}

#[test]
fn test_abort_and_reset() {
    let b = Arc::new(Barrier::new(N).default_timeout(DEFAULT_TIMEOUT));
    let barrier2 = Arc::new(Barrier::new(N));
    let r = Arc::new([
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]);
    let (b1, b2, r2) = (Arc::clone(&b), Arc::clone(&barrier2), Arc::clone(&r));
    run_threads(move || {
        match b1.wait() {
            Ok(i) if i == N / 2 => b1.abort(),
            Ok(_) => match b1.wait() {
                Ok(_) => {
                    r2[0].fetch_add(1, Ordering::SeqCst);
                }
                Err(BrokenBarrierError) => {
                    r2[1].fetch_add(1, Ordering::SeqCst);
                }
            },
            Err(BrokenBarrierError) => {
                r2[1].fetch_add(1, Ordering::SeqCst);
            }
        }
        // Synchronize and reset the barrier: everyone has left it before the reset, and no
        // one enters it before the reset.
        if b2.wait().unwrap() == N / 2 {
            b1.reset();
        }
        b2.wait().unwrap();
        b1.wait().unwrap();
        r2[2].fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(r[0].load(Ordering::SeqCst), 0);
    assert_eq!(r[1].load(Ordering::SeqCst), N - 1);
    assert_eq!(r[2].load(Ordering::SeqCst), N);
}

#[test]
fn test_timeout() {
    let b = Arc::new(Barrier::new(N).default_timeout(DEFAULT_TIMEOUT));
    let b2 = Arc::clone(&b);
    run_threads(move || {
        let i = b2.wait().unwrap();
        if i == N / 2 {
            // One thread is late: it comes once the others' timeout has broken the barrier.
            // (CPython's thread sleeps 1 s against their 0.5 s timeout; on a loaded machine the
            // others can start waiting so late that it comes in time, and the round passes.)
            until_broken(&b2);
        }
        // Shorter than the default timeout.
        assert_eq!(
            b2.wait_timeout(Duration::from_millis(500)),
            Err(BrokenBarrierError)
        );
    });
    assert!(b.broken());
}

#[test]
fn test_default_timeout() {
    // The parties meet first at an untimed barrier: with the 300 ms default timeout, a round
    // that a loaded machine fills more slowly than that would break.
    let start = Arc::new(Barrier::new(N));
    let b = Arc::new(Barrier::new(N).default_timeout(Duration::from_millis(300)));
    let b2 = Arc::clone(&b);
    run_threads(move || {
        let i = start.wait().unwrap();
        if i == N / 2 {
            // One thread is later than the default timeout: it comes once the others' wait has
            // timed out and broken the barrier (a fixed sleep could end before that).
            until_broken(&b2);
        }
        assert_eq!(b2.wait(), Err(BrokenBarrierError));
    });
    assert!(b.broken());
}

#[test]
fn test_single_thread() {
    let b = Barrier::new(1);
    assert_eq!(b.wait(), Ok(0));
    assert_eq!(b.wait(), Ok(0));
}

#[test]
#[should_panic(expected = "parties must be at least 1")]
fn zero_parties_panics() {
    let _ = Barrier::new(0);
}

#[test]
fn timed_wait_never_returns_early() {
    for ms in [1u64, 10, 30] {
        let b = Barrier::new(2);
        let d = Duration::from_millis(ms);
        let start = Instant::now();
        assert_eq!(b.wait_timeout(d), Err(BrokenBarrierError));
        assert!(start.elapsed() >= d);
        assert!(b.broken());
        assert_eq!(
            b.wait_timeout(d),
            Err(BrokenBarrierError),
            "broken until reset"
        );
        b.reset();
        assert!(!b.broken());
    }
}

#[test]
fn duration_max_waits_forever() {
    let b = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&b);
    let t = thread::spawn(move || b2.wait_timeout(Duration::MAX));
    eventually(|| b.n_waiting() == 1);
    assert!(b.wait().is_ok());
    assert!(t.join().unwrap().is_ok());
}

#[test]
fn a_panicking_action_breaks_the_barrier_and_propagates() {
    let b = Arc::new(Barrier::with_action(3, || panic!("action failed")));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let b = Arc::clone(&b);
            thread::spawn(move || b.wait())
        })
        .collect();
    eventually(|| b.n_waiting() == 2);
    let r = panic::catch_unwind(AssertUnwindSafe(|| b.wait()));
    assert!(
        r.is_err(),
        "the action's panic continues on the party that ran it"
    );
    for w in waiters {
        assert_eq!(w.join().unwrap(), Err(BrokenBarrierError));
    }
    assert!(b.broken());
    b.reset();
    assert!(!b.broken());
}

#[test]
fn the_action_may_use_the_barrier_and_runs_once_per_trip() {
    let runs = Arc::new(AtomicUsize::new(0));
    let b = Arc::new_cyclic(|weak: &std::sync::Weak<Barrier>| {
        let (weak, runs) = (weak.clone(), Arc::clone(&runs));
        Barrier::with_action(2, move || {
            let b = weak.upgrade().unwrap();
            assert_eq!(b.n_waiting(), 0, "a trip under way has no waiting parties");
            assert!(!b.broken());
            runs.fetch_add(1, Ordering::SeqCst);
        })
    });
    let b2 = Arc::clone(&b);
    let t = thread::spawn(move || {
        for _ in 0..50 {
            b2.wait().unwrap();
        }
    });
    for _ in 0..50 {
        b.wait().unwrap();
    }
    t.join().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 50);
}

#[test]
fn abort_from_the_action_breaks_after_the_trip() {
    let b = Arc::new_cyclic(|weak: &std::sync::Weak<Barrier>| {
        let weak = weak.clone();
        Barrier::with_action(2, move || weak.upgrade().unwrap().abort())
    });
    let b2 = Arc::clone(&b);
    let t = thread::spawn(move || b2.wait());
    let mine = b.wait();
    // The round that was tripping passes; the barrier is broken afterwards.
    assert!(mine.is_ok());
    assert!(t.join().unwrap().is_ok());
    assert!(b.broken());
    assert!(b.wait().is_err());
}

#[test]
fn debug_and_error_display() {
    let b = Barrier::new(2);
    assert!(format!("{b:?}").contains("parties: 2"));
    assert_eq!(BrokenBarrierError.to_string(), "the barrier is broken");
    let e: Box<dyn std::error::Error> = Box::new(BrokenBarrierError);
    assert!(!e.to_string().is_empty());
}

#[test]
fn stress_many_rounds_mixed_timeouts() {
    let b = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                for _ in 0..500 {
                    if i % 2 == 0 {
                        b.wait().unwrap();
                    } else {
                        b.wait_timeout(SLACK).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(!b.broken());
}

// --- wait_async -------------------------------------------------------------------------------

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn tasks_meet_on_current_thread_runtime() {
    let b = Arc::new(Barrier::new(N));
    let rt = current_thread();
    let mut idx: Vec<usize> = rt.block_on(async {
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let b = Arc::clone(&b);
                tokio::spawn(async move { b.wait_async().await.unwrap() })
            })
            .collect();
        let mut out = Vec::new();
        for h in hs {
            out.push(h.await.unwrap());
        }
        out
    });
    idx.sort_unstable();
    assert_eq!(idx, (0..N).collect::<Vec<_>>());
}

#[test]
fn tasks_and_threads_meet_many_rounds_on_multi_thread_runtime() {
    let rounds = 200;
    let b = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                for _ in 0..rounds {
                    b.wait().unwrap();
                }
            })
        })
        .collect();
    let rt = multi_thread();
    rt.block_on(async {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                tokio::spawn(async move {
                    for _ in 0..rounds {
                        b.wait_async().await.unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert!(!b.broken());
}

#[test]
fn tokio_timeout_around_wait_async_breaks_the_barrier() {
    let b = Arc::new(Barrier::new(3));
    let b2 = Arc::clone(&b);
    let waiter = thread::spawn(move || b2.wait());
    eventually(|| b.n_waiting() == 1);
    let rt = current_thread();
    let r = rt
        .block_on(async { tokio::time::timeout(Duration::from_millis(20), b.wait_async()).await });
    assert!(r.is_err(), "timed out");
    // The dropped future was a party leaving: the thread waiting with it is released.
    assert_eq!(waiter.join().unwrap(), Err(BrokenBarrierError));
    assert!(b.broken());
    b.reset();
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn a_future_dropped_after_the_trip_released_it_loses_nothing() {
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    let b = Barrier::new(2);
    let mut fut = Box::pin(b.wait_async());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(b.n_waiting(), 1);
    // The second party trips the barrier: the future is handed its pass.
    assert_eq!(b.wait(), Ok(1));
    drop(fut); // dropped right after it was woken, before its next poll
    assert!(!b.broken(), "a released party leaving breaks nothing");
    // The barrier is usable for the next round.
    let mut fut = Box::pin(b.wait_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(b.wait(), Ok(1));
    assert_eq!(fut.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(0)));
}

#[test]
fn abort_and_reset_release_waiting_tasks() {
    let b = Arc::new(Barrier::new(3));
    let rt = multi_thread();
    rt.block_on(async {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                tokio::spawn(async move { b.wait_async().await })
            })
            .collect();
        while b.n_waiting() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        b.reset();
        for h in hs {
            assert_eq!(h.await.unwrap(), Err(BrokenBarrierError));
        }
        assert!(!b.broken());
        b.abort();
        assert_eq!(b.wait_async().await, Err(BrokenBarrierError));
    });
}

#[test]
fn wait_async_is_send() {
    fn send<T: Send>(_: &T) {}
    let b = Barrier::new(1);
    let f = b.wait_async();
    send(&f);
    assert_eq!(weft_sync_free_block_on(f), Ok(0));
}

/// A single-poll executor for a future that is ready at once.
fn weft_sync_free_block_on<F: std::future::Future>(f: F) -> F::Output {
    current_thread().block_on(f)
}
