//! The schedule: which worker holds which task, which tasks wait, which workers are
//! owed a replacement. A plain type, no I/O: the dispatcher and the submitters drive it under
//! one lock, and `tests/loom.rs` drives it over a mocked transport (it includes this very file),
//! so the invariants that matter (every task is handed out, completed or failed exactly once;
//! one replacement per death) are model-checked apart from fork and sockets.

use std::collections::VecDeque;

/// A queued task, as the schedule sees it.
pub(crate) trait Job {
    /// Marks the task running (Python's `set_running_or_notify_cancel`); `false` if it was
    /// cancelled, and then it is dropped instead of dispatched.
    fn start(&mut self) -> bool;
}

/// How many tasks a worker may hold while its tasks are fast (each answered within
/// `FAST_TASK` of the previous one), whatever the configured depth: tiny tasks then stream
/// without the worker ever waiting for the pool.
pub(crate) const FAST_DEPTH: usize = 16;

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
    /// Alive; these tasks were sent to it, oldest (the one running) first. Empty = idle.
    Live(VecDeque<J>),
    /// Alive or dying, never to get work again; its replacement is already accounted for.
    Retiring,
}

/// One worker slot: who is in it, how many tasks it finished, and whether its latest reply
/// came fast.
#[derive(Debug)]
struct Worker<J> {
    slot: Slot<J>,
    /// Tasks finished by the worker in this slot (for `max_tasks_per_child`).
    done: u64,
    /// Its latest reply followed the previous one within `FAST_TASK`.
    fast: bool,
}

/// The bookkeeping state machine. Worker slots are indexed by a token that the dispatcher
/// passes to the zygote with each spawn request.
///
/// Each worker runs its tasks one at a time, in order; up to `depth` of them may be sent ahead
/// (the next ones wait in its socket, as CPython's call queue holds one extra task), so that a
/// worker never waits for the pool between two tasks. A task counts as dispatched (running,
/// no longer cancellable) once sent. When a worker dies, the task it was running fails and the
/// ones sent after it, which never started, go back to the front of the queue.
#[derive(Debug)]
pub(crate) struct Schedule<J> {
    queue: VecDeque<J>,
    /// Indexed by the token the dispatcher passes to the zygote with each spawn request.
    workers: Vec<Worker<J>>,
    live: usize,
    inflight: usize,
    owed: usize,
    phase: Phase,
    depth: usize,
    adaptive: bool,
    spawning: usize,
    max_tasks: Option<u64>,
    init_failures: u32,
    /// The dispatcher is (about to be) asleep in `poll` and must be woken for new work.
    pub(crate) parked: bool,
    /// A signal `kill_workers` / `terminate_workers` asked to send to every worker.
    pub(crate) signal: Option<i32>,
    killing: bool,
}

impl<J: Job> Schedule<J> {
    /// A schedule for `max_workers` workers (all owed: the dispatcher spawns them first), each
    /// holding at most `depth` tasks (up to [`FAST_DEPTH`] while its tasks are fast, if
    /// `adaptive`) and retired after `max_tasks` tasks if set.
    pub(crate) fn new(
        max_workers: usize,
        depth: usize,
        adaptive: bool,
        max_tasks: Option<u64>,
    ) -> Self {
        Self {
            queue: VecDeque::new(),
            workers: Vec::new(),
            live: 0,
            inflight: 0,
            owed: max_workers,
            phase: Phase::Running,
            depth: depth.max(1),
            adaptive,
            spawning: 0,
            max_tasks,
            init_failures: 0,
            parked: false,
            signal: None,
            killing: false,
        }
    }

    /// The current phase.
    pub(crate) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Queues `job`; `Err(job)` after shutdown or once broken. `Ok(true)` when the dispatcher
    /// is parked and some worker can take a task: the caller must wake it.
    pub(crate) fn submit(&mut self, job: J) -> Result<bool, J> {
        if self.phase != Phase::Running {
            return Err(job);
        }
        self.queue.push_back(job);
        let wake = self.parked && self.inflight < self.live * FAST_DEPTH.max(self.depth);
        if wake {
            self.parked = false;
        }
        Ok(wake)
    }

