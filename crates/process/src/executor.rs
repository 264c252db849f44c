use std::{fmt, io};

use serde::{Serialize, de::DeserializeOwned};
use weft_futures::{Executor, Future, Map, MapOptions, Rejected, Task, TaskError, promise};
use weft_sync::{
    Arc, Mutex,
    thread::{JoinHandle, ThreadId},
};

use crate::{
    Builder,
    dispatcher::Shared,
    map::Requests,
    request::{self, One, Request, Sink},
    schedule::Phase,
    worker::Init,
};

/// A pool of worker processes that runs `fn(A) -> R` on serialized arguments and hands back
/// [`Future`]s: Python's `concurrent.futures.ProcessPoolExecutor`, for CPU-bound work that
/// must run in parallel, and for work that may crash.
///
/// [`build`](Builder::build) forks one helper process, the zygote, from the caller (the only
/// fork of the caller's process); the zygote forks every worker: the first ones, each
/// replacement of a worker that died, each rotation of `max_tasks_per_child`. Each worker talks
/// to the pool over its own `AF_UNIX` socket; arguments and results cross it serialized with
/// [postcard](https://docs.rs/postcard), the function as its address (the workers run the same
/// binary image, forked without `exec`, so it is valid there; closures that capture are
/// refused by the `fn` type). One dispatcher thread in the caller's process sends the tasks
/// (one at a time per worker, more ahead while its tasks are fast: see [`Builder::prefetch`])
/// and completes the futures.
///
/// Faults stay local: a task that panics fails its own future with
/// [`TaskError::Panicked`] and its worker lives on; a worker that dies (a signal,
/// `std::process::exit`, `abort`) fails only the future it held, with
/// [`TaskError::BrokenPool`] naming the signal or exit status, and is replaced (Python breaks
/// the whole pool instead). If the zygote itself dies, the pool is broken: pending futures
/// fail, and new work is refused.
///
/// Dropping the pool is `shutdown(true, false)`; when it returns, every worker and the zygote
/// have been reaped and every descriptor of the pool is closed.
///
/// | Python | weft |
/// |---|---|
/// | `ProcessPoolExecutor(max_workers=4)` | [`ProcessPoolExecutor::new(4)?`](ProcessPoolExecutor::new) |
/// | `ProcessPoolExecutor(initializer=…, max_tasks_per_child=…)` | [`ProcessPoolExecutor::builder()`](ProcessPoolExecutor::builder) |
/// | `pool.submit(fn, arg)` | [`pool.submit(fn, arg)`](ProcessPoolExecutor::submit) (several arguments: a tuple) |
/// | `pool.map(fn, items, chunksize=k)` | [`pool.map_with(fn, items, MapOptions::default().chunksize(k))`](ProcessPoolExecutor::map_with) |
/// | `pool.shutdown(wait, cancel_futures=…)` | [`pool.shutdown(wait, cancel_futures)`](ProcessPoolExecutor::shutdown) |
/// | `pool.terminate_workers()` / `pool.kill_workers()` (3.14) | the same names |
/// | `BrokenProcessPool` | [`TaskError::BrokenPool`], for the affected futures only |
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
/// let pool = ProcessPoolExecutor::new(2)?;
/// assert_eq!(pool.submit(square, 7).result(), Ok(49));
/// let squares: Vec<u64> = pool.map(square, 0..5).map(Result::unwrap).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ProcessPoolExecutor {
    shared: Arc<Shared>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    dispatcher_id: ThreadId,
    max_workers: usize,
    // The workers use their fork-inherited copy; this keeps the caller's alive alongside.
    _init: Option<std::sync::Arc<Init>>,
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.max_workers)
            .finish_non_exhaustive()
    }
}

