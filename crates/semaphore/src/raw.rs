//! The counting semaphore both public types are built on, on weft-sync's waiting core.

use std::task::Context;

use weft_sync::{
    Backoff, Deadline, Mutex, SpinWait,
    atomic::{AtomicUsize, Ordering},
    waitq::{Left, Ticket, Token, WaitQueue, Wakeup, Wakeups},
};

/// Bit 0 of the state word: at least one waiter is queued, so a release must take the lock and
/// wake one.
const PARKED: usize = 1;
/// One permit in the state word (the count lives in the bits above [`PARKED`]).
const ONE: usize = 2;

/// The largest number of permits a semaphore can hold: `usize::MAX / 2`.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 1;

/// The least time between two hand-offs on one semaphore: a waiter that lost its permit to a
/// barging thread gets the next permit handed to it directly once this long has passed since
/// the previous hand-off (see `Waiters::hand_off`). Hand-offs leave a permit idle until its
/// waiter runs, so they are rationed: often enough that nobody starves, rarely enough that
/// throughput does not suffer.
const FAIR_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1);

/// Who waits in a queue entry (its payload): a release picks the token by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiter {
    /// A parked thread: woken with [`Token::RETRY`] (it races for the permit; see
    /// [`Waiters::wake_next`]), or handed a permit by the fairness throttle once it lost a race.
    Thread,
    /// An async task: always handed its permit ([`Token::HANDOFF`]).
    Task,
}

/// What the lock protects: two FIFOs of waiting threads and tasks (weft-sync's core) and the
/// hand-off throttle.
///
/// A waker delivers one of two tokens: [`Token::RETRY`] ("a permit was added to the count:
/// race for it") or [`Token::HANDOFF`] ("a permit was handed to you: it is yours").
#[derive(Debug)]
struct Waiters {
    /// Waiters in arrival order.
    queue: WaitQueue<Waiter>,
    /// Threads that were woken, lost the freed permit to a barging thread, and wait again. They
    /// are served before `queue` (so later arrivals do not overtake them) and are due a
    /// hand-off. (A task never loses a race: it is handed its permit.)
    bumped: WaitQueue<Waiter>,
    /// When the next hand-off may happen (the fairness throttle).
    next_handoff: Deadline,
}

impl Waiters {
    /// Whether nobody waits in either queue.
    fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.bumped.is_empty()
    }

    /// The queue a waiter registers in (and leaves from).
    fn queue(&mut self, bumped: bool) -> &mut WaitQueue<Waiter> {
        if bumped {
            &mut self.bumped
        } else {
            &mut self.queue
        }
    }

    /// Whether to hand a permit straight to a bumped waiter rather than let threads race for
    /// it.
    fn hand_off(&mut self) -> bool {
        // The throttle reads weft-sync's clock: under loom a logical one, so the models explore
        // both "hand off now" and "not yet" for a bumped waiter.
        if !self.next_handoff.has_passed() {
            return false;
        }
        self.next_handoff = Deadline::after(FAIR_INTERVAL);
        true
    }

    /// Pops the next waiter (bumped ones first) and delivers its token under the lock: returns
    /// the wake-up to perform after unlocking and whether a permit was handed to it.
    ///
    /// A task is always handed its permit. A woken thread needs the OS to schedule it, which
    /// takes microseconds, so it races for a permit put in the count: a running thread may
    /// take it meanwhile (barging), which keeps the permits busy. A woken task runs on its
    /// runtime's worker right after the current poll, so a hand-off idles the permit for no
    /// longer than that; left in the count instead, the permit goes to whichever task the
    /// runtimes poll first (typically the releaser itself, looping back to acquire), and the
    /// woken task is polled for nothing, queues again and takes the lock again: with two
    /// workers, that churn is what kept `async_semaphore_t16` at half of tokio's throughput
    /// (docs/semaphore.md, issue 12).
    fn wake_next(&mut self) -> Option<(Wakeup, bool)> {
        let bumped = !self.bumped.is_empty();
        let waiter = *if bumped {
            self.bumped.front()
        } else {
            self.queue.front()
        }?;
        let handoff = match waiter {
            Waiter::Task => true,
            // The throttle is read only for a bumped thread: it alone is due a hand-off.
            Waiter::Thread => bumped && self.hand_off(),
        };
        let token = if handoff {
            Token::HANDOFF
        } else {
            Token::RETRY
        };
        self.queue(bumped)
            .wake_one(token)
            .map(|(w, _)| (w, handoff))
    }
}

