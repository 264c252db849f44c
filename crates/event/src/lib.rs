//! Event: Python's threading.Event for Rust, loom-verified.
