//! The async twins (`put_async`, `get_async`, `join_async`) on tokio's current-thread and
//! multi-thread runtimes, with threads and tasks sharing one queue, plus hand-polled futures
//! for the cancellation cases. Every async wait is bounded by `tokio::time::timeout` (a hang
//! fails instead of blocking).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use weft_queue::{LifoQueue, PriorityQueue, Queue, ShutDown, SimpleQueue};
use weft_sync::counting_waker;

/// Every async wait in these tests is bounded by this: only a hang exceeds it. Under Miri one
/// wait can cover most of a test that takes half a minute on a quiet machine, and the other
/// checks running beside it on a loaded one stretch that several times over.
const LIMIT: Duration = Duration::from_secs(if cfg!(miri) { 300 } else { 60 });

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("an async wait hung")
}

fn poll<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

fn eventually(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "condition never held");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// An item that counts its drops.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tracked(u32, #[allow(dead_code)] Arc<()>);

/// The queue operations the tests need, for every queue type and core.
trait Q: Send + Sync + 'static {
    fn make(maxsize: usize) -> Self;
    fn put_async(&self, item: u32) -> impl Future<Output = Result<(), ShutDown<u32>>> + Send + '_;
    fn get_async(&self) -> impl Future<Output = Result<u32, ShutDown>> + Send + '_;
    fn join_async(&self) -> impl Future<Output = ()> + Send + '_;
    fn put(&self, item: u32) -> Result<(), ShutDown<u32>>;
    fn get(&self) -> Result<u32, ShutDown>;
    fn task_done(&self);
    fn shutdown(&self, immediate: bool);
    fn unfinished_tasks(&self) -> usize;
    fn len(&self) -> usize;
}

macro_rules! impl_q {
    ($t:ident) => {
        impl Q for $t<u32> {
            fn make(maxsize: usize) -> Self {
                $t::new(maxsize)
            }
            fn put_async(
                &self,
                item: u32,
            ) -> impl Future<Output = Result<(), ShutDown<u32>>> + Send + '_ {
                $t::put_async(self, item)
            }
            fn get_async(&self) -> impl Future<Output = Result<u32, ShutDown>> + Send + '_ {
                $t::get_async(self)
            }
            fn join_async(&self) -> impl Future<Output = ()> + Send + '_ {
                $t::join_async(self)
            }
            fn put(&self, item: u32) -> Result<(), ShutDown<u32>> {
                $t::put(self, item)
            }
            fn get(&self) -> Result<u32, ShutDown> {
                $t::get(self)
            }
            fn task_done(&self) {
                $t::task_done(self).unwrap();
            }
            fn shutdown(&self, immediate: bool) {
                $t::shutdown(self, immediate);
            }
            fn unfinished_tasks(&self) -> usize {
                $t::unfinished_tasks(self)
            }
            fn len(&self) -> usize {
                $t::len(self)
            }
        }
    };
}

impl_q!(Queue);
impl_q!(LifoQueue);
impl_q!(PriorityQueue);

const N: u32 = if cfg!(miri) { 40 } else { 2_000 };

/// Two producer threads, two consumer tasks; every item exactly once, then `join_async`.
fn threads_feed_tasks<T: Q>(rt: &tokio::runtime::Runtime, maxsize: usize) {
    let q = Arc::new(T::make(maxsize));
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                for i in 0..N {
                    q.put(p * N + i).unwrap();
                }
            })
        })
        .collect();
    let got = rt.block_on(async {
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(n) = bounded(q.get_async()).await {
                        got.push(n);
                        q.task_done();
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            // Not a blocking join on the runtime's thread: the consumers must run meanwhile.
            bounded(tokio::task::spawn_blocking(move || p.join().unwrap()))
                .await
                .unwrap();
        }
        bounded(q.join_async()).await;
        assert_eq!(q.unfinished_tasks(), 0);
        q.shutdown(false);
        let mut got = Vec::new();
        for c in consumers {
            got.extend(bounded(c).await.unwrap());
        }
        got
    });
    let mut got = got;
    got.sort_unstable();
    assert_eq!(
        got,
        (0..2 * N).collect::<Vec<_>>(),
        "every item exactly once"
    );
}

