//! `Executor` and `Task`: one interface for every pool, and tasks declared once.

use serde::{Serialize, de::DeserializeOwned};

use crate::{Future, Map, MapOptions, Rejected};

/// A typed task, declared once, that runs unchanged on any [`Executor`]: on threads, on forked
/// processes, or on Celery workers.
///
/// A task is a type (usually a unit struct) that names a plain function from serde-serializable
/// arguments to a serde-serializable result. The name is how a remote worker knows it (a
/// Celery task name such as `"tasks.add"`); the serde bounds let a process or a cluster carry
/// the arguments and the result. Several arguments travel as a tuple.
///
/// Declare tasks with the [`task!`](crate::task) macro, or implement the trait by hand.
///
/// | Python | weft |
/// |---|---|
/// | `def add(a, b): return a + b` then `ex.submit(add, 2, 3)` | `task! { pub struct Add = "tasks.add"; fn run((a, b): (i64, i64)) -> i64 { a + b } }` then `ex.submit::<Add>((2, 3))` |
/// | `@app.task(name="tasks.add")` (Celery) | the same declaration: [`Task::NAME`] |
///
/// # Examples
///
/// ```
/// use weft_futures::Task;
///
/// struct Add;
///
/// impl Task for Add {
///     const NAME: &'static str = "tasks.add";
///     type Args = (i64, i64);
///     type Output = i64;
///
///     fn run((a, b): (i64, i64)) -> i64 {
///         a + b
///     }
/// }
///
/// assert_eq!(Add::run((2, 3)), 5);
/// assert_eq!(Add::NAME, "tasks.add");
/// ```
pub trait Task: 'static {
    /// The task's name: the name a Celery worker knows it by (`"tasks.add"`), and the name that
    /// messages and logs use for it.
    const NAME: &'static str;
    /// The arguments (a tuple for several).
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// The result.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// Runs the task. A panic fails the task's future with
    /// [`TaskError::Panicked`](crate::TaskError::Panicked) on every executor.
    fn run(args: Self::Args) -> Self::Output;
}

/// Declares tasks: each a unit struct implementing [`Task`].
///
/// ```text
/// task! {
///     /// Docs for the task.
///     pub struct Name = "the.task.name";
///     fn run(PATTERN: ArgsType) -> OutputType { body }
///     // ... more tasks
/// }
/// ```
///
/// The argument pattern is one token tree: a name (`x`), `_`, or a tuple pattern
/// (`(a, b)`). The struct derives `Clone, Copy, Debug, Default, PartialEq, Eq, Hash`.
///
/// # Examples
///
/// ```
/// use weft_futures::{Executor, Task, task};
///
/// task! {
///     /// Adds two numbers.
///     pub struct Add = "tasks.add";
///     fn run((a, b): (i64, i64)) -> i64 { a + b }
///
///     /// Says hello.
///     struct Greet = "tasks.greet";
///     fn run(name: String) -> String { format!("hello, {name}") }
/// }
///
/// assert_eq!(Add::run((2, 3)), 5);
/// assert_eq!(Greet::NAME, "tasks.greet");
///
/// // One function, any executor.
/// fn total<E: Executor>(ex: &E) -> i64 {
///     ex.map::<Add, _>([(1, 2), (3, 4)]).map(Result::unwrap).sum()
/// }
/// # let _ = total::<weft_futures::doc_support::Inline>;
/// ```
#[macro_export]
macro_rules! task {
    ($(
        $(#[$meta:meta])*
        $vis:vis struct $name:ident = $task_name:literal;
        fn run($arg:tt : $args:ty) -> $output:ty $body:block
    )*) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        $vis struct $name;

        impl $crate::Task for $name {
            const NAME: &'static str = $task_name;
            type Args = $args;
            type Output = $output;

            fn run($arg: $args) -> $output $body
        }
    )*};
}

