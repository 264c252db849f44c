//! The counting semaphore both public types are built on.

use std::num::NonZeroUsize;

use weft_sync::{
    Deadline, Mutex, SpinWait, WaitList,
    atomic::{AtomicUsize, Ordering},
    park::{Notifier, Parked, Waiter},
};

/// Bit 0 of the state word: at least one waiter is queued in the wait list, so a release must
/// take the lock and wake one.
const PARKED: usize = 1;
/// One permit in the state word (the count lives in the bits above [`PARKED`]).
const ONE: usize = 2;

/// The largest number of permits a semaphore can hold: `usize::MAX / 2`.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 1;

/// The token of a plain wake-up: "permits were released, try again".
const WAKE: NonZeroUsize = NonZeroUsize::MIN;
/// The token of a hand-off: "a permit was handed to you; it is yours".
const HANDOFF: NonZeroUsize = NonZeroUsize::new(2).unwrap();

/// The least time between two hand-offs on one semaphore: a waiter that lost its permit to a
/// barging thread gets the next permit handed to it directly once this long has passed since
/// the previous hand-off (see `Waiters::hand_off`). Hand-offs leave a permit idle until its
/// waiter runs, so they are rationed: often enough that nobody starves, rarely enough that
/// throughput does not suffer.
const FAIR_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1);

/// What the wait list remembers of each waiter.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The waiter was woken before and lost the freed permit to a barging thread; it is queued
    /// at the front and is due a hand-off.
    bumped: bool,
}

/// What the lock protects.
#[derive(Debug)]
struct Waiters {
    list: WaitList<Entry>,
    /// When the next hand-off may happen (the fairness throttle).
    next_handoff: Deadline,
}

