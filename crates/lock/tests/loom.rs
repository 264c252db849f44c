//! loom models of `Lock` and `RLock`, one invariant each.
//!
//! Run exhaustively with
//! `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-lock --test loom --release`;
//! a plain `cargo test` runs each body once on real threads.
//!
//! The protected data is a plain (non-atomic) value inside the lock: loom's `UnsafeCell` checker
//! fails the model if two accesses to it are not ordered by the lock's happens-before edges.

use std::time::Duration;

use weft_lock::{Lock, LockGuard, RLock};

/// A finite timeout: under loom any finite timeout means "yield once, then time out unless
/// woken"; on std (one real run) it is kept short so the models stay fast.
const TIMEOUT: Duration = Duration::from_millis(10);
use weft_sync::{
    Arc, Outcomes,
    atomic::{AtomicUsize, Ordering},
    cell::UnsafeCell,
    thread,
    waitq::Leaves,
};

/// Two threads and `main` each add to a non-atomic counter under the lock; none is lost, and
/// loom's cell checker sees every access ordered. (A third spawned thread multiplies the run
/// time by a hundred at the same preemption bound.)
#[test]
fn lock_mutual_exclusion() {
    weft_sync::model(|| {
        let lock = Arc::new(Lock::new(0usize));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                thread::spawn(move || *lock.acquire() += 1)
            })
            .collect();
        *lock.acquire() += 1;
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*lock.acquire(), 3);
    });
}

/// A release racing with a waiter that is going to sleep never leaves it asleep: loom reports a
/// deadlock if the waiter parks and nobody wakes it.
#[test]
fn lock_no_lost_wakeup() {
    weft_sync::model(|| {
        let lock = Arc::new(Lock::new(0usize));
        let g = lock.acquire();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                thread::spawn(move || *lock.acquire() += 1)
            })
            .collect();
        drop(g);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*lock.acquire(), 2);
        assert!(!lock.locked());
    });
}

/// `try_acquire` never succeeds while another thread holds the lock: a holder count, raised
/// inside every critical section, is never above one.
#[test]
fn lock_try_acquire_never_succeeds_while_held() {
    fn enter(holders: &AtomicUsize) {
        assert_eq!(
            holders.fetch_add(1, Ordering::SeqCst),
            0,
            "two holders at once"
        );
    }
    fn leave(holders: &AtomicUsize) {
        holders.fetch_sub(1, Ordering::SeqCst);
    }
    weft_sync::model(|| {
        let lock = Arc::new(Lock::new(()));
        let holders = Arc::new(AtomicUsize::new(0));
        let t = {
            let (lock, holders) = (lock.clone(), holders.clone());
            thread::spawn(move || {
                let g = lock.acquire();
                enter(&holders);
                leave(&holders);
                drop(g);
            })
        };
        for _ in 0..2 {
            if let Some(g) = lock.try_acquire() {
                enter(&holders);
                leave(&holders);
                drop(g);
            }
        }
        t.join().unwrap();
        assert!(lock.try_acquire().is_some());
    });
}

/// How the timed waiter of a timed and an untimed one ended.
const TIMED_WAITER: &[&str] = &[
    "the timed waiter got the lock",
    "the timed waiter timed out",
];

/// The end of a model where a timed waiter (adding 1) and an untimed one (adding 10) raced the
/// release of a holder that added 100: the lock is free, never lost, the untimed one got in,
/// and the timed one got in (111) or timed out (110), which `o` records.
fn timed_and_untimed_end(
    o: &Outcomes,
    lock: &Lock<usize>,
    timed: thread::JoinHandle<()>,
    untimed: thread::JoinHandle<()>,
) {
    timed.join().unwrap();
    untimed.join().unwrap();
    let n = *lock.try_acquire().expect("the lock was lost");
    assert!(n == 110 || n == 111, "{n}");
    o.saw(TIMED_WAITER[usize::from(n == 110)]);
}

