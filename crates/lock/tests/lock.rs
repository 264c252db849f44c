//! `Lock` through its public API, with real threads and real time.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, mpsc},
    thread,
    time::{Duration, Instant},
};

use weft_lock::{Lock, LockGuard};
use weft_sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Upper bound for "returns soon after": only a hang or a timeout that never fires exceeds it.
/// Under Miri, beside the other checks on a loaded machine, seconds pass between two steps of
/// one thread.
const SLACK: Duration = Duration::from_secs(30);

#[test]
fn acquire_release_and_locked() {
    let lock = Lock::new(5);
    assert!(!lock.locked());
    {
        let mut g = lock.acquire();
        assert!(lock.locked());
        *g += 1;
    }
    assert!(!lock.locked());
    assert_eq!(*lock.acquire(), 6);
    assert_eq!(lock.into_inner(), 6);
}

#[test]
fn bare_lock_default_and_from() {
    let lock: Lock = Lock::default();
    drop(lock.acquire());
    let lock: Lock<Vec<u8>> = Lock::from(vec![1]);
    lock.acquire().push(2);
    assert_eq!(lock.into_inner(), [1, 2]);
}

#[test]
fn get_mut_needs_no_locking() {
    let mut lock = Lock::new(String::new());
    lock.get_mut().push('x');
    assert_eq!(*lock.acquire(), "x");
}

#[test]
fn unsized_data() {
    let lock: &Lock<[u8]> = &Lock::new([1, 2, 3]);
    lock.acquire()[0] = 9;
    assert_eq!(&*lock.acquire(), &[9, 2, 3]);
    let boxed: Box<Lock<dyn std::fmt::Debug + Send>> = Box::new(Lock::new(7));
    assert_eq!(format!("{:?}", &*boxed.acquire()), "7");
}

#[test]
fn try_acquire_fails_while_held_on_any_thread() {
    let lock = Lock::new(());
    let g = lock.try_acquire().expect("free");
    assert!(lock.try_acquire().is_none());
    thread::scope(|s| {
        s.spawn(|| assert!(lock.try_acquire().is_none()));
    });
    drop(g);
    assert!(lock.try_acquire().is_some());
}

#[test]
fn acquire_timeout_never_returns_early() {
    let lock = Lock::new(());
    let _g = lock.acquire();
    thread::scope(|s| {
        for ms in [1u64, 20, 60] {
            let lock = &lock;
            s.spawn(move || {
                let d = Duration::from_millis(ms);
                let t = Instant::now();
                assert!(lock.acquire_timeout(d).is_none());
                let took = t.elapsed();
                assert!(took >= d, "returned after {took:?} < {d:?}");
                assert!(took < d + SLACK, "returned only after {took:?}");
            });
        }
    });
    assert!(lock.locked());
}

#[test]
fn acquire_timeout_zero_is_try_acquire() {
    let lock = Lock::new(());
    assert!(lock.acquire_timeout(Duration::ZERO).is_some());
    let _g = lock.acquire();
    let t = Instant::now();
    assert!(lock.acquire_timeout(Duration::ZERO).is_none());
    assert!(t.elapsed() < SLACK);
}

#[test]
fn acquire_timeout_gets_the_lock_released_meanwhile() {
    let lock = Lock::new(0);
    let g = lock.acquire();
    thread::scope(|s| {
        let h = s.spawn(|| {
            let t = Instant::now();
            let mut g = lock
                .acquire_timeout(Duration::from_secs(120))
                .expect("released meanwhile");
            *g += 1;
            t.elapsed()
        });
        thread::sleep(Duration::from_millis(50));
        drop(g);
        let took = h.join().unwrap();
        // Woken by the release, not taken at the deadline after a lost wake-up.
        assert!(took < Duration::from_secs(60), "{took:?}");
    });
    assert_eq!(lock.into_inner(), 1);
}

#[test]
fn acquire_timeout_max_waits_forever() {
    let lock = Lock::new(());
    let g = lock.acquire();
    thread::scope(|s| {
        let h = s.spawn(|| lock.acquire_timeout(Duration::MAX).is_some());
        let h2 = s.spawn(|| {
            lock.acquire_timeout(Duration::from_secs(u64::MAX))
                .is_some()
        });
        thread::sleep(Duration::from_millis(100));
        assert!(!h.is_finished() && !h2.is_finished());
        drop(g);
        assert!(h.join().unwrap());
        assert!(h2.join().unwrap());
    });
}

#[test]
fn guard_released_on_another_thread() {
    // Python: a lock acquired by one thread may be released by another.
    let moved = Lock::new(0u32);
    thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<LockGuard<'_, u32>>();
        let releaser = s.spawn(move || {
            let mut g = rx.recv().unwrap();
            *g += 1;
            drop(g);
        });
        let mut g = moved.acquire();
        *g += 1;
        tx.send(g).unwrap();
        releaser.join().unwrap();
    });
    assert!(!moved.locked());
    assert_eq!(*moved.acquire(), 2);

    let lock = Arc::new(Lock::new(0u32));
    let lock2 = Arc::clone(&lock);
    // With a waiter blocked meanwhile: the release on the third thread wakes it.
    let g = lock.acquire();
    let waiter = thread::spawn(move || *lock2.acquire() += 1);
    thread::sleep(Duration::from_millis(20));
    thread::scope(|s| {
        s.spawn(move || drop(g));
    });
    waiter.join().unwrap();
    assert_eq!(*lock.acquire(), 1);
}

