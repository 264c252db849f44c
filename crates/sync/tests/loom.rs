//! Models of the waiting core that every weft primitive builds on.
//!
//! Exhaustive under `--cfg weft_loom` (`cargo xtask loom sync`); one real run otherwise.

use std::sync::atomic::Ordering::SeqCst as S;

use weft_sync::{Arc, Deadline, Mutex, Outcomes, atomic::AtomicUsize, thread, waitq::Leaves};

/// The logical clock explores both answers of a time-based decision: once another thread has
/// parked, "at least this long has passed" is sometimes true and sometimes false; a zero
/// duration has always passed, and a duration beyond the clock's range never has. A measured
/// duration (`elapsed`) agrees: zero where "not yet", positive once the park is seen.
#[test]
fn clock_decisions_are_explored_both_ways() {
    use std::time::Duration;
    use weft_sync::clock::Instant;

    const LONG_ENOUGH: &str = "long enough";
    const NOT_YET: &str = "not yet";
    // Observations across executions, outside the model (they must not add states).
    let outcomes = Outcomes::new(&[LONG_ENOUGH, NOT_YET]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let start = Instant::now();
        assert!(start.elapsed_at_least(Duration::ZERO));
        let t = thread::spawn(|| {
            // A timed park: the clock advances, and nobody wakes it.
            let mut q = weft_sync::WaitQueue::<()>::new();
            let ticket = q.register_thread(());
            assert_eq!(ticket.park(Deadline::after(Duration::from_millis(1))), None);
            assert!(matches!(
                q.leave(&ticket),
                weft_sync::waitq::Left::Removed(())
            ));
        });
        // No synchronisation with `t` yet: its park may or may not be seen. A measured
        // duration agrees with the decision: positive exactly when "long enough".
        let measured = start.elapsed();
        if start.elapsed_at_least(Duration::from_millis(1)) {
            o.saw(LONG_ENOUGH);
        } else {
            o.saw(NOT_YET);
            if weft_sync::LOOM {
                assert_eq!(
                    measured,
                    Duration::ZERO,
                    "time measured that no decision saw"
                );
            }
        }
        assert!(!start.elapsed_at_least(Duration::MAX));
        t.join().unwrap();
        // After the join every advance is seen: the park took time, and it is measured.
        if weft_sync::LOOM {
            assert!(
                start.elapsed() > Duration::ZERO,
                "the park's time never measured"
            );
        }
    });
    // Built normally the answer depends on real time (under Miri spawning a thread alone
    // takes longer than 1 ms), so only the model build's exploration is asserted.
    outcomes.check();
}

// ---------------------------------------------------------------------------------------------
// The waiting core (`weft_sync::waitq`): threads and tasks in one queue.
// ---------------------------------------------------------------------------------------------

/// A minimal permit gate on the core, the shape every primitive takes: a count under a lock,
/// hand-offs delivered with the token `HANDOFF`, and a leaving waiter that passes on a hand-off
/// it already received.
mod gate {
    use std::{
        future::Future,
        pin::Pin,
        task::{Context, Poll},
    };

    use weft_sync::{
        Deadline, Mutex, Outcomes,
        waitq::{Left, Ticket, Token, WaitQueue},
    };

    /// How a waiter's acquire ended, as [`Gate::watched`] records it.
    pub(crate) const AT_ONCE: &str = "took a permit without waiting";
    pub(crate) const WOKEN: &str = "woken with a hand-off";
    pub(crate) const LEFT_EMPTY: &str = "left before any hand-off";
    pub(crate) const LEFT_PASSED_ON: &str = "left holding a hand-off, passed it on";
    pub(crate) const LEFT_KEPT: &str = "left holding a hand-off, kept it";

    pub(crate) struct Gate {
        state: Mutex<(usize, WaitQueue)>,
        outcomes: Option<Outcomes>,
    }

    impl Gate {
        pub(crate) fn new(permits: usize) -> Self {
            Self {
                state: Mutex::new((permits, WaitQueue::new())),
                outcomes: None,
            }
        }

        /// A gate that records how each acquire ends in `outcomes`.
        pub(crate) fn watched(permits: usize, outcomes: Outcomes) -> Self {
            Self {
                outcomes: Some(outcomes),
                ..Self::new(permits)
            }
        }

        fn saw(&self, what: &str) {
            if let Some(o) = &self.outcomes {
                o.saw(what);
            }
        }

