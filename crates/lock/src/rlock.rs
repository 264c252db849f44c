use std::{
    fmt,
    marker::PhantomData,
    ops::Deref,
    panic::{RefUnwindSafe, UnwindSafe},
    time::Duration,
};

use weft_sync::{
    atomic::{AtomicU64, Ordering},
    cell::UnsafeCell,
};

use crate::raw::RawLock;

/// A reentrant lock: Python's `threading.RLock`.
///
/// The thread that holds it may acquire it again without blocking; it is released when every
/// guard of that thread has been dropped (Python: as many `release()` calls as `acquire()`s).
/// Other threads block in [`RLock::acquire`] until then, exactly as with [`crate::Lock`], and the
/// same [fairness](crate::Lock#fairness) applies between threads.
///
/// Because the owning thread may hold several guards at once, an [`RLockGuard`] dereferences to
/// `&T` only; put the mutable part in a `Cell` or `RefCell` (`RLock<RefCell<T>>`). The guard is
/// not `Send`: the lock belongs to the thread that acquired it, and only that thread may release
/// it (Python raises `RuntimeError` otherwise; here it cannot be written).
///
/// No poisoning: a panic that unwinds through a guard releases that level of the lock.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use weft_lock::RLock;
///
/// // Python: lock = threading.RLock(); with lock: with lock: items.append(1)
/// let lock = RLock::new(RefCell::new(Vec::new()));
/// let outer = lock.acquire();
/// {
///     let inner = lock.acquire(); // Same thread: no deadlock.
///     inner.borrow_mut().push(1);
/// }
/// assert!(lock.is_owned());
/// drop(outer);
/// assert!(!lock.locked());
/// assert_eq!(lock.into_inner().into_inner(), [1]);
/// ```
pub struct RLock<T: ?Sized = ()> {
    raw: RawLock,
    /// The owning thread's id (see [`current_thread`]), 0 when nobody owns it.
    owner: AtomicU64,
    /// How many guards the owner holds; read and written only by the owner.
    count: UnsafeCell<usize>,
    data: T,
}

// SAFETY: an `RLock<T>` moves a `T` along with it, and nothing else that is tied to a thread
// (its owner id is 0 whenever it can be moved: no guard borrows it).
unsafe impl<T: ?Sized + Send> Send for RLock<T> {}
/// `T: Send` is enough: only the owning thread reaches `&T`, so `T` is never shared between
/// threads at once (several guards on one thread share it with themselves only).
// SAFETY: as stated above; `count` is touched only by the owner, ordered by the raw lock.
unsafe impl<T: ?Sized + Send> Sync for RLock<T> {}

/// As `std::sync::ReentrantLock`: usable across `catch_unwind` where the data is. A panic that
/// unwinds through a guard releases that level (no poisoning, as in Python).
impl<T: ?Sized + UnwindSafe> UnwindSafe for RLock<T> {}
/// As for [`UnwindSafe`].
impl<T: ?Sized + UnwindSafe> RefUnwindSafe for RLock<T> {}

/// An RAII guard of an [`RLock`]: one level of ownership, released when dropped.
///
/// It dereferences to `&T` only (the owner may hold several guards at once). It is not `Send`:
/// the lock belongs to the thread that took it.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RLockGuard<'a, T: ?Sized> {
    rlock: &'a RLock<T>,
    /// Not `Send`: the release must happen on the owning thread.
    _not_send: PhantomData<*const ()>,
}

/// Sharing the guard shares `&T` only.
// SAFETY: `&RLockGuard` gives `&T` and nothing else, which `T: Sync` allows on any thread.
unsafe impl<T: ?Sized + Sync> Sync for RLockGuard<'_, T> {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<RLock>();
    send_sync::<RLock<std::cell::RefCell<u8>>>();
    const fn sync<T: Sync>() {}
    sync::<RLockGuard<'static, ()>>();
};

/// A non-zero id for the calling thread that no other thread ever gets, not even after this one
/// exits: drawn once per thread from a 64-bit counter ([`weft_sync::thread::thread_id`]) and
/// then read from a thread-local, so that reentry stays one load and one increment.
///
/// (The address of a thread-local, used before, is unique only among *live* threads: a thread
/// that exited while owning the lock left an id that a later thread could be given, and that
/// thread then entered the lock as if it owned it.)
#[inline]
fn current_thread() -> u64 {
    weft_sync::thread::thread_id()
}

impl<T> RLock<T> {
    /// A new, unlocked reentrant lock protecting `value`.
    ///
    /// Python: `threading.RLock()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::RLock;
    ///
    /// let lock = RLock::new(5);
    /// assert_eq!(*lock.acquire(), 5);
    /// ```
    #[must_use]
    pub fn new(value: T) -> Self {
        Self {
            raw: RawLock::new(),
            owner: AtomicU64::new(0),
            count: UnsafeCell::new(0),
            data: value,
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::RLock;
    ///
    /// assert_eq!(RLock::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.data
    }
}

impl<T: ?Sized> RLock<T> {
    /// Acquires the lock, blocking until it is free, or at once if this thread already owns it.
    ///
    /// Python: `rlock.acquire()`, or entering `with rlock:`.
    ///
    /// # Panics
    ///
    /// If this thread already holds `usize::MAX` guards of it ("recursion count overflowed").
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::RLock;
    ///
    /// let lock = RLock::new(());
    /// let a = lock.acquire();
    /// let b = lock.acquire();
    /// drop(a);
    /// assert!(lock.is_owned());
    /// drop(b);
    /// assert!(!lock.is_owned());
    /// ```
    #[inline]
    pub fn acquire(&self) -> RLockGuard<'_, T> {
        let me = current_thread();
        if !self.reenter(me) {
            self.raw.lock();
            self.take(me);
        }
        RLockGuard::new(self)
    }