impl ProcessPoolExecutor {
    /// A pool of `max_workers` worker processes, forked at once.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`]: `InvalidInput` for 0 workers, or a system error from forking.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_process::ProcessPoolExecutor::new(2)?;
    /// assert_eq!(pool.max_workers(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(max_workers: usize) -> io::Result<Self> {
        Self::builder().max_workers(max_workers).build()
    }

    /// A builder for `max_workers`, `max_tasks_per_child` and the initializer.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_process::ProcessPoolExecutor::builder().max_workers(1).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_parts(
        shared: Arc<Shared>,
        handle: JoinHandle<()>,
        max_workers: usize,
        init: Option<std::sync::Arc<Init>>,
    ) -> Self {
        let dispatcher_id = handle.thread().id();
        Self {
            shared,
            dispatcher: Mutex::new(Some(handle)),
            dispatcher_id,
            max_workers,
            _init: init,
        }
    }

    /// How many worker processes the pool runs.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_process::ProcessPoolExecutor::new(3)?.max_workers(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// Whether the pool is broken (its zygote died, forks failed, or initializers kept
    /// failing): it then refuses new work.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!weft_process::ProcessPoolExecutor::new(1)?.is_broken());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn is_broken(&self) -> bool {
        matches!(self.shared.schedule.lock().phase(), Phase::Broken(_))
    }

    /// Runs `f(arg)` in a worker process and returns its future: Python's
    /// `executor.submit(fn, arg)`.
    ///
    /// `arg` is serialized here, on the caller's thread; if that fails, the future is
    /// returned already failed with [`TaskError::Failed`] and nothing is sent. In the worker
    /// the argument is deserialized, `f` runs under `catch_unwind`, and the result is
    /// serialized back. Several arguments: pass a tuple.
    ///
    /// # Panics
    ///
    /// After [`shutdown`](ProcessPoolExecutor::shutdown) or once the pool is broken (Python
    /// raises `RuntimeError` / `BrokenProcessPool`); [`try_submit`](Self::try_submit) hands
    /// the argument back instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::TaskError;
    /// use weft_process::ProcessPoolExecutor;
    ///
    /// fn div((a, b): (i32, i32)) -> i32 {
    ///     a / b
    /// }
    ///
    /// let pool = ProcessPoolExecutor::new(1)?;
    /// assert_eq!(pool.submit(div, (7, 2)).result(), Ok(3));
    /// let err = pool.submit(div, (1, 0)).result().unwrap_err();
    /// assert!(matches!(err, TaskError::Panicked(m) if m.contains("divide by zero")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Future<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        match self.try_submit(f, arg) {
            Ok(fut) => fut,
            Err(_) => panic!("{}", self.refusal()),
        }
    }

    /// [`submit`](Self::submit), handing the argument back if the pool refuses work.
    ///
    /// # Errors
    ///
    /// [`Rejected`] with `arg` after shutdown or once the pool is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// fn inc(x: u8) -> u8 {
    ///     x + 1
    /// }
    ///
    /// let pool = weft_process::ProcessPoolExecutor::new(1)?;
    /// assert_eq!(pool.try_submit(inc, 1).unwrap().result(), Ok(2));
    /// pool.shutdown(true, false);
    /// assert_eq!(pool.try_submit(inc, 1).unwrap_err().into_inner(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<Future<R>, Rejected<A>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let (p, fut) = promise::<R>();
        match request::encode(f, std::iter::once(&arg)) {
            Ok(frame) => match self.push(Request {
                frame: Arc::new(frame),
                sink: Box::new(One(p)),
            }) {
                Ok(()) => Ok(fut),
                Err(_) => Err(Rejected(arg)),
            },
            Err(reason) => {
                if *self.shared.schedule.lock().phase() != Phase::Running {
                    return Err(Rejected(arg));
                }
                p.set_error(TaskError::Failed(reason));
                Ok(fut)
            }
        }
    }

    /// Queues a task; hands it back when the pool refuses work.
    pub(crate) fn push(&self, task: Request) -> Result<(), Request> {
        let wake = self.shared.schedule.lock().submit(task)?;
        if wake {
            self.shared.wake();
        }
        Ok(())
    }

    /// Why the pool refuses work, as `submit` panics with it: after shutdown, or broken.
    fn refusal(&self) -> TaskError {
        match self.shared.schedule.lock().phase() {
            Phase::Broken(r) => TaskError::BrokenPool(r.clone()),
            _ => TaskError::Failed("cannot schedule new futures after shutdown".into()),
        }
    }

    /// What a map's refused items yield, the same on every executor: `Cancelled` after
    /// shutdown, `BrokenPool` on a broken pool.
    fn map_refusal(&self) -> TaskError {
        match self.shared.schedule.lock().phase() {
            Phase::Broken(r) => TaskError::BrokenPool(r.clone()),
            _ => TaskError::Cancelled,
        }
    }

    /// Queues an encoded task with any sink (for `map`).
    pub(crate) fn push_sink(
        &self,
        frame: Result<Vec<u8>, String>,
        sink: Box<dyn Sink>,
    ) -> Result<(), TaskError> {
        match frame {
            Ok(frame) => self
                .push(Request {
                    frame: Arc::new(frame),
                    sink,
                })
                .map_err(|t| {
                    drop(t);
                    self.map_refusal()
                }),
            Err(reason) => {
                if *self.shared.schedule.lock().phase() != Phase::Running {
                    return Err(self.map_refusal());
                }
                sink.fail(TaskError::Failed(reason));
                Ok(())
            }
        }
    }

    /// `f` over `items` in worker processes, results in input order: Python's
    /// `executor.map(fn, items)`. As [`map_with`](Self::map_with) with the default options.
    ///
    /// # Examples
    ///
    /// ```
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// let pool = weft_process::ProcessPoolExecutor::new(2)?;
    /// let total: u64 = pool.map(square, 1..=10).map(Result::unwrap).sum();
    /// assert_eq!(total, 385);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Map<'_, A, R, I::IntoIter>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_with(f, items, MapOptions::default())
    }

    /// `f` over `items`, lazily and in order, with `options`: Python's
    /// `executor.map(fn, items, chunksize=k, buffersize=n)`.
    ///
    /// The first `buffersize` tasks (default 2 × `max_workers`) are submitted now; the rest
    /// as results are consumed, the items pulled from `items` on the caller's thread: at most
    /// `buffersize` tasks are submitted and not yet consumed, each carrying `chunksize` items
    /// (default 1) in one frame. Every item gets its own `Result`: a panic in one item fails
    /// that item alone; a worker that dies fails the items of the chunk it held. Dropping the
    /// iterator cancels the tasks not yet started, also before the first `next` (see [`Map`],
    /// shared by every executor). If the pool shuts down while mapping, the items it refused
    /// yield [`TaskError::Cancelled`] (or `BrokenPool`) and the iteration ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::MapOptions;
    ///
    /// fn add_one(x: u32) -> u32 {
    ///     x + 1
    /// }
    ///
    /// let pool = weft_process::ProcessPoolExecutor::new(2)?;
    /// let opts = MapOptions::default().chunksize(100);
    /// let v: Vec<u32> = pool.map_with(add_one, 0..1_000, opts).map(Result::unwrap).collect();
    /// assert_eq!(v, (1..=1_000).collect::<Vec<_>>());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_with<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Map<'_, A, R, I::IntoIter>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let buffersize = self.max_workers.saturating_mul(2);
        Map::new(Requests::new(self, f), items, options, buffersize)
    }

    /// Stops taking work and releases the pool's processes once the accepted work is done:
    /// Python's `executor.shutdown(wait, cancel_futures)`.
    ///
    /// With `cancel_futures`, the tasks not yet handed to a worker are cancelled (a task sent
    /// ahead to a busy worker, see [`Builder::prefetch`], counts as running). Tasks already
    /// running finish. With `wait`, returns once every task is done, every worker has exited
    /// and been reaped, and the zygote too; without it, that happens in the background (and
    /// `Drop` still waits for it). Calling it again is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// fn slow(ms: u64) -> u64 {
    ///     std::thread::sleep(std::time::Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// // prefetch(0): no task is sent ahead, so every queued one can still be cancelled.
    /// let pool = weft_process::ProcessPoolExecutor::builder().max_workers(1).prefetch(0).build()?;
    /// let running = pool.submit(slow, 200);
    /// let queued = pool.submit(slow, 0);
    /// std::thread::sleep(std::time::Duration::from_millis(50));
    /// pool.shutdown(true, true);
    /// assert_eq!(running.result(), Ok(200));
    /// assert!(queued.cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancelled = {
            let mut b = self.shared.schedule.lock();
            b.parked = false;
            b.shutdown(cancel_futures)
        };
        for task in cancelled {
            task.sink.cancel();
        }
        self.shared.wake();
        if wait && weft_sync::thread::current().id() != self.dispatcher_id {
            // Held while joining: a concurrent `shutdown(true, _)` returns only once it is over.
            let mut handle = self.dispatcher.lock();
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }

    /// Sends `SIGTERM` to every worker, after `shutdown(false, true)`: Python 3.14's
    /// `terminate_workers()`.
    ///
    /// Queued tasks are cancelled; the futures of running tasks fail with
    /// [`TaskError::BrokenPool`] naming the signal. No new work is accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::TaskError;
    ///
    /// fn forever(_: ()) {
    ///     loop {
    ///         std::thread::sleep(std::time::Duration::from_secs(1));
    ///     }
    /// }
    ///
    /// let pool = weft_process::ProcessPoolExecutor::new(1)?;
    /// let f = pool.submit(forever, ());
    /// while !f.running() {
    ///     std::thread::yield_now();
    /// }
    /// pool.terminate_workers();
    /// assert!(matches!(f.result(), Err(TaskError::BrokenPool(why)) if why.contains("SIGTERM")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn terminate_workers(&self) {
        self.signal_workers(libc::SIGTERM);
    }

    /// Sends `SIGKILL` to every worker, after `shutdown(false, true)`: Python 3.14's
    /// `kill_workers()`. As [`terminate_workers`](Self::terminate_workers) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_process::ProcessPoolExecutor::new(2)?;
    /// pool.kill_workers();
    /// assert!(pool.try_submit(|x: u8| x, 1).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill_workers(&self) {
        self.signal_workers(libc::SIGKILL);
    }

    fn signal_workers(&self, sig: i32) {
        let cancelled = {
            let mut b = self.shared.schedule.lock();
            b.parked = false;
            if matches!(b.phase(), Phase::Broken(_)) {
                Vec::new()
            } else {
                b.kill(sig)
            }
        };
        for task in cancelled {
            task.sink.cancel();
        }
        self.shared.wake();
    }
}

