use std::{
    fmt,
    future::Future,
    marker::PhantomData,
    ops::{Deref, DerefMut},
    panic::{RefUnwindSafe, UnwindSafe},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use weft_sync::cell::UnsafeCell;

use crate::raw::{RawLock, TaskWait};

/// A mutual-exclusion lock that owns the data it protects: Python's `threading.Lock`.
///
/// [`Lock::acquire`] blocks until the lock is free and returns a [`LockGuard`], through which
/// the data is reached; dropping the guard releases the lock (Python's `with lock:` block).
/// [`Lock::try_acquire`] is `acquire(blocking=False)`, and [`Lock::acquire_timeout`] is
/// `acquire(timeout=t)`. A bare lock with no data is `Lock<()>`, the default type.
///
/// The lock is not reentrant: a thread that acquires it twice without releasing it waits for
/// itself forever, as in Python (use [`crate::RLock`] for that). A guard may be released on a
/// thread other than the one that acquired it, as Python allows: [`LockGuard`] is `Send`.
///
/// There is no poisoning: a panic that unwinds through a guard releases the lock, and the next
/// user proceeds with the data as the panicking thread left it.
///
/// # Fairness
///
/// The lock is *eventually fair*. An arriving thread may take a free lock ahead of the threads
/// already waiting (barging, which keeps a busy lock fast), but a waiter is never overtaken
/// indefinitely: once a waiter has waited for about half a millisecond, a release hands the
/// lock directly to it (nobody can barge in between), at most one such hand-off per
/// millisecond on one lock, as parking_lot rations them. A woken waiter that loses a race keeps
/// its place at the front of the line. Waiters, threads and tasks alike, are woken oldest
/// first. [`LockGuard::unlock_fair`] hands off at once.
///
/// # Cost
///
/// Uncontended, [`Lock::acquire`] is one compare-exchange and the release one swap, as std's
/// futex mutex. A contended acquire spins briefly (only while nobody sleeps) and then sleeps; a
/// release wakes a sleeper only if there is one. The state byte sits right before the data, in
/// one cache line, so the acquire brings the data along.
///
/// # Examples
///
/// ```
/// use std::thread;
/// use weft_lock::Lock;
///
/// // Python: counter = 0; lock = threading.Lock(); with lock: counter += 1
/// let counter = Lock::new(0);
/// thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| *counter.acquire() += 1);
///     }
/// });
/// assert_eq!(counter.into_inner(), 4);
/// ```
// The layout puts the state byte right before the data, in one cache line (see `RawLock`).
#[repr(C, align(16))]
pub struct Lock<T: ?Sized = ()> {
    raw: RawLock,
    data: UnsafeCell<T>,
}

// SAFETY: a `Lock<T>` only moves a `T` along with it.
unsafe impl<T: ?Sized + Send> Send for Lock<T> {}
/// `T: Send` is enough: only one thread at a time reaches the data, through the guard, so the
/// lock moves `T` between threads but never shares it.
// SAFETY: as stated above; the raw lock's Acquire/Release orders the accesses.
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}

/// As `std::sync::Mutex`: a lock may be used across `catch_unwind`. A panic that unwinds
/// through a guard releases the lock (there is no poisoning, as in Python), so the data is seen
/// as the panicking thread left it; keep updates whole.
impl<T: ?Sized> UnwindSafe for Lock<T> {}
/// As for [`UnwindSafe`].
impl<T: ?Sized> RefUnwindSafe for Lock<T> {}

/// An RAII guard of a [`Lock`]: the lock is held while it lives and released when it is dropped.
///
/// It dereferences to the protected data, mutably. It is `Send` (where `T: Send + Sync`): a lock
/// taken on one thread may be released on another, as in Python.
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    /// Opts out of the auto traits; the impls below state the real bounds.
    _marker: PhantomData<*mut T>,
}

/// A guard may be released on another thread (Python allows it): the receiving thread gets
/// `&mut T` (so `T: Send`) and may release the lock, which has no owning thread.
// SAFETY: as stated above; the release is a plain atomic operation, valid on any thread.
unsafe impl<T: ?Sized + Send + Sync> Send for LockGuard<'_, T> {}
/// Sharing the guard shares `&T` only.
// SAFETY: `&LockGuard` gives `&T` and nothing else, which `T: Sync` allows on any thread.
unsafe impl<T: ?Sized + Sync> Sync for LockGuard<'_, T> {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Lock>();
    send_sync::<Lock<Vec<u8>>>();
    send_sync::<LockGuard<'static, ()>>();
    send_sync::<LockGuard<'static, Vec<u8>>>();
    send_sync::<Acquire<'static, Vec<u8>>>();
    const fn send<T: Send>() {}
    send::<Acquire<'static, std::cell::Cell<u8>>>();
};

