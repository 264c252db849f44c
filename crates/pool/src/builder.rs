use std::fmt;

use weft_sync::Arc;

use crate::{BuildError, ThreadPoolExecutor, shared::Shared};

/// Configures a [`ThreadPoolExecutor`]: Python's
/// `ThreadPoolExecutor(max_workers, thread_name_prefix, initializer, initargs)`.
///
/// Made by [`ThreadPoolExecutor::builder`]; every setting is optional.
///
/// # Examples
///
/// ```
/// use weft_pool::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(2)
///     .thread_name_prefix("fetch")
///     .initializer(|| println!("worker up"))
///     .build()?;
/// let name = pool.submit(|| std::thread::current().name().map(String::from)).result()?;
/// assert_eq!(name.as_deref(), Some("fetch_0"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    max_workers: Option<usize>,
    prefix: Option<String>,
    initializer: Option<Box<dyn Fn() + Send + Sync>>,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Self {
            max_workers: None,
            prefix: None,
            initializer: None,
        }
    }

    /// The most worker threads the pool starts (default: `min(32, cores + 4)`, as Python's).
    /// Zero makes [`Builder::build`] fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::builder().max_workers(3).build()?;
    /// assert_eq!(pool.max_workers(), 3);
    /// # Ok::<(), weft_pool::BuildError>(())
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Names the worker threads `<prefix>_0`, `<prefix>_1`, … (default prefix:
    /// `ThreadPoolExecutor-<k>`, with `k` counting the pools of the process, as Python's).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = weft_pool::ThreadPoolExecutor::builder().thread_name_prefix("io").build()?;
    /// let name = pool.submit(|| std::thread::current().name().unwrap().to_owned()).result();
    /// assert_eq!(name.as_deref(), Ok("io_0"));
    /// # Ok::<(), weft_pool::BuildError>(())
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Runs `init` at the start of every worker thread, before its first task (Python's
    /// `initializer` and `initargs`: capture the arguments in the closure).
    ///
    /// If `init` panics, the pool is broken: the futures of every task still queued fail with
    /// [`TaskError::BrokenPool`](weft_futures::TaskError::BrokenPool), and the pool rejects
    /// new work as a shut-down pool does.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::TaskError;
    /// use weft_pool::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().initializer(|| panic!("no database")).build()?;
    /// let err = pool.submit(|| 1).result().unwrap_err();
    /// assert!(matches!(err, TaskError::BrokenPool(why) if why.contains("initializer panicked")));
    /// # Ok::<(), weft_pool::BuildError>(())
    /// ```
    pub fn initializer<F>(mut self, init: F) -> Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.initializer = Some(Box::new(init));
        self
    }

    /// Makes the pool. No thread starts yet: workers start as tasks arrive.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)` (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_pool::{BuildError, ThreadPoolExecutor};
    ///
    /// assert!(ThreadPoolExecutor::builder().build().is_ok());
    /// assert_eq!(ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err(), BuildError::ZeroWorkers);
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, BuildError> {
        let max_workers = self.max_workers.unwrap_or_else(default_workers);
        if max_workers == 0 {
            return Err(BuildError::ZeroWorkers);
        }
        let prefix = self.prefix.unwrap_or_else(default_prefix);
        let shared = Shared::new(max_workers, prefix, self.initializer);
        Ok(ThreadPoolExecutor::from_shared(Arc::new(shared)))
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.prefix)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

/// Python's default: `min(32, (os.process_cpu_count() or 1) + 4)`.
pub(crate) fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    (cores + 4).min(32)
}

fn default_prefix() -> String {
    // A name counter, not a synchronisation variable: it orders nothing, so loom need not see it.
    #[allow(clippy::disallowed_types)]
    static POOLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = POOLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("ThreadPoolExecutor-{k}")
}
