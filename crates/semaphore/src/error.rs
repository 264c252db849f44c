use std::fmt;

/// The error of [`BoundedSemaphore::release`]: the release would take the count past the
/// semaphore's initial value. Nothing was changed.
///
/// Python raises `ValueError("Semaphore released too many times")` here.
///
/// [`BoundedSemaphore::release`]: crate::BoundedSemaphore::release
///
/// # Examples
///
/// ```
/// use weft_semaphore::{BoundedSemaphore, BoundedSemaphoreError};
///
/// let sem = BoundedSemaphore::new(1);
/// assert_eq!(sem.release(1), Err(BoundedSemaphoreError));
/// assert_eq!(BoundedSemaphoreError.to_string(), "semaphore released too many times");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BoundedSemaphoreError;

impl fmt::Display for BoundedSemaphoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore released too many times")
    }
}

impl std::error::Error for BoundedSemaphoreError {}
