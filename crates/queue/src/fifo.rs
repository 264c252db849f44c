use std::collections::VecDeque;

use crate::locked::Locked;

/// A first-in, first-out queue: Python's `queue.Queue`.
///
/// Bounded (`Queue::new(n)`, `n > 0`: `put` blocks while `n` items are queued) or unbounded
/// (`Queue::new(0)` or [`Queue::unbounded`]). Every put and get comes in three forms: blocking,
/// `try_` (never blocks) and `_timeout`. A put that fails hands its item back inside the error;
/// nothing is ever lost. [`task_done`](Queue::task_done) and [`join`](Queue::join) track work
/// as in Python, and [`shutdown`](Queue::shutdown) follows Python 3.13.
///
/// Share a queue between threads with [`Arc`](std::sync::Arc) or scoped threads.
///
/// # Fairness
///
/// Blocked getters (and blocked putters) are woken oldest first, one per item (or free slot);
/// a thread that arrives while others sleep may still be served first.
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
    inner: Locked<VecDeque<T>>,
}

impl<T> Queue<T> {
    fn with_maxsize(maxsize: usize) -> Self {
        Self {
            inner: Locked::new(VecDeque::new(), maxsize),
        }
    }
}

crate::api::queue_api!(Queue, [], 1, 2, 1, "queue.Queue");
