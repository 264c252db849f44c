//! The async workloads, on a tokio multi-thread runtime with one worker per core; weft's
//! awaitable forms vs tokio::sync, async-channel, flume and kanal in async mode.
//!
//! * `async_lock_uncontended`: one task takes and releases a lock; ns per acquire + release.
//!   weft `Lock::acquire_async` vs `tokio::sync::Mutex`.
//! * `async_lock_contended_t<T>` and `async_lock_out100_t<T>`: T tasks share a fixed number of
//!   increments, back to back or with ~100 ns of work outside the lock; ns per increment.
//! * `async_semaphore_t<T>`: T tasks, 2 permits; each acquires, yields to the runtime once (a
//!   stand-in for the I/O a permit guards), does ~100 ns of work and releases; ns per acquire.
//!   weft `Semaphore::acquire_async` vs `tokio::sync::Semaphore`.
//! * `async_event_pingpong`: two tasks bounce a signal through two events; ns per round trip.
//!   weft `Event::wait_async` (+ `clear`) vs `tokio::sync::Notify`.
//! * `async_queue_mpmc_t<T>`: T producer tasks and T consumer tasks move a fixed number of items
//!   through a bounded queue of capacity 128; ns per item. weft `Queue::put_async`/`get_async`
//!   vs tokio `mpsc` (its one receiver shared behind a `tokio::sync::Mutex`, the usual
//!   workaround), async-channel, flume and kanal.
//!   Every task keeps its own handle and calls it by reference (`AsyncSend`, `AsyncRecv`).
//!   `async_queue_mpmc_out100_t<T>`: the same with ~100 ns of work to make each item and ~100 ns
//!   to use it.
//! * `async_mixed_t<T>`: T producer threads (blocking puts) feed T consumer tasks; ns per item;
//!   weft `Queue::put` + `get_async` vs tokio `mpsc` (`blocking_send`), async-channel
//!   (`send_blocking`), flume (`send` + `recv_async`) and kanal (a sync sender, an async
//!   receiver).
#![allow(clippy::disallowed_types, missing_docs)]

use std::{
    future::Future,
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::runtime::Runtime;
use weft_bench::{
    emit_rounds, emit_rounds_sweep, enabled, rounds, scale, share, spin, sweep_enabled, sweep_name,
    thread_counts, work,
};
use weft_event::Event;
use weft_semaphore::Semaphore;

/// Capacity of the queues.
const CAP: usize = 128;
/// Operations (or items) of one point of a sweep.
const TOTAL: u64 = 200_000;
/// Items of one point of `async_mixed` (its threads and tasks are slower per item).
const MIXED_TOTAL: u64 = 100_000;

fn runtime() -> Runtime {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// ns per operation of one run: `wall` over `total` operations.
fn per(wall: Duration, total: u64) -> f64 {
    wall.as_nanos() as f64 / total as f64
}

/// Runs `tasks` tasks on `rt`, task `i` being `body(shared, i, its share of total)`, and returns
/// the wall time until the last one finished.
fn run_tasks<S, F, Fut>(
    rt: &Runtime,
    tasks: usize,
    total: u64,
    shared: Arc<S>,
    body: &F,
) -> Duration
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, usize, u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    rt.block_on(async {
        let start = Instant::now();
        let hs: Vec<_> = (0..tasks)
            .map(|i| tokio::spawn(body(Arc::clone(&shared), i, share(total, tasks, i))))
            .collect();
        for h in hs {
            h.await.expect("a benchmark task panicked");
        }
        start.elapsed()
    })
}

fn lock_uncontended(rt: &Runtime) {
    let w = "async_lock_uncontended";
    if !enabled(w) {
        return;
    }
    let n = scale(2_000_000);
    let weft = weft_lock::Lock::new(0u64);
    let tokio = tokio::sync::Mutex::new(0u64);
    let results = rounds(&mut [
        ("weft", &mut || {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    *black_box(&weft).acquire_async().await += 1;
                }
                per(start.elapsed(), n)
            })
        }),
        ("tokio", &mut || {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    *black_box(&tokio).lock().await += 1;
                }
                per(start.elapsed(), n)
            })
        }),
    ]);
    emit_rounds(w, "ns/op", results);
}

