//! `Barrier`: Python's `threading.Barrier` for Rust, for threads and async tasks alike,
//! model-checked with loom.
//!
//! A [`Barrier`] makes a fixed number of parties wait for each other: each calls
//! [`Barrier::wait`] (or awaits [`Barrier::wait_async`]), and once the last one arrives they are
//! all released together, after an optional action has run. The barrier is then ready for the
//! next round. A timeout, an [`abort`](Barrier::abort) or a panicking action *breaks* it: every
//! waiter gets [`BrokenBarrierError`], and so does every later wait until
//! [`reset`](Barrier::reset).
//!
//! | Python (`threading`) | weft |
//! |---|---|
//! | `b = threading.Barrier(3)` | `let b = Barrier::new(3);` |
//! | `threading.Barrier(3, action=f)` | `Barrier::with_action(3, f)` |
//! | `threading.Barrier(3, timeout=t)` | `Barrier::new(3).default_timeout(t)` |
//! | `i = b.wait()` | `let i = b.wait()?;` |
//! | `b.wait(timeout)` | `b.wait_timeout(timeout)?` |
//! | `await asyncio_barrier.wait()` | `b.wait_async().await?` (the same object serves threads) |
//! | `b.abort()`, `b.reset()` | `b.abort()`, `b.reset()` |
//! | `b.broken`, `b.parties`, `b.n_waiting` | `b.broken()`, `b.parties()`, `b.n_waiting()` |
//! | `threading.BrokenBarrierError` | [`BrokenBarrierError`] |
//!
//! # Examples
//!
//! ```
//! use std::{sync::Arc, thread};
//! use weft_barrier::Barrier;
//!
//! let b = Arc::new(Barrier::new(3));
//! let workers: Vec<_> = (0..2)
//!     .map(|_| {
//!         let b = Arc::clone(&b);
//!         thread::spawn(move || b.wait().unwrap())
//!     })
//!     .collect();
//! let mine = b.wait().unwrap();
//! let mut all: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
//! all.push(mine);
//! all.sort();
//! assert_eq!(all, [0, 1, 2]); // each party got its own arrival index
//! ```
//!
//! The design (one waiting core for threads and tasks, the trip, breaking) and the loom models
//! are described in `docs/barrier.md`.

mod barrier;

pub use crate::barrier::{Barrier, BarrierWait, BrokenBarrierError};

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<Barrier>();
    send_sync::<BrokenBarrierError>();
    send::<BarrierWait<'static>>();
};
