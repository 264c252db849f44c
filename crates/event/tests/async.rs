//! `Event::wait_async` on tokio's current-thread and multi-thread runtimes, with threads and
//! tasks waiting on one event.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use weft_event::Event;

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

/// A bound that only a hang or a lost wake-up reaches. Under Miri, beside the other checks on
/// a loaded machine, seconds pass between two steps of one thread.
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn ready_at_once_when_set() {
    let ev = Event::new();
    ev.set();
    current_thread().block_on(ev.wait_async());
    let mut fut = Box::pin(ev.wait_async());
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(()));
}

#[test]
fn set_from_a_thread_wakes_a_task_current_thread() {
    let ev = Arc::new(Event::new());
    let e = Arc::clone(&ev);
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        e.set();
    });
    current_thread().block_on(ev.wait_async());
    setter.join().unwrap();
}

#[test]
fn set_from_a_task_wakes_tasks_and_threads_multi_thread() {
    let ev = Arc::new(Event::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (e, w) = (Arc::clone(&ev), Arc::clone(&woken));
            std::thread::spawn(move || {
                e.wait();
                w.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let rt = multi_thread();
    rt.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (e, w) = (Arc::clone(&ev), Arc::clone(&woken));
                tokio::spawn(async move {
                    e.wait_async().await;
                    w.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let e = Arc::clone(&ev);
        tokio::spawn(async move { e.set() }).await.unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), 6);
}

#[test]
fn set_then_clear_still_completes_a_woken_future() {
    let ev = Event::new();
    let mut fut = Box::pin(ev.wait_async());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    ev.set();
    ev.clear();
    assert!(!ev.is_set());
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(()));
}

#[test]
fn a_future_registered_after_set_and_clear_is_not_released() {
    let ev = Event::new();
    ev.set();
    ev.clear();
    let mut fut = Box::pin(ev.wait_async());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    ev.set();
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(()));
}

#[test]
fn tokio_timeout_around_wait_async() {
    let ev = Arc::new(Event::new());
    for rt in [current_thread(), multi_thread()] {
        ev.clear();
        let e = Arc::clone(&ev);
        let r = rt.block_on(async move {
            tokio::time::timeout(Duration::from_millis(20), e.wait_async()).await
        });
        assert!(r.is_err(), "nobody set it: the timeout fires");
        // The dropped future left the queue: the lock-free paths are back and the event works.
        assert!(!ev.wait_timeout(Duration::from_millis(1)));
        let e = Arc::clone(&ev);
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            e.set();
        });
        let e = Arc::clone(&ev);
        let r = rt.block_on(async move { tokio::time::timeout(LIMIT, e.wait_async()).await });
        assert!(r.is_ok());
        setter.join().unwrap();
    }
}

#[test]
fn a_future_dropped_right_after_it_was_woken_strands_nobody() {
    let ev = Arc::new(Event::new());
    let e = Arc::clone(&ev);
    let thread = std::thread::spawn(move || e.wait());
    let mut fut = Box::pin(ev.wait_async());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    ev.set();
    drop(fut); // woken, never polled again
    thread.join().unwrap();
    // Cleared, the event blocks again, and a later set still releases a waiter.
    ev.clear();
    assert!(!ev.wait_timeout(Duration::from_millis(1)));
    // Whether the thread is parked at the set or starts waiting after it, the set releases it.
    let e = Arc::clone(&ev);
    let t = std::thread::spawn(move || e.wait());
    ev.set();
    t.join().unwrap();
}

// `a_future_dropped_while_a_thread_waits_keeps_the_parked_mark` is a unit test in
// src/event.rs: the future must queue behind a parked thread, which it sees there.

#[test]
fn the_future_is_send_and_spawnable() {
    fn send<T: Send>(_: &T) {}
    // A static, so that a future borrowing the event can move into a spawned task (and Miri
    // does not count a leaked box, nor the queue it holds, as leaked memory).
    static EV: std::sync::LazyLock<Event> = std::sync::LazyLock::new(Event::new);
    let ev: &'static Event = &EV;
    send(&ev.wait_async());
    let rt = multi_thread();
    rt.block_on(async {
        let h = tokio::spawn(ev.wait_async());
        // Usually the task is queued by now; one that is not yet finds the flag up and
        // completes at once.
        tokio::time::sleep(Duration::from_millis(5)).await;
        ev.set();
        h.await.unwrap();
    });
}

#[test]
fn many_rounds_task_ping_pong_with_a_thread() {
    let ping = Arc::new(Event::new());
    let pong = Arc::new(Event::new());
    let (pi, po) = (Arc::clone(&ping), Arc::clone(&pong));
    let thread = std::thread::spawn(move || {
        for _ in 0..500 {
            pi.wait();
            pi.clear();
            po.set();
        }
    });
    let rt = multi_thread();
    rt.block_on(async {
        for _ in 0..500 {
            ping.set();
            pong.wait_async().await;
            pong.clear();
        }
    });
    thread.join().unwrap();
}

#[test]
fn wakers_are_updated_across_polls() {
    // Poll with one waker, then with another: the set wakes the latest.
    struct Flag(AtomicUsize);
    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (a, b) = (
        Arc::new(Flag(AtomicUsize::new(0))),
        Arc::new(Flag(AtomicUsize::new(0))),
    );
    let (wa, wb) = (Waker::from(Arc::clone(&a)), Waker::from(Arc::clone(&b)));
    let ev = Event::new();
    let mut fut = Box::pin(ev.wait_async());
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
    ev.set();
    assert_eq!(a.0.load(Ordering::SeqCst), 0);
    assert_eq!(b.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        fut.as_mut().poll(&mut Context::from_waker(&wb)),
        Poll::Ready(())
    );
}
