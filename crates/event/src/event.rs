use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use weft_sync::{
    Deadline, Mutex, SpinWait,
    atomic::{AtomicU8, Ordering},
    waitq::{Left, Ticket, Token, WaitQueue},
};

/// The flag is clear and nobody is parked: `set` is a single compare-exchange.
const UNSET: u8 = 0;
/// The flag is set: `wait` returns at once after a single load.
const SET: u8 = 1;
/// The flag is clear and at least one waiter is (or is about to be) parked in the wait list:
/// `set` must take the lock and wake them.
const PARKED: u8 = 2;

/// A flag that threads and async tasks can wait for: Python's `threading.Event` (and
/// `asyncio.Event`, on the same object).
///
/// An event starts clear. [`set`](Event::set) raises the flag and wakes every thread blocked in
/// [`wait`](Event::wait) or [`wait_timeout`](Event::wait_timeout) and every task awaiting
/// [`wait_async`](Event::wait_async); while the flag stays up, waits return at once.
/// [`clear`](Event::clear) lowers it again.
///
/// # Semantics
///
/// * Every thread waiting at the moment of a `set` is released and reports success, even if the
///   flag is cleared again before it gets to run (CPython's behaviour since gh-57711: `set()`
///   immediately followed by `clear()` still releases the waiters).
/// * A wait that started after a `set` and its `clear` both completed is not released by them.
/// * A timed wait never returns before its timeout has elapsed, and a wait that timed out never
///   consumes a wake-up meant for others: each waiter has its own notification.
/// * Waits do not wake spuriously.
/// * `set` and a successful wait synchronize: everything written before `set` is visible to a
///   thread once its wait (or an [`is_set`](Event::is_set) that returns `true`) has returned.
///
/// # Cost
///
/// [`is_set`](Event::is_set) is one atomic load; [`set`](Event::set) with nobody waiting and
/// [`clear`](Event::clear) are one compare-exchange each, with no lock and no system call.
/// Blocking goes through a short bounded spin, then parks in weft-sync's waiting core (one FIFO
/// of threads and tasks under an internal lock; no allocation in the common case, as the core
/// reuses a per-thread slot); a task registers its waker in the same queue.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weft_event::Event;
///
/// let ready = Arc::new(Event::new());
/// let r = Arc::clone(&ready);
/// let t = std::thread::spawn(move || {
///     r.wait(); // Python: ready.wait()
///     "go"
/// });
/// ready.set(); // Python: ready.set()
/// assert_eq!(t.join().unwrap(), "go");
/// ```
pub struct Event {
    /// The state machine: [`UNSET`] → ([`set`](Event::set) fast path, Release) → [`SET`];
    /// [`SET`] → ([`clear`](Event::clear)) → [`UNSET`]; [`UNSET`] → (a waiter, under the lock)
    /// → [`PARKED`]; [`PARKED`] → (`set` under the lock, draining the list) → [`SET`], or →
    /// (the last timed-out waiter leaving, under the lock) → [`UNSET`].
    ///
    /// Only lock holders move the word out of [`PARKED`], and only lock holders move it into
    /// it; the lock-free transitions are `UNSET → SET` and `SET → UNSET`.
    state: AtomicU8,
    /// The waiting threads and tasks, oldest first.
    waiters: Mutex<WaitQueue>,
}

