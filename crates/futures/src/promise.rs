use std::fmt;

use weft_sync::Arc;

use crate::{Future, TaskError, shared::Shared};

/// Creates a linked pair: the [`Promise`] that completes, and the [`Future`] that waits.
///
/// This is how an executor makes a future: Python's `Future()` created by `submit`, with the
/// executor keeping the right to call `set_running_or_notify_cancel`, `set_result` and
/// `set_exception`. Here those rights are a separate value, so that only the producer can
/// complete and only the consumer can take the result.
///
/// # Examples
///
/// ```
/// use weft_futures::promise;
///
/// let (p, f) = promise::<String>();
/// std::thread::spawn(move || {
///     if p.set_running() {
///         p.set_result("done".to_string());
///     }
/// });
/// assert_eq!(f.result().unwrap(), "done");
/// ```
#[must_use]
pub fn promise<T>() -> (Promise<T>, Future<T>) {
    let shared = Arc::new(Shared::new());
    (
        Promise {
            shared: shared.clone(),
        },
        Future::from_shared(shared),
    )
}

/// The producing end of a [`Future`]: marks it running and completes it, once.
///
/// Completing ([`Promise::set_result`], [`Promise::set_error`], [`Promise::complete`])
/// consumes the promise. A promise dropped without completing its future completes it with
/// [`TaskError::Abandoned`], so no waiter ever hangs on a producer that is gone.
///
/// `Promise<T>` is `Send` for `T: Send` (complete on any thread); it is not `Clone`.
///
/// Python: the executor side of `concurrent.futures.Future`
/// (`set_running_or_notify_cancel`, `set_result`, `set_exception`).
///
/// # Examples
///
/// ```
/// use weft_futures::{TaskError, promise};
///
/// let (p, f) = promise::<u8>();
/// drop(p);
/// assert_eq!(f.result(), Err(TaskError::Abandoned));
/// ```
pub struct Promise<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Promise<T> {
    /// Marks the future running, unless it was cancelled: Python's
    /// `set_running_or_notify_cancel`.
    ///
    /// Returns `true` if the future is now running (from then on [`Future::cancel`] fails), and
    /// `false` if it was cancelled first: the task should then not run (its future is already
    /// done, its waiters and callbacks already told). Calling it again on a running future
    /// returns `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::promise;
    ///
    /// let (p, f) = promise::<u8>();
    /// assert!(p.set_running());
    /// assert!(f.running());
    /// assert!(!f.cancel());
    ///
    /// let (p, f) = promise::<u8>();
    /// assert!(f.cancel());
    /// assert!(!p.set_running());
    /// ```
    pub fn set_running(&self) -> bool {
        self.shared.set_running()
    }

    /// Completes the future with `value`: wakes its waiters and runs its done-callbacks on this
    /// thread before returning. If the future was cancelled first, `value` is dropped.
    /// Python's `Future.set_result(value)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (p, f) = weft_futures::promise();
    /// p.set_result(42);
    /// assert_eq!(f.result(), Ok(42));
    /// ```
    pub fn set_result(self, value: T) {
        self.shared.complete(Ok(value));
    }

    /// Completes the future with `error` (Python's `set_exception`); as
    /// [`Promise::set_result`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::{TaskError, promise};
    ///
    /// let (p, f) = promise::<u8>();
    /// p.set_error(TaskError::Panicked("oops".into()));
    /// assert_eq!(f.result().unwrap_err().panic_message(), Some("oops"));
    /// ```
    pub fn set_error(self, error: TaskError) {
        self.shared.complete(Err(error));
    }

    /// Completes the future with `outcome`: [`Promise::set_result`] for `Ok`,
    /// [`Promise::set_error`] for `Err` (what a Python executor's work item does with the
    /// task's return value or exception). Returns `false` if the future had been cancelled
    /// (the outcome is then dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::{TaskError, promise};
    ///
    /// let (p, f) = promise::<u8>();
    /// let outcome = std::panic::catch_unwind(|| 6 * 7).map_err(TaskError::from_panic);
    /// assert!(p.complete(outcome));
    /// assert_eq!(f.result(), Ok(42));
    /// ```
    pub fn complete(self, outcome: Result<T, TaskError>) -> bool {
        self.shared.complete(outcome)
    }

    /// [`Promise::complete`], telling the caller when user code starts: `before_callbacks` runs
    /// on this thread after the future's waiters have been woken and before its first
    /// done-callback, and not at all when no callback is registered (nor when the future had
    /// been cancelled).
    ///
    /// An executor uses it to know whether completing a future may run arbitrary code: until
    /// the callbacks start, its worker is only a moment away from its next task; once they
    /// start, the worker is as busy as a task would keep it (Python's thread pool counts a
    /// worker idle only after the work item, callbacks included, has run).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use weft_futures::promise;
    ///
    /// let (p, f) = promise::<u8>();
    /// f.add_done_callback(|| println!("done"));
    /// let told = Cell::new(false);
    /// assert!(p.complete_with(Ok(1), || told.set(true)));
    /// assert!(told.get());
    ///
    /// let (p, f) = promise::<u8>(); // No callback: not told.
    /// let told = Cell::new(false);
    /// assert!(p.complete_with(Ok(2), || told.set(true)));
    /// assert!(!told.get());
    /// assert_eq!(f.result(), Ok(2));
    /// ```
    pub fn complete_with(
        self,
        outcome: Result<T, TaskError>,
        before_callbacks: impl FnOnce(),
    ) -> bool {
        self.shared.complete_with(outcome, before_callbacks)
    }

    /// Cancels the future if it is still pending, as [`Future::cancel`] does: for an executor
    /// that cancels the work it still holds (`shutdown(cancel_futures=True)`). Returns `true`
    /// if the future is cancelled after the call.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::{TaskError, promise};
    ///
    /// let (p, f) = promise::<u8>();
    /// assert!(p.cancel());
    /// assert_eq!(f.result(), Err(TaskError::Cancelled));
    /// ```
    pub fn cancel(&self) -> bool {
        self.shared.cancel()
    }

    /// Whether the future was cancelled (so the task need not run): Python's
    /// `Future.cancelled()`, from the executor's side.
    ///
    /// # Examples
    ///
    /// ```
    /// let (p, f) = weft_futures::promise::<u8>();
    /// assert!(!p.is_cancelled());
    /// f.cancel();
    /// assert!(p.is_cancelled());
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.shared.phase() == crate::shared::CANCELLED
    }

    /// The id of the future this promise completes (Python's `id(future)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (p, f) = weft_futures::promise::<u8>();
    /// assert_eq!(p.id(), f.id());
    /// ```
    #[must_use]
    pub fn id(&self) -> crate::FutureId {
        crate::FutureId(self.shared.id())
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if !self.shared.is_done() {
            self.shared.complete(Err(TaskError::Abandoned));
        }
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}
