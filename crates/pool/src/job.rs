//! The unit of work a worker runs: a closure and the promise of its future, in one allocation.

use std::{
    cell::Cell,
    panic::{AssertUnwindSafe, catch_unwind},
};

use weft_futures::{Promise, TaskError};
use weft_sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use crate::shared::Shared;

/// Why a queued job will never run.
#[derive(Clone, Debug)]
pub(crate) enum Abort {
    /// `shutdown(cancel_futures = true)`: the future is cancelled (Python's `future.cancel()`
    /// on the work items still queued).
    Cancel,
    /// The pool broke (an initializer panicked): the future fails with
    /// [`TaskError::BrokenPool`] carrying this reason.
    Broken(String),
}

impl Abort {
    /// The error a task aborted this way fails with.
    pub(crate) fn error(self) -> TaskError {
        match self {
            Self::Cancel => TaskError::Cancelled,
            Self::Broken(reason) => TaskError::BrokenPool(reason),
        }
    }

    /// Completes `promise`'s future without running its task.
    pub(crate) fn apply<T>(self, promise: Promise<T>) {
        match self {
            Self::Cancel => {
                // A queued job's future is pending or already cancelled by its owner: either
                // way it is cancelled after this.
                promise.cancel();
            }
            Self::Broken(reason) => promise.set_error(TaskError::BrokenPool(reason)),
        }
    }
}

/// A worker's word that it is about to complete a future and come back for the next job.
///
/// The thread waiting on that future may submit again as soon as it wakes, before this worker
/// is back at the queue; counting the worker as "finishing" lets that submit reuse it rather
/// than start a new thread (Python's `test_idle_thread_reuse`).
///
/// The word holds only while completing the future runs no user code. Once the future's
/// done-callbacks start, the worker is busy for as long as they take (a callback may even wait
/// for a task submitted meanwhile), so it takes its word back ([`Finishing::withdraw`]) and
/// starts the worker that a submit relying on it did not start: a worker counts as idle only
/// once its task and that task's callbacks are over, as in Python.
pub(crate) struct Finishing<'a> {
    pool: &'a Arc<Shared>,
    announced: Cell<bool>,
}

impl<'a> Finishing<'a> {
    pub(crate) fn new(pool: &'a Arc<Shared>) -> Self {
        Self {
            pool,
            announced: Cell::new(false),
        }
    }

    /// The pool this worker works for.
    pub(crate) fn pool(&self) -> &'a Arc<Shared> {
        self.pool
    }

    /// Counts this worker as finishing, once per job.
    pub(crate) fn announce(&self) {
        // Every worker the pool may have is started: no submit will decide to spawn, so there
        // is nothing to announce (saves two shared atomic writes per task in a busy pool).
        // Relaxed: seeing `full` late only costs an announcement nobody needs.
        if self.pool.full.load(Ordering::Relaxed) {
            return;
        }
        if !self.announced.replace(true) {
            // Relaxed: a submitter that must see this sees it through the future's completion
            // (Release) and its own wait (Acquire), which come after.
            self.pool.finishing.fetch_add(1, Ordering::Relaxed);
            FINISHING.with(|f| f.set(std::ptr::from_ref(&self.pool.finishing) as usize));
        }
    }

    /// Stops counting this worker as finishing; called under the pool's lock, after the
    /// worker's idle state is recorded there (or, from [`Finishing::withdraw`], before its
    /// spawn decision is re-made there).
    pub(crate) fn settle(&self) {
        if self.announced.replace(false) {
            self.pool.finishing.fetch_sub(1, Ordering::Relaxed);
            FINISHING.with(|f| f.set(0));
        }
    }

    /// The future's done-callbacks are about to run on this worker: stop counting it as
    /// finishing and start a worker for any job queued meanwhile that counted on it.
    pub(crate) fn withdraw(&self) {
        if self.announced.get() {
            Shared::withdraw_finishing(self.pool, self);
        }
    }

    /// Completes `promise` with `outcome`, announcing this worker as finishing until the
    /// future's done-callbacks (if any) start.
    pub(crate) fn complete<T>(&self, promise: Promise<T>, outcome: Result<T, TaskError>) {
        self.announce();
        promise.complete_with(outcome, || self.withdraw());
    }
}

/// Whether the current thread is a worker of the pool whose finishing count is `counter`, and
/// has announced [`Finishing`] and not settled: a submit from a done-callback on that thread
/// must not count on it.
pub(crate) fn current_is_finishing(counter: &AtomicUsize) -> bool {
    FINISHING.with(Cell::get) == std::ptr::from_ref(counter) as usize
}

// loom's `thread_local!` has no `const` form.
#[allow(clippy::missing_const_for_thread_local)]
mod tls {
    use std::cell::Cell;
    weft_sync::thread::thread_local! {
        pub(super) static FINISHING: Cell<usize> = Cell::new(0);
    }
}
use tls::FINISHING;

/// A type-erased job in the pool's queue. Each job is consumed exactly once: run by a worker
/// or aborted by shutdown or breakage, never silently dropped.
pub(crate) trait Job: Send {
    /// Runs the job on the current (worker) thread; a panic inside is caught and fails the
    /// job's future only. The job calls `finishing.announce()` right before completing its
    /// future (see [`Finishing`]).
    fn run(self: Box<Self>, finishing: &Finishing<'_>);
    /// Completes the job's future without running it.
    fn abort(self: Box<Self>, why: Abort);
}

/// A boxed job, as the queue holds it.
pub(crate) type BoxJob = Box<dyn Job>;

/// `submit`'s job: the closure and the promise of its future.
pub(crate) struct Task<F, T> {
    pub(crate) f: F,
    pub(crate) promise: Promise<T>,
}

impl<F, T> Job for Task<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Box<Self>, finishing: &Finishing<'_>) {
        let Task { f, promise } = *self;
        // Python's `set_running_or_notify_cancel`: a future cancelled while queued is already
        // done, and its task must not run.
        if promise.set_running() {
            let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(TaskError::from_panic);
            finishing.complete(promise, outcome);
        }
    }

    fn abort(self: Box<Self>, why: Abort) {
        why.apply(self.promise);
    }
}