impl<T> Lock<T> {
    /// A new, unlocked lock protecting `value`.
    ///
    /// Python: `threading.Lock()` (the data lives beside it in Python; here the lock owns it).
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::Lock;
    ///
    /// let lock = Lock::new(vec![1, 2]);
    /// assert!(!lock.locked());
    /// let bare: Lock = Lock::new(());
    /// # drop(bare);
    /// ```
    #[must_use]
    pub fn new(value: T) -> Self {
        Self {
            raw: RawLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data. No locking is needed: nobody else can hold it.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::Lock;
    ///
    /// let lock = Lock::new(String::from("a"));
    /// lock.acquire().push('b');
    /// assert_eq!(lock.into_inner(), "ab");
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    /// Acquires the lock, blocking the thread until it is free, and returns the guard.
    ///
    /// Python: `lock.acquire()`, or entering `with lock:`. The lock is not reentrant: acquiring
    /// it again on the same thread while a guard lives deadlocks (see [`crate::RLock`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::Lock;
    ///
    /// let lock = Lock::new(1);
    /// {
    ///     let mut g = lock.acquire();
    ///     *g += 1;
    ///     assert!(lock.locked());
    /// } // Released here.
    /// assert_eq!(*lock.acquire(), 2);
    /// ```
    #[inline]
    pub fn acquire(&self) -> LockGuard<'_, T> {
        self.raw.lock();
        LockGuard::new(self)
    }

    /// Acquires the lock if it is free at once, without waiting.
    ///
    /// Python: `lock.acquire(blocking=False)`. It may succeed while other threads are waiting
    /// for the lock (it never waits behind them).
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::Lock;
    ///
    /// let lock = Lock::new(());
    /// let g = lock.try_acquire().expect("free");
    /// assert!(lock.try_acquire().is_none());
    /// drop(g);
    /// assert!(lock.try_acquire().is_some());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        self.raw.try_lock().then(|| LockGuard::new(self))
    }

    /// Acquires the lock, waiting at most `timeout`; `None` if it is still held by then.
    ///
    /// Python: `lock.acquire(timeout=t)`. `None` is returned only after at least `timeout` has
    /// passed, never earlier; [`Duration::MAX`] (or any timeout too large for the clock) waits
    /// forever, and [`Duration::ZERO`] is [`Lock::try_acquire`]. A waiter whose timeout expires
    /// at the very moment the lock is handed to it returns the guard (the lock is never lost).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_lock::Lock;
    ///
    /// let lock = Lock::new(());
    /// let g = lock.acquire();
    /// assert!(lock.acquire_timeout(Duration::from_millis(10)).is_none());
    /// drop(g);
    /// assert!(lock.acquire_timeout(Duration::from_millis(10)).is_some());
    /// ```
    #[inline]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        self.raw.lock_timeout(timeout).then(|| LockGuard::new(self))
    }

    /// Acquires the lock as an async task, waiting until it is free; resolves to the guard.
    ///
    /// The task waits in the same FIFO as blocked threads, so threads and tasks can share one
    /// lock and neither starves the other: a release goes to the oldest waiter, thread or task,
    /// with the same [fairness](Lock#fairness) (an arriving thread or task may barge; a waiter
    /// that has waited about half a millisecond is handed the lock). Runtime-agnostic (plain
    /// `Waker`s); `poll` never blocks, and a queued task is polled again only once a release
    /// woke it. For a timeout, wrap it in the runtime's (`tokio::time::timeout`).
    ///
    /// Cancellation is safe at any point: a future dropped after the lock was handed to it
    /// (even before it was polled again) releases it, which passes it to the next waiter; a
    /// future dropped before it was woken just leaves. See [`Acquire`].
    ///
    /// Python: `async with lock:` / `await lock.acquire()` on an `asyncio.Lock`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::Lock;
    ///
    /// let lock = Lock::new(0);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// std::thread::scope(|s| {
    ///     let held = lock.acquire();
    ///     s.spawn(move || drop(held)); // a thread releases it...
    ///     let mut g = rt.block_on(lock.acquire_async()); // ...and a task takes it
    ///     *g += 1;
    /// });
    /// assert_eq!(*lock.acquire(), 1);
    /// ```
    pub fn acquire_async(&self) -> Acquire<'_, T> {
        Acquire {
            lock: self,
            wait: TaskWait::default(),
            done: false,
        }
    }

    /// Whether the lock is held by anyone (a snapshot, stale as soon as it returns).
    ///
    /// Python: `lock.locked()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::Lock;
    ///
    /// let lock = Lock::new(());
    /// assert!(!lock.locked());
    /// let _g = lock.acquire();
    /// assert!(lock.locked());
    /// ```
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// A mutable reference to the data, through exclusive access to the lock: no locking needed.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::Lock;
    ///
    /// let mut lock = Lock::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(*lock.acquire(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves that no guard exists and nobody else can reach the data.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// How many releases handed the lock directly to a waiter (loom builds only; the models
    /// use it to check that they explored the hand-off path).
    #[cfg(weft_loom)]
    #[doc(hidden)]
    pub fn handoff_count(&self) -> usize {
        self.raw.handoffs()
    }
}

