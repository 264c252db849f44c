use std::{
    collections::VecDeque,
    task::{Context, Poll},
};

use crate::{
    GetError, PutError, TaskDoneError,
    api::Backend,
    list::List,
    locked::{Block, Locked},
    ring::Ring,
    wait::TaskWait,
};

/// A first-in, first-out queue: Python's `queue.Queue`.
///
/// Bounded (`Queue::new(n)`, `n > 0`: `put` blocks while `n` items are queued) or unbounded
/// (`Queue::new(0)` or [`Queue::unbounded`]). Every put and get comes in three forms: blocking,
/// `try_` (never blocks) and `_timeout`. A put that fails hands its item back inside the error;
/// nothing is ever lost. [`task_done`](Queue::task_done) and [`join`](Queue::join) track work
/// as in Python, and [`shutdown`](Queue::shutdown) follows Python 3.13. The async twins
/// ([`put_async`](Queue::put_async), [`get_async`](Queue::get_async),
/// [`join_async`](Queue::join_async)) let async tasks share the queue with threads, as
/// `asyncio.Queue` (or `janus`) would in Python.
///
/// Share a queue between threads with [`Arc`](std::sync::Arc) or scoped threads.
///
/// # Fairness
///
/// Blocked getters (and blocked putters), threads and async tasks alike, wait in one FIFO and
/// are woken oldest first, one per item (or free slot); a caller that arrives while others
/// sleep may still be served first.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weft_queue::Queue;
///
/// let q = Arc::new(Queue::new(8));
/// let consumer = {
///     let q = Arc::clone(&q);
///     std::thread::spawn(move || {
///         let mut sum = 0;
///         while let Ok(n) = q.get() {
///             sum += n;
///             q.task_done().unwrap();
///         }
///         sum
///     })
/// };
/// for n in 1..=100 {
///     q.put(n)?;
/// }
/// q.join(); // every item processed
/// q.shutdown(false); // the consumer's next get fails: it stops
/// assert_eq!(consumer.join().unwrap(), 5050);
/// # Ok::<(), weft_queue::ShutDown<i32>>(())
/// ```
pub struct Queue<T> {
    inner: Fifo<T>,
}

/// Bounds up to this many slots get the lock-free ring, allocated up front; larger bounds get a
/// locked `VecDeque` that grows with use and shrinks after a burst; unbounded queues get the
/// two-lock segmented list.
const RING_MAX: usize = 1 << 16;

/// The two shapes of a FIFO queue.
///
/// The ring variant is large on purpose (its two ends sit on separate cache lines); boxing it
/// would add a pointer chase to every put and get.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Fifo<T> {
    Ring(Ring<T>),
    List(List<T>),
    Locked(Locked<VecDeque<T>>),
}

impl<T> Queue<T> {
    fn with_maxsize(maxsize: usize) -> Self {
        let inner = if maxsize == 0 {
            Fifo::List(List::new())
        } else if maxsize <= RING_MAX {
            Fifo::Ring(Ring::new(maxsize))
        } else {
            Fifo::Locked(Locked::new(VecDeque::new(), maxsize))
        };
        Self { inner }
    }
}

macro_rules! both {
    ($self:expr, $q:ident => $e:expr) => {
        match $self {
            Fifo::Ring($q) => $e,
            Fifo::List($q) => $e,
            Fifo::Locked($q) => $e,
        }
    };
}

