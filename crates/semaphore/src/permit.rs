use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use crate::raw::{Overflow, Raw, TaskWait};

/// A permit taken from a [`Semaphore`] or a [`BoundedSemaphore`]; dropping it gives it back.
///
/// Python's `with sem:` block: the permit is held for the guard's lifetime. A permit may be
/// sent to another thread and released there. [`Permit::forget`] keeps the permit taken, to
/// be given back later by hand with `release`.
///
/// A permit dropped after its [`BoundedSemaphore`] was already released by hand up to its
/// initial value (a bug that CPython reports with `ValueError` at the end of the `with`
/// block) cannot fail in `drop`: the count stays at the initial value. Likewise a permit
/// never takes a [`Semaphore`] past [`Semaphore::MAX_PERMITS`].
///
/// [`Semaphore`]: crate::Semaphore
/// [`Semaphore::MAX_PERMITS`]: crate::Semaphore::MAX_PERMITS
/// [`BoundedSemaphore`]: crate::BoundedSemaphore
///
/// # Examples
///
/// ```
/// let sem = weft_semaphore::Semaphore::new(1);
/// {
///     let _permit = sem.acquire();
///     assert_eq!(sem.available(), 0);
/// } // Dropped here: released.
/// assert_eq!(sem.available(), 1);
/// ```
#[must_use = "dropping the permit releases it at once"]
pub struct Permit<'a> {
    raw: &'a Raw,
    /// The most permits a release may leave in the count: the initial value of a bounded
    /// semaphore, `MAX_PERMITS` otherwise.
    max: usize,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(raw: &'a Raw, max: usize) -> Self {
        Self { raw, max }
    }

    /// Keeps the permit taken: it is not given back when this value goes away.
    ///
    /// Release it later by hand with `release(1)`, as a Python program pairs `acquire()` with
    /// `release()` across functions or threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::Semaphore::new(1);
    /// sem.acquire().forget();
    /// assert_eq!(sem.available(), 0);
    /// sem.release(1);
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        // Clamp never fails.
        let _ = self.raw.release(1, self.max, Overflow::Clamp);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire_async`] and [`BoundedSemaphore::acquire_async`]:
/// resolves to a [`Permit`].
///
/// The task waits in the same FIFO as blocked threads. `Send` and `Sync`; its `poll` never
/// blocks, and a queued task is polled again only once a release woke it.
///
/// # Cancellation
///
/// Dropping the future is always safe and loses nothing. Not yet queued, or still queued, it
/// simply leaves. Already woken (even if never polled since): the release that woke it handed
/// it a permit, which is released at once, so the next waiter is woken (or handed it).
///
/// [`Semaphore::acquire_async`]: crate::Semaphore::acquire_async
/// [`BoundedSemaphore::acquire_async`]: crate::BoundedSemaphore::acquire_async
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    raw: &'a Raw,
    /// The bound a permit made here releases up to (see [`Permit`]).
    max: usize,
    wait: TaskWait,
    done: bool,
}

impl<'a> Acquire<'a> {
    pub(crate) fn new(raw: &'a Raw, max: usize) -> Self {
        Self {
            raw,
            max,
            wait: TaskWait::default(),
            done: false,
        }
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        let this = &mut *self;
        assert!(!this.done, "Acquire polled after completion");
        if this.raw.poll_acquire(&mut this.wait, cx) {
            this.done = true;
            Poll::Ready(Permit::new(this.raw, this.max))
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if self.raw.cancel(&mut self.wait) {
            // Pass the permit on: its release wakes the next waiter, thread or task.
            drop(Permit::new(self.raw, self.max));
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("queued", &self.wait.is_queued())
            .finish_non_exhaustive()
    }
}
