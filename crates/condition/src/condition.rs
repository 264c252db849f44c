use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use weft_sync::cell::UnsafeCell;

use weft_lock::raw::TaskWait;

use crate::{ConditionGuard, raw::Raw};

/// A condition variable that owns the data it guards: Python's `threading.Condition`.
///
/// A `Condition<T>` is a mutex around a `T` plus a queue of threads waiting for that `T` to
/// change. [`lock`](Condition::lock) returns a [`ConditionGuard`], which derefs to the data and
/// offers Python's methods: [`wait`](ConditionGuard::wait), [`wait_for`](ConditionGuard::wait_for),
/// their `_timeout` forms, [`notify`](ConditionGuard::notify) and
/// [`notify_all`](ConditionGuard::notify_all). The condition itself also offers
/// [`notify`](Condition::notify) and [`notify_all`](Condition::notify_all), callable without the
/// lock (Python raises `RuntimeError` there; Rust allows it, as `std::sync::Condvar` does).
///
/// # Fairness
///
/// Waiters are notified oldest first (FIFO). A notified waiter is not woken at once if the
/// mutex is held: it is moved onto the mutex's own queue and woken when the mutex is released,
/// so it never wakes only to block again. The mutex is `weft_lock::Lock`'s, with its eventual
/// fairness: a running thread may take it before a woken one, which keeps throughput high, but
/// a waiter queued for 0.5 ms or more is handed the mutex by the next release.
///
/// weft's waits never wake spuriously: [`ConditionGuard::wait`] returns only after a notify.
/// Still loop on your predicate ([`ConditionGuard::wait_for`] does), since another thread may
/// have changed the data again before you got the lock back.
///
/// A notification with no waiter costs one atomic load and is not remembered.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weft_condition::Condition;
///
/// let cond = Arc::new(Condition::new(Vec::new()));
/// let producer = {
///     let cond = Arc::clone(&cond);
///     std::thread::spawn(move || {
///         let mut items = cond.lock();
///         items.push(42);
///         items.notify(1);
///     })
/// };
/// let mut items = cond.lock();
/// items.wait_for(|v: &Vec<i32>| !v.is_empty());
/// assert_eq!(items.pop(), Some(42));
/// drop(items);
/// producer.join().unwrap();
/// ```
pub struct Condition<T> {
    pub(crate) raw: Raw,
    pub(crate) data: UnsafeCell<T>,
}

/// `T: Send` is enough: a `Condition` can be moved with its data to another thread.
// SAFETY: the `Raw` part is plain atomics and a lock; the data moves with the value.
unsafe impl<T: Send> Send for Condition<T> {}

/// `T: Send` is enough: only one thread at a time reaches the data, through the guard.
// SAFETY: every access to `data` goes through a `ConditionGuard`, which holds the mutex.
unsafe impl<T: Send> Sync for Condition<T> {}

impl<T> Condition<T> {
    /// A new condition owning `data`, unlocked, with nobody waiting.
    ///
    /// Python: `threading.Condition()` (the data lives beside it there; here it lives inside).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(0u32);
    /// assert_eq!(*cond.lock(), 0);
    /// ```
    pub fn new(data: T) -> Self {
        Self {
            raw: Raw::new(),
            data: UnsafeCell::new(data),
        }
    }