        /// Adds `n` permits, handing them to queued waiters first (oldest first).
        pub(crate) fn release(&self, n: usize) {
            let mut g = self.state.lock();
            g.0 += n;
            let k = g.0.min(g.1.len());
            g.0 -= k;
            let wakeups = g.1.wake_n(k, Token::HANDOFF);
            drop(g);
            wakeups.wake();
        }

        pub(crate) fn permits(&self) -> usize {
            self.state.lock().0
        }

        /// Takes a permit, parking until `deadline`; a timed-out waiter that was handed one at
        /// that moment passes it on when `pass_on`, or keeps it.
        pub(crate) fn acquire(&self, deadline: Deadline, pass_on: bool) -> bool {
            let ticket = {
                let mut g = self.state.lock();
                if g.0 > 0 {
                    g.0 -= 1;
                    drop(g);
                    self.saw(AT_ONCE);
                    return true;
                }
                g.1.register_thread(())
            };
            match ticket.park(deadline) {
                Some(t) => {
                    assert_eq!(t, Token::HANDOFF);
                    self.saw(WOKEN);
                    true
                }
                None => {
                    let g = self.state.lock();
                    self.settle(g, &ticket, pass_on)
                }
            }
        }

        /// Settles a leaving waiter under the lock; `true` if it keeps a permit.
        fn settle(
            &self,
            mut g: weft_sync::MutexGuard<'_, (usize, WaitQueue)>,
            ticket: &Ticket,
            pass_on: bool,
        ) -> bool {
            match g.1.leave(ticket) {
                Left::Removed(()) => {
                    drop(g);
                    self.saw(LEFT_EMPTY);
                    false
                }
                Left::Received(_) if !pass_on => {
                    drop(g);
                    self.saw(LEFT_KEPT);
                    true
                }
                Left::Received(_) => {
                    drop(g);
                    self.release(1);
                    self.saw(LEFT_PASSED_ON);
                    false
                }
            }
        }

        pub(crate) fn acquire_async(&self) -> Acquire<'_> {
            Acquire {
                gate: self,
                ticket: None,
            }
        }
    }

    pub(crate) struct Acquire<'a> {
        gate: &'a Gate,
        ticket: Option<Ticket>,
    }

    impl Future for Acquire<'_> {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if let Some(t) = &self.ticket {
                if t.token().is_none() {
                    let mut g = self.gate.state.lock();
                    if g.1.update_waker(t, cx.waker()) {
                        return Poll::Pending;
                    }
                }
                // The token is there (delivered under the lock `update_waker` took).
                self.ticket = None;
                self.gate.saw(WOKEN);
                return Poll::Ready(());
            }
            let mut g = self.gate.state.lock();
            if g.0 > 0 {
                g.0 -= 1;
                drop(g);
                self.gate.saw(AT_ONCE);
                return Poll::Ready(());
            }
            let t = g.1.register_task(cx.waker(), ());
            drop(g);
            self.ticket = Some(t);
            Poll::Pending
        }
    }

    impl Drop for Acquire<'_> {
        fn drop(&mut self) {
            if let Some(t) = self.ticket.take() {
                let g = self.gate.state.lock();
                let _ = self.gate.settle(g, &t, true);
            }
        }
    }
}

const SHORT: std::time::Duration = std::time::Duration::from_millis(1);

/// A parked thread and a task wait in one queue; two releases reach both, whatever the order in
/// which they registered, polled and were woken (the task may see its token on a re-poll, or
/// find it while re-registering its waker).
#[test]
fn core_thread_and_task_waiting_together_are_both_woken() {
    weft_sync::model(|| {
        let gate = Arc::new(gate::Gate::new(0));
        let g = gate.clone();
        let th = thread::spawn(move || assert!(g.acquire(Deadline::never(), false)));
        let g = gate.clone();
        let task = thread::spawn(move || weft_sync::block_on(g.acquire_async()));
        gate.release(1);
        gate.release(1);
        th.join().unwrap();
        task.join().unwrap();
        assert_eq!(gate.permits(), 0);
    });
}