/// One interface for every pool: Python's `concurrent.futures.Executor`.
///
/// `weft_pool::ThreadPoolExecutor`, `weft_process::ProcessPoolExecutor` and
/// `weft_celery::CeleryExecutor` implement it, so code written once against it runs a typed
/// [`Task`] on threads, on forked processes or on a cluster, and gets the same [`Future`]s
/// back (`as_completed` and `wait` accept the futures of any of them, mixed). `map` behaves
/// the same on each: see [`Map`].
///
/// On a concrete pool, the inherent `submit` and `map` (which take closures or `fn`s) come
/// first in method lookup; reach these through generic code (`fn work<E: Executor>(ex: &E)`)
/// or by path: `Executor::submit::<Add>(&pool, (2, 3))`.
///
/// | Python | weft |
/// |---|---|
/// | `ex.submit(fn, *args)` | [`ex.submit::<T>(args)`](Executor::submit) |
/// | `ex.map(fn, items)` | [`ex.map::<T, _>(items)`](Executor::map) |
/// | `ex.map(fn, items, chunksize=k, buffersize=n)` | [`ex.map_with::<T, _>(items, MapOptions::default().chunksize(k).buffersize(n))`](Executor::map_with) |
/// | `ex.shutdown(wait, cancel_futures=c)` | [`ex.shutdown(wait, c)`](Executor::shutdown) |
/// | `RuntimeError` from `submit` after shutdown | [`try_submit`](Executor::try_submit) → [`Rejected`] with the arguments |
///
/// # Examples
///
/// ```
/// use weft_futures::{Executor, task};
///
/// task! {
///     pub struct Square = "tasks.square";
///     fn run(x: u64) -> u64 { x * x }
/// }
///
/// /// Written once; runs on threads, processes or Celery workers.
/// fn sum_of_squares<E: Executor>(ex: &E, n: u64) -> u64 {
///     ex.map::<Square, _>(0..n).map(Result::unwrap).sum()
/// }
/// # assert_eq!(sum_of_squares(&weft_futures::doc_support::Inline, 4), 14);
/// ```
pub trait Executor {
    /// Schedules `T::run(args)` and returns the future of its result: Python's
    /// `submit(fn, *args)`.
    ///
    /// # Panics
    ///
    /// After [`shutdown`](Executor::shutdown), or once the executor is broken, as Python
    /// raises `RuntimeError` / `BrokenExecutor`; [`try_submit`](Executor::try_submit) hands the
    /// arguments back instead.
    fn submit<T: Task>(&self, args: T::Args) -> Future<T::Output>;

    /// [`submit`](Executor::submit), handing the arguments back if the executor refuses work.
    ///
    /// # Errors
    ///
    /// [`Rejected`] with `args`, untouched, after shutdown or once the executor is broken.
    fn try_submit<T: Task>(&self, args: T::Args) -> Result<Future<T::Output>, Rejected<T::Args>>;

    /// `T::run` over `items`, results in input order: Python's `map(fn, items)`, as
    /// [`map_with`](Executor::map_with) with the default options.
    fn map<T: Task, I>(&self, items: I) -> Map<'_, T::Args, T::Output, I::IntoIter>
    where
        I: IntoIterator<Item = T::Args>,
    {
        self.map_with::<T, I>(items, MapOptions::default())
    }

    /// `T::run` over `items` with `options`: Python's
    /// `map(fn, items, chunksize=k, buffersize=n)`. The first `buffersize` tasks are submitted
    /// now, the rest as results are taken; dropping the iterator cancels what was not
    /// consumed (see [`Map`]). Without an explicit `buffersize`, the executor picks its own
    /// (weft's pools: 2 × `max_workers`).
    fn map_with<T: Task, I>(
        &self,
        items: I,
        options: MapOptions,
    ) -> Map<'_, T::Args, T::Output, I::IntoIter>
    where
        I: IntoIterator<Item = T::Args>;

    /// Stops accepting work: Python's `shutdown(wait=True, *, cancel_futures=False)`. With
    /// `cancel_futures`, the tasks not started are cancelled; with `wait`, returns once every
    /// accepted task is done. Calling it again is harmless.
    fn shutdown(&self, wait: bool, cancel_futures: bool);
}

/// An executor for the examples in these docs: it runs each task on the calling thread, at
/// once. Not part of the API.
#[doc(hidden)]
pub mod doc_support {
    use crate::{
        Executor, Future, Map, MapOptions, MapSubmit, Rejected, Submitted, Task, TaskError, promise,
    };

    /// Runs every task inline, on the caller's thread.
    #[derive(Debug, Default)]
    pub struct Inline;

    struct Run<T>(std::marker::PhantomData<fn() -> T>);

    impl<T: Task> MapSubmit<T::Args, T::Output> for Run<T> {
        fn submit(&mut self, mut items: Vec<T::Args>) -> Submitted<T::Args, T::Output> {
            match items.pop() {
                Some(x) if items.is_empty() => Submitted::One(run::<T>(x)),
                _ => Submitted::Refused(TaskError::Failed("chunks are not supported".into())),
            }
        }
    }

    fn run<T: Task>(args: T::Args) -> Future<T::Output> {
        let (p, f) = promise();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| T::run(args)));
        p.complete(outcome.map_err(TaskError::from_panic));
        f
    }

    impl Executor for Inline {
        fn submit<T: Task>(&self, args: T::Args) -> Future<T::Output> {
            run::<T>(args)
        }

        fn try_submit<T: Task>(
            &self,
            args: T::Args,
        ) -> Result<Future<T::Output>, Rejected<T::Args>> {
            Ok(run::<T>(args))
        }

        fn map_with<T: Task, I>(
            &self,
            items: I,
            options: MapOptions,
        ) -> Map<'_, T::Args, T::Output, I::IntoIter>
        where
            I: IntoIterator<Item = T::Args>,
        {
            Map::new(
                Run::<T>(std::marker::PhantomData),
                items,
                options.chunksize(1),
                1,
            )
        }

        fn shutdown(&self, _wait: bool, _cancel_futures: bool) {}
    }
}
