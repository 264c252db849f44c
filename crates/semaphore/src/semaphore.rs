use std::{fmt, time::Duration};

use weft_sync::Deadline;

use crate::{
    permit::{Acquire, Permit},
    raw::{MAX_PERMITS, Overflow, Raw},
};

/// A counting semaphore: Python's `threading.Semaphore`.
///
/// The semaphore holds a number of permits. [`acquire`](Semaphore::acquire) takes one,
/// blocking while there are none, and hands back a [`Permit`] that returns it when dropped;
/// [`release`](Semaphore::release) adds permits by hand (for permits that were
/// [`forget`](Permit::forget)-ten, or to raise the count, as Python allows).
///
/// # Fairness
///
/// Waiters are woken oldest first, one per released permit. As in CPython, a running thread
/// may take a freed permit before a woken thread gets to it (barging keeps the semaphore fast
/// under contention); the thread that lost it goes back to the front of the queue, and the
/// next release at least a millisecond after the previous hand-off hands a permit straight to
/// it, so no waiter starves. A waiting task is always handed its permit by the release that
/// wakes it (as `asyncio.Semaphore` does): among tasks the semaphore is first come, first
/// served.
///
/// # Cost
///
/// Acquiring a free permit and releasing one with nobody waiting are one compare-exchange
/// each, with no lock. A waiter spins briefly, then parks in weft-sync's waiting core (one FIFO
/// of threads and tasks, see [`acquire_async`](Semaphore::acquire_async)); a release touches
/// it only when someone is parked.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weft_semaphore::Semaphore;
///
/// // At most two workers in the critical section at once.
/// let sem = Arc::new(Semaphore::new(2));
/// let workers: Vec<_> = (0..4)
///     .map(|_| {
///         let sem = Arc::clone(&sem);
///         std::thread::spawn(move || {
///             let _permit = sem.acquire(); // Python: `with sem:`
///             // ... at most two threads here ...
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// assert_eq!(sem.available(), 2);
/// ```
pub struct Semaphore {
    raw: Raw,
}

impl Semaphore {
    /// The largest count a semaphore can hold: `usize::MAX / 2`.
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// A semaphore holding `permits` permits.
    ///
    /// Python: `threading.Semaphore(value)` (`value` defaults to 1 there; weft asks for it).
    ///
    /// # Panics
    ///
    /// If `permits` is more than [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::Semaphore::new(3);
    /// assert_eq!(sem.available(), 3);
    /// ```
    #[must_use]
    pub fn new(permits: usize) -> Self {
        assert!(permits <= MAX_PERMITS, "semaphore permit count overflow");
        Self {
            raw: Raw::new(permits),
        }
    }

    /// Takes a permit, blocking until one is free.
    ///
    /// The permit goes back when the returned [`Permit`] is dropped. No spurious wake-ups.
    ///
    /// Python: `sem.acquire()`, or `with sem:`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::Semaphore::new(1);
    /// let permit = sem.acquire();
    /// assert_eq!(sem.available(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[inline]
    pub fn acquire(&self) -> Permit<'_> {
        let got = self.raw.acquire(Deadline::never());
        debug_assert!(got);
        Permit::new(&self.raw, MAX_PERMITS)
    }

    /// Takes a permit if one is free right now; never blocks.
    ///
    /// Python: `sem.acquire(blocking=False)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::Semaphore::new(1);
    /// let p = sem.try_acquire();
    /// assert!(p.is_some());
    /// assert!(sem.try_acquire().is_none());
    /// ```
    #[inline]
    #[must_use = "dropping the permit releases it at once"]
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        self.raw
            .try_acquire()
            .then(|| Permit::new(&self.raw, MAX_PERMITS))
    }

    /// Takes a permit, waiting at most `timeout` for one; `None` once `timeout` has elapsed.
    ///
    /// Never returns `None` before `timeout` has fully elapsed. [`Duration::MAX`], or any
    /// timeout too large for the clock, waits forever; a zero timeout is
    /// [`try_acquire`](Semaphore::try_acquire).
    ///
    /// Python: `sem.acquire(timeout=t)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = weft_semaphore::Semaphore::new(1);
    /// let _held = sem.acquire();
    /// assert!(sem.acquire_timeout(Duration::from_millis(10)).is_none());
    /// ```
    #[must_use = "dropping the permit releases it at once"]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<Permit<'_>> {
        self.raw
            .acquire(Deadline::after(timeout))
            .then(|| Permit::new(&self.raw, MAX_PERMITS))
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
    /// Python: `async with sem:` / `await sem.acquire()` on an `asyncio.Semaphore`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_semaphore::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
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
        Acquire::new(&self.raw, MAX_PERMITS)
    }

    /// Adds `n` permits and wakes up to `n` waiters.
    ///
    /// The count may grow past its initial value, as in Python (use [`BoundedSemaphore`] to
    /// forbid that). `release(0)` does nothing.
    ///
    /// Python: `sem.release(n)`.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`Semaphore::MAX_PERMITS`]; nothing is changed then.
    ///
    /// [`BoundedSemaphore`]: crate::BoundedSemaphore
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::Semaphore::new(0);
    /// sem.release(2);
    /// assert_eq!(sem.available(), 2);
    /// ```
    #[inline]
    pub fn release(&self, n: usize) {
        if self.raw.release(n, MAX_PERMITS, Overflow::Fail).is_err() {
            overflow();
        }
    }

    /// The number of permits free right now.
    ///
    /// Only a snapshot while other threads acquire and release. Python has no public
    /// counterpart (`sem._value`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = weft_semaphore::Semaphore::new(2);
    /// let _p = sem.acquire();
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[inline]
    #[must_use]
    pub fn available(&self) -> usize {
        self.raw.available()
    }
}