/// A timed acquire racing with the release (under loom a timed wait yields once, then times
/// out): the lock is never lost and never owned twice, and the timed-out waiter never swallows
/// the wake-up that an untimed waiter needs (loom would report the deadlock).
#[test]
fn lock_timed_acquire_racing_release() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(TIMED_WAITER);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let lock = Arc::new(Lock::new(0usize));
        let mut g = lock.acquire();
        let timed = {
            let lock = lock.clone();
            thread::spawn(move || {
                if let Some(mut g) = lock.acquire_timeout(TIMEOUT) {
                    *g += 1;
                }
            })
        };
        let untimed = {
            let lock = lock.clone();
            thread::spawn(move || *lock.acquire() += 10)
        };
        *g += 100;
        drop(g);
        timed_and_untimed_end(&o, &lock, timed, untimed);
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// Waiters that time out while the lock stays held leave it held (a timed-out waiter's clean-up
/// touches only the PARKED bit), and leave no stale state behind: the lock is free and fast
/// again after the release.
#[test]
fn lock_timeouts_while_held_leave_it_held() {
    let outcomes = Outcomes::new(&["both timed out"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let lock = Arc::new(Lock::new(0usize));
        let mut g = lock.acquire();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                thread::spawn(move || lock.acquire_timeout(TIMEOUT).is_none())
            })
            .collect();
        for w in waiters {
            assert!(w.join().unwrap(), "acquired while held");
        }
        assert!(lock.locked());
        o.saw("both timed out");
        *g += 1;
        drop(g);
        assert!(!lock.locked());
        assert_eq!(*lock.try_acquire().expect("free"), 1);
    });
    outcomes.check();
}

/// A timed-out waiter to which the lock was handed at that very moment (`unlock_fair` hands off
/// whenever somebody is queued) owns it and passes it on: the lock is never lost, never owned
/// twice, and the second waiter still gets it.
#[test]
fn lock_timed_acquire_racing_handoff() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(TIMED_WAITER);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let lock = Arc::new(Lock::new(0usize));
        let mut g = lock.acquire();
        let timed = {
            let lock = lock.clone();
            thread::spawn(move || {
                if let Some(mut g) = lock.acquire_timeout(TIMEOUT) {
                    *g += 1;
                    g.unlock_fair();
                }
            })
        };
        let untimed = {
            let lock = lock.clone();
            thread::spawn(move || *lock.acquire() += 10)
        };
        *g += 100;
        g.unlock_fair();
        timed_and_untimed_end(&o, &lock, timed, untimed);
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// The fairness path: a waiter woken to retry that loses the race to a barging thread is handed
/// the lock directly at the next release. The data checker proves the hand-off transfers
/// ownership soundly, and the model checks that some execution took that path.
#[test]
fn lock_fairness_handoff() {
    #[allow(clippy::disallowed_types)]
    static HANDOFFS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    weft_sync::model(|| {
        let lock = Arc::new(Lock::new(0usize));
        let mut g = lock.acquire();
        let waiter = {
            let lock = lock.clone();
            thread::spawn(move || *lock.acquire() += 10)
        };
        // The hot loop: release and take the lock again at once, yielding while holding it
        // (work inside the critical section), so that the waiter runs while it is held.
        for _ in 0..2 {
            *g += 1;
            thread::yield_now();
            drop(g);
            g = lock.acquire();
        }
        *g += 1;
        drop(g);
        waiter.join().unwrap();
        assert_eq!(*lock.acquire(), 13);
        #[cfg(weft_loom)]
        HANDOFFS.fetch_add(lock.handoff_count(), std::sync::atomic::Ordering::Relaxed);
    });
    if weft_sync::LOOM {
        assert!(
            HANDOFFS.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "hand-off never explored"
        );
    }
}

/// A guard taken on one thread and released on another (as Python allows) really releases the
/// lock, and publishes the writes made under it to the next owner.
#[test]
fn lock_guard_released_on_another_thread() {
    weft_sync::model(|| {
        let lock = Arc::new(Lock::new(0usize));
        let mut g = lock.acquire();
        *g += 1;
        // loom has no scoped threads, so the guard's borrow is stretched to `'static`.
        // SAFETY: `keep`, moved along with the guard, keeps the lock alive until after the guard
        // is dropped, and `main` holds another `Arc` until the end.
        let g: LockGuard<'static, usize> = unsafe { std::mem::transmute(g) };
        let keep = lock.clone();
        let releaser = thread::spawn(move || {
            let mut g = g;
            *g += 1;
            drop(g);
            drop(keep);
        });
        let waiter = {
            let lock = lock.clone();
            thread::spawn(move || *lock.acquire() += 10)
        };
        releaser.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(*lock.acquire(), 12);
    });
}

