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
//! # Waiting
//!
//! Every blocking weft primitive waits through [`waitq`], the one waiting core: a
//! [`WaitQueue`] of parked threads and async tasks in one FIFO, kept under the primitive's own
//! lock. A waker pops waiters and delivers a [`waitq::Token`] into each one's slot under that
//! lock, then performs the wake-ups (unpark, `Waker::wake`) after releasing it; a waiter that
//! stops waiting (its deadline passed, its future was dropped) settles with a single
//! [`waitq::WaitQueue::leave`]: its entry was still queued, or it received a token it must
//! honour or pass on.
//!
//! loom does not model time, so under `weft_loom` a thread's wait with a finite deadline
//! yields once and then times out unless a token arrived: models explore "gave up at the same
//! moment it was woken", the classic lost-wake-up race, deterministically.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use weft_sync::{Arc, Deadline, Mutex, waitq::{Token, WaitQueue}};
//!
//! let q = Arc::new(Mutex::new(WaitQueue::<()>::new()));
//! let ticket = q.lock().register_thread(());
//! let q2 = Arc::clone(&q);
//! let t = weft_sync::thread::spawn(move || {
//!     let woken = q2.lock().wake_one(Token::RETRY);
//!     if let Some((wakeup, ())) = woken {
//!         wakeup.wake(); // after the lock is released
//!     }
//! });
//! let token = ticket.park(Deadline::after(Duration::from_secs(10)));
//! assert_eq!(token, Some(Token::RETRY));
//! t.join().unwrap();
//! ```
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

pub mod claims;
pub mod clock;
pub mod cpu;
mod deadline;
mod model;
mod mutex;
mod spin;
pub mod waitq;

pub mod atomic;
pub mod cell;
pub mod thread;

pub use crate::{
    deadline::Deadline,
    model::{Outcomes, model, model_prefix, model_with_preemptions},
    mutex::{Mutex, MutexGuard},
    spin::{Backoff, SpinWait},
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

/// A waker that counts how often it was woken, for tests of weft's async paths: a task that
/// must be woken exactly once, passed a wake-up on, or never woken. Made by [`counting_waker`].
/// Not a loom type: the count is a plain `std` atomic, for tests on real threads.
///
/// # Examples
///
/// ```
/// let (count, waker) = weft_sync::counting_waker();
/// waker.wake_by_ref();
/// assert_eq!(count.get(), 1);
/// ```
#[derive(Debug, Default)]
pub struct WakeCount(std::sync::atomic::AtomicUsize);

impl WakeCount {
    /// How many wake-ups so far.
    #[must_use]
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::task::Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A [`WakeCount`] and a waker that counts into it.
#[must_use]
pub fn counting_waker() -> (std::sync::Arc<WakeCount>, std::task::Waker) {
    let count = std::sync::Arc::new(WakeCount::default());
    (std::sync::Arc::clone(&count), std::task::Waker::from(count))
}

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
