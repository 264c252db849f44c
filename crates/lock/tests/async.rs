//! `acquire_async` on tokio's current-thread and multi-thread runtimes, with threads and tasks
//! sharing one lock.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use weft_lock::{Lock, LockGuard};
use weft_sync::counting_waker;

/// Every async wait in these tests is bounded by this (a hang fails instead of blocking).
const LIMIT: Duration = Duration::from_secs(60);

/// Rounds of the contention tests (far fewer under Miri, which is slow).
const ROUNDS: usize = if cfg!(miri) { 20 } else { 1_000 };

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

#[test]
fn ready_at_once_when_free() {
    let lock = Lock::new(1);
    let mut fut = Box::pin(lock.acquire_async());
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(mut g) = fut.as_mut().poll(&mut cx) else {
        panic!("a free lock must be taken at once")
    };
    *g += 1;
    assert!(lock.locked());
    drop(g);
    drop(fut);
    assert!(!lock.locked());
    assert_eq!(*lock.acquire(), 2);
}

#[test]
fn a_future_dropped_unpolled_or_unwoken_just_leaves() {
    let lock = Lock::new(());
    drop(lock.acquire_async());
    assert!(!lock.locked());
    let held = lock.acquire();
    let mut fut = Box::pin(lock.acquire_async());
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    drop(fut); // queued, never woken: it leaves
    assert!(lock.locked(), "the holder still holds it");
    drop(held);
    assert!(!lock.locked());
    // Nobody is queued any more: the release fast path is back, and the lock is usable.
    assert!(lock.try_acquire().is_some());
}

#[test]
fn the_future_and_the_guard_are_send() {
    fn send<T: Send>(_: &T) {}
    let lock = Arc::new(Lock::new(Vec::new()));
    send(&lock.acquire_async());
    let rt = multi_thread();
    rt.block_on(async {
        // A guard held across an `.await` inside a spawned task (the task owns an `Arc` and
        // borrows the lock from it).
        let l = Arc::clone(&lock);
        let h = tokio::spawn(async move {
            let mut g: LockGuard<'_, Vec<u8>> = l.acquire_async().await;
            g.push(1);
            tokio::task::yield_now().await;
            g.push(2);
        });
        tokio::time::timeout(LIMIT, h).await.unwrap().unwrap();
    });
    assert_eq!(*lock.acquire(), [1, 2]);
}

#[test]
fn a_release_from_a_thread_wakes_a_task() {
    for rt in [current_thread(), multi_thread()] {
        let lock = Lock::new(0);
        let held = lock.acquire();
        std::thread::scope(|s| {
            s.spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                drop(held);
            });
            rt.block_on(async {
                *tokio::time::timeout(LIMIT, lock.acquire_async())
                    .await
                    .expect("woken") += 1;
            });
        });
        assert_eq!(*lock.acquire(), 1);
    }
}

#[test]
fn tokio_timeout_gives_up_and_loses_nothing() {
    for rt in [current_thread(), multi_thread()] {
        let lock = Lock::new(());
        let held = lock.acquire();
        let timed_out = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(20), lock.acquire_async())
                .await
                .is_err()
        });
        assert!(timed_out, "the lock stays held: the timeout fires");
        assert!(lock.locked());
        drop(held);
        assert!(!lock.locked());
        rt.block_on(async {
            let _g = tokio::time::timeout(LIMIT, lock.acquire_async())
                .await
                .expect("free");
        });
    }
}

#[test]
fn a_future_dropped_right_after_it_was_woken_passes_the_lock_on() {
    let lock = Arc::new(Lock::new(0));
    let held = lock.acquire();
    let mut fut = Box::pin(lock.acquire_async());
    let (count, waker) = counting_waker();
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    // A thread queues behind the task.
    let l = Arc::clone(&lock);
    let thread = std::thread::spawn(move || *l.acquire() += 1);
    std::thread::sleep(Duration::from_millis(20));
    drop(held);
    assert_eq!(count.get(), 1, "the oldest waiter, the task, is woken");
    drop(fut); // woken, never polled again
    thread.join().unwrap();
    assert_eq!(*lock.acquire(), 1);
    assert!(!lock.locked());
}

#[test]
fn a_handed_off_lock_is_passed_on_by_a_dropped_future() {
    // `unlock_fair` hands the lock straight to the oldest waiter, the task; the future is
    // dropped without being polled again, and the thread queued behind it gets the lock.
    let lock = Arc::new(Lock::new(0));
    let held = lock.acquire();
    let mut fut = Box::pin(lock.acquire_async());
    let (count, waker) = counting_waker();
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    let l = Arc::clone(&lock);
    let thread = std::thread::spawn(move || *l.acquire() += 1);
    std::thread::sleep(Duration::from_millis(20));
    held.unlock_fair();
    assert_eq!(count.get(), 1, "handed to the task");
    assert!(
        lock.locked(),
        "a hand-off leaves the lock held, for the task"
    );
    drop(fut);
    thread.join().unwrap();
    assert_eq!(*lock.acquire(), 1);
}

