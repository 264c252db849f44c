use std::{
    fmt,
    future::Future,
    ops::{Deref, DerefMut},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use weft_sync::waitq::{Ticket, Token};

use weft_lock::raw::TaskWait;

use crate::Condition;

/// The lock of a [`Condition`], held: derefs to the data, and waits and notifies.
///
/// Dropping the guard releases the lock (Python: leaving `with cond:`). A panic that unwinds
/// through a guard releases it too; there is no poisoning.
///
/// The guard is `Send` for `T: Send`: it may be released on another thread than the one that
/// took it, so an async task may hold it across `.await` (as in [`wait_async`]).
///
/// [`wait_async`]: ConditionGuard::wait_async
#[must_use = "dropping the guard releases the lock at once"]
pub struct ConditionGuard<'a, T> {
    cond: &'a Condition<T>,
}

/// `T: Sync` is enough to share a guard: through `&ConditionGuard` one only reads the data.
// SAFETY: `&ConditionGuard<T>` gives `&T` (and notify, which is thread-safe).
unsafe impl<T: Sync> Sync for ConditionGuard<'_, T> {}

impl<'a, T> ConditionGuard<'a, T> {
    pub(crate) fn new(cond: &'a Condition<T>) -> Self {
        Self { cond }
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

    /// Releases the lock and waits, as an async task, until notified; the lock is held again
    /// when the future completes.
    ///
    /// The task waits in the same FIFO as threads in [`wait`](Self::wait), and is moved to the
    /// lock's queue by a notify while the lock is held (it is not woken only to find the lock
    /// taken). Runtime-agnostic (plain `Waker`s); the future is `Send` for `T: Send`. For a
    /// timeout, wrap it in the runtime's (`tokio::time::timeout`).
    ///
    /// # Cancellation
    ///
    /// The future borrows the guard mutably. Dropping it (a timeout, a lost `select!` branch)
    /// leaves the guard holding the lock again, exactly as after
    /// [`wait_timeout`](Self::wait_timeout): its `Drop` re-acquires the lock, **blocking the
    /// thread** until the lock is free. A notification it had already received is passed on to
    /// the next waiter (as `asyncio.Condition` does), so cancelling never loses one. Because the
    /// drop may block, do not drop a waiting future while the same thread (for instance a
    /// current-thread runtime) runs another task that holds this condition's lock across an
    /// `.await`.
    ///
    /// Python: `await cond.wait()` on an `asyncio.Condition`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft_condition::Condition;
    ///
    /// let cond = Arc::new(Condition::new(false));
    /// let c = Arc::clone(&cond);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let mut ready = cond.lock_async().await;
    ///     let t = std::thread::spawn(move || {
    ///         let mut r = c.lock();
    ///         *r = true;
    ///         r.notify_all();
    ///     });
    ///     while !*ready {
    ///         ready.wait_async().await;
    ///     }
    ///     # drop(ready); t.join().unwrap();
    /// });
    /// ```
    pub fn wait_async(&mut self) -> ConditionWait<'_, 'a, T> {
        ConditionWait {
            guard: self,
            step: Step::Start,
        }
    }

    /// Waits, as an async task, until `predicate` holds on the data; resolves at once if it
    /// already does. The predicate runs with the lock held, before each wait and after each
    /// wake-up.
    ///
    /// Cancellation is as for [`wait_async`](Self::wait_async): dropped at any point, the guard
    /// holds the lock again and no notification is lost. The future is `Send` when `T` and the
    /// predicate are.
    ///
    /// Python: `await cond.wait_for(predicate)` on an `asyncio.Condition`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft_condition::Condition;
    ///
    /// let jobs = Arc::new(Condition::new(Vec::<u32>::new()));
    /// let j = Arc::clone(&jobs);
    /// let producer = std::thread::spawn(move || {
    ///     let mut g = j.lock();
    ///     g.push(7);
    ///     g.notify(1);
    /// });
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let job = rt.block_on(async {
    ///     let mut g = jobs.lock_async().await;
    ///     g.wait_for_async(|v| !v.is_empty()).await;
    ///     g.pop().unwrap()
    /// });
    /// assert_eq!(job, 7);
    /// producer.join().unwrap();
    /// ```
    pub async fn wait_for_async(&mut self, mut predicate: impl FnMut(&T) -> bool) {
        while !predicate(&**self) {
            self.wait_async().await;
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
        // SAFETY: a guard exists only while its holder owns the mutex (taken by `lock`, or
        // taken back by a wait), and it is dropped once.
        unsafe { self.cond.raw.unlock() };
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

/// Where a [`ConditionWait`] is.
enum Step {
    /// Not polled yet: the guard holds the lock.
    Start,
    /// Queued on the condition; the lock is released.
    Waiting(Ticket),
    /// Notified; taking the lock again.
    Relocking(TaskWait),
    /// Completed: the guard holds the lock.
    Done,
}

/// The future of [`ConditionGuard::wait_async`]: resolves once notified, with the guard holding
/// the lock again.
///
/// `Send` for `T: Send`; its `poll` never blocks. Dropping it re-acquires the lock (blocking)
/// and passes on a notification it already received; see
/// [`wait_async`](ConditionGuard::wait_async).
#[must_use = "futures do nothing unless polled"]
pub struct ConditionWait<'g, 'a, T> {
    guard: &'g mut ConditionGuard<'a, T>,
    step: Step,
}

impl<T> Future for ConditionWait<'_, '_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let raw = &this.guard.cond.raw;
        loop {
            match &mut this.step {
                Step::Start => {
                    // We hold the lock (the guard's): register, then release it.
                    this.step = Step::Waiting(raw.register_cond_task(cx));
                    return Poll::Pending;
                }
                Step::Waiting(ticket) => match raw.poll_cond(ticket, cx) {
                    None => return Poll::Pending,
                    // Notified, and an unlock handed us the lock: the guard holds it again.
                    Some(Token::HANDOFF) => {
                        this.step = Step::Done;
                        return Poll::Ready(());
                    }
                    // Notified: take the lock again, competing as a woken locker does.
                    Some(_) => this.step = Step::Relocking(TaskWait::bumped()),
                },
                Step::Relocking(wait) => {
                    if !raw.poll_lock(wait, cx) {
                        return Poll::Pending;
                    }
                    this.step = Step::Done;
                    return Poll::Ready(());
                }
                Step::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl<T> Drop for ConditionWait<'_, '_, T> {
    fn drop(&mut self) {
        let raw = &self.guard.cond.raw;
        match std::mem::replace(&mut self.step, Step::Done) {
            Step::Start | Step::Done => {}
            Step::Waiting(ticket) => {
                let token = raw.leave_cond(&ticket);
                drop(ticket);
                // The guard holds the lock again, as after a timed-out `wait_timeout` (a
                // hand-off received meanwhile is that lock).
                raw.relock(token);
                if token.is_some() {
                    // The notification was spent on us: pass it on to the next waiter (with
                    // the lock held, it is moved to the lock's queue, not woken at once).
                    raw.notify(1);
                }
            }
            Step::Relocking(mut wait) => {
                // Leave the lock's queue and take the lock, blocking: the guard holds it again
                // (a hand-off received meanwhile is that lock).
                raw.cancel_relock(&mut wait);
            }
        }
    }
}

impl<T> fmt::Debug for ConditionWait<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Start => "start",
            Step::Waiting(_) => "waiting",
            Step::Relocking(_) => "relocking",
            Step::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("step", &step)
            .finish_non_exhaustive()
    }
}
