//! The raw lock under [`crate::Lock`] and [`crate::RLock`]: one state byte and, under a lock,
//! two FIFOs of weft-sync's waiting core ([`WaitQueue`]) in which threads and tasks wait
//! together.
//!
//! # The state byte
//!
//! ```text
//! bit 0  LOCKED  someone owns the lock
//! bit 1  PARKED  a waiter (thread or task) is queued, or about to queue: an unlock must look
//! ```
//!
//! * `0 -> LOCKED` (acquire fast path): one compare-exchange, Acquire on success.
//! * `-> 0` (release): one swap, Release (an `xchg`, as std's futex mutex releases). The lock
//!   is free from that instant; if the swap read `PARKED`, the release then goes through
//!   `RawLock::unlock_slow` to wake a waiter. ([`RawLock::unlock_fair`] keeps the lock held
//!   instead: a compare-exchange `LOCKED -> 0` that fails on `PARKED`, then a hand-off.)
//! * A waiter sets `PARKED` (Relaxed) only while the lock is held, before it queues; the
//!   waiters' lock orders the rest.
//! * `PARKED` is cleared by a release's swap, which then takes the waiters' lock and puts it
//!   back if anyone else still waits, or under the waiters' lock when both queues are (or
//!   become) empty. So whenever the waiters' lock is free, "somebody queued" implies either
//!   "`PARKED` set" or "a release that read `PARKED` is on its way to wake somebody".
//!
//! # Waiting protocol
//!
//! A waiter sets `PARKED`, takes the waiters' lock, and re-reads the state: only if it still
//! reads `LOCKED | PARKED` does it register (a thread with [`WaitQueue::register_thread`], a
//! task with [`WaitQueue::register_task`]) and, after the lock is released, park or return
//! `Pending`. That re-check is what makes a lost wake-up impossible: the holder's swap comes
//! after the waiter's `PARKED` in the state's modification order (else the waiter's
//! compare-exchange would have failed), so it reads `PARKED` and its slow path takes the
//! waiters' lock; if it took that lock first, the waiter's re-check, ordered after it by the
//! lock, reads the free lock and retries instead of sleeping; otherwise the release finds the
//! waiter registered.
//!
//! A release with waiters pops the oldest one under the waiters' lock (a woken waiter that lost
//! the race, in `bumped`, before the others), delivers its token there, and performs the
//! wake-up (unpark or `Waker::wake`) after unlocking. It either
//!
//! * *wakes it to retry* ([`Token::RETRY`]): the state becomes `0` (or `PARKED` if others still
//!   wait) and the woken waiter competes with any thread that arrives meanwhile (barging, which
//!   keeps a hot lock fast), or
//! * *hands the lock off* ([`Token::HANDOFF`]): the state stays `LOCKED`, and ownership passes
//!   to the woken waiter with the token itself (Release when it is delivered, Acquire when the
//!   waiter reads it), so nobody can barge in between.
//!
//! A waiter that stops waiting (a thread's deadline passed, a task's future was dropped) calls
//! [`WaitQueue::leave`] under the same lock: still queued, it just leaves (clearing `PARKED` if
//! it was the last); already handed the lock, it owns it (a thread returns it, a dropped future
//! releases it, which wakes the next waiter); already woken to retry, it takes the lock if it is
//! still free and a dropped future releases it at once, so the wake-up reaches the next waiter.
//!
//! # Fairness
//!
//! Eventual fairness, after parking_lot: the release hands off when the popped waiter has been
//! waiting for at least `FAIR_AFTER` (0.5 ms), or when the owner asks for it
//! ([`RawLock::unlock_fair`]). Until then arriving threads may barge, which keeps a hot lock
//! fast; a woken waiter that loses queues again in `bumped`, served first and keeping its first
//! arrival time, so it is the one the hand-off goes to. The decision reads weft-sync's
//! [`clock`](weft_sync::clock): under loom a logical clock, so the models explore both "hand off"
//! and "let them race" wherever the waiter could have waited a while.
//!
//! # The raw API
//!
//! This module is public but hidden: weft-condition builds its mutex on [`RawLock`] (one mutex
//! implementation, with this fairness). A condition's notify moves its waiters, entries intact,
//! into the back of `queue` with [`RawLock::transfer_waiters`] instead of waking them ("wait
//! morphing"): they then wait for the lock exactly as if they had just called `lock`, and a
//! release wakes them or hands the lock to them in turn. A moved waiter that stops waiting
//! leaves with [`RawLock::leave_moved`]. The caller's own queue lock is taken before the
//! waiters' lock, always in that order.

