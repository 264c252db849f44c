//! Semaphore and BoundedSemaphore: Python's threading semaphores for Rust, loom-verified.
