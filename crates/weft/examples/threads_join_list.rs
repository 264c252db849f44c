//! Ten threads created in a loop, kept in a `Vec`, then joined.
//!
//! Every thread sleeps the same time, so ten of them together take about as long as one. The guide
//! sleeps 2 seconds per call; this example sleeps 0.2 s, so the sequential run takes 2 s instead
//! of 20.
//!
//! Python: `threads.append(thread)` in a loop, then `for thread in threads: thread.join()`.
//! Runs as `cargo xtask demo --scenario threads_join_list`.

use std::thread;
use std::time::{Duration, Instant};

fn do_something(seconds: f64) {
    println!("Sleeping {seconds} second(s)...");
    thread::sleep(Duration::from_secs_f64(seconds));
    println!("Done sleeping...");
}

fn main() {
    println!("(The guide sleeps 2 seconds per call; this demo sleeps 0.2 s.)");

    println!("Ten calls, one after the other:");
    let start = Instant::now();
    for _ in 0..10 {
        do_something(0.2);
    }
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s)");

    println!("Ten threads:");
    let start = Instant::now();
    let mut threads = Vec::new();
    for _ in 0..10 {
        let thread = thread::spawn(|| do_something(0.2));
        threads.push(thread);
    }
    // Join every thread: a `JoinHandle` dropped without `join` leaves its thread running
    // unwatched, and `main` returning ends the process with it.
    for thread in threads {
        thread.join().expect("a thread panicked");
    }
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");

    println!(
        "DEMO-RESULT {{\"scenario\":\"threads_join_list\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
