use std::{any::Any, fmt};

/// Why a [`Future`](crate::Future) holds no value: Python's exceptions out of
/// `Future.result()`, as a typed error.
///
/// `TaskError` is `Clone + Send + Sync` and implements [`std::error::Error`]. New variants may
/// be added (`#[non_exhaustive]`): match with a wildcard arm.
///
/// | Python | weft |
/// |---|---|
/// | `CancelledError` | [`TaskError::Cancelled`] |
/// | an exception raised by the task | [`TaskError::Panicked`] (the panic message) |
/// | a future whose executor died before running it | [`TaskError::Abandoned`] |
/// | `BrokenThreadPool`, `BrokenProcessPool` | [`TaskError::BrokenPool`] |
/// | a pickling error, any other failure | [`TaskError::Failed`] |
///
/// # Examples
///
/// ```
/// use weft_futures::{TaskError, promise};
///
/// let (p, f) = promise::<u32>();
/// p.set_error(TaskError::Failed("no route to host".into()));
/// let err = f.result().unwrap_err();
/// assert_eq!(err.to_string(), "the task failed: no route to host");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskError {
    /// The future was cancelled before it started running (Python's `CancelledError`).
    Cancelled,
    /// The task panicked; this is the panic message (`"Box<dyn Any>"` for a payload that is not
    /// a string), as Python's `Future.exception()` holds the raised exception.
    Panicked(String),
    /// The [`Promise`](crate::Promise) was dropped without completing its future: the producer
    /// is gone, and no value will ever come.
    Abandoned,
    /// The pool that held the task broke (an initializer panicked, a worker process died);
    /// the reason names the cause, such as an exit status or a signal. Python's
    /// `BrokenThreadPool` / `BrokenProcessPool`.
    BrokenPool(String),
    /// Any other failure, such as an argument or result that could not be serialized.
    Failed(String),
}

impl TaskError {
    /// The panic message, for [`TaskError::Panicked`]; `None` for every other variant.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::TaskError;
    ///
    /// assert_eq!(TaskError::Panicked("boom".into()).panic_message(), Some("boom"));
    /// assert_eq!(TaskError::Cancelled.panic_message(), None);
    /// ```
    #[must_use]
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Self::Panicked(msg) => Some(msg),
            _ => None,
        }
    }

    /// A [`TaskError::Panicked`] from the payload that `std::panic::catch_unwind` returned:
    /// its message when the payload is a `&str` or a `String` (what `panic!` produces), and
    /// `"Box<dyn Any>"` otherwise, as std's panic hook prints.
    ///
    /// For executors: run the task under `catch_unwind`, and fail its future with this.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_futures::TaskError;
    ///
    /// let payload = std::panic::catch_unwind(|| panic!("bad {}", 42)).unwrap_err();
    /// assert_eq!(TaskError::from_panic(payload), TaskError::Panicked("bad 42".into()));
    /// let payload = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
    /// assert_eq!(TaskError::from_panic(payload).panic_message(), Some("Box<dyn Any>"));
    /// ```
    #[must_use]
    pub fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let msg = match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(s) => (*s).to_owned(),
                Err(_) => "Box<dyn Any>".to_owned(),
            },
        };
        Self::Panicked(msg)
    }

    /// Whether this is [`TaskError::Cancelled`] (Python's `isinstance(e, CancelledError)`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_futures::TaskError::Cancelled.is_cancelled());
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cancelled => f.write_str("the task was cancelled"),
            Self::Panicked(msg) => write!(f, "the task panicked: {msg}"),
            Self::Abandoned => {
                f.write_str("the task was abandoned: its promise was dropped without a result")
            }
            Self::BrokenPool(why) => write!(f, "the pool is broken: {why}"),
            Self::Failed(why) => write!(f, "the task failed: {why}"),
        }
    }
}

impl std::error::Error for TaskError {}

/// The deadline of [`as_completed_timeout`](crate::as_completed_timeout) passed before every
/// future completed: Python's `TimeoutError` out of `as_completed(fs, timeout)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft_futures::{Timeout, as_completed_timeout, promise};
///
/// let (_p, f) = promise::<u32>();
/// let mut it = as_completed_timeout(vec![f], Duration::from_millis(10));
/// assert_eq!(it.next().map(|r| r.err()), Some(Some(Timeout)));
/// assert_eq!(it.into_pending().len(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline passed before every future completed")
    }
}

impl std::error::Error for Timeout {}

/// Work that an executor's `try_submit` did not accept, handed back: the executor was shut
/// down or is broken.
///
/// Python's `submit` raises `RuntimeError('cannot schedule new futures after shutdown')` (or
/// `BrokenExecutor`) and the work is simply lost; here it comes back, untouched: the arguments
/// of [`Executor::try_submit`](crate::Executor::try_submit), the closure of
/// `weft_pool::ThreadPoolExecutor::try_submit`, the argument of
/// `weft_process::ProcessPoolExecutor::try_submit`. Defined once, here; both pools re-export it.
///
/// # Examples
///
/// ```
/// use weft_futures::Rejected;
///
/// let r = Rejected((2, 3));
/// assert_eq!(r.to_string(), "cannot schedule new futures after shutdown or on a broken pool");
/// assert_eq!(r.into_inner(), (2, 3));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rejected<A>(pub A);

impl<A> Rejected<A> {
    /// The work that was not accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_futures::Rejected(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> A {
        self.0
    }
}

impl<A> fmt::Debug for Rejected<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rejected(..)")
    }
}

impl<A> fmt::Display for Rejected<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot schedule new futures after shutdown or on a broken pool")
    }
}

impl<A> std::error::Error for Rejected<A> {}
