//! The API shared by `Queue`, `LifoQueue` and `PriorityQueue`, written once.

use std::task::{Context, Poll};

use crate::{GetError, PutError, TaskDoneError, locked::Block, wait::TaskWait};

/// What a queue type delegates to.
///
/// The async methods are one poll of a put, get or join and the cancellation of a pending one
/// (the futures in [`crate::future`] call them); a cancellation passes on a wake-up the task
/// received.
pub(crate) trait Backend<T> {
    fn poll_put(
        &self,
        item: &mut Option<T>,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<Result<(), PutError<T>>>;
    fn cancel_put(&self, wait: &mut TaskWait);
    fn poll_get(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<Result<T, GetError>>;
    fn cancel_get(&self, wait: &mut TaskWait);
    fn poll_join(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<()>;
    fn cancel_join(&self, wait: &mut TaskWait);
    fn put(&self, item: T, block: Block) -> Result<(), PutError<T>>;
    fn get(&self, block: Block) -> Result<T, GetError>;
    fn len(&self) -> usize;
    fn maxsize(&self) -> usize;
    fn task_done(&self) -> Result<(), TaskDoneError>;
    fn join(&self);
    fn shutdown(&self, immediate: bool);
    fn is_shutdown(&self) -> bool;
    fn unfinished(&self) -> usize;
}

impl<T, S: crate::locked::Store<T>> Backend<T> for crate::locked::Locked<S> {
    fn poll_put(
        &self,
        item: &mut Option<T>,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<Result<(), PutError<T>>> {
        Self::poll_put(self, item, wait, cx)
    }
    fn cancel_put(&self, wait: &mut TaskWait) {
        Self::cancel_put::<T>(self, wait);
    }
    fn poll_get(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<Result<T, GetError>> {
        Self::poll_get(self, wait, cx)
    }
    fn cancel_get(&self, wait: &mut TaskWait) {
        Self::cancel_get::<T>(self, wait);
    }
    fn poll_join(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<()> {
        Self::poll_join(self, wait, cx)
    }
    fn cancel_join(&self, wait: &mut TaskWait) {
        Self::cancel_join(self, wait);
    }
    fn put(&self, item: T, block: Block) -> Result<(), PutError<T>> {
        Self::put(self, item, block)
    }
    fn get(&self, block: Block) -> Result<T, GetError> {
        Self::get(self, block)
    }
    fn len(&self) -> usize {
        Self::len(self)
    }
    fn maxsize(&self) -> usize {
        Self::maxsize(self)
    }
    fn task_done(&self) -> Result<(), TaskDoneError> {
        Self::task_done(self)
    }
    fn join(&self) {
        Self::join(self);
    }
    fn shutdown(&self, immediate: bool) {
        Self::shutdown(self, immediate);
    }
    fn is_shutdown(&self) -> bool {
        Self::is_shutdown(self)
    }
    fn unfinished(&self) -> usize {
        Self::unfinished(self)
    }
}

/// Generates the public methods of a queue type `$name<T>` whose `inner` field implements
/// [`Backend`]. `$a`, `$b` are two sample items with `$first` the one `get` returns first.
macro_rules! queue_api {
    ($name:ident, [$($bound:tt)*], $a:literal, $b:literal, $first:literal, $py:literal) => {
        impl<T $($bound)*> $name<T> {
            #[doc = concat!("A new queue holding at most `maxsize` items; `0` means unbounded.")]
            ///
            #[doc = concat!("Python: `", $py, "(maxsize)`. A bounded queue holds memory for at most `maxsize` items whatever the traffic; an unbounded one gives memory back after a burst.")]
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::<u32>::new(16);")]
            /// assert_eq!(q.maxsize(), 16);
            /// assert!(q.is_empty());
            /// ```
            pub fn new(maxsize: usize) -> Self {
                Self::with_maxsize(maxsize)
            }

            /// A new queue with no bound: `put` never blocks (same as `new(0)`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::<u32>::unbounded();")]
            /// assert_eq!(q.maxsize(), 0);
            /// assert!(!q.is_full());
            /// ```
            pub fn unbounded() -> Self {
                Self::with_maxsize(0)
            }

            /// Puts `item` in the queue, blocking while it is full.
            ///
            #[doc = concat!("Python: `q.put(item)`.")]
            ///
            /// # Errors
            ///
            /// [`ShutDown`](crate::ShutDown) with the item inside once the queue was shut down
            /// (also when the shutdown happens while this call is blocked).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(2);")]
            #[doc = concat!("q.put(", $a, ")?;")]
            /// assert_eq!(q.len(), 1);
            /// # Ok::<(), weft_queue::ShutDown<i32>>(())
            /// ```
            pub fn put(&self, item: T) -> Result<(), crate::ShutDown<T>> {
                match crate::api::Backend::put(&self.inner, item, crate::locked::Block::forever()) {
                    Ok(()) => Ok(()),
                    Err(e) => Err(crate::ShutDown(e.into_inner())),
                }
            }

            /// Puts `item` in the queue if there is room now.
            ///
            /// Python: `q.put(item, block=False)` / `q.put_nowait(item)`.
            ///
            /// # Errors
            ///
            /// [`PutError::Full`](crate::PutError::Full) if the queue is full,
            /// [`PutError::ShutDown`](crate::PutError::ShutDown) after a shutdown; either
            /// way the item comes back inside.
            ///
            /// # Examples
            ///
            /// ```
            /// use weft_queue::PutError;
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(1);")]
            #[doc = concat!("q.try_put(", $a, ").unwrap();")]
            #[doc = concat!("assert_eq!(q.try_put(", $b, "), Err(PutError::Full(", $b, ")));")]
            /// ```
            pub fn try_put(&self, item: T) -> Result<(), crate::PutError<T>> {
                crate::api::Backend::put(&self.inner, item, crate::locked::Block::No)
            }

            /// Puts `item` in the queue, waiting up to `timeout` for room.
            ///
            /// Never gives up before `timeout` has passed; [`Duration::MAX`](std::time::Duration::MAX)
            /// waits forever.
            ///
            /// Python: `q.put(item, timeout=t)`.
            ///
            /// # Errors
            ///
            /// [`PutError::Full`](crate::PutError::Full) once `timeout` passes,
            /// [`PutError::ShutDown`](crate::PutError::ShutDown) after a shutdown; either
            /// way the item comes back inside.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(1);")]
            #[doc = concat!("q.put_timeout(", $a, ", Duration::from_millis(5)).unwrap();")]
            #[doc = concat!("let err = q.put_timeout(", $b, ", Duration::from_millis(5)).unwrap_err();")]
            /// assert!(err.is_full());
            /// ```
            pub fn put_timeout(
                &self,
                item: T,
                timeout: std::time::Duration,
            ) -> Result<(), crate::PutError<T>> {
                crate::api::Backend::put(&self.inner, item, crate::locked::Block::timeout(timeout))
            }

            /// Takes the next item, blocking while the queue is empty.
            ///
            /// After [`shutdown(false)`](Self::shutdown) the remaining items are still handed
            /// out; then it fails.
            ///
            /// Python: `q.get()`.
            ///
            /// # Errors
            ///
            /// [`ShutDown`](crate::ShutDown) once the queue is shut down and empty (also when
            /// that happens while this call is blocked).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(0);")]
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            #[doc = concat!("q.put(", $b, ").unwrap();")]
            #[doc = concat!("assert_eq!(q.get(), Ok(", $first, "));")]
            /// ```
            pub fn get(&self) -> Result<T, crate::ShutDown> {
                crate::api::Backend::get(&self.inner, crate::locked::Block::forever())
                    .map_err(|_| crate::ShutDown(()))
            }

            /// Takes the next item if there is one now.
            ///
            /// Python: `q.get(block=False)` / `q.get_nowait()`.
            ///
            /// # Errors
            ///
            /// [`GetError::Empty`](crate::GetError::Empty) if the queue is empty,
            /// [`GetError::ShutDown`](crate::GetError::ShutDown) if it is also shut down.
            ///
            /// # Examples
            ///
            /// ```
            /// use weft_queue::GetError;
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(0);")]
            /// assert_eq!(q.try_get(), Err(GetError::Empty));
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            #[doc = concat!("assert_eq!(q.try_get(), Ok(", $a, "));")]
            /// ```
            pub fn try_get(&self) -> Result<T, crate::GetError> {
                crate::api::Backend::get(&self.inner, crate::locked::Block::No)
            }

            /// Takes the next item, waiting up to `timeout` for one.
            ///
            /// Never gives up before `timeout` has passed; [`Duration::MAX`](std::time::Duration::MAX)
            /// waits forever.
            ///
            /// Python: `q.get(timeout=t)`.
            ///
            /// # Errors
            ///
            /// [`GetError::Empty`](crate::GetError::Empty) once `timeout` passes,
            /// [`GetError::ShutDown`](crate::GetError::ShutDown) once the queue is shut down
            /// and empty.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use weft_queue::GetError;
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::<i32>::new(0);")]
            /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetError::Empty));
            /// ```
            pub fn get_timeout(&self, timeout: std::time::Duration) -> Result<T, crate::GetError> {
                crate::api::Backend::get(&self.inner, crate::locked::Block::timeout(timeout))
            }

            /// How many items are queued now (a snapshot).
            ///
            /// Python: `q.qsize()`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(0);")]
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            /// assert_eq!(q.len(), 1);
            /// ```
            pub fn len(&self) -> usize {
                crate::api::Backend::len(&self.inner)
            }

            /// Whether no item is queued now (a snapshot).
            ///
            /// Python: `q.empty()`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::<u8>::new(0);")]
            /// assert!(q.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether the queue is bounded and holds `maxsize` items now (a snapshot).
            ///
            /// Python: `q.full()`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(1);")]
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            /// assert!(q.is_full());
            /// ```
            pub fn is_full(&self) -> bool {
                let max = self.maxsize();
                max > 0 && self.len() >= max
            }

            /// The bound given at construction; `0` means unbounded.
            ///
            /// Python: `q.maxsize`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert_eq!(weft_queue::", stringify!($name), "::<u8>::new(3).maxsize(), 3);")]
            /// ```
            pub fn maxsize(&self) -> usize {
                crate::api::Backend::maxsize(&self.inner)
            }

            /// Marks one item taken earlier as processed, for [`join`](Self::join).
            ///
            /// Every successful put adds one unfinished task; every `task_done` removes one.
            ///
            /// Python: `q.task_done()`.
            ///
            /// # Errors
            ///
            /// [`TaskDoneError`](crate::TaskDoneError) when called more times than items were
            /// put (Python raises `ValueError`); nothing changes then.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(0);")]
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            /// q.get().unwrap();
            /// assert!(q.task_done().is_ok());
            /// assert!(q.task_done().is_err());
            /// ```
            pub fn task_done(&self) -> Result<(), crate::TaskDoneError> {
                crate::api::Backend::task_done(&self.inner)
            }

            /// Blocks until every item ever put has been marked done with
            /// [`task_done`](Self::task_done); returns at once when none is outstanding.
            ///
            /// Python: `q.join()`.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::sync::Arc;
            #[doc = concat!("let q = Arc::new(weft_queue::", stringify!($name), "::new(0));")]
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            /// let worker = {
            ///     let q = Arc::clone(&q);
            ///     std::thread::spawn(move || {
            ///         q.get().unwrap();
            ///         q.task_done().unwrap();
            ///     })
            /// };
            /// q.join();
            /// # worker.join().unwrap();
            /// ```
            pub fn join(&self) {
                crate::api::Backend::join(&self.inner);
            }

            /// Puts `item` in the queue as an async task, waiting while it is full.
            ///
            /// The task waits in the same FIFO as blocked threads, so threads and tasks can
            /// share one queue (producers on threads, consumers on tasks, or the other way
            /// round) and neither starves the other. Runtime-agnostic (plain `Waker`s); for a
            /// timeout, wrap it in the runtime's (`tokio::time::timeout`). The future is `Send`
            /// for `T: Send`.
            ///
            /// Cancellation is safe: dropping the future before it completes drops `item` with
            /// it (it was never queued and is not counted by `task_done`/`join`), and a free
            /// slot announced to it passes on to the next putter. See
            /// [`PutAsync`](crate::PutAsync).
            ///
            #[doc = concat!("Python: `await q.put(item)` on an `asyncio.Queue`; one `", $py, "` serving threads and tasks at once is what `janus` offers in Python.")]
            ///
            /// # Errors
            ///
            /// [`ShutDown`](crate::ShutDown) with the item inside once the queue was shut down
            /// (also when the shutdown happens while the task waits).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(1);")]
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// std::thread::scope(|s| {
            #[doc = concat!("    q.put(", $a, ").unwrap();")]
            ///     // A thread makes room...
            ///     s.spawn(|| q.get().unwrap());
            ///     // ...for the task's item.
            #[doc = concat!("    rt.block_on(q.put_async(", $b, ")).unwrap();")]
            /// });
            #[doc = concat!("assert_eq!(q.get(), Ok(", $b, "));")]
            /// ```
            pub fn put_async(&self, item: T) -> crate::PutAsync<'_, T> {
                crate::PutAsync::new(&self.inner, item)
            }

            /// Takes the next item as an async task, waiting while the queue is empty.
            ///
            /// The task waits in the same FIFO as blocked threads. Runtime-agnostic; for a
            /// timeout, wrap it in the runtime's (`tokio::time::timeout`). The future is `Send`
            /// for `T: Send`.
            ///
            /// Cancellation is safe: a dropped future never takes an item (it stays for the
            /// next getter), and a wake-up it received passes on to the next getter. See
            /// [`GetAsync`](crate::GetAsync).
            ///
            /// Python: `await q.get()` on an `asyncio.Queue` (or `janus`'s `async_q`).
            ///
            /// # Errors
            ///
            /// [`ShutDown`](crate::ShutDown) once the queue is shut down and empty (also when
            /// that happens while the task waits).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(0);")]
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// std::thread::scope(|s| {
            #[doc = concat!("    s.spawn(|| q.put(", $a, ").unwrap()); // a thread produces...")]
            #[doc = concat!("    assert_eq!(rt.block_on(q.get_async()), Ok(", $a, ")); // ...a task consumes")]
            /// });
            /// q.shutdown(false);
            /// assert!(rt.block_on(q.get_async()).is_err());
            /// ```
            pub fn get_async(&self) -> crate::GetAsync<'_, T> {
                crate::GetAsync::new(&self.inner)
            }

            /// Waits as an async task until every item ever put has been marked done with
            /// [`task_done`](Self::task_done); completes at once when none is outstanding.
            ///
            /// Dropping the future is safe at any point. Runtime-agnostic; the future is
            /// `Send` for `T: Send`.
            ///
            /// Python: `await q.join()` on an `asyncio.Queue`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(0);")]
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// std::thread::scope(|s| {
            ///     s.spawn(|| {
            ///         q.get().unwrap();
            ///         q.task_done().unwrap();
            ///     });
            ///     rt.block_on(q.join_async());
            /// });
            /// assert_eq!(q.unfinished_tasks(), 0);
            /// ```
            pub fn join_async(&self) -> crate::JoinAsync<'_, T> {
                crate::JoinAsync::new(&self.inner)
            }

            /// Shuts the queue down, as Python 3.13's `q.shutdown(immediate)`.
            ///
            /// Afterwards every put fails with the item handed back. With `immediate == false`,
            /// gets still hand out the items left and fail once the queue is empty. With
            /// `immediate == true`, the queued items are dropped at once and their unfinished
            /// tasks settled (items already taken still need their
            /// [`task_done`](Self::task_done)), so gets fail at once. Either way every blocked
            /// getter and putter wakes and fails with `ShutDown`. Calling it again is harmless.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(0);")]
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            /// q.shutdown(false);
            #[doc = concat!("assert!(q.put(", $b, ").is_err());")]
            #[doc = concat!("assert_eq!(q.get(), Ok(", $a, "));")]
            /// assert!(q.get().is_err());
            /// ```
            pub fn shutdown(&self, immediate: bool) {
                crate::api::Backend::shutdown(&self.inner, immediate);
            }

            /// Whether [`shutdown`](Self::shutdown) was called.
            ///
            /// Python: `q.is_shutdown`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::<u8>::new(0);")]
            /// q.shutdown(true);
            /// assert!(q.is_shutdown());
            /// ```
            pub fn is_shutdown(&self) -> bool {
                crate::api::Backend::is_shutdown(&self.inner)
            }

            /// How many items were put and not yet marked done (a snapshot).
            ///
            /// Python: `q.unfinished_tasks`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = weft_queue::", stringify!($name), "::new(0);")]
            #[doc = concat!("q.put(", $a, ").unwrap();")]
            /// assert_eq!(q.unfinished_tasks(), 1);
            /// ```
            pub fn unfinished_tasks(&self) -> usize {
                crate::api::Backend::unfinished(&self.inner)
            }
        }

        impl<T $($bound)*> Default for $name<T> {
            /// An unbounded queue.
            fn default() -> Self {
                Self::unbounded()
            }
        }

        impl<T $($bound)*> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.len())
                    .field("maxsize", &self.maxsize())
                    .field("unfinished_tasks", &self.unfinished_tasks())
                    .field("is_shutdown", &self.is_shutdown())
                    .finish()
            }
        }
    };
}

pub(crate) use queue_api;
