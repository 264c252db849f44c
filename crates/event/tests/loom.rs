//! loom models of `Event`, one per invariant.
//!
//! Run exhaustively with
//! `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-event --test loom --release`;
//! without the cfg each model runs once on real threads. A lost wake-up shows up as a loom
//! deadlock ("Model exhausted" / all threads blocked), which fails the model.

use std::time::Duration;

use weft_event::Event;
use weft_sync::{
    Arc, Outcomes,
    atomic::{AtomicUsize, Ordering},
    thread,
    waitq::Leaves,
};

/// A finite timeout: under loom a timed wait yields once and then times out unless set.
const SHORT: Duration = Duration::from_millis(1);

/// `set` racing a waiter that is on its way to sleep: the waiter is always released, and it
/// sees what the setter wrote before `set`.
#[test]
fn set_racing_a_waiter_going_to_sleep_is_never_lost() {
    weft_sync::model(|| {
        let ev = Arc::new(Event::new());
        let data = Arc::new(AtomicUsize::new(0));
        let (e, d) = (Arc::clone(&ev), Arc::clone(&data));
        let waiter = thread::spawn(move || {
            e.wait();
            d.load(Ordering::Relaxed)
        });
        data.store(7, Ordering::Relaxed);
        ev.set();
        assert_eq!(
            waiter.join().unwrap(),
            7,
            "woken without seeing the setter's write"
        );
        assert!(ev.is_set());
    });
}

/// `set` then `clear` racing a waiter: whenever the waiter went to sleep (before the `set`,
/// or after the `clear`), the state word still records it, so a later `set` releases it. A
/// `clear` that erased the "someone is parked" mark would deadlock here.
#[test]
fn clear_never_hides_a_parked_waiter() {
    weft_sync::model(|| {
        let ev = Arc::new(Event::new());
        let e = Arc::clone(&ev);
        let waiter = thread::spawn(move || e.wait());
        let e = Arc::clone(&ev);
        let setter = thread::spawn(move || {
            e.set();
            e.clear();
        });
        setter.join().unwrap();
        assert!(!ev.is_set(), "clear after set must leave the flag down");
        // The waiter may have been released by the first set, or may still be parked (it
        // registered after the clear). A clear of the already-clear event must keep its mark,
        // and this set must release it.
        ev.clear();
        ev.set();
        waiter.join().unwrap();
    });
}

