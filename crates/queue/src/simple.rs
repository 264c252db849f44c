use std::{fmt, time::Duration};

use crate::{list::List, locked::Block};

/// An unbounded FIFO queue without task tracking or shutdown: Python's `queue.SimpleQueue`.
///
/// `put` never blocks and cannot fail; `get` blocks while the queue is empty.
///
/// # Examples
///
/// ```
/// let q = weft_queue::SimpleQueue::new();
/// q.put("a");
/// q.put("b");
/// assert_eq!(q.get(), "a");
/// assert_eq!(q.try_get(), Some("b"));
/// assert_eq!(q.try_get(), None);
/// ```
pub struct SimpleQueue<T> {
    inner: List<T>,
}

impl<T> SimpleQueue<T> {
    /// A new, empty queue.
    ///
    /// Python: `queue.SimpleQueue()`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_queue::SimpleQueue::<u8>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self { inner: List::new() }
    }

    /// Puts `item` at the back; never blocks.
    ///
    /// Python: `q.put(item)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = weft_queue::SimpleQueue::new();
    /// q.put(1);
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn put(&self, item: T) {
        // An unbounded queue that is never shut down has no reason to refuse an item.
        if self.inner.put(item, Block::No).is_err() {
            unreachable!("an unbounded SimpleQueue refused an item");
        }
    }

    /// Takes the oldest item, blocking while the queue is empty.
    ///
    /// Python: `q.get()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = weft_queue::SimpleQueue::new();
    /// q.put(5);
    /// assert_eq!(q.get(), 5);
    /// ```
    pub fn get(&self) -> T {
        match self.inner.get(Block::forever()) {
            Ok(item) => item,
            Err(_) => unreachable!("a SimpleQueue is never shut down"),
        }
    }

    /// Takes the oldest item as an async task, waiting while the queue is empty.
    ///
    /// The task waits in the same FIFO as blocked getter threads, so threads and tasks can
    /// share one queue. Runtime-agnostic (plain `Waker`s); for a timeout, wrap it in the
    /// runtime's (`tokio::time::timeout`). The future is `Send` for `T: Send`. A dropped future
    /// never takes an item (it stays for the next getter), and a wake-up it received passes on
    /// to the next getter. See [`SimpleGetAsync`](crate::SimpleGetAsync).
    ///
    /// Python: `await q.get()` on an `asyncio.Queue` (asyncio has no `SimpleQueue`; `janus`
    /// bridges a thread side and an async side).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = weft_queue::SimpleQueue::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| q.put("from a thread"));
    ///     assert_eq!(rt.block_on(q.get_async()), "from a thread");
    /// });
    /// ```
    pub fn get_async(&self) -> crate::SimpleGetAsync<'_, T> {
        crate::SimpleGetAsync::new(&self.inner)
    }

    /// Takes the oldest item if there is one now.
    ///
    /// Python: `q.get_nowait()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = weft_queue::SimpleQueue::<u8>::new();
    /// assert_eq!(q.try_get(), None);
    /// ```
    pub fn try_get(&self) -> Option<T> {
        self.inner.get(Block::No).ok()
    }

    /// Takes the oldest item, waiting up to `timeout` for one; `None` once it passes (never
    /// earlier). [`Duration::MAX`] waits forever.
    ///
    /// Python: `q.get(timeout=t)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = weft_queue::SimpleQueue::<u8>::new();
    /// assert_eq!(q.get_timeout(Duration::from_millis(5)), None);
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        self.inner.get(Block::timeout(timeout)).ok()
    }

    /// How many items are queued now (a snapshot).
    ///
    /// Python: `q.qsize()`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_queue::SimpleQueue::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no item is queued now (a snapshot).
    ///
    /// Python: `q.empty()`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_queue::SimpleQueue::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Default for SimpleQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("len", &self.len())
            .finish()
    }
}
