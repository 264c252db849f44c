use std::{collections::VecDeque, fmt};

use serde::{Serialize, de::DeserializeOwned};
use weft_futures::{Future, TaskError, promise};

use crate::{
    ProcessPoolExecutor,
    job::{self, Chunk, One},
};

/// One submitted task of a [`Map`]: a single item, or a chunk of `n`.
enum Batch<R> {
    One(Future<R>),
    Chunk(Future<Vec<Result<R, TaskError>>>, usize),
    /// The pool refused the batch: its items fail with this error.
    Refused(TaskError, usize),
}

/// The iterator of [`ProcessPoolExecutor::map`] and [`ProcessPoolExecutor::map_with`]: one
/// `Result` per item, in input order.
///
/// It pulls items from the input on the caller's thread, keeping at most `buffersize` tasks
/// submitted and not yet consumed. Dropping it cancels the tasks that have not started (as
/// Python 3.14 does when a `map` generator is closed).
///
/// # Examples
///
/// ```
/// fn negate(x: i64) -> i64 {
///     -x
/// }
///
/// let pool = weft_process::ProcessPoolExecutor::new(2)?;
/// let mut it = pool.map(negate, [1, 2, 3]);
/// assert_eq!(it.next(), Some(Ok(-1)));
/// assert_eq!(it.collect::<Vec<_>>(), [Ok(-2), Ok(-3)]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "a map does nothing until iterated"]
pub struct Map<'a, A, R, I> {
    pool: &'a ProcessPoolExecutor,
    f: fn(A) -> R,
    items: Option<I>,
    chunksize: usize,
    buffersize: usize,
    inflight: VecDeque<Batch<R>>,
    ready: VecDeque<Result<R, TaskError>>,
}

impl<A, R, I> fmt::Debug for Map<'_, A, R, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("chunksize", &self.chunksize)
            .field("buffersize", &self.buffersize)
            .field("in_flight", &self.inflight.len())
            .finish_non_exhaustive()
    }
}

impl<'a, A, R, I> Map<'a, A, R, I>
where
    I: Iterator<Item = A>,
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(
        pool: &'a ProcessPoolExecutor,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
        buffersize: usize,
    ) -> Self {
        Self {
            pool,
            f,
            items: Some(items),
            chunksize: chunksize.max(1),
            buffersize: buffersize.max(1),
            inflight: VecDeque::new(),
            ready: VecDeque::new(),
        }
    }

    /// Submits tasks until `buffersize` are in flight or the input ends.
    fn fill(&mut self) {
        while self.inflight.len() < self.buffersize {
            let Some(items) = &mut self.items else { return };
            let batch: Vec<A> = items.by_ref().take(self.chunksize).collect();
            if batch.len() < self.chunksize {
                self.items = None;
            }
            if batch.is_empty() {
                return;
            }
            let n = batch.len();
            let frame = job::encode(self.f, batch.iter());
            let b = if self.chunksize == 1 {
                let (p, fut) = promise::<R>();
                match self.pool.push_sink(frame, Box::new(One(p))) {
                    Ok(()) => Batch::One(fut),
                    Err(e) => Batch::Refused(e, n),
                }
            } else {
                let (p, fut) = promise::<Vec<Result<R, TaskError>>>();
                match self
                    .pool
                    .push_sink(frame, Box::new(Chunk { promise: p, n }))
                {
                    Ok(()) => Batch::Chunk(fut, n),
                    Err(e) => Batch::Refused(e, n),
                }
            };
            self.inflight.push_back(b);
        }
    }
}

impl<A, R, I> Iterator for Map<'_, A, R, I>
where
    I: Iterator<Item = A>,
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.ready.pop_front() {
            return Some(r);
        }
        self.fill();
        let batch = self.inflight.pop_front()?;
        let out = match batch {
            Batch::One(f) => Some(f.result()),
            Batch::Chunk(f, n) => {
                match f.result() {
                    Ok(v) => self.ready.extend(v),
                    Err(e) => self.ready.extend(std::iter::repeat_n(e, n).map(Err)),
                }
                self.ready.pop_front()
            }
            Batch::Refused(e, n) => {
                self.ready.extend(std::iter::repeat_n(e, n).map(Err));
                self.ready.pop_front()
            }
        };
        // Keep the workers busy while the caller looks at this result.
        self.fill();
        out
    }
}

impl<A, R, I> Drop for Map<'_, A, R, I> {
    fn drop(&mut self) {
        for b in &self.inflight {
            match b {
                Batch::One(f) => {
                    f.cancel();
                }
                Batch::Chunk(f, _) => {
                    f.cancel();
                }
                Batch::Refused(..) => {}
            }
        }
    }
}