use std::{task::Context, time::Duration};

use weft_sync::{
    Deadline, Mutex, SpinWait,
    atomic::{AtomicU8, Ordering},
    clock::Instant,
    waitq::{Left, Ticket, Token, WaitQueue},
};

/// Someone owns the lock.
const LOCKED: u8 = 1;
/// Someone is queued (or about to queue) on the waiters' queues.
const PARKED: u8 = 2;

/// How long a queued waiter may wait before releases hand the lock to it directly.
const FAIR_AFTER: Duration = Duration::from_micros(500);

/// The least time between two hand-offs on one lock (unless the owner asks for one with
/// `unlock_fair`). A hand-off leaves the lock held, idle, until its waiter is scheduled, which
/// on a machine with more runnable threads than cores can take a whole time slice; so, as in
/// parking_lot (whose buckets hand off at most once per random 0-1 ms), they are rationed.
const FAIR_INTERVAL: Duration = Duration::from_millis(1);

/// A counter that loom does not see (see [`RawLock::handoffs`]).
#[cfg(weft_loom)]
#[allow(clippy::disallowed_types)] // An observation for the models, not part of the protocol.
type Observation = std::sync::atomic::AtomicUsize;

/// The waiting threads and tasks, each with the instant it first queued (its payload).
#[derive(Debug)]
struct Waiters {
    /// Waiters in arrival order.
    queue: WaitQueue<Instant>,
    /// Waiters that were woken to retry, lost the lock to a barging thread, and wait again.
    /// They are served before `queue`, so later arrivals do not overtake them.
    bumped: WaitQueue<Instant>,
    /// When the next hand-off may happen (the throttle, see [`FAIR_INTERVAL`]).
    next_handoff: Deadline,
    /// Whether a release may hand the lock off at all ([`RawLock::without_hand_offs`]).
    hand_offs: bool,
}

impl Waiters {
    /// Whether nobody waits in either queue.
    fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.bumped.is_empty()
    }

    /// How many wait in both queues.
    fn len(&self) -> usize {
        self.queue.len() + self.bumped.len()
    }

    /// The queue a waiter registers in (and leaves from).
    fn queue(&mut self, bumped: bool) -> &mut WaitQueue<Instant> {
        if bumped {
            &mut self.bumped
        } else {
            &mut self.queue
        }
    }

    /// The queue the next release serves: `bumped` first.
    fn next(&mut self) -> &mut WaitQueue<Instant> {
        let bumped = !self.bumped.is_empty();
        self.queue(bumped)
    }

    /// Whether a release should hand the lock to the next waiter, which first queued at
    /// `since`: it has waited at least [`FAIR_AFTER`] and the last hand-off on this lock is at
    /// least [`FAIR_INTERVAL`] ago (`unlock_fair` hands off regardless).
    ///
    /// Both read weft-sync's clock: under loom a logical one, so the models explore "hand off"
    /// and "let them race" wherever time could have passed.
    fn may_hand_off(&self, since: Instant) -> bool {
        self.hand_offs && since.elapsed_at_least(FAIR_AFTER) && self.next_handoff.has_passed()
    }

    /// Starts the throttle after a hand-off.
    fn handed_off(&mut self) {
        self.next_handoff = Deadline::after(FAIR_INTERVAL);
    }
}

