use std::{fmt, iter::FusedIterator, time::Duration};

use weft_sync::{Arc, Deadline};

use crate::{Future, Timeout, queue::CompletionQueue};

/// The machinery shared by [`AsCompleted`], [`AsCompletedTimeout`] and [`wait`](crate::wait):
/// the futures by index, a per-call completion queue they push themselves onto, and the batch
/// of indices taken from it.
pub(crate) struct Completion<T> {
    slots: Vec<Option<Future<T>>>,
    queue: Arc<CompletionQueue>,
    /// Indices ready to yield: `batch[pos..]`.
    batch: Vec<usize>,
    pos: usize,
    /// Futures not yielded yet.
    remaining: usize,
}

impl<T> Completion<T> {
    /// Hooks every pending future; the ones already done are ready first, in input order.
    pub(crate) fn new(futures: impl IntoIterator<Item = Future<T>>) -> Self {
        // In place for a `Vec` (`Option<Future<T>>` has `Future<T>`'s layout).
        let slots: Vec<Option<Future<T>>> = futures.into_iter().map(Some).collect();
        // Both index buffers get room for every future up front: they swap roles as batches
        // are taken, and never grow during the run.
        let queue = Arc::new(CompletionQueue::with_capacity(slots.len()));
        let mut batch = Vec::with_capacity(slots.len());
        for (i, f) in slots.iter().enumerate() {
            let f = f.as_ref().expect("just filled");
            if !f.shared.add_hook(&queue, i) {
                batch.push(i);
            }
        }
        let remaining = slots.len();
        Self {
            slots,
            queue,
            batch,
            pos: 0,
            remaining,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }

    /// The index of the next future done, waiting until `deadline`; `None` on timeout or when
    /// every future was taken.
    pub(crate) fn next_index(&mut self, deadline: Deadline) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        if self.pos == self.batch.len() {
            self.batch.clear();
            self.pos = 0;
            if !self.queue.take_batch(&mut self.batch, deadline) {
                return None;
            }
        }
        let i = self.batch[self.pos];
        self.pos += 1;
        Some(i)
    }

    pub(crate) fn slot(&self, i: usize) -> &Future<T> {
        self.slots[i].as_ref().expect("each future completes once")
    }

    pub(crate) fn take(&mut self, i: usize) -> Future<T> {
        self.remaining -= 1;
        self.slots[i].take().expect("each future completes once")
    }

    /// Every future, yielded or not, in input order (for `wait`).
    pub(crate) fn into_all(mut self) -> Vec<Future<T>> {
        self.unhook();
        let mut slots = std::mem::take(&mut self.slots);
        self.remaining = 0;
        slots.drain(..).flatten().collect()
    }

    /// The futures not yielded yet, in input order, unhooked.
    pub(crate) fn into_pending(self) -> Vec<Future<T>> {
        self.into_all()
    }

