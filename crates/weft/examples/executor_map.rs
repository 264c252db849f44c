//! `map` runs one function over a list of inputs on a thread pool and yields the results in
//! input order, whatever order the tasks finish in.
//!
//! The guide maps `do_something` over `[5, 4, 3, 2, 1]` seconds; this example maps it over
//! tenths of a second, `[0.5, 0.4, 0.3, 0.2, 0.1]`. The first result printed is the slowest
//! task's, because `map` keeps input order; the whole map takes about as long as that slowest
//! task instead of the sum of all five.
//!
//! Python: `results = executor.map(do_something, secs)`, `for result in results: print(result)`.
//! Runs as `cargo xtask demo --scenario executor_map`.

use std::thread;
use std::time::{Duration, Instant};

use weft::pool::ThreadPoolExecutor;

fn do_something(seconds: f64) -> String {
    println!("Sleeping {seconds} second(s)...");
    thread::sleep(Duration::from_secs_f64(seconds));
    format!("Done sleeping {seconds}")
}

fn main() {
    println!("(The guide sleeps [5, 4, 3, 2, 1] seconds; this demo sleeps tenths of that.)");
    let secs = [0.5, 0.4, 0.3, 0.2, 0.1];

    println!("One call after the other:");
    let start = Instant::now();
    for s in secs {
        println!("{}", do_something(s));
    }
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s)");

    println!("executor.map over a ThreadPoolExecutor:");
    let start = Instant::now();
    {
        // The block plays the part of Python's `with`: the pool shuts down (and waits for its
        // workers) when it is dropped at the closing brace.
        let executor = ThreadPoolExecutor::default();
        // Each result is `Ok(value)`, or `Err(TaskError)` for an input whose call panicked
        // (Python raises that exception when the loop reaches it).
        let results = executor.map(do_something, secs);
        for result in results {
            println!("{}", result.expect("do_something panicked"));
        }
    }
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");

    println!(
        "DEMO-RESULT {{\"scenario\":\"executor_map\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
