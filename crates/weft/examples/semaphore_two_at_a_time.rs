//! A `Semaphore` of two permits admits six workers two at a time.
//!
//! Each worker takes a permit, works for 0.5 s (a sleep standing in for a download or a query
//! against a service that allows two clients at once), and gives the permit back when its
//! `Permit` is dropped at the end of the block. Six workers of 0.5 s each, two at a time, take
//! three rounds: about 1.5 s, against 3 s one after the other (measured first, below).
//!
//! Python: `sem = threading.Semaphore(2)` ... `with sem: do_work()`.
//! Runs as `cargo xtask demo --scenario semaphore_two_at_a_time`.

use std::thread;
use std::time::{Duration, Instant};

use weft::semaphore::Semaphore;

const WORKERS: usize = 6;
const WORK: Duration = Duration::from_millis(500);

fn main() {
    println!("One worker after the other:");
    let start = Instant::now();
    for id in 1..=WORKERS {
        println!(
            "Worker {id} working for {:.1} second(s)...",
            WORK.as_secs_f64()
        );
        thread::sleep(WORK);
    }
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s)");

    println!("{WORKERS} workers, a semaphore admitting 2 at a time:");
    let sem = Semaphore::new(2);
    let start = Instant::now();
    thread::scope(|s| {
        for id in 1..=WORKERS {
            let sem = &sem;
            s.spawn(move || {
                println!("Worker {id} waiting for a permit");
                // Python: `with sem:`. The permit goes back when `_permit` is dropped.
                let _permit = sem.acquire();
                let at = start.elapsed().as_secs_f64();
                println!(
                    "Worker {id} entered at {at:.2} s (permits left: {})",
                    sem.available()
                );
                thread::sleep(WORK);
                println!(
                    "Worker {id} leaving at {:.2} s",
                    start.elapsed().as_secs_f64()
                );
            });
        }
    });
    let concurrent = start.elapsed().as_secs_f64();
    println!(
        "All {WORKERS} workers done; permits available again: {}",
        sem.available()
    );
    println!("Finished in {concurrent:.2} second(s)");
    println!(
        "DEMO-RESULT {{\"scenario\":\"semaphore_two_at_a_time\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
