//! `RLock` through its public API, with real threads and real time.

use std::{
    cell::{Cell, RefCell},
    panic::{AssertUnwindSafe, catch_unwind},
    thread,
    time::{Duration, Instant},
};

use weft_lock::RLock;
use weft_sync::atomic::{AtomicBool, Ordering};

/// Upper bound for "returns soon after": only a hang or a timeout that never fires exceeds it.
/// Under Miri, beside the other checks on a loaded machine, seconds pass between two steps of
/// one thread.
const SLACK: Duration = Duration::from_secs(30);

#[test]
fn reentry_counts_levels() {
    let lock = RLock::new(RefCell::new(0));
    assert!(!lock.locked() && !lock.is_owned());
    let a = lock.acquire();
    let b = lock.try_acquire().expect("reentry never fails");
    let c = lock
        .acquire_timeout(Duration::ZERO)
        .expect("reentry never waits");
    *c.borrow_mut() += 1;
    drop(b);
    drop(a);
    assert!(lock.is_owned() && lock.locked());
    assert_eq!(lock.recursion_count(), 1);
    drop(c);
    assert!(!lock.is_owned() && !lock.locked());
    assert_eq!(lock.recursion_count(), 0);
    assert_eq!(lock.into_inner().into_inner(), 1);
}

#[test]
fn recursion_depth_ten_thousand() {
    fn recurse(lock: &RLock<Cell<u32>>, depth: u32) {
        let g = lock.acquire();
        g.set(g.get() + 1);
        if depth > 1 {
            recurse(lock, depth - 1);
        }
    }
    // Miri is slow: a shallower run there.
    let depth: u32 = if cfg!(miri) { 500 } else { 10_000 };
    let lock = RLock::new(Cell::new(0));
    // Debug builds use big frames: give the recursion room.
    thread::scope(|s| {
        thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || recurse(&lock, depth))
            .unwrap()
            .join()
            .unwrap();
    });
    assert_eq!(lock.acquire().get(), depth);

    // Held guards, all at once, released in any order.
    let guards: Vec<_> = (0..depth).map(|_| lock.acquire()).collect();
    thread::scope(|s| {
        s.spawn(|| assert!(lock.try_acquire().is_none()));
    });
    let mut guards = guards;
    while guards.len() > 1 {
        let g = guards.swap_remove(guards.len() / 2);
        drop(g);
        assert!(lock.is_owned());
    }
    thread::scope(|s| {
        s.spawn(|| assert!(lock.try_acquire().is_none(), "free before the last release"));
    });
    drop(guards);
    thread::scope(|s| {
        s.spawn(|| assert!(lock.try_acquire().is_some(), "held after the last release"));
    });
}

#[test]
fn other_threads_wait_for_the_full_release() {
    let lock = RLock::new(());
    let fully_released = AtomicBool::new(false);
    let outer = lock.acquire();
    let inner = lock.acquire();
    thread::scope(|s| {
        let h = s.spawn(|| {
            assert!(!lock.is_owned());
            let _g = lock.acquire();
            assert!(lock.is_owned());
            assert!(
                fully_released.load(Ordering::Relaxed),
                "entered before the last release"
            );
        });
        thread::sleep(Duration::from_millis(30));
        drop(inner);
        thread::sleep(Duration::from_millis(30));
        assert!(!h.is_finished(), "entered after one of two releases");
        fully_released.store(true, Ordering::Relaxed);
        drop(outer);
        h.join().unwrap();
    });
}

#[test]
fn acquire_timeout_never_returns_early() {
    let lock = RLock::new(());
    let _g = lock.acquire();
    thread::scope(|s| {
        s.spawn(|| {
            let d = Duration::from_millis(40);
            let t = Instant::now();
            assert!(lock.acquire_timeout(d).is_none());
            let took = t.elapsed();
            assert!(took >= d && took < d + SLACK, "{took:?}");
            assert!(lock.try_acquire().is_none());
        });
    });
}

#[test]
fn acquire_timeout_max_waits_forever() {
    let lock = RLock::new(());
    let g = lock.acquire();
    thread::scope(|s| {
        let h = s.spawn(|| lock.acquire_timeout(Duration::MAX).is_some());
        thread::sleep(Duration::from_millis(50));
        assert!(!h.is_finished());
        drop(g);
        assert!(h.join().unwrap());
    });
}

#[test]
fn panic_through_a_level_releases_that_level() {
    let lock = RLock::new(Cell::new(0));
    let outer = lock.acquire();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let g = lock.acquire();
        g.set(1);
        panic!("boom");
    }));
    // With unwind-safe data, `&RLock` crosses `catch_unwind` as it is.
    let plain = RLock::new(5);
    assert!(
        catch_unwind(|| {
            let _g = plain.acquire();
            panic!("boom");
        })
        .is_err()
    );
    assert!(!plain.locked());
    assert!(r.is_err());
    assert!(lock.is_owned(), "the outer level is still held");
    drop(outer);
    assert!(!lock.locked());
    assert_eq!(lock.acquire().get(), 1);
}

#[test]
fn get_mut_default_from_debug() {
    let mut lock: RLock<Vec<u8>> = RLock::default();
    lock.get_mut().push(1);
    assert_eq!(format!("{lock:?}"), "RLock { data: [1], .. }");
    let g = lock.acquire();
    assert_eq!(format!("{g:?}"), "[1]");
    thread::scope(|s| {
        s.spawn(|| assert_eq!(format!("{lock:?}"), "RLock { data: <locked>, .. }"));
    });
    drop(g);
    assert_eq!(RLock::from(3).into_inner(), 3);
    let bare: RLock = RLock::new(());
    drop(bare.acquire());
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_nested_increments() {
    const THREADS: u64 = 4;
    const ITERS: u64 = 20_000;
    let lock = RLock::new(Cell::new(0u64));
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for i in 0..ITERS {
                    let outer = lock.acquire();
                    let v = outer.get();
                    let inner = if i % 2 == 0 {
                        lock.try_acquire().expect("reentry")
                    } else {
                        lock.acquire()
                    };
                    inner.set(v + 1);
                }
            });
        }
    });
    assert_eq!(lock.into_inner().get(), THREADS * ITERS);
}
