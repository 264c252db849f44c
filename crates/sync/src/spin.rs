/// A short, bounded spin before parking (after parking_lot's `SpinWait`).
///
/// [`SpinWait::spin`] busy-waits a few exponentially growing rounds, then yields the CPU a few
/// times, then says `false`: time to park. On a machine with fewer cores than runnable threads,
/// the yields matter more than the spins. Under loom, it yields once and then gives up, so
/// models explore both "saw the release while spinning" and "parked".
#[derive(Debug, Default)]
pub struct SpinWait {
    counter: u32,
}

impl SpinWait {
    /// A fresh spinner.
    #[must_use]
    pub const fn new() -> Self {
        Self { counter: 0 }
    }

    /// Starts over (after progress was made).
    pub fn reset(&mut self) {
        self.counter = 0;
    }

    /// Spins or yields once; `false` once the budget is spent and the caller should park.
    pub fn spin(&mut self) -> bool {
        #[cfg(not(weft_loom))]
        {
            if self.counter >= 10 {
                return false;
            }
            self.counter += 1;
            if self.counter <= 3 {
                for _ in 0..(1u32 << self.counter) {
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

    /// Spins (never yields) once; `false` once the spin budget is spent. For loops where a
    /// yield would cost more than parking.
    pub fn spin_no_yield(&mut self) -> bool {
        #[cfg(not(weft_loom))]
        {
            if self.counter >= 3 {
                return false;
            }
            self.counter += 1;
            for _ in 0..(1u32 << self.counter) {
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
