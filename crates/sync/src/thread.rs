//! Threads: `std::thread`, or loom's model of it under `weft_loom`.
//!
//! Parking is deliberately not re-exported: block through [`crate::park::Waiter`], which
//! separates a real wake-up from a spurious one and owns the timed form.

#[cfg(not(weft_loom))]
pub use std::thread::{Builder, JoinHandle, Thread, ThreadId, current, spawn, yield_now};

#[cfg(weft_loom)]
pub use loom::thread::{Builder, JoinHandle, Thread, ThreadId, current, spawn, yield_now};

/// Declares a thread-local: `std::thread_local!`, or loom's under `weft_loom`.
#[cfg(not(weft_loom))]
pub use std::thread_local;

/// Declares a thread-local: `std::thread_local!`, or loom's under `weft_loom`.
#[cfg(weft_loom)]
pub use loom::thread_local;

/// Signals a busy-wait loop to the processor (under loom: a yield, so spin loops terminate).
#[inline]
pub fn spin_loop() {
    #[cfg(not(weft_loom))]
    std::hint::spin_loop();
    #[cfg(weft_loom)]
    loom::hint::spin_loop();
}
