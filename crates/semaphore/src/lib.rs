//! `Semaphore` and `BoundedSemaphore`: Python's `threading` semaphores for Rust, model-checked
//! with loom.
//!
//! A [`Semaphore`] holds a count of permits; [`Semaphore::acquire`] takes one (blocking while
//! there are none) and returns a [`Permit`] that gives it back when dropped. A
//! [`BoundedSemaphore`] refuses a [`release`](BoundedSemaphore::release) that would take its
//! count past the initial value.
//!
//! | Python (`threading`) | weft |
//! |---|---|
//! | `sem = Semaphore(2)` | `let sem = Semaphore::new(2);` |
//! | `with sem: ...` | `{ let _permit = sem.acquire(); ... }` |
//! | `sem.acquire(blocking=False)` | `sem.try_acquire()` (`Option<Permit>`) |
//! | `sem.acquire(timeout=t)` | `sem.acquire_timeout(t)` (`Option<Permit>`) |
//! | `sem.acquire()` ... `sem.release()` | `sem.acquire().forget()` ... `sem.release(1)` |
//! | `sem.release(n)` | `sem.release(n)` |
//! | `BoundedSemaphore(2).release()` → `ValueError` | `Err(BoundedSemaphoreError)` |
//! | `async with asyncio_sem:` | `let _permit = sem.acquire_async().await;` (the same object threads use) |
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use weft_semaphore::Semaphore;
//!
//! let sem = Arc::new(Semaphore::new(2));
//! let s = Arc::clone(&sem);
//! let t = std::thread::spawn(move || {
//!     let _permit = s.acquire();
//!     "did the work"
//! });
//! assert_eq!(t.join().unwrap(), "did the work");
//! assert_eq!(sem.available(), 2);
//! ```
//!
//! The design (the state word, orderings, barging and hand-off) and the loom models are
//! described in `docs/semaphore.md`.

mod bounded;
mod error;
mod permit;
mod raw;
mod semaphore;

pub use crate::{
    bounded::BoundedSemaphore,
    error::BoundedSemaphoreError,
    permit::{Acquire, Permit},
    semaphore::Semaphore,
};

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<Permit<'static>>();
    send_sync::<BoundedSemaphoreError>();
    send_sync::<Acquire<'static>>();
};
