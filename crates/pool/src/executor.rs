use std::{
    fmt,
    panic::{AssertUnwindSafe, catch_unwind},
};

use weft_futures::{
    Executor, Future, Map, MapOptions, Promise, Rejected, Task, TaskError, promise,
};
use weft_sync::Arc;

use crate::{
    Builder,
    builder::default_workers,
    job::{self, Abort, Finishing, Job},
    map::Batches,
    shared::{Refused, Shared},
};

/// A pool of worker threads that runs closures and hands back [`Future`]s: Python's
/// `concurrent.futures.ThreadPoolExecutor`.
///
/// Workers start lazily, one per submitted task while none is idle, up to `max_workers`;
/// an idle worker is always reused before a new thread is started. They are named
/// `<prefix>_<n>` (see [`Builder::thread_name_prefix`]) and live until the pool shuts down.
///
/// A task that panics fails its own future with
/// [`TaskError::Panicked`](weft_futures::TaskError::Panicked); the worker lives on.
///
/// Dropping the pool is `shutdown(true, false)`: it waits for every accepted task to finish,
/// as Python's `with ThreadPoolExecutor() as pool:` does on leaving the block.
///
/// | Python | weft |
/// |---|---|
/// | `ThreadPoolExecutor(max_workers=4)` | [`ThreadPoolExecutor::new(4)`](ThreadPoolExecutor::new) |
/// | `ThreadPoolExecutor(thread_name_prefix=…, initializer=…)` | [`ThreadPoolExecutor::builder()`](ThreadPoolExecutor::builder) |
/// | `pool.submit(fn, *args)` | [`pool.submit(move \|\| fn(args))`](ThreadPoolExecutor::submit) |
/// | `pool.map(fn, items)` | [`pool.map(fn, items)`](ThreadPoolExecutor::map) |
/// | `pool.shutdown(wait, cancel_futures=…)` | [`pool.shutdown(wait, cancel_futures)`](ThreadPoolExecutor::shutdown) |
/// | `with ThreadPoolExecutor() as pool:` | a scope: `Drop` is `shutdown(true, false)` |
///
/// # Examples
///
/// ```
/// use weft_pool::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(4);
/// let futures: Vec<_> = (1..=3u64).map(|n| pool.submit(move || n * n)).collect();
/// let squares: Vec<u64> = futures.into_iter().map(|f| f.result().unwrap()).collect();
/// assert_eq!(squares, [1, 4, 9]);
///
/// let doubled: Vec<i32> = pool.map(|x| x * 2, [5, 4, 3]).map(Result::unwrap).collect();
/// assert_eq!(doubled, [10, 8, 6]);
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<Shared>,
}

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads, none started yet.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0 (Python raises `ValueError`); [`ThreadPoolExecutor::builder`]
    /// reports it as an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::new(2);
    /// assert_eq!(pool.max_workers(), 2);
    /// assert_eq!(pool.num_workers(), 0); // lazily started
    /// ```
    #[must_use]
    pub fn new(max_workers: usize) -> Self {
        match Self::builder().max_workers(max_workers).build() {
            Ok(pool) => pool,
            Err(e) => panic!("{e}"),
        }
    }

    /// A builder for the thread name prefix, the initializer and `max_workers`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::builder().max_workers(4).build()?;
    /// # Ok::<(), weft_pool::BuildError>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The most threads this pool starts.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_pool::ThreadPoolExecutor::new(3).max_workers(), 3);
    /// ```
    #[must_use]
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers()
    }

    /// How many worker threads are running now (started and not yet exited): 0 before the
    /// first task, never more than [`max_workers`](ThreadPoolExecutor::max_workers), 0 again
    /// once `shutdown(true, _)` has returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::new(3);
    /// pool.submit(|| ()).result()?;
    /// assert_eq!(pool.num_workers(), 1); // the idle worker is reused, not multiplied
    /// pool.submit(|| ()).result()?;
    /// assert_eq!(pool.num_workers(), 1);
    /// pool.shutdown(true, false);
    /// assert_eq!(pool.num_workers(), 0);
    /// # Ok::<(), weft_futures::TaskError>(())
    /// ```
    #[must_use]
    pub fn num_workers(&self) -> usize {
        self.shared.alive()
    }

    /// Whether the pool still accepts work: not shut down and not broken.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::new(1);
    /// assert!(pool.is_open());
    /// pool.shutdown(false, false);
    /// assert!(!pool.is_open());
    /// ```
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.shared.is_open()
    }

    /// Schedules `f` to run on a worker and returns the future of its result: Python's
    /// `submit(fn, *args)`.
    ///
    /// A panic in `f` fails the future with
    /// [`TaskError::Panicked`](weft_futures::TaskError::Panicked). A future cancelled before a
    /// worker picks it up never runs `f`.
    ///
    /// # Panics
    ///
    /// After [`shutdown`](ThreadPoolExecutor::shutdown), or once the pool is broken (an
    /// initializer panicked), as Python raises `RuntimeError` / `BrokenThreadPool`. Use
    /// [`try_submit`](ThreadPoolExecutor::try_submit) to get the job back instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::new(2);
    /// let f = pool.submit(|| "hello".len());
    /// assert_eq!(f.result(), Ok(5));
    /// ```
    pub fn submit<F, T>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (promise, future) = promise();
        match Shared::try_push(&self.shared, Box::new(job::Task { f, promise })) {
            Ok(()) => future,
            Err(refused) => refusal_panic(&refused),
        }
    }

    /// Schedules `f` as [`submit`](ThreadPoolExecutor::submit) does, or hands it back.
    ///
    /// # Errors
    ///
    /// [`Rejected`] with `f`, uncalled, after [`shutdown`](ThreadPoolExecutor::shutdown) or
    /// once the pool is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::new(1);
    /// assert_eq!(pool.try_submit(|| 1).unwrap().result(), Ok(1));
    /// pool.shutdown(true, false);
    /// assert!(pool.try_submit(|| 2).is_err());
    /// ```
    pub fn try_submit<F, T>(&self, f: F) -> Result<Future<T>, Rejected<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (promise, future) = promise();
        match Shared::try_push(&self.shared, Box::new(job::Task { f, promise })) {
            Ok(()) => Ok(future),
            Err(Refused::ShutDown(task) | Refused::Broken(task, _)) => {
                let job::Task { f, promise } = *task;
                // The future was never handed out; cancel rather than leave it "abandoned".
                promise.cancel();
                Err(Rejected(f))
            }
        }
    }

    /// Applies `f` to every item on the pool and yields the results in input order: Python's
    /// `map(fn, items)`, with its default options (see [`map_with`](Self::map_with)).
    ///
    /// The items are pulled lazily, on the calling thread, as results are taken: mapping an
    /// endless iterator runs in constant memory. Each result is `Ok` or the item's own
    /// [`TaskError`](weft_futures::TaskError) (a panic in one item fails that item alone).
    ///
    /// With the default options, the pool groups cheap items into batches behind the scenes
    /// (a batch per task, growing while the items prove cheap, back to one item per task for
    /// slow ones), keeping at most `2 × max_workers` batches in flight; set
    /// [`MapOptions::buffersize`] for an exact bound on the items pulled ahead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::new(2);
    /// let firsts: Vec<u64> = pool.map(|x: u64| x * x, 0..).take(4).map(Result::unwrap).collect();
    /// assert_eq!(firsts, [0, 1, 4, 9]);
    /// ```
    pub fn map<F, I, T>(&self, f: F, items: I) -> Map<'_, I::Item, T, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        self.map_with(f, items, MapOptions::default())
    }

    /// [`map`](Self::map) with explicit [`MapOptions`]: Python's
    /// `map(fn, items, chunksize=k, buffersize=n)`.
    ///
    /// * `buffersize(n)`: at most `n` tasks in flight, that is `n × chunksize` items pulled
    ///   ahead of the results taken (+1 to see the end). Without it: `2 × max_workers` tasks,
    ///   and adaptive batching as [`map`](Self::map) describes (unless `chunksize` is set).
    /// * `chunksize(k)`: `k` items per task; every item still gets its own result.
    ///
    /// Like Python's, the first tasks are submitted at once; the rest as results are taken.
    /// Dropping the iterator cancels the tasks not yet started, also before the first `next`
    /// (see [`Map`], shared by every executor). If the pool shuts down while
    /// mapping, an item that can no longer be scheduled yields
    /// [`TaskError::Cancelled`](weft_futures::TaskError::Cancelled) (or `BrokenPool`) and the
    /// iteration ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::MapOptions;
    ///
    /// let pool = weft_pool::ThreadPoolExecutor::new(2);
    /// let opts = MapOptions::default().buffersize(4).chunksize(8);
    /// let total: u64 = pool.map_with(|x: u64| x + 1, 0..100, opts).map(Result::unwrap).sum();
    /// assert_eq!(total, 5050);
    /// ```
    pub fn map_with<F, I, T>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Map<'_, I::Item, T, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        let buffersize = self.max_workers().saturating_mul(2);
        Map::new(Batches::new(self, f, options), items, options, buffersize)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting work: Python's `shutdown(wait=True, *, cancel_futures=False)`.
    ///
    /// * `cancel_futures`: every task still queued is cancelled (its future reports
    ///   [`cancelled`](weft_futures::Future::cancelled)); tasks already running finish.
    ///   Without it, the workers run every queued task first.
    /// * `wait`: blocks until every accepted task has finished or been cancelled and every
    ///   worker thread has exited. Called from inside one of the pool's own tasks, it waits
    ///   for the other workers and returns without joining its own thread (which exits once
    ///   its task returns), so it never deadlocks.
    ///
    /// Calling it again is harmless. Afterwards [`submit`](Self::submit) panics and
    /// [`try_submit`](Self::try_submit) hands the job back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_futures::TaskError;
    ///
    /// let pool = weft_pool::ThreadPoolExecutor::new(1);
    /// let slow = pool.submit(|| std::thread::sleep(Duration::from_millis(50)));
    /// let queued = pool.submit(|| 2);
    /// while !slow.running() { std::thread::yield_now(); }
    /// pool.shutdown(true, true);
    /// assert_eq!(slow.result(), Ok(()));
    /// assert_eq!(queued.result(), Err(TaskError::Cancelled));
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }
}

