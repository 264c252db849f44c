//! Queue, LifoQueue, PriorityQueue and SimpleQueue: Python's queue module for Rust, loom-verified.