impl<T: Default> Default for Lock<T> {
    /// An unlocked lock protecting `T::default()`.
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Lock<T> {
    /// An unlocked lock protecting `value`.
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Lock<T> {
    /// Shows the data if the lock is free at that moment, `<locked>` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.try_acquire() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    /// Wraps a lock that the caller has just acquired.
    #[inline]
    fn new(lock: &'a Lock<T>) -> Self {
        Self {
            lock,
            _marker: PhantomData,
        }
    }

    /// Releases the lock and hands it directly to the oldest waiter, if any, so that no other
    /// thread can take it in between.
    ///
    /// A plain drop lets an arriving thread take the lock ahead of a woken waiter (faster);
    /// use this to pass the lock on in strict turn. With nobody waiting it is a plain release.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::Lock;
    ///
    /// let lock = Lock::new(());
    /// let g = lock.acquire();
    /// g.unlock_fair();
    /// assert!(!lock.locked());
    /// ```
    #[inline]
    pub fn unlock_fair(self) {
        let lock = self.lock;
        std::mem::forget(self);
        // SAFETY: the guard proved we hold the lock, and it is forgotten, so it will not release
        // it a second time.
        unsafe { lock.raw.unlock_fair() }
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no `&mut T` exists elsewhere; the lock's
        // Acquire made the previous owner's writes visible.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock and `&mut self` borrows it uniquely: this is the only
        // reference to the data.
        self.lock.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard exists only while the lock is held, and releases it once, here.
        unsafe { self.lock.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The future of [`Lock::acquire_async`]: resolves to a [`LockGuard`].
///
/// The task waits in the same FIFO as blocked threads. `Send` where `T: Send` (and `Sync`
/// where `T: Send` too); its `poll` never blocks, and a queued task is polled again only once
/// a release woke it.
///
/// # Cancellation
///
/// Dropping the future is always safe and loses nothing. Not yet queued, or still queued, it
/// simply leaves. Already woken (even if never polled since): a lock handed to it is released
/// at once, which passes it to the next waiter; a plain wake-up ("the lock is free: compete for
/// it") is passed on the same way, by taking the lock (unless a barging thread took it, whose
/// own release then wakes the next waiter) and releasing it.
///
/// # Examples
///
/// ```
/// use std::{future::Future, pin::pin, task::{Context, Waker}};
/// use weft_lock::Lock;
///
/// let lock = Lock::new(());
/// let held = lock.acquire();
/// let mut fut = pin!(lock.acquire_async());
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(fut.as_mut().poll(&mut cx).is_pending()); // queued behind the holder
/// drop(held); // the release wakes the queued future
/// assert!(fut.as_mut().poll(&mut cx).is_ready());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    wait: TaskWait,
    done: bool,
}

impl<'a, T: ?Sized> Future for Acquire<'a, T> {
    type Output = LockGuard<'a, T>;

    /// # Panics
    ///
    /// If polled again after it returned the guard.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a, T>> {
        let this = &mut *self;
        assert!(!this.done, "Acquire polled after completion");
        if this.lock.raw.poll_lock(&mut this.wait, cx) {
            this.done = true;
            Poll::Ready(LockGuard::new(this.lock))
        } else {
            Poll::Pending
        }
    }
}

impl<T: ?Sized> Drop for Acquire<'_, T> {
    fn drop(&mut self) {
        if self.lock.raw.cancel(&mut self.wait) {
            // SAFETY: `cancel` returned `true`: this future holds the lock (handed to it, or
            // taken to pass a wake-up on) and nobody else will release it. Releasing it wakes
            // the next waiter, thread or task.
            unsafe { self.lock.raw.unlock() }
        }
    }
}

impl<T: ?Sized> fmt::Debug for Acquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("queued", &self.wait.is_queued())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use std::{
        future::Future,
        sync::Arc,
        task::{Context, Poll},
        thread,
        time::Duration,
    };

    use weft_sync::counting_waker;

    use super::Lock;

    // The tests below need a thread to have queued before the release they test, and see the
    // queue to know it: a sleep long enough on a quiet machine is not on a loaded one (under
    // Miri beside other checks, a thread took longer than 30 ms to queue and the test waited
    // for it forever).

    /// Waits until `n` threads and tasks are queued on `lock`.
    fn until_queued<T>(lock: &Lock<T>, n: usize) {
        while lock.raw.queued() < n {
            thread::yield_now();
        }
    }

    #[test]
    fn woken_oldest_first_threads_and_tasks_in_one_fifo() {
        // A task, then a thread, then a second task queue; the releases reach them in that
        // order, and the second task, polled out of turn, does not take the lock meant for the
        // first.
        let lock = Arc::new(Lock::new(Vec::new()));
        let held = lock.acquire();
        let (c1, w1) = counting_waker();
        let mut first = Box::pin(lock.acquire_async());
        assert!(
            first
                .as_mut()
                .poll(&mut Context::from_waker(&w1))
                .is_pending()
        );
        let l = Arc::clone(&lock);
        let thread = thread::spawn(move || l.acquire().push("thread"));
        until_queued(&lock, 2);
        let (c3, w3) = counting_waker();
        let mut third = Box::pin(lock.acquire_async());
        assert!(
            third
                .as_mut()
                .poll(&mut Context::from_waker(&w3))
                .is_pending()
        );

        // A fair release hands the lock to the oldest waiter, the first task.
        held.unlock_fair();
        assert_eq!(c1.get(), 1);
        assert_eq!(c3.get(), 0);
        assert!(
            third
                .as_mut()
                .poll(&mut Context::from_waker(&w3))
                .is_pending(),
            "a younger waiter polled out of turn does not take it"
        );
        let Poll::Ready(mut g) = first.as_mut().poll(&mut Context::from_waker(&w1)) else {
            panic!("the lock was handed to the first task")
        };
        g.push("first");
        g.unlock_fair(); // to the thread, next in line
        thread.join().unwrap();
        assert_eq!(c3.get(), 1, "then the third is handed it");
        let Poll::Ready(mut g) = third.as_mut().poll(&mut Context::from_waker(&w3)) else {
            panic!("the lock was handed to the third task")
        };
        g.push("third");
        drop(g);
        assert_eq!(*lock.acquire(), ["first", "thread", "third"]);
    }

    #[test]
    fn unlock_fair_hands_the_lock_to_a_waiter() {
        let lock = Lock::new(0);
        let g = lock.acquire();
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                let mut g = lock.acquire();
                *g += 1;
                thread::sleep(Duration::from_millis(200));
            });
            until_queued(&lock, 1);
            g.unlock_fair();
            // The lock went straight to the waiter: it never became free for us to take before
            // the waiter had it (it counts to 1 first).
            if let Some(g) = lock.try_acquire() {
                assert_eq!(*g, 1, "barged past the waiter");
            }
            waiter.join().unwrap();
        });
        assert_eq!(*lock.acquire(), 1);
    }

    #[test]
    fn fairness_a_long_waiter_is_handed_the_lock() {
        // A waiter that has waited longer than the fairness bound (0.5 ms) gets the lock
        // directly from the next release: the releasing thread cannot take it back at once.
        let lock = Lock::new(0);
        let g = lock.acquire();
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                *lock.acquire() += 1;
            });
            until_queued(&lock, 1);
            // Far past the fairness bound (a sleep is never shorter than asked).
            thread::sleep(Duration::from_millis(20));
            drop(g);
            // Either the waiter holds it now, or it has had it already (it counted to 1).
            if let Some(g) = lock.try_acquire() {
                assert_eq!(*g, 1, "barged past a waiter queued for 20 ms");
            }
            waiter.join().unwrap();
        });
        assert_eq!(*lock.acquire(), 1);
    }

    /// Issue 12: the state byte and the start of the data lie in one 16-byte block (so in one
    /// cache line) wherever the lock is placed, for data aligned to at most 8.
    #[test]
    fn the_state_byte_and_the_data_share_a_16_byte_block() {
        fn check<T>(lock: &Lock<T>) {
            let state = lock.raw.state_addr();
            let data = lock.data.with(|p| p as usize);
            assert!(data > state, "the data follows the state byte");
            assert_eq!(
                state / 16,
                data / 16,
                "state at {state:#x}, data at {data:#x}"
            );
        }
        check(&Lock::new(0u64));
        check(&Lock::new(0u8));
        check(&Lock::new([0u32; 100]));
        check(&*Box::new(Lock::new(String::new())));
        let many: Vec<Lock<u64>> = (0..64).map(Lock::new).collect();
        many.iter().for_each(check);
        assert_eq!(std::mem::align_of::<Lock<u64>>(), 16);
    }
}