/// Two producer tasks, two consumer threads; every item exactly once, FIFO per producer for a
/// FIFO queue.
fn tasks_feed_threads<T: Q>(rt: &tokio::runtime::Runtime, maxsize: usize, fifo: bool) {
    let q = Arc::new(T::make(maxsize));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(n) = q.get() {
                    got.push(n);
                    q.task_done();
                }
                got
            })
        })
        .collect();
    rt.block_on(async {
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let q = Arc::clone(&q);
                tokio::spawn(async move {
                    for i in 0..N {
                        bounded(q.put_async(p * N + i)).await.unwrap();
                    }
                })
            })
            .collect();
        for p in producers {
            bounded(p).await.unwrap();
        }
        bounded(q.join_async()).await;
    });
    q.shutdown(false);
    let mut all = Vec::new();
    for c in consumers {
        let got = c.join().unwrap();
        if fifo {
            for p in 0..2 {
                let mine: Vec<_> = got.iter().filter(|&&n| n / N == p).collect();
                assert!(
                    mine.windows(2).all(|w| w[0] < w[1]),
                    "FIFO order per producer"
                );
            }
        }
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..2 * N).collect::<Vec<_>>(),
        "every item exactly once"
    );
}

macro_rules! both_ways {
    ($name:ident, $t:ty, $maxsize:expr, $fifo:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn threads_feed_tasks_current_thread() {
                threads_feed_tasks::<$t>(&current_thread(), $maxsize);
            }

            #[test]
            fn threads_feed_tasks_multi_thread() {
                threads_feed_tasks::<$t>(&multi_thread(), $maxsize);
            }

            #[test]
            fn tasks_feed_threads_current_thread() {
                tasks_feed_threads::<$t>(&current_thread(), $maxsize, $fifo);
            }

            #[test]
            fn tasks_feed_threads_multi_thread() {
                tasks_feed_threads::<$t>(&multi_thread(), $maxsize, $fifo);
            }

            #[test]
            fn dropped_woken_get_passes_the_item_on() {
                super::dropped_woken_get_passes_the_item_on::<$t>($maxsize);
            }

            #[test]
            fn dropped_woken_get_passes_on_to_a_thread() {
                super::dropped_woken_get_passes_on_to_a_thread::<$t>($maxsize);
            }

            #[test]
            fn shutdown_wakes_parked_async_getters_and_putters() {
                super::shutdown_wakes_parked_async_getters_and_putters::<$t>($maxsize);
            }

            #[test]
            fn join_async_waits_for_every_task_done() {
                super::join_async_waits_for_every_task_done::<$t>($maxsize);
            }
        }
    };
}

both_ways!(ring, Queue<u32>, 2, true);
both_ways!(ring_1, Queue<u32>, 1, true);
both_ways!(list, Queue<u32>, 0, true);
both_ways!(locked_fifo, Queue<u32>, 100_000, true);
both_ways!(lifo, LifoQueue<u32>, 2, false);
both_ways!(priority, PriorityQueue<u32>, 2, false);

