use std::{
    fmt,
    marker::PhantomData,
    ops::{Deref, DerefMut},
    time::Duration,
};

use crate::Condition;

/// The lock of a [`Condition`], held: derefs to the data, and waits and notifies.
///
/// Dropping the guard releases the lock (Python: leaving `with cond:`). A panic that unwinds
/// through a guard releases it too; there is no poisoning.
///
/// The guard is not `Send`: it is released on the thread that took it.
#[must_use = "dropping the guard releases the lock at once"]
pub struct ConditionGuard<'a, T> {
    cond: &'a Condition<T>,
    _not_send: PhantomData<*const ()>,
}

/// `T: Sync` is enough to share a guard: through `&ConditionGuard` one only reads the data.
// SAFETY: `&ConditionGuard<T>` gives `&T` (and notify, which is thread-safe).
unsafe impl<T: Sync> Sync for ConditionGuard<'_, T> {}

impl<'a, T> ConditionGuard<'a, T> {
    pub(crate) fn new(cond: &'a Condition<T>) -> Self {
        Self {
            cond,
            _not_send: PhantomData,
        }
    }

    /// Releases the lock, sleeps until notified, and takes the lock again before returning.
    ///
    /// weft does not wake spuriously, but another thread may take the lock between the
    /// notification and this thread getting it back: re-check your predicate in a loop, or use
    /// [`wait_for`](Self::wait_for).
    ///
    /// Python: `cond.wait()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft_condition::Condition;
    ///
    /// let cond = Arc::new(Condition::new(false));
    /// let c = Arc::clone(&cond);
    /// let t = std::thread::spawn(move || {
    ///     let mut ready = c.lock();
    ///     *ready = true;
    ///     ready.notify_all();
    /// });
    /// let mut ready = cond.lock();
    /// while !*ready {
    ///     ready.wait();
    /// }
    /// # drop(ready); t.join().unwrap();
    /// ```
    pub fn wait(&mut self) {
        let _ = self.cond.wait_raw(None);
    }

    /// As [`wait`](Self::wait), giving up after `timeout`; returns `false` if it timed out.
    ///
    /// The lock is held again on return either way. A timeout never returns early;
    /// [`Duration::MAX`] waits forever. If a notification picks this waiter at the very moment
    /// it times out, the waiter counts as notified and returns `true`: the notification is never
    /// lost.
    ///
    /// Python: `cond.wait(timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let cond = weft_condition::Condition::new(());
    /// let mut g = cond.lock();
    /// assert!(!g.wait_timeout(Duration::from_millis(10)));
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        self.cond.wait_raw(Some(timeout))
    }

    /// Waits until `predicate` holds on the data; returns at once if it already does.
    ///
    /// The predicate runs with the lock held, before each wait and after each wake-up.
    ///
    /// Python: `cond.wait_for(predicate)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(3);
    /// let mut g = cond.lock();
    /// g.wait_for(|n| *n > 2); // already true
    /// ```
    pub fn wait_for(&mut self, mut predicate: impl FnMut(&T) -> bool) {
        while !predicate(self) {
            self.wait();
        }
    }

    /// As [`wait_for`](Self::wait_for), giving up after `timeout` in total; returns the
    /// predicate's last value (`false` means it timed out without the predicate holding).
    ///
    /// Python: `cond.wait_for(predicate, timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let cond = weft_condition::Condition::new(0);
    /// let mut g = cond.lock();
    /// assert!(!g.wait_for_timeout(|n| *n > 0, Duration::from_millis(5)));
    /// ```
    pub fn wait_for_timeout(
        &mut self,
        mut predicate: impl FnMut(&T) -> bool,
        timeout: Duration,
    ) -> bool {
        let deadline = weft_sync::Deadline::after(timeout);
        loop {
            if predicate(self) {
                return true;
            }
            let left = match deadline.remaining() {
                None => None,
                Some(left) if left.is_zero() => return false,
                Some(left) => Some(left),
            };
            if !self.cond.wait_raw(left) {
                // Timed out: the predicate's value now is the answer, as in Python.
                return predicate(self);
            }
        }
    }

    /// Wakes up to `n` waiters, oldest first; returns how many (`min(n, waiting)`).
    ///
    /// They run once this guard is dropped (or waits): each is moved to the lock's queue, so
    /// none wakes only to block on the lock still held here.
    ///
    /// Python: `cond.notify(n)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(());
    /// assert_eq!(cond.lock().notify(1), 0);
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        self.cond.notify(n)
    }

    /// Wakes every waiter; returns how many.
    ///
    /// Python: `cond.notify_all()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = weft_condition::Condition::new(());
    /// assert_eq!(cond.lock().notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        self.cond.notify_all()
    }
}

impl<T> Deref for ConditionGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex, so no `&mut` to the data exists elsewhere.
        self.cond.data.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for ConditionGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the mutex and `&mut self` excludes other uses of this guard.
        self.cond.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for ConditionGuard<'_, T> {
    fn drop(&mut self) {
        self.cond.raw.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for ConditionGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for ConditionGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
