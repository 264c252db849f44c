//! One thread signals another with an `Event`.
//!
//! The waiter blocks in `wait()` until the flag is set; the main thread sets it after 0.5 s of
//! preparation. `set()` wakes every thread waiting at that moment, and any later `wait()`
//! returns at once until someone calls `clear()`. A second waiter uses `wait_timeout` with a
//! deadline too short to be met, and reports that the time ran out first.
//!
//! Python: `event = threading.Event()`, `event.wait()`, `event.wait(timeout)`, `event.set()`.
//! Runs as `cargo xtask demo --scenario event_signal`.

use std::thread;
use std::time::{Duration, Instant};

use weft::event::Event;

fn main() {
    let event = Event::new();
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            println!("Waiter: waiting for the event to be set...");
            event.wait();
            println!(
                "Waiter: the event is set (after {:.2} second(s)), carrying on",
                start.elapsed().as_secs_f64()
            );
        });
        s.spawn(|| {
            println!("Impatient waiter: waiting at most 0.2 second(s)...");
            if event.wait_timeout(Duration::from_millis(200)) {
                println!("Impatient waiter: the event is set");
            } else {
                println!("Impatient waiter: timed out, the event is not set yet");
            }
        });
        println!("Main: preparing for 0.5 second(s)...");
        thread::sleep(Duration::from_millis(500));
        println!("Main: setting the event");
        event.set();
    });
    println!("Event is set: {}", event.is_set());
    // Once set, a wait returns at once, whatever its timeout.
    println!(
        "A wait with no time to spare: {}",
        event.wait_timeout(Duration::ZERO)
    );
    let concurrent = start.elapsed().as_secs_f64();
    println!("Finished in {concurrent:.2} second(s)");
    println!(
        "DEMO-RESULT {{\"scenario\":\"event_signal\",\"sequential_s\":null,\"concurrent_s\":{concurrent:.3}}}"
    );
}