    fn should_replace(&self) -> bool {
        if self.killing {
            return false;
        }
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
            let w = match self
                .workers
                .iter()
                .position(|x| matches!(x.slot, Slot::Free))
            {
                Some(w) => w,
                None => {
                    self.workers.push(Worker {
                        slot: Slot::Free,
                        done: 0,
                        fast: false,
                    });
                    self.workers.len() - 1
                }
            };
            self.workers[w] = Worker {
                slot: Slot::Spawning,
                done: 0,
                fast: false,
            };
            self.spawning += 1;
            tokens.push(w);
        }
        tokens
    }

    /// The zygote forked the worker for `w`. `false` if that slot no longer wants one (the
    /// pool broke meanwhile): the caller closes the new worker's socket and it exits.
    pub(crate) fn spawned(&mut self, w: usize) -> bool {
        match self.workers.get(w).map(|x| &x.slot) {
            Some(Slot::Spawning) if !matches!(self.phase, Phase::Broken(_)) => {
                self.spawning -= 1;
                self.workers[w].slot = Slot::Live(VecDeque::new());
                self.live += 1;
                true
            }
            Some(Slot::Spawning) => {
                self.spawning -= 1;
                self.workers[w].slot = Slot::Retiring;
                false
            }
            _ => false,
        }
    }

    /// How many more tasks worker `w` may be sent now.
    fn room(&self, w: usize) -> usize {
        let worker = &self.workers[w];
        let Slot::Live(tasks) = &worker.slot else {
            return 0;
        };
        let quota = self.max_tasks.map_or(usize::MAX, |m| {
            (m.saturating_sub(worker.done) as usize).saturating_sub(tasks.len())
        });
        // Never send ahead while a worker is still being forked: it will want work too.
        let depth = if self.spawning > 0 {
            1
        } else if self.adaptive && worker.fast {
            FAST_DEPTH.max(self.depth)
        } else {
            self.depth
        };
        depth.saturating_sub(tasks.len()).min(quota)
    }

    /// Hands the next task to the least loaded worker with room: `(worker, task)`, the task
    /// now held by the worker. Cancelled tasks met on the way are dropped.
    pub(crate) fn next(&mut self) -> Option<(usize, &mut J)> {
        if self.queue.is_empty() {
            return None;
        }
        let mut best: Option<(usize, usize)> = None;
        for w in 0..self.workers.len() {
            if self.room(w) == 0 {
                continue;
            }
            let Slot::Live(tasks) = &self.workers[w].slot else {
                continue;
            };
            if best.is_none_or(|(_, n)| tasks.len() < n) {
                best = Some((w, tasks.len()));
                if tasks.is_empty() {
                    break;
                }
            }
        }
        let (w, _) = best?;
        let job = loop {
            let mut job = self.queue.pop_front()?;
            if job.start() {
                break job;
            }
        };
        self.inflight += 1;
        let Slot::Live(tasks) = &mut self.workers[w].slot else {
            unreachable!()
        };
        tasks.push_back(job);
        tasks.back_mut().map(|job| (w, job))
    }

    /// Whether worker `w` holds exactly one task (so it was idle until [`Schedule::next`] handed
    /// it the one it holds) and its replies have not been coming fast: the dispatcher then places
    /// it before it sends the task (`crate::place`).
    pub(crate) fn fresh(&self, w: usize) -> bool {
        let worker = &self.workers[w];
        matches!(&worker.slot, Slot::Live(tasks) if tasks.len() == 1) && !worker.fast
    }

    /// Worker `w` answered its oldest task (`fast`: soon after the previous answer, so it may
    /// be sent up to [`FAST_DEPTH`] tasks ahead): that task (to complete), and whether the worker
    /// retires now (`max_tasks_per_child`): the caller closes its socket; its replacement is
    /// owed. `None` when `w` held no task (an unexpected frame: the caller replaces it).
    pub(crate) fn finished(&mut self, w: usize, fast: bool) -> Option<(J, bool)> {
        let worker = self.workers.get_mut(w)?;
        let Slot::Live(tasks) = &mut worker.slot else {
            return None;
        };
        let job = tasks.pop_front()?;
        let idle = tasks.is_empty();
        self.inflight -= 1;
        self.init_failures = 0;
        worker.done += 1;
        worker.fast = fast;
        if idle && self.max_tasks.is_some_and(|m| worker.done >= m) {
            worker.slot = Slot::Retiring;
            self.live -= 1;
            if self.should_replace() {
                self.owed += 1;
            }
            return Some((job, true));
        }
        Some((job, false))
    }

    /// Stops giving `w` work (its stream is broken, or it is being replaced) and owes its
    /// replacement now; returns the tasks to fail: the one it was running (the ones sent after
    /// it go back to the queue, unless the workers are being killed). Its death report then
    /// changes nothing more.
    pub(crate) fn retire(&mut self, w: usize) -> Vec<J> {
        self.vacate(w, Slot::Retiring, false)
    }

    /// Worker `w` died (the zygote reaped it; `how`: "exited with status 1", say): returns the
    /// tasks to fail: the one it was running (the ones sent after it never started: they go
    /// back to the front of the queue, unless the workers are being killed). Its replacement is
    /// owed, unless it was already retiring.
    ///
    /// A worker that dies idle before finishing any task counts as a failed initializer (one
    /// that calls `exit` or `abort` instead of panicking): after [`MAX_INIT_FAILURES`] in a
    /// row the pool breaks, and every task comes back too, to fail.
    pub(crate) fn died(&mut self, w: usize, how: &str) -> Vec<J> {
        // Only while running: at shutdown every worker exits idle, some never having had work.
        let idle_newborn = self.phase == Phase::Running
            && !self.killing
            && self
                .workers
                .get(w)
                .is_some_and(|x| x.done == 0 && matches!(&x.slot, Slot::Live(t) if t.is_empty()));
        let mut fail = self.vacate(w, Slot::Free, false);
        if idle_newborn {
            self.init_failures += 1;
            if self.init_failures >= MAX_INIT_FAILURES {
                fail.extend(self.break_pool(format!(
                    "{MAX_INIT_FAILURES} workers in a row died before running a task (does the \
                     initializer exit?): the last one {how}"
                )));
            }
        }
        fail
    }

    /// Empties slot `w` into `to`; returns the tasks to fail: its running one, and the rest
    /// too when the workers are being killed. With `requeue_all`, every task goes back to the
    /// queue instead.
    fn vacate(&mut self, w: usize, to: Slot<J>, requeue_all: bool) -> Vec<J> {
        let mut fail = Vec::new();
        let Some(slot) = self.workers.get_mut(w).map(|x| &mut x.slot) else {
            return fail;
        };
        let was_retiring = matches!(slot, Slot::Retiring);
        if matches!(slot, Slot::Free) || (was_retiring && matches!(to, Slot::Retiring)) {
            return fail;
        }
        let old = std::mem::replace(slot, to);
        if let Slot::Live(mut tasks) = old {
            self.live -= 1;
            self.inflight -= tasks.len();
            if !requeue_all {
                fail.extend(tasks.pop_front());
            }
            if self.killing {
                fail.extend(tasks);
            } else {
                while let Some(job) = tasks.pop_back() {
                    self.queue.push_front(job);
                }
            }
        }
        if !was_retiring && self.should_replace() {
            self.owed += 1;
        }
        fail
    }

    /// `kill_workers` / `terminate_workers`: from now on a dead worker's tasks all fail
    /// instead of going back to the queue, and no replacement is forked.
    pub(crate) fn kill(&mut self, signal: i32) -> Vec<J> {
        self.killing = true;
        self.signal = Some(signal);
        if self.phase == Phase::Running {
            self.phase = Phase::Shutdown;
        }
        self.owed = 0;
        self.queue.drain(..).collect()
    }

    /// Worker `w`'s initializer failed: the tasks sent to it go back to the front of the
    /// queue (none ran), the worker will exit, and a replacement is owed; after
    /// [`MAX_INIT_FAILURES`] failures in a row (no task finished in between) the pool breaks
    /// instead, and every task comes back, to fail.
    pub(crate) fn init_failed(&mut self, w: usize, reason: &str) -> Vec<J> {
        let fail = self.vacate(w, Slot::Retiring, true);
        if !fail.is_empty() {
            return fail;
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
        let mut jobs = Vec::new();
        for worker in &mut self.workers {
            match std::mem::replace(&mut worker.slot, Slot::Retiring) {
                Slot::Live(tasks) => jobs.extend(tasks),
                Slot::Free => worker.slot = Slot::Free,
                _ => {}
            }
        }
        jobs.extend(self.queue.drain(..));
        self.live = 0;
        self.inflight = 0;
        self.spawning = 0;
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
        self.phase != Phase::Running && self.queue.is_empty() && self.inflight == 0
    }

    /// Whether a spawn request is owed (the dispatcher sends it on its next round).
    pub(crate) fn owes_spawns(&self) -> bool {
        self.owed > 0 && self.should_replace()
    }

    /// Whether a task could be dispatched right now.
    pub(crate) fn can_dispatch(&self) -> bool {
        !self.queue.is_empty() && (0..self.workers.len()).any(|w| self.room(w) > 0)
    }
}
