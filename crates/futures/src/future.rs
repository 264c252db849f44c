use std::{fmt, time::Duration};

use weft_sync::{Arc, Deadline};

use crate::{
    TaskError,
    shared::{CANCELLED, FINISHED_ERR, FINISHED_OK, RUNNING, Shared},
};

/// The identity of a [`Future`] (and of its [`Promise`](crate::Promise)): Python's
/// `id(future)`, for keeping futures in maps and sets.
///
/// Unique per future for the life of the process (never reused, unlike Python's `id`).
/// Ids of futures made on one thread grow in creation order.
///
/// # Examples
///
/// ```
/// let (_p1, f1) = weft_futures::promise::<u8>();
/// let (_p2, f2) = weft_futures::promise::<u8>();
/// assert_ne!(f1.id(), f2.id());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FutureId(pub(crate) u64);

impl fmt::Display for FutureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "future #{}", self.0)
    }
}

/// The result of a task that may not have finished yet: Python's
/// `concurrent.futures.Future`, consumer side.
///
/// A future is *pending*, then *running* (once its task started), then *finished* with a value
/// or a [`TaskError`]; or it is *cancelled* while still pending. *Done* means finished or
/// cancelled, and is final. Made by [`promise`](crate::promise) (or an executor's `submit`).
///
/// `Future<T>` is `Send + Sync` for `T: Send`, and not `Clone`: [`Future::result`] consumes it.
/// Query it from any thread through `&Future`; share it with `Arc` if several threads wait.
///
/// # Examples
///
/// ```
/// use weft_futures::promise;
///
/// let (p, f) = promise::<u32>();
/// assert!(!f.done());
/// std::thread::spawn(move || p.set_result(7));
/// assert_eq!(f.result(), Ok(7));
/// ```
pub struct Future<T> {
    pub(crate) shared: Arc<Shared<T>>,
}

impl<T> Future<T> {
    pub(crate) fn from_shared(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }

    /// Whether the future is done: finished (with a value or an error) or cancelled. Never
    /// blocks; a single Acquire load. Python's `Future.done()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (p, f) = weft_futures::promise();
    /// assert!(!f.done());
    /// p.set_result(());
    /// assert!(f.done());
    /// ```
    #[must_use]
    #[inline]
    pub fn done(&self) -> bool {
        self.shared.is_done()
    }

    /// Whether the task is running (started, not finished). Python's `Future.running()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (p, f) = weft_futures::promise::<()>();
    /// assert!(!f.running());
    /// p.set_running();
    /// assert!(f.running());
    /// ```
    #[must_use]
    pub fn running(&self) -> bool {
        self.shared.phase() == RUNNING
    }

    /// Whether the future was cancelled. Python's `Future.cancelled()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_p, f) = weft_futures::promise::<()>();
    /// f.cancel();
    /// assert!(f.cancelled() && f.done());
    /// ```
    #[must_use]
    pub fn cancelled(&self) -> bool {
        self.shared.phase() == CANCELLED
    }

    /// Cancels the future if it is still pending: Python's `Future.cancel()`.
    ///
    /// Returns `true` if the future is cancelled after the call (it was pending, or already
    /// cancelled), and `false` once it is running or finished. A cancelled future is done at
    /// once: its waiters wake, its done-callbacks run on this thread before `cancel` returns,
    /// [`Future::result`] returns [`TaskError::Cancelled`], and the producer's
    /// [`Promise::set_running`](crate::Promise::set_running) returns `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::{TaskError, promise};
    ///
    /// let (p, f) = promise::<u8>();
    /// assert!(f.cancel());
    /// assert!(f.cancel());
    /// assert!(!p.set_running());
    /// assert_eq!(f.result(), Err(TaskError::Cancelled));
    /// ```
    pub fn cancel(&self) -> bool {
        self.shared.cancel()
    }

    /// Blocks until the future is done (finished or cancelled), without taking the result.
    /// Python's `concurrent.futures.wait([f])`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (p, f) = weft_futures::promise();
    /// std::thread::spawn(move || p.set_result(1));
    /// f.wait();
    /// assert!(f.done());
    /// ```
    pub fn wait(&self) {
        let _ = self.shared.wait(Deadline::never());
    }