/// Where an async acquire is: not queued, or queued with a ticket (in `bumped` or not), and
/// when it first queued (kept across re-queueing, for the fairness decision).
#[derive(Debug, Default)]
pub struct TaskWait {
    ticket: Option<Ticket>,
    bumped: bool,
    since: Option<Instant>,
}

impl TaskWait {
    /// Whether the task is queued.
    #[must_use]
    pub fn is_queued(&self) -> bool {
        self.ticket.is_some()
    }

    /// A wait for a task that was woken to retry (a moved condition waiter): it queues with the
    /// bumped waiters, served first, as a woken lock waiter that lost the race does.
    #[must_use]
    pub fn bumped() -> Self {
        Self {
            bumped: true,
            ..Self::default()
        }
    }
}

/// What only the slow paths touch.
#[derive(Debug)]
struct Cold {
    /// The waiting threads and tasks.
    waiters: Mutex<Waiters>,
    /// How many releases handed the lock off, so that loom models can tell that they explored
    /// that path. A plain std atomic on purpose: it is an observation, not part of the protocol,
    /// and must not add states to the model.
    #[cfg(weft_loom)]
    handoffs: Observation,
}

/// Bytes between the cold part and the state byte: they put the state byte at an offset that
/// is a multiple of 16 (see [`RawLock`]).
const PAD: usize = (16 - size_of::<Cold>() % 16) % 16;

/// A lock with no data and no owner, released by whoever holds the right to.
///
/// The layout is fixed (`repr(C)`): the cold part first, then the state byte *last*, at an
/// offset that is a multiple of 16, so that in a 16-aligned [`crate::Lock`] the state byte and
/// the start of the data that follows it always lie in one 16-byte block, hence in one cache
/// line. An acquire then brings the data along with the state, as std's and parking_lot's
/// one-word mutexes do, wherever the lock happens to be placed (see docs/lock.md, issue 12).
#[derive(Debug)]
#[repr(C)]
pub struct RawLock {
    cold: Cold,
    _pad: [u8; PAD],
    /// `LOCKED | PARKED` bits; see the module docs.
    state: AtomicU8,
}

impl RawLock {
    /// An unlocked lock.
    #[must_use]
    pub fn new() -> Self {
        Self::with_hand_offs(true)
    }

    /// An unlocked lock whose releases never hand it off: a woken waiter always competes for
    /// it (barging), as the oldest waiter still goes first in line. For a lock that a thread
    /// may re-acquire *blocking* while the tasks queued on it are polled by that same thread:
    /// `Condition`'s dropped `wait_async` re-locks its guard in `Drop`, and a hand-off to a
    /// task of the same current-thread runtime would leave the lock owned by a task that can
    /// never run. Without hand-offs the lock is free whenever no running code holds it.
    #[must_use]
    pub fn without_hand_offs() -> Self {
        Self::with_hand_offs(false)
    }

    fn with_hand_offs(hand_offs: bool) -> Self {
        Self {
            cold: Cold {
                waiters: Mutex::new(Waiters {
                    queue: WaitQueue::new(),
                    bumped: WaitQueue::new(),
                    next_handoff: Deadline::after(Duration::ZERO),
                    hand_offs,
                }),
                #[cfg(weft_loom)]
                handoffs: Observation::new(0),
            },
            _pad: [0; PAD],
            state: AtomicU8::new(0),
        }
    }

    /// The address of the state byte (for the layout test).
    #[cfg(all(test, not(weft_loom)))]
    pub(crate) fn state_addr(&self) -> usize {
        std::ptr::from_ref(&self.state) as usize
    }

    /// How many threads and tasks are queued (for tests that must start a release only once a
    /// waiter has queued: a sleep cannot promise that on a loaded machine).
    #[cfg(all(test, not(weft_loom)))]
    pub(crate) fn queued(&self) -> usize {
        let w = self.cold.waiters.lock();
        w.queue.len() + w.bumped.len()
    }

