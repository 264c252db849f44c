//! Future, Promise, as_completed and wait: Python's concurrent.futures primitives for Rust, loom-verified.
