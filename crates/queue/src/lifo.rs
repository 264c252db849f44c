use crate::{locked::Locked, store::Stack};

/// A last-in, first-out queue: Python's `queue.LifoQueue`.
///
/// The same API as [`Queue`](crate::Queue): bounded or unbounded (`maxsize == 0`), every put
/// and get in three forms, `task_done`/`join`, and Python 3.13's `shutdown`. `get` returns the
/// item put most recently.
///
/// # Examples
///
/// ```
/// let stack = weft_queue::LifoQueue::new(0);
/// stack.put(1)?;
/// stack.put(2)?;
/// assert_eq!(stack.get(), Ok(2));
/// # Ok::<(), weft_queue::ShutDown<i32>>(())
/// ```
pub struct LifoQueue<T> {
    inner: Locked<Stack<T>>,
}

impl<T> LifoQueue<T> {
    fn with_maxsize(maxsize: usize) -> Self {
        Self {
            inner: Locked::new(Stack::new(), maxsize),
        }
    }
}

crate::api::queue_api!(LifoQueue, [], 1, 2, 2, "queue.LifoQueue");