    /// Acquires the lock if it is free or already owned by this thread, without waiting.
    ///
    /// Python: `rlock.acquire(blocking=False)`.
    ///
    /// # Panics
    ///
    /// As [`RLock::acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::RLock;
    ///
    /// let lock = RLock::new(());
    /// let a = lock.try_acquire().expect("free");
    /// let b = lock.try_acquire().expect("ours already");
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.try_acquire().is_none()));
    /// });
    /// # drop((a, b));
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<RLockGuard<'_, T>> {
        let me = current_thread();
        if !self.reenter(me) {
            if !self.raw.try_lock() {
                return None;
            }
            self.take(me);
        }
        Some(RLockGuard::new(self))
    }

    /// Acquires the lock, waiting at most `timeout` for another thread to release it; at once
    /// if this thread already owns it.
    ///
    /// Python: `rlock.acquire(timeout=t)`. `None` only after at least `timeout`;
    /// [`Duration::MAX`] waits forever.
    ///
    /// # Panics
    ///
    /// As [`RLock::acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_lock::RLock;
    ///
    /// let lock = RLock::new(());
    /// let _g = lock.acquire();
    /// assert!(lock.acquire_timeout(Duration::from_millis(5)).is_some()); // Reentry.
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.acquire_timeout(Duration::from_millis(5)).is_none()));
    /// });
    /// ```
    #[inline]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        let me = current_thread();
        if !self.reenter(me) {
            if !self.raw.lock_timeout(timeout) {
                return None;
            }
            self.take(me);
        }
        Some(RLockGuard::new(self))
    }

    /// Whether the calling thread holds the lock.
    ///
    /// Python: `rlock._is_owned()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::RLock;
    ///
    /// let lock = RLock::new(());
    /// let _g = lock.acquire();
    /// assert!(lock.is_owned());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(!lock.is_owned()));
    /// });
    /// ```
    #[inline]
    #[must_use]
    pub fn is_owned(&self) -> bool {
        // Relaxed: only this thread ever stores its own id, and it clears it before releasing,
        // so it reads its id exactly when it owns the lock.
        self.owner.load(Ordering::Relaxed) == current_thread()
    }

    /// How many guards of this lock the calling thread holds: 0 when it does not own it.
    ///
    /// Python: `rlock._recursion_count()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::RLock;
    ///
    /// let lock = RLock::new(());
    /// let a = lock.acquire();
    /// let b = lock.acquire();
    /// assert_eq!(lock.recursion_count(), 2);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert_eq!(lock.recursion_count(), 0));
    /// });
    /// drop((a, b));
    /// assert_eq!(lock.recursion_count(), 0);
    /// ```
    #[inline]
    #[must_use]
    pub fn recursion_count(&self) -> usize {
        if self.is_owned() {
            // SAFETY: we own the lock, and only the owner touches `count`.
            self.count.with(|c| unsafe { *c })
        } else {
            0
        }
    }

    /// Whether any thread holds the lock (a snapshot).
    ///
    /// Python: `rlock.locked()` (3.14).
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::RLock;
    ///
    /// let lock = RLock::new(());
    /// assert!(!lock.locked());
    /// let _g = lock.acquire();
    /// assert!(lock.locked());
    /// ```
    #[inline]
    #[must_use]
    pub fn locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// A mutable reference to the data, through exclusive access: no locking needed.
    ///
    /// # Examples
    ///
    /// ```
    /// use weft_lock::RLock;
    ///
    /// let mut lock = RLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(*lock.acquire(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.data
    }

    /// Enters once more if `me` owns the lock already.
    #[inline]
    fn reenter(&self, me: u64) -> bool {
        // Relaxed: see `is_owned`.
        if self.owner.load(Ordering::Relaxed) != me {
            return false;
        }
        self.count.with_mut(|c| {
            // SAFETY: we own the lock, and only the owner touches `count`.
            let c = unsafe { &mut *c };
            *c = c.checked_add(1).expect("RLock recursion count overflowed");
        });
        true
    }

    /// Records `me` as the owner after acquiring the raw lock.
    #[inline]
    fn take(&self, me: u64) {
        // Relaxed: other threads only compare it with their own ids; the raw lock orders our
        // ownership after the previous owner's release.
        self.owner.store(me, Ordering::Relaxed);
        // SAFETY: we hold the raw lock, and only the owner touches `count`; the raw lock's
        // Acquire orders this after the previous owner's last access.
        self.count.with_mut(|c| unsafe { *c = 1 });
    }
}

impl<T: Default> Default for RLock<T> {
    /// An unlocked reentrant lock protecting `T::default()`.
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for RLock<T> {
    /// An unlocked reentrant lock protecting `value`.
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLock<T> {
    /// Shows the data if this thread can take the lock at that moment, `<locked>` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RLock");
        match self.try_acquire() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> RLockGuard<'a, T> {
    #[inline]
    fn new(rlock: &'a RLock<T>) -> Self {
        Self {
            rlock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RLockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.rlock.data
    }
}

impl<T: ?Sized> Drop for RLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let rlock = self.rlock;
        let last = rlock.count.with_mut(|c| {
            // SAFETY: this guard's thread owns the lock (the guard is not `Send`), and only the
            // owner touches `count`.
            let c = unsafe { &mut *c };
            *c -= 1;
            *c == 0
        });
        if last {
            // Relaxed: cleared before the Release in `unlock`, which orders it for the next owner.
            rlock.owner.store(0, Ordering::Relaxed);
            // SAFETY: the last guard of the owning thread releases the raw lock, once.
            unsafe { rlock.raw.unlock() }
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