fn lock_sweep(rt: &Runtime, base: &str, outside_ns: f64) {
    if !sweep_enabled(base) {
        return;
    }
    let outside = if outside_ns > 0.0 {
        work(outside_ns)
    } else {
        0
    };
    let total = scale(TOTAL);
    for t in thread_counts() {
        if !enabled(&sweep_name(base, t)) {
            continue;
        }
        let results = rounds(&mut [
            ("weft", &mut || {
                let lock = Arc::new(weft_lock::Lock::new(0u64));
                let wall = run_tasks(rt, t, total, lock, &|l, i, n| async move {
                    let mut x = i as u64;
                    for _ in 0..n {
                        *l.acquire_async().await += 1;
                        if outside > 0 {
                            x = spin(outside, x);
                        }
                    }
                    black_box(x);
                });
                per(wall, total)
            }),
            ("tokio", &mut || {
                let lock = Arc::new(tokio::sync::Mutex::new(0u64));
                let wall = run_tasks(rt, t, total, lock, &|l, i, n| async move {
                    let mut x = i as u64;
                    for _ in 0..n {
                        *l.lock().await += 1;
                        if outside > 0 {
                            x = spin(outside, x);
                        }
                    }
                    black_box(x);
                });
                per(wall, total)
            }),
        ]);
        emit_rounds_sweep(base, t, "ns/op", results);
    }
}

fn semaphore_sweep(rt: &Runtime) {
    let base = "async_semaphore";
    if !sweep_enabled(base) {
        return;
    }
    let inside = work(100.0);
    let total = scale(TOTAL);
    for t in thread_counts() {
        if !enabled(&sweep_name(base, t)) {
            continue;
        }
        let results = rounds(&mut [
            ("weft", &mut || {
                let wall = run_tasks(
                    rt,
                    t,
                    total,
                    Arc::new(Semaphore::new(2)),
                    &|s, i, n| async move {
                        let mut x = i as u64;
                        for _ in 0..n {
                            let p = s.acquire_async().await;
                            tokio::task::yield_now().await;
                            x = spin(inside, x);
                            drop(p);
                        }
                        black_box(x);
                    },
                );
                per(wall, total)
            }),
            ("tokio", &mut || {
                let sem = Arc::new(tokio::sync::Semaphore::new(2));
                let wall = run_tasks(rt, t, total, sem, &|s, i, n| async move {
                    let mut x = i as u64;
                    for _ in 0..n {
                        let p = s.acquire().await.unwrap();
                        tokio::task::yield_now().await;
                        x = spin(inside, x);
                        drop(p);
                    }
                    black_box(x);
                });
                per(wall, total)
            }),
        ]);
        emit_rounds_sweep(base, t, "ns/op", results);
    }
}

fn event_pingpong(rt: &Runtime) {
    let w = "async_event_pingpong";
    if !enabled(w) {
        return;
    }
    let n = scale(200_000);
    let results = rounds(&mut [
        ("weft", &mut || {
            let (ping, pong) = (Arc::new(Event::new()), Arc::new(Event::new()));
            rt.block_on(async {
                let start = Instant::now();
                let (a, b) = (Arc::clone(&ping), Arc::clone(&pong));
                let echo = tokio::spawn(async move {
                    for _ in 0..n {
                        a.wait_async().await;
                        a.clear();
                        b.set();
                    }
                });
                let serve = tokio::spawn(async move {
                    for _ in 0..n {
                        ping.set();
                        pong.wait_async().await;
                        pong.clear();
                    }
                });
                serve.await.unwrap();
                echo.await.unwrap();
                per(start.elapsed(), n)
            })
        }),
        ("tokio", &mut || {
            let ping = Arc::new(tokio::sync::Notify::new());
            let pong = Arc::new(tokio::sync::Notify::new());
            rt.block_on(async {
                let start = Instant::now();
                let (a, b) = (Arc::clone(&ping), Arc::clone(&pong));
                let echo = tokio::spawn(async move {
                    for _ in 0..n {
                        a.notified().await;
                        b.notify_one();
                    }
                });
                let serve = tokio::spawn(async move {
                    for _ in 0..n {
                        ping.notify_one();
                        pong.notified().await;
                    }
                });
                serve.await.unwrap();
                echo.await.unwrap();
                per(start.elapsed(), n)
            })
        }),
    ]);
    emit_rounds(w, "ns/op", results);
}