/// Two queued `get_async` futures; a put wakes the first, which is dropped without being
/// polled again: the wake-up passes to the second, which gets the item.
fn dropped_woken_get_passes_the_item_on<T: Q>(maxsize: usize) {
    let q = T::make(maxsize);
    let (c1, w1) = counting_waker();
    let (c2, w2) = counting_waker();
    let mut g1 = Box::pin(q.get_async());
    let mut g2 = Box::pin(q.get_async());
    assert!(g1.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
    assert!(g2.as_mut().poll(&mut Context::from_waker(&w2)).is_pending());
    q.put(5).unwrap();
    assert_eq!(c1.get(), 1, "the oldest getter is woken");
    assert_eq!(c2.get(), 0, "one wake-up per item");
    drop(g1);
    assert_eq!(q.len(), 1, "a dropped get_async took nothing");
    assert_eq!(c2.get(), 1, "the wake-up passed on");
    assert_eq!(
        g2.as_mut().poll(&mut Context::from_waker(&w2)),
        Poll::Ready(Ok(5))
    );
}

/// A queued `get_async` future, then a thread blocked in `get`; a put wakes the future, which
/// is dropped: the thread gets the item.
fn dropped_woken_get_passes_on_to_a_thread<T: Q>(maxsize: usize) {
    let q = Arc::new(T::make(maxsize));
    let (c, w) = counting_waker();
    let mut g = Box::pin(q.get_async());
    assert!(g.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
    let getter = {
        let q = Arc::clone(&q);
        std::thread::spawn(move || q.get())
    };
    // Let the thread park behind the future (if it has not yet, it takes the item at once,
    // which the test accepts as well).
    std::thread::sleep(Duration::from_millis(20));
    q.put(9).unwrap();
    eventually(|| c.get() > 0 || getter.is_finished());
    drop(g);
    assert_eq!(getter.join().unwrap(), Ok(9));
}

/// Async getters parked on an empty queue and async putters parked on a full one (the
/// bounded ones), then `shutdown`: the getters hear `ShutDown` once nothing is left, the
/// putters get their item back.
fn shutdown_wakes_parked_async_getters_and_putters<T: Q>(maxsize: usize) {
    for rt in [current_thread(), multi_thread()] {
        let q = Arc::new(T::make(maxsize));
        rt.block_on(async {
            let getters: Vec<_> = (0..3)
                .map(|_| {
                    let q = Arc::clone(&q);
                    tokio::spawn(async move { bounded(q.get_async()).await })
                })
                .collect();
            // Let them park (on the current-thread runtime, they run at this yield). On the
            // multi-thread one a getter may come after the shutdown, and hears `ShutDown` at
            // once: the assertions hold either way (the putters' likewise).
            tokio::time::sleep(Duration::from_millis(20)).await;
            q.shutdown(false);
            for g in getters {
                assert_eq!(bounded(g).await.unwrap(), Err(ShutDown(())));
            }
        });
        if maxsize == 0 {
            continue;
        }
        let q = Arc::new(T::make(maxsize));
        rt.block_on(async {
            for i in 0..maxsize.min(4) {
                q.put(i as u32).unwrap();
            }
            let putters: Vec<_> = if maxsize <= 4 {
                (0..3)
                    .map(|i| {
                        let q = Arc::clone(&q);
                        tokio::spawn(async move { bounded(q.put_async(100 + i)).await })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            q.shutdown(true);
            let mut back = Vec::new();
            for p in putters {
                back.push(bounded(p).await.unwrap().unwrap_err().into_inner());
            }
            back.sort_unstable();
            if maxsize <= 4 {
                assert_eq!(back, vec![100, 101, 102], "every putter got its item back");
            }
            assert_eq!(bounded(q.get_async()).await, Err(ShutDown(())));
            assert_eq!(
                q.unfinished_tasks(),
                0,
                "immediate shutdown settles the queued"
            );
            bounded(q.join_async()).await;
        });
    }
}

/// `join_async` on a task waits for consumer threads' `task_done`s; a second one on the
/// current-thread runtime, dropped midway, changes nothing.
fn join_async_waits_for_every_task_done<T: Q>(maxsize: usize) {
    let rt = multi_thread();
    let q = Arc::new(T::make(maxsize));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (q, done) = (Arc::clone(&q), Arc::clone(&done));
            std::thread::spawn(move || {
                while q.get().is_ok() {
                    done.fetch_add(1, Ordering::SeqCst);
                    q.task_done();
                }
            })
        })
        .collect();
    rt.block_on(async {
        for i in 0..200 {
            bounded(q.put_async(i)).await.unwrap();
        }
        // A join dropped while it waits leaves without a trace.
        let _ = tokio::time::timeout(Duration::from_millis(1), q.join_async()).await;
        bounded(q.join_async()).await;
        assert_eq!(done.load(Ordering::SeqCst), 200, "join returned early");
    });
    q.shutdown(false);
    for w in workers {
        w.join().unwrap();
    }
}

/// A queued `put_async` future on a full queue is woken by a get and dropped without being
/// polled again: its item is dropped (never queued, not counted) and the wake-up passes to the
/// next putter.
macro_rules! dropped_woken_put {
    ($name:ident, $q:expr) => {
        #[test]
        fn $name() {
            let tracker = Arc::new(());
            let q = $q;
            q.put(Tracked(0, Arc::clone(&tracker))).unwrap();
            let (c1, w1) = counting_waker();
            let (c2, w2) = counting_waker();
            let mut p1 = Box::pin(q.put_async(Tracked(1, Arc::clone(&tracker))));
            let mut p2 = Box::pin(q.put_async(Tracked(2, Arc::clone(&tracker))));
            assert!(poll(&mut p1, &w1).is_pending());
            assert!(poll(&mut p2, &w2).is_pending());
            assert_eq!(q.get().unwrap().0, 0);
            assert_eq!(c1.get(), 1, "the oldest putter is woken");
            assert_eq!(c2.get(), 0, "one wake-up per slot");
            let before = Arc::strong_count(&tracker);
            drop(p1);
            assert_eq!(
                Arc::strong_count(&tracker),
                before - 1,
                "its item was dropped"
            );
            assert_eq!(c2.get(), 1, "the slot's wake-up passed on");
            assert!(matches!(poll(&mut p2, &w2), Poll::Ready(Ok(()))));
            assert_eq!(q.get().unwrap().0, 2);
            assert_eq!(q.unfinished_tasks(), 2, "the dropped put was never counted");
            assert!(q.is_empty());
        }
    };
}

dropped_woken_put!(ring_dropped_woken_put_passes_the_slot_on, Queue::new(1));
dropped_woken_put!(lifo_dropped_woken_put_passes_the_slot_on, LifoQueue::new(1));
dropped_woken_put!(
    priority_dropped_woken_put_passes_the_slot_on,
    PriorityQueue::new(1)
);

#[test]
fn simple_queue_get_async_threads_and_tasks() {
    for rt in [current_thread(), multi_thread()] {
        let q = Arc::new(SimpleQueue::new());
        let producer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                for i in 0..N {
                    q.put(i);
                }
            })
        };
        let got = rt.block_on(async {
            let mut got = Vec::new();
            for _ in 0..N {
                got.push(bounded(q.get_async()).await);
            }
            got
        });
        producer.join().unwrap();
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "FIFO, every item once");
    }
}

