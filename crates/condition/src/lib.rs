//! Python's `threading.Condition` for Rust: a condition variable that owns its data,
//! model-checked with loom.
//!
//! | Python | weft |
//! |---|---|
//! | `cond = threading.Condition()` | `let cond = Condition::new(data);` |
//! | `with cond:` | `let mut g = cond.lock();` |
//! | `cond.wait()` / `cond.wait(t)` | `g.wait()` / `g.wait_timeout(t)` (`false` on timeout) |
//! | `cond.wait_for(p)` / `cond.wait_for(p, t)` | `g.wait_for(p)` / `g.wait_for_timeout(p, t)` |
//! | `cond.notify(n)` / `cond.notify_all()` | `g.notify(n)` / `g.notify_all()`, or on `cond` without the lock |
//! | `async with cond:` (`asyncio.Condition`) | `let mut g = cond.lock_async().await;` (the same object threads use) |
//! | `await cond.wait()` / `await cond.wait_for(p)` | `g.wait_async().await` / `g.wait_for_async(p).await` |
//!
//! Waiters are notified oldest first; a notification with nobody waiting costs one load; a
//! notified waiter is requeued onto the mutex instead of waking to block on it.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use weft_condition::Condition;
//!
//! let jobs = Arc::new(Condition::new(Vec::<u32>::new()));
//! let worker = {
//!     let jobs = Arc::clone(&jobs);
//!     std::thread::spawn(move || {
//!         let mut g = jobs.lock();
//!         g.wait_for(|j| !j.is_empty());
//!         g.pop().unwrap()
//!     })
//! };
//! jobs.lock().push(7);
//! jobs.notify(1);
//! assert_eq!(worker.join().unwrap(), 7);
//! ```

mod condition;
mod guard;
// `weft_sync::atomic` re-exports std's atomics outside loom builds, and clippy's
// `disallowed-types` resolves the re-export to the banned std path: the ban targets direct
// use of std, which this module never makes.
#[allow(clippy::disallowed_types)]
mod raw;

pub use crate::{
    condition::{Condition, ConditionLock},
    guard::{ConditionGuard, ConditionWait},
};

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Condition<Vec<u8>>>();
    // Guards and futures held across `.await` in a spawned task must be `Send`.
    send_sync::<ConditionGuard<'static, Vec<u8>>>();
    send_sync::<ConditionLock<'static, Vec<u8>>>();
    send_sync::<ConditionWait<'static, 'static, Vec<u8>>>();
};
