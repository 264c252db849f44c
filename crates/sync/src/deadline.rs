use std::time::Duration;
#[cfg(not(weft_loom))]
use std::time::Instant;

/// A point in time after which a timed wait gives up, or "never".
///
/// [`Deadline::after`] saturates: a duration too large to add to the clock (such as
/// [`Duration::MAX`]) means "wait forever", which is the contract of every `_timeout` method in
/// weft. A deadline is taken once, at the start of a call, so that a wait woken and re-parked
/// several times never waits longer in total than asked, and never returns before it.
///
/// Under `weft_loom` the deadline reads weft's logical [`crate::clock`]: [`Deadline::has_passed`]
/// is explored both ways, and [`crate::waitq::Ticket::park`] with a finite deadline yields once
/// and then times out unless notified (a timed wait may always end by timing out).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft_sync::Deadline;
///
/// assert!(Deadline::after(Duration::MAX).is_never());
/// assert!(!Deadline::after(Duration::from_secs(1)).has_passed());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    #[cfg(not(weft_loom))]
    at: Option<Instant>,
    /// When the wait started and how long it may last; `None` for "never".
    #[cfg(weft_loom)]
    timed: Option<(crate::clock::Instant, Duration)>,
}

impl Deadline {
    /// A deadline `timeout` from now; [`Deadline::never`] if that is beyond the clock's range.
    #[must_use]
    pub fn after(timeout: Duration) -> Self {
        #[cfg(not(weft_loom))]
        {
            Self {
                at: crate::clock::Instant::now().checked_add(timeout),
            }
        }
        #[cfg(weft_loom)]
        {
            // A timeout too large for the clock is "forever" on both sides.
            let finite = std::time::Instant::now().checked_add(timeout).is_some();
            Self {
                timed: finite.then(|| (crate::clock::Instant::now(), timeout)),
            }
        }
    }

    /// No deadline: wait until woken.
    #[must_use]
    pub const fn never() -> Self {
        #[cfg(not(weft_loom))]
        {
            Self { at: None }
        }
        #[cfg(weft_loom)]
        {
            Self { timed: None }
        }
    }

    /// Whether this is [`Deadline::never`].
    #[must_use]
    pub fn is_never(&self) -> bool {
        #[cfg(not(weft_loom))]
        {
            self.at.is_none()
        }
        #[cfg(weft_loom)]
        {
            self.timed.is_none()
        }
    }

    /// Whether the deadline is in the past. Always `false` for [`Deadline::never`]. Under loom
    /// the logical clock decides (see [`crate::clock`]): both answers are explored wherever
    /// another thread acted since the deadline was taken.
    #[must_use]
    pub fn has_passed(&self) -> bool {
        #[cfg(not(weft_loom))]
        {
            self.at.is_some_and(|at| Instant::now() >= at)
        }
        #[cfg(weft_loom)]
        {
            self.timed
                .is_some_and(|(start, timeout)| start.elapsed_at_least(timeout))
        }
    }

    /// Time left: `None` for [`Deadline::never`], zero once passed. Under loom a deadline that
    /// has not passed reports its whole timeout as left (time is logical there).
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        #[cfg(not(weft_loom))]
        {
            self.at
                .map(|at| at.saturating_duration_since(Instant::now()))
        }
        #[cfg(weft_loom)]
        {
            self.timed.map(|(start, timeout)| {
                if start.elapsed_at_least(timeout) {
                    Duration::ZERO
                } else {
                    timeout
                }
            })
        }
    }
}
