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
