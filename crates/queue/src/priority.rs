use crate::{locked::Locked, store::Heap};

/// A queue that hands out its smallest item first: Python's `queue.PriorityQueue`.
///
/// The order is `T`'s [`Ord`], smallest first, as Python's `heapq`; wrap items in
/// [`std::cmp::Reverse`] for largest first, or use a `(priority, item)` tuple as in Python.
/// Items of equal priority come out in no particular order.
///
/// The same API as [`Queue`](crate::Queue). If `T`'s `Ord` panics inside a put or a get, the
/// panic reaches the caller and the queue is left exactly as it was (the put's item is
/// dropped): every comparison is made before anything is moved. `Ord` runs under the queue's
/// internal lock, so it must not use the queue itself.
///
/// # Examples
///
/// ```
/// let q = weft_queue::PriorityQueue::new(0);
/// q.put((2, "write"))?;
/// q.put((1, "read"))?;
/// assert_eq!(q.get(), Ok((1, "read")));
/// # Ok::<(), weft_queue::ShutDown<(i32, &str)>>(())
/// ```
pub struct PriorityQueue<T> {
    inner: Locked<Heap<T>>,
}

impl<T: Ord> PriorityQueue<T> {
    fn with_maxsize(maxsize: usize) -> Self {
        Self {
            inner: Locked::new(Heap::new(), maxsize),
        }
    }
}

crate::api::queue_api!(PriorityQueue, [: Ord], 2, 1, 1, "queue.PriorityQueue");