impl<T> Backend<T> for Fifo<T> {
    fn poll_put(
        &self,
        item: &mut Option<T>,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<Result<(), PutError<T>>> {
        both!(self, q => q.poll_put(item, wait, cx))
    }
    fn cancel_put(&self, wait: &mut TaskWait) {
        both!(self, q => q.cancel_put(wait));
    }
    fn poll_get(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<Result<T, GetError>> {
        both!(self, q => q.poll_get(wait, cx))
    }
    fn cancel_get(&self, wait: &mut TaskWait) {
        both!(self, q => q.cancel_get(wait));
    }
    fn poll_join(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<()> {
        both!(self, q => q.poll_join(wait, cx))
    }
    fn cancel_join(&self, wait: &mut TaskWait) {
        both!(self, q => q.cancel_join(wait));
    }
    fn put(&self, item: T, block: Block) -> Result<(), PutError<T>> {
        both!(self, q => q.put(item, block))
    }
    fn get(&self, block: Block) -> Result<T, GetError> {
        both!(self, q => q.get(block))
    }
    fn len(&self) -> usize {
        both!(self, q => q.len())
    }
    fn maxsize(&self) -> usize {
        both!(self, q => q.maxsize())
    }
    fn task_done(&self) -> Result<(), TaskDoneError> {
        both!(self, q => q.task_done())
    }
    fn join(&self) {
        both!(self, q => q.join());
    }
    fn shutdown(&self, immediate: bool) {
        both!(self, q => q.shutdown(immediate));
    }
    fn is_shutdown(&self) -> bool {
        both!(self, q => q.is_shutdown())
    }
    fn unfinished(&self) -> usize {
        both!(self, q => q.unfinished())
    }
}

crate::api::queue_api!(Queue, [], 1, 2, 1, "queue.Queue");

/// Tests whose threads must be parked before the test acts: they wait for the ring's count of
/// parked threads instead of sleeping, so a slow or loaded machine cannot let a thread arrive
/// late and skip the blocked path (docs/verification.md, "Tests on a loaded machine").
#[cfg(all(test, not(weft_loom)))]
mod tests {
    use std::{sync::Arc, thread, time::Duration};

    use super::{Fifo, Queue};
    use crate::ShutDown;

    /// Waits until `getters` getters and `putters` putters are parked on `q`'s ring.
    fn until_parked<T>(q: &Queue<T>, getters: usize, putters: usize) {
        let Fifo::Ring(ring) = &q.inner else {
            panic!("a bounded queue of this size is a ring")
        };
        while ring.parked() != (getters, putters) {
            thread::yield_now();
        }
    }

    #[test]
    fn blocked_getter_woken_by_put_and_putter_by_get() {
        let q = Arc::new(Queue::new(1));
        let g = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get())
        };
        until_parked(&q, 1, 0);
        q.put(1).unwrap();
        assert_eq!(g.join().unwrap(), Ok(1));
        q.put(2).unwrap();
        let p = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(3))
        };
        until_parked(&q, 0, 1);
        assert_eq!(q.get(), Ok(2));
        p.join().unwrap().unwrap();
        assert_eq!(q.get(), Ok(3));
    }

    #[test]
    fn duration_max_is_forever() {
        let q = Arc::new(Queue::new(1));
        let g = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get_timeout(Duration::MAX))
        };
        until_parked(&q, 1, 0);
        q.put_timeout(5, Duration::MAX).unwrap();
        assert_eq!(g.join().unwrap(), Ok(5));
        q.put(1).unwrap();
        let p = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put_timeout(2, Duration::MAX))
        };
        until_parked(&q, 0, 1);
        assert_eq!(q.get(), Ok(1));
        assert_eq!(p.join().unwrap(), Ok(()));
        assert_eq!(q.get(), Ok(2));
    }

    #[test]
    fn shutdown_wakes_blocked_getters_and_putters() {
        for immediate in [false, true] {
            let empty = Arc::new(Queue::<u32>::new(1));
            let full = Arc::new(Queue::new(1));
            full.put(0).unwrap();
            let getters: Vec<_> = (0..3)
                .map(|_| {
                    let q = Arc::clone(&empty);
                    thread::spawn(move || q.get())
                })
                .collect();
            let putters: Vec<_> = (0..3)
                .map(|i| {
                    let q = Arc::clone(&full);
                    thread::spawn(move || q.put(i + 1))
                })
                .collect();
            until_parked(&empty, 3, 0);
            until_parked(&full, 0, 3);
            empty.shutdown(immediate);
            full.shutdown(immediate);
            for g in getters {
                assert_eq!(g.join().unwrap(), Err(ShutDown(())));
            }
            let mut back: Vec<_> = putters
                .into_iter()
                .map(|p| p.join().unwrap().unwrap_err().0)
                .collect();
            back.sort_unstable();
            assert_eq!(back, vec![1, 2, 3], "every item handed back");
            assert_eq!(full.try_get().is_ok(), !immediate);
        }
    }
}
