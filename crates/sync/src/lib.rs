//! The one place where weft switches between `std` and [`loom`](https://docs.rs/loom).
//!
//! Every other weft crate takes its atomics, cells, threads, locks and parking from here, never
//! from `std` directly. Built normally, each item is the `std` one (or a zero-cost wrapper of it);
//! built with `RUSTFLAGS="--cfg weft_loom"`, each item is loom's model of it, so that
//! `cargo xtask loom` explores every interleaving of the code that uses it.
//!
//! The call sites are identical on both sides: [`cell::UnsafeCell`] has loom's closure shape
//! (`with` / `with_mut`), constructors are plain functions, and time goes through [`clock`] and
//! [`Deadline`]: under loom a logical clock, so that every time-based decision is explored both
//! ways.
//!
//! # Parking
//!
//! Every blocking weft type is built from three pieces:
//!
//! * [`park::Waiter`]: one per blocked call; the thread parks on it, optionally until a
//!   [`Deadline`], and learns whether it was woken or timed out.
//! * [`park::Notifier`]: the other end, kept in a wait list; `notify` wakes that one waiter.
//! * [`WaitList`]: a FIFO of notifiers, kept under the primitive's own lock, from which a
//!   timed-out waiter can remove itself (or learn that it was already woken).
//!
//! [`waitq`] is the one waiting core the primitives move to: a [`WaitQueue`] of parked threads
//! and async tasks in one FIFO, wake-ups carrying a [`waitq::Token`] delivered under the
//! primitive's lock, and a single [`waitq::WaitQueue::leave`] for a waiter that stops waiting
//! (timeout or dropped future). `park` and `WaitList` remain for the primitives not yet moved.
//!
//! loom does not model time, so under `weft_loom` a wait with a finite deadline yields once and
//! then reports [`park::Parked::TimedOut`] unless it was notified: models explore "gave up at the
//! same moment it was woken", the classic lost-wake-up race, deterministically.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use weft_sync::{Deadline, park::{Parked, Waiter}};
//!
//! let waiter = Waiter::new();
//! let notifier = waiter.notifier();
//! let t = weft_sync::thread::spawn(move || notifier.notify());
//! assert_eq!(waiter.wait(Deadline::after(Duration::from_secs(10))), Parked::Woken);
//! t.join().unwrap();
//! ```
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

pub mod clock;
mod deadline;
mod model;
mod mutex;
pub mod park;
mod spin;
mod wait_list;
pub mod waitq;

pub mod atomic;
pub mod cell;
pub mod thread;

pub use crate::{
    deadline::Deadline,
    model::{model, model_with_preemptions},
    mutex::{Mutex, MutexGuard},
    spin::SpinWait,
    wait_list::WaitList,
    waitq::WaitQueue,
};

/// Pads and aligns a value to a cache line (128 bytes on x86-64 and aarch64), so that two hot
/// atomics written by different threads never share a line: crossbeam-utils' type, re-exported
/// so that a weft crate depends on `weft-sync` alone.
pub use crossbeam_utils::CachePadded;

/// `Arc`: `std::sync::Arc`, or loom's model of it under `weft_loom`.
#[cfg(not(weft_loom))]
pub use std::sync::Arc;

/// `Arc`: `std::sync::Arc`, or loom's model of it under `weft_loom`.
#[cfg(weft_loom)]
pub use loom::sync::Arc;

/// Whether this build is a loom model build (`--cfg weft_loom`).
pub const LOOM: bool = cfg!(weft_loom);

/// Runs an `async` block to completion on the current thread: loom's `block_on` under
/// `weft_loom`, a minimal park-based executor otherwise. For testing `IntoFuture` paths.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    #[cfg(weft_loom)]
    {
        loom::future::block_on(f)
    }
    #[cfg(not(weft_loom))]
    {
        model::block_on(f)
    }
}