#[test]
fn simple_queue_dropped_woken_get_passes_the_item_on() {
    let q = SimpleQueue::new();
    let (c1, w1) = counting_waker();
    let (c2, w2) = counting_waker();
    let mut g1 = Box::pin(q.get_async());
    let mut g2 = Box::pin(q.get_async());
    assert!(g1.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
    assert!(g2.as_mut().poll(&mut Context::from_waker(&w2)).is_pending());
    q.put(3);
    assert_eq!(c1.get(), 1);
    drop(g1);
    assert_eq!(c2.get(), 1, "the wake-up passed on");
    assert_eq!(
        g2.as_mut().poll(&mut Context::from_waker(&w2)),
        Poll::Ready(3)
    );
}

#[test]
fn futures_are_send_and_spawnable() {
    fn send<T: Send>(_: &T) {}
    let q = Queue::<Vec<u8>>::new(1);
    send(&q.put_async(Vec::new()));
    send(&q.get_async());
    send(&q.join_async());
    send(&SimpleQueue::<Vec<u8>>::new().get_async());
    let rt = multi_thread();
    let q = Arc::new(Queue::new(1));
    rt.block_on(async {
        let q2 = Arc::clone(&q);
        let h = tokio::spawn(async move { bounded(q2.get_async()).await });
        bounded(q.put_async(String::from("x"))).await.unwrap();
        assert_eq!(bounded(h).await.unwrap(), Ok(String::from("x")));
    });
}

/// A `get_async` cancelled by `tokio::time::timeout` leaves no trace: a later put goes to the
/// next getter, thread or task.
#[test]
fn timed_out_get_async_leaves_no_trace() {
    for rt in [current_thread(), multi_thread()] {
        let q = Arc::new(Queue::new(1));
        rt.block_on(async {
            for _ in 0..10 {
                assert!(
                    tokio::time::timeout(Duration::from_millis(1), q.get_async())
                        .await
                        .is_err()
                );
            }
            let q2 = Arc::clone(&q);
            let h = tokio::spawn(async move { bounded(q2.get_async()).await });
            // The getter parks first, most likely; if it comes after the put, it takes the item
            // at once.
            tokio::time::sleep(Duration::from_millis(5)).await;
            q.put(1).unwrap();
            assert_eq!(bounded(h).await.unwrap(), Ok(1));
        });
        assert!(q.is_empty());
    }
}

/// Many short-lived, randomly cancelled async getters and putters against thread traffic:
/// nothing is lost or duplicated, and nothing hangs.
#[test]
fn cancellation_storm_loses_nothing() {
    let rt = multi_thread();
    let q = Arc::new(Queue::new(2));
    let taken = Arc::new(AtomicUsize::new(0));
    let producer = {
        let q = Arc::clone(&q);
        std::thread::spawn(move || {
            for i in 0..N {
                q.put(i).unwrap();
            }
        })
    };
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (q, taken) = (Arc::clone(&q), Arc::clone(&taken));
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while taken.load(Ordering::SeqCst) < N as usize {
                        // Cancel often: a timeout far shorter than the traffic's gaps.
                        if let Ok(r) =
                            tokio::time::timeout(Duration::from_micros(50), q.get_async()).await
                        {
                            got.push(r.unwrap());
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(bounded(t).await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..N).collect::<Vec<_>>(), "every item exactly once");
    });
    producer.join().unwrap();
}
