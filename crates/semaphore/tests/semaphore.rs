//! `Semaphore`, `BoundedSemaphore` and `Permit` through their public API, with real threads and
//! real time.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use weft_semaphore::{BoundedSemaphore, BoundedSemaphoreError, Permit, Semaphore};

/// How long a wait may take before a test calls it hung: far longer than anything here takes
/// on a loaded machine under Miri, so that only a real hang (a lost wake-up, a timeout that
/// never fires) reaches it.
const SLACK: Duration = Duration::from_secs(60);

/// Sleeps in small steps until `cond` holds, for at most [`SLACK`].
fn eventually(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < SLACK, "condition never held");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn new_default_available() {
    assert_eq!(Semaphore::new(0).available(), 0);
    assert_eq!(Semaphore::new(5).available(), 5);
    assert_eq!(Semaphore::default().available(), 1);
    assert_eq!(BoundedSemaphore::new(3).available(), 3);
    assert_eq!(BoundedSemaphore::default().available(), 1);
    assert_eq!(
        Semaphore::new(Semaphore::MAX_PERMITS).available(),
        Semaphore::MAX_PERMITS
    );
}

#[test]
#[should_panic(expected = "semaphore permit count overflow")]
fn new_past_max_panics() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

#[test]
#[should_panic(expected = "semaphore permit count overflow")]
fn bounded_new_past_max_panics() {
    let _ = BoundedSemaphore::new(usize::MAX);
}

#[test]
fn acquire_and_drop() {
    let sem = Semaphore::new(2);
    let a = sem.acquire();
    let b = sem.acquire();
    assert_eq!(sem.available(), 0);
    assert!(sem.try_acquire().is_none());
    drop(a);
    assert_eq!(sem.available(), 1);
    drop(b);
    assert_eq!(sem.available(), 2);
}

#[test]
fn try_acquire() {
    let sem = Semaphore::new(1);
    let p = sem.try_acquire().expect("free");
    assert!(sem.try_acquire().is_none());
    drop(p);
    assert!(sem.try_acquire().is_some());
    let zero = Semaphore::new(0);
    assert!(zero.try_acquire().is_none());
}

#[test]
fn zero_timeout_is_a_try() {
    // A zero timeout does not wait for the permit: a thread holds it and gives it back only
    // after SLACK, or once the try has returned. An acquire that waited would return the
    // permit, and after SLACK; a try returns `None` at once. (Measured against a fixed second
    // instead, a slow machine under Miri could fail a try that never waited.)
    let sem = Semaphore::new(1);
    let p = sem.acquire_timeout(Duration::ZERO).expect("free");
    let tried = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            while !tried.load(Ordering::SeqCst) && start.elapsed() < SLACK {
                thread::sleep(Duration::from_millis(1));
            }
            drop(p);
        });
        let t = Instant::now();
        assert!(sem.acquire_timeout(Duration::ZERO).is_none());
        assert!(t.elapsed() < SLACK, "waited for the held permit");
        tried.store(true, Ordering::SeqCst);
    });
    assert_eq!(sem.available(), 1);
}

#[test]
fn acquire_timeout_never_early() {
    let sem = Semaphore::new(0);
    let bounded = BoundedSemaphore::new(0);
    for ms in [1u64, 10, 50, 100] {
        let d = Duration::from_millis(ms);
        let t = Instant::now();
        assert!(sem.acquire_timeout(d).is_none());
        let e = t.elapsed();
        assert!(e >= d, "returned after {e:?}, before {d:?}");
        // Only a timeout that never fires is late by SLACK; a loaded machine is late by
        // less.
        assert!(e < d + SLACK, "late: {e:?}");
        let t = Instant::now();
        assert!(bounded.acquire_timeout(d).is_none());
        assert!(t.elapsed() >= d);
    }
    assert_eq!(sem.available(), 0);
}

#[test]
fn acquire_timeout_many_waiters_never_early() {
    let sem = Arc::new(Semaphore::new(0));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let sem = Arc::clone(&sem);
            thread::spawn(move || {
                let d = Duration::from_millis(20 + 10 * i);
                let t = Instant::now();
                let got = sem.acquire_timeout(d).is_some();
                (got, t.elapsed(), d)
            })
        })
        .collect();
    for t in threads {
        let (got, e, d) = t.join().unwrap();
        assert!(!got);
        assert!(e >= d, "returned after {e:?}, before {d:?}");
    }
    assert_eq!(sem.available(), 0);
}

