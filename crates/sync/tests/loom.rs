//! Models of the parking protocol that every weft primitive builds on.
//!
//! Exhaustive under `--cfg weft_loom` (`cargo xtask loom sync`); one real run otherwise.

use std::sync::atomic::Ordering::SeqCst as S;

use weft_sync::{
    Arc, Deadline, Mutex, WaitList,
    atomic::AtomicUsize,
    park::{Parked, Waiter},
    thread,
};

/// A notify racing with the waiter going to sleep is never lost: the waiter returns `Woken`.
#[test]
fn notify_before_or_after_park_is_not_lost() {
    weft_sync::model(|| {
        let list = Arc::new(Mutex::new(WaitList::<()>::new()));
        let waiter = Waiter::new();
        list.lock().push_back(&waiter, ());
        let l2 = list.clone();
        let t = thread::spawn(move || {
            let n = l2.lock().pop_front();
            if let Some((n, ())) = n {
                n.notify();
            }
        });
        assert_eq!(waiter.wait(Deadline::never()), Parked::Woken);
        t.join().unwrap();
    });
}

/// A waiter that times out while a waker takes its entry still collects the notification, so
/// exactly one of "timed out and removed itself" and "was handed the wake-up" happens.
#[test]
fn timeout_racing_notify_settles_exactly_once() {
    weft_sync::model(|| {
        let list = Arc::new(Mutex::new(WaitList::<()>::new()));
        let handed = Arc::new(AtomicUsize::new(0));
        let waiter = Waiter::new();
        list.lock().push_back(&waiter, ());
        let (l2, h2) = (list.clone(), handed.clone());
        let t = thread::spawn(move || {
            let n = l2.lock().pop_front();
            if let Some((n, ())) = n {
                h2.fetch_add(1, S);
                n.notify();
            }
        });
        let woken = match waiter.wait(Deadline::after(std::time::Duration::from_millis(1))) {
            Parked::Woken => true,
            Parked::TimedOut => {
                let removed = list.lock().remove(&waiter).is_some();
                if !removed {
                    let _token = waiter.wait_notified();
                }
                !removed
            }
        };
        t.join().unwrap();
        assert_eq!(usize::from(woken), handed.load(S));
    });
}

/// Two waiters, one notify: exactly one is woken, and the list keeps the other.
#[test]
fn one_notify_wakes_exactly_one_of_two() {
    weft_sync::model(|| {
        let list = Arc::new(Mutex::new(WaitList::<usize>::new()));
        let woken = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        for id in 0..2 {
            let (list, woken) = (list.clone(), woken.clone());
            threads.push(thread::spawn(move || {
                let w = Waiter::new();
                list.lock().push_back(&w, id);
                if w.wait(Deadline::after(std::time::Duration::from_millis(1))) == Parked::Woken {
                    woken.fetch_add(1, S);
                } else if list.lock().remove(&w).is_none() {
                    let _ = w.wait_notified();
                    woken.fetch_add(1, S);
                }
            }));
        }
        let n = list.lock().pop_front();
        if let Some((n, _)) = n {
            n.notify();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(woken.load(S), 1);
        } else {
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(woken.load(S), 0);
        }
    });
}

/// The logical clock explores both answers of a time-based decision: once another thread has
/// parked, "at least this long has passed" is sometimes true and sometimes false; a zero
/// duration has always passed, and a duration beyond the clock's range never has.
#[test]
fn clock_decisions_are_explored_both_ways() {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::time::Duration;
    use weft_sync::clock::Instant;

    // Observations across executions, outside the model (they must not add states).
    static SAW_TRUE: AtomicBool = AtomicBool::new(false);
    static SAW_FALSE: AtomicBool = AtomicBool::new(false);
    weft_sync::model(|| {
        let start = Instant::now();
        assert!(start.elapsed_at_least(Duration::ZERO));
        let t = thread::spawn(|| {
            // A timed park: the clock advances, and nobody wakes it.
            let w = Waiter::new();
            assert_eq!(
                w.wait(Deadline::after(Duration::from_millis(1))),
                Parked::TimedOut
            );
        });
        // No synchronisation with `t` yet: its park may or may not be seen.
        if start.elapsed_at_least(Duration::from_millis(1)) {
            SAW_TRUE.store(true, Relaxed);
        } else {
            SAW_FALSE.store(true, Relaxed);
        }
        assert!(!start.elapsed_at_least(Duration::MAX));
        t.join().unwrap();
    });
    assert!(SAW_FALSE.load(Relaxed), "'not yet' never explored");
    if weft_sync::LOOM {
        assert!(SAW_TRUE.load(Relaxed), "'long enough' never explored");
    }
}
