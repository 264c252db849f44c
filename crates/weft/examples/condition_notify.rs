//! A `Condition` that owns a shelf of items: three consumers wait for an item, a producer puts
//! items on the shelf one at a time and wakes them with `notify_all`.
//!
//! Each consumer waits with `wait_for(predicate)`, which checks the predicate under the lock
//! before sleeping and again after every wake-up. That is what makes the pattern safe: an item
//! put on the shelf before a consumer started waiting is seen at once (a notification with
//! nobody waiting is not remembered), and a consumer woken by `notify_all` after another
//! consumer took the item simply goes back to waiting. The producer takes 0.1 s to make each
//! item.
//!
//! Python: `with condition: condition.wait_for(lambda: shelf)` ... `condition.notify_all()`.
//! Runs as `cargo xtask demo --scenario condition_notify`.

use std::thread;
use std::time::{Duration, Instant};

use weft::condition::Condition;

fn main() {
    let start = Instant::now();
    // Like a `Mutex`, the condition owns the data it protects.
    let shelf = Condition::new(Vec::new());

    thread::scope(|s| {
        for id in 1..=3 {
            let shelf = &shelf;
            s.spawn(move || {
                let mut items = shelf.lock();
                println!("Consumer {id} waiting for an item");
                items.wait_for(|items: &Vec<u32>| !items.is_empty());
                let item = items.pop().expect("the predicate saw an item");
                drop(items); // Release the lock before working on the item.
                println!("Consumer {id} got item {item}");
            });
        }

        for item in 1..=3 {
            thread::sleep(Duration::from_millis(100)); // Making the item.
            let mut items = shelf.lock();
            items.push(item);
            println!("Producer put item {item} on the shelf: notify_all()");
            items.notify_all();
        }
    });

    let concurrent = start.elapsed().as_secs_f64();
    println!("Every consumer got an item");
    println!("Finished in {concurrent:.2} second(s)");
    println!(
        "DEMO-RESULT {{\"scenario\":\"condition_notify\",\"sequential_s\":null,\"concurrent_s\":{concurrent:.3}}}"
    );
}
