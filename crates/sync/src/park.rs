//! The parking primitive every blocking weft type builds on.
//!
//! A blocked call creates a [`Waiter`] for its thread, puts its [`Notifier`] where a waker will
//! find it (usually a [`crate::WaitList`] under the primitive's lock), re-checks its condition,
//! and calls [`Waiter::wait`]. A waker takes the notifier out and calls [`Notifier::notify`].
//!
//! The waiter's state word goes from 0 (waiting) to the notifier's token, once. Parking is
//! `std::thread::park` (a futex on Linux) under `std` and loom's modelled park under
//! `weft_loom`; a spurious return from park is absorbed here, so [`Waiter::wait`] returns
//! [`Parked::Woken`] only after a real [`Notifier::notify`].
//!
//! # Timeouts and the lost wake-up
//!
//! When a timed wait returns [`Parked::TimedOut`], its notifier may have been taken by a waker
//! at that very moment. The primitive must settle the race under its own lock: if it can still
//! remove its entry ([`crate::WaitList::remove`]), the timeout stands; if not, a notification is
//! on its way and the waiter owns it: [`Waiter::wait_notified`] collects it, and the primitive
//! either honours it or passes it on. Never drop it, or another waiter sleeps forever.

use std::num::NonZeroUsize;
#[cfg(weft_loom)]
use std::sync::PoisonError;

use crate::{
    Arc, Deadline,
    atomic::{AtomicUsize, Ordering},
    thread::{self, Thread},
};

/// How a [`Waiter::wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a timed-out waiter must settle the race with its waker"]
pub enum Parked {
    /// A [`Notifier::notify`] arrived.
    Woken,
    /// The deadline passed first (under loom: the wait yielded once and nobody notified it).
    TimedOut,
}

#[derive(Debug)]
struct Inner {
    /// 0 while waiting; the notifier's token once notified. Written once per arming.
    state: AtomicUsize,
    thread: Thread,
    /// Under loom, the waiter sleeps on its own condition variable rather than on the thread's
    /// park token: loom's `unpark` also wakes a thread that is blocked on a loom `Mutex` (which
    /// the real `unpark` never does), and a waiter that timed out may be blocked on its
    /// primitive's lock at the very moment its notifier fires.
    #[cfg(weft_loom)]
    sleep: loom::sync::Mutex<()>,
    #[cfg(weft_loom)]
    wake: loom::sync::Condvar,
}

/// One blocked call's parking spot, tied to the thread that created it.
///
/// `Waiter` is neither `Send` nor `Sync` in spirit: only the creating thread may
/// [`wait`](Waiter::wait) on it (another thread's park would never be woken). It is `!Send` by
/// construction.
#[derive(Debug)]
pub struct Waiter {
    inner: Arc<Inner>,
    _not_send: std::marker::PhantomData<*const ()>,
}

/// The waking end of a [`Waiter`]. It wakes its waiter once, by value.
#[derive(Debug)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl Default for Waiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Waiter {
    /// A waiter for the current thread, not yet notified.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(0),
                thread: thread::current(),
                #[cfg(weft_loom)]
                sleep: loom::sync::Mutex::new(()),
                #[cfg(weft_loom)]
                wake: loom::sync::Condvar::new(),
            }),
            _not_send: std::marker::PhantomData,
        }
    }

    /// A notifier for this waiter, to store where a waker will find it.
    #[must_use]
    pub fn notifier(&self) -> Notifier {
        Notifier {
            inner: self.inner.clone(),
        }
    }

    /// Whether `notifier` wakes this waiter.
    #[must_use]
    pub fn is(&self, notifier: &Notifier) -> bool {
        Arc::ptr_eq(&self.inner, &notifier.inner)
    }

    /// The token a notifier delivered, or `None` while not notified.
    ///
    /// Acquire: pairs with the Release store in [`Notifier::notify_with`], so everything the
    /// waker wrote before notifying is visible once this returns `Some`.
    #[must_use]
    pub fn token(&self) -> Option<NonZeroUsize> {
        NonZeroUsize::new(self.inner.state.load(Ordering::Acquire))
    }

    /// Whether a notification has arrived.
    #[must_use]
    pub fn is_notified(&self) -> bool {
        self.token().is_some()
    }

    /// Parks the thread until notified or until `deadline` passes.
    ///
    /// Returns [`Parked::Woken`] as soon as a notification has arrived (at once if it already
    /// had), and [`Parked::TimedOut`] only once the deadline has passed: never early, whatever
    /// spurious returns the OS park makes. Under loom, a finite deadline yields once and then
    /// times out unless notified.
    pub fn wait(&self, deadline: Deadline) -> Parked {
        loop {
            if self.is_notified() {
                return Parked::Woken;
            }
            #[cfg(not(weft_loom))]
            match deadline.remaining() {
                None => std::thread::park(),
                Some(left) if left.is_zero() => return Parked::TimedOut,
                Some(left) => std::thread::park_timeout(left),
            }
            #[cfg(weft_loom)]
            {
                // Parking takes time: the logical clock moves on (see `crate::clock`).
                crate::clock::advance();
                if deadline.is_never() {
                    // Check under the sleep lock: a notifier stores its token before taking
                    // this lock, so either we see the token here or its notify finds us asleep.
                    let guard = self
                        .inner
                        .sleep
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if !self.is_notified() {
                        drop(
                            self.inner
                                .wake
                                .wait(guard)
                                .unwrap_or_else(PoisonError::into_inner),
                        );
                    }
                } else {
                    loom::thread::yield_now();
                    return if self.is_notified() {
                        Parked::Woken
                    } else {
                        Parked::TimedOut
                    };
                }
            }
        }
    }

    /// Parks until notified, with no deadline, and returns the token.
    ///
    /// For a waiter that timed out but found that a waker had already taken its notifier: the
    /// notification is on its way (the waker may not have stored it yet), and this collects it.
    #[must_use]
    pub fn wait_notified(&self) -> NonZeroUsize {
        loop {
            if let Some(token) = self.token() {
                return token;
            }
            // `wait` with no deadline returns only once a token is stored; the loop only
            // restates that for the type.
            let _ = self.wait(Deadline::never());
        }
    }

    /// Makes the waiter ready to wait again after a notification was collected.
    ///
    /// Only call this when no [`Notifier`] of this waiter is still reachable by a waker: after
    /// the notification arrived, or after removing the notifier from every list.
    pub fn rearm(&self) {
        // Relaxed: the next notify is ordered after this by the lock that publishes the
        // notifier again.
        self.inner.state.store(0, Ordering::Relaxed);
    }
}

impl Notifier {
    /// Wakes the waiter with token 1.
    pub fn notify(self) {
        self.notify_with(NonZeroUsize::MIN);
    }

    /// Wakes the waiter, handing it `token` (a primitive may use it to say *why*: for example
    /// "the lock is handed to you" rather than "try again").
    pub fn notify_with(self, token: NonZeroUsize) {
        // Release: pairs with the Acquire in `Waiter::token`, publishing what the waker wrote.
        self.inner.state.store(token.get(), Ordering::Release);
        // The waiter may have returned already; our Arc keeps its `Thread` alive, and an extra
        // unpark only makes a later park return early, which `wait` absorbs.
        #[cfg(not(weft_loom))]
        self.inner.thread.unpark();
        #[cfg(weft_loom)]
        {
            drop(
                self.inner
                    .sleep
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            self.inner.wake.notify_one();
        }
    }

    /// Whether this notifier wakes a waiter on the current thread.
    #[must_use]
    pub fn is_current_thread(&self) -> bool {
        self.inner.thread.id() == thread::current().id()
    }
}
