//! Atomics: `std::sync::atomic`, or loom's models of them under `weft_loom`.
//!
//! loom's atomic constructors are not `const`; write `AtomicUsize::new(0)` in a function, not
//! in a `static`.

#[cfg(not(weft_loom))]
pub use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicIsize, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize,
    Ordering, fence,
};

#[cfg(weft_loom)]
pub use loom::sync::atomic::{
    AtomicBool, AtomicI64, AtomicIsize, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize,
    Ordering, fence,
};