impl Event {
    /// A new event, clear.
    ///
    /// Python: `threading.Event()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = weft_event::Event::new();
    /// assert!(!ev.is_set());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: AtomicU8::new(UNSET),
            waiters: Mutex::new(WaitQueue::new()),
        }
    }

    /// Whether the flag is set.
    ///
    /// One atomic load (Acquire: when it returns `true`, everything written before the
    /// [`set`](Event::set) that raised the flag is visible).
    ///
    /// Python: `event.is_set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = weft_event::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with the Release of `set` (and of the RMWs of later `set`s).
        self.state.load(Ordering::Acquire) == SET
    }

    /// Sets the flag and wakes every thread waiting for it.
    ///
    /// Threads that call [`wait`](Event::wait) while the flag is set return at once. Setting a
    /// set event changes nothing (but still publishes the caller's writes to later waiters).
    /// With nobody waiting this takes no lock and makes no system call.
    ///
    /// Python: `event.set()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = weft_event::Event::new();
    /// ev.set();
    /// ev.wait(); // returns at once
    /// ```
    #[inline]
    pub fn set(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s == PARKED {
                return self.set_slow();
            }
            // Release: pairs with the Acquire loads in `is_set` and `wait`. The write happens
            // even when the flag is already set, so that a waiter reading it later also sees
            // what this caller wrote before `set`.
            match self
                .state
                .compare_exchange_weak(s, SET, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    #[cold]
    fn set_slow(&self) {
        let mut waiters = self.waiters.lock();
        // Under the lock the word is PARKED, or (if another thread got here first) SET or
        // UNSET; whichever, the flag goes up now. Waiters register under this lock, so the
        // queue holds exactly the waiters that registered before this point: those are the
        // ones this `set` releases, each with its own token, delivered here under the lock.
        // AcqRel: Release as in `set`; Acquire is not needed by this thread, but it keeps the
        // RMW chain uniform.
        self.state.swap(SET, Ordering::AcqRel);
        // The oldest waiter first, on its own: with one waiter (a ping-pong, a task waiting for
        // a signal) its wake-up goes straight from the queue to the waker, without the
        // `Wakeups` collection that waking several needs (docs/event.md, issue 12).
        let Some((first, ())) = waiters.wake_one(Token::RETRY) else {
            return;
        };
        let rest = if waiters.is_empty() {
            None
        } else {
            Some(waiters.wake_all(Token::RETRY))
        };
        drop(waiters);
        // Wake after unlocking, so a woken waiter never blocks on our lock; oldest first.
        first.wake();
        if let Some(rest) = rest {
            rest.wake();
        }
    }

    /// Clears the flag: later waits block until the next [`set`](Event::set).
    ///
    /// Threads already released by a `set` still return successfully.
    ///
    /// Python: `event.clear()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ev = weft_event::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    #[inline]
    pub fn clear(&self) {
        // Only SET goes down: UNSET is already clear, and PARKED (clear, with waiters) must
        // keep its waiters' mark. Relaxed: clearing publishes nothing.
        let _ = self
            .state
            .compare_exchange(SET, UNSET, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Blocks until the flag is set.
    ///
    /// Returns at once if it is already set. Returns once a [`set`](Event::set) happens, even if
    /// the flag is cleared again before this thread runs. No spurious wake-ups.
    ///
    /// Python: `event.wait()` (which then returns `True`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft_event::Event;
    ///
    /// let done = Arc::new(Event::new());
    /// let d = Arc::clone(&done);
    /// std::thread::spawn(move || d.set());
    /// done.wait();
    /// assert!(done.is_set());
    /// ```
    #[inline]
    pub fn wait(&self) {
        if !self.is_set() {
            let released = self.wait_slow(Deadline::never());
            debug_assert!(released);
        }
    }

    /// Blocks until the flag is set or `timeout` has elapsed; `true` if it was set.
    ///
    /// Returns `true` at once if the flag is already set, and `true` when a
    /// [`set`](Event::set) releases this thread, even if the flag was cleared again since.
    /// Returns `false` only once `timeout` has fully elapsed (never early).
    /// [`Duration::MAX`], or any timeout too large for the clock, waits forever. A zero timeout
    /// only looks at the flag.
    ///
    /// Python: `event.wait(timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_event::Event;
    ///
    /// let ev = Event::new();
    /// assert!(!ev.wait_timeout(Duration::from_millis(10)));
    /// ev.set();
    /// assert!(ev.wait_timeout(Duration::from_millis(10)));
    /// ```
    #[must_use = "`false` means the timeout elapsed and the flag was not set"]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        if timeout.is_zero() {
            return false;
        }
        self.wait_slow(Deadline::after(timeout))
    }

    /// How many threads and tasks are queued (for tests that must act only once a waiter has
    /// queued: a sleep cannot promise that on a loaded machine).
    #[cfg(all(test, not(weft_loom)))]
    pub(crate) fn queued(&self) -> usize {
        self.waiters.lock().len()
    }

    /// Spins briefly, then parks until released by a `set` or until `deadline`.
    #[cold]
    fn wait_slow(&self, deadline: Deadline) -> bool {
        // A short bounded spin: a `set` arriving within a few microseconds (typical of a
        // ping-pong, or of a signal that is already on its way) costs no park and no unpark.
        // Under loom the same spin runs with loom's budget (one yield).
        let mut spin = SpinWait::new();
        while spin.spin() {
            if self.is_set() {
                return true;
            }
            if deadline.has_passed() {
                return false;
            }
        }

        let ticket = {
            let mut waiters = self.waiters.lock();
            if self.mark_parked() {
                return true;
            }
            waiters.register_thread(())
        };

        match ticket.park(deadline) {
            // A `set` delivered our token. Its Release/Acquire pair publishes everything
            // written before that `set`.
            Some(_) => true,
            None => self.leave(&ticket),
        }
    }

    /// Under the waiters' lock: marks the word [`PARKED`] before a waiter registers, or
    /// returns `true` if the flag is already up (then the caller does not register).
    fn mark_parked(&self) -> bool {
        // Under the lock only `set`'s fast path (UNSET → SET) and `clear` (SET → UNSET) move
        // the word, so a single CAS settles the race with a lock-free `set`. Acquire on the
        // SET outcome: pairs with `set`'s Release.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            match s {
                SET => return true,
                PARKED => return false,
                // Relaxed on success: `set` sees PARKED and then takes the lock, which orders
                // it after our registration.
                _ => match self.state.compare_exchange(
                    UNSET,
                    PARKED,
                    Ordering::Relaxed,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return false,
                    Err(actual) => s = actual,
                },
            }
        }
    }

    /// A waiter stops waiting (its deadline passed, or its future was dropped): `true` if a
    /// `set` had already released it.
    fn leave(&self, ticket: &Ticket) -> bool {
        let mut waiters = self.waiters.lock();
        match waiters.leave(ticket) {
            Left::Removed(()) => {
                // Still queued: no `set` ran since we registered (a `set` empties the queue
                // under this lock). The last waiter to leave restores the lock-free `set`.
                if waiters.is_empty() {
                    let _ = self.state.compare_exchange(
                        PARKED,
                        UNSET,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
                false
            }
            // A `set` released us at the very moment we gave up: the token was delivered
            // under the lock and is ours alone (every waiter gets its own), so there is
            // nothing to pass on. Report the set.
            Left::Received(_) => true,
        }
    }

    /// Waits, as an async task, until the flag is set.
    ///
    /// Resolves at once if the flag is already set; otherwise the task waits in the same
    /// queue as blocked threads, and a [`set`](Event::set) completes it even if the flag is
    /// cleared again before the task is next polled (as [`wait`](Event::wait), CPython
    /// gh-57711). Runtime-agnostic (plain `Waker`s); for a timeout, wrap it in the runtime's
    /// (`tokio::time::timeout`).
    ///
    /// Cancellation is safe at any point: dropping the future before or after it was woken
    /// leaves the event as if the task had never waited.
    ///
    /// Python: `await asyncio_event.wait()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft_event::Event;
    ///
    /// let ev = Arc::new(Event::new());
    /// let e = Arc::clone(&ev);
    /// let setter = std::thread::spawn(move || e.set());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(ev.wait_async());
    /// assert!(ev.is_set());
    /// setter.join().unwrap();
    /// ```
    pub fn wait_async(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            ticket: None,
        }
    }
}

