//! `lock_async`, `wait_async` and `wait_for_async` on tokio's current-thread and multi-thread
//! runtimes, with threads and tasks sharing one condition.

use std::{
    future::Future,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use weft_condition::{Condition, ConditionGuard};
use weft_sync::counting_waker;

/// Every async wait in these tests is bounded by this (a hang fails instead of blocking). Only
/// a hang or a lost wake-up may reach it: under Miri, beside the other checks on a loaded
/// machine, the contention test below spends 25 s inside one such bound, and the load varies.
const LIMIT: Duration = Duration::from_secs(300);

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

fn eventually(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "condition never held");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn guards_and_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    // A static, so that a `ConditionGuard<'static, _>` can move into a spawned task (and Miri
    // does not count it as leaked).
    static COND: std::sync::LazyLock<Condition<Vec<u8>>> =
        std::sync::LazyLock::new(|| Condition::new(Vec::new()));
    let cond: &'static Condition<Vec<u8>> = &COND;
    send(&cond.lock_async());
    let mut g = cond.lock();
    send(&g);
    send(&g.wait_async());
    send(&g.wait_for_async(|v| v.is_empty()));
    drop(g);
    // A guard held across `.await` in a spawned task, and released on another worker.
    multi_thread().block_on(async {
        let h = tokio::spawn(async move {
            let mut g: ConditionGuard<'static, Vec<u8>> = cond.lock_async().await;
            g.push(1);
            tokio::task::yield_now().await;
            g.push(2);
        });
        tokio::time::timeout(LIMIT, h).await.unwrap().unwrap();
    });
    assert_eq!(*cond.lock(), [1, 2]);
}

#[test]
fn lock_async_is_ready_at_once_when_free_and_waits_when_held() {
    let cond = Condition::new(0);
    let held = cond.lock();
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(cond.lock_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    drop(held);
    assert_eq!(count.get(), 1, "the unlock wakes the task");
    let Poll::Ready(mut g) = fut.as_mut().poll(&mut cx) else {
        panic!("woken with the lock free")
    };
    *g += 1;
    drop(g);
    assert_eq!(*cond.lock(), 1);
}

#[test]
fn a_thread_notifies_a_waiting_task() {
    for rt in [current_thread(), multi_thread()] {
        let cond = Arc::new(Condition::new(false));
        let c = Arc::clone(&cond);
        let notifier = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            let mut g = c.lock();
            *g = true;
            g.notify(1);
        });
        rt.block_on(async {
            let mut g = tokio::time::timeout(LIMIT, cond.lock_async())
                .await
                .unwrap();
            tokio::time::timeout(LIMIT, g.wait_for_async(|ready| *ready))
                .await
                .expect("notified");
            assert!(*g);
        });
        notifier.join().unwrap();
        assert!(!cond.locked());
    }
}

#[test]
fn a_task_notifies_a_waiting_thread() {
    let cond = Arc::new(Condition::new(0u32));
    let c = Arc::clone(&cond);
    let waiter = std::thread::spawn(move || {
        let mut g = c.lock();
        g.wait_for(|n| *n == 3);
    });
    multi_thread().block_on(async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let mut g = tokio::time::timeout(LIMIT, cond.lock_async())
                .await
                .unwrap();
            *g += 1;
            g.notify_all();
        }
    });
    waiter.join().unwrap();
}

#[test]
fn tokio_timeout_around_wait_async_leaves_the_guard_locked() {
    for rt in [current_thread(), multi_thread()] {
        let cond = Condition::new(5);
        rt.block_on(async {
            let mut g = tokio::time::timeout(LIMIT, cond.lock_async())
                .await
                .unwrap();
            let r = tokio::time::timeout(Duration::from_millis(20), g.wait_async()).await;
            assert!(r.is_err(), "nobody notified: the timeout fires");
            // The guard holds the lock again, exactly as after wait_timeout.
            assert!(cond.locked());
            assert!(cond.try_lock().is_none());
            *g += 1;
            let r =
                tokio::time::timeout(Duration::from_millis(5), g.wait_for_async(|n| *n > 10)).await;
            assert!(r.is_err());
            assert!(cond.locked());
            assert_eq!(*g, 6);
        });
        assert!(!cond.locked(), "the guard's drop released it");
        // The timed-out waiter left the queue: a notify finds nobody.
        assert_eq!(cond.notify_all(), 0);
    }
}

