//! `submit` + `as_completed`: schedule every task at once, then take the results as they
//! finish, fastest first.
//!
//! The guide submits `do_something(sec)` for `[5, 4, 3, 2, 1]` seconds and prints each result
//! as it completes; this example sleeps tenths of that. The 0.1 s task reports first, the
//! 0.5 s task last, and the whole run takes about 0.5 s instead of 1.5 s.
//!
//! Python: `results = [executor.submit(do_something, sec) for sec in secs]`,
//! `for f in concurrent.futures.as_completed(results): print(f.result())`.
//! Runs as `cargo xtask demo --scenario executor_as_completed`.

use std::thread;
use std::time::{Duration, Instant};

use weft::futures::as_completed;
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

    println!("Submitted to a ThreadPoolExecutor, taken with as_completed:");
    let start = Instant::now();
    {
        let executor = ThreadPoolExecutor::default();
        let results: Vec<_> = secs
            .iter()
            .map(|&s| executor.submit(move || do_something(s)))
            .collect();
        // Each future comes out of `as_completed` once, as soon as its task has finished.
        for f in as_completed(results) {
            println!("{}", f.result().expect("do_something panicked"));
        }
    }
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");

    println!(
        "DEMO-RESULT {{\"scenario\":\"executor_as_completed\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
