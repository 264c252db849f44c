//! loom models of `Barrier`, one per invariant.
//!
//! Exhaustive under `--cfg weft_loom` (`cargo xtask loom barrier`); one real run otherwise. A
//! lost wake-up shows up as a loom deadlock, which fails the model.

use std::time::Duration;

use weft_barrier::{Barrier, BrokenBarrierError};
use weft_sync::{
    Arc, Outcomes,
    atomic::{AtomicUsize, Ordering, Ordering::SeqCst},
    thread,
    waitq::Leaves,
};

/// A finite timeout: under loom a timed wait yields once and then times out unless released.
const SHORT: Duration = Duration::from_millis(1);

/// Two parties: both pass, with indices 0 and 1; the action ran once, before either passed,
/// and each sees what the other wrote before arriving.
#[test]
fn trip_with_two_parties_runs_the_action_once_before_release() {
    weft_sync::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let b = Arc::new(Barrier::with_action(2, move || {
            r.fetch_add(1, SeqCst);
        }));
        let data = Arc::new(AtomicUsize::new(0));
        let (b2, d2, r2) = (Arc::clone(&b), Arc::clone(&data), Arc::clone(&runs));
        let t = thread::spawn(move || {
            d2.fetch_add(1, Ordering::Relaxed);
            let i = b2.wait().unwrap();
            assert_eq!(r2.load(SeqCst), 1, "released before the action ran");
            assert_eq!(d2.load(Ordering::Relaxed), 11);
            i
        });
        data.fetch_add(10, Ordering::Relaxed);
        let mine = b.wait().unwrap();
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(data.load(Ordering::Relaxed), 11);
        assert_eq!(mine + t.join().unwrap(), 1);
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.broken());
    });
}

/// Three parties (two threads and main): all pass with distinct indices `0..3`.
#[test]
fn trip_with_three_parties_gives_distinct_indices() {
    weft_sync::model_with_preemptions(2, || {
        let b = Arc::new(Barrier::new(3));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                thread::spawn(move || b.wait().unwrap())
            })
            .collect();
        let mut seen = 1usize << b.wait().unwrap();
        for t in ts {
            seen |= 1 << t.join().unwrap();
        }
        assert_eq!(seen, 0b111);
    });
}

/// Reuse: two parties pass two rounds; the second round is not confused with the first (a
/// fast party re-entering while the other has not yet left round one), and the action runs
/// once per round.
#[test]
fn reuse_across_generations() {
    weft_sync::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let b = Arc::new(Barrier::with_action(2, move || {
            r.fetch_add(1, SeqCst);
        }));
        let (b2, r2) = (Arc::clone(&b), Arc::clone(&runs));
        let t = thread::spawn(move || {
            b2.wait().unwrap();
            assert!(r2.load(SeqCst) >= 1);
            b2.wait().unwrap();
            assert_eq!(r2.load(SeqCst), 2);
        });
        b.wait().unwrap();
        b.wait().unwrap();
        t.join().unwrap();
        assert_eq!(runs.load(SeqCst), 2);
        assert!(!b.broken());
    });
}

/// `abort` racing a trip of two parties: both parties get the same outcome (both pass, or
/// both are broken), nobody is stranded, and the barrier ends broken.
#[test]
fn abort_racing_a_trip_never_splits_the_round() {
    let outcomes = Outcomes::new(&["the round tripped", "the abort broke it"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let b = Arc::new(Barrier::new(2));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                thread::spawn(move || b.wait().is_ok())
            })
            .collect();
        b.abort();
        let a = ts
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(a[0], a[1], "one party passed, the other was broken");
        assert!(b.broken());
        o.saw(if a[0] {
            "the round tripped"
        } else {
            "the abort broke it"
        });
    });
    outcomes.check();
}

