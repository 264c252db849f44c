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
//! decides: under loom and Miri, and off Linux, `weft_sync::cpu` knows nothing and every
//! function here does nothing.
//!
//! Each worker has a [`Seat`] in the pool's state, read and written under the pool's lock: its
//! thread id, the CPU it landed on after its last wake-up (cleared when it parks), and whether
//! a waker pinned it.

use weft_sync::cpu::{self, CpuSet, ThreadId};

/// One worker's placement record, kept under the pool's lock.
#[derive(Default)]
pub(crate) struct Seat {
    /// The worker's kernel thread id (`None` until it started, or where there is none).
    tid: Option<ThreadId>,
    /// The CPU it landed on after its last wake-up; `None` while it is parked.
    cpu: Option<usize>,
    /// Set by a waker that pinned it; the worker takes it back when it lands.
    pinned: bool,
}

/// The CPU mask a worker started with, kept by its own thread to restore after a pin.
pub(crate) struct Home(Option<CpuSet>);

impl Seat {
    /// On the worker's thread, when it starts: records its id and reads its mask.
    pub(crate) fn take(&mut self) -> Home {
        self.tid = cpu::thread_id();
        Home(cpu::mask_of(None))
    }

    /// On the worker's thread, before it parks: it no longer holds a CPU.
    pub(crate) const fn vacate(&mut self) {
        self.cpu = None;
    }

    /// On the worker's thread, back from a submit's wake-up: records where it runs, and
    /// restores its own mask if a waker pinned it (a failure leaves it on one allowed CPU:
    /// slower, never wrong).
    pub(crate) fn land(&mut self, home: &Home) {
        if std::mem::take(&mut self.pinned)
            && let Some(set) = &home.0
        {
            cpu::set_mask(None, set);
        }
        self.cpu = cpu::current();
    }
}

/// On the waking thread (a worker that just landed), before it delivers the token of
/// `seats[target]`: pins that worker to a CPU in its mask that no landed worker is on (the
/// waker's own is one of those), `prefer` (its submitter's) if it qualifies.
pub(crate) fn pin_away(seats: &mut [Seat], target: usize, prefer: Option<usize>) {
    let Some(tid) = seats.get(target).and_then(|s| s.tid) else {
        return;
    };
    let Some(allowed) = cpu::mask_of(Some(tid)) else {
        return;
    };
    let me = cpu::current();
    let free =
        |c: usize| allowed.contains(c) && Some(c) != me && !seats.iter().any(|s| s.cpu == Some(c));
    let Some(target_cpu) = prefer
        .filter(|&p| free(p))
        .or_else(|| allowed.iter().find(|&c| free(c)))
    else {
        return;
    };
    // The worker is parked and its token is not out yet, so it cannot run before the pin.
    if let Some(one) = CpuSet::one(target_cpu)
        && cpu::set_mask(Some(tid), &one)
    {
        seats[target].pinned = true;
    }
}

/// The CPU the calling thread runs on.
pub(crate) fn here() -> Option<usize> {
    cpu::current()
}