#[test]
fn panic_through_guard_releases_without_poisoning() {
    let lock = Lock::new(vec![1]);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut g = lock.acquire();
        g.push(2);
        panic!("boom");
    }));
    assert!(r.is_err());
    assert!(!lock.locked());
    assert_eq!(*lock.acquire(), [1, 2]);

    // `&Lock` crosses `catch_unwind` without `AssertUnwindSafe`, as `&std::sync::Mutex` does.
    let lock = Lock::new(0);
    let r = std::panic::catch_unwind(|| {
        let mut g = lock.acquire();
        *g += 1;
        panic!("boom");
    });
    assert!(r.is_err());
    assert_eq!(*lock.try_acquire().expect("released by the unwind"), 1);

    // Also when the panic happens on another thread while others wait.
    let lock = Arc::new(Lock::new(0));
    let g = lock.acquire();
    let waiter = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || *lock.acquire() += 1)
    };
    let panicker = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let _g = lock.acquire();
            panic!("inside the lock");
        })
    };
    drop(g);
    assert!(panicker.join().is_err());
    waiter.join().unwrap();
    assert_eq!(*lock.acquire(), 1);
}

#[test]
fn fairness_a_hot_relock_loop_cannot_starve_a_waiter() {
    // One thread releases and retakes the lock in a tight loop, holding it most of the time. A
    // waiter must still get it, each time within a bounded time (barging lets the hot thread
    // win only until the waiter has lost once or waited half a millisecond).
    // Miri is slow: a token run there.
    let (warm_up, rounds, work) = if cfg!(miri) {
        (10, 5, 5)
    } else {
        (1000, 200, 200)
    };
    let lock = Lock::new(0u64);
    let stop = AtomicBool::new(false);
    let hot_rounds = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let mut g = lock.acquire();
                // Hold it a little while, as real critical sections do.
                for _ in 0..work {
                    *g = std::hint::black_box(*g + 1);
                }
                drop(g);
                hot_rounds.fetch_add(1, Ordering::Relaxed);
            }
        });
        while hot_rounds.load(Ordering::Relaxed) < warm_up {
            thread::yield_now();
        }
        let mut worst = Duration::ZERO;
        for _ in 0..rounds {
            let t = Instant::now();
            let g = lock.acquire_timeout(SLACK);
            let took = t.elapsed();
            assert!(g.is_some(), "the waiter starved for {SLACK:?}");
            worst = worst.max(took);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(worst < SLACK, "worst wait {worst:?}");
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_eight_threads_increment() {
    const THREADS: u64 = 8;
    const ITERS: u64 = 100_000;
    let lock = Lock::new(0u64);
    thread::scope(|s| {
        for t in 0..THREADS {
            let lock = &lock;
            s.spawn(move || {
                for i in 0..ITERS {
                    // Mix the three forms.
                    let mut g = match (t + i) % 3 {
                        0 => lock.acquire(),
                        1 => lock.acquire_timeout(Duration::from_secs(30)).expect("30 s"),
                        _ => loop {
                            if let Some(g) = lock.try_acquire() {
                                break g;
                            }
                            thread::yield_now();
                        },
                    };
                    // A read-modify-write that tears if two threads ever overlap.
                    let v = *g;
                    *g = v + 1;
                }
            });
        }
    });
    assert_eq!(lock.into_inner(), THREADS * ITERS);
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_short_timeouts_never_lose_the_lock() {
    // Timed waiters give up all the time while others release and hand off; at the end the lock
    // must be free and every successful acquisition counted.
    let lock = Lock::new(0u64);
    let acquired = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..6 {
            let (lock, acquired) = (&lock, &acquired);
            s.spawn(move || {
                for i in 0..3_000 {
                    let g = if t % 2 == 0 {
                        lock.acquire_timeout(Duration::from_micros(50 + (i % 7) * 30))
                    } else {
                        Some(lock.acquire())
                    };
                    if let Some(mut g) = g {
                        *g += 1;
                        acquired.fetch_add(1, Ordering::Relaxed);
                        if i % 5 == 0 {
                            std::hint::black_box(&mut *g);
                            thread::yield_now();
                        }
                        if i % 3 == 0 {
                            g.unlock_fair();
                        }
                    }
                }
            });
        }
    });
    assert!(!lock.locked());
    assert_eq!(lock.into_inner(), acquired.load(Ordering::Relaxed) as u64);
}

#[test]
fn debug_shows_data_or_locked() {
    let lock = Lock::new(3);
    assert_eq!(format!("{lock:?}"), "Lock { data: 3, .. }");
    let g = lock.acquire();
    assert_eq!(format!("{lock:?}"), "Lock { data: <locked>, .. }");
    assert_eq!(format!("{g:?} {g}"), "3 3");
}
