//! `asyncio.gather` in Rust: three tasks started together and awaited together.
//!
//! First the guide's program as plain tokio: `async fn task` and `tokio::join!`. Then the same
//! three tasks as ordinary blocking functions run on a weft `ThreadPoolExecutor`, whose futures
//! are awaited from async code (the `weft` crate's `async` feature makes a weft `Future`
//! awaitable). Awaiting the futures one at a time is sequential; joining them is concurrent.
//! The guide's tasks sleep 2 seconds; these sleep 0.2 s.
//!
//! Python: `results = await asyncio.gather(task("A"), task("B"), task("C"))`.
//! Runs as `cargo xtask demo --scenario asyncio_gather`.

use std::thread;
use std::time::{Duration, Instant};

use weft::pool::ThreadPoolExecutor;

async fn task(name: &str) -> String {
    println!("Task {name} starting");
    tokio::time::sleep(Duration::from_millis(200)).await; // An I/O-bound wait.
    println!("Task {name} finished");
    format!("Result from {name}")
}

/// The same task, written as ordinary blocking code.
fn blocking_task(name: &str) -> String {
    println!("Task {name} starting");
    thread::sleep(Duration::from_millis(200));
    println!("Task {name} finished");
    format!("Result from {name}")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("(The guide's tasks sleep 2 seconds; these sleep 0.2 s.)");

    println!("tokio::join! of three async tasks:");
    let start = Instant::now();
    let results = tokio::join!(task("A"), task("B"), task("C"));
    println!("{results:?}");
    println!("Finished in {:.2} second(s)", start.elapsed().as_secs_f64());

    let executor = ThreadPoolExecutor::new(3);

    println!("Blocking tasks on a ThreadPoolExecutor, each awaited before the next is submitted:");
    let start = Instant::now();
    let mut results = Vec::new();
    for name in ["A", "B", "C"] {
        let result = executor.submit(move || blocking_task(name)).await;
        results.push(result.expect("the task panicked"));
    }
    println!("{results:?}");
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s)");

    println!("The same tasks, all submitted first, then awaited together:");
    let start = Instant::now();
    let a = executor.submit(|| blocking_task("A"));
    let b = executor.submit(|| blocking_task("B"));
    let c = executor.submit(|| blocking_task("C"));
    let (a, b, c) = tokio::join!(a, b, c);
    let results = [a, b, c].map(|r| r.expect("the task panicked"));
    println!("{results:?}");
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");

    println!(
        "DEMO-RESULT {{\"scenario\":\"asyncio_gather\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
