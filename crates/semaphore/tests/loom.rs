//! loom models of `Semaphore` and `BoundedSemaphore`, one per invariant.
//!
//! Run exhaustively with
//! `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-semaphore --test loom --release`;
//! without the cfg each model runs once on real threads. A lost wake-up shows up as a loom
//! deadlock, which fails the model.

use std::time::Duration;

use weft_semaphore::{BoundedSemaphore, Semaphore};
use weft_sync::{
    Arc, Outcomes,
    atomic::{AtomicUsize, Ordering},
    thread,
    waitq::Leaves,
};

/// A finite timeout: under loom a timed wait yields once and then times out unless woken.
const SHORT: Duration = Duration::from_millis(1);

/// Three contenders (two threads and the main thread) acquire and release a semaphore of
/// `permits`: the number of holders, tracked with an atomic high-water mark, never exceeds
/// `permits`, and every permit comes back. The main thread contends rather than only joining:
/// a fourth thread that only joins multiplies the search (the two-permit model took 144 s that
/// way, 9 s this way).
fn three_contenders_never_exceed(permits: usize) {
    weft_sync::model(move || {
        let sem = Arc::new(Semaphore::new(permits));
        let holders = Arc::new(AtomicUsize::new(0));
        let high = Arc::new(AtomicUsize::new(0));
        let work = {
            let (sem, holders, high) = (Arc::clone(&sem), Arc::clone(&holders), Arc::clone(&high));
            move || {
                let _p = sem.acquire();
                let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                high.fetch_max(now, Ordering::SeqCst);
                holders.fetch_sub(1, Ordering::SeqCst);
            }
        };
        let a = thread::spawn(work.clone());
        let b = thread::spawn(work.clone());
        work();
        a.join().unwrap();
        b.join().unwrap();
        let high = high.load(Ordering::SeqCst);
        assert!((1..=permits).contains(&high), "more holders than permits");
        assert_eq!(sem.available(), permits);
    });
}

/// Never more holders than permits: three contenders on one permit.
#[test]
fn never_more_holders_than_permits() {
    three_contenders_never_exceed(1);
}

/// The same with two permits: never more than two holders at once, both permits come back.
#[test]
fn never_more_holders_than_two_permits() {
    three_contenders_never_exceed(2);
}

/// A release racing a waiter on its way to sleep: the waiter always gets the permit (else
/// deadlock), and sees what the releaser wrote before releasing.
#[test]
fn release_racing_a_waiter_going_to_sleep_is_never_lost() {
    weft_sync::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let data = Arc::new(AtomicUsize::new(0));
        let (s, d) = (Arc::clone(&sem), Arc::clone(&data));
        let waiter = thread::spawn(move || {
            s.acquire().forget();
            d.load(Ordering::Relaxed)
        });
        data.store(7, Ordering::Relaxed);
        sem.release(1);
        assert_eq!(
            waiter.join().unwrap(),
            7,
            "permit taken without the releaser's writes"
        );
        assert_eq!(sem.available(), 0);
    });
}

/// An acquire that loses its compare-exchange to a second release and takes its permit on the
/// retry after the pause (`Backoff`) still sees what the releaser wrote before releasing. With
/// no permit at first, the acquirer either finds one published or waits; in the interleavings
/// where it reads the count between the two releases, its first compare-exchange fails and the
/// retry must be an acquire too.
#[test]
fn an_acquire_that_lost_a_race_still_sees_the_releasers_writes() {
    weft_sync::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let data = Arc::new(AtomicUsize::new(0));
        let (s, d) = (Arc::clone(&sem), Arc::clone(&data));
        let taker = thread::spawn(move || {
            s.acquire().forget();
            d.load(Ordering::Relaxed)
        });
        data.store(7, Ordering::Relaxed);
        sem.release(1);
        sem.release(1);
        assert_eq!(
            taker.join().unwrap(),
            7,
            "permit taken without the releaser's writes"
        );
        assert_eq!(sem.available(), 1);
    });
}