impl Default for Semaphore {
    /// A semaphore holding one permit, as Python's `threading.Semaphore()`.
    fn default() -> Self {
        Self::new(1)
    }
}

#[cold]
#[track_caller]
fn overflow() -> ! {
    panic!("semaphore permit count overflow");
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use std::{
        future::Future,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::{Context, Poll},
        thread,
        time::{Duration, Instant},
    };

    use weft_sync::{Mutex, counting_waker};

    use super::Semaphore;

    // The tests below need a thread to have queued before the release they test, and see the
    // queue to know it: a sleep long enough on a quiet machine is not on a loaded one (under
    // Miri beside other checks, a thread took longer than 30 ms to queue, and the release
    // meant for it went to a later waiter).

    /// Waits until `n` threads and tasks are queued on `sem`.
    fn until_queued(sem: &Semaphore, n: usize) {
        while sem.raw.queued() < n {
            thread::yield_now();
        }
    }

    /// Waits until `cond` holds; fails after a minute, far longer than any wait in these tests
    /// takes on a loaded machine, so only a lost wake-up reaches it.
    fn eventually(mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "condition never held"
            );
            thread::yield_now();
        }
    }

    #[test]
    fn waiters_are_woken_oldest_first() {
        let sem = Arc::new(Semaphore::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for i in 0..4 {
            let (s, o) = (Arc::clone(&sem), Arc::clone(&order));
            threads.push(thread::spawn(move || {
                s.acquire().forget();
                o.lock().push(i);
            }));
            until_queued(&sem, i + 1); // It has queued before the next starts.
        }
        for n in 1..=4 {
            sem.release(1);
            eventually(|| order.lock().len() == n);
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_future_dropped_right_after_it_was_woken_passes_the_permit_on() {
        let sem = Arc::new(Semaphore::new(0));
        let mut fut = Box::pin(sem.acquire_async());
        let (count, waker) = counting_waker();
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        // A thread queues behind the task.
        let s = Arc::clone(&sem);
        let thread = thread::spawn(move || s.acquire().forget());
        until_queued(&sem, 2);
        sem.release(1);
        assert_eq!(count.get(), 1, "the oldest waiter, the task, is woken");
        drop(fut); // woken, never polled again
        thread.join().unwrap();
        assert_eq!(sem.available(), 0);
    }

    #[test]
    fn a_task_is_handed_its_permit_and_a_dropped_future_passes_it_on() {
        // A release hands the permit straight to the task at the front of the queue: it never
        // enters the count, so a barging `try_acquire` finds nothing. Dropped without being
        // polled again, the future passes the permit on to the thread queued behind it.
        let sem = Arc::new(Semaphore::new(0));
        let mut fut = Box::pin(sem.acquire_async());
        let (count, waker) = counting_waker();
        assert!(
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        sem.release(1);
        assert_eq!(count.get(), 1, "the task is woken");
        assert!(
            sem.try_acquire().is_none(),
            "the permit went to the count, not to the task"
        );
        let s = Arc::clone(&sem);
        let got = Arc::new(AtomicUsize::new(0));
        let g = Arc::clone(&got);
        let thread = thread::spawn(move || {
            s.acquire().forget();
            g.store(1, Ordering::SeqCst);
        });
        // The thread either queues (the permit is the task's) or, wrongly, takes a permit and
        // goes through: wait for whichever comes first.
        while sem.raw.queued() < 1 && got.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        assert_eq!(
            got.load(Ordering::SeqCst),
            0,
            "the thread overtook the task"
        );
        drop(fut); // handed a permit, never polled again
        thread.join().unwrap();
        assert_eq!(sem.available(), 0);
    }

    #[test]
    fn woken_oldest_first_threads_and_tasks_in_one_fifo() {
        // A task, then a thread, then a second task queue; three single releases wake them in
        // that order.
        let sem = Arc::new(Semaphore::new(0));
        let (c1, w1) = counting_waker();
        let mut first = Box::pin(sem.acquire_async());
        assert!(
            first
                .as_mut()
                .poll(&mut Context::from_waker(&w1))
                .is_pending()
        );
        let order = Arc::new(Mutex::new(Vec::new()));
        let (s, o) = (Arc::clone(&sem), Arc::clone(&order));
        let thread = thread::spawn(move || {
            s.acquire().forget();
            o.lock().push("thread");
        });
        until_queued(&sem, 2);
        let (c3, w3) = counting_waker();
        let mut third = Box::pin(sem.acquire_async());
        assert!(
            third
                .as_mut()
                .poll(&mut Context::from_waker(&w3))
                .is_pending()
        );

        sem.release(1);
        assert_eq!(c1.get(), 1);
        assert_eq!(c3.get(), 0);
        // The queued third task, polled out of turn, does not take the permit meant for the
        // first.
        assert!(
            third
                .as_mut()
                .poll(&mut Context::from_waker(&w3))
                .is_pending()
        );
        match first.as_mut().poll(&mut Context::from_waker(&w1)) {
            Poll::Ready(p) => p.forget(),
            Poll::Pending => panic!("the woken task takes its permit"),
        }
        sem.release(1);
        // The thread is woken (it races for the permit in the count); the queued third task,
        // polled out of turn meanwhile, still does not take it.
        assert!(
            third
                .as_mut()
                .poll(&mut Context::from_waker(&w3))
                .is_pending()
        );
        thread.join().unwrap();
        assert_eq!(*order.lock(), ["thread"]);
        assert_eq!(c3.get(), 0);
        sem.release(1);
        assert_eq!(c3.get(), 1);
        assert!(matches!(
            third.as_mut().poll(&mut Context::from_waker(&w3)),
            Poll::Ready(_)
        ));
        drop(third);
        assert_eq!(sem.available(), 1);
    }
}
