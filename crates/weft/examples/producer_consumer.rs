//! The producer–consumer pipeline of the Python threading guide, on a bounded `weft` queue.
//!
//! Three producers "fetch" messages (a 5 ms simulated I/O wait each) and put them in a
//! `Queue` of capacity 10; three consumers take them and "store" them (10 ms each), marking
//! each one done. The main thread waits with `join()` until every message is processed, then
//! shuts the queue down so the consumers stop, and checks that nothing was lost: the count and
//! the sum of the messages received match what was sent.
//!
//! The same work done one message at a time, on one thread, gives the sequential time.
//!
//! Run with `cargo run --example producer_consumer -p weft`.
#![allow(clippy::disallowed_types)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use weft::queue::Queue;

const PRODUCERS: u64 = 3;
const CONSUMERS: usize = 3;
const PER_PRODUCER: u64 = 20;
const FETCH: Duration = Duration::from_millis(5);
const STORE: Duration = Duration::from_millis(10);

/// A producer's simulated network read: the message for `(producer, i)`.
fn fetch(producer: u64, i: u64) -> u64 {
    thread::sleep(FETCH);
    producer * 1_000 + i
}

/// A consumer's simulated database write.
fn store(_message: u64) {
    thread::sleep(STORE);
}

fn sequential() -> (Duration, u64, u64) {
    let start = Instant::now();
    let (mut count, mut sum) = (0, 0);
    for p in 0..PRODUCERS {
        for i in 0..PER_PRODUCER {
            let m = fetch(p, i);
            store(m);
            count += 1;
            sum += m;
        }
    }
    (start.elapsed(), count, sum)
}

fn concurrent() -> (Duration, u64, u64) {
    let start = Instant::now();
    let queue = Arc::new(Queue::new(10));
    let received = Arc::new(AtomicU64::new(0));
    let received_sum = Arc::new(AtomicU64::new(0));

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let message = fetch(p, i);
                    queue
                        .put(message)
                        .expect("the queue is open while producers run");
                }
            })
        })
        .collect();

    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let queue = Arc::clone(&queue);
            let (received, received_sum) = (Arc::clone(&received), Arc::clone(&received_sum));
            thread::spawn(move || {
                let mut mine = 0;
                // `get` fails once the queue is shut down and drained: the consumer's signal
                // to stop, in place of Python's sentinel values.
                while let Ok(message) = queue.get() {
                    store(message);
                    received.fetch_add(1, Ordering::Relaxed);
                    received_sum.fetch_add(message, Ordering::Relaxed);
                    mine += 1;
                    queue.task_done().expect("one task_done per get");
                }
                println!("Consumer {c}: stored {mine} messages, queue shut down, exiting");
            })
        })
        .collect();

    for p in producers {
        p.join().expect("producer");
    }
    println!("Producers done; waiting for the queue to be processed (join)");
    queue.join();
    println!("All tasks done; shutting the queue down");
    queue.shutdown(false);
    for c in consumers {
        c.join().expect("consumer");
    }
    (
        start.elapsed(),
        received.load(Ordering::Relaxed),
        received_sum.load(Ordering::Relaxed),
    )
}

fn main() {
    let sent = PRODUCERS * PER_PRODUCER;
    let sent_sum: u64 = (0..PRODUCERS)
        .flat_map(|p| (0..PER_PRODUCER).map(move |i| p * 1_000 + i))
        .sum();

    let (seq, seq_count, seq_sum) = sequential();
    println!(
        "Sequential: {seq_count} messages in {:.2} second(s)",
        seq.as_secs_f64()
    );
    assert_eq!((seq_count, seq_sum), (sent, sent_sum));

    let (conc, count, sum) = concurrent();
    println!(
        "Concurrent ({PRODUCERS} producers, {CONSUMERS} consumers, queue of 10): {count} messages in {:.2} second(s)",
        conc.as_secs_f64()
    );
    println!("Sent {sent} messages (sum {sent_sum}), received {count} (sum {sum}): nothing lost");
    assert_eq!(
        (count, sum),
        (sent, sent_sum),
        "a message was lost or duplicated"
    );

    println!(
        "DEMO-RESULT {{\"scenario\":\"producer_consumer\",\"sequential_s\":{:.3},\"concurrent_s\":{:.3}}}",
        seq.as_secs_f64(),
        conc.as_secs_f64()
    );
}
