//! The futures of the async twins: [`PutAsync`], [`GetAsync`], [`JoinAsync`] (for [`Queue`],
//! [`LifoQueue`] and [`PriorityQueue`]) and [`SimpleGetAsync`] (for [`SimpleQueue`]).
//!
//! Each keeps its place in the queue's wait queue between polls (weft-sync's waiting core,
//! shared with blocked threads) and leaves it when dropped, passing on a wake-up it received.
//!
//! [`Queue`]: crate::Queue
//! [`LifoQueue`]: crate::LifoQueue
//! [`PriorityQueue`]: crate::PriorityQueue
//! [`SimpleQueue`]: crate::SimpleQueue

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use crate::{ShutDown, api::Backend, list::List, wait::TaskWait};

/// The future of `put_async` on [`Queue`](crate::Queue), [`LifoQueue`](crate::LifoQueue) and
/// [`PriorityQueue`](crate::PriorityQueue): resolves once the item is in the queue, or to
/// [`ShutDown`] with the item inside.
///
/// The task waits in the same FIFO as blocked putter threads. `Send` for `T: Send`; its `poll`
/// never blocks, and a waiting task is polled again only once a get (or a shutdown) woke it.
///
/// # Cancellation
///
/// Dropping the future before it completes drops its item: the item was never queued and is
/// not counted by `task_done`/`join`. A wake-up it had received ("a slot is free") passes on to
/// the next waiting putter, thread or task.
///
/// # Examples
///
/// ```
/// use std::{future::Future, pin::pin, task::{Context, Waker}};
///
/// let q = weft_queue::Queue::new(1);
/// q.put(1).unwrap();
/// let mut put = pin!(q.put_async(2));
/// // Full: the task waits.
/// assert!(put.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
/// drop(put); // cancelled: 2 is dropped, never queued
/// assert_eq!(q.len(), 1);
/// assert_eq!(q.unfinished_tasks(), 1);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PutAsync<'a, T> {
    core: &'a dyn Backend<T>,
    /// The item, until it is queued (or handed back).
    item: Option<T>,
    wait: TaskWait,
    done: bool,
}

/// The future of `get_async` on [`Queue`](crate::Queue), [`LifoQueue`](crate::LifoQueue) and
/// [`PriorityQueue`](crate::PriorityQueue): resolves to the next item, or to [`ShutDown`] once
/// the queue is shut down and empty.
///
/// The task waits in the same FIFO as blocked getter threads. `Send` for `T: Send`; its `poll`
/// never blocks, and a waiting task is polled again only once a put (or a shutdown) woke it.
///
/// # Cancellation
///
/// A dropped future never takes an item: the item stays in the queue for the next getter. A
/// wake-up it had received ("an item is there") passes on to the next waiting getter, thread or
/// task.
///
/// # Examples
///
/// ```
/// use std::{future::Future, pin::pin, task::{Context, Poll, Waker}};
///
/// let q = weft_queue::Queue::new(4);
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut get = pin!(q.get_async());
/// assert!(get.as_mut().poll(&mut cx).is_pending()); // empty: the task waits
/// q.put(7).unwrap(); // wakes it
/// assert_eq!(get.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct GetAsync<'a, T> {
    core: &'a dyn Backend<T>,
    wait: TaskWait,
    done: bool,
}

/// The future of `join_async` on [`Queue`](crate::Queue), [`LifoQueue`](crate::LifoQueue) and
/// [`PriorityQueue`](crate::PriorityQueue): resolves once every item put has been marked done.
///
/// `Send` for `T: Send`; dropping it at any point is safe (joiners are woken all at once, so
/// it has nothing to pass on).
///
/// # Examples
///
/// ```
/// use std::{future::Future, pin::pin, task::{Context, Poll, Waker}};
///
/// let q = weft_queue::Queue::new(0);
/// q.put("job").unwrap();
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut join = pin!(q.join_async());
/// assert!(join.as_mut().poll(&mut cx).is_pending());
/// q.get().unwrap();
/// q.task_done().unwrap(); // wakes it
/// assert_eq!(join.as_mut().poll(&mut cx), Poll::Ready(()));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct JoinAsync<'a, T> {
    core: &'a dyn Backend<T>,
    wait: TaskWait,
    done: bool,
}

