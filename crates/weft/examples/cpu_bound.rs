//! The guide's CPU-bound scenario: for eight large numbers, the sum of the squares of every
//! integer below it, done one after the other, on a thread pool and on a process pool. The
//! guide's numbers are just above ten million; compiled Rust sums those in a few hundredths of a
//! second, so this demo takes numbers ten times larger, enough work for the speedup to show.
//!
//! In CPython the thread pool gains nothing (the GIL lets one thread compute at a time) and
//! only `ProcessPoolExecutor` runs in parallel; in Rust both pools do. `black_box` on each
//! term keeps the compiler from folding the loop into a closed formula.
//!
//! Python: `with concurrent.futures.ProcessPoolExecutor() as executor: executor.map(cpu_bound, numbers)`.
//! Runs as `cargo xtask demo --scenario cpu_bound`.

use std::{hint::black_box, time::Instant};

use weft::{pool::ThreadPoolExecutor, process::ProcessPoolExecutor};

fn cpu_bound(number: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..number {
        sum = sum.wrapping_add(black_box(i * i));
    }
    sum
}

fn main() -> std::io::Result<()> {
    // Build the process pool first, while this program runs a single thread: the pool forks.
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let processes = ProcessPoolExecutor::new(workers)?;
    let numbers: Vec<u64> = (0..8).map(|i| 100_000_000 + i).collect();

    println!("Sequential:");
    let start = Instant::now();
    let expected: Vec<u64> = numbers.iter().map(|&n| cpu_bound(n)).collect();
    let sequential = start.elapsed().as_secs_f64();
    println!("Duration {sequential:.2} seconds");

    println!("ThreadPoolExecutor ({workers} workers):");
    let start = Instant::now();
    let on_threads: Vec<u64> = {
        let threads = ThreadPoolExecutor::new(workers);
        threads
            .map(cpu_bound, numbers.clone())
            .map(|r| r.expect("cpu_bound panicked"))
            .collect()
    };
    let threads_s = start.elapsed().as_secs_f64();
    assert_eq!(on_threads, expected);
    println!(
        "Duration {threads_s:.2} seconds ({:.2}x)",
        sequential / threads_s
    );

    println!("ProcessPoolExecutor ({workers} workers):");
    let start = Instant::now();
    let on_processes: Vec<u64> = processes
        .map(cpu_bound, numbers.clone())
        .map(|r| r.expect("cpu_bound failed"))
        .collect();
    let processes_s = start.elapsed().as_secs_f64();
    assert_eq!(on_processes, expected);
    println!(
        "Duration {processes_s:.2} seconds ({:.2}x)",
        sequential / processes_s
    );
    drop(processes);

    println!(
        "DEMO-RESULT {{\"scenario\":\"cpu_bound\",\"sequential_s\":{sequential:.4},\"concurrent_s\":{processes_s:.4}}}"
    );
    Ok(())
}
