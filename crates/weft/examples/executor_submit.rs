//! `submit` schedules one call on a thread pool and hands back a `Future` for its result.
//!
//! The guide submits `do_something(5)` and `do_something(4)`; this example submits 0.5 s and
//! 0.4 s. `result()` waits for the task and returns `Ok(value)`, or `Err(TaskError)` if the task
//! panicked (Python re-raises the task's exception from `result()`).
//!
//! Python: `executor.submit(do_something, 5)`, `f1.result()`.
//! Runs as `cargo xtask demo --scenario executor_submit`.

use std::thread;
use std::time::{Duration, Instant};

use weft::futures::TaskError;
use weft::pool::ThreadPoolExecutor;

fn do_something(seconds: f64) -> String {
    println!("Sleeping {seconds} second(s)...");
    thread::sleep(Duration::from_secs_f64(seconds));
    format!("Done sleeping {seconds}")
}

fn main() {
    println!("(The guide sleeps 5 and 4 seconds; this demo sleeps 0.5 and 0.4 s.)");

    println!("One call after the other:");
    let start = Instant::now();
    println!("{}", do_something(0.5));
    println!("{}", do_something(0.4));
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s)");

    println!("Submitted to a ThreadPoolExecutor:");
    let start = Instant::now();
    {
        // The block plays the part of Python's `with`: the pool shuts down (and waits for its
        // workers) when it is dropped at the closing brace.
        let executor = ThreadPoolExecutor::default();
        let f1 = executor.submit(|| do_something(0.5));
        let f2 = executor.submit(|| do_something(0.4));
        // `result()` blocks until the task has finished.
        println!("{}", f1.result().expect("do_something(0.5) panicked"));
        println!("{}", f2.result().expect("do_something(0.4) panicked"));
    }
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");

    println!("A task that panics fails its own future; the pool lives on.");
    println!("(Rust's panic hook prints the worker's panic on stderr as it happens.)");
    let executor = ThreadPoolExecutor::new(1);
    let bad = executor.submit(|| -> String { panic!("no more sleep") });
    let good = executor.submit(|| do_something(0.1));
    match bad.result() {
        Err(TaskError::Panicked(message)) => println!("The task panicked: {message}"),
        other => println!("Unexpected: {other:?}"),
    }
    println!("{}", good.result().expect("do_something(0.1) panicked"));

    println!(
        "DEMO-RESULT {{\"scenario\":\"executor_submit\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