/// The future of [`Event::wait_async`]: resolves once the event is set.
///
/// `Send` and `Sync`; its `poll` never blocks. Dropping it is always safe.
#[must_use = "futures do nothing unless polled"]
pub struct EventWait<'a> {
    event: &'a Event,
    /// Our entry in the event's queue, once registered.
    ticket: Option<Ticket>,
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("waiting", &self.ticket.is_some())
            .finish_non_exhaustive()
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(ticket) = &self.ticket {
            // Our own token, not the flag: a `set` followed by a `clear` still releases us.
            if ticket.token().is_none() {
                let mut waiters = self.event.waiters.lock();
                if waiters.update_waker(ticket, cx.waker()) {
                    return Poll::Pending;
                }
                // No longer queued: a `set` delivered the token under this lock.
            }
            self.ticket = None;
            return Poll::Ready(());
        }
        if self.event.is_set() {
            return Poll::Ready(());
        }
        let mut waiters = self.event.waiters.lock();
        if self.event.mark_parked() {
            return Poll::Ready(());
        }
        let ticket = waiters.register_task(cx.waker(), ());
        drop(waiters);
        self.ticket = Some(ticket);
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            // Removed (the last leaver restores the lock-free `set`), or released by a `set`
            // whose token was ours alone: nothing to pass on either way.
            let _ = self.event.leave(&ticket);
        }
    }
}

