//! ThreadPoolExecutor: Python's concurrent.futures.ThreadPoolExecutor for Rust, loom-verified.