#[test]
fn a_task_and_a_thread_contend() {
    for rt in [current_thread(), multi_thread()] {
        let lock = Arc::new(Lock::new(0usize));
        let inside = Arc::new(AtomicUsize::new(0));
        let (l, i) = (Arc::clone(&lock), Arc::clone(&inside));
        let thread = std::thread::spawn(move || {
            for _ in 0..2 * ROUNDS {
                let mut g = l.acquire();
                assert_eq!(i.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                *g += 1;
                i.fetch_sub(1, Ordering::SeqCst);
            }
        });
        rt.block_on(async {
            for n in 0..2 * ROUNDS {
                let mut g = tokio::time::timeout(LIMIT, lock.acquire_async())
                    .await
                    .expect("never starved");
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                *g += 1;
                if n % 7 == 0 {
                    tokio::task::yield_now().await;
                }
                inside.fetch_sub(1, Ordering::SeqCst);
                drop(g);
            }
        });
        thread.join().unwrap();
        assert_eq!(*lock.acquire(), 4 * ROUNDS);
    }
}

#[test]
fn tasks_and_threads_with_timeouts_lose_nothing() {
    // Tasks wrap every acquire in a short tokio timeout (so futures are dropped at every
    // stage), threads use acquire_timeout; the lock is free at the end and every increment made
    // under it is there.
    let lock = Arc::new(Lock::new(0usize));
    let done = Arc::new(AtomicUsize::new(0));
    let rt = multi_thread();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (l, d) = (Arc::clone(&lock), Arc::clone(&done));
            std::thread::spawn(move || {
                for _ in 0..2 * ROUNDS {
                    if let Some(mut g) = l.acquire_timeout(Duration::from_micros(50)) {
                        *g += 1;
                        d.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (l, d) = (Arc::clone(&lock), Arc::clone(&done));
                tokio::spawn(async move {
                    for n in 0..ROUNDS as u64 {
                        let t = Duration::from_micros(20 + n % 80);
                        if let Ok(mut g) = tokio::time::timeout(t, l.acquire_async()).await {
                            *g += 1;
                            d.fetch_add(1, Ordering::Relaxed);
                            tokio::task::yield_now().await;
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
    assert!(!lock.locked(), "the lock was lost");
    assert_eq!(*lock.acquire(), done.load(Ordering::Relaxed));
    current_thread().block_on(async {
        let _g = tokio::time::timeout(LIMIT, lock.acquire_async())
            .await
            .unwrap();
    });
}

#[test]
fn wakers_are_updated_across_polls() {
    let lock = Lock::new(());
    let held = lock.acquire();
    let (a, wa) = counting_waker();
    let (b, wb) = counting_waker();
    let mut fut = Box::pin(lock.acquire_async());
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&wa))
            .is_pending()
    );
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&wb))
            .is_pending()
    );
    drop(held);
    assert_eq!(a.get(), 0);
    assert_eq!(b.get(), 1);
    assert!(fut.as_mut().poll(&mut Context::from_waker(&wb)).is_ready());
}

#[test]
fn many_tasks_and_threads_exclude_each_other_multi_thread() {
    let lock = Arc::new(Lock::new(0usize));
    let inside = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (l, i) = (Arc::clone(&lock), Arc::clone(&inside));
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let mut g = l.acquire();
                    assert_eq!(i.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    *g += 1;
                    i.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    multi_thread().block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (l, i) = (Arc::clone(&lock), Arc::clone(&inside));
                tokio::spawn(async move {
                    for _ in 0..ROUNDS / 2 {
                        let mut g = l.acquire_async().await;
                        assert_eq!(i.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        *g += 1;
                        tokio::task::yield_now().await;
                        i.fetch_sub(1, Ordering::SeqCst);
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
    assert_eq!(*lock.acquire(), 2 * ROUNDS + 8 * (ROUNDS / 2));
}

/// Polls a future once with `waker`.
fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    std::pin::Pin::new(f).poll(&mut Context::from_waker(waker))
}

#[test]
fn a_future_dropped_after_a_retry_wake_up_passes_it_on() {
    // Two queued tasks, a plain release: the oldest is woken (to retry, as it has waited far
    // less than the hand-off threshold; a hand-off on a stalled machine ends the same way). It
    // is dropped without being polled again: it must pass the wake-up on, or the second task
    // sleeps forever with the lock free.
    for _ in 0..if cfg!(miri) { 2 } else { 20 } {
        let lock = Lock::new(0);
        let held = lock.acquire();
        let (c1, w1) = counting_waker();
        let (c2, w2) = counting_waker();
        let mut first = Box::pin(lock.acquire_async());
        let mut second = Box::pin(lock.acquire_async());
        assert!(poll_once(&mut first, &w1).is_pending());
        assert!(poll_once(&mut second, &w2).is_pending());
        drop(held);
        assert_eq!(c1.get(), 1, "the oldest is woken");
        assert_eq!(c2.get(), 0);
        drop(first);
        assert_eq!(c2.get(), 1, "the wake-up was passed on");
        let Poll::Ready(mut g) = poll_once(&mut second, &w2) else {
            panic!("the second task gets the lock")
        };
        *g += 1;
        drop(g);
        assert!(!lock.locked());
    }
}

#[test]
fn a_release_wakes_the_next_of_several_queued_tasks_in_turn() {
    // Three queued tasks and plain releases: each release reaches the next one (a release
    // that woke one and forgot that others still wait would strand the rest).
    for _ in 0..if cfg!(miri) { 2 } else { 20 } {
        let lock = Lock::new(Vec::new());
        let held = lock.acquire();
        let wakers: Vec<_> = (0..3).map(|_| counting_waker()).collect();
        let mut futs: Vec<_> = (0..3).map(|_| Box::pin(lock.acquire_async())).collect();
        for (f, (_, w)) in futs.iter_mut().zip(&wakers) {
            assert!(poll_once(f, w).is_pending());
        }
        drop(held);
        for (i, (f, (c, w))) in futs.iter_mut().zip(&wakers).enumerate() {
            assert_eq!(c.get(), 1, "task {i} was woken in turn");
            let Poll::Ready(mut g) = poll_once(f, w) else {
                panic!("task {i} gets the lock")
            };
            g.push(i);
        }
        assert_eq!(*lock.acquire(), [0, 1, 2]);
    }
}
