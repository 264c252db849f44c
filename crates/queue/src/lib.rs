//! Python's `queue` module for Rust: [`Queue`], [`LifoQueue`], [`PriorityQueue`] and
//! [`SimpleQueue`], model-checked with loom.
//!
//! | Python | weft |
//! |---|---|
//! | `queue.Queue(maxsize)` (`0` = unbounded) | [`Queue::new(maxsize)`](Queue::new), [`Queue::unbounded()`](Queue::unbounded) |
//! | `q.put(x)` / `q.put(x, block=False)` / `q.put(x, timeout=t)` | `q.put(x)` / `q.try_put(x)` / `q.put_timeout(x, t)` |
//! | `q.get()` / `q.get_nowait()` / `q.get(timeout=t)` | `q.get()` / `q.try_get()` / `q.get_timeout(t)` |
//! | `queue.Full` / `queue.Empty` / `queue.ShutDown` | [`PutError::Full`] (item inside) / [`GetError::Empty`] / [`ShutDown`] |
//! | `q.task_done()` / `q.join()` | `q.task_done()` (`Err` past zero) / `q.join()` |
//! | `q.shutdown(immediate)` (3.13) | `q.shutdown(immediate)` |
//! | `q.qsize()` / `q.empty()` / `q.full()` | `q.len()` / `q.is_empty()` / `q.is_full()` |
//! | `queue.LifoQueue`, `queue.PriorityQueue`, `queue.SimpleQueue` | [`LifoQueue`], [`PriorityQueue`], [`SimpleQueue`] |
//! | `asyncio.Queue`: `await q.put(x)` / `await q.get()` / `await q.join()` | `q.put_async(x).await` / `q.get_async().await` / `q.join_async().await` on the same queue |
//! | `janus.Queue` (one queue, a thread side and an async side) | any weft queue: threads and tasks share it, in one FIFO |
//!
//! # Examples
//!
//! ```
//! use weft_queue::{PutError, Queue};
//!
//! let q = Queue::new(1);
//! q.put("job")?;
//! assert_eq!(q.try_put("another"), Err(PutError::Full("another")));
//! assert_eq!(q.get(), Ok("job"));
//! # Ok::<(), weft_queue::ShutDown<&str>>(())
//! ```
//!
//! Threads and async tasks share one queue (what Python needs `janus` for): every blocking call
//! has an `_async` twin whose task waits in the same FIFO as blocked threads. The futures are
//! runtime-agnostic (plain `Waker`s), `Send` for `T: Send`, and safe to drop at any point: a
//! dropped `get_async` never takes an item, a dropped `put_async` drops its item unqueued, and
//! a wake-up either had received passes on to the next waiter.
//!
//! ```
//! use weft_queue::Queue;
//!
//! let q = Queue::new(8);
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         for n in 1..=100 {
//!             q.put(n).unwrap(); // a producer thread
//!         }
//!         q.shutdown(false);
//!     });
//!     rt.block_on(async {
//!         let mut sum = 0;
//!         while let Ok(n) = q.get_async().await {
//!             sum += n; // a consumer task
//!             q.task_done().unwrap();
//!         }
//!         q.join_async().await;
//!         assert_eq!(sum, 5050);
//!     });
//! });
//! ```

#[macro_use]
mod api;
mod error;
mod fifo;
mod future;
mod lifo;
mod list;
mod locked;
mod priority;
mod ring;
mod simple;
mod store;
mod tasks;
mod wait;

pub use crate::{
    error::{GetError, PutError, ShutDown, TaskDoneError},
    fifo::Queue,
    future::{GetAsync, JoinAsync, PutAsync, SimpleGetAsync},
    lifo::LifoQueue,
    priority::PriorityQueue,
    simple::SimpleQueue,
};

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Queue<Vec<u8>>>();
    send_sync::<LifoQueue<Vec<u8>>>();
    send_sync::<PriorityQueue<Vec<u8>>>();
    send_sync::<SimpleQueue<Vec<u8>>>();
    send_sync::<PutError<Vec<u8>>>();
    send_sync::<GetError>();
    send_sync::<TaskDoneError>();
    send_sync::<PutAsync<'static, Vec<u8>>>();
    send_sync::<GetAsync<'static, Vec<u8>>>();
    send_sync::<JoinAsync<'static, Vec<u8>>>();
    send_sync::<SimpleGetAsync<'static, Vec<u8>>>();
};

/// Every core behind a [`PutAsync`], [`GetAsync`] or [`JoinAsync`] is `Sync` for any `T: Send`
/// (what their `Send` and `Sync` impls rely on): this compiles only if so.
#[allow(dead_code)]
fn cores_are_sync<T: Send>() {
    const fn sync<C: Sync>() {}
    sync::<fifo::Fifo<T>>();
    sync::<locked::Locked<store::Stack<T>>>();
    sync::<locked::Locked<store::Heap<T>>>();
}
