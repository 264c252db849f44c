//! loom models of `Condition`: one invariant per model.
//!
//! Run exhaustively with
//! `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-condition --test loom --release`;
//! without `weft_loom` each model runs once on real threads.

use weft_condition::Condition;
use weft_sync::{Arc, thread};

/// Waits, on the `ready` condition, until `n` waiters have announced themselves. A waiter
/// announces while holding the main condition's lock and keeps it until it is queued inside
/// `wait`, so once the caller then takes the main lock, all `n` are queued.
fn until_queued<T>(ready: &Condition<usize>, main: &Condition<T>, n: usize) {
    ready.lock().wait_for(|k| *k == n);
    drop(main.lock());
}

/// Announces a waiter on `ready` (call with the main lock held, then wait at once).
fn announce(ready: &Condition<usize>) {
    let mut k = ready.lock();
    *k += 1;
    k.notify_all();
}

#[test]
fn mutex_excludes_and_publishes() {
    weft_sync::model(|| {
        let cond = Arc::new(Condition::new(0usize));
        let c = Arc::clone(&cond);
        let t = thread::spawn(move || *c.lock() += 1);
        // A non-atomic read-modify-write: loom's UnsafeCell flags any overlap.
        *cond.lock() += 1;
        t.join().unwrap();
        assert_eq!(*cond.lock(), 2);
    });
}

#[test]
fn no_lost_notification_between_check_and_wait() {
    weft_sync::model(|| {
        let cond = Arc::new(Condition::new(false));
        let c = Arc::clone(&cond);
        let waiter = thread::spawn(move || {
            let mut g = c.lock();
            // If the notification fell between this check and the sleep, loom would report
            // a deadlock: the waiter would sleep forever.
            g.wait_for(|ready| *ready);
        });
        let mut g = cond.lock();
        *g = true;
        g.notify(1);
        drop(g);
        waiter.join().unwrap();
    });
}

#[test]
fn no_lost_notification_when_notified_without_lock() {
    weft_sync::model(|| {
        let cond = Arc::new(Condition::new(false));
        let c = Arc::clone(&cond);
        let waiter = thread::spawn(move || c.lock().wait_for(|ready| *ready));
        *cond.lock() = true;
        cond.notify_all();
        waiter.join().unwrap();
    });
}

#[test]
fn notify_one_wakes_exactly_one_of_two() {
    weft_sync::model_with_preemptions(2, || {
        let cond = Arc::new(Condition::new(0usize)); // how many have woken
        let ready = Arc::new(Condition::new(0usize));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (c, r) = (Arc::clone(&cond), Arc::clone(&ready));
                thread::spawn(move || {
                    let mut g = c.lock();
                    announce(&r);
                    g.wait();
                    *g += 1;
                })
            })
            .collect();
        until_queued(&ready, &cond, 2);
        assert_eq!(cond.notify(1), 1);
        // Exactly one wakes: the other is still queued, so a second notify finds it.
        assert_eq!(cond.notify(1), 1);
        assert_eq!(cond.notify(1), 0);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*cond.lock(), 2);
    });
}

#[test]
fn notify_all_wakes_every_waiter() {
    weft_sync::model_with_preemptions(2, || {
        let cond = Arc::new(Condition::new(0usize));
        let ready = Arc::new(Condition::new(0usize));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (c, r) = (Arc::clone(&cond), Arc::clone(&ready));
                thread::spawn(move || {
                    let mut g = c.lock();
                    announce(&r);
                    g.wait();
                    *g += 1;
                })
            })
            .collect();
        until_queued(&ready, &cond, 2);
        let g = cond.lock();
        assert_eq!(g.notify_all(), 2);
        drop(g);
        // Both must return: a deadlock report here would mean one was left behind.
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*cond.lock(), 2);
    });
}

#[test]
fn timed_out_waiter_never_swallows_a_notification() {
    weft_sync::model_with_preemptions(2, || {
        let cond = Arc::new(Condition::new(()));
        let ready = Arc::new(Condition::new(0usize));
        let (c, r) = (Arc::clone(&cond), Arc::clone(&ready));
        let timed = thread::spawn(move || {
            let mut g = c.lock();
            announce(&r);
            // Under loom: yields once, then times out unless notified.
            g.wait_timeout(std::time::Duration::from_secs(1))
        });
        let (c, r) = (Arc::clone(&cond), Arc::clone(&ready));
        let untimed = thread::spawn(move || {
            let mut g = c.lock();
            announce(&r);
            g.wait();
        });
        until_queued(&ready, &cond, 2);
        assert_eq!(cond.notify(1), 1);
        let timed_was_notified = timed.join().unwrap();
        if timed_was_notified {
            // The timed waiter took the notification: the other must still be queued.
            assert_eq!(cond.notify(1), 1);
        }
        // Otherwise the one notification went to the untimed waiter, which must wake: a
        // swallowed notification shows up as a deadlock here.
        untimed.join().unwrap();
    });
}
