//! `Lock` and `RLock`: Python's `threading.Lock` and `threading.RLock` for Rust, loom-verified.
//!
//! | Python | weft |
//! |---|---|
//! | `lock = threading.Lock()` | `let lock = Lock::new(data);` (or `Lock::default()` for a bare `Lock<()>`) |
//! | `with lock: ...` | `{ let g = lock.acquire(); ... }` (the guard releases on drop) |
//! | `lock.acquire(blocking=False)` | `lock.try_acquire()` → `Option<LockGuard>` |
//! | `lock.acquire(timeout=t)` | `lock.acquire_timeout(t)` → `Option<LockGuard>` |
//! | `lock.release()` | `drop(guard)`, on any thread ([`LockGuard`] is `Send`) |
//! | `lock.locked()` | `lock.locked()` |
//! | `async with lock:` (`asyncio.Lock`) | `let g = lock.acquire_async().await;` (threads and tasks share one lock) |
//! | `rlock = threading.RLock()` | `let rlock = RLock::new(data);` |
//! | `rlock._is_owned()` | `rlock.is_owned()` |
//! | `rlock._recursion_count()` | `rlock.recursion_count()` |
//!
//! Both locks own the data they protect, as Rust's `Mutex` does, and neither is poisoned by a
//! panic. The uncontended path of [`Lock`] is one compare-exchange to acquire and one swap to
//! release; a contended acquire spins briefly, then waits in weft-sync's waiting core (one FIFO
//! of threads and async tasks, [`Lock::acquire_async`]) until a release wakes it or hands the
//! lock to it (see [`Lock`'s fairness](Lock#fairness)). Every interleaving of that protocol is
//! checked with loom (`tests/loom.rs`).
//!
//! # Examples
//!
//! ```
//! use std::{sync::Arc, thread, time::Duration};
//! use weft_lock::Lock;
//!
//! let counter = Arc::new(Lock::new(0));
//! let handles: Vec<_> = (0..10)
//!     .map(|_| {
//!         let counter = Arc::clone(&counter);
//!         thread::spawn(move || *counter.acquire() += 1)
//!     })
//!     .collect();
//! for h in handles {
//!     h.join().unwrap();
//! }
//! assert_eq!(*counter.acquire(), 10);
//! assert!(counter.acquire_timeout(Duration::from_millis(1)).is_some());
//! ```

mod lock;
#[doc(hidden)]
pub mod raw;
mod rlock;

pub use crate::{
    lock::{Acquire, Lock, LockGuard},
    rlock::{RLock, RLockGuard},
};