#[test]
fn a_wait_dropped_right_after_its_notification_passes_it_on() {
    // A task waits, then a thread waits; notify(1) picks the task (the oldest); the task's
    // future is dropped before it is polled again: the notification goes to the thread.
    let cond = Arc::new(Condition::new(0usize));
    let mut g = cond.lock();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(g.wait_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(!cond.locked(), "waiting released the lock");
    let c = Arc::clone(&cond);
    let thread = std::thread::spawn(move || {
        let mut g = c.lock();
        *g += 1;
        g.wait();
        *g += 10;
    });
    // The thread counts and queues in `wait` under one hold of the lock, so once the lock shows
    // its count, the thread is queued behind the task.
    eventually(|| *cond.lock() == 1);
    assert_eq!(cond.notify(1), 1);
    drop(fut); // notified, never polled again: passes it on, and re-locks
    assert!(cond.locked());
    drop(g);
    thread.join().unwrap();
    assert_eq!(*cond.lock(), 11);
    assert_eq!(cond.notify_all(), 0);
}

#[test]
fn a_wait_moved_to_the_lock_and_dropped_passes_it_on() {
    // Notified while the lock is held, the task is moved to the lock's queue;
    // dropped there, it passes the notification on to the thread waiting behind it.
    let cond = Arc::new(Condition::new(0usize));
    let c = Arc::clone(&cond);
    let mut g = cond.lock();
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = Box::pin(g.wait_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let thread = std::thread::spawn(move || {
        let mut g = c.lock();
        *g += 1;
        g.wait();
        *g += 10;
    });
    // Queued behind the task once its count shows (it counts and queues under one hold of the
    // lock).
    eventually(|| *cond.lock() == 1);
    {
        let mut other = cond.lock();
        // Python's shape: notify with the lock held; the task is moved, not woken.
        assert_eq!(other.notify(1), 1);
        *other += 100;
    }
    drop(fut);
    drop(g);
    thread.join().unwrap();
    assert_eq!(*cond.lock(), 111);
}

#[test]
fn a_lock_async_dropped_after_its_wake_passes_it_on() {
    let cond = Arc::new(Condition::new(0));
    let held = cond.lock();
    let mut fut = Box::pin(cond.lock_async());
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    let c = Arc::clone(&cond);
    let thread = std::thread::spawn(move || *c.lock() += 1);
    // Usually the thread is queued behind the task by now. If it is late, the task's wake-up
    // passed on finds nobody and the thread later takes the free lock: the test holds either
    // way, and a dropped future that kept the lock it took still leaves the thread blocked.
    std::thread::sleep(Duration::from_millis(20));
    drop(held); // wakes the task, the oldest
    drop(fut); // never polled again: the thread must still get the lock
    thread.join().unwrap();
    assert_eq!(*cond.lock(), 1);
}

#[test]
fn notify_n_counts_tasks_and_threads_oldest_first() {
    let cond = Arc::new(Condition::new(Vec::<&str>::new()));
    let mut g = cond.lock();
    let (c1, w1) = counting_waker();
    let mut task = Box::pin(g.wait_async());
    assert!(
        task.as_mut()
            .poll(&mut Context::from_waker(&w1))
            .is_pending()
    );
    let c = Arc::clone(&cond);
    let thread = std::thread::spawn(move || {
        let mut g = c.lock();
        g.push("thread waits");
        g.wait();
        g.push("thread woke");
    });
    // Queued behind the task once its entry shows (it pushes and queues under one hold of the
    // lock).
    eventually(|| cond.lock().len() == 1);
    // Without the lock, notify(1) wakes the oldest (the task) directly.
    assert_eq!(cond.notify(1), 1);
    assert_eq!(c1.get(), 1);
    assert!(matches!(
        task.as_mut().poll(&mut Context::from_waker(&w1)),
        Poll::Ready(())
    ));
    drop(task);
    assert_eq!(g.len(), 1, "the thread was not woken by notify(1)");
    assert_eq!(g.notify(5), 1);
    drop(g);
    thread.join().unwrap();
    assert_eq!(cond.notify_all(), 0);
}

#[test]
fn producers_and_consumers_mixed_threads_and_tasks() {
    for rt in [current_thread(), multi_thread()] {
        let cond = Arc::new(Condition::new(Vec::<u32>::new()));
        const N: u32 = if cfg!(miri) { 40 } else { 400 };
        let c = Arc::clone(&cond);
        let thread_consumer = std::thread::spawn(move || {
            let mut got = 0;
            for _ in 0..N / 2 {
                let mut g = c.lock();
                g.wait_for(|v| !v.is_empty());
                got += g.pop().unwrap();
                g.notify_all();
            }
            got
        });
        let c = Arc::clone(&cond);
        let thread_producer = std::thread::spawn(move || {
            for i in 0..N / 2 {
                let mut g = c.lock();
                g.wait_for(|v| v.len() < 4);
                g.push(i);
                g.notify_all();
            }
        });
        let got = rt.block_on(async {
            let producer = {
                let c = Arc::clone(&cond);
                async move {
                    for i in N / 2..N {
                        let mut g = c.lock_async().await;
                        g.wait_for_async(|v| v.len() < 4).await;
                        g.push(i);
                        g.notify_all();
                    }
                }
            };
            let consumer = {
                let c = Arc::clone(&cond);
                async move {
                    let mut got = 0;
                    for _ in 0..N / 2 {
                        let mut g = c.lock_async().await;
                        // A short timeout now and then: cancelled waits must lose nothing.
                        while g.is_empty() {
                            let _ =
                                tokio::time::timeout(Duration::from_micros(200), g.wait_async())
                                    .await;
                        }
                        got += g.pop().unwrap();
                        g.notify_all();
                    }
                    got
                }
            };
            let (_, got) = tokio::time::timeout(LIMIT, async { tokio::join!(producer, consumer) })
                .await
                .expect("no lost wake-up");
            got
        });
        thread_producer.join().unwrap();
        let total = got + thread_consumer.join().unwrap();
        assert_eq!(total, (0..N).sum::<u32>());
        assert!(cond.lock().is_empty());
    }
}

#[test]
fn spawned_tasks_and_threads_contend_for_the_lock() {
    // Miri runs this about a hundred times slower: fewer rounds, the same interleavings.
    const THREAD_ROUNDS: u64 = if cfg!(miri) { 40 } else { 2_000 };
    const TASK_ROUNDS: u64 = if cfg!(miri) { 20 } else { 1_000 };
    let cond = Arc::new(Condition::new(0u64));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let c = Arc::clone(&cond);
            std::thread::spawn(move || {
                for _ in 0..THREAD_ROUNDS {
                    *c.lock() += 1;
                }
            })
        })
        .collect();
    multi_thread().block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&cond);
                tokio::spawn(async move {
                    for n in 0..TASK_ROUNDS {
                        let d = Duration::from_micros(10 + n % 50);
                        if let Ok(mut g) = tokio::time::timeout(d, c.lock_async()).await {
                            *g += 1;
                            tokio::task::yield_now().await;
                        } else {
                            *c.lock_async().await += 1;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            tokio::time::timeout(LIMIT, t).await.unwrap().unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*cond.lock(), 2 * THREAD_ROUNDS + 4 * TASK_ROUNDS);
    assert!(!cond.locked());
}