/// Whether a release that would go past its bound fails or is cut down to the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// `Err(())`, nothing changed.
    Fail,
    /// Add only up to the bound (a dropped permit never fails).
    Clamp,
}

/// Where an async acquire is: not queued, or queued with a ticket (always in `queue`: a task
/// is handed its permit, so it never loses one and never joins `bumped`).
#[derive(Debug, Default)]
pub(crate) struct TaskWait {
    ticket: Option<Ticket>,
}

impl TaskWait {
    /// Whether the task is queued.
    pub(crate) fn is_queued(&self) -> bool {
        self.ticket.is_some()
    }
}

/// A counting semaphore: the permits and a "someone is parked" bit in one atomic word, and the
/// waiting threads and tasks in weft-sync's core under a lock.
///
/// The word is `permits << 1 | PARKED`. Transitions:
///
/// * acquire (any thread, lock-free): `count → count - 1` when `count > 0` (Acquire).
/// * release with `PARKED` clear (lock-free): `count → count + n` (Release).
/// * a waiter, under the lock: `0 → 0 | PARKED` only when `count == 0`, then it queues itself.
/// * release with `PARKED` set, under the lock: pops up to `n` waiters, hands some permits
///   over directly (fairness), adds the rest to the count, and clears `PARKED` if both queues
///   are now empty.
/// * a timed-out waiter or a dropped future removing itself, under the lock: clears `PARKED`
///   if it was the last.
///
/// So `PARKED` is set and cleared only under the lock, and set only with a queue about to be
/// non-empty: a release that sees it clear may add its permits without the lock, because any
/// waiter that registers afterwards sees those permits when its CAS fails.
#[derive(Debug)]
pub(crate) struct Raw {
    state: AtomicUsize,
    waiters: Mutex<Waiters>,
}

impl Raw {
    /// A semaphore holding `permits` (at most [`MAX_PERMITS`]; checked by the callers).
    pub(crate) fn new(permits: usize) -> Self {
        debug_assert!(permits <= MAX_PERMITS);
        Self {
            state: AtomicUsize::new(permits << 1),
            waiters: Mutex::new(Waiters {
                queue: WaitQueue::new(),
                bumped: WaitQueue::new(),
                next_handoff: Deadline::after(std::time::Duration::ZERO),
            }),
        }
    }