/// A task (`acquire_async` under `block_on`) and a thread contend for the lock while `main`
/// holds it at first: never two holders, every access to the cell is ordered, and both get in
/// (loom reports a deadlock if a release reached neither).
#[test]
fn lock_a_task_and_a_thread_contending() {
    weft_sync::model(|| {
        let lock = Arc::new(Lock::new(0usize));
        let mut g = lock.acquire();
        let thread_waiter = {
            let lock = lock.clone();
            thread::spawn(move || *lock.acquire() += 10)
        };
        let task = {
            let lock = lock.clone();
            thread::spawn(move || {
                weft_sync::block_on(async {
                    *lock.acquire_async().await += 100;
                });
            })
        };
        *g += 1;
        drop(g);
        thread_waiter.join().unwrap();
        task.join().unwrap();
        assert_eq!(*lock.try_acquire().expect("the lock was lost"), 111);
    });
}

/// A queued `acquire_async` future is handed the lock (`unlock_fair` on another thread) while
/// `main` drops it, and a thread waits behind it: dropped before the hand-off it just leaves,
/// dropped after it (never polled again) it releases the lock it was handed. Either way the
/// thread gets in (else deadlock) and the lock is free at the end.
#[test]
fn lock_a_future_dropped_after_its_handoff_passes_it_on() {
    let leaves = Leaves::so_far();
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    weft_sync::model(|| {
        let lock = Arc::new(Lock::new(0usize));
        let mut g = lock.acquire();
        let mut fut = Box::pin(lock.acquire_async());
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        let thread_waiter = {
            let lock = lock.clone();
            thread::spawn(move || *lock.acquire() += 10)
        };
        *g += 1;
        // loom has no scoped threads, so the guard's borrow is stretched to `'static`.
        // SAFETY: `keep`, moved along with the guard, keeps the lock alive until after the guard
        // is dropped, and `main` holds another `Arc` until the end.
        let g: LockGuard<'static, usize> = unsafe { std::mem::transmute(g) };
        let keep = lock.clone();
        let releaser = thread::spawn(move || {
            g.unlock_fair();
            drop(keep);
        });
        drop(fut);
        releaser.join().unwrap();
        thread_waiter.join().unwrap();
        assert_eq!(*lock.try_acquire().expect("the lock was lost"), 11);
    });
    leaves.assert_received_since();
}

/// The same with a plain release, which wakes the queued future to retry or hands it the lock
/// (the fairness decision reads the logical clock: both explored): a future dropped after a
/// retry wake-up takes the lock if it is free and releases it, so the wake-up reaches the
/// thread behind it.
#[test]
fn lock_a_future_dropped_around_its_wake_passes_it_on() {
    let leaves = Leaves::so_far();
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    weft_sync::model(|| {
        let lock = Arc::new(Lock::new(0usize));
        let g = lock.acquire();
        let mut fut = Box::pin(lock.acquire_async());
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        let thread_waiter = {
            let lock = lock.clone();
            thread::spawn(move || *lock.acquire() += 10)
        };
        // SAFETY: as in the model above.
        let g: LockGuard<'static, usize> = unsafe { std::mem::transmute(g) };
        let keep = lock.clone();
        let releaser = thread::spawn(move || {
            drop(g);
            drop(keep);
        });
        drop(fut);
        releaser.join().unwrap();
        thread_waiter.join().unwrap();
        assert_eq!(*lock.try_acquire().expect("the lock was lost"), 10);
    });
    leaves.assert_received_since();
}

/// Two tasks and two threads in flight at once (`main` is the second thread): each gets the
/// lock exactly once, every access is ordered, and nobody is stranded. Run at one preemption in
/// CI; [`lock_two_tasks_and_two_threads_deep`] runs it at two (about 80 s).
#[test]
fn lock_two_tasks_and_two_threads() {
    two_tasks_and_two_threads(1);
}

/// [`lock_two_tasks_and_two_threads`] at two preemptions: `cargo xtask loom lock` with
/// `--ignored`, and the mutants runner's `deep:` models.
#[test]
#[ignore = "about 80 s: a deep model"]
fn lock_two_tasks_and_two_threads_deep() {
    two_tasks_and_two_threads(2);
}

