//! Lock and RLock: Python's threading.Lock and threading.RLock for Rust, loom-verified.
