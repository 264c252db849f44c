//! `ThreadPoolExecutor` as a `weft_futures::Executor`: the checks every executor passes,
//! written once in `weft_futures::conformance` (the process pool runs them too, in
//! `crates/process/tests/process.rs`).

use weft_futures::conformance;
use weft_pool::ThreadPoolExecutor;

#[test]
fn work() {
    conformance::work(&ThreadPoolExecutor::new(4));
}

#[test]
fn map_is_eager_then_lazy() {
    conformance::map_is_eager_then_lazy(&ThreadPoolExecutor::new(2));
}

#[test]
fn map_fails_items_alone() {
    conformance::map_fails_items_alone(&ThreadPoolExecutor::new(2));
}

#[test]
fn map_cancels_unconsumed_tasks_on_drop() {
    for workers in [1, 3] {
        conformance::map_cancels_unconsumed_tasks_on_drop(
            &ThreadPoolExecutor::new(workers),
            workers,
        );
    }
}

#[test]
fn refuses_after_shutdown() {
    conformance::refuses_after_shutdown(&ThreadPoolExecutor::new(1));
}