fn two_tasks_and_two_threads(preemptions: usize) {
    weft_sync::model_with_preemptions(preemptions, || {
        let lock = Arc::new(Lock::new(0usize));
        let g = lock.acquire();
        let tasks: Vec<_> = [1, 10]
            .into_iter()
            .map(|add| {
                let lock = lock.clone();
                thread::spawn(move || {
                    weft_sync::block_on(async {
                        *lock.acquire_async().await += add;
                    });
                })
            })
            .collect();
        let thread_waiter = {
            let lock = lock.clone();
            thread::spawn(move || *lock.acquire() += 100)
        };
        drop(g);
        *lock.acquire() += 1000;
        thread_waiter.join().unwrap();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(*lock.try_acquire().expect("the lock was lost"), 1111);
    });
}

/// RLock bookkeeping: the owner re-enters without blocking, its count unwinds level by level,
/// and another thread gets the lock only after the last level is released (checked with the
/// owner's published depth and a non-atomic cell written by both).
#[test]
fn rlock_reentrancy_bookkeeping() {
    weft_sync::model(|| {
        let lock = Arc::new(RLock::new(UnsafeCell::new(0usize)));
        let depth = Arc::new(AtomicUsize::new(0));
        let other = {
            let (lock, depth) = (lock.clone(), depth.clone());
            thread::spawn(move || {
                let g = lock.acquire();
                assert_eq!(
                    depth.load(Ordering::SeqCst),
                    0,
                    "entered while the owner held it"
                );
                assert!(lock.is_owned());
                // SAFETY: we hold the lock; the test writes the cell only under it.
                g.with_mut(|p| unsafe { *p += 10 });
            })
        };
        let outer = lock.acquire();
        depth.store(1, Ordering::SeqCst);
        let inner = lock.acquire();
        depth.store(2, Ordering::SeqCst);
        assert_eq!(lock.recursion_count(), 2);
        // SAFETY: we hold the lock; the test writes the cell only under it.
        inner.with_mut(|p| unsafe { *p += 1 });
        depth.store(1, Ordering::SeqCst);
        drop(inner);
        assert!(lock.is_owned() && lock.locked());
        depth.store(0, Ordering::SeqCst);
        drop(outer);
        other.join().unwrap();
        let g = lock.try_acquire().expect("free after both released");
        // SAFETY: we hold the lock.
        assert_eq!(g.with(|p| unsafe { *p }), 11);
    });
}

/// RLock under contention with every acquire form: while the owner holds two levels, the other
/// thread's `try_acquire` fails and its timed acquire either times out or enters only after the
/// last release; the lock is free at the end whatever happened.
#[test]
fn rlock_contended_timed_and_try() {
    // "11" (the try got in, then the timed acquire timed out while the owner held the lock)
    // takes more preemptions than the bound: the other thread must run first, then the owner,
    // then the other past its spin and its park while the owner holds the lock.
    let outcomes = Outcomes::new(&["1", "101", "111"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let lock = Arc::new(RLock::new(UnsafeCell::new(0usize)));
        let depth = Arc::new(AtomicUsize::new(0));
        let other = {
            let (lock, depth) = (lock.clone(), depth.clone());
            thread::spawn(move || {
                if let Some(g) = lock.try_acquire() {
                    assert_eq!(
                        depth.load(Ordering::SeqCst),
                        0,
                        "try_acquire entered while held"
                    );
                    // SAFETY: we hold the lock; the test writes the cell only under it.
                    g.with_mut(|p| unsafe { *p += 10 });
                }
                if let Some(g) = lock.acquire_timeout(TIMEOUT) {
                    assert_eq!(
                        depth.load(Ordering::SeqCst),
                        0,
                        "timed acquire entered while held"
                    );
                    let again = lock.acquire_timeout(TIMEOUT).expect("reentry");
                    // SAFETY: we hold the lock; the test writes the cell only under it.
                    again.with_mut(|p| unsafe { *p += 100 });
                    drop(g);
                    assert!(lock.is_owned());
                }
                assert!(!lock.is_owned());
            })
        };
        let outer = lock.acquire();
        depth.store(1, Ordering::SeqCst);
        let inner = lock.try_acquire().expect("reentry");
        // SAFETY: we hold the lock; the test writes the cell only under it.
        inner.with_mut(|p| unsafe { *p += 1 });
        drop(inner);
        depth.store(0, Ordering::SeqCst);
        drop(outer);
        other.join().unwrap();
        let g = lock.try_acquire().expect("free at the end");
        // SAFETY: we hold the lock.
        let n = g.with(|p| unsafe { *p });
        assert!([1, 11, 101, 111].contains(&n), "{n}");
        // Which of `try_acquire` (10) and the timed acquire (100) got in.
        o.saw(&n.to_string());
    });
    outcomes.check();
}

