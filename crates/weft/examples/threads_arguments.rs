//! Passing arguments to a thread's function, and getting its result back.
//!
//! Python hands arguments over with `args=[2]`. In Rust the thread runs a closure, and the
//! closure carries its arguments: `move || do_something(seconds)` moves (copies, here) `seconds`
//! into the new thread. A scoped thread (`thread::scope`) may instead borrow the caller's
//! variables, because the scope does not end before its threads do.
//!
//! The guide sleeps 2 seconds; this example sleeps 0.2 s so that it finishes quickly.
//!
//! Python: `threading.Thread(target=do_something, args=[2])`.
//! Runs as `cargo xtask demo --scenario threads_arguments`.

use std::thread;
use std::time::{Duration, Instant};

fn do_something(seconds: f64) -> String {
    println!("Sleeping {seconds} second(s)...");
    thread::sleep(Duration::from_secs_f64(seconds));
    format!("Done sleeping {seconds}")
}

fn main() {
    println!("(The guide sleeps 2 seconds; this demo sleeps 0.2 s.)");
    let seconds = 0.2;

    println!("One call after the other:");
    let start = Instant::now();
    println!("{}", do_something(seconds));
    println!("{}", do_something(seconds));
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s)");

    println!("Two threads, each given its argument by a `move` closure:");
    let start = Instant::now();
    let thread1 = thread::spawn(move || do_something(seconds));
    let thread2 = thread::spawn(move || do_something(seconds));
    // Unlike Python's `Thread`, a Rust thread hands its function's return value to `join`.
    println!("{}", thread1.join().expect("thread 1 panicked"));
    println!("{}", thread2.join().expect("thread 2 panicked"));
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");

    println!("Scoped threads, borrowing the caller's data:");
    let names = vec![String::from("first"), String::from("second")];
    let start = Instant::now();
    let results: Vec<String> = thread::scope(|s| {
        // Each closure borrows one `String` of `names`: no `Arc`, no clone.
        let handles: Vec<_> = names
            .iter()
            .map(|name| s.spawn(move || format!("{name}: {}", do_something(seconds))))
            .collect();
        // The scope joins any thread left unjoined before it returns.
        handles
            .into_iter()
            .map(|h| h.join().expect("a scoped thread panicked"))
            .collect()
    });
    println!("{results:?}");
    println!("Finished in {:.2} second(s)", start.elapsed().as_secs_f64());
    println!("`names` is still ours: {names:?}");

    println!(
        "DEMO-RESULT {{\"scenario\":\"threads_arguments\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
