//! The raw lock under [`crate::Lock`] and [`crate::RLock`]: one state byte and a wait list.
//!
//! # The state byte
//!
//! ```text
//! bit 0  LOCKED  someone owns the lock
//! bit 1  PARKED  a thread is queued, or about to queue, on `queue`: an unlock must look there
//! ```
//!
//! * `0 -> LOCKED` (acquire fast path): one compare-exchange, Acquire on success.
//! * `LOCKED -> 0` (release fast path): one compare-exchange, Release. It fails exactly when
//!   `PARKED` is set, and the release then goes through [`RawLock::unlock_slow`].
//! * A waiter sets `PARKED` (Relaxed) before it queues; the queue lock orders the rest.
//! * `PARKED` is cleared only under the queue lock, and only when the queue is (or becomes)
//!   empty. So "queue not empty" implies "`PARKED` set" whenever the queue lock is free, and a
//!   release can never take the fast path while somebody sleeps on the queue.
//!
//! # Parking protocol
//!
//! A waiter sets `PARKED`, takes the queue lock, and re-reads the state: only if it still reads
//! `LOCKED | PARKED` does it queue and sleep. That re-check is what makes a lost wake-up
//! impossible: the owner cannot clear `LOCKED` without the queue lock (its fast path fails while
//! `PARKED` is set), so its release comes after the waiter queued and finds it.
//!
//! A release with waiters pops the oldest one under the queue lock, and either
//!
//! * *wakes it to retry* (token [`RETRY`]): the state becomes `0` (or `PARKED` if others still
//!   wait) and the woken thread competes with any thread that arrives meanwhile (barging, which
//!   is what keeps a hot lock fast), or
//! * *hands the lock off* (token [`HANDOFF`]): the state stays `LOCKED`, and ownership passes to
//!   the woken thread with the notification itself (Release in `notify_with`, Acquire when the
//!   waiter reads its token), so nobody can barge in between.
//!
//! # Fairness
//!
//! Eventual fairness, after parking_lot: the release hands off when the popped waiter has been
//! waiting for at least `FAIR_AFTER` (0.5 ms), or when the owner asks for it
//! ([`RawLock::unlock_fair`]). Until then arriving threads may barge, which keeps a hot lock
//! fast; a woken waiter that loses re-queues at the front, so it is the one the hand-off goes to.
//! No waiter waits much longer than `FAIR_AFTER` plus one critical section once it is first in
//! line. The decision reads weft-sync's [`clock`](weft_sync::clock): under loom a logical clock, so the models
//! explore both "hand off" and "let them race" wherever the waiter could have waited a while.

use std::{num::NonZeroUsize, time::Duration};

use weft_sync::{
    Deadline, Mutex, SpinWait, WaitList,
    atomic::{AtomicU8, Ordering},
    clock::Instant,
    park::{Parked, Waiter},
};

/// Someone owns the lock.
const LOCKED: u8 = 1;
/// Someone is queued (or about to queue) on the wait list.
const PARKED: u8 = 2;

/// Wake-up token: the lock was released; compete for it.
const RETRY: NonZeroUsize = NonZeroUsize::MIN;
/// Wake-up token: the lock is yours; the releasing thread left it `LOCKED` for you.
const HANDOFF: NonZeroUsize = NonZeroUsize::MIN.saturating_add(1);

/// How long a queued waiter may wait before releases hand the lock to it directly.
const FAIR_AFTER: Duration = Duration::from_micros(500);

/// A counter that loom does not see (see [`RawLock::handoffs`]).
#[cfg(weft_loom)]
#[allow(clippy::disallowed_types)] // An observation for the models, not part of the protocol.
type Observation = std::sync::atomic::AtomicUsize;

/// What a queued waiter tells the releasing thread.
#[derive(Debug)]
struct Entry {
    /// When it first queued.
    since: Instant,
}

impl Entry {
    /// Whether the release should hand the lock to this waiter.
    fn wants_handoff(&self) -> bool {
        // Time alone decides, as in parking_lot: handing off after every lost race would turn a
        // hot lock into a convoy (a context switch on every other release).
        self.since.elapsed_at_least(FAIR_AFTER)
    }
}

/// A word-sized lock: no data, no owner, released by whoever holds the right to.
#[derive(Debug)]
pub(crate) struct RawLock {
    /// `LOCKED | PARKED` bits; see the module docs.
    state: AtomicU8,
    /// The parked waiters, oldest first (a re-queued loser goes first).
    queue: Mutex<WaitList<Entry>>,
    /// How many releases handed the lock off, so that loom models can tell that they explored
    /// that path. A plain std atomic on purpose: it is an observation, not part of the protocol,
    /// and must not add states to the model.
    #[cfg(weft_loom)]
    handoffs: Observation,
}