/// Issue 9: an owner that exits while holding the lock (its guard leaked) leaves it held, and
/// no later thread is taken for that owner. An owner id that a later thread could be given (the
/// address of a thread-local, freed with its thread) let the later threads "re-enter"; loom
/// frees a thread's locals when it ends, so the next thread's usually land at the same address.
#[test]
fn rlock_owner_that_exited_is_never_impersonated() {
    weft_sync::model(|| {
        let lock = Arc::new(RLock::new(()));
        {
            let lock = lock.clone();
            thread::spawn(move || {
                let g = lock.acquire();
                assert_eq!(lock.recursion_count(), 1);
                // The thread ends while owning the lock.
                std::mem::forget(g);
            })
            .join()
            .unwrap();
        }
        for _ in 0..2 {
            let lock = lock.clone();
            thread::spawn(move || {
                assert!(!lock.is_owned(), "a later thread owns a dead thread's lock");
                assert_eq!(lock.recursion_count(), 0);
                assert!(
                    lock.try_acquire().is_none(),
                    "a later thread entered a lock held by a dead thread"
                );
                assert!(lock.acquire_timeout(TIMEOUT).is_none());
            })
            .join()
            .unwrap();
        }
        assert!(lock.locked() && !lock.is_owned());
    });
}

/// Two contenders while the owner recurses: each enters only after the owner's last release
/// and after the other contender's last release (the depth it reads is 0), re-enters once
/// without waiting, and every write to the non-atomic cell is ordered by the lock.
#[test]
fn rlock_two_contenders_while_the_owner_recurses() {
    weft_sync::model(|| {
        let lock = Arc::new(RLock::new(UnsafeCell::new(0usize)));
        let depth = Arc::new(AtomicUsize::new(0));
        let outer = lock.acquire();
        depth.store(1, Ordering::SeqCst);
        let contenders: Vec<_> = [10, 100]
            .into_iter()
            .map(|add| {
                let (lock, depth) = (lock.clone(), depth.clone());
                thread::spawn(move || {
                    let g = lock.acquire();
                    assert_eq!(depth.swap(1, Ordering::SeqCst), 0, "entered while held");
                    let again = lock.try_acquire().expect("reentry");
                    assert_eq!(lock.recursion_count(), 2);
                    // SAFETY: we hold the lock; the test writes the cell only under it.
                    again.with_mut(|p| unsafe { *p += add });
                    drop(again);
                    depth.store(0, Ordering::SeqCst);
                    drop(g);
                    assert!(!lock.is_owned());
                })
            })
            .collect();
        let inner = lock.acquire();
        // SAFETY: we hold the lock; the test writes the cell only under it.
        inner.with_mut(|p| unsafe { *p += 1 });
        drop(inner);
        assert!(lock.is_owned());
        depth.store(0, Ordering::SeqCst);
        drop(outer);
        for c in contenders {
            c.join().unwrap();
        }
        let g = lock.try_acquire().expect("free at the end");
        // SAFETY: we hold the lock.
        assert_eq!(g.with(|p| unsafe { *p }), 111);
    });
}