    /// Whether somebody holds the lock (a snapshot).
    #[inline]
    pub fn is_locked(&self) -> bool {
        // Relaxed: a snapshot that orders nothing.
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Takes the lock, waiting as long as it takes.
    #[inline]
    pub fn lock(&self) {
        // Acquire on success: pairs with the Release of the previous unlock (its CAS or swap),
        // so the previous owner's writes to the data are visible to us.
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            let acquired = self.lock_slow(Deadline::never(), false);
            debug_assert!(acquired, "an untimed acquire returned without the lock");
        }
    }

    /// Takes the lock if nobody holds it; never waits. Barges past queued waiters, as Python's
    /// `acquire(blocking=False)` does.
    #[inline]
    pub fn try_lock(&self) -> bool {
        // Relaxed: the CAS below is what synchronizes.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            // Acquire: as in `lock`.
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Takes the lock, waiting at most `timeout`; `false` only once `timeout` has elapsed.
    #[inline]
    pub fn lock_timeout(&self, timeout: Duration) -> bool {
        // Acquire: as in `lock`.
        self.state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.lock_slow(Deadline::after(timeout), false)
    }

    /// Releases the lock.
    ///
    /// # Safety
    ///
    /// The caller holds the lock (it acquired it, or it was handed the right to release it, and
    /// nobody releases it twice).
    #[inline]
    pub unsafe fn unlock(&self) {
        // Release: publishes the critical section to the next owner's Acquire. One swap (an
        // `xchg`, cheaper than a compare-exchange, as std's futex mutex releases): the lock is
        // free from here on, and if PARKED was set somebody must be woken.
        if self.state.swap(0, Ordering::Release) != LOCKED {
            self.unlock_slow();
        }
    }

    /// Releases the lock and, if somebody waits, hands it to the oldest waiter directly.
    ///
    /// # Safety
    ///
    /// As [`RawLock::unlock`].
    #[inline]
    pub unsafe fn unlock_fair(&self) {
        // Release: as in `unlock`.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow_fair();
        }
    }

    /// One step towards queueing, from a state read `state` in which the lock is held: sets
    /// `PARKED` if it is clear. `Err` with the fresh state when the CAS lost a race.
    #[inline]
    fn mark_parked(&self, state: u8) -> Result<(), u8> {
        if state & PARKED != 0 {
            return Ok(());
        }
        // Relaxed: the waiters' lock orders what follows.
        self.state
            .compare_exchange_weak(state, state | PARKED, Ordering::Relaxed, Ordering::Relaxed)
            .map(drop)
    }

    /// Takes the lock if `LOCKED` is clear in `state` (even with waiters queued: barging).
    /// `Ok(true)`: taken; `Ok(false)`: it is held; `Err`: the CAS lost a race, here is the
    /// fresh state.
    #[inline]
    fn take_if_free(&self, state: u8) -> Result<bool, u8> {
        if state & LOCKED != 0 {
            return Ok(false);
        }
        // Acquire: as in `lock`.
        self.state
            .compare_exchange_weak(state, state | LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .map(|_| true)
    }

    /// The contended acquire: spin a little, then queue and park. `false` only once `deadline`
    /// has passed.
    #[cold]
    #[inline(never)]
    fn lock_slow(&self, deadline: Deadline, mut bumped: bool) -> bool {
        let mut spin = SpinWait::new();
        // `bumped`: woken once and lost the race since, so the next queueing is in `bumped`.
        let mut since: Option<Instant> = None;
        // Relaxed: every transition below is a CAS, or is ordered by the waiters' lock.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            match self.take_if_free(state) {
                Ok(true) => return true,
                Ok(false) => {}
                Err(s) => {
                    state = s;
                    continue;
                }
            }

            // Held by someone else. Giving up here loses nothing: we are not queued, and if we
            // were woken to retry, the holder's release wakes the next waiter (PARKED is set
            // whenever one is queued).
            if deadline.has_passed() {
                return false;
            }

            // Nobody queued yet: spin a little, the holder may be about to release.
            if state & PARKED == 0 && spin.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }

            // Announce that we will queue, so that the holder's release takes the slow path.
            if let Err(s) = self.mark_parked(state) {
                state = s;
                continue;
            }

            let first = *since.get_or_insert_with(Instant::now);
            let ticket = {
                let mut w = self.cold.waiters.lock();
                // Re-check under the waiters' lock. The holder's release swap reads our PARKED
                // and then takes this lock: either it did so already, and this load (ordered
                // after it by the lock) reads the free lock, or it comes after our
                // registration and finds us (see the module docs). Relaxed: the lock orders it.
                let now = self.state.load(Ordering::Relaxed);
                if now != LOCKED | PARKED {
                    drop(w);
                    state = now;
                    continue;
                }
                w.queue(bumped).register_thread(first)
            };

            match ticket.park(deadline) {
                // The releasing thread left the state LOCKED for us; the Acquire in `park`
                // paired with the Release of the token's delivery.
                Some(Token::HANDOFF) => return true,
                // Woken to compete: below.
                Some(_) => {}
                None => {
                    return match self.leave(&ticket, bumped) {
                        // Still queued: the timeout stands.
                        Left::Removed(_) => false,
                        // A release handed us the lock at the moment we gave up: it is ours
                        // (dropping it would leave the lock held by nobody).
                        Left::Received(Token::HANDOFF) => true,
                        // A release woke us to retry at that moment. Take the lock if it is
                        // still free; if someone else holds it, their release wakes the next
                        // waiter (PARKED is set whenever one is queued).
                        Left::Received(_) => self.try_lock(),
                    };
                }
            }
            // Woken to compete: spin afresh, and if we lose, queue with the bumped waiters,
            // served first.
            spin.reset();
            bumped = true;
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// A waiter stops waiting (timeout, dropped future): leaves its queue under the waiters'
    /// lock, clearing `PARKED` if it was the last. A received token is the caller's to honour
    /// or pass on.
    fn leave(&self, ticket: &Ticket, bumped: bool) -> Left<Instant> {
        let mut w = self.cold.waiters.lock();
        let left = w.queue(bumped).leave(ticket);
        if matches!(left, Left::Removed(_)) && w.is_empty() {
            // The timeout stands and nobody else waits: the next release is fast again.
            // Relaxed: ordered by the waiters' lock, like every PARKED change; an RMW because
            // LOCKED may change meanwhile.
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
        left
    }

    /// One poll of an async acquire: `true` once the task holds the lock.
    ///
    /// Queued, the task only looks at its own token: it never takes the lock out of turn from
    /// the waiters queued before it (an arriving task barges like an arriving thread).
    pub fn poll_lock(&self, wait: &mut TaskWait, cx: &Context<'_>) -> bool {
        if let Some(ticket) = &wait.ticket {
            let token = match ticket.token() {
                Some(token) => token,
                None => {
                    let mut w = self.cold.waiters.lock();
                    if w.queue(wait.bumped).update_waker(ticket, cx.waker()) {
                        return false;
                    }
                    // No longer queued: a release delivered the token under this lock.
                    ticket
                        .token()
                        .expect("a ticket that left its queue holds a token")
                }
            };
            wait.ticket = None;
            // A hand-off is ours (the Acquire in `token` paired with the delivery's Release).
            if token == Token::HANDOFF {
                return true;
            }
            // Woken to retry: a barging thread may take it first; then queue with the bumped
            // waiters, served first.
            wait.bumped = true;
        }
        // Relaxed: every transition below is a CAS, or is ordered by the waiters' lock.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            match self.take_if_free(state) {
                Ok(true) => return true,
                Ok(false) => {}
                Err(s) => {
                    state = s;
                    continue;
                }
            }
            if let Err(s) = self.mark_parked(state) {
                state = s;
                continue;
            }
            let first = *wait.since.get_or_insert_with(Instant::now);
            let mut w = self.cold.waiters.lock();
            // The re-check of `lock_slow`, for the same reason.
            let now = self.state.load(Ordering::Relaxed);
            if now != LOCKED | PARKED {
                drop(w);
                state = now;
                continue;
            }
            wait.ticket = Some(w.queue(wait.bumped).register_task(cx.waker(), first));
            return false;
        }
    }

    /// A queued async acquire is dropped: leaves its queue, and passes on what it was given.
    /// Returns `true` when it holds the lock, which the caller must release (a hand-off, or the
    /// lock a retry wake-up announced, taken here so that releasing it wakes the next waiter).
    pub fn cancel(&self, wait: &mut TaskWait) -> bool {
        let Some(ticket) = wait.ticket.take() else {
            return false;
        };
        match self.leave(&ticket, wait.bumped) {
            Left::Removed(_) => false,
            Left::Received(Token::HANDOFF) => true,
            // Woken to retry: the next waiter still sleeps, and nobody else would wake it. Take
            // the lock (unless a barging thread did, whose release then wakes the next waiter)
            // so that releasing it wakes the next waiter, exactly as a release does.
            Left::Received(_) => self.try_lock(),
        }
    }

    /// The release with (possibly) somebody queued, after `unlock`'s swap freed the lock and
    /// cleared PARKED.
    ///
    /// Between the swap and the waiters' lock, a thread may take the free lock (barging) and
    /// release it with the fast path, waking nobody: that is fine, this release wakes the next
    /// waiter. Under the waiters' lock PARKED is put back while anyone is still queued, so the
    /// invariant holds again whenever the waiters' lock is free.
    #[cold]
    #[inline(never)]
    fn unlock_slow(&self) {
        let wakeup = {
            let mut w = self.cold.waiters.lock();
            let more = w.len() > 1;
            // PARKED was set by a waiter that has not queued yet (it re-checks under the
            // waiters' lock and sees the lock free), or the last waiter left: nobody to wake.
            let Some(&since) = w.next().front() else {
                return;
            };
            let rest = if more { PARKED } else { 0 };
            // A hand-off takes the lock back for the waiter: only if nobody barged in since
            // the swap (then the state is still 0: a would-be waiter sets PARKED only while the
            // lock is held). Acquire: pairs with the Release of a barging thread's release, so
            // its writes reach the waiter along with ours. Relaxed on failure: then we wake the
            // waiter to retry.
            if w.may_hand_off(since)
                && self
                    .state
                    .compare_exchange(0, LOCKED | rest, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                w.handed_off();
                #[cfg(weft_loom)]
                self.cold
                    .handoffs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // The token's delivery (Release) publishes the critical section to the waiter.
                w.next().wake_one(Token::HANDOFF)
            } else {
                // Wake it to compete. PARKED goes back for the others still queued (an RMW:
                // a barging thread may hold the lock meanwhile). Relaxed: ordered by the
                // waiters' lock, like every PARKED change made under it.
                if more {
                    self.state.fetch_or(PARKED, Ordering::Relaxed);
                }
                w.next().wake_one(Token::RETRY)
            }
        };
        // Wake after unlocking, so the woken waiter does not block on the waiters' lock.
        if let Some((wakeup, _)) = wakeup {
            wakeup.wake();
        }
    }

    /// The fair release with (possibly) somebody queued: the lock is still held (its
    /// compare-exchange failed on PARKED), and goes to the oldest waiter without ever being
    /// free.
    #[cold]
    #[inline(never)]
    fn unlock_slow_fair(&self) {
        let wakeup = {
            let mut w = self.cold.waiters.lock();
            let more = w.len() > 1;
            if w.next().front().is_none() {
                // PARKED was set by a waiter that has not queued yet (it re-checks under the
                // waiters' lock and retries), or the last waiter left. Release: as in
                // `unlock`. A swap, not a store: it must come after any PARKED bit set
                // meanwhile in the modification order (as an RMW it does, and loom models
                // that), so that the would-be waiter's re-check reads our release.
                self.state.swap(0, Ordering::Release);
                return;
            }
            // The state stays LOCKED: the woken waiter owns the lock from now on. PARKED stays
            // set only while others still wait. Relaxed: while we hold LOCKED and the waiters'
            // lock nobody else changes the state (a would-be waiter may set PARKED, already
            // set), and the token's delivery below publishes our critical section to the new
            // owner.
            if !more {
                self.state.swap(LOCKED, Ordering::Relaxed);
            }
            #[cfg(weft_loom)]
            self.cold
                .handoffs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            w.next().wake_one(Token::HANDOFF)
        };
        // Wake after unlocking, as in `unlock_slow`.
        if let Some((wakeup, _)) = wakeup {
            wakeup.wake();
        }
    }

    /// Takes the lock after a wake-up to retry that did not come from this lock's own
    /// `lock` (a condition waiter that was moved here, or notified while the lock was free):
    /// if it loses the race, it queues with the bumped waiters, served first, as a woken lock
    /// waiter does.
    pub fn lock_bumped(&self) {
        // Acquire: as in `lock`.
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            let acquired = self.lock_slow(Deadline::never(), true);
            debug_assert!(acquired, "an untimed acquire returned without the lock");
        }
    }

    /// Moves waiters of another queue into the back of this lock's arrival queue, entries
    /// intact and nobody woken, if the lock is held: `move_to(queue, now)` moves them (with
    /// [`WaitQueue::transfer_front`], `now` as their arrival instant) and returns how many.
    /// `None` when the lock is free: nothing is moved, and the caller wakes its waiters itself
    /// to compete for it.
    ///
    /// A moved waiter is then woken by a release like any other: [`Token::RETRY`] (take it with
    /// [`RawLock::lock_bumped`] or [`TaskWait::bumped`]) or [`Token::HANDOFF`] (it owns the
    /// lock). Call with the other queue's lock held, so a moved waiter that stops waiting and
    /// does not find itself there knows it is here ([`RawLock::leave_moved`]).
    pub fn transfer_waiters(
        &self,
        move_to: impl FnOnce(&mut WaitQueue<Instant>, Instant) -> usize,
    ) -> Option<usize> {
        let now = Instant::now();
        let mut w = self.cold.waiters.lock();
        // Relaxed: the CAS below and the waiters' lock order what follows.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                return None;
            }
            // Set PARKED while the lock is held, as a waiter does before queueing: the holder's
            // release swap comes after it in the state's order, reads it, and takes the
            // waiters' lock, after we released it, so it finds the moved waiters.
            match self.mark_parked(state) {
                Ok(()) => break,
                Err(s) => state = s,
            }
        }
        Some(move_to(&mut w.queue, now))
    }

    /// A moved waiter (see [`RawLock::transfer_waiters`]) stops waiting: leaves the arrival
    /// queue, or reports the token a release delivered to it (a hand-off means it owns the
    /// lock; a retry, that it must take the lock itself or pass the wake-up on).
    pub fn leave_moved(&self, ticket: &Ticket) -> Left<Instant> {
        self.leave(ticket, false)
    }

    /// A moved task waiter's later poll: stores its current waker in its entry; `false` when a
    /// release delivered its token meanwhile (read it from the ticket).
    pub fn update_moved_waker(&self, ticket: &Ticket, waker: &std::task::Waker) -> bool {
        self.cold.waiters.lock().queue.update_waker(ticket, waker)
    }

    /// How many releases handed the lock off (loom builds only, for the models).
    #[cfg(weft_loom)]
    #[must_use]
    pub fn handoffs(&self) -> usize {
        self.cold
            .handoffs
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Default for RawLock {
    fn default() -> Self {
        Self::new()
    }
}