#[test]
fn acquire_timeout_succeeds_when_released() {
    let sem = Arc::new(Semaphore::new(0));
    let s = Arc::clone(&sem);
    let t = thread::spawn(move || {
        s.acquire_timeout(Duration::from_secs(30))
            .map(Permit::forget)
    });
    // Usually the thread has queued by the release; if it comes later, it takes the permit
    // from the count: either way it gets it.
    thread::sleep(Duration::from_millis(20));
    sem.release(1);
    assert!(t.join().unwrap().is_some());
    assert_eq!(sem.available(), 0);
}

#[test]
fn duration_max_waits_forever() {
    let sem = Arc::new(Semaphore::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (s, d) = (Arc::clone(&sem), Arc::clone(&done));
    let t = thread::spawn(move || {
        let got = s
            .acquire_timeout(Duration::MAX)
            .map(Permit::forget)
            .is_some();
        d.store(true, Ordering::SeqCst);
        got
    });
    // A thread slower than the sleep has not returned either: the check cannot fail falsely.
    thread::sleep(Duration::from_millis(100));
    assert!(!done.load(Ordering::SeqCst), "Duration::MAX returned early");
    sem.release(1);
    assert!(t.join().unwrap());
}

#[test]
fn forget_keeps_the_permit_taken() {
    let sem = Semaphore::new(2);
    sem.acquire().forget();
    assert_eq!(sem.available(), 1);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available(), 0);
    sem.release(2);
    assert_eq!(sem.available(), 2);
}

#[test]
fn release_may_raise_an_unbounded_count() {
    let sem = Semaphore::new(1);
    sem.release(3);
    assert_eq!(sem.available(), 4);
    sem.release(0);
    assert_eq!(sem.available(), 4);
}

#[test]
fn release_overflow_panics_and_changes_nothing() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    sem.release(1);
    let r = catch_unwind(AssertUnwindSafe(|| sem.release(1)));
    assert!(r.is_err());
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
    let r = catch_unwind(AssertUnwindSafe(|| sem.release(usize::MAX)));
    assert!(r.is_err());
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
}

#[test]
fn dropped_permit_never_overflows() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    let p = sem.acquire();
    sem.release(1);
    drop(p); // Saturates instead of panicking in drop.
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
}

#[test]
fn release_n_wakes_n_waiters() {
    let sem = Arc::new(Semaphore::new(0));
    let through = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let (sem, through) = (Arc::clone(&sem), Arc::clone(&through));
            thread::spawn(move || {
                sem.acquire().forget();
                through.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // The counts below hold whether or not every thread has queued by the release: a late one
    // takes a permit from the count, and only 3 permits exist until the next release.
    thread::sleep(Duration::from_millis(50));
    assert_eq!(through.load(Ordering::SeqCst), 0);
    sem.release(3);
    eventually(|| through.load(Ordering::SeqCst) == 3);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        through.load(Ordering::SeqCst),
        3,
        "release(3) let more than 3 through"
    );
    assert_eq!(sem.available(), 0);
    sem.release(2);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(through.load(Ordering::SeqCst), 5);
    assert_eq!(sem.available(), 0);
}

#[test]
fn release_more_than_waiters_keeps_the_rest() {
    // CPython's test_multirelease: release(7) with a few waiters leaves the remainder.
    let sem = Arc::new(Semaphore::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let sem = Arc::clone(&sem);
            thread::spawn(move || sem.acquire().forget())
        })
        .collect();
    // A thread that has not queued by the release takes a permit from the count: 4 remain
    // either way.
    thread::sleep(Duration::from_millis(30));
    sem.release(7);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sem.available(), 4);
}

#[test]
fn permit_released_on_another_thread() {
    let sem = Semaphore::new(1);
    let p = sem.acquire();
    thread::scope(|s| {
        s.spawn(move || drop(p));
    });
    assert_eq!(sem.available(), 1);
}

#[test]
fn panic_while_holding_releases_the_permit() {
    let sem = Arc::new(Semaphore::new(1));
    let s = Arc::clone(&sem);
    let r = thread::spawn(move || {
        let _p = s.acquire();
        panic!("boom");
    })
    .join();
    assert!(r.is_err());
    assert_eq!(sem.available(), 1);
    assert!(sem.try_acquire().is_some());
}

#[test]
fn dropping_a_handle_while_others_wait() {
    // A waiter blocks; the creator's handle goes away; a third thread releases.
    let sem = Arc::new(Semaphore::new(0));
    let s = Arc::clone(&sem);
    let releaser = Arc::clone(&sem);
    let waiter = thread::spawn(move || s.acquire_timeout(Duration::from_secs(30)).is_some());
    // Queued by then or not, the waiter gets the permit.
    thread::sleep(Duration::from_millis(20));
    drop(sem);
    thread::spawn(move || releaser.release(1)).join().unwrap();
    assert!(waiter.join().unwrap());
}