impl RawLock {
    /// An unlocked lock.
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(0),
            queue: Mutex::new(WaitList::new()),
            #[cfg(weft_loom)]
            handoffs: Observation::new(0),
        }
    }

    /// Whether somebody holds the lock (a snapshot).
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        // Relaxed: a snapshot that orders nothing.
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Takes the lock, waiting as long as it takes.
    #[inline]
    pub(crate) fn lock(&self) {
        // Acquire on success: pairs with the Release of the previous unlock (its CAS or store),
        // so the previous owner's writes to the data are visible to us.
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            let acquired = self.lock_slow(None);
            debug_assert!(acquired, "an untimed acquire returned without the lock");
        }
    }

    /// Takes the lock if nobody holds it; never waits. Barges past queued waiters, as Python's
    /// `acquire(blocking=False)` does.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
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
    pub(crate) fn lock_timeout(&self, timeout: Duration) -> bool {
        // Acquire: as in `lock`.
        self.state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.lock_slow(Some(timeout))
    }

    /// Releases the lock.
    ///
    /// # Safety
    ///
    /// The caller holds the lock (it acquired it, or it was handed the right to release it, and
    /// nobody releases it twice).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        // Release: publishes the critical section to the next owner's Acquire. Fails when
        // PARKED is set: somebody must be woken.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(false);
        }
    }

    /// Releases the lock and, if somebody waits, hands it to the oldest waiter directly.
    ///
    /// # Safety
    ///
    /// As [`RawLock::unlock`].
    #[inline]
    pub(crate) unsafe fn unlock_fair(&self) {
        // Release: as in `unlock`.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(true);
        }
    }

    /// The contended acquire: spin a little, then queue and park. `false` only when `timeout`
    /// is `Some` and has elapsed; with `None` it returns `true`.
    #[cold]
    #[inline(never)]
    fn lock_slow(&self, timeout: Option<Duration>) -> bool {
        // Taken once, here: re-parking after a lost race never extends the wait.
        let deadline = timeout.map_or_else(Deadline::never, Deadline::after);
        let mut spin = SpinWait::new();
        let mut waiter: Option<Waiter> = None;
        // Woken once and lost the race since: the next queueing asks for a hand-off.
        let mut lost = false;
        let mut since: Option<Instant> = None;
        // Relaxed: every transition below is a CAS, or is ordered by the queue lock.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // Free (even with waiters queued): take it. Barging keeps a hot lock hot; fairness
            // comes from the hand-off below.
            if state & LOCKED == 0 {
                // Acquire: as in `lock`.
                match self.state.compare_exchange_weak(
                    state,
                    state | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(s) => {
                        state = s;
                        continue;
                    }
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
            if state & PARKED == 0 {
                // Relaxed: the queue lock orders what follows.
                if let Err(s) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }

            let w = waiter.get_or_insert_with(Waiter::new);
            {
                let mut queue = self.queue.lock();
                // Re-check under the queue lock. The holder's release cannot clear LOCKED while
                // PARKED is set without this lock, and PARKED is cleared only under it: if both
                // are still set, the release comes after our push and finds us. Relaxed: the
                // queue lock orders this load after every store made under it.
                let now = self.state.load(Ordering::Relaxed);
                if now != LOCKED | PARKED {
                    drop(queue);
                    state = now;
                    continue;
                }
                let entry = Entry {
                    since: *since.get_or_insert_with(Instant::now),
                };
                if lost {
                    // It was at the front when woken: it keeps its place.
                    queue.push_front(w, entry);
                } else {
                    queue.push_back(w, entry);
                }
            }

            let token = match w.wait(deadline) {
                Parked::Woken => w.token(),
                Parked::TimedOut => {
                    let mut queue = self.queue.lock();
                    if queue.remove(w).is_some() {
                        // The timeout stands. If we were the last waiter, clear PARKED so that
                        // the next release is fast again (fetch_and: LOCKED may change meanwhile).
                        if queue.is_empty() {
                            // Relaxed: ordered by the queue lock, like every PARKED change.
                            self.state.fetch_and(!PARKED, Ordering::Relaxed);
                        }
                        return false;
                    }
                    drop(queue);
                    // A release popped us at the moment we gave up, and its notification is on
                    // its way. Never drop it: a hand-off made us the owner, and a retry may be
                    // the only wake-up the other waiters will get.
                    if w.wait_notified() == HANDOFF {
                        return true;
                    }
                    // Released to us: take it if it is still free; if someone else holds it,
                    // their release wakes the next waiter.
                    return self.try_lock();
                }
            };
            if token == Some(HANDOFF) {
                // The releasing thread left the state LOCKED for us; the Acquire in `token`
                // paired with its Release in `notify_with`.
                return true;
            }
            // Woken to compete: spin afresh, and if we lose, queue at the front again.
            w.rearm();
            spin.reset();
            lost = true;
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// The release with (possibly) somebody queued.
    #[cold]
    #[inline(never)]
    fn unlock_slow(&self, force_fair: bool) {
        let mut queue = self.queue.lock();
        let Some((notifier, entry)) = queue.pop_front() else {
            // PARKED was set by a thread that has not queued yet (it re-checks under the queue
            // lock and retries), or the last waiter timed out. Release: as in `unlock`. A swap,
            // not a store: it must come after any PARKED bit set meanwhile in the modification
            // order (as an RMW it does, and loom models that), so that the would-be waiter's
            // re-check reads our release.
            self.state.swap(0, Ordering::Release);
            return;
        };
        let more = !queue.is_empty();
        if force_fair || entry.wants_handoff() {
            // The state stays LOCKED: the woken waiter owns the lock from now on. PARKED stays
            // set only while others still wait. Relaxed: while we hold LOCKED and the queue
            // lock nobody else changes the state (a would-be waiter may set PARKED, already set),
            // and the notification below publishes our critical section to the new owner.
            if !more {
                self.state.swap(LOCKED, Ordering::Relaxed);
            }
            #[cfg(weft_loom)]
            self.handoffs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(queue);
            notifier.notify_with(HANDOFF);
        } else {
            // Release: as in `unlock`; barging threads may take it before the waiter runs. A
            // swap for the reason given above.
            self.state
                .swap(if more { PARKED } else { 0 }, Ordering::Release);
            drop(queue);
            notifier.notify_with(RETRY);
        }
    }

    /// How many releases handed the lock off (loom builds only, for the models).
    #[cfg(weft_loom)]
    pub(crate) fn handoffs(&self) -> usize {
        self.handoffs.load(std::sync::atomic::Ordering::Relaxed)
    }
}