/// The sending half of an async channel as the queue sweeps use it: each producer task keeps
/// its own handle for the whole run and sends through a reference, as a program does (cloning a
/// handle per item would measure a shared reference count, not the channel).
trait AsyncSend: Clone + Send + Sync + 'static {
    fn send(&self, v: u64) -> impl Future<Output = ()> + Send + '_;
}

/// The receiving half, likewise.
trait AsyncRecv: Clone + Send + Sync + 'static {
    fn recv(&self) -> impl Future<Output = u64> + Send + '_;
}

type WeftQueue = Arc<weft_queue::Queue<u64>>;
/// tokio's `mpsc` has one receiver: the consumers share it behind a `tokio::sync::Mutex`.
type TokioRx = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<u64>>>;

impl AsyncSend for WeftQueue {
    async fn send(&self, v: u64) {
        self.put_async(v).await.unwrap();
    }
}
impl AsyncRecv for WeftQueue {
    async fn recv(&self) -> u64 {
        self.get_async().await.unwrap()
    }
}
impl AsyncSend for tokio::sync::mpsc::Sender<u64> {
    async fn send(&self, v: u64) {
        tokio::sync::mpsc::Sender::send(self, v).await.unwrap();
    }
}
impl AsyncRecv for TokioRx {
    async fn recv(&self) -> u64 {
        self.lock().await.recv().await.unwrap()
    }
}
impl AsyncSend for async_channel::Sender<u64> {
    async fn send(&self, v: u64) {
        async_channel::Sender::send(self, v).await.unwrap();
    }
}
impl AsyncRecv for async_channel::Receiver<u64> {
    async fn recv(&self) -> u64 {
        async_channel::Receiver::recv(self).await.unwrap()
    }
}
impl AsyncSend for flume::Sender<u64> {
    async fn send(&self, v: u64) {
        self.send_async(v).await.unwrap();
    }
}
impl AsyncRecv for flume::Receiver<u64> {
    async fn recv(&self) -> u64 {
        self.recv_async().await.unwrap()
    }
}
impl AsyncSend for kanal::AsyncSender<u64> {
    async fn send(&self, v: u64) {
        kanal::AsyncSender::send(self, v).await.unwrap();
    }
}
impl AsyncRecv for kanal::AsyncReceiver<u64> {
    async fn recv(&self) -> u64 {
        kanal::AsyncReceiver::recv(self).await.unwrap()
    }
}

fn weft_queue() -> (WeftQueue, WeftQueue) {
    let q = Arc::new(weft_queue::Queue::new(CAP));
    (Arc::clone(&q), q)
}

fn tokio_channel() -> (tokio::sync::mpsc::Sender<u64>, TokioRx) {
    let (tx, rx) = tokio::sync::mpsc::channel(CAP);
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}

/// Spawns `t` consumer tasks on `rt`, each taking its share of `total` items from its own
/// handle and using each with `work` [`spin`] iterations.
fn consumers<R: AsyncRecv>(
    rt: &Runtime,
    t: usize,
    total: u64,
    work: u64,
    rx: &R,
) -> Vec<tokio::task::JoinHandle<u64>> {
    (0..t)
        .map(|i| {
            let rx = rx.clone();
            rt.spawn(async move {
                let mut x = 0u64;
                for _ in 0..share(total, t, i) {
                    let v = rx.recv().await;
                    x = if work > 0 { spin(work, x ^ v) } else { x ^ v };
                }
                x
            })
        })
        .collect()
}

/// One run of a point of `async_queue_mpmc`: `t` producer tasks and `t` consumer tasks move
/// `total` items through the channel `make` builds, each item made and used with `work` [`spin`]
/// iterations; ns per item.
fn queue_point<S: AsyncSend, R: AsyncRecv>(
    rt: &Runtime,
    t: usize,
    total: u64,
    work: u64,
    make: impl Fn() -> (S, R),
) -> f64 {
    let wall = {
        let (tx, rx) = make();
        let start = Instant::now();
        let mut hs: Vec<_> = (0..t)
            .map(|i| {
                let tx = tx.clone();
                rt.spawn(async move {
                    let mut x = i as u64;
                    for _ in 0..share(total, t, i) {
                        if work > 0 {
                            x = spin(work, x);
                        }
                        tx.send(x).await;
                    }
                    0
                })
            })
            .collect();
        hs.extend(consumers(rt, t, total, work, &rx));
        let x = rt.block_on(async {
            let mut x = 0;
            for h in hs {
                x ^= h.await.unwrap();
            }
            x
        });
        black_box(x);
        start.elapsed()
    };
    per(wall, total)
}

