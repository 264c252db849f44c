/// A short, bounded spin before parking (after parking_lot's `SpinWait`).
///
/// [`SpinWait::spin`] busy-waits a few exponentially growing rounds, then yields the CPU a few
/// times, then says `false`: time to park. On a machine with fewer cores than runnable threads,
/// the yields matter more than the spins. Under loom, it yields once and then gives up, so
/// models explore both "saw the release while spinning" and "parked".
#[derive(Debug)]
pub struct SpinWait {
    counter: u32,
    /// Busy rounds before yielding (every budget is one yield under loom).
    #[cfg_attr(weft_loom, allow(dead_code))]
    busy: u32,
    /// Rounds in all.
    #[cfg_attr(weft_loom, allow(dead_code))]
    total: u32,
}

impl Default for SpinWait {
    fn default() -> Self {
        Self::new()
    }
}

impl SpinWait {
    /// A fresh spinner: 3 busy rounds, then yields, 10 rounds in all (parking_lot's budget).
    #[must_use]
    pub const fn new() -> Self {
        Self::with_limits(3, 10)
    }

    /// A spinner that busy-waits (exponentially longer, up to 64 pauses a round) for `busy`
    /// rounds and yields for the rest, `total` rounds in all. Under loom every budget is the
    /// same: one yield.
    #[must_use]
    pub const fn with_limits(busy: u32, total: u32) -> Self {
        Self {
            counter: 0,
            busy,
            total,
        }
    }

    /// Starts over (after progress was made).
    pub fn reset(&mut self) {
        self.counter = 0;
    }

    /// Whether this spinner spun or yielded at least once since it was made or [`reset`](Self::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut spin = weft_sync::SpinWait::new();
    /// assert!(!spin.spun());
    /// assert!(spin.spin());
    /// assert!(spin.spun());
    /// ```
    #[must_use]
    pub const fn spun(&self) -> bool {
        self.counter > 0
    }

    /// Spins or yields once; `false` once the budget is spent and the caller should park.
    pub fn spin(&mut self) -> bool {
        #[cfg(not(weft_loom))]
        {
            if self.counter >= self.total {
                return false;
            }
            self.counter += 1;
            if self.counter <= self.busy {
                for _ in 0..(1u32 << self.counter.min(6)) {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            true
        }
        #[cfg(weft_loom)]
        {
            if self.counter >= 1 {
                return false;
            }
            self.counter += 1;
            loom::thread::yield_now();
            true
        }
    }

    /// Spins (never yields) once; `false` once the busy rounds are spent. For loops where a
    /// yield would cost more than parking.
    pub fn spin_no_yield(&mut self) -> bool {
        #[cfg(not(weft_loom))]
        {
            if self.counter >= self.busy {
                return false;
            }
            self.counter += 1;
            for _ in 0..(1u32 << self.counter.min(6)) {
                std::hint::spin_loop();
            }
            true
        }
        #[cfg(weft_loom)]
        {
            self.spin()
        }
    }
}

/// A pause after losing a compare-exchange to another thread, before reading the value again
/// (after crossbeam's `Backoff::spin`): 1, 2, 4, 8, then 16 pause instructions a time.
///
/// Two threads on two CPUs that take turns at one atomic in a tight loop (a semaphore acquired
/// and released back to back) otherwise move its cache line between the CPUs on every
/// operation, and each retry after a lost compare-exchange moves it once more. A short pause
/// lets the winner finish a few operations while the line stays in its cache. Never a decision:
/// only a delay before the retry, which under loom is nothing at all (a pause has no effect in
/// the memory model, and a lost compare-exchange means another thread made progress), so the
/// models explore the same steps with and without it.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use weft_sync::Backoff;
///
/// let count = AtomicUsize::new(1);
/// let mut backoff = Backoff::new();
/// let mut seen = count.load(Ordering::Relaxed);
/// while let Err(now) =
///     count.compare_exchange_weak(seen, seen + 1, Ordering::AcqRel, Ordering::Relaxed)
/// {
///     backoff.spin();
///     seen = now;
/// }
/// assert_eq!(count.load(Ordering::Relaxed), 2);
/// ```
#[derive(Debug, Default)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    /// The longest pause: 2^`LIMIT` pause instructions.
    const LIMIT: u32 = 4;

    /// A fresh backoff: the first pause is one pause instruction.
    #[must_use]
    pub const fn new() -> Self {
        Self { step: 0 }
    }

    /// A backoff whose every pause is the longest (16 pause instructions): for a thread that
    /// lost to another which is about to come back to the same atomic (a release that lost to
    /// an acquire looping on the other CPU).
    #[must_use]
    pub const fn starting_long() -> Self {
        Self { step: Self::LIMIT }
    }

    /// Pauses, each time twice as long up to 16 pause instructions (under loom: no step).
    #[inline]
    pub fn spin(&mut self) {
        // Under loom nothing: a pause has no effect in the memory model, and the retry after it
        // needs no yield to make progress (the compare-exchange that beat ours was progress).
        #[cfg(not(weft_loom))]
        for _ in 0..(1u32 << self.step.min(Self::LIMIT)) {
            std::hint::spin_loop();
        }
        self.step = self.step.saturating_add(1);
    }
}
