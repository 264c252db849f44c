use std::{
    fmt,
    future::IntoFuture,
    pin::Pin,
    task::{Context, Poll},
};

use crate::{Future, TaskError};

/// The `std::future::Future` that awaits a [`Future`] (feature `async`): what
/// `future.await` runs. Python: `asyncio.wrap_future(f)`.
///
/// Polling never blocks: a pending poll stores the task's waker in the future's shared state,
/// and the thread that completes (or cancels) the future wakes it. Dropping it (for example,
/// because the awaiting task was aborted) does not cancel the future.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "async")] {
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let (p, f) = weft_futures::promise();
/// std::thread::spawn(move || p.set_result(5));
/// assert_eq!(rt.block_on(async { f.await }), Ok(5));
/// # }
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ResultFuture<T> {
    future: Option<Future<T>>,
    /// Whether a waker of ours may sit in the shared state (to clear it on drop).
    registered: bool,
}

impl<T> IntoFuture for Future<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = ResultFuture<T>;

    fn into_future(self) -> ResultFuture<T> {
        ResultFuture {
            future: Some(self),
            registered: false,
        }
    }
}

impl<T> std::future::Future for ResultFuture<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let f = self
            .future
            .as_ref()
            .expect("ResultFuture polled after completion");
        if !f.done() && f.shared.set_waker(cx.waker()) {
            self.registered = true;
            return Poll::Pending;
        }
        let f = self.future.take().expect("checked above");
        self.registered = false;
        Poll::Ready(f.shared.take_outcome())
    }
}

impl<T> Drop for ResultFuture<T> {
    fn drop(&mut self) {
        if let (true, Some(f)) = (self.registered, &self.future) {
            f.shared.clear_waker();
        }
    }
}

impl<T> fmt::Debug for ResultFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultFuture")
            .field("future", &self.future)
            .finish()
    }
}
