//! `ProcessPoolExecutor`: Python's `concurrent.futures.ProcessPoolExecutor` for Rust,
//! fork-based (Linux), crash-proof, with arguments and results serialized across `AF_UNIX`
//! sockets.
//!
//! | Python | weft |
//! |---|---|
//! | `with ProcessPoolExecutor(4) as pool:` | `let pool = ProcessPoolExecutor::new(4)?;` (shut down on `Drop`) |
//! | `pool.submit(fn, arg)` | [`ProcessPoolExecutor::submit`]: `fn(A) -> R`, `A, R: Serialize + DeserializeOwned` |
//! | `pool.map(fn, items, chunksize=100)` | [`ProcessPoolExecutor::map_with`] with [`MapOptions`] |
//! | `initializer=`, `max_tasks_per_child=` | [`Builder`] |
//! | `BrokenProcessPool` | [`TaskError::BrokenPool`], for the affected futures only |
//! | `concurrent.futures.Executor` | [`Executor`] (typed tasks: [`weft_futures::task!`]), implemented by [`ProcessPoolExecutor`] |
//!
//! `build()` forks one single-threaded helper, the zygote, which forks every worker; a worker
//! that crashes fails only the future it held and is replaced. See `docs/process.md` for the
//! design, the fork hazards, the wire format and the fault table.
//!
//! # Examples
//!
//! ```
//! use weft_process::ProcessPoolExecutor;
//!
//! fn is_prime(n: u64) -> bool {
//!     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//!
//! let pool = ProcessPoolExecutor::new(2)?;
//! let primes: Vec<bool> = pool.map(is_prime, [2, 15, 17, 1_000_003]).map(Result::unwrap).collect();
//! assert_eq!(primes, [true, false, true, true]);
//! # Ok::<(), std::io::Error>(())
//! ```
#![cfg(unix)]

mod builder;
mod control;
mod dispatcher;
mod executor;
mod fork;
mod map;
mod place;
mod request;
mod schedule;
mod trampoline;
mod wire;
mod worker;
mod zygote;

#[doc(hidden)]
pub use crate::wire::fuzz_decode;
pub use crate::{builder::Builder, executor::ProcessPoolExecutor};
pub use weft_futures::{Executor, Future, Map, MapOptions, Rejected, Task, TaskError};

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<ProcessPoolExecutor>();
    send::<Builder>();
    send_sync::<Rejected<u8>>();
    send::<Map<'static, u8, u8, std::vec::IntoIter<u8>>>();
};