    /// Removes our hook from every future not yielded, so that a future outliving this call
    /// carries no stale hook (and the queue's memory is freed with the last one).
    fn unhook(&mut self) {
        if self.remaining == 0 {
            return;
        }
        for f in self.slots.iter().flatten() {
            f.shared.remove_hook(&self.queue);
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        self.unhook();
    }
}

/// Iterates over futures as they complete: Python's `concurrent.futures.as_completed(fs)`.
///
/// Yields each future exactly once: first those already done (in input order), then the others
/// in the order they complete (finish or are cancelled), blocking until the next one does.
/// Each completion costs O(1): a pending future carries a hook that pushes it onto this call's
/// own completion queue, so nothing is polled or rescanned, whatever the number of futures.
/// The futures are moved in, so none can appear twice.
///
/// Dropping the iterator early is fine: the futures not yielded are dropped (not cancelled),
/// their hooks removed.
///
/// # Examples
///
/// ```
/// use weft_futures::{as_completed, promise};
///
/// let (p1, f1) = promise();
/// let (p2, f2) = promise();
/// p2.set_result(2);
/// let it = as_completed(vec![f1, f2]); // f2 is done already: it comes first
/// std::thread::spawn(move || p1.set_result(1));
/// let order: Vec<i32> = it.map(|f| f.result().unwrap()).collect();
/// assert_eq!(order, [2, 1]);
/// ```
pub fn as_completed<T>(futures: impl IntoIterator<Item = Future<T>>) -> AsCompleted<T> {
    AsCompleted {
        inner: Completion::new(futures),
    }
}

/// [`as_completed`] with a deadline: Python's `as_completed(fs, timeout)`.
///
/// Yields `Ok(future)` as [`as_completed`] does; once `timeout` has passed (never earlier)
/// with futures still pending, yields `Err(Timeout)` once and then ends.
/// [`AsCompletedTimeout::into_pending`] then hands back the futures not yielded.
/// [`Duration::MAX`] waits forever. The deadline is taken when this is called, as in Python.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft_futures::{Timeout, as_completed_timeout, promise};
///
/// let (p1, f1) = promise::<u8>();
/// let (_p2, f2) = promise::<u8>();
/// p1.set_result(1);
/// let mut it = as_completed_timeout(vec![f1, f2], Duration::from_millis(20));
/// assert_eq!(it.next().unwrap().unwrap().result(), Ok(1));
/// assert_eq!(it.next().unwrap().unwrap_err(), Timeout);
/// assert!(it.next().is_none());
/// assert_eq!(it.into_pending().len(), 1);
/// ```
pub fn as_completed_timeout<T>(
    futures: impl IntoIterator<Item = Future<T>>,
    timeout: Duration,
) -> AsCompletedTimeout<T> {
    let deadline = Deadline::after(timeout);
    AsCompletedTimeout {
        inner: Completion::new(futures),
        deadline,
        timed_out: false,
    }
}

/// The iterator of [`as_completed`].
#[must_use = "iterators do nothing unless iterated"]
pub struct AsCompleted<T> {
    inner: Completion<T>,
}

impl<T> AsCompleted<T> {
    /// The futures not yielded yet, in input order (Python has no counterpart: its
    /// `as_completed` keeps them in the generator).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_p, f) = weft_futures::promise::<u8>();
    /// assert_eq!(weft_futures::as_completed(vec![f]).into_pending().len(), 1);
    /// ```
    #[must_use]
    pub fn into_pending(self) -> Vec<Future<T>> {
        self.inner.into_pending()
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Future<T>;

    fn next(&mut self) -> Option<Future<T>> {
        let i = self.inner.next_index(Deadline::never())?;
        Some(self.inner.take(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.inner.remaining(), Some(self.inner.remaining()))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}
impl<T> FusedIterator for AsCompleted<T> {}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.inner.remaining())
            .finish()
    }
}

/// The iterator of [`as_completed_timeout`].
#[must_use = "iterators do nothing unless iterated"]
pub struct AsCompletedTimeout<T> {
    inner: Completion<T>,
    deadline: Deadline,
    timed_out: bool,
}

impl<T> AsCompletedTimeout<T> {
    /// The futures not yielded yet, in input order (after a [`Timeout`], the ones still
    /// pending then).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (_p, f) = weft_futures::promise::<u8>();
    /// let mut it = weft_futures::as_completed_timeout(vec![f], Duration::ZERO);
    /// assert!(it.next().unwrap().is_err());
    /// assert_eq!(it.into_pending().len(), 1);
    /// ```
    #[must_use]
    pub fn into_pending(self) -> Vec<Future<T>> {
        self.inner.into_pending()
    }
}

impl<T> Iterator for AsCompletedTimeout<T> {
    type Item = Result<Future<T>, Timeout>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.timed_out || self.inner.remaining() == 0 {
            return None;
        }
        match self.inner.next_index(self.deadline) {
            Some(i) => Some(Ok(self.inner.take(i))),
            None => {
                self.timed_out = true;
                Some(Err(Timeout))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.timed_out {
            (0, Some(0))
        } else {
            let n = self.inner.remaining();
            (n.min(1), Some(n))
        }
    }
}

impl<T> FusedIterator for AsCompletedTimeout<T> {}

impl<T> fmt::Debug for AsCompletedTimeout<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("remaining", &self.inner.remaining())
            .field("timed_out", &self.timed_out)
            .finish()
    }
}