    /// Blocks until the future is done or `timeout` has passed; whether it is done.
    ///
    /// Never returns `false` before `timeout` has elapsed; [`Duration::MAX`] waits forever.
    /// Python: `concurrent.futures.wait([f], timeout)`, or `f.result(timeout)` without taking
    /// the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (p, f) = weft_futures::promise::<()>();
    /// assert!(!f.wait_timeout(Duration::from_millis(10)));
    /// p.set_result(());
    /// assert!(f.wait_timeout(Duration::ZERO));
    /// ```
    #[must_use = "false means the future is still not done"]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.shared.wait(Deadline::after(timeout))
    }

    /// Waits for the future and returns its outcome: Python's `Future.result()`.
    ///
    /// # Errors
    ///
    /// [`TaskError::Cancelled`] if it was cancelled; the error the producer set
    /// ([`TaskError::Panicked`] for a task that panicked, and so on); [`TaskError::Abandoned`]
    /// if the promise was dropped without completing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (p, f) = weft_futures::promise();
    /// p.set_result("ok");
    /// assert_eq!(f.result(), Ok("ok"));
    /// ```
    pub fn result(self) -> Result<T, TaskError> {
        self.wait();
        self.shared.take_outcome()
    }

    /// The outcome if the future is done, or the future back if not (never blocks): Python's
    /// `f.result(timeout=0)`.
    ///
    /// # Errors
    ///
    /// `Err(self)` while the future is not done.
    ///
    /// # Examples
    ///
    /// ```
    /// let (p, f) = weft_futures::promise();
    /// let f = f.try_result().unwrap_err();
    /// p.set_result(3);
    /// assert_eq!(f.try_result().ok(), Some(Ok(3)));
    /// ```
    pub fn try_result(self) -> Result<Result<T, TaskError>, Self> {
        if self.done() {
            Ok(self.shared.take_outcome())
        } else {
            Err(self)
        }
    }

    /// Waits up to `timeout` for the outcome: Python's `Future.result(timeout)`.
    ///
    /// # Errors
    ///
    /// `Err(self)` (the future handed back) if it is still not done once `timeout` has passed
    /// (never earlier); [`Duration::MAX`] waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (p, f) = weft_futures::promise();
    /// let f = f.result_timeout(Duration::from_millis(5)).unwrap_err();
    /// p.set_result(3);
    /// assert_eq!(f.result_timeout(Duration::MAX).ok(), Some(Ok(3)));
    /// ```
    pub fn result_timeout(self, timeout: Duration) -> Result<Result<T, TaskError>, Self> {
        if self.wait_timeout(timeout) {
            Ok(self.shared.take_outcome())
        } else {
            Err(self)
        }
    }

    /// Waits for the future and returns its error without taking the result: Python's
    /// `Future.exception()`. `None` if it finished with a value; [`TaskError::Cancelled`] for a
    /// cancelled future (where Python raises `CancelledError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::{TaskError, promise};
    ///
    /// let (p, f) = promise::<u8>();
    /// p.set_error(TaskError::Failed("disk full".into()));
    /// assert_eq!(f.exception(), Some(TaskError::Failed("disk full".into())));
    /// assert_eq!(f.result(), Err(TaskError::Failed("disk full".into())));
    /// ```
    #[must_use]
    pub fn exception(&self) -> Option<TaskError> {
        self.wait();
        self.shared.error()
    }

    /// Runs `f` once the future is done: Python's `Future.add_done_callback(fn)`.
    ///
    /// `f` runs exactly once: on the thread that makes the future done (inside
    /// [`Promise::set_result`](crate::Promise::set_result), `set_error`, `cancel` or the
    /// promise's drop) before that call returns, or at once on this thread if the future is
    /// already done. Callbacks run in registration order. A callback that panics is caught
    /// (the panic hook reports it, as Python logs it); the later callbacks still run and the
    /// future is unaffected. The callback gets no argument: capture what it needs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let (p, f) = weft_futures::promise::<u8>();
    /// f.add_done_callback(move || tx.send("done").unwrap());
    /// p.set_result(1);
    /// assert_eq!(rx.try_recv(), Ok("done"));
    /// ```
    pub fn add_done_callback<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.shared.add_callback(Box::new(f));
    }

    /// This future's unique id: Python's `id(f)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_p, f) = weft_futures::promise::<u8>();
    /// let id = f.id();
    /// assert_eq!(f.id(), id);
    /// ```
    #[must_use]
    pub fn id(&self) -> FutureId {
        FutureId(self.shared.id())
    }

    /// Whether the future finished with an error (not a cancellation): what Python's
    /// `FIRST_EXCEPTION` looks for.
    pub(crate) fn failed(&self) -> bool {
        self.shared.phase() == FINISHED_ERR
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.shared.phase() {
            RUNNING => "running",
            FINISHED_OK => "finished",
            FINISHED_ERR => "failed",
            CANCELLED => "cancelled",
            _ => "pending",
        };
        f.debug_struct("Future")
            .field("id", &self.id())
            .field("state", &state)
            .finish()
    }
}