/// `set` then `clear` racing a timed waiter (which may be released, time out, or time out at
/// the very moment it is released): whatever the interleaving, the waiter returns, and the
/// event is left consistent: clear, a timed wait on it times out, and the next `set` is seen.
#[test]
fn set_clear_and_a_timed_waiter_leave_the_event_consistent() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["released", "timed out"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let ev = Arc::new(Event::new());
        let released_by = Arc::new(AtomicUsize::new(0));
        let (e, r) = (Arc::clone(&ev), Arc::clone(&released_by));
        let waiter = thread::spawn(move || {
            let got = e.wait_timeout(SHORT);
            if got {
                r.fetch_add(1, Ordering::SeqCst);
            }
            got
        });
        // A yield first: under loom a thread that yielded (the waiter's spin before it parks)
        // runs again only after another thread took a step, so with `set` as this thread's next
        // step the waiter never parked before it, and no interleaving had it time out at the
        // moment it was released (`Leaves` found that).
        thread::yield_now();
        ev.set();
        ev.clear();
        let got = waiter.join().unwrap();
        o.saw(if got { "released" } else { "timed out" });
        assert_eq!(released_by.load(Ordering::SeqCst), usize::from(got));
        assert!(!ev.is_set());
        // Whatever happened, the event is consistent: a timed wait now times out...
        assert!(!ev.wait_timeout(SHORT));
        // ...and the next set is seen.
        ev.set();
        assert!(ev.wait_timeout(SHORT));
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// `set` then `clear` racing two timed waiters, each of which may be released, time out, or
/// time out at the very moment it is released: both return, one that left holding the set's
/// token reports `true` (in Python, a waiter the set notified returns `True` even once the flag
/// is cleared again), and the event is left clear and consistent. Some interleaving releases both,
/// some releases neither, and in some a leaving waiter held the wake-up `set` had delivered to
/// it.
#[test]
fn set_clear_and_two_timed_waiters_leave_the_event_consistent() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["both released", "one released", "neither released"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        // This interleaving's leaves, counted by the waiting core (under loom).
        let before = Leaves::so_far();
        let ev = Arc::new(Event::new());
        let released_by = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (e, r) = (Arc::clone(&ev), Arc::clone(&released_by));
                thread::spawn(move || {
                    let got = e.wait_timeout(SHORT);
                    if got {
                        r.fetch_add(1, Ordering::SeqCst);
                    }
                    got
                })
            })
            .collect();
        // As in the one-waiter model: a yield first, so that a waiter can park before `set`.
        thread::yield_now();
        ev.set();
        ev.clear();
        let released = waiters
            .into_iter()
            .map(|w| usize::from(w.join().unwrap()))
            .sum::<usize>();
        o.saw(["neither released", "one released", "both released"][released]);
        assert_eq!(released_by.load(Ordering::SeqCst), released);
        // A waiter that left holding the set's token was released by it, and says so.
        let held = Leaves::so_far().received - before.received;
        assert!(
            released >= held,
            "a waiter released as it gave up reported a timeout"
        );
        assert!(!ev.is_set());
        assert!(!ev.wait_timeout(SHORT));
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// A waiter that times out never consumes the wake-up of another: with one timed waiter and
/// one untimed waiter racing a `set`, the untimed one is always released (else deadlock), and
/// the timed one reports `true` exactly when it was released rather than timed out.
#[test]
fn timed_out_waiter_never_steals_a_wake_up() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["the timed one released too", "the timed one timed out"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let ev = Arc::new(Event::new());
        let released = Arc::new(AtomicUsize::new(0));
        let (e, r) = (Arc::clone(&ev), Arc::clone(&released));
        let timed = thread::spawn(move || {
            if e.wait_timeout(SHORT) {
                r.fetch_add(1, Ordering::SeqCst);
            }
        });
        let (e, r) = (Arc::clone(&ev), Arc::clone(&released));
        let untimed = thread::spawn(move || {
            e.wait();
            r.fetch_add(1, Ordering::SeqCst);
        });
        ev.set();
        timed.join().unwrap();
        untimed.join().unwrap();
        let n = released.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "released count {n}");
        o.saw(if n == 2 {
            "the timed one released too"
        } else {
            "the timed one timed out"
        });
        assert!(ev.is_set());
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// One `set` wakes every parked waiter, not just one.
#[test]
fn set_wakes_all_waiters() {
    weft_sync::model(|| {
        let ev = Arc::new(Event::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (e, w) = (Arc::clone(&ev), Arc::clone(&woken));
                thread::spawn(move || {
                    e.wait();
                    w.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        ev.set();
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    });
}

/// A timed waiter that leaves (timed out) while another is parked must not mark the event as
/// having no waiters: the later `set` still has to wake the parked one.
#[test]
fn leaving_timed_waiter_keeps_the_parked_mark() {
    weft_sync::model(|| {
        let ev = Arc::new(Event::new());
        let e = Arc::clone(&ev);
        let timed = thread::spawn(move || e.wait_timeout(SHORT));
        let e = Arc::clone(&ev);
        let untimed = thread::spawn(move || e.wait());
        // Let the timed waiter finish (it can only time out: nobody has set yet).
        assert!(!timed.join().unwrap());
        ev.set();
        untimed.join().unwrap();
    });
}

/// Two timed waiters leaving while an untimed one is parked and a `set` runs: however the
/// leaves interleave with the set, the untimed waiter is released (a leave that cleared the
/// "parked" mark, or a set that woke only the leaving ones, would deadlock it), and the event
/// stays set.
#[test]
fn two_leaving_timed_waiters_never_strand_a_parked_one() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&[
        "both timed waiters left",
        "one left, one was released",
        "both were released",
    ]);
    let o = outcomes.clone();
    weft_sync::model_with_preemptions(2, move || {
        let ev = Arc::new(Event::new());
        let timed: Vec<_> = (0..2)
            .map(|_| {
                let e = Arc::clone(&ev);
                thread::spawn(move || e.wait_timeout(SHORT))
            })
            .collect();
        let e = Arc::clone(&ev);
        let untimed = thread::spawn(move || e.wait());
        ev.set();
        untimed.join().unwrap();
        let released = timed
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum::<usize>();
        o.saw(
            [
                "both timed waiters left",
                "one left, one was released",
                "both were released",
            ][released],
        );
        assert!(ev.is_set());
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// A task (`wait_async` under `block_on`) and a thread wait together; one `set` releases both,
/// whichever registered first and however the task's polls interleave with the set.
#[test]
fn a_task_and_a_thread_waiting_together_are_both_released() {
    weft_sync::model(|| {
        let ev = Arc::new(Event::new());
        let e = Arc::clone(&ev);
        let thread_waiter = thread::spawn(move || e.wait());
        let e = Arc::clone(&ev);
        let task = thread::spawn(move || weft_sync::block_on(e.wait_async()));
        ev.set();
        thread_waiter.join().unwrap();
        task.join().unwrap();
        assert!(ev.is_set());
    });
}

/// A task woken by `set` completes even though `clear` ran before its next poll (the thread
/// form's gh-57711 rule, for tasks).
#[test]
fn a_task_released_by_set_completes_despite_clear() {
    weft_sync::model(|| {
        let ev = Arc::new(Event::new());
        let e = Arc::clone(&ev);
        let task = thread::spawn(move || weft_sync::block_on(e.wait_async()));
        ev.set();
        ev.clear();
        // If the task registered after the clear, only a later set releases it.
        let e = Arc::clone(&ev);
        let late = thread::spawn(move || {
            e.set();
        });
        task.join().unwrap();
        late.join().unwrap();
    });
}

/// A `wait_async` future polled once (queued) and dropped while a `set` runs and a thread
/// waits: the thread is always released, and afterwards the event is consistent (clear, a
/// timed wait times out; set, it is seen).
#[test]
fn a_dropped_wait_async_never_strands_a_thread() {
    let leaves = Leaves::so_far();
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    weft_sync::model(|| {
        let ev = Arc::new(Event::new());
        let mut fut = Box::pin(ev.wait_async());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let e = Arc::clone(&ev);
        let thread_waiter = thread::spawn(move || e.wait());
        let e = Arc::clone(&ev);
        let setter = thread::spawn(move || e.set());
        drop(fut);
        setter.join().unwrap();
        thread_waiter.join().unwrap();
        ev.clear();
        assert!(!ev.wait_timeout(SHORT));
        ev.set();
        assert!(ev.wait_timeout(SHORT));
    });
    leaves.assert_received_since();
}

/// A future dropped while a thread is parked, before any `set`: the leaving future must not
/// clear the "parked" mark the thread still needs.
#[test]
fn a_dropped_wait_async_keeps_the_parked_mark() {
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    weft_sync::model(|| {
        let ev = Arc::new(Event::new());
        let e = Arc::clone(&ev);
        let thread_waiter = thread::spawn(move || e.wait());
        let mut fut = Box::pin(ev.wait_async());
        let mut cx = Context::from_waker(Waker::noop());
        let _ = fut.as_mut().poll(&mut cx);
        drop(fut);
        ev.set();
        thread_waiter.join().unwrap();
    });
}