impl Waiters {
    /// Whether to hand a permit straight to the waiter `entry` rather than let threads race
    /// for it.
    fn hand_off(&mut self, entry: Entry) -> bool {
        if !entry.bumped {
            return false;
        }
        // The throttle reads weft-sync's clock: under loom a logical one, so the models explore
        // both "hand off now" and "not yet" for a bumped waiter.
        if !self.next_handoff.has_passed() {
            return false;
        }
        self.next_handoff = Deadline::after(FAIR_INTERVAL);
        true
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

/// Wake-ups to deliver after the lock is released.
struct Wakes {
    first: Option<(Notifier, bool)>,
    rest: Vec<(Notifier, bool)>,
}

impl Wakes {
    fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn push(&mut self, n: Notifier, handoff: bool) {
        if self.first.is_none() {
            self.first = Some((n, handoff));
        } else {
            self.rest.push((n, handoff));
        }
    }

    fn deliver(self) {
        for (n, handoff) in self.first.into_iter().chain(self.rest) {
            n.notify_with(if handoff { HANDOFF } else { WAKE });
        }
    }
}

/// A counting semaphore: the permits and a "someone is parked" bit in one atomic word, and a
/// FIFO wait list under a lock.
///
/// The word is `permits << 1 | PARKED`. Transitions:
///
/// * acquire (any thread, lock-free): `count → count - 1` when `count > 0` (Acquire).
/// * release with `PARKED` clear (lock-free): `count → count + n` (Release).
/// * a waiter, under the lock: `0 → 0 | PARKED` only when `count == 0`, then it queues itself.
/// * release with `PARKED` set, under the lock: pops up to `n` waiters, hands some permits
///   over directly (fairness), adds the rest to the count, and clears `PARKED` if the list is
///   now empty.
/// * a timed-out waiter removing itself, under the lock: clears `PARKED` if it was the last.
///
/// So `PARKED` is set and cleared only under the lock, and set only with the list about to
/// be non-empty: a release that sees it clear may add its permits without the lock, because
/// any waiter that registers afterwards sees those permits when its CAS fails.
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
                list: WaitList::new(),
                next_handoff: Deadline::after(std::time::Duration::ZERO),
            }),
        }
    }

    /// The permits in the count right now.
    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.state.load(Ordering::Relaxed) >> 1
    }

    /// Takes a permit if one is free; never blocks.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s >= ONE {
            // Acquire: pairs with the Release of the release that put this permit there.
            match self
                .state
                .compare_exchange_weak(s, s - ONE, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
        false
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

        let waiter = Waiter::new();
        let mut bumped = false;
        loop {
            {
                let mut w = self.waiters.lock();
                let mut s = self.state.load(Ordering::Relaxed);
                loop {
                    if s >= ONE {
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
                        break;
                    } else {
                        // Relaxed: a release that reads this bit takes the lock next, which
                        // orders it after our push below. The CAS fails if a lock-free
                        // release added permits meanwhile, and then we take one instead.
                        match self.state.compare_exchange_weak(
                            s,
                            s | PARKED,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        ) {
                            Ok(_) => break,
                            Err(actual) => s = actual,
                        }
                    }
                }
                // A waiter that was woken and lost its permit goes back to the front: it is
                // not overtaken by the waiters that came after it.
                if bumped {
                    w.list.push_front(&waiter, Entry { bumped });
                } else {
                    w.list.push_back(&waiter, Entry { bumped });
                }
            }

            let timed_out = match waiter.wait(deadline) {
                Parked::Woken => false,
                Parked::TimedOut => {
                    let mut w = self.waiters.lock();
                    if w.list.remove(&waiter).is_some() {
                        if w.list.is_empty() {
                            // Relaxed: only lock holders touch this bit.
                            self.state.fetch_and(!PARKED, Ordering::Relaxed);
                        }
                        drop(w);
                        // As CPython, look once more after the wait: a permit that is free
                        // now is taken even though the deadline has passed.
                        return self.try_acquire();
                    }
                    // A release took our entry at the moment we timed out: its wake-up (or
                    // hand-off) is on its way and is ours. Collect it and honour it below.
                    drop(w);
                    let _ = waiter.wait_notified();
                    true
                }
            };

            // Acquire (inside `token`): pairs with the Release of `notify_with`, so a handed-off
            // permit comes with the releaser's writes.
            if waiter.token() == Some(HANDOFF) {
                return true;
            }
            // A plain wake-up: permits were added to the count; race for one.
            if self.try_acquire() {
                return true;
            }
            // A barging thread took it. The wake-up was not lost: that thread's release will
            // see PARKED (if anyone still waits) and wake again.
            if timed_out || deadline.has_passed() {
                return false;
            }
            waiter.rearm();
            bumped = true;
        }
    }

    /// Adds `n` permits, up to `max` in the count, and wakes up to `n` waiters.
    ///
    /// With [`Overflow::Fail`], a release that would take the count past `max` returns
    /// `Err(())` and changes nothing; with [`Overflow::Clamp`] it adds only up to `max`.
    #[inline]
    pub(crate) fn release(&self, n: usize, max: usize, overflow: Overflow) -> Result<(), ()> {
        let mut s = self.state.load(Ordering::Relaxed);
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
                Err(actual) => s = actual,
            }
        }
    }

    #[cold]
    fn release_slow(&self, n: usize, max: usize, overflow: Overflow) -> Result<(), ()> {
        let mut wakes = Wakes::new();
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
            while wakes.len() < add {
                let Some((notifier, entry)) = w.list.pop_front() else {
                    break;
                };
                let handoff = w.hand_off(entry);
                handed += usize::from(handoff);
                wakes.push(notifier, handoff);
            }
            let clear = if w.list.is_empty() { PARKED } else { 0 };
            loop {
                // Release: as in `release`. The handed-off permits never enter the count:
                // they go straight to their waiters (published by `notify_with`).
                let new = (s + (add - handed) * ONE) & !clear;
                match self
                    .state
                    .compare_exchange_weak(s, new, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(actual) => s = actual,
                }
            }
        }
        // Wake after unlocking, so the woken threads do not block on our lock.
        wakes.deliver();
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
