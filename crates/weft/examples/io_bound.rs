//! Timing an I/O-bound workload: five tasks that wait 50, 40, 30, 20 and 10 ms.
//!
//! One after the other they take the sum of their waits (about 150 ms); on a pool of five
//! threads they take as long as the longest wait (about 50 ms). Time is measured with
//! `std::time::Instant`, a monotonic clock: Python's `time.perf_counter()`.
//!
//! Python: `start = time.perf_counter()` ... `print(f'Finished in {round(finish-start, 2)} second(s)')`.
//! Runs as `cargo xtask demo --scenario io_bound`.

use std::thread;
use std::time::{Duration, Instant};

use weft::pool::ThreadPoolExecutor;

fn do_something(ms: u64) -> String {
    thread::sleep(Duration::from_millis(ms));
    format!("Done sleeping {ms} ms")
}

fn main() {
    let waits = [50, 40, 30, 20, 10];

    println!("One after the other:");
    let start = Instant::now();
    for ms in waits {
        println!("{}", do_something(ms));
    }
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s)");

    println!("On a ThreadPoolExecutor with five workers:");
    let start = Instant::now();
    {
        let executor = ThreadPoolExecutor::new(5);
        // `map` hands results back in input order, as each one is ready.
        for result in executor.map(do_something, waits) {
            println!("{}", result.expect("do_something panicked"));
        }
    }
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");

    println!(
        "({:.0} ms against {:.0} ms: {:.1}x faster)",
        sequential * 1e3,
        concurrent * 1e3,
        sequential / concurrent
    );
    println!(
        "DEMO-RESULT {{\"scenario\":\"io_bound\",\"sequential_s\":{sequential:.4},\"concurrent_s\":{concurrent:.4}}}"
    );
}
