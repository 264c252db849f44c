use std::fmt;

/// The queue was shut down ([`Queue::shutdown`](crate::Queue::shutdown)); carries back the
/// item a `put` could not deliver (`ShutDown<()>` from a `get`).
///
/// Python: `queue.ShutDown` (3.13).
///
/// # Examples
///
/// ```
/// use weft_queue::{Queue, ShutDown};
/// let q = Queue::new(0);
/// q.shutdown(false);
/// assert_eq!(q.put(7), Err(ShutDown(7)));
/// assert_eq!(q.get(), Err(ShutDown(())));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ShutDown<T = ()>(pub T);

impl<T> ShutDown<T> {
    /// The item that could not be delivered.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_queue::ShutDown(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for ShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShutDown(..)")
    }
}

impl<T> fmt::Display for ShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is shut down")
    }
}

impl<T> std::error::Error for ShutDown<T> {}

/// Why a `try_put` or `put_timeout` failed; the item comes back inside.
///
/// Python: `queue.Full` / `queue.ShutDown`.
///
/// # Examples
///
/// ```
/// use weft_queue::{PutError, Queue};
/// let q = Queue::new(1);
/// q.try_put(1).unwrap();
/// let err = q.try_put(2).unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.into_inner(), 2);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutError<T> {
    /// The queue stayed full (at once for `try_put`, until the timeout for `put_timeout`).
    Full(T),
    /// The queue was shut down.
    ShutDown(T),
}

impl<T> PutError<T> {
    /// The item that could not be put.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_queue::PutError::Full(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(t) | Self::ShutDown(t) => t,
        }
    }

    /// Whether the queue was full.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_queue::PutError::Full(1).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the queue was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_queue::PutError::ShutDown(1).is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Self::ShutDown(_))
    }
}

impl<T> From<ShutDown<T>> for PutError<T> {
    fn from(e: ShutDown<T>) -> Self {
        Self::ShutDown(e.0)
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "Full(..)",
            Self::ShutDown(_) => "ShutDown(..)",
        })
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "queue is full",
            Self::ShutDown(_) => "queue is shut down",
        })
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why a `try_get` or `get_timeout` failed.
///
/// Python: `queue.Empty` / `queue.ShutDown`.
///
/// # Examples
///
/// ```
/// use weft_queue::{GetError, Queue};
/// let q = Queue::<u8>::new(0);
/// assert_eq!(q.try_get(), Err(GetError::Empty));
/// q.shutdown(false);
/// assert!(q.try_get().unwrap_err().is_shutdown());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GetError {
    /// The queue stayed empty (at once for `try_get`, until the timeout for `get_timeout`).
    Empty,
    /// The queue was shut down and is empty.
    ShutDown,
}

impl GetError {
    /// Whether the queue was empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_queue::GetError::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// Whether the queue was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_queue::GetError::ShutDown.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Self::ShutDown)
    }
}

impl From<ShutDown> for GetError {
    fn from(_: ShutDown) -> Self {
        Self::ShutDown
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "queue is empty",
            Self::ShutDown => "queue is shut down",
        })
    }
}

impl std::error::Error for GetError {}

/// `task_done` was called more times than items were put; nothing changed.
///
/// Python: `ValueError('task_done() called too many times')`.
///
/// # Examples
///
/// ```
/// let q = weft_queue::Queue::<u8>::new(0);
/// assert!(q.task_done().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TaskDoneError(pub(crate) ());

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done called too many times")
    }
}

impl std::error::Error for TaskDoneError {}
