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
/// Under `weft_loom` time does not exist: a finite deadline only records that the wait is
/// timed, and [`crate::park::Waiter::wait`] turns it into "yield once, then time out".
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
    #[cfg(weft_loom)]
    finite: bool,
}

impl Deadline {
    /// A deadline `timeout` from now; [`Deadline::never`] if that is beyond the clock's range.
    #[must_use]
    pub fn after(timeout: Duration) -> Self {
        #[cfg(not(weft_loom))]
        {
            Self {
                at: Instant::now().checked_add(timeout),
            }
        }
        #[cfg(weft_loom)]
        {
            // A timeout too large for the clock is "forever" on both sides.
            let finite = std::time::Instant::now().checked_add(timeout).is_some();
            Self { finite }
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
            Self { finite: false }
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
            !self.finite
        }
    }

    /// Whether the deadline is in the past. Always `false` for [`Deadline::never`], and always
    /// `false` under loom (where a timed wait decides the timeout by itself).
    #[must_use]
    pub fn has_passed(&self) -> bool {
        #[cfg(not(weft_loom))]
        {
            self.at.is_some_and(|at| Instant::now() >= at)
        }
        #[cfg(weft_loom)]
        {
            false
        }
    }

    /// Time left: `None` for [`Deadline::never`], zero once passed (and always zero for a finite
    /// deadline under loom).
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        #[cfg(not(weft_loom))]
        {
            self.at
                .map(|at| at.saturating_duration_since(Instant::now()))
        }
        #[cfg(weft_loom)]
        {
            self.finite.then_some(Duration::ZERO)
        }
    }
}
