//! The guide's "hybrid" next step: blocking producer threads and async consumers sharing one queue.
//!
//! Four ordinary threads stand for blocking I/O (a library with no async API, a file read, a
//! device): each "fetches" items with a blocking 10 ms call and puts them on one bounded weft
//! `Queue` with the blocking `put`. Four async consumers on a tokio runtime drain the same
//! `Queue` with `get_async().await`, "upload" each item with an async 10 ms wait, and mark it done
//! with `task_done`. Once the producers are done, the runtime awaits `join_async()`, the async
//! twin of `join`: every item put has been processed. Finally `shutdown` wakes the consumers still parked in
//! `get_async`, which see `ShutDown` and end.
//!
//! Python needs two queues for this (`queue.Queue` for threads, `asyncio.Queue` for tasks) or a
//! bridge such as `janus`; with weft, one object serves both worlds and its FIFO holds threads
//! and tasks alike. The sequential baseline does the same fetches and uploads one after the
//! other on one thread.
//!
//! Python: `janus.Queue()` with `q.sync_q.put(x)` in threads and `await q.async_q.get()` in
//! tasks, then `await q.async_q.join()`.
//! Runs as `cargo xtask demo --scenario asyncio_hybrid`.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use weft::queue::Queue;

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const ITEMS_PER_PRODUCER: usize = 10;
const STEP: Duration = Duration::from_millis(10);

/// A blocking "fetch": the kind of call that cannot be awaited.
fn fetch(producer: usize, i: usize) -> String {
    thread::sleep(STEP);
    format!("item {producer}.{i}")
}

/// An async "upload".
async fn upload(item: &str) -> usize {
    tokio::time::sleep(STEP).await;
    item.len()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total = PRODUCERS * ITEMS_PER_PRODUCER;
    println!(
        "{PRODUCERS} blocking producer threads, {CONSUMERS} async consumers, {total} items, \
         10 ms to fetch and 10 ms to upload each"
    );

    println!("Sequentially, one item at a time on one thread:");
    let start = Instant::now();
    let mut bytes = 0;
    for p in 0..PRODUCERS {
        for i in 0..ITEMS_PER_PRODUCER {
            let item = fetch(p, i);
            bytes += upload(&item).await;
        }
    }
    let sequential = start.elapsed().as_secs_f64();
    println!("  {total} items, {bytes} bytes, in {sequential:.2} second(s)");

    println!("Threads put, tasks get, on one weft Queue (maxsize 8):");
    let start = Instant::now();
    let queue = Arc::new(Queue::new(8));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = Arc::clone(&queue);
            thread::spawn(move || {
                for i in 0..ITEMS_PER_PRODUCER {
                    // Blocks while the queue is full: back-pressure on the threads.
                    q.put(fetch(p, i)).expect("the queue shut down early");
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let q = Arc::clone(&queue);
            tokio::spawn(async move {
                let (mut items, mut bytes) = (0, 0);
                // `get_async` parks the task, not a thread; `ShutDown` ends the loop.
                while let Ok(item) = q.get_async().await {
                    bytes += upload(&item).await;
                    items += 1;
                    q.task_done().expect("more task_done calls than items");
                }
                println!("  consumer {c}: {items} items");
                (items, bytes)
            })
        })
        .collect();
    // Wait for the producers without blocking a runtime thread, then until every item put has
    // been uploaded (`join` alone could return in a moment when the consumers had caught up).
    tokio::task::spawn_blocking(move || {
        for p in producers {
            p.join().expect("a producer panicked");
        }
    })
    .await
    .expect("joining the producers panicked");
    queue.join_async().await;
    let concurrent = start.elapsed().as_secs_f64();
    queue.shutdown(false);
    let (mut items, mut bytes) = (0, 0);
    for c in consumers {
        let (i, b) = c.await.expect("a consumer panicked");
        items += i;
        bytes += b;
    }
    assert_eq!(items, total, "an item was lost or duplicated");
    println!("  {items} items, {bytes} bytes, in {concurrent:.2} second(s)");

    println!(
        "DEMO-RESULT {{\"scenario\":\"asyncio_hybrid\",\"sequential_s\":{sequential:.3},\"concurrent_s\":{concurrent:.3}}}"
    );
}
