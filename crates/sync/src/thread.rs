//! Threads: `std::thread`, or loom's model of it under `weft_loom`.
//!
//! Parking is deliberately not re-exported: block through [`crate::waitq::Ticket::park`], which
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

/// A non-zero id for the calling thread, drawn once per thread from a process-wide 64-bit
/// counter and never reused, even after the thread exits (unlike the address of a thread-local,
/// which a later thread may reuse).
///
/// The first call on a thread takes the next number; later calls read a thread-local (a plain
/// thread-pointer offset on `std`). Under `weft_loom` the thread-local is loom's, so each
/// modelled thread has its own id.
///
/// # Examples
///
/// ```
/// let me = weft_sync::thread::thread_id();
/// assert_ne!(me, 0);
/// assert_eq!(me, weft_sync::thread::thread_id());
/// let other = std::thread::spawn(weft_sync::thread::thread_id).join().unwrap();
/// assert_ne!(me, other);
/// ```
#[inline]
pub fn thread_id() -> u64 {
    use std::cell::Cell;

    // A counter of names, not a synchronisation variable: it orders nothing, so loom need not
    // see it (and a loom atomic cannot live in a `static`). 2^64 threads are never reached.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    #[cold]
    fn draw(slot: &Cell<u64>) -> u64 {
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        slot.set(id);
        id
    }

    // `const` initialisation makes the access a plain thread-pointer offset; loom's macro does
    // not take that form.
    #[cfg(not(weft_loom))]
    std::thread_local!(static ID: Cell<u64> = const { Cell::new(0) });
    #[cfg(weft_loom)]
    loom::thread_local!(static ID: Cell<u64> = Cell::new(0));
    ID.with(|slot| match slot.get() {
        0 => draw(slot),
        id => id,
    })
}
