//! `acquire_async` on tokio's current-thread and multi-thread runtimes, with threads and tasks
//! sharing one semaphore.
//!
//! The tests whose release must come after a thread has queued behind a task (FIFO order
//! across threads and tasks, a future dropped after its wake passing the permit on) are the
//! crate's unit tests, in `src/semaphore.rs`: they see the queue there.

use std::{
    future::Future,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use weft_semaphore::{BoundedSemaphore, Permit, Semaphore};
use weft_sync::counting_waker;

/// Every async wait in these tests is bounded by this (a hang fails instead of blocking): far
/// longer than any of them takes on a loaded machine, under Miri too, so that only a hang
/// reaches it. Some bound a whole task's rounds, which Miri runs many times slower.
const LIMIT: Duration = Duration::from_secs(if cfg!(miri) { 300 } else { 60 });

/// Rounds of the contention tests, a fiftieth under Miri: Miri looks for undefined behaviour,
/// not for rare interleavings, and interprets every step (at the full count, one of these
/// tests had not finished after six minutes, and a bound over a whole task's rounds fails on
/// such a run).
const fn rounds(full: u64) -> u64 {
    if cfg!(miri) { full / 50 } else { full }
}

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
fn ready_at_once_with_a_free_permit() {
    let sem = Semaphore::new(1);
    let mut fut = Box::pin(sem.acquire_async());
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(p) = fut.as_mut().poll(&mut cx) else {
        panic!("a free permit must be taken at once")
    };
    assert_eq!(sem.available(), 0);
    drop(p);
    drop(fut);
    assert_eq!(sem.available(), 1);
}

#[test]
fn the_future_and_the_permit_are_send() {
    fn send<T: Send>(_: &T) {}
    // Statics rather than leaked boxes: Miri reports a leaked box as a leak and fails the run.
    static SEM: OnceLock<Semaphore> = OnceLock::new();
    static BOUNDED: OnceLock<BoundedSemaphore> = OnceLock::new();
    let sem: &'static Semaphore = SEM.get_or_init(|| Semaphore::new(1));
    let b: &'static BoundedSemaphore = BOUNDED.get_or_init(|| BoundedSemaphore::new(1));
    send(&sem.acquire_async());
    send(&b.acquire_async());
    let rt = multi_thread();
    rt.block_on(async {
        // A permit held across an `.await` inside a spawned task.
        let h = tokio::spawn(async move {
            let p: Permit<'static> = sem.acquire_async().await;
            tokio::task::yield_now().await;
            drop(p);
            let _q = b.acquire_async().await;
            tokio::task::yield_now().await;
        });
        tokio::time::timeout(LIMIT, h).await.unwrap().unwrap();
    });
    assert_eq!(sem.available(), 1);
    assert_eq!(b.available(), 1);
}

#[test]
fn a_release_from_a_thread_wakes_a_task() {
    for rt in [current_thread(), multi_thread()] {
        let sem = Arc::new(Semaphore::new(0));
        let s = Arc::clone(&sem);
        // The sleep makes a release to a queued task the usual case; a task polled later than
        // that finds the permit in the count, which passes too.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            s.release(1);
        });
        rt.block_on(async {
            tokio::time::timeout(LIMIT, sem.acquire_async())
                .await
                .expect("woken")
                .forget();
        });
        releaser.join().unwrap();
        assert_eq!(sem.available(), 0);
    }
}

#[test]
fn tokio_timeout_gives_up_and_loses_nothing() {
    for rt in [current_thread(), multi_thread()] {
        let sem = Arc::new(Semaphore::new(0));
        let timed_out = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(20), sem.acquire_async())
                .await
                .is_err()
        });
        assert!(timed_out, "nobody released: the timeout fires");
        // The dropped future left the queue: the lock-free release is back.
        sem.release(1);
        assert_eq!(sem.available(), 1);
        assert!(sem.try_acquire().is_some());
    }
}

#[test]
fn a_task_and_a_thread_contend_fairly() {
    for rt in [current_thread(), multi_thread()] {
        let sem = Arc::new(Semaphore::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let (s, i) = (Arc::clone(&sem), Arc::clone(&inside));
        let thread = std::thread::spawn(move || {
            for _ in 0..rounds(2_000) {
                let _p = s.acquire();
                assert_eq!(i.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                i.fetch_sub(1, Ordering::SeqCst);
            }
        });
        rt.block_on(async {
            for n in 0..rounds(2_000) {
                let p = tokio::time::timeout(LIMIT, sem.acquire_async())
                    .await
                    .expect("never starved");
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                if n % 7 == 0 {
                    tokio::task::yield_now().await;
                }
                inside.fetch_sub(1, Ordering::SeqCst);
                drop(p);
            }
        });
        thread.join().unwrap();
        assert_eq!(sem.available(), 1);
    }
}

#[test]
fn tasks_and_threads_with_timeouts_lose_no_permit() {
    // Tasks wrap every acquire in a short tokio timeout (so futures are dropped at every
    // stage), threads use acquire_timeout; the permits all come back.
    let sem = Arc::new(BoundedSemaphore::new(2));
    let rt = multi_thread();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let s = Arc::clone(&sem);
            std::thread::spawn(move || {
                for _ in 0..rounds(2_000) {
                    if let Some(p) = s.acquire_timeout(Duration::from_micros(50)) {
                        std::hint::spin_loop();
                        drop(p);
                    }
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&sem);
                tokio::spawn(async move {
                    for n in 0..rounds(1_000) {
                        let d = Duration::from_micros(20 + n % 80);
                        if let Ok(p) = tokio::time::timeout(d, s.acquire_async()).await {
                            tokio::task::yield_now().await;
                            drop(p);
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
    assert_eq!(sem.available(), 2, "a permit was lost");
    // And the semaphore still works for a task after all that.
    current_thread().block_on(async {
        let _p = tokio::time::timeout(LIMIT, sem.acquire_async())
            .await
            .unwrap();
    });
}

#[test]
fn wakers_are_updated_across_polls() {
    let sem = Semaphore::new(0);
    let (a, wa) = counting_waker();
    let (b, wb) = counting_waker();
    let mut fut = Box::pin(sem.acquire_async());
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
    sem.release(1);
    assert_eq!(a.get(), 0);
    assert_eq!(b.get(), 1);
    assert!(fut.as_mut().poll(&mut Context::from_waker(&wb)).is_ready());
}

#[test]
fn bounded_acquire_async_keeps_the_bound() {
    let sem = BoundedSemaphore::new(1);
    current_thread().block_on(async {
        let p = tokio::time::timeout(LIMIT, sem.acquire_async())
            .await
            .unwrap();
        assert!(sem.try_acquire().is_none());
        drop(p);
    });
    assert_eq!(sem.available(), 1);
    assert!(sem.release(1).is_err());
}

#[test]
fn many_tasks_share_two_permits_multi_thread() {
    let sem = Arc::new(Semaphore::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let high = Arc::new(AtomicUsize::new(0));
    multi_thread().block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (s, i, h) = (Arc::clone(&sem), Arc::clone(&inside), Arc::clone(&high));
                tokio::spawn(async move {
                    for _ in 0..rounds(500) {
                        let _p = s.acquire_async().await;
                        let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                        h.fetch_max(now, Ordering::SeqCst);
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
    assert!(high.load(Ordering::SeqCst) <= 2);
    assert_eq!(sem.available(), 2);
}