/// A timed acquire racing a release: whether the waiter gets the permit, times out, or times
/// out at the very moment the release wakes it, the permit is never lost: once the waiter's
/// permit (if any) is dropped, `available()` is 1.
#[test]
fn permit_not_lost_when_timeout_races_release() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["got the permit", "timed out"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let sem = Arc::new(Semaphore::new(0));
        let s = Arc::clone(&sem);
        let waiter = thread::spawn(move || s.acquire_timeout(SHORT).is_some());
        // A yield before the release: under loom a thread that yielded (the waiter's spin, its
        // timed park) runs again only after another thread took a step, so with the release as
        // this thread's next step the waiter could never time out before it (`Outcomes` found
        // that). The yield lets the waiter go on, at no preemption.
        thread::yield_now();
        sem.release(1);
        let got = waiter.join().unwrap();
        o.saw(if got { "got the permit" } else { "timed out" });
        assert_eq!(sem.available(), 1, "a permit was lost");
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// The hand-off path: a waiter woken by a release can lose the permit to a barging thread
/// (here the releaser itself, taking it straight back); it then queues again at the front, and
/// the barger's next release may hand the permit straight to it (the throttle reads the logical
/// clock, so both answers are explored). Whether that hand-off races the waiter's timeout or
/// not, the permit is never lost.
#[test]
fn handed_off_permit_not_lost_when_timeout_races() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["got the permit", "timed out"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let sem = Arc::new(Semaphore::new(0));
        let s = Arc::clone(&sem);
        let timed = thread::spawn(move || s.acquire_timeout(SHORT).is_some());
        // Let the waiter run up to its park without spending a preemption on it: the budget
        // is needed for the races that follow.
        thread::yield_now();
        sem.release(1);
        // Barge: take the freed permit before the woken waiter does, then give it back.
        drop(sem.try_acquire());
        let got = timed.join().unwrap();
        o.saw(if got { "got the permit" } else { "timed out" });
        assert_eq!(sem.available(), 1, "a permit was lost");
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// `release(2)` with two parked waiters wakes both (a release that woke only one would leave
/// the other parked forever: deadlock).
#[test]
fn release_two_wakes_two_waiters() {
    weft_sync::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&sem);
                thread::spawn(move || s.acquire().forget())
            })
            .collect();
        sem.release(2);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(sem.available(), 0);
    });
}

/// `release(2)` with a thread and a task waiting in the one queue (a thread in `acquire`, a task
/// in `acquire_async` under `block_on`): both get a permit, whichever queued first and whether
/// the release finds each queued, about to park, or not yet there (a release whose second
/// permit reached neither would deadlock one).
#[test]
fn release_two_reaches_a_thread_and_a_task() {
    weft_sync::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = Arc::clone(&sem);
        let thread_waiter = thread::spawn(move || s.acquire().forget());
        let s = Arc::clone(&sem);
        let task = thread::spawn(move || weft_sync::block_on(s.acquire_async()).forget());
        sem.release(2);
        thread_waiter.join().unwrap();
        task.join().unwrap();
        assert_eq!(sem.available(), 0);
    });
}

/// Over-releasing a `BoundedSemaphore` is an error that changes nothing, even racing with a
/// holder giving its permit back: of two releases of a one-permit semaphore whose permit is
/// held once, exactly one succeeds, and the count ends at its bound.
#[test]
fn bounded_over_release_is_err_and_changes_nothing() {
    weft_sync::model(|| {
        let sem = Arc::new(BoundedSemaphore::new(1));
        let s = Arc::clone(&sem);
        let holder = thread::spawn(move || {
            s.acquire().forget();
            s.release(1).is_ok()
        });
        let mine = sem.release(1).is_ok();
        let theirs = holder.join().unwrap();
        assert!(
            mine != theirs,
            "exactly one release fits (mine {mine}, theirs {theirs})"
        );
        assert_eq!(sem.available(), 1);
    });
}

/// The bound holds on the slow path too: with two waiters parked, a release that wakes one
/// leaves the "someone is parked" mark set, so the next release checks its bound under the
/// lock. The count never exceeds the bound, and a refused release changes nothing.
#[test]
fn bounded_bound_holds_with_parked_waiters() {
    weft_sync::model(|| {
        let sem = Arc::new(BoundedSemaphore::new(2));
        sem.acquire().forget();
        sem.acquire().forget();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&sem);
                thread::spawn(move || s.acquire().forget())
            })
            .collect();
        // Let the waiters park without spending preemptions on it.
        thread::yield_now();
        assert!(sem.release(1).is_ok());
        assert!(sem.available() <= 1);
        // Fits only if a waiter already took the first permit.
        let second = sem.release(2).is_ok();
        assert!(sem.available() <= 2, "count past the bound");
        if !second {
            assert!(sem.release(1).is_ok());
        }
        for w in waiters {
            w.join().unwrap();
        }
        // The waiters hold one (forgotten) permit each; the count holds the rest.
        assert_eq!(sem.available(), usize::from(second));
    });
}

