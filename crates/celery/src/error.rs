use std::fmt;

/// Why a [`Celery`](crate::Celery) app or a [`Worker`](crate::Worker) could not be made.
///
/// Errors of single tasks never come here: they complete the task's
/// [`Future`](weft_futures::Future) with a [`TaskError`](weft_futures::TaskError).
///
/// # Examples
///
/// ```
/// use weft_celery::{Celery, CeleryError};
///
/// let err = Celery::connect("http://127.0.0.1:6379").unwrap_err();
/// assert!(matches!(err, CeleryError::InvalidUrl(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CeleryError {
    /// The broker URL is not a `redis://` URL that the client understands.
    InvalidUrl(String),
    /// Redis could not be reached, or refused the connection (a wrong password, a wrong
    /// database number).
    Connect(String),
    /// A builder option is out of range (zero concurrency, no queue).
    Config(String),
}

impl fmt::Display for CeleryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "invalid broker url: {why}"),
            Self::Connect(why) => write!(f, "cannot connect to redis: {why}"),
            Self::Config(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for CeleryError {}
