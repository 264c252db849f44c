//! `ThreadPoolExecutor`: Python's `concurrent.futures.ThreadPoolExecutor` for Rust,
//! loom-verified.
//!
//! A pool of lazily started worker threads runs closures and hands back
//! [`Future`]s (from `weft-futures`): `submit`, an ordered, lazy and
//! bounded `map`, and `shutdown(wait, cancel_futures)`, with `Drop` as Python's `with` block.
//! A panicking task fails only its own future; a panicking initializer breaks the pool.
//!
//! | Python | weft |
//! |---|---|
//! | `with ThreadPoolExecutor(max_workers=4) as pool:` | `let pool = ThreadPoolExecutor::new(4);` (shuts down on drop) |
//! | `f = pool.submit(fn, arg)` | `let f = pool.submit(move \|\| fn(arg));` |
//! | `f.result()` | `f.result()` → `Result<T, TaskError>` |
//! | `for r in pool.map(fn, items):` | `for r in pool.map(fn, items) {` |
//! | `pool.shutdown(wait=True, cancel_futures=False)` | `pool.shutdown(true, false)` |
//! | `concurrent.futures.Executor` | [`Executor`] (typed tasks: [`weft_futures::task!`]), implemented by [`ThreadPoolExecutor`] |
//!
//! # Examples
//!
//! ```
//! use weft_futures::as_completed;
//! use weft_pool::ThreadPoolExecutor;
//!
//! let pool = ThreadPoolExecutor::new(4);
//! let futures: Vec<_> = [3u64, 1, 2].into_iter().map(|n| pool.submit(move || n * 10)).collect();
//! let mut total = 0;
//! for f in as_completed(futures) {
//!     total += f.result()?;
//! }
//! assert_eq!(total, 60);
//! # Ok::<(), weft_futures::TaskError>(())
//! ```

mod builder;
mod error;
mod executor;
mod job;
mod map;
mod place;
mod shared;

pub use crate::{builder::Builder, error::BuildError, executor::ThreadPoolExecutor};
pub use weft_futures::{Executor, Future, Map, MapOptions, Rejected, Task, TaskError};
