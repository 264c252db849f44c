//! Where a worker woken for a task runs: a placement hint for the kernel (Linux only).
//!
//! A worker process sleeps in `read` between tasks and is woken by the dispatcher's write of
//! its next task. The kernel places each such wake-up on its own judgement, and on this
//! project's 2-vCPU test machines it often put two CPU-bound workers on one vCPU for tens of
//! milliseconds while the other idled (docs/process.md, "Issue 12, fourth round"). So, in a
//! pool with more than one worker, the dispatcher, before it sends a task to an idle worker
//! whose tasks are not streaming fast, pins that worker to one CPU of its own mask: the one
//! the fewest workers it placed are busy on (the worker's previous one on a tie, so its cache
//! stays warm). The worker, once it reads the [`wire::KIND_PLACED`](crate::wire::KIND_PLACED)
//! frame that precedes the task, restores the mask it started with: the zygote's, read before
//! the fork, or the one it has after its initializer (a pool with an initializer places a
//! worker only after its first reply, when it has read that mask for sure).
//!
//! The hint changes where a process runs, never what the pool decides: under loom and Miri,
//! and off Linux, `weft_sync::cpu` knows nothing and nothing here pins anything.

use weft_sync::cpu::{self, CpuSet, ThreadId};

/// Where the dispatcher placed one worker, kept in its I/O record.
#[derive(Debug)]
pub(crate) struct Seat {
    /// The CPU the worker was pinned to for the task it runs now; `None` once it replied.
    busy_on: Option<usize>,
    /// The CPU of its latest placement, preferred on a tie.
    last: Option<usize>,
    /// It knows the mask it takes back after a placement: from its birth (the zygote read it
    /// before the fork) when the pool has no initializer, else from its first reply (it reads
    /// it again after the initializer, and a worker pinned before that would take the pin for
    /// its own mask).
    settled: bool,
}

impl Seat {
    /// A new worker's seat; `settled` when the pool has no initializer.
    pub(crate) const fn new(settled: bool) -> Self {
        Self {
            busy_on: None,
            last: None,
            settled,
        }
    }

    /// The worker replied: it no longer keeps that CPU busy, and it may be placed.
    pub(crate) const fn replied(&mut self) {
        self.busy_on = None;
        self.settled = true;
    }

    /// The CPU it is busy on, if the dispatcher placed it.
    pub(crate) const fn busy_on(&self) -> Option<usize> {
        self.busy_on
    }
}

/// The CPU of `allowed` with the fewest busy workers (`load`), `prefer` on a tie, else the
/// lowest; `None` when fewer than two CPUs are allowed (there is nothing to choose).
pub(crate) fn choose(
    allowed: impl Iterator<Item = usize>,
    load: impl Fn(usize) -> usize,
    prefer: Option<usize>,
) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    let mut n = 0;
    for c in allowed {
        n += 1;
        let l = load(c);
        let better = match best {
            None => true,
            Some((b, bl)) => l < bl || (l == bl && Some(c) == prefer && Some(b) != prefer),
        };
        if better {
            best = Some((c, l));
        }
    }
    best.filter(|_| n > 1).map(|(c, _)| c)
}

/// Pins worker `pid` (idle, about to be sent a task) to the CPU [`choose`] picks among its
/// mask, given where the other workers are busy (`others`), and records it in `seat`. `false`
/// when nothing was pinned (the worker may not know its mask yet, one CPU allowed, no CPU
/// information, or the call failed): then no
/// [`wire::KIND_PLACED`](crate::wire::KIND_PLACED) frame is due either.
pub(crate) fn pin(
    seat: &mut Seat,
    pid: ThreadId,
    others: impl Iterator<Item = Option<usize>> + Clone,
) -> bool {
    if !seat.settled {
        return false;
    }
    // A worker's pid is the kernel id of its main thread, the one that runs its loop.
    let Some(allowed) = cpu::mask_of(Some(pid)) else {
        return false;
    };
    let load = |c: usize| others.clone().filter(|&o| o == Some(c)).count();
    let Some(target) = choose(allowed.iter(), load, seat.last) else {
        return false;
    };
    let pinned = CpuSet::one(target).is_some_and(|one| cpu::set_mask(Some(pid), &one));
    if pinned {
        seat.busy_on = Some(target);
        seat.last = Some(target);
    }
    pinned
}

/// The mask a worker started with, kept by the worker to restore once a placement is done.
pub(crate) struct Home(Option<CpuSet>);

impl Home {
    /// Reads the calling thread's mask: in the zygote before it forks a worker, and in the
    /// worker after its initializer.
    pub(crate) fn read() -> Self {
        Self(cpu::mask_of(None))
    }

    /// On the worker, on a [`wire::KIND_PLACED`](crate::wire::KIND_PLACED) frame: it runs on the
    /// CPU chosen for it, and takes back its own mask (a failure leaves it on that one CPU:
    /// slower, never wrong).
    pub(crate) fn restore(&self) {
        if let Some(set) = &self.0 {
            cpu::set_mask(None, set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::choose;

    #[test]
    fn the_least_loaded_cpu_is_chosen_and_a_tie_keeps_the_previous_one() {
        let load = |c: usize| [2, 1, 1, 3][c];
        assert_eq!(choose(0..4, load, None), Some(1));
        assert_eq!(choose(0..4, load, Some(2)), Some(2));
        assert_eq!(
            choose(0..4, load, Some(0)),
            Some(1),
            "no tie: the lighter wins"
        );
        assert_eq!(choose([3, 0].into_iter(), load, None), Some(0));
    }

    #[test]
    fn with_one_cpu_allowed_there_is_nothing_to_choose() {
        assert_eq!(choose([1].into_iter(), |_| 0, None), None);
        assert_eq!(choose(std::iter::empty(), |_| 0, None), None);
    }
}