/// Two contenders while the owner recurses, one of them timed: the timed one enters only when
/// the lock is free (the depth it reads is 0) or times out holding nothing; the untimed one
/// always enters; every write to the cell is ordered by the lock. Both the timed one entering
/// and it timing out are reached, and so is the timed one leaving with the lock already handed
/// to it (which it must pass on, or the untimed one sleeps forever).
#[test]
fn rlock_a_timed_and_an_untimed_contender_while_the_owner_recurses() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(TIMED_WAITER);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let lock = Arc::new(RLock::new(UnsafeCell::new(0usize)));
        let depth = Arc::new(AtomicUsize::new(0));
        let outer = lock.acquire();
        depth.store(1, Ordering::SeqCst);
        let timed = {
            let (lock, depth) = (lock.clone(), depth.clone());
            thread::spawn(move || match lock.acquire_timeout(TIMEOUT) {
                Some(g) => {
                    assert_eq!(depth.swap(1, Ordering::SeqCst), 0, "entered while held");
                    // SAFETY: we hold the lock; the test writes the cell only under it.
                    g.with_mut(|p| unsafe { *p += 10 });
                    depth.store(0, Ordering::SeqCst);
                    drop(g);
                    true
                }
                None => false,
            })
        };
        let untimed = {
            let (lock, depth) = (lock.clone(), depth.clone());
            thread::spawn(move || {
                let g = lock.acquire();
                assert_eq!(depth.swap(1, Ordering::SeqCst), 0, "entered while held");
                // SAFETY: we hold the lock; the test writes the cell only under it.
                g.with_mut(|p| unsafe { *p += 100 });
                depth.store(0, Ordering::SeqCst);
                drop(g);
            })
        };
        let inner = lock.acquire();
        drop(inner);
        depth.store(0, Ordering::SeqCst);
        drop(outer);
        let got = timed.join().unwrap();
        untimed.join().unwrap();
        o.saw(TIMED_WAITER[usize::from(!got)]);
        let g = lock.try_acquire().expect("free at the end");
        // SAFETY: we hold the lock.
        assert_eq!(g.with(|p| unsafe { *p }), if got { 110 } else { 100 });
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// The raw API's wait morphing (what weft-condition's notify does): while a thread holds the
/// lock, a waiter of another queue is moved, entry intact, into the lock's queue, with a third
/// thread contending. The release that frees the lock wakes the moved waiter (or hands the lock
/// to it), so it always gets the lock: a move that the release missed would leave it asleep.
#[test]
fn raw_a_waiter_moved_into_the_queue_is_woken_by_a_release() {
    use weft_lock::raw::RawLock;
    use weft_sync::{
        Deadline, Mutex,
        waitq::{Token, WaitQueue},
    };
    /// The data the raw lock guards, shared by the threads.
    struct Count(UnsafeCell<usize>);
    // SAFETY: every access to the cell holds the lock (or follows every join).
    unsafe impl Sync for Count {}
    weft_sync::model(|| {
        let lock = Arc::new(RawLock::new());
        let other = Arc::new(Mutex::new(WaitQueue::<()>::new()));
        let count = Arc::new(Count(UnsafeCell::new(0usize)));
        let ticket = other.lock().register_thread(());
        let (l, o, c) = (lock.clone(), other.clone(), count.clone());
        let mover = thread::spawn(move || {
            l.lock();
            let moved = {
                let mut q = o.lock();
                l.transfer_waiters(|to, now| q.transfer_front(1, to, |()| now))
            };
            assert_eq!(moved, Some(1), "the lock is held: the waiter moves");
            // SAFETY: the lock is held.
            c.0.with_mut(|p| unsafe { *p += 1 });
            // SAFETY: taken above, released once.
            unsafe { l.unlock() };
        });
        let (l, c) = (lock.clone(), count.clone());
        let contender = thread::spawn(move || {
            l.lock();
            // SAFETY: the lock is held.
            c.0.with_mut(|p| unsafe { *p += 1 });
            // SAFETY: taken above, released once.
            unsafe { l.unlock() };
        });
        match ticket.park(Deadline::never()) {
            Some(Token::HANDOFF) => {}
            Some(_) => lock.lock_bumped(),
            None => unreachable!("an untimed park returned without a token"),
        }
        // SAFETY: the lock is held.
        count.0.with_mut(|p| unsafe { *p += 1 });
        // SAFETY: handed over or taken above, released once.
        unsafe { lock.unlock() };
        mover.join().unwrap();
        contender.join().unwrap();
        // SAFETY: every thread is joined.
        assert_eq!(count.0.with(|p| unsafe { *p }), 3);
        assert!(!lock.is_locked());
    });
}
