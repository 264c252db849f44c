use std::{
    fmt,
    future::IntoFuture,
    pin::Pin,
    task::{Context, Poll},
};

use weft_sync::waitq::Ticket;

use crate::{Future, TaskError};

/// The `std::future::Future` that awaits a [`Future`] (feature `async`): what
/// `future.await` runs. Python: `asyncio.wrap_future(f)`.
///
/// Polling never blocks: a pending poll registers the task's waker in the future's waiting
/// queue (the same FIFO as the threads blocked in [`Future::result`]), and the thread that
/// completes (or cancels) the future wakes it. Dropping it (for example, because the awaiting
/// task was aborted) does not cancel the future; its entry leaves the queue, and the threads
/// and tasks still waiting are woken by the completion as before.
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
    /// The task's entry in the future's waiting queue, while registered.
    ticket: Option<Ticket>,
}

impl<T> IntoFuture for Future<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = ResultFuture<T>;

    fn into_future(self) -> ResultFuture<T> {
        ResultFuture {
            future: Some(self),
            ticket: None,
        }
    }
}

impl<T> std::future::Future for ResultFuture<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `ResultFuture` is `Unpin`: its fields are plain values.
        let this = self.get_mut();
        let f = this
            .future
            .as_ref()
            .expect("ResultFuture polled after completion");
        if f.shared
            .poll_done(&mut this.ticket, cx.waker())
            .is_pending()
        {
            return Poll::Pending;
        }
        let f = this.future.take().expect("checked above");
        Poll::Ready(f.shared.take_outcome())
    }
}

impl<T> Drop for ResultFuture<T> {
    fn drop(&mut self) {
        if let Some(f) = &self.future {
            f.shared.forget_wait(&mut self.ticket);
        }
    }
}

impl<T> fmt::Debug for ResultFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultFuture")
            .field("future", &self.future)
            .field("waiting", &self.ticket.is_some())
            .finish()
    }
}

/// The future of [`Future::wait_async`] (feature `async`): resolves once the future is done,
/// without taking its result.
///
/// Polling never blocks; the task waits in the same FIFO as threads blocked on the same
/// future. Dropping it is always safe: its entry leaves the queue, and nothing is lost for the
/// other waiters.
#[must_use = "futures do nothing unless polled"]
pub struct FutureWait<'a, T> {
    future: &'a Future<T>,
    ticket: Option<Ticket>,
}

impl<T> Future<T> {
    /// Waits, as an async task, until the future is done (finished or cancelled), without
    /// taking the result: the async twin of [`Future::wait`].
    ///
    /// Unlike `future.await`, this borrows the future, so threads and tasks can wait on one
    /// future at once (share it with `Arc`); they all wait in one FIFO and the completion wakes
    /// them all. Runtime-agnostic (plain `Waker`s); for a timeout, wrap it in the runtime's
    /// (`tokio::time::timeout`). Cancellation is safe at any point: dropping the returned future
    /// leaves the future and its other waiters as if the task had never waited.
    ///
    /// Python: `await asyncio.wait([asyncio.wrap_future(f)])`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "async")] {
    /// use std::sync::Arc;
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let (p, f) = weft_futures::promise::<u8>();
    /// let f = Arc::new(f);
    /// let f2 = Arc::clone(&f);
    /// let thread = std::thread::spawn(move || f2.wait()); // a thread waits too
    /// p.set_result(1);
    /// rt.block_on(f.wait_async());
    /// assert!(f.done());
    /// thread.join().unwrap();
    /// # }
    /// ```
    pub fn wait_async(&self) -> FutureWait<'_, T> {
        FutureWait {
            future: self,
            ticket: None,
        }
    }
}

impl<T> std::future::Future for FutureWait<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.future.shared.poll_done(&mut this.ticket, cx.waker())
    }
}

impl<T> Drop for FutureWait<'_, T> {
    fn drop(&mut self) {
        self.future.shared.forget_wait(&mut self.ticket);
    }
}

impl<T> fmt::Debug for FutureWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureWait")
            .field("future", self.future)
            .field("waiting", &self.ticket.is_some())
            .finish()
    }
}
