//! ProcessPoolExecutor: Python's ProcessPoolExecutor for Rust, fork-based and crash-proof.