#[test]
fn dropping_a_permit_wakes_a_waiter() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem
        .acquire_timeout(Duration::from_secs(1))
        .map(Permit::forget);
    assert!(held.is_some());
    let s = Arc::clone(&sem);
    let t = thread::spawn(move || {
        let _p = s.acquire();
    });
    thread::sleep(Duration::from_millis(20));
    sem.release(1);
    t.join().unwrap();
    assert_eq!(sem.available(), 1);
}

#[test]
fn bounded_release_past_initial_is_err_and_changes_nothing() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(1), Err(BoundedSemaphoreError));
    assert_eq!(sem.available(), 2);
    let p = sem.acquire();
    assert_eq!(sem.release(2), Err(BoundedSemaphoreError));
    assert_eq!(sem.available(), 1);
    assert_eq!(sem.release(usize::MAX), Err(BoundedSemaphoreError));
    assert_eq!(sem.available(), 1);
    p.forget();
    assert_eq!(sem.release(1), Ok(()));
    assert_eq!(sem.available(), 2);
    assert_eq!(sem.release(0), Ok(()));
    assert!(sem.release(1).is_err());
    assert_eq!(sem.available(), 2);
}

#[test]
fn bounded_release_n_within_bound() {
    let sem = BoundedSemaphore::new(3);
    for _ in 0..3 {
        sem.acquire().forget();
    }
    assert_eq!(sem.release(3), Ok(()));
    assert_eq!(sem.available(), 3);
    let zero = BoundedSemaphore::new(0);
    assert!(zero.release(1).is_err());
    assert_eq!(zero.release(0), Ok(()));
    assert!(zero.try_acquire().is_none());
}

#[test]
fn bounded_permit_drop_after_manual_over_release_stays_at_initial() {
    let sem = BoundedSemaphore::new(1);
    let p = sem.acquire();
    assert_eq!(sem.release(1), Ok(())); // A release without a forgotten permit (a bug)...
    drop(p); // ...and the permit's own release cannot fail: the count stays at the bound.
    assert_eq!(sem.available(), 1);
    assert!(sem.release(1).is_err());
}

#[test]
fn bounded_wakes_waiters() {
    let sem = Arc::new(BoundedSemaphore::new(1));
    sem.acquire().forget();
    let s = Arc::clone(&sem);
    let t = thread::spawn(move || s.acquire().forget());
    thread::sleep(Duration::from_millis(20));
    sem.release(1).unwrap();
    t.join().unwrap();
    assert_eq!(sem.available(), 0);
    assert_eq!(sem.release(1), Ok(()));
    assert_eq!(sem.release(1), Err(BoundedSemaphoreError));
}

#[test]
fn error_display_debug() {
    assert_eq!(
        BoundedSemaphoreError.to_string(),
        "semaphore released too many times"
    );
    assert_eq!(
        format!("{BoundedSemaphoreError:?}"),
        "BoundedSemaphoreError"
    );
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(BoundedSemaphoreError);
    assert!(e.source().is_none());
    assert!(format!("{:?}", Semaphore::new(2)).contains("available: 2"));
    assert!(format!("{:?}", BoundedSemaphore::new(2)).contains("initial: 2"));
    let sem = Semaphore::new(1);
    assert!(format!("{:?}", sem.acquire()).starts_with("Permit"));
}

#[test]
fn contended_phases() {
    // After CPython's test_acquire_contended: 10 threads each acquire twice from a semaphore
    // of 7 with one taken; releases let exactly the expected number through per phase.
    let sem = Arc::new(Semaphore::new(7));
    sem.acquire().forget();
    let first = Arc::new(AtomicUsize::new(0));
    let second = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let (sem, first, second) = (Arc::clone(&sem), Arc::clone(&first), Arc::clone(&second));
            thread::spawn(move || {
                sem.acquire().forget();
                first.fetch_add(1, Ordering::SeqCst);
                sem.acquire().forget();
                second.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    eventually(|| first.load(Ordering::SeqCst) + second.load(Ordering::SeqCst) == 6);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        first.load(Ordering::SeqCst) + second.load(Ordering::SeqCst),
        6
    );
    sem.release(7);
    eventually(|| first.load(Ordering::SeqCst) + second.load(Ordering::SeqCst) == 13);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        first.load(Ordering::SeqCst) + second.load(Ordering::SeqCst),
        13
    );
    assert!(sem.try_acquire().is_none());
    sem.release(6);
    eventually(|| first.load(Ordering::SeqCst) + second.load(Ordering::SeqCst) == 19);
    assert!(sem.try_acquire().is_none());
    sem.release(1);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(second.load(Ordering::SeqCst), 10);
    assert_eq!(sem.available(), 0);
}