    /// Locks the condition's mutex, blocking while another thread holds it.
    ///
    /// Python: `with cond:` / `cond.acquire()`. The lock is not reentrant: locking it again on
    /// the thread that holds it deadlocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(1);
    /// *cond.lock() += 1;
    /// assert_eq!(*cond.lock(), 2);
    /// ```
    pub fn lock(&self) -> ConditionGuard<'_, T> {
        self.raw.lock();
        ConditionGuard::new(self)
    }

    /// Locks the condition's mutex as an async task, waiting while another thread or task
    /// holds it.
    ///
    /// Tasks and threads queue for the lock in one FIFO. The returned guard is `Send` for
    /// `T: Send`, so a task may hold it across `.await`. Runtime-agnostic (plain `Waker`s); for
    /// a timeout, wrap it in the runtime's (`tokio::time::timeout`).
    ///
    /// Cancellation is safe at any point: a future dropped after an unlock woke it (even
    /// before it was polled again) passes the wake-up on to the next waiter. See
    /// [`ConditionLock`].
    ///
    /// Python: `async with cond:` on an `asyncio.Condition`.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(1);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     *cond.lock_async().await += 1;
    /// });
    /// assert_eq!(*cond.lock(), 2);
    /// ```
    pub fn lock_async(&self) -> ConditionLock<'_, T> {
        ConditionLock {
            cond: self,
            wait: TaskWait::default(),
            done: false,
        }
    }

    /// Locks the condition's mutex if it is free at once.
    ///
    /// Python: `cond.acquire(blocking=False)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(());
    /// let g = cond.lock();
    /// assert!(cond.try_lock().is_none());
    /// drop(g);
    /// assert!(cond.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<ConditionGuard<'_, T>> {
        self.raw.try_lock().then(|| ConditionGuard::new(self))
    }

    /// Wakes up to `n` waiting threads, oldest first, without holding the lock; returns how
    /// many were woken (`min(n, waiting)`).
    ///
    /// A notification with nobody waiting is lost, as in Python. Without the lock, a thread that
    /// is between checking its predicate and waiting is not yet a waiter: change the data under
    /// the lock first, then notify, so that such a thread sees the change instead.
    ///
    /// Python: `cond.notify(n)` (which requires the lock there).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(false);
    /// *cond.lock() = true;
    /// assert_eq!(cond.notify(1), 0); // nobody was waiting
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        self.raw.notify(n)
    }

    /// Wakes every waiting thread; returns how many.
    ///
    /// Python: `cond.notify_all()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(());
    /// assert_eq!(cond.notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        self.raw.notify(usize::MAX)
    }

    /// Whether some thread holds the lock (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(());
    /// let g = cond.lock();
    /// assert!(cond.locked());
    /// # drop(g);
    /// ```
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Consumes the condition and returns its data.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(vec![1]);
    /// assert_eq!(cond.into_inner(), vec![1]);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// A mutable reference to the data: `&mut self` proves nobody else holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cond = weft_condition::Condition::new(1);
    /// *cond.get_mut() = 5;
    /// assert_eq!(*cond.lock(), 5);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every guard, so this is the only access.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// Parks with the mutex released until notified or `timeout`; for the guard.
    pub(crate) fn wait_raw(&self, timeout: Option<Duration>) -> bool {
        let deadline = match timeout {
            None => weft_sync::Deadline::never(),
            Some(d) => weft_sync::Deadline::after(d),
        };
        self.raw.wait(deadline)
    }
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Condition<T> {
    fn from(data: T) -> Self {
        Self::new(data)
    }
}

impl<T: fmt::Debug> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Condition");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// The future of [`Condition::lock_async`]: resolves to a [`ConditionGuard`].
///
/// `Send` for `T: Send`; its `poll` never blocks, and a queued task is polled again only once
/// an unlock woke it. Dropping it is always safe: still queued, it leaves; already woken, it
/// passes the wake-up on (it takes the lock if it is free and releases it at once, which wakes
/// the next waiter).
#[must_use = "futures do nothing unless polled"]
pub struct ConditionLock<'a, T> {
    cond: &'a Condition<T>,
    wait: TaskWait,
    done: bool,
}

impl<'a, T> Future for ConditionLock<'a, T> {
    type Output = ConditionGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConditionGuard<'a, T>> {
        let this = &mut *self;
        assert!(!this.done, "ConditionLock polled after completion");
        if this.cond.raw.poll_lock(&mut this.wait, cx) {
            this.done = true;
            Poll::Ready(ConditionGuard::new(this.cond))
        } else {
            Poll::Pending
        }
    }
}

impl<T> Drop for ConditionLock<'_, T> {
    fn drop(&mut self) {
        self.cond.raw.cancel_lock(&mut self.wait);
    }
}

impl<T> fmt::Debug for ConditionLock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionLock")
            .field("queued", &self.wait.is_queued())
            .finish_non_exhaustive()
    }
}
