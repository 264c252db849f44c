use std::{fmt, time::Duration};

use weft_sync::Deadline;

use crate::{
    error::BoundedSemaphoreError,
    permit::{Acquire, Permit},
    raw::{MAX_PERMITS, Overflow, Raw},
};

/// A semaphore whose count may never exceed its initial value: Python's
/// `threading.BoundedSemaphore`.
///
/// It acquires like a [`Semaphore`](crate::Semaphore) and hands out the same [`Permit`]; the
/// difference is [`release`](BoundedSemaphore::release), which returns an error, changing
/// nothing, when it would take the count past the initial value (a release without a matching
/// acquire: usually a bug).
///
/// Fairness and cost are those of [`Semaphore`](crate::Semaphore).
///
/// # Examples
///
/// ```
/// use weft_semaphore::BoundedSemaphore;
///
/// let pool = BoundedSemaphore::new(2);
/// let a = pool.acquire();
/// a.forget(); // Keep it taken, as Python's bare `acquire()`...
/// pool.release(1)?; // ...and give it back by hand, as `release()`.
/// assert!(pool.release(1).is_err()); // One too many: nothing changes.
/// assert_eq!(pool.available(), 2);
/// # Ok::<(), weft_semaphore::BoundedSemaphoreError>(())
/// ```
pub struct BoundedSemaphore {
    raw: Raw,
    initial: usize,
}

impl BoundedSemaphore {
    /// A bounded semaphore holding `permits` permits, which is also its bound.
    ///
    /// Python: `threading.BoundedSemaphore(value)`.
    ///
    /// # Panics
    ///
    /// If `permits` is more than [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::BoundedSemaphore::new(2);
    /// assert_eq!(sem.available(), 2);
    /// ```
    #[must_use]
    pub fn new(permits: usize) -> Self {
        assert!(permits <= MAX_PERMITS, "semaphore permit count overflow");
        Self {
            raw: Raw::new(permits),
            initial: permits,
        }
    }

    /// Takes a permit, blocking until one is free (see
    /// [`Semaphore::acquire`](crate::Semaphore::acquire)).
    ///
    /// Python: `sem.acquire()`, or `with sem:`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::BoundedSemaphore::new(1);
    /// let permit = sem.acquire();
    /// assert_eq!(sem.available(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[inline]
    pub fn acquire(&self) -> Permit<'_> {
        let got = self.raw.acquire(Deadline::never());
        debug_assert!(got);
        Permit::new(&self.raw, self.initial)
    }

    /// Takes a permit if one is free right now; never blocks.
    ///
    /// Python: `sem.acquire(blocking=False)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::BoundedSemaphore::new(1);
    /// let _p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// ```
    #[inline]
    #[must_use = "dropping the permit releases it at once"]
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        self.raw
            .try_acquire()
            .then(|| Permit::new(&self.raw, self.initial))
    }

    /// Takes a permit, waiting at most `timeout`; `None` once `timeout` has elapsed (never
    /// before). [`Duration::MAX`] waits forever.
    ///
    /// Python: `sem.acquire(timeout=t)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = weft_semaphore::BoundedSemaphore::new(1);
    /// let _held = sem.acquire();
    /// assert!(sem.acquire_timeout(Duration::from_millis(10)).is_none());
    /// ```
    #[must_use = "dropping the permit releases it at once"]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<Permit<'_>> {
        self.raw
            .acquire(Deadline::after(timeout))
            .then(|| Permit::new(&self.raw, self.initial))
    }

    /// Takes a permit as an async task, waiting until one is free.
    ///
    /// The task waits in the same FIFO as blocked threads, so a thread and a task can share
    /// one semaphore and neither starves the other. Runtime-agnostic (plain `Waker`s); for a
    /// timeout, wrap it in the runtime's (`tokio::time::timeout`). The returned [`Permit`] is
    /// `Send`, so it may be held across `.await` in a spawned task.
    ///
    /// Cancellation is safe at any point: a future dropped after a release woke it (even
    /// before it was polled again) passes the permit on to the next waiter. See [`Acquire`].
    ///
    /// Python: `async with sem:` / `await sem.acquire()` on an `asyncio.BoundedSemaphore`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_semaphore::BoundedSemaphore;
    ///
    /// let sem = BoundedSemaphore::new(1);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// std::thread::scope(|s| {
    ///     let held = sem.acquire();
    ///     s.spawn(move || drop(held)); // a thread gives the permit back...
    ///     let permit = rt.block_on(sem.acquire_async()); // ...and a task takes it
    ///     assert_eq!(sem.available(), 0);
    ///     drop(permit);
    /// });
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn acquire_async(&self) -> Acquire<'_> {
        Acquire::new(&self.raw, self.initial)
    }

    /// Gives back `n` permits taken earlier (and [`forget`](Permit::forget)-ten), waking up to
    /// `n` waiters.
    ///
    /// `release(0)` does nothing and succeeds.
    ///
    /// Python: `sem.release(n)`.
    ///
    /// # Errors
    ///
    /// [`BoundedSemaphoreError`] if the count would exceed the initial value; nothing is
    /// changed then (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::BoundedSemaphore::new(1);
    /// sem.acquire().forget();
    /// assert!(sem.release(1).is_ok());
    /// assert!(sem.release(1).is_err());
    /// ```
    #[inline]
    pub fn release(&self, n: usize) -> Result<(), BoundedSemaphoreError> {
        self.raw
            .release(n, self.initial, Overflow::Fail)
            .map_err(|()| BoundedSemaphoreError)
    }

    /// The number of permits free right now (a snapshot while others acquire and release).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::BoundedSemaphore::new(2);
    /// let _p = sem.acquire();
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[inline]
    #[must_use]
    pub fn available(&self) -> usize {
        self.raw.available()
    }
}

impl Default for BoundedSemaphore {
    /// A bounded semaphore of one permit, as Python's `threading.BoundedSemaphore()`.
    fn default() -> Self {
        Self::new(1)
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.available())
            .field("initial", &self.initial)
            .finish_non_exhaustive()
    }
}