/// Two in flight on each side: a timed and an untimed waiter, two releasers of one permit each.
/// The untimed waiter always gets a permit (a wake-up consumed by the leaving timed waiter and
/// not passed on would deadlock it), and both permits come back.
#[test]
fn two_waiters_two_releasers_lose_nothing() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["got the permit", "timed out"]);
    let o = outcomes.clone();
    weft_sync::model_with_preemptions(2, move || {
        let sem = Arc::new(Semaphore::new(0));
        let s = Arc::clone(&sem);
        let timed = thread::spawn(move || s.acquire_timeout(SHORT).is_some());
        let s = Arc::clone(&sem);
        let untimed = thread::spawn(move || drop(s.acquire()));
        let s = Arc::clone(&sem);
        let releaser = thread::spawn(move || s.release(1));
        sem.release(1);
        releaser.join().unwrap();
        untimed.join().unwrap();
        let got = timed.join().unwrap();
        o.saw(if got { "got the permit" } else { "timed out" });
        assert_eq!(sem.available(), 2, "a permit was lost");
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// A task (`acquire_async` under `block_on`) and a thread contend for one permit with the main
/// thread holding it at first: never two holders, and the permit comes back.
#[test]
fn a_task_and_a_thread_contending_exclude_each_other() {
    weft_sync::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let holders = Arc::new(AtomicUsize::new(0));
        let held = sem.try_acquire().unwrap();
        let enter = |h: &AtomicUsize| {
            assert_eq!(h.fetch_add(1, Ordering::SeqCst), 0, "two holders");
            h.fetch_sub(1, Ordering::SeqCst);
        };
        let (s, h) = (Arc::clone(&sem), Arc::clone(&holders));
        let thread_waiter = thread::spawn(move || {
            let _p = s.acquire();
            enter(&h);
        });
        let (s, h) = (Arc::clone(&sem), Arc::clone(&holders));
        let task = thread::spawn(move || {
            weft_sync::block_on(async {
                let _p = s.acquire_async().await;
                enter(&h);
            });
        });
        drop(held);
        thread_waiter.join().unwrap();
        task.join().unwrap();
        assert_eq!(sem.available(), 1, "a permit was lost");
    });
}

/// A queued `acquire_async` future is dropped while a release runs and a thread waits behind
/// it: dropped before the wake-up it just leaves; dropped after it (never polled again) it
/// passes the permit on. Either way the thread gets in (else deadlock) and nothing is lost.
#[test]
fn a_future_dropped_around_its_wake_passes_the_permit_on() {
    let leaves = Leaves::so_far();
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    weft_sync::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut fut = Box::pin(sem.acquire_async());
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        let s = Arc::clone(&sem);
        let thread_waiter = thread::spawn(move || s.acquire().forget());
        let s = Arc::clone(&sem);
        let releaser = thread::spawn(move || s.release(1));
        drop(fut);
        releaser.join().unwrap();
        thread_waiter.join().unwrap();
        assert_eq!(sem.available(), 0, "a permit was duplicated or lost");
    });
    leaves.assert_received_since();
}

/// A task at the front of the queue is handed its permit: a release racing a thread that
/// waits (or spins, or registers) behind the task never puts the permit in the count, so
/// neither that thread nor a barging `try_acquire` can take it; the task's next poll has it,
/// and its release then lets the thread in. (Woken with a plain wake-up instead, the task
/// would leave the permit in the count for the thread or the barger to take.)
#[test]
fn a_task_at_the_front_is_handed_its_permit() {
    use std::{
        future::Future,
        task::{Context, Poll, Waker},
    };
    weft_sync::model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let mut fut = Box::pin(sem.acquire_async());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let s = Arc::clone(&sem);
        let thread_waiter = thread::spawn(move || s.acquire().forget());
        let s = Arc::clone(&sem);
        let releaser = thread::spawn(move || s.release(1));
        releaser.join().unwrap();
        assert!(
            sem.try_acquire().is_none(),
            "the task's permit went to the count"
        );
        let Poll::Ready(permit) = fut.as_mut().poll(&mut cx) else {
            panic!("the task was not handed its permit");
        };
        drop(permit);
        thread_waiter.join().unwrap();
        assert_eq!(sem.available(), 0, "a permit was duplicated or lost");
    });
}

/// Three waiters of every kind: a queued future (dropped by the main thread between its two
/// releases, so before or after its wake-up), a timed and an untimed thread waiter. The
/// untimed waiter always gets in, and every permit not held comes back.
#[test]
fn a_dropped_future_and_a_timed_out_thread_strand_nobody() {
    let leaves = Leaves::so_far();
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    let outcomes = Outcomes::new(&["got the permit", "timed out"]);
    let o = outcomes.clone();
    weft_sync::model_with_preemptions(2, move || {
        let sem = Arc::new(Semaphore::new(0));
        let mut fut = Box::pin(sem.acquire_async());
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        let s = Arc::clone(&sem);
        let timed = thread::spawn(move || s.acquire_timeout(SHORT).is_some());
        let s = Arc::clone(&sem);
        let untimed = thread::spawn(move || s.acquire().forget());
        sem.release(1);
        drop(fut);
        sem.release(1);
        untimed.join().unwrap();
        let got = timed.join().unwrap();
        o.saw(if got { "got the permit" } else { "timed out" });
        assert_eq!(sem.available(), 1, "a permit was lost");
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// Two tasks and two releasers of one permit each: both tasks get in (a release that reached
/// neither would deadlock one), whatever order they registered and polled in.
#[test]
fn two_tasks_two_releasers() {
    weft_sync::model_with_preemptions(2, || {
        let sem = Arc::new(BoundedSemaphore::new(2));
        sem.try_acquire().unwrap().forget();
        sem.try_acquire().unwrap().forget();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&sem);
                thread::spawn(move || weft_sync::block_on(s.acquire_async()).forget())
            })
            .collect();
        let s = Arc::clone(&sem);
        let releaser = thread::spawn(move || s.release(1).unwrap());
        sem.release(1).unwrap();
        releaser.join().unwrap();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(sem.available(), 0);
    });
}
