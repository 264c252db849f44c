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

#[macro_use]
mod api;
mod error;
mod fifo;
mod lifo;
mod list;
mod locked;
mod priority;
mod ring;
mod simple;
mod store;
mod tasks;

pub use crate::{
    error::{GetError, PutError, ShutDown, TaskDoneError},
    fifo::Queue,
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
};
