//! `asyncio.to_thread` in Rust: a blocking call offloaded from async code to a weft pool.
//!
//! A heartbeat task ticks every 50 ms on a single-threaded tokio runtime (Python's event loop)
//! while `cpu_bound_task` blocks for 0.2 s. Called directly inside async code, the blocking
//! function holds the runtime's only thread and the heartbeat stops until it returns. Submitted
//! to a `ThreadPoolExecutor` and awaited, it runs on a worker thread and the heartbeat carries on.
//! The guide's task sleeps 2 seconds; this one sleeps 0.2 s.
//!
//! Python: `result = await asyncio.to_thread(cpu_bound_task, 2)`.
//! Runs as `cargo xtask demo --scenario asyncio_to_thread`.

use std::thread;
use std::time::{Duration, Instant};

use weft::pool::ThreadPoolExecutor;

/// Blocks its thread for `n` tenths of a second, then returns `n * n`.
fn cpu_bound_task(n: u64) -> u64 {
    thread::sleep(Duration::from_millis(100 * n));
    n * n
}

async fn heartbeat(start: Instant) {
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!(
            "  event loop: tick at {:.2} s",
            start.elapsed().as_secs_f64()
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("(The guide's task sleeps 2 seconds; this one sleeps 0.2 s.)");

    println!("Calling the blocking function straight from async code:");
    let start = Instant::now();
    let (result, ()) = tokio::join!(async { cpu_bound_task(2) }, heartbeat(start));
    println!("Result: {result}");
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s): the heartbeat waited for the task");

    println!("Offloading it to a ThreadPoolExecutor and awaiting its Future:");
    let executor = ThreadPoolExecutor::new(1);
    let start = Instant::now();
    let (result, ()) = tokio::join!(executor.submit(|| cpu_bound_task(2)), heartbeat(start));
    println!("Result: {}", result.expect("cpu_bound_task panicked"));
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s): the heartbeat kept time");

    println!(
        "DEMO-RESULT {{\"scenario\":\"asyncio_to_thread\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