/// A timed wait racing the other party's arrival: both pass, or the timeout broke the barrier
/// and both fail; the barrier is broken exactly in the second case, and `reset` mends it.
#[test]
fn timeout_racing_a_trip_never_splits_the_round() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["the round tripped", "the timeout broke it"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let b = Arc::new(Barrier::new(2));
        let b2 = Arc::clone(&b);
        let timed = thread::spawn(move || b2.wait_timeout(SHORT));
        // One step before arriving: under loom a timed wait yields once and runs again only
        // after another thread took a step, so with the arrival as this thread's first step
        // the timeout could never break the barrier before it (`Outcomes` found that).
        let _ = b.broken();
        let untimed = b.wait();
        let timed = timed.join().unwrap();
        assert_eq!(timed.is_ok(), untimed.is_ok());
        assert_eq!(b.broken(), untimed.is_err());
        o.saw(if untimed.is_ok() {
            "the round tripped"
        } else {
            "the timeout broke it"
        });
        if let (Ok(a), Ok(c)) = (timed, untimed) {
            assert_eq!(a + c, 1);
        }
        b.reset();
        assert!(!b.broken());
        assert_eq!(b.n_waiting(), 0);
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// A task (`wait_async` under `block_on`) and a thread meet at one barrier, for two rounds.
#[test]
fn a_task_and_a_thread_meet() {
    weft_sync::model(|| {
        let b = Arc::new(Barrier::new(2));
        let b2 = Arc::clone(&b);
        let task = thread::spawn(move || {
            weft_sync::block_on(async {
                let i = b2.wait_async().await.unwrap();
                let j = b2.wait_async().await.unwrap();
                (i, j)
            })
        });
        let i = b.wait().unwrap();
        let j = b.wait().unwrap();
        let (ti, tj) = task.join().unwrap();
        assert_eq!((i + ti, j + tj), (1, 1));
    });
}

/// A `wait_async` future polled once (arrived) and dropped while the other party arrives:
/// either the trip won (the other passes, nothing is broken) or the drop broke the round (the
/// other fails); never a party stranded, and never a trip with the party missing.
#[test]
fn a_dropped_wait_async_breaks_or_has_passed() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["the round tripped", "the drop broke it"]);
    let o = outcomes.clone();
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    weft_sync::model(move || {
        let b = Arc::new(Barrier::new(2));
        let mut fut = Box::pin(b.wait_async());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let b2 = Arc::clone(&b);
        let other = thread::spawn(move || b2.wait());
        drop(fut);
        let r = other.join().unwrap();
        assert_eq!(b.broken(), r == Err(BrokenBarrierError));
        o.saw(if r.is_ok() {
            "the round tripped"
        } else {
            "the drop broke it"
        });
        // A party that left before the other arrived always breaks the round: the round never
        // trips with a party missing.
        b.reset();
        let mut fut = Box::pin(b.wait_async());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        drop(fut);
        let b2 = Arc::clone(&b);
        let late = thread::spawn(move || b2.wait());
        assert_eq!(late.join().unwrap(), Err(BrokenBarrierError));
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// Four arrivals at a two-party barrier with an action: two rounds. A party that arrives while
/// the first round's action runs waits for the trip to end and joins the second round, never
/// the first: when the k-th action runs, at most the 2(k-1) parties of earlier rounds have
/// passed. Each round gets indices 0 and 1, and the action runs once per round.
#[test]
fn a_party_arriving_during_the_action_joins_the_next_round() {
    weft_sync::model_with_preemptions(2, || {
        let runs = Arc::new(AtomicUsize::new(0));
        let passed = Arc::new(AtomicUsize::new(0));
        let (r, p) = (Arc::clone(&runs), Arc::clone(&passed));
        let b = Arc::new(Barrier::with_action(2, move || {
            let k = r.fetch_add(1, SeqCst) + 1;
            assert!(
                p.load(SeqCst) <= 2 * (k - 1),
                "a party of a later round passed with an earlier one"
            );
        }));
        let ts: Vec<_> = (0..3)
            .map(|_| {
                let (b, p) = (Arc::clone(&b), Arc::clone(&passed));
                thread::spawn(move || {
                    let i = b.wait().unwrap();
                    p.fetch_add(1, SeqCst);
                    i
                })
            })
            .collect();
        let mut sum = b.wait().unwrap();
        passed.fetch_add(1, SeqCst);
        for t in ts {
            sum += t.join().unwrap();
        }
        assert_eq!(sum, 2, "two rounds, each with indices 0 and 1");
        assert_eq!(runs.load(SeqCst), 2);
        assert!(!b.broken());
    });
}

/// A first action that panics, at a two-party barrier where a task (`wait_async`) and a thread
/// meet, with a third thread arriving as well (so it is one of the round's two parties, or a
/// newcomer during the action or after it): the party that ran the action gets the panic, every
/// other wait fails with `BrokenBarrierError` (none passes a round whose action failed, none
/// stays blocked), the barrier is broken afterwards, and after `reset` the next round trips.
#[test]
fn a_panicking_action_breaks_the_round_for_everyone() {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    /// How a party's wait ended.
    #[derive(Debug, PartialEq)]
    enum End {
        Passed,
        Broken,
        RanThePanickingAction,
    }
    fn end(r: std::thread::Result<Result<usize, BrokenBarrierError>>) -> End {
        match r {
            Ok(Ok(_)) => End::Passed,
            Ok(Err(BrokenBarrierError)) => End::Broken,
            Err(payload) => {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"the action failed"));
                End::RanThePanickingAction
            }
        }
    }

    weft_sync::model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let b = Arc::new(Barrier::with_action(2, move || {
            if r.fetch_add(1, SeqCst) == 0 {
                std::panic::panic_any("the action failed");
            }
        }));
        let (b2, b3) = (Arc::clone(&b), Arc::clone(&b));
        let task = thread::spawn(move || {
            end(catch_unwind(AssertUnwindSafe(|| {
                weft_sync::block_on(b2.wait_async())
            })))
        });
        let third = thread::spawn(move || end(catch_unwind(AssertUnwindSafe(|| b3.wait()))));
        let mut ends = vec![end(catch_unwind(AssertUnwindSafe(|| b.wait())))];
        ends.push(task.join().unwrap());
        ends.push(third.join().unwrap());
        ends.sort_by_key(|e| e == &End::RanThePanickingAction);
        assert_eq!(
            ends,
            [End::Broken, End::Broken, End::RanThePanickingAction],
            "a round whose action panicked"
        );
        assert_eq!(runs.load(SeqCst), 1);
        assert!(b.broken());
        assert_eq!(b.n_waiting(), 0);
        b.reset();
        let b2 = Arc::clone(&b);
        let other = thread::spawn(move || b2.wait());
        let mine = b.wait().expect("the round after reset trips");
        assert_eq!(mine + other.join().unwrap().unwrap(), 1);
        assert_eq!(runs.load(SeqCst), 2);
    });
}