/// The pool as a [`weft_futures::Executor`]: a [`Task`] runs as
/// [`submit(T::run, args)`](ProcessPoolExecutor::submit) does, in a worker process, its
/// arguments and result serialized with postcard; `map` is
/// [`map_with(T::run, …)`](ProcessPoolExecutor::map_with).
///
/// # Examples
///
/// ```
/// use weft_futures::{Executor, task};
/// use weft_process::ProcessPoolExecutor;
///
/// task! {
///     pub struct Add = "tasks.add";
///     fn run((a, b): (i64, i64)) -> i64 { a + b }
/// }
///
/// let pool = ProcessPoolExecutor::new(1)?;
/// assert_eq!(Executor::submit::<Add>(&pool, (2, 3)).result(), Ok(5));
/// let sums: Vec<i64> = Executor::map::<Add, _>(&pool, [(1, 1), (2, 2)]).map(Result::unwrap).collect();
/// assert_eq!(sums, [2, 4]);
/// Executor::shutdown(&pool, true, false);
/// assert_eq!(Executor::try_submit::<Add>(&pool, (1, 2)).unwrap_err().into_inner(), (1, 2));
/// # Ok::<(), std::io::Error>(())
/// ```
impl Executor for ProcessPoolExecutor {
    fn submit<T: Task>(&self, args: T::Args) -> Future<T::Output> {
        self.submit(T::run, args)
    }

    fn try_submit<T: Task>(&self, args: T::Args) -> Result<Future<T::Output>, Rejected<T::Args>> {
        self.try_submit(T::run, args)
    }

    fn map_with<T: Task, I>(
        &self,
        items: I,
        options: MapOptions,
    ) -> Map<'_, T::Args, T::Output, I::IntoIter>
    where
        I: IntoIterator<Item = T::Args>,
    {
        self.map_with(T::run, items, options)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shutdown(wait, cancel_futures);
    }
}

impl Drop for ProcessPoolExecutor {
    /// `shutdown(true, false)`: waits for the accepted work, then reaps every process.
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}
