//! Starting threads and waiting for them: the guide's first example.
//!
//! `do_something` sleeps for a second, standing in for any wait on the outside world (a network
//! reply, a disk read). Called twice in a row it costs two seconds; run on two threads at once it
//! costs one. Rust's threads come from the standard library (`std::thread::spawn`), so this
//! example needs nothing from weft: weft adds no `Thread` type of its own.
//!
//! Python: `threading.Thread(target=do_something)`, `start()`, `join()`.
//! Runs as `cargo xtask demo --scenario threads_sleep`.

use std::thread;
use std::time::{Duration, Instant};

fn do_something() {
    println!("Sleeping 1 second(s)...");
    thread::sleep(Duration::from_secs(1));
    println!("Done sleeping...");
}

fn main() {
    println!("One call after the other:");
    let start = Instant::now();
    do_something();
    do_something();
    let sequential = start.elapsed().as_secs_f64();
    println!("Finished in {sequential:.2} second(s)");

    println!("Two threads:");
    let start = Instant::now();
    // `spawn` creates the thread and starts it: there is no separate `start()`.
    let thread1 = thread::spawn(do_something);
    let thread2 = thread::spawn(do_something);
    // `join` waits for the thread to finish. It returns `Err` if the thread panicked.
    thread1.join().expect("thread 1 panicked");
    thread2.join().expect("thread 2 panicked");
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");

    println!(
        "DEMO-RESULT {{\"scenario\":\"threads_sleep\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
