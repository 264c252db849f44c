use std::fmt;

/// A job that [`ThreadPoolExecutor::try_submit`](crate::ThreadPoolExecutor::try_submit) did
/// not accept, handed back: the pool was shut down or is broken.
///
/// Python's `submit` raises `RuntimeError('cannot schedule new futures after shutdown')` (or
/// `BrokenThreadPool`) and the callable is simply lost; here it comes back, untouched and
/// uncalled.
///
/// # Examples
///
/// ```
/// use weft_pool::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(1);
/// pool.shutdown(true, false);
/// let job = pool.try_submit(|| 6 * 7).unwrap_err().into_inner();
/// assert_eq!(job(), 42);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rejected<F>(pub F);

impl<F> Rejected<F> {
    /// The job that was not accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = weft_pool::Rejected(|| 1);
    /// assert_eq!((r.into_inner())(), 1);
    /// ```
    pub fn into_inner(self) -> F {
        self.0
    }
}

impl<F> fmt::Debug for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rejected(..)")
    }
}

impl<F> fmt::Display for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot schedule new futures after shutdown or on a broken pool")
    }
}

impl<F> std::error::Error for Rejected<F> {}

/// Why [`Builder::build`](crate::Builder::build) could not make a pool.
///
/// Python raises `ValueError("max_workers must be greater than 0")`.
///
/// # Examples
///
/// ```
/// use weft_pool::{BuildError, ThreadPoolExecutor};
///
/// let err = ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(err, BuildError::ZeroWorkers);
/// assert_eq!(err.to_string(), "max_workers must be greater than 0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_workers(0)`: a pool needs at least one worker.
    ZeroWorkers,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroWorkers => f.write_str("max_workers must be greater than 0"),
        }
    }
}

impl std::error::Error for BuildError {}