impl Default for Event {
    /// A new event, clear (as [`Event::new`]).
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use std::{
        future::Future,
        sync::Arc,
        task::{Context, Waker},
        thread,
        time::Duration,
    };

    use super::Event;

    // The tests below need waiters to have queued before the `set` they test, and see the queue
    // to know it: a sleep long enough on a quiet machine is not on a loaded one (under Miri
    // beside other checks, a thread can take longer than any sleep a test would afford to reach
    // its wait).

    /// A timeout that no correct run reaches: a waiter given it is released by a `set`.
    const LONG: Duration = Duration::from_secs(120);

    /// Waits until `n` threads and tasks are queued on `ev`.
    fn until_queued(ev: &Event, n: usize) {
        while ev.queued() < n {
            thread::yield_now();
        }
    }

    #[test]
    fn set_then_clear_still_releases_waiters() {
        // CPython gh-57711 (test_set_and_clear): waiters blocked at the time of `set` return
        // true even when the event is cleared before they run.
        let ev = Arc::new(Event::new());
        let threads: Vec<_> = (0..5)
            .map(|_| {
                let ev = Arc::clone(&ev);
                thread::spawn(move || ev.wait_timeout(LONG))
            })
            .collect();
        // All five are blocked: a waiter that had not reached its wait would find the event
        // cleared again and rightly time out.
        until_queued(&ev, 5);
        ev.set();
        ev.clear();
        for t in threads {
            assert!(t.join().unwrap());
        }
        assert!(!ev.is_set());
    }

    #[test]
    fn mixed_timeouts_and_set() {
        // Short timed waiters time out while long ones are queued; the set then releases the
        // long ones (a short waiter leaving must not take down the mark that sends `set` to the
        // queue while others still wait in it).
        let ev = Arc::new(Event::new());
        let long: Vec<_> = (0..3)
            .map(|_| {
                let ev = Arc::clone(&ev);
                thread::spawn(move || ev.wait_timeout(LONG))
            })
            .collect();
        until_queued(&ev, 3);
        let short: Vec<_> = (0..3)
            .map(|_| {
                let ev = Arc::clone(&ev);
                thread::spawn(move || ev.wait_timeout(Duration::from_millis(20)))
            })
            .collect();
        // Nobody sets the event until every short waiter has returned, so each times out
        // however late it started or woke.
        for (i, t) in short.into_iter().enumerate() {
            assert!(!t.join().unwrap(), "short waiter {i}");
        }
        ev.set();
        for (i, t) in long.into_iter().enumerate() {
            assert!(t.join().unwrap(), "long waiter {i}");
        }
    }

    #[test]
    fn a_future_dropped_while_a_thread_waits_keeps_the_parked_mark() {
        // A future queued behind a parked thread leaves; the thread still waits, so the mark
        // that sends `set` to the queue must stay, or the set below would miss the thread.
        let ev = Arc::new(Event::new());
        let e = Arc::clone(&ev);
        let thread = thread::spawn(move || e.wait());
        until_queued(&ev, 1);
        let mut fut = Box::pin(ev.wait_async());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(ev.queued(), 2);
        drop(fut); // leaves while the thread is queued
        assert_eq!(ev.queued(), 1);
        ev.set();
        thread.join().unwrap();
    }
}