/// The future of [`SimpleQueue::get_async`](crate::SimpleQueue::get_async): resolves to the
/// oldest item.
///
/// `Send` for `T: Send`. A dropped future never takes an item, and passes on a wake-up it had
/// received to the next waiting getter.
///
/// # Examples
///
/// ```
/// use std::{future::Future, pin::pin, task::{Context, Poll, Waker}};
///
/// let q = weft_queue::SimpleQueue::new();
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut get = pin!(q.get_async());
/// assert!(get.as_mut().poll(&mut cx).is_pending());
/// q.put('x');
/// assert_eq!(get.as_mut().poll(&mut cx), Poll::Ready('x'));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct SimpleGetAsync<'a, T> {
    list: &'a List<T>,
    wait: TaskWait,
    done: bool,
}

// SAFETY: a `PutAsync`, `GetAsync` or `JoinAsync` holds `&dyn Backend<T>` (plus an `Option<T>`
// and its wait state, both `Send` for `T: Send`). Every `Backend` behind it is one of the queue
// cores (`Fifo<T>`, `Locked<Stack<T>>`, `Locked<Heap<T>>`), each `Sync` when `T: Send` (checked
// by `cores_are_sync` in lib.rs), so sharing the reference with another thread is sound.
unsafe impl<T: Send> Send for PutAsync<'_, T> {}
// SAFETY: as above; `&PutAsync` gives access to nothing but its `Debug`, which reads the wait
// state alone.
unsafe impl<T: Send> Sync for PutAsync<'_, T> {}
// SAFETY: as for `PutAsync`.
unsafe impl<T: Send> Send for GetAsync<'_, T> {}
// SAFETY: as for `PutAsync`.
unsafe impl<T: Send> Sync for GetAsync<'_, T> {}
// SAFETY: as for `PutAsync`.
unsafe impl<T: Send> Send for JoinAsync<'_, T> {}
// SAFETY: as for `PutAsync`.
unsafe impl<T: Send> Sync for JoinAsync<'_, T> {}

// The item is never pinned: it moves in and out of the future by value.
impl<T> Unpin for PutAsync<'_, T> {}

impl<'a, T> PutAsync<'a, T> {
    pub(crate) fn new(core: &'a dyn Backend<T>, item: T) -> Self {
        Self {
            core,
            item: Some(item),
            wait: TaskWait::default(),
            done: false,
        }
    }
}

impl<T> Future for PutAsync<'_, T> {
    type Output = Result<(), ShutDown<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "PutAsync polled after completion");
        let out = this.core.poll_put(&mut this.item, &mut this.wait, cx);
        if out.is_ready() {
            this.done = true;
        }
        out.map(|r| r.map_err(|e| ShutDown(e.into_inner())))
    }
}

impl<T> Drop for PutAsync<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.core.cancel_put(&mut self.wait);
        }
    }
}

impl<'a, T> GetAsync<'a, T> {
    pub(crate) fn new(core: &'a dyn Backend<T>) -> Self {
        Self {
            core,
            wait: TaskWait::default(),
            done: false,
        }
    }
}

impl<T> Future for GetAsync<'_, T> {
    type Output = Result<T, ShutDown>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "GetAsync polled after completion");
        let out = this.core.poll_get(&mut this.wait, cx);
        if out.is_ready() {
            this.done = true;
        }
        out.map(|r| r.map_err(|_| ShutDown(())))
    }
}

impl<T> Drop for GetAsync<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.core.cancel_get(&mut self.wait);
        }
    }
}

impl<'a, T> JoinAsync<'a, T> {
    pub(crate) fn new(core: &'a dyn Backend<T>) -> Self {
        Self {
            core,
            wait: TaskWait::default(),
            done: false,
        }
    }
}

impl<T> Future for JoinAsync<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        assert!(!this.done, "JoinAsync polled after completion");
        let out = this.core.poll_join(&mut this.wait, cx);
        if out.is_ready() {
            this.done = true;
        }
        out
    }
}

impl<T> Drop for JoinAsync<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.core.cancel_join(&mut self.wait);
        }
    }
}

impl<'a, T> SimpleGetAsync<'a, T> {
    pub(crate) fn new(list: &'a List<T>) -> Self {
        Self {
            list,
            wait: TaskWait::default(),
            done: false,
        }
    }
}

impl<T> Future for SimpleGetAsync<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        assert!(!this.done, "SimpleGetAsync polled after completion");
        match this.list.poll_get(&mut this.wait, cx) {
            Poll::Ready(Ok(item)) => {
                this.done = true;
                Poll::Ready(item)
            }
            Poll::Ready(Err(_)) => unreachable!("a SimpleQueue is never shut down"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for SimpleGetAsync<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.list.cancel_get(&mut self.wait);
        }
    }
}

macro_rules! debug {
    ($($name:ident),*) => {$(
        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("queued", &self.wait.is_queued())
                    .field("done", &self.done)
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug!(PutAsync, GetAsync, JoinAsync, SimpleGetAsync);
