//! The lock-protected counter: ten threads each read a shared counter, sleep 0.1 s, and write it
//! back plus one, holding a `Lock` the whole time.
//!
//! Because the lock is held across the sleep, the ten updates run one after another: the final
//! value is 10 and the run takes about 1 second. Then, for contrast, the same threads take the
//! lock only to read and again only to write: every update is still free of data races (Rust
//! would not compile anything else), but the read-modify-write is no longer atomic, the threads
//! all read 0, and nine updates are lost in 0.1 s.
//!
//! Python: `with lock: local = counter; time.sleep(0.1); counter = local + 1`.
//! Runs as `cargo xtask demo --scenario lock_counter`.

use std::thread;
use std::time::{Duration, Instant};

use weft::lock::Lock;

/// The guide's `increment`: the whole read-sleep-write under the lock.
fn increment(counter: &Lock<u32>) {
    let mut guard = counter.acquire(); // Python: `with lock:`
    let local = *guard;
    thread::sleep(Duration::from_millis(100));
    *guard = local + 1;
    println!("Counter: {}", *guard);
} // The guard is dropped here: the lock is released.

/// The same update with the lock dropped during the sleep.
fn increment_unprotected(counter: &Lock<u32>) {
    let local = *counter.acquire();
    thread::sleep(Duration::from_millis(100));
    let mut guard = counter.acquire();
    *guard = local + 1;
    println!("Counter: {}", *guard);
}

fn run(update: fn(&Lock<u32>)) -> (u32, f64) {
    let counter = Lock::new(0);
    let start = Instant::now();
    thread::scope(|s| {
        let threads: Vec<_> = (0..10).map(|_| s.spawn(|| update(&counter))).collect();
        for t in threads {
            t.join().expect("a thread panicked");
        }
    });
    (counter.into_inner(), start.elapsed().as_secs_f64())
}

fn main() {
    println!("Ten threads, each holding the lock across its read, sleep and write:");
    let (value, concurrent) = run(increment);
    println!("Final counter: {value}");
    println!("Finished in {concurrent:.2} second(s)");
    assert_eq!(value, 10, "an update was lost under the lock");

    println!("For contrast, the lock released during the sleep (lost updates):");
    let (value, unprotected) = run(increment_unprotected);
    println!("Final counter: {value}");
    println!("Finished in {unprotected:.2} second(s)");

    println!(
        "DEMO-RESULT {{\"scenario\":\"lock_counter\",\"sequential_s\":null,\"concurrent_s\":{concurrent:.3}}}"
    );
}