/// Panics as Python's `submit` raises, for a job the pool refused.
fn refusal_panic<J>(refused: &Refused<J>) -> ! {
    match refused {
        Refused::ShutDown(_) => panic!("cannot schedule new futures after shutdown"),
        Refused::Broken(_, why) => panic!("cannot schedule new futures: the pool is broken: {why}"),
    }
}

/// [`Executor::submit`]'s job: a task's arguments and the promise of its future; the arguments
/// come back untouched if the pool refuses the job.
struct Call<T: Task> {
    args: T::Args,
    promise: Promise<T::Output>,
}

impl<T: Task> Job for Call<T> {
    fn run(self: Box<Self>, finishing: &Finishing<'_>) {
        let Call { args, promise } = *self;
        // Python's `set_running_or_notify_cancel`, as for a closure.
        if promise.set_running() {
            let outcome =
                catch_unwind(AssertUnwindSafe(|| T::run(args))).map_err(TaskError::from_panic);
            finishing.announce();
            promise.complete(outcome);
        }
    }

    fn abort(self: Box<Self>, why: Abort) {
        why.apply(self.promise);
    }
}

/// The pool as a [`weft_futures::Executor`]: a [`Task`] runs on a worker thread, as
/// [`submit`](ThreadPoolExecutor::submit) runs a closure (nothing is serialized), and `map`
/// is [`map_with`](ThreadPoolExecutor::map_with) of `T::run`, adaptive batching included.
///
/// # Examples
///
/// ```
/// use weft_futures::{Executor, task};
/// use weft_pool::ThreadPoolExecutor;
///
/// task! {
///     pub struct Add = "tasks.add";
///     fn run((a, b): (i64, i64)) -> i64 { a + b }
/// }
///
/// let pool = ThreadPoolExecutor::new(2);
/// assert_eq!(Executor::submit::<Add>(&pool, (2, 3)).result(), Ok(5));
/// let sums: Vec<i64> = Executor::map::<Add, _>(&pool, [(1, 1), (2, 2)]).map(Result::unwrap).collect();
/// assert_eq!(sums, [2, 4]);
/// Executor::shutdown(&pool, true, false);
/// assert_eq!(Executor::try_submit::<Add>(&pool, (1, 2)).unwrap_err().into_inner(), (1, 2));
/// ```
impl Executor for ThreadPoolExecutor {
    fn submit<T: Task>(&self, args: T::Args) -> Future<T::Output> {
        let (promise, future) = promise();
        match Shared::try_push(&self.shared, Box::new(Call::<T> { args, promise })) {
            Ok(()) => future,
            Err(refused) => refusal_panic(&refused),
        }
    }

    fn try_submit<T: Task>(&self, args: T::Args) -> Result<Future<T::Output>, Rejected<T::Args>> {
        let (promise, future) = promise();
        match Shared::try_push(&self.shared, Box::new(Call::<T> { args, promise })) {
            Ok(()) => Ok(future),
            Err(Refused::ShutDown(call) | Refused::Broken(call, _)) => {
                let Call { args, promise } = *call;
                // The future was never handed out; cancel rather than leave it "abandoned".
                promise.cancel();
                Err(Rejected(args))
            }
        }
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
        self.shared.shutdown(wait, cancel_futures);
    }
}

impl Default for ThreadPoolExecutor {
    /// A pool of `min(32, cores + 4)` workers, Python's default.
    fn default() -> Self {
        Self::new(default_workers())
    }
}

impl Drop for ThreadPoolExecutor {
    /// `shutdown(true, false)`: waits for every accepted task.
    fn drop(&mut self) {
        self.shared.shutdown(true, false);
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.max_workers())
            .field("num_workers", &self.num_workers())
            .field("open", &self.is_open())
            .finish()
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ThreadPoolExecutor>();
    send_sync::<Builder>();
    send_sync::<crate::BuildError>();
    send_sync::<Rejected<fn()>>();
};
