//! Where a woken worker runs: a placement hint for the kernel (Linux only).
//!
//! When a submit wakes a second parked worker while the first is just starting, the kernel may
//! put the second on the CPU the first runs on (its previous CPU, or one that looked idle at the
//! first wake-up), and the idle CPU does not pull it for milliseconds (docs/pool.md, "Issue 12,
//! third round"). So such a wake-up is left to the first worker (see `Shared::try_push`), which
//! makes it once it runs, and first pins the worker it wakes to one CPU that no landed worker
//! is known to be on and that is not its own, preferring the submitter's (a thread that submits
//! a burst usually waits for the results next); the worker woken, once it runs, restores the
//! CPU mask it started with. The hint changes where a thread runs, never what the pool
//! decides: under loom and Miri, and off Linux, every function here does nothing.
//!
//! Each worker has a [`Seat`] in the pool's state, read and written under the pool's lock: its
//! thread id, the CPU it landed on after its last wake-up (cleared when it parks), and whether
//! a waker pinned it.

#[cfg(all(target_os = "linux", not(weft_loom), not(miri)))]
mod imp {
    use std::mem;

    /// One worker's placement record, kept under the pool's lock.
    #[derive(Default)]
    pub(crate) struct Seat {
        /// The worker's kernel thread id (0 until it started).
        tid: libc::pid_t,
        /// The CPU it landed on after its last wake-up; `None` while it is parked.
        cpu: Option<usize>,
        /// Set by a waker that pinned it; the worker takes it back when it lands.
        pinned: bool,
    }

    /// The CPU mask a worker started with, kept by its own thread to restore after a pin.
    pub(crate) struct Home(Option<libc::cpu_set_t>);

    impl Seat {
        /// On the worker's thread, when it starts: records its id and reads its mask.
        pub(crate) fn take(&mut self) -> Home {
            // SAFETY: `gettid` has no preconditions.
            self.tid = unsafe { libc::gettid() };
            Home(mask_of(0))
        }

        /// On the worker's thread, before it parks: it no longer holds a CPU.
        pub(crate) fn vacate(&mut self) {
            self.cpu = None;
        }

        /// On the worker's thread, back from a submit's wake-up: records where it runs, and
        /// restores its own mask if a waker pinned it.
        pub(crate) fn land(&mut self, home: &Home) {
            if mem::take(&mut self.pinned)
                && let Some(set) = &home.0
            {
                // SAFETY: `set` is a valid mask of the size passed; pid 0 is this thread. A
                // failure leaves the thread on one allowed CPU: slower, never wrong.
                unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), set) };
            }
            self.cpu = current_cpu();
        }
    }

    /// On the waking thread (a worker that just landed), before it delivers the token of
    /// `seats[target]`: pins that worker to a CPU in its mask that no landed worker is on
    /// (the waker's own is one of those), `prefer` (its submitter's) if it qualifies.
    pub(crate) fn pin_away(seats: &mut [Seat], target: usize, prefer: Option<usize>) {
        let Some(pid) = seats.get(target).map(|s| s.tid).filter(|&t| t > 0) else {
            return;
        };
        let Some(allowed) = mask_of(pid) else { return };
        let me = current_cpu();
        let free = |c: usize| {
            // SAFETY: `CPU_ISSET` reads a valid mask, bounds-checked against its size.
            let allowed = unsafe { libc::CPU_ISSET(c, &allowed) };
            allowed && Some(c) != me && !seats.iter().any(|s| s.cpu == Some(c))
        };
        let cpu = match prefer {
            Some(p) if free(p) => p,
            _ => match (0..libc::CPU_SETSIZE as usize).find(|&c| free(c)) {
                Some(c) => c,
                None => return,
            },
        };
        // SAFETY: an all-zero `cpu_set_t` is the empty mask.
        let mut one: libc::cpu_set_t = unsafe { mem::zeroed() };
        // SAFETY: `CPU_SET` writes within the mask, bounds-checked against its size.
        unsafe { libc::CPU_SET(cpu, &mut one) };
        // SAFETY: `one` is a valid mask of the size passed; `pid` is a parked worker of this
        // pool (a worker exits only after a token wakes it, and its token is not out yet).
        if unsafe { libc::sched_setaffinity(pid, mem::size_of::<libc::cpu_set_t>(), &one) } == 0 {
            seats[target].pinned = true;
        }
    }

    /// The CPU the calling thread runs on.
    pub(crate) fn here() -> Option<usize> {
        current_cpu()
    }

    fn mask_of(pid: libc::pid_t) -> Option<libc::cpu_set_t> {
        // SAFETY: an all-zero `cpu_set_t` is a valid (empty) mask, filled in by the call.
        let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
        // SAFETY: `set` is writable and of the size passed.
        let r =
            unsafe { libc::sched_getaffinity(pid, mem::size_of::<libc::cpu_set_t>(), &mut set) };
        (r == 0).then_some(set)
    }

    fn current_cpu() -> Option<usize> {
        // SAFETY: `sched_getcpu` has no preconditions.
        usize::try_from(unsafe { libc::sched_getcpu() }).ok()
    }
}

#[cfg(not(all(target_os = "linux", not(weft_loom), not(miri))))]
mod imp {
    /// One worker's placement record (nothing to record here).
    #[derive(Default)]
    pub(crate) struct Seat;

    /// The CPU mask a worker started with (none here).
    pub(crate) struct Home;

    impl Seat {
        pub(crate) const fn take(&mut self) -> Home {
            Home
        }

        pub(crate) const fn vacate(&mut self) {}

        pub(crate) const fn land(&mut self, _home: &Home) {}
    }

    pub(crate) const fn pin_away(_seats: &mut [Seat], _target: usize, _prefer: Option<usize>) {}

    pub(crate) const fn here() -> Option<usize> {
        None
    }
}

pub(crate) use imp::{Home, Seat, here, pin_away};
