//! `Event`: Python's `threading.Event` for Rust, model-checked with loom.
//!
//! An [`Event`] is a flag that threads and async tasks wait for: [`Event::set`] raises it and
//! wakes every waiter, [`Event::clear`] lowers it, [`Event::wait`] and [`Event::wait_timeout`]
//! block until it is up, and [`Event::wait_async`] awaits it.
//!
//! | Python (`threading`) | weft |
//! |---|---|
//! | `ev = threading.Event()` | `let ev = Event::new();` |
//! | `ev.set()` / `ev.clear()` / `ev.is_set()` | `ev.set()` / `ev.clear()` / `ev.is_set()` |
//! | `ev.wait()` | `ev.wait()` |
//! | `ev.wait(timeout)` | `ev.wait_timeout(timeout)` (`bool`) |
//! | `await asyncio_event.wait()` | `ev.wait_async().await` (the same object serves threads) |
//!
//! # Examples
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use weft_event::Event;
//!
//! let started = Arc::new(Event::new());
//! let s = Arc::clone(&started);
//! let worker = std::thread::spawn(move || s.set());
//! assert!(started.wait_timeout(Duration::from_secs(10)));
//! worker.join().unwrap();
//! ```
//!
//! The design (the state word, orderings, the wait-list protocol) and the loom models are
//! described in `docs/event.md`.

mod event;

pub use crate::event::{Event, EventWait};

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Event>();
    send_sync::<EventWait<'static>>();
};