/// A timed waiter leaving while a release hands it the permit, with an untimed waiter behind
/// it: the leaver passes the hand-off on, so the untimed waiter always gets a permit and none
/// is lost or doubled.
#[test]
fn core_leave_racing_wake_one_passes_the_hand_off_on() {
    let leaves = Leaves::so_far();
    use gate::{AT_ONCE, LEFT_EMPTY, LEFT_PASSED_ON, WOKEN};
    let outcomes = Outcomes::new(&[AT_ONCE, WOKEN, LEFT_EMPTY, LEFT_PASSED_ON]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let gate = Arc::new(gate::Gate::watched(0, o.clone()));
        let g = gate.clone();
        let timed = thread::spawn(move || {
            // Woken in time, it used the permit and gives it back; timed out, it passed on
            // whatever it had been handed.
            if g.acquire(Deadline::after(SHORT), true) {
                g.release(1);
            }
        });
        let g = gate.clone();
        let untimed = thread::spawn(move || assert!(g.acquire(Deadline::never(), false)));
        gate.release(1);
        timed.join().unwrap();
        untimed.join().unwrap();
        assert_eq!(gate.permits(), 0);
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// `wake_n` racing two timed waiters that keep what they were handed and an untimed one: every
/// permit released is held by exactly one waiter or still in the gate.
#[test]
fn core_leave_racing_wake_n_conserves_hand_offs() {
    let leaves = Leaves::so_far();
    use gate::{AT_ONCE, LEFT_EMPTY, LEFT_KEPT, WOKEN};
    let outcomes = Outcomes::new(&[AT_ONCE, WOKEN, LEFT_EMPTY, LEFT_KEPT]);
    let o = outcomes.clone();
    weft_sync::model_with_preemptions(2, move || {
        let gate = Arc::new(gate::Gate::watched(0, o.clone()));
        let held = Arc::new(AtomicUsize::new(0));
        let timed: Vec<_> = (0..2)
            .map(|_| {
                let (g, h) = (gate.clone(), held.clone());
                thread::spawn(move || {
                    if g.acquire(Deadline::after(SHORT), false) {
                        h.fetch_add(1, S);
                    }
                })
            })
            .collect();
        let (g, h) = (gate.clone(), held.clone());
        let untimed = thread::spawn(move || {
            assert!(g.acquire(Deadline::never(), false));
            h.fetch_add(1, S);
        });
        gate.release(3);
        for t in timed {
            t.join().unwrap();
        }
        untimed.join().unwrap();
        assert_eq!(
            held.load(S) + gate.permits(),
            3,
            "a hand-off was lost or doubled"
        );
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// A future polled once (queued), then handed a permit, then dropped without another poll:
/// its `Drop` passes the permit to the parked thread behind it.
#[test]
fn core_future_dropped_after_its_wake_passes_the_token_on() {
    let leaves = Leaves::so_far();
    use gate::{AT_ONCE, LEFT_EMPTY, LEFT_PASSED_ON, WOKEN};
    use std::{
        future::Future,
        task::{Context, Waker},
    };
    let outcomes = Outcomes::new(&[AT_ONCE, WOKEN, LEFT_EMPTY, LEFT_PASSED_ON]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let gate = Arc::new(gate::Gate::watched(0, o.clone()));
        let mut fut = Box::pin(gate.acquire_async());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let g = gate.clone();
        let th = thread::spawn(move || assert!(g.acquire(Deadline::never(), false)));
        let g = gate.clone();
        let releaser = thread::spawn(move || g.release(1));
        drop(fut);
        releaser.join().unwrap();
        th.join().unwrap();
        assert_eq!(gate.permits(), 0);
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// A timed thread waiter racing one hand-off, keeping what it receives: it reports success
/// exactly when the permit left the gate, never both nor neither.
#[test]
fn core_timeout_racing_wake_settles_exactly_once() {
    let leaves = Leaves::so_far();
    use gate::{AT_ONCE, LEFT_EMPTY, LEFT_KEPT, WOKEN};
    let outcomes = Outcomes::new(&[AT_ONCE, WOKEN, LEFT_EMPTY, LEFT_KEPT]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let gate = Arc::new(gate::Gate::watched(0, o.clone()));
        let g = gate.clone();
        let timed = thread::spawn(move || g.acquire(Deadline::after(SHORT), false));
        // One step before the release. Under loom a timed wait yields once, and a thread that
        // yielded runs again only after another thread has taken a step: with the release as
        // this thread's first step, the waiter could never time out before it (the outcome
        // `LEFT_EMPTY` was reached by no interleaving until this step was added).
        assert_eq!(gate.permits(), 0);
        gate.release(1);
        let got = timed.join().unwrap();
        assert_eq!(usize::from(got) + gate.permits(), 1);
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// What a waker writes before waking is visible to the woken waiter, thread or task, including
/// one that finds its token without sleeping.
#[test]
fn core_token_publishes_the_wakers_writes() {
    use weft_sync::{
        cell::UnsafeCell,
        waitq::{Token, WaitQueue},
    };
    struct Shared {
        q: Mutex<WaitQueue>,
        data: UnsafeCell<usize>,
    }
    // SAFETY: `data` is written once by the waker before it delivers the token and read by the
    // waiter only after it saw the token (the model checks exactly this).
    unsafe impl Sync for Shared {}
    weft_sync::model(|| {
        let s = Arc::new(Shared {
            q: Mutex::new(WaitQueue::new()),
            data: UnsafeCell::new(0),
        });
        let ticket = s.q.lock().register_thread(());
        let s2 = s.clone();
        let waker = thread::spawn(move || {
            // SAFETY: the waiter reads only after the token is delivered below.
            s2.data.with_mut(|p| unsafe { *p = 7 });
            let w = s2.q.lock().wake_one(Token::HANDOFF);
            if let Some((w, ())) = w {
                w.wake();
            }
        });
        // Poll the token without the lock, as a future's fast path does.
        while ticket.token().is_none() {
            thread::yield_now();
        }
        // SAFETY: the token's Acquire orders this after the waker's write.
        assert_eq!(s.data.with(|p| unsafe { *p }), 7);
        waker.join().unwrap();
    });
}

/// A task polled with one waker and then another (it moved between executors) while a release
/// races: once the release is done, the future either completed on its last poll or its
/// latest waker was woken. A stale waker kept in the queue, or a re-poll that believes it is
/// still queued after its token arrived, would leave it pending with nobody to wake it.
#[test]
fn core_the_latest_waker_is_the_one_woken() {
    use std::{
        future::Future,
        task::{Context, Wake, Waker},
    };
    use weft_sync::atomic::AtomicBool;
    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, S);
        }
    }
    weft_sync::model(|| {
        let gate = Arc::new(gate::Gate::new(0));
        let a = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let b = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut fut = Box::pin(gate.acquire_async());
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(&wa))
                .is_pending()
        );
        let g = gate.clone();
        let releaser = thread::spawn(move || g.release(1));
        let last = fut.as_mut().poll(&mut Context::from_waker(&wb));
        releaser.join().unwrap();
        if last.is_pending() {
            assert!(b.0.load(S), "pending, and its latest waker was never woken");
        }
    });
}

/// One thread waits twice in a row, woken each time by another thread: between the two waits
/// its slot goes back to the thread's spare only if the waker's pending wake-up no longer holds
/// it, so the second wait never shares a slot with the first one's late unpark, and both waits
/// see exactly their own token.
#[test]
fn core_a_recycled_slot_is_never_shared() {
    use weft_sync::waitq::{Token, WaitQueue};
    weft_sync::model(|| {
        let q = Arc::new(Mutex::new(WaitQueue::<()>::new()));
        let waits = Arc::new(AtomicUsize::new(0));
        let (q2, w2) = (q.clone(), waits.clone());
        let waker = thread::spawn(move || {
            let mut woken = 0;
            while woken < 2 {
                let w = q2.lock().wake_one(Token::new(3 + woken).unwrap());
                match w {
                    Some((w, ())) => {
                        w.wake();
                        woken += 1;
                    }
                    None => thread::yield_now(),
                }
            }
            drop(w2);
        });
        for round in 0..2 {
            let ticket = q.lock().register_thread(());
            let token = ticket.park(Deadline::never());
            assert_eq!(token, Token::new(3 + round));
            waits.fetch_add(1, S);
        }
        waker.join().unwrap();
        assert_eq!(waits.load(S), 2);
    });
}

/// A waiter moved to a second queue (`transfer_front`, as a condition's notify moves its
/// waiters to its mutex's queue), racing its own timeout and a hand-off in the second queue: it
/// settles exactly once, leaving whichever queue holds it or keeping the token delivered there,
/// and holds the hand-off exactly when the waker popped it.
#[test]
fn core_transfer_racing_leave_and_wake_settles_exactly_once() {
    use weft_sync::waitq::{Left, Token, WaitQueue};
    weft_sync::model(|| {
        let first = Arc::new(Mutex::new(WaitQueue::<()>::new()));
        let second = Arc::new(Mutex::new(WaitQueue::<u8>::new()));
        let ticket = first.lock().register_thread(());
        let (f, s) = (first.clone(), second.clone());
        let mover = thread::spawn(move || {
            // The order every primitive keeps: the first queue's lock, then the second's.
            let mut from = f.lock();
            let mut to = s.lock();
            from.transfer_front(1, &mut to, |()| 7)
        });
        let s = second.clone();
        let waker = thread::spawn(move || {
            let popped = s.lock().wake_one(Token::HANDOFF);
            popped
                .map(|(w, payload)| {
                    assert_eq!(payload, 7, "the payload was not mapped");
                    w.wake();
                })
                .is_some()
        });
        let got = match ticket.park(Deadline::after(SHORT)) {
            Some(t) => Some(t),
            None => {
                let left = first.lock().try_leave(&ticket);
                match left {
                    Some(Left::Removed(())) => None,
                    Some(Left::Received(t)) => Some(t),
                    // Moved: leave the second queue.
                    None => match second.lock().leave(&ticket) {
                        Left::Removed(payload) => {
                            assert_eq!(payload, 7);
                            None
                        }
                        Left::Received(t) => Some(t),
                    },
                }
            }
        };
        let moved = mover.join().unwrap();
        let woke = waker.join().unwrap();
        assert_eq!(got.is_some(), woke, "a hand-off was lost or invented");
        if woke {
            assert_eq!(got, Some(Token::HANDOFF));
            assert_eq!(moved, 1);
        }
        assert!(first.lock().is_empty() && second.lock().is_empty());
    });
}

/// `Claims`: two threads claim one position at a time from two items and put results. Every
/// item is taken exactly once, exactly one thread gets the token, and `finish` then sees both
/// results (written by either thread) in order.
#[test]
fn claims_two_runners_take_each_item_once_and_one_finishes() {
    use weft_sync::claims::Claims;

    weft_sync::model(|| {
        let claims = Arc::new(Claims::new(vec![1usize, 2]));
        let taken = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let run = {
            let claims = claims.clone();
            let taken = taken.clone();
            move || {
                let mut token = None;
                while let Some(mut claim) = claims.claim(1) {
                    while let Some((at, x)) = claim.take() {
                        taken[at].fetch_add(1, S);
                        claim.put(x * 10);
                    }
                    token = token.or(claim.settle());
                }
                token.map(|t| claims.finish(t))
            }
        };
        let other = thread::spawn(run.clone());
        let mine = run();
        let theirs = other.join().unwrap();
        assert_eq!(taken[0].load(S), 1);
        assert_eq!(taken[1].load(S), 1);
        let done = match (mine, theirs) {
            (Some(d), None) | (None, Some(d)) => d,
            other => panic!("not exactly one finisher: {other:?}"),
        };
        assert_eq!(done, (vec![10, 20], vec![]));
    });
}

/// A claim split by its runner: the parcel, redeemed on another thread, settles the rest; a
/// taken item without a result is listed as failed. One token, whoever settles last.
#[test]
fn claims_parcel_redeemed_elsewhere_settles_the_rest() {
    use weft_sync::claims::Claims;

    weft_sync::model(|| {
        let claims = Arc::new(Claims::new(vec![1usize, 2, 3]));
        let mut claim = claims.claim(3).unwrap();
        let (_, x) = claim.take().unwrap();
        claim.put(x);
        let parcel = claim.split_off().unwrap();
        let other = {
            let claims = claims.clone();
            thread::spawn(move || {
                let mut rest = claims.redeem(parcel);
                let (_, x) = rest.take().unwrap();
                rest.put(x * 2);
                // The third item is taken and gets no result: it failed.
                let _ = rest.take().unwrap();
                rest.settle().map(|t| claims.finish(t))
            })
        };
        let mine = claim.settle().map(|t| claims.finish(t));
        let theirs = other.join().unwrap();
        let done = match (mine, theirs) {
            (Some(d), None) | (None, Some(d)) => d,
            other => panic!("not exactly one finisher: {other:?}"),
        };
        assert_eq!(done, (vec![1, 4], vec![2]));
    });
}