#[test]
#[cfg_attr(miri, ignore)]
fn no_waiter_starves_under_a_hot_loop() {
    // Two threads acquire and release a single permit as fast as they can; a third must still
    // get it (the fairness hand-off), well within the time limit. The limit is SLACK, not a few
    // seconds: a starving waiter waits as long as the hot loop runs, whereas a waiter handed
    // its permit may still wait for a CPU on a loaded machine.
    let sem = Arc::new(Semaphore::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let hot: Vec<_> = (0..2)
        .map(|_| {
            let (sem, stop) = (Arc::clone(&sem), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _p = sem.acquire();
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    for _ in 0..20 {
        assert!(sem.acquire_timeout(SLACK).is_some(), "starved");
    }
    stop.store(true, Ordering::Relaxed);
    for t in hot {
        t.join().unwrap();
    }
    assert_eq!(sem.available(), 1);
}

/// Many threads take permits through every form; the number of holders never exceeds the
/// permits (checked with a high-water mark), and every permit comes back.
fn stress(permits: usize, threads: usize, iterations: usize, bounded: bool) {
    enum Sem {
        Plain(Semaphore),
        Bounded(BoundedSemaphore),
    }
    impl Sem {
        fn acquire(&self, how: usize) -> Option<Permit<'_>> {
            match (self, how % 3) {
                (Sem::Plain(s), 0) => Some(s.acquire()),
                (Sem::Plain(s), 1) => s.try_acquire(),
                (Sem::Plain(s), _) => s.acquire_timeout(Duration::from_micros(100)),
                (Sem::Bounded(s), 0) => Some(s.acquire()),
                (Sem::Bounded(s), 1) => s.try_acquire(),
                (Sem::Bounded(s), _) => s.acquire_timeout(Duration::from_micros(100)),
            }
        }
        fn give_back(&self, p: Permit<'_>, how: usize) {
            if how.is_multiple_of(2) {
                drop(p);
            } else {
                p.forget();
                match self {
                    Sem::Plain(s) => s.release(1),
                    Sem::Bounded(s) => s.release(1).unwrap(),
                }
            }
        }
        fn available(&self) -> usize {
            match self {
                Sem::Plain(s) => s.available(),
                Sem::Bounded(s) => s.available(),
            }
        }
    }
    let sem = Arc::new(if bounded {
        Sem::Bounded(BoundedSemaphore::new(permits))
    } else {
        Sem::Plain(Semaphore::new(permits))
    });
    let holders = Arc::new(AtomicUsize::new(0));
    let high = Arc::new(AtomicUsize::new(0));
    let taken = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (sem, holders, high, taken) = (
                Arc::clone(&sem),
                Arc::clone(&holders),
                Arc::clone(&high),
                Arc::clone(&taken),
            );
            thread::spawn(move || {
                for i in 0..iterations {
                    let how = t + i;
                    if let Some(p) = sem.acquire(how) {
                        let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        high.fetch_max(now, Ordering::SeqCst);
                        assert!(now <= permits, "{now} holders of {permits} permits");
                        if i % 16 == 0 {
                            thread::yield_now();
                        }
                        holders.fetch_sub(1, Ordering::SeqCst);
                        taken.fetch_add(1, Ordering::Relaxed);
                        sem.give_back(p, how / 3);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(high.load(Ordering::SeqCst) <= permits);
    assert!(high.load(Ordering::SeqCst) >= 1);
    assert!(
        taken.load(Ordering::Relaxed) >= threads * iterations / 3,
        "blocking forms all ran"
    );
    assert_eq!(sem.available(), permits, "a permit was lost or duplicated");
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_semaphore() {
    stress(2, 8, 20_000, false);
    stress(1, 4, 10_000, false);
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_bounded_semaphore() {
    stress(3, 8, 10_000, true);
}

#[test]
#[cfg_attr(miri, ignore)]
fn timeout_racing_release_never_loses_a_permit() {
    // A timed acquire gives up at about the moment a release arrives, many times over: whether
    // it got the permit (and dropped it) or timed out, the permit is back in the count.
    let sem = Arc::new(Semaphore::new(0));
    for i in 0..500u64 {
        let s = Arc::clone(&sem);
        let waiter = thread::spawn(move || {
            s.acquire_timeout(Duration::from_micros(50 + i % 100))
                .is_some()
        });
        thread::sleep(Duration::from_micros(i % 150));
        sem.release(1);
        waiter.join().unwrap();
        assert_eq!(sem.available(), 1, "round {i}: a permit was lost");
        sem.acquire().forget();
    }
}
