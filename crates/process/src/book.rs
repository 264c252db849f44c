//! The pool's bookkeeping: which worker holds which task, which tasks wait, which workers are
//! owed a replacement. A plain type, no I/O: the dispatcher and the submitters drive it under
//! one lock, and `tests/loom.rs` drives it over a mocked transport (it includes this very file),
//! so the invariants that matter (every task is handed out, completed or failed exactly once;
//! one replacement per death) are model-checked apart from fork and sockets.

use std::collections::VecDeque;

/// A queued task, as the book sees it.
pub(crate) trait Job {
    /// Marks the task running (Python's `set_running_or_notify_cancel`); `false` if it was
    /// cancelled, and then it is dropped instead of dispatched.
    fn start(&mut self) -> bool;
}

/// How many initializers in a row may fail before the pool gives up and breaks.
pub(crate) const MAX_INIT_FAILURES: u32 = 3;

/// Where the pool is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting work.
    Running,
    /// `shutdown` was called: no new work; queued work still runs unless cancelled.
    Shutdown,
    /// Broken (the zygote died, a fork failed, initializers keep failing): nothing runs again.
    Broken(String),
}

#[derive(Debug)]
enum Slot<J> {
    /// No worker.
    Free,
    /// A spawn was requested from the zygote; no answer yet.
    Spawning,
    /// Alive, waiting for work.
    Idle,
    /// Alive, running this task.
    Busy(J),
    /// Alive or dying, never to get work again; its replacement is already accounted for.
    Retiring,
}

/// The bookkeeping state machine. Worker slots are indexed by a token that the dispatcher
/// passes to the zygote with each spawn request.
#[derive(Debug)]
pub(crate) struct Book<J> {
    queue: VecDeque<J>,
    slots: Vec<Slot<J>>,
    done: Vec<u64>,
    idle: Vec<usize>,
    busy: usize,
    owed: usize,
    phase: Phase,
    max_tasks: Option<u64>,
    init_failures: u32,
    /// The dispatcher is (about to be) asleep in `poll` and must be woken for new work.
    pub(crate) parked: bool,
    /// A signal `kill_workers` / `terminate_workers` asked to send to every worker.
    pub(crate) signal: Option<i32>,
}

impl<J: Job> Book<J> {
    /// A book for `max_workers` workers (all owed: the dispatcher spawns them first), each
    /// retired after `max_tasks` tasks if set.
    pub(crate) fn new(max_workers: usize, max_tasks: Option<u64>) -> Self {
        Self {
            queue: VecDeque::new(),
            slots: Vec::new(),
            done: Vec::new(),
            idle: Vec::new(),
            busy: 0,
            owed: max_workers,
            phase: Phase::Running,
            max_tasks,
            init_failures: 0,
            parked: false,
            signal: None,
        }
    }

    /// The current phase.
    pub(crate) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Queues `job`; `Err(job)` after shutdown or once broken. `Ok(true)` when the dispatcher
    /// is parked and has an idle worker: the caller must wake it.
    pub(crate) fn submit(&mut self, job: J) -> Result<bool, J> {
        if self.phase != Phase::Running {
            return Err(job);
        }
        self.queue.push_back(job);
        let wake = self.parked && !self.idle.is_empty();
        if wake {
            self.parked = false;
        }
        Ok(wake)
    }

    fn should_replace(&self) -> bool {
        match self.phase {
            Phase::Running => true,
            Phase::Shutdown => !self.queue.is_empty(),
            Phase::Broken(_) => false,
        }
    }

    /// Takes the spawn requests owed, each with the token of its new slot.
    pub(crate) fn take_spawns(&mut self) -> Vec<usize> {
        if !self.should_replace() {
            self.owed = 0;
        }
        let mut tokens = Vec::with_capacity(self.owed);
        while self.owed > 0 {
            self.owed -= 1;
            let w = match self.slots.iter().position(|s| matches!(s, Slot::Free)) {
                Some(w) => w,
                None => {
                    self.slots.push(Slot::Free);
                    self.done.push(0);
                    self.slots.len() - 1
                }
            };
            self.slots[w] = Slot::Spawning;
            self.done[w] = 0;
            tokens.push(w);
        }
        tokens
    }

    /// The zygote forked the worker for `w`. `false` if that slot no longer wants one (the
    /// pool broke meanwhile): the caller closes the new worker's socket and it exits.
    pub(crate) fn spawned(&mut self, w: usize) -> bool {
        match self.slots.get(w) {
            Some(Slot::Spawning) if !matches!(self.phase, Phase::Broken(_)) => {
                self.slots[w] = Slot::Idle;
                self.idle.push(w);
                true
            }
            Some(Slot::Spawning) => {
                self.slots[w] = Slot::Retiring;
                false
            }
            _ => false,
        }
    }