fn queue_sweep(rt: &Runtime, base: &str, work_ns: f64) {
    if !sweep_enabled(base) {
        return;
    }
    let w = if work_ns > 0.0 { work(work_ns) } else { 0 };
    let total = scale(TOTAL);
    for t in thread_counts() {
        if !enabled(&sweep_name(base, t)) {
            continue;
        }
        let results = rounds(&mut [
            ("weft", &mut || queue_point(rt, t, total, w, weft_queue)),
            ("tokio", &mut || queue_point(rt, t, total, w, tokio_channel)),
            ("async-channel", &mut || {
                queue_point(rt, t, total, w, || async_channel::bounded(CAP))
            }),
            ("flume", &mut || {
                queue_point(rt, t, total, w, || flume::bounded(CAP))
            }),
            ("kanal", &mut || {
                queue_point(rt, t, total, w, || kanal::bounded_async(CAP))
            }),
        ]);
        emit_rounds_sweep(base, t, "ns/item", results);
    }
}

/// One run of a point of `async_mixed`: `t` producer threads send `total` items with the
/// blocking `send`; `t` consumer tasks on `rt` take them with the async `recv`; ns per item.
fn mixed_point<S: Sync, R: AsyncRecv>(
    rt: &Runtime,
    t: usize,
    total: u64,
    make: impl Fn() -> (S, R),
    send: fn(&S, u64),
) -> f64 {
    let wall = {
        let (tx, rx) = make();
        let start = Instant::now();
        let consumers = consumers(rt, t, total, 0, &rx);
        drop(rx);
        std::thread::scope(|s| {
            for i in 0..t {
                let tx = &tx;
                s.spawn(move || {
                    for k in 0..share(total, t, i) {
                        send(tx, k);
                    }
                });
            }
        });
        let x = rt.block_on(async {
            let mut x = 0;
            for h in consumers {
                x ^= h.await.unwrap();
            }
            x
        });
        black_box(x);
        start.elapsed()
    };
    per(wall, total)
}

fn mixed_sweep(rt: &Runtime) {
    let base = "async_mixed";
    if !sweep_enabled(base) {
        return;
    }
    let total = scale(MIXED_TOTAL);
    for t in thread_counts() {
        if !enabled(&sweep_name(base, t)) {
            continue;
        }
        let results = rounds(&mut [
            ("weft", &mut || {
                mixed_point(rt, t, total, weft_queue, |q, v| q.put(v).unwrap())
            }),
            ("tokio", &mut || {
                mixed_point(rt, t, total, tokio_channel, |tx, v| {
                    tx.blocking_send(v).unwrap();
                })
            }),
            ("async-channel", &mut || {
                mixed_point(
                    rt,
                    t,
                    total,
                    || async_channel::bounded(CAP),
                    |tx, v| tx.send_blocking(v).unwrap(),
                )
            }),
            ("flume", &mut || {
                mixed_point(
                    rt,
                    t,
                    total,
                    || flume::bounded(CAP),
                    |tx, v| tx.send(v).unwrap(),
                )
            }),
            ("kanal", &mut || {
                mixed_point(
                    rt,
                    t,
                    total,
                    || {
                        let (tx, rx) = kanal::bounded(CAP);
                        (tx, rx.to_async())
                    },
                    |tx, v| tx.send(v).unwrap(),
                )
            }),
        ]);
        emit_rounds_sweep(base, t, "ns/item", results);
    }
}

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    let rt = runtime();
    lock_uncontended(&rt);
    lock_sweep(&rt, "async_lock_contended", 0.0);
    lock_sweep(&rt, "async_lock_out100", 100.0);
    semaphore_sweep(&rt);
    event_pingpong(&rt);
    queue_sweep(&rt, "async_queue_mpmc", 0.0);
    queue_sweep(&rt, "async_queue_mpmc_out100", 100.0);
    mixed_sweep(&rt);
}
