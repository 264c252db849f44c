//! The clock every time-based decision in weft goes through.
//!
//! A primitive that decides by time — a lock that hands off to a waiter that has waited long
//! enough, a semaphore that rations its hand-offs, a pool that sizes its batches, a deadline
//! that may already have passed — reads this clock and never `std::time` directly. Built
//! normally, it is `std::time::Instant`. Built with `--cfg weft_loom`, where loom has no time,
//! it is a *logical* clock, so that loom explores the shipped decision both ways:
//!
//! * The clock is one counter per model execution. It advances when a thread reads the time
//!   ([`Instant::now`]) and when a thread parks ([`crate::waitq::Ticket::park`]): parking takes
//!   time, reading it marks a moment.
//! * [`Instant::elapsed_at_least`] answers "has the clock advanced since this instant?" for any
//!   positive duration. It reads the counter with a relaxed load, which may lag behind advances
//!   made by threads it has not synchronised with: wherever another thread parked or read the
//!   time in between, loom explores both "long enough" and "not yet". A zero duration has
//!   always elapsed, on both sides.
//!
//! * [`Instant::elapsed`] gives the advances seen since the instant, one nanosecond each: a
//!   measure that is zero or small, and positive exactly where `elapsed_at_least` could say
//!   "long enough". A decision sized by a measured time (a pool sizing its batches by how long
//!   the last one ran) so takes, under loom, both the "nothing measured" and the "took a while"
//!   branches.
//!
//! So a decision such as "hand the lock to a waiter that has waited 0.5 ms" is modelled as
//! "hand it off, or not, whenever the waiter could have waited a while": every outcome the real
//! clock can produce is explored, and no `cfg(weft_loom)` stand-in replaces the decision.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use weft_sync::clock::Instant;
//!
//! let start = Instant::now();
//! assert!(start.elapsed_at_least(Duration::ZERO));
//! assert!(!start.elapsed_at_least(Duration::from_secs(3600)));
//! ```

use std::time::Duration;

/// A moment on weft's clock: `std::time::Instant`, or a logical stamp under `weft_loom`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instant {
    #[cfg(not(weft_loom))]
    at: std::time::Instant,
    #[cfg(weft_loom)]
    stamp: usize,
}

impl Instant {
    /// Now.
    #[must_use]
    pub fn now() -> Self {
        #[cfg(not(weft_loom))]
        {
            Self {
                at: std::time::Instant::now(),
            }
        }
        #[cfg(weft_loom)]
        {
            Self {
                stamp: logical::advance(),
            }
        }
    }

    /// Whether at least `d` has passed since this instant.
    ///
    /// Under loom: `true` for a zero `d`; otherwise `true` or `false` as the logical clock allows
    /// (see the module docs), never `true` for a duration too large for the real clock.
    #[must_use]
    pub fn elapsed_at_least(&self, d: Duration) -> bool {
        #[cfg(not(weft_loom))]
        {
            self.at.elapsed() >= d
        }
        #[cfg(weft_loom)]
        {
            if d.is_zero() {
                return true;
            }
            if std::time::Instant::now().checked_add(d).is_none() {
                return false;
            }
            logical::read() > self.stamp
        }
    }

    /// The time passed since this instant. Under loom, the logical clock's advances seen since
    /// it, one nanosecond each (see the module docs): zero unless another thread read the time
    /// or parked meanwhile and this one saw it.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        #[cfg(not(weft_loom))]
        {
            self.at.elapsed()
        }
        #[cfg(weft_loom)]
        {
            let ticks = logical::read().saturating_sub(self.stamp);
            Duration::from_nanos(u64::try_from(ticks).unwrap_or(u64::MAX))
        }
    }

    /// This instant plus `d`, or `None` when that is beyond the clock's range ("never").
    #[cfg(not(weft_loom))]
    pub(crate) fn checked_add(self, d: Duration) -> Option<std::time::Instant> {
        self.at.checked_add(d)
    }
}

/// Marks that the current thread spent time (it parks): the logical clock advances.
#[cfg(weft_loom)]
pub(crate) fn advance() {
    logical::advance();
}

#[cfg(weft_loom)]
mod logical {
    use loom::sync::atomic::{AtomicUsize, Ordering};

    loom::lazy_static! {
        /// The logical clock of this model execution (loom resets lazy statics between
        /// executions).
        static ref CLOCK: AtomicUsize = AtomicUsize::new(0);
    }

    /// Advances the clock and returns the new reading. An RMW: it always sees the latest
    /// reading, so a thread's own instants are ordered.
    pub(super) fn advance() -> usize {
        CLOCK.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Reads the clock. Relaxed on purpose: the read may lag behind advances made by threads
    /// it has not synchronised with, which is what lets loom explore both answers of a
    /// time-based decision.
    pub(super) fn read() -> usize {
        CLOCK.load(Ordering::Relaxed)
    }
}
