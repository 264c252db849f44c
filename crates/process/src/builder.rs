use std::{fmt, io};

use nix::sys::eventfd::{EfdFlags, EventFd};
use weft_sync::Arc;

use crate::{
    ProcessPoolExecutor,
    dispatcher::{Dispatcher, Shared},
    fork,
    schedule::Schedule,
    worker::Init,
};

/// Configures a [`ProcessPoolExecutor`]: Python's `ProcessPoolExecutor(max_workers,
/// initializer=…, max_tasks_per_child=…)`.
///
/// # Examples
///
/// ```
/// use weft_process::ProcessPoolExecutor;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = ProcessPoolExecutor::builder()
///     .max_workers(2)
///     .max_tasks_per_child(100)
///     .initializer(|| {})
///     .build()?;
/// assert_eq!(pool.submit(square, 9).result(), Ok(81));
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder {
    max_workers: usize,
    max_tasks_per_child: Option<u64>,
    // A std `Arc`, not weft-sync's: it holds a `dyn Fn` (loom's `Arc` cannot), and it takes no
    // part in any synchronisation protocol; workers run their fork-inherited copy.
    init: Option<std::sync::Arc<Init>>,
    deny_threads: bool,
    prefetch: Option<usize>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_workers", &self.max_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("initializer", &self.init.is_some())
            .field("deny_threads", &self.deny_threads)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

/// Python's `os.process_cpu_count()`: the CPUs this process may run on.
pub(crate) fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// The defaults: one worker per CPU this process may use, workers never retired, no
    /// initializer, a warning (not an error) when the caller already runs other threads.
    pub fn new() -> Self {
        Self {
            max_workers: default_workers(),
            max_tasks_per_child: None,
            init: None,
            deny_threads: false,
            prefetch: None,
        }
    }

    /// How many worker processes run at once (Python's `max_workers`); 0 makes
    /// [`Builder::build`] fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_process::ProcessPoolExecutor::builder().max_workers(3).build()?;
    /// assert_eq!(pool.max_workers(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = n;
        self
    }

    /// Retires each worker after `n` tasks and forks a fresh one in its place (Python's
    /// `max_tasks_per_child`): for tasks that leak memory or state. 0 makes
    /// [`Builder::build`] fail.
    ///
    /// # Examples
    ///
    /// ```
    /// fn pid(_: ()) -> u32 {
    ///     std::process::id()
    /// }
    ///
    /// let pool = weft_process::ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .max_tasks_per_child(1)
    ///     .build()?;
    /// let a = pool.submit(pid, ()).result().unwrap();
    /// let b = pool.submit(pid, ()).result().unwrap();
    /// assert_ne!(a, b); // a fresh worker for each task
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_tasks_per_child(mut self, n: u64) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Runs `init` once in each worker process, before its first task (Python's
    /// `initializer`; arguments are whatever the closure captures).
    ///
    /// The closure is captured here, in the caller's process, and reaches the workers by
    /// fork: it is never serialized. One that panics kills that worker (the panic message is
    /// reported) and the worker is replaced; the task it was handed goes back to the queue.
    /// After 3 failures in a row (no task completed in between) the pool breaks instead of
    /// forking forever: every pending future fails with
    /// [`TaskError::BrokenPool`](weft_futures::TaskError::BrokenPool) naming the panic message.
    /// An initializer that exits or aborts fails the task its worker was sent (naming the exit
    /// status), and 3 workers in a row dying idle before any task break the pool the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// fn env(_: ()) -> Option<String> {
    ///     std::env::var("WEFT_DOC_INIT").ok()
    /// }
    ///
    /// let pool = weft_process::ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     // SAFETY of set_var: the worker runs a single thread.
    ///     .initializer(|| unsafe { std::env::set_var("WEFT_DOC_INIT", "ready") })
    ///     .build()?;
    /// assert_eq!(pool.submit(env, ()).result(), Ok(Some("ready".into())));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn initializer<F>(mut self, init: F) -> Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.init = Some(std::sync::Arc::new(init));
        self
    }

    /// Fixes how many tasks each worker may be sent ahead of the one it is running.
    ///
    /// By default the pool adapts: a worker holds one task at a time, and while its tasks are
    /// fast (each answered within 200 µs of the previous one) up to 16 are sent ahead, so
    /// that it finds the next one in its socket instead of waiting for a round trip to the
    /// pool: this is what makes small tasks cheap (CPython's call queue likewise holds
    /// `max_workers + 1` tasks). Slow tasks are never queued behind one another on a busy
    /// worker while another could take them.
    ///
    /// `prefetch(n)` sends exactly up to `n` ahead, whatever the tasks' speed; `prefetch(0)`
    /// sends strictly one task per worker at a time, keeping every queued task cancellable
    /// until a worker is free for it. A task sent ahead counts as running:
    /// [`Future::cancel`](weft_futures::Future::cancel) no longer stops it. If a worker dies,
    /// only the task it was running fails; the ones sent ahead go back to the front of the
    /// queue.
    ///
    /// # Examples
    ///
    /// ```
    /// fn inc(x: u32) -> u32 {
    ///     x + 1
    /// }
    ///
    /// let pool = weft_process::ProcessPoolExecutor::builder().prefetch(0).build()?;
    /// assert_eq!(pool.submit(inc, 1).result(), Ok(2));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn prefetch(mut self, tasks: usize) -> Self {
        self.prefetch = Some(tasks);
        self
    }

    /// Makes [`Builder::build`] fail, instead of printing a warning, when the calling process
    /// already runs more than one thread.
    ///
    /// `build` forks the pool's helper process (the zygote) from the caller; a fork copies
    /// only the calling thread, and every lock another thread held at that instant stays held
    /// in the copy. The zygote is written to survive that, but build pools early anyway
    /// (before starting threads), as CPython 3.12+ warns and as its 3.14 `forkserver`
    /// default does by design.
    ///
    /// # Examples
    ///
    /// ```
    /// let _pool = weft_process::ProcessPoolExecutor::builder().deny_threads(false).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn deny_threads(mut self, deny: bool) -> Self {
        self.deny_threads = deny;
        self
    }

    /// Forks the zygote, starts the dispatcher thread, and has the zygote fork the workers.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `max_workers == 0` or `max_tasks_per_child == 0` (Python raises
    /// `ValueError`); `Other` when the caller runs other threads and
    /// [`Builder::deny_threads`] is set; any error of `socketpair`, `eventfd`, `fork` or
    /// thread creation.
    pub fn build(self) -> io::Result<ProcessPoolExecutor> {
        if self.max_workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_workers must be greater than 0",
            ));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_tasks_per_child must be greater than 0",
            ));
        }
        if let Some(n) = fork::thread_count().filter(|&n| n > 1) {
            let msg = format!(
                "weft-process: this process runs {n} threads; forking the pool's helper process now \
                 may copy locks held by other threads (build process pools before starting threads)"
            );
            if self.deny_threads {
                return Err(io::Error::other(msg));
            }
            eprintln!("{msg}");
        }
        let wake = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        let (zpid, ctl) = fork::fork_zygote(self.init.as_deref())?;
        let shared = Arc::new(Shared::new(
            Schedule::new(
                self.max_workers,
                1 + self.prefetch.unwrap_or(0),
                self.prefetch.is_none(),
                self.max_tasks_per_child,
            ),
            wake,
        ));
        let dispatcher = Dispatcher::new(shared.clone(), ctl, zpid, self.init.is_some());
        // The dispatcher tells it runs (its name set, so that the fork check of a pool built
        // next does not count it as another thread) before `build` returns.
        let (started, running) = std::sync::mpsc::sync_channel::<()>(1);
        let handle = weft_sync::thread::Builder::new()
            .name(fork::DISPATCHER_NAME.into())
            .spawn(move || {
                let _ = started.send(());
                dispatcher.run();
            });
        match handle {
            Ok(handle) => {
                // An error means the thread ended without telling: nothing to wait for.
                let _ = running.recv();
                Ok(ProcessPoolExecutor::from_parts(
                    shared,
                    handle,
                    self.max_workers,
                    self.init,
                ))
            }
            Err(e) => {
                // The dispatcher (and the control socket in it) is gone: the zygote reads
                // end-of-file and exits; reap it.
                let _ = nix::sys::wait::waitpid(zpid, None);
                Err(e)
            }
        }
    }
}