    /// The permits in the count right now.
    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.state.load(Ordering::Relaxed) >> 1
    }

    /// How many threads and tasks are queued (for tests that must act only once a waiter has
    /// queued: a sleep cannot promise that on a loaded machine).
    #[cfg(all(test, not(weft_loom)))]
    pub(crate) fn queued(&self) -> usize {
        let w = self.waiters.lock();
        w.queue.len() + w.bumped.len()
    }

    /// Takes a permit if one is free; never blocks.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        if s < ONE {
            return false;
        }
        // Acquire: pairs with the Release of the release that put this permit there.
        self.state
            .compare_exchange_weak(s, s - ONE, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.try_acquire_contended()
    }

    /// [`Self::try_acquire`] after losing its compare-exchange to another thread: pause before
    /// each retry ([`Backoff`]), so that two CPUs taking turns at the count do not move its
    /// cache line on every operation (docs/semaphore.md, "Issue 12, sixth round").
    #[cold]
    fn try_acquire_contended(&self) -> bool {
        let mut backoff = Backoff::new();
        loop {
            backoff.spin();
            let s = self.state.load(Ordering::Relaxed);
            if s < ONE {
                return false;
            }
            // Acquire: as in `try_acquire`.
            if self
                .state
                .compare_exchange_weak(s, s - ONE, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Under the lock, before registering: takes a permit if one is in the count (`true`), or
    /// sets `PARKED` so that the next release takes the lock and finds the waiter (`false`).
    fn take_or_mark_parked(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s >= ONE {
                // Acquire: as in `try_acquire`.
                match self.state.compare_exchange_weak(
                    s,
                    s - ONE,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(actual) => s = actual,
                }
            } else if s & PARKED != 0 {
                return false;
            } else {
                // Relaxed: a release that reads this bit takes the lock next, which orders it
                // after the registration that follows. The CAS fails if a lock-free release
                // added permits meanwhile, and then we take one instead.
                match self.state.compare_exchange_weak(
                    s,
                    s | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return false,
                    Err(actual) => s = actual,
                }
            }
        }
    }

    /// Takes a permit, waiting until `deadline`; `false` once the deadline passed without one.
    #[inline]
    pub(crate) fn acquire(&self, deadline: Deadline) -> bool {
        self.try_acquire() || self.acquire_slow(deadline)
    }

    #[cold]
    fn acquire_slow(&self, deadline: Deadline) -> bool {
        if deadline.has_passed() {
            return false;
        }
        // A short bounded spin while nobody is parked: a permit released within a few
        // microseconds is taken without parking. With waiters parked, queue behind them. Under
        // loom the same spin runs with loom's budget (one yield).
        let mut spin = SpinWait::new();
        while self.state.load(Ordering::Relaxed) & PARKED == 0 && spin.spin() {
            if self.try_acquire() {
                return true;
            }
            if deadline.has_passed() {
                return false;
            }
        }

        let mut bumped = false;
        loop {
            let ticket = {
                let mut w = self.waiters.lock();
                if self.take_or_mark_parked() {
                    return true;
                }
                // A waiter that was woken and lost its permit queues with the bumped ones,
                // served first: it is not overtaken by the waiters that came after it.
                w.queue(bumped).register_thread(Waiter::Thread)
            };

            match ticket.park(deadline) {
                // Acquire (inside `park`): pairs with the Release of the delivery, so a
                // handed-off permit comes with the releaser's writes.
                Some(Token::HANDOFF) => return true,
                // A plain wake-up: permits were added to the count; race for one below.
                Some(_) => {}
                None => {
                    return match self.leave(&ticket, bumped) {
                        // Still queued: the timeout stands. As CPython, look once more: a
                        // permit that is free now is taken even though the deadline passed.
                        Left::Removed(_) => self.try_acquire(),
                        // A release handed us a permit at the moment we timed out: ours.
                        Left::Received(Token::HANDOFF) => true,
                        // A release woke us at that moment: answer with one CAS. If a barging
                        // thread took the permit, its own release wakes the next waiter.
                        Left::Received(_) => self.try_acquire(),
                    };
                }
            }
            if self.try_acquire() {
                return true;
            }
            // A barging thread took it. The wake-up was not lost: that thread's release will
            // see PARKED (if anyone still waits) and wake again.
            if deadline.has_passed() {
                return false;
            }
            bumped = true;
        }
    }

    /// A waiter stops waiting (timeout, dropped future): leaves its queue under the lock,
    /// clearing `PARKED` if it was the last. A received token is the caller's to honour or
    /// pass on.
    fn leave(&self, ticket: &Ticket, bumped: bool) -> Left<Waiter> {
        let mut w = self.waiters.lock();
        let left = w.queue(bumped).leave(ticket);
        if matches!(left, Left::Removed(_)) && w.is_empty() {
            // Relaxed: only lock holders touch this bit.
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
        left
    }

    /// One poll of an async acquire: `true` once the task holds a permit.
    ///
    /// Queued, the task only looks at its own token: a release hands it its permit (see
    /// [`Waiters::wake_next`]), and it never takes one from the count out of turn (the count's
    /// permits belong to a woken thread racing for them, or to a barging newcomer).
    pub(crate) fn poll_acquire(&self, wait: &mut TaskWait, cx: &Context<'_>) -> bool {
        if let Some(ticket) = &wait.ticket {
            if ticket.token().is_none() {
                let mut w = self.waiters.lock();
                if w.queue.update_waker(ticket, cx.waker()) {
                    return false;
                }
                // No longer queued: a release delivered the token under this lock.
            }
            // A task is only ever handed a permit: it is ours. The releaser's writes come with
            // it: through the token's Acquire load, or through the lock it was delivered under.
            debug_assert_eq!(ticket.token(), Some(Token::HANDOFF));
            wait.ticket = None;
            return true;
        }
        if self.try_acquire() {
            return true;
        }
        let mut w = self.waiters.lock();
        if self.take_or_mark_parked() {
            return true;
        }
        wait.ticket = Some(w.queue.register_task(cx.waker(), Waiter::Task));
        false
    }

    /// A queued async acquire is dropped: leaves its queue, and passes on what it was handed.
    /// Returns `true` when it holds a permit that the caller must release (so that the release
    /// wakes the next waiter, or hands the permit on).
    pub(crate) fn cancel(&self, wait: &mut TaskWait) -> bool {
        let Some(ticket) = wait.ticket.take() else {
            return false;
        };
        match self.leave(&ticket, false) {
            Left::Removed(_) => false,
            // A release handed us a permit at that very moment (a task is only ever handed
            // one): ours, to pass on.
            Left::Received(_) => true,
        }
    }

    /// Adds `n` permits, up to `max` in the count, and wakes up to `n` waiters.
    ///
    /// With [`Overflow::Fail`], a release that would take the count past `max` returns
    /// `Err(())` and changes nothing; with [`Overflow::Clamp`] it adds only up to `max`.
    #[inline]
    pub(crate) fn release(&self, n: usize, max: usize, overflow: Overflow) -> Result<(), ()> {
        let mut s = self.state.load(Ordering::Relaxed);
        let mut backoff = Backoff::starting_long();
        loop {
            if s & PARKED != 0 {
                return self.release_slow(n, max, overflow);
            }
            let add = allowed(s >> 1, n, max, overflow)?;
            if add == 0 {
                return Ok(());
            }
            // Release: pairs with the Acquire of the acquire that takes these permits.
            match self.state.compare_exchange_weak(
                s,
                s + add * ONE,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(_) => {
                    // Lost to another thread, most likely one that acquires and releases in a
                    // loop on the other CPU: let it run a few rounds with the line in its cache
                    // before reading the count again (the longest pause from the first retry;
                    // see `try_acquire_contended`).
                    backoff.spin();
                    s = self.state.load(Ordering::Relaxed);
                }
            }
        }
    }

    #[cold]
    fn release_slow(&self, n: usize, max: usize, overflow: Overflow) -> Result<(), ()> {
        // The first wake-up is kept apart: a release of one permit (the common case) wakes
        // one waiter straight from the queue, without the `Wakeups` collection.
        let mut first = None;
        let mut rest = Wakeups::new();
        {
            let mut w = self.waiters.lock();
            let mut s = self.state.load(Ordering::Relaxed);
            if s & PARKED == 0 {
                // The waiters left (timed out or were woken by another release) before we got
                // the lock: back to the lock-free path, where the count may also grow.
                drop(w);
                return self.release(n, max, overflow);
            }
            // Under the lock with PARKED set, no lock-free release can run and nobody else
            // clears PARKED, so the count can only go down (acquires) until we are done: the
            // bound checked here still holds when we add.
            let add = allowed(s >> 1, n, max, overflow)?;
            let mut handed = 0;
            let mut woken = 0;
            while woken < add {
                // The token is delivered here, under the lock.
                let Some((wakeup, handoff)) = w.wake_next() else {
                    break;
                };
                handed += usize::from(handoff);
                woken += 1;
                if first.is_none() {
                    first = Some(wakeup);
                } else {
                    rest.push(wakeup);
                }
            }
            let clear = if w.is_empty() { PARKED } else { 0 };
            // Every permit handed over and waiters left: the word does not change, so it is
            // not written (with tasks waiting, the common case: no read-modify-write on the
            // word the acquirers poll, issue 12).
            if add > handed || clear != 0 {
                loop {
                    // Release: as in `release`. The handed-off permits never enter the count:
                    // they go straight to their waiters (published by the token's delivery).
                    let new = (s + (add - handed) * ONE) & !clear;
                    match self.state.compare_exchange_weak(
                        s,
                        new,
                        Ordering::Release,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(actual) => s = actual,
                    }
                }
            }
        }
        // Wake after unlocking, so the woken threads do not block on our lock; oldest first.
        if let Some(first) = first {
            first.wake();
        }
        if !rest.is_empty() {
            rest.wake();
        }
        Ok(())
    }
}

/// How many of `n` permits may be added to a count of `count` without passing `max`.
#[inline]
fn allowed(count: usize, n: usize, max: usize, overflow: Overflow) -> Result<usize, ()> {
    let room = max.saturating_sub(count);
    if n <= room {
        Ok(n)
    } else if overflow == Overflow::Clamp {
        Ok(room)
    } else {
        Err(())
    }
}
