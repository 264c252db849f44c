//! Future, Promise, `as_completed` and `wait`: the heart of Python's `concurrent.futures`,
//! for Rust, model-checked with loom.
//!
//! | Python | weft |
//! |---|---|
//! | `Future()` made by `executor.submit` | [`promise()`] → ([`Promise`], [`Future`]) |
//! | `f.set_running_or_notify_cancel()` | [`Promise::set_running`] |
//! | `f.set_result(v)` / `f.set_exception(e)` | [`Promise::set_result`] / [`Promise::set_error`] |
//! | `f.done()`, `f.running()`, `f.cancelled()`, `f.cancel()` | the same names on [`Future`] |
//! | `f.result()` / `f.result(timeout)` | [`Future::result`] / [`Future::result_timeout`] |
//! | `f.exception()` | [`Future::exception`] |
//! | `f.add_done_callback(fn)` | [`Future::add_done_callback`] (the closure captures what it needs) |
//! | `as_completed(fs)` / `as_completed(fs, timeout)` | [`as_completed`] / [`as_completed_timeout`] |
//! | `wait(fs, timeout, return_when)` | [`wait`] → [`Waited`] `{ done, not_done }` |
//! | `CancelledError`, exceptions, `BrokenExecutor` | [`TaskError`] |
//! | `TimeoutError` from `as_completed` | [`Timeout`] |
//! | `Executor` (`submit`, `map`, `shutdown`) | [`Executor`], with tasks declared once as [`Task`]s ([`task!`]) |
//! | `Executor.map(..., buffersize=n)`'s iterator | [`Map`] (shared by every executor) |
//! | `RuntimeError` from `submit` after shutdown | [`Rejected`] (the work handed back) |
//! | `await asyncio.wrap_future(f)` | `f.await` (feature `async`) |
//! | `await asyncio.wait([asyncio.wrap_future(f)])` | `f.wait_async().await` (feature `async`; threads and tasks wait in one FIFO) |
//!
//! A future is pending, then running, then finished; or cancelled while pending. Every
//! transition is one CAS on one atomic word, so it happens exactly once whatever races; a done
//! future's [`Future::done`] is a single Acquire load, and completing a future that nobody
//! waits on takes no lock. See `docs/futures.md` for the design and its loom models.
//!
//! # Examples
//!
//! ```
//! use weft_futures::{as_completed, promise};
//!
//! let mut futures = Vec::new();
//! for n in 1..=3u64 {
//!     let (p, f) = promise();
//!     std::thread::spawn(move || p.set_result(n * n));
//!     futures.push(f);
//! }
//! let mut total = 0;
//! for f in as_completed(futures) {
//!     total += f.result().unwrap();
//! }
//! assert_eq!(total, 14);
//! ```

mod as_completed;
#[cfg(feature = "async")]
mod awaiting;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod executor;
mod future;
mod map;
mod options;
mod promise;
mod queue;
mod shared;
mod wait;

#[cfg(feature = "async")]
pub use crate::awaiting::{FutureWait, ResultFuture};
pub use crate::{
    as_completed::{AsCompleted, AsCompletedTimeout, as_completed, as_completed_timeout},
    error::{Rejected, TaskError, Timeout},
    executor::{Executor, Task},
    future::{Future, FutureId},
    map::{Chunk, Map, MapSubmit, Submitted},
    options::MapOptions,
    promise::{Promise, promise},
    wait::{ReturnWhen, Waited, wait},
};

#[doc(hidden)]
pub use crate::executor::doc_support;

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<Future<Vec<u8>>>();
    send::<Promise<Vec<u8>>>();
    send_sync::<Promise<Vec<u8>>>();
    send_sync::<TaskError>();
    send_sync::<Timeout>();
    send_sync::<MapOptions>();
    send_sync::<FutureId>();
    send_sync::<Rejected<Vec<u8>>>();
    send::<Map<'static, u8, u8, std::vec::IntoIter<u8>>>();
    send::<AsCompleted<Vec<u8>>>();
    send::<AsCompletedTimeout<Vec<u8>>>();
    send::<Waited<Vec<u8>>>();
};

#[cfg(feature = "async")]
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ResultFuture<Vec<u8>>>();
    send_sync::<FutureWait<'static, Vec<u8>>>();
};
