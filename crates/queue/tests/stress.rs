//! 4 producers × 4 consumers moving distinct items: every item received exactly once,
//! checked by sum and by a bitmap, and no deadlock.

use std::{sync::Arc, thread};

use weft_queue::{LifoQueue, PriorityQueue, Queue};

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;

fn items() -> usize {
    // ThreadSanitizer (`cargo xtask tsan`) watches every access: a twentieth of the items.
    if cfg!(miri) {
        400
    } else if cfg!(weft_tsan) {
        100_000
    } else {
        2_000_000
    }
}

/// Producers put `0..total` split in ranges; consumers get until `get` says stop; after the
/// producers finish, `stop` runs (join, then shutdown); then sum and bitmap are checked.
fn run<Q: Send + Sync + 'static>(
    q: Arc<Q>,
    total: usize,
    put: fn(&Q, usize),
    get: fn(&Q) -> Option<usize>,
    stop: fn(&Q),
) {
    let per = total / PRODUCERS;
    let total = per * PRODUCERS;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..per {
                    put(&q, p * per + i);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(v) = get(&q) {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    for h in producers {
        h.join().unwrap();
    }
    stop(&q);
    let mut seen = vec![false; total];
    let (mut count, mut sum) = (0usize, 0u64);
    for h in consumers {
        for v in h.join().unwrap() {
            assert!(!seen[v], "item {v} received twice");
            seen[v] = true;
            count += 1;
            sum += v as u64;
        }
    }
    assert_eq!(count, total, "items lost");
    assert!(seen.iter().all(|&s| s));
    assert_eq!(sum, (total as u64) * (total as u64 - 1) / 2);
}

macro_rules! stress {
    ($q:expr, $total:expr) => {
        run(
            Arc::new($q),
            $total,
            |q, v| q.put(v).unwrap(),
            |q| {
                let v = q.get().ok()?;
                q.task_done().unwrap();
                Some(v)
            },
            |q| {
                // Every item put has been taken and marked done; then the consumers stop.
                q.join();
                q.shutdown(false);
            },
        )
    };
}

#[test]
#[cfg_attr(miri, ignore)]
fn fifo_capacity_1() {
    stress!(Queue::new(1), items() / 4);
}

#[test]
#[cfg_attr(miri, ignore)]
fn fifo_capacity_16() {
    stress!(Queue::new(16), items());
}

#[test]
fn fifo_capacity_1024() {
    stress!(Queue::new(1024), items());
}

#[test]
#[cfg_attr(miri, ignore)]
fn fifo_unbounded() {
    stress!(Queue::new(0), items());
}

#[test]
#[cfg_attr(miri, ignore)]
fn lifo_capacity_16() {
    stress!(LifoQueue::new(16), items() / 4);
}

#[test]
#[cfg_attr(miri, ignore)]
fn priority_capacity_16() {
    stress!(PriorityQueue::new(16), items() / 4);
}
