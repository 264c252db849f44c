//! The guide's `multiprocessing.Process` example: five workers, each printing
//! `Worker i starting`, sleeping, then `Worker i finished`, all at once in separate processes.
//!
//! weft has no `Process` type: a `ProcessPoolExecutor` with one task per worker does the job,
//! and hands back each worker's result (here, its process id) or its failure through a future.
//! The sleep is scaled from the guide's 1 s to 0.2 s.
//!
//! Python: `p = multiprocessing.Process(target=worker, args=(i,)); p.start()` ... `p.join()`.
//! Runs as `cargo xtask demo --scenario multiprocessing_workers`.

use std::{
    thread,
    time::{Duration, Instant},
};

use weft::process::ProcessPoolExecutor;

/// Runs in a worker process: its output goes to the same terminal, line by line.
fn worker(i: u32) -> u32 {
    println!("Worker {i} starting");
    thread::sleep(Duration::from_millis(200));
    println!("Worker {i} finished");
    std::process::id()
}

fn main() -> std::io::Result<()> {
    let start = Instant::now();
    // One process per worker, as the guide starts one `Process` per worker.
    let pool = ProcessPoolExecutor::new(5)?;
    let futures: Vec<_> = (0..5).map(|i| pool.submit(worker, i)).collect();
    let mut pids = Vec::new();
    for f in futures {
        // `result()` is `join()`: it waits for that worker's task.
        pids.push(f.result().expect("worker failed"));
    }
    // Drop shuts the pool down: every worker process exits and is reaped.
    drop(pool);
    let concurrent = start.elapsed().as_secs_f64();
    pids.sort_unstable();
    pids.dedup();
    println!(
        "{} worker processes (parent {}), Finished in {concurrent:.2} second(s)",
        pids.len(),
        std::process::id()
    );
    println!(
        "DEMO-RESULT {{\"scenario\":\"multiprocessing_workers\",\"sequential_s\":null,\"concurrent_s\":{concurrent:.4}}}"
    );
    Ok(())
}
