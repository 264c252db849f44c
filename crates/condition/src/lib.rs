//! Condition: Python's threading.Condition for Rust, owning its data, loom-verified.