    /// Hands the next task to an idle worker: `(worker, task)`, the task now held by the
    /// worker. Cancelled tasks met on the way are dropped.
    pub(crate) fn next(&mut self) -> Option<(usize, &mut J)> {
        while let Some(&w) = self.idle.last() {
            let mut job = self.queue.pop_front()?;
            if !job.start() {
                continue;
            }
            self.idle.pop();
            self.busy += 1;
            self.slots[w] = Slot::Busy(job);
            let Slot::Busy(job) = &mut self.slots[w] else {
                unreachable!()
            };
            return Some((w, job));
        }
        None
    }

    /// Worker `w` answered its task: the task (to complete), and whether the worker retires
    /// now (`max_tasks_per_child`): the caller closes its socket; its replacement is owed.
    /// `None` when `w` held no task (an unexpected frame: the caller replaces the worker).
    pub(crate) fn finished(&mut self, w: usize) -> Option<(J, bool)> {
        if !matches!(self.slots.get(w), Some(Slot::Busy(_))) {
            return None;
        }
        let Slot::Busy(job) = std::mem::replace(&mut self.slots[w], Slot::Idle) else {
            unreachable!()
        };
        self.busy -= 1;
        self.init_failures = 0;
        self.done[w] += 1;
        if self.max_tasks.is_some_and(|m| self.done[w] >= m) {
            self.slots[w] = Slot::Retiring;
            if self.should_replace() {
                self.owed += 1;
            }
            Some((job, true))
        } else {
            self.idle.push(w);
            Some((job, false))
        }
    }

    /// Stops giving `w` work (its stream is broken, or it is being replaced), and owes its
    /// replacement now; returns the task it held, to fail. Its death report then changes
    /// nothing more.
    pub(crate) fn retire(&mut self, w: usize) -> Option<J> {
        self.vacate(w, Slot::Retiring)
    }

    /// Worker `w` died (the zygote reaped it): the task it held, to fail. Its replacement is
    /// owed, unless it was already retiring.
    pub(crate) fn died(&mut self, w: usize) -> Option<J> {
        self.vacate(w, Slot::Free)
    }

    fn vacate(&mut self, w: usize, to: Slot<J>) -> Option<J> {
        let slot = self.slots.get_mut(w)?;
        let was_retiring = matches!(slot, Slot::Retiring);
        if matches!(slot, Slot::Free) || (was_retiring && matches!(to, Slot::Retiring)) {
            return None;
        }
        let old = std::mem::replace(slot, to);
        if matches!(old, Slot::Idle) {
            self.idle.retain(|&i| i != w);
        }
        if !was_retiring && self.should_replace() {
            self.owed += 1;
        }
        match old {
            Slot::Busy(job) => {
                self.busy -= 1;
                Some(job)
            }
            _ => None,
        }
    }

    /// Worker `w`'s initializer failed: the task it held goes back to the front of the queue
    /// (it never ran), the worker will exit, and a replacement is owed; after
    /// [`MAX_INIT_FAILURES`] failures in a row (no task finished in between) the pool breaks
    /// instead, and every task comes back, to fail.
    pub(crate) fn init_failed(&mut self, w: usize, reason: &str) -> Vec<J> {
        if let Some(job) = self.vacate(w, Slot::Retiring) {
            self.queue.push_front(job);
        }
        self.init_failures += 1;
        if self.init_failures >= MAX_INIT_FAILURES {
            return self.break_pool(format!(
                "the initializer failed {MAX_INIT_FAILURES} times in a row: {reason}"
            ));
        }
        Vec::new()
    }

    /// Breaks the pool: every queued and held task comes back, to fail; nothing is owed.
    pub(crate) fn break_pool(&mut self, reason: String) -> Vec<J> {
        if matches!(self.phase, Phase::Broken(_)) {
            return Vec::new();
        }
        self.phase = Phase::Broken(reason);
        self.owed = 0;
        self.idle.clear();
        let mut jobs: Vec<J> = self.queue.drain(..).collect();
        for slot in &mut self.slots {
            match std::mem::replace(slot, Slot::Retiring) {
                Slot::Busy(job) => jobs.push(job),
                Slot::Free => *slot = Slot::Free,
                _ => {}
            }
        }
        self.busy = 0;
        jobs
    }

    /// Stops taking work; with `cancel`, the queued tasks come back, to cancel.
    pub(crate) fn shutdown(&mut self, cancel: bool) -> Vec<J> {
        if self.phase == Phase::Running {
            self.phase = Phase::Shutdown;
        }
        if cancel {
            self.queue.drain(..).collect()
        } else {
            Vec::new()
        }
    }

    /// Shut down (or broken) with nothing queued or running: the dispatcher may tear down.
    pub(crate) fn is_quiescent(&self) -> bool {
        self.phase != Phase::Running && self.queue.is_empty() && self.busy == 0
    }

    /// Whether a spawn request is owed (the dispatcher sends it on its next round).
    pub(crate) fn owes_spawns(&self) -> bool {
        self.owed > 0 && self.should_replace()
    }

    /// Whether a task could be dispatched right now.
    pub(crate) fn can_dispatch(&self) -> bool {
        !self.idle.is_empty() && !self.queue.is_empty()
    }
}
