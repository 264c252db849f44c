use std::fmt;

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
