//! The waiting core on real threads, real time and a real task.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use weft_sync::{
    Deadline, Mutex,
    waitq::{Left, Token, WaitQueue},
};

#[test]
fn timed_park_never_returns_early_and_leave_removes() {
    let q = Mutex::new(WaitQueue::<u8>::new());
    for ms in [0u64, 1, 5, 20] {
        let d = Duration::from_millis(ms);
        let start = Instant::now();
        let t = q.lock().register_thread(9);
        assert_eq!(t.park(Deadline::after(d)), None);
        assert!(start.elapsed() >= d);
        assert_eq!(q.lock().leave(&t), Left::Removed(9));
        assert!(q.lock().is_empty());
    }
}

#[test]
fn leave_after_delivery_reports_the_token() {
    let q = Mutex::new(WaitQueue::<()>::new());
    let t = q.lock().register_thread(());
    let (w, ()) = q.lock().wake_one(Token::HANDOFF).unwrap();
    assert_eq!(q.lock().leave(&t), Left::Received(Token::HANDOFF));
    w.wake(); // a late unpark is harmless
    assert_eq!(t.park(Deadline::never()), Some(Token::HANDOFF));
}

#[test]
fn fifo_across_threads_and_tasks_and_wake_n() {
    let q = Mutex::new(WaitQueue::<usize>::new());
    let a = q.lock().register_thread(0);
    let b = q.lock().register_task(Waker::noop(), 1);
    let c = q.lock().register_thread(2);
    assert_eq!(q.lock().front(), Some(&0));
    let w = q.lock().wake_n(2, Token::RETRY);
    assert_eq!(w.len(), 2);
    w.wake();
    assert_eq!(a.token(), Some(Token::RETRY));
    assert_eq!(b.token(), Some(Token::RETRY));
    assert_eq!(c.token(), None);
    assert!(!q.lock().update_waker(&b, Waker::noop()));
    let w = q.lock().wake_all_with(|&p| Token::new(p + 10).unwrap());
    assert_eq!(w.len(), 1);
    w.wake();
    assert_eq!(c.token(), Token::new(12));
    assert!(Token::new(0).is_none());
}

#[test]
fn many_threads_woken_by_wake_all() {
    let q = Arc::new(Mutex::new(WaitQueue::<()>::new()));
    let ready = Arc::new(std::sync::Barrier::new(5));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (q, ready) = (q.clone(), ready.clone());
            std::thread::spawn(move || {
                let t = q.lock().register_thread(());
                ready.wait();
                t.park(Deadline::never())
            })
        })
        .collect();
    ready.wait();
    let w = q.lock().wake_all(Token::RETRY);
    w.wake();
    for t in threads {
        assert_eq!(t.join().unwrap(), Some(Token::RETRY));
    }
}

/// A task registers on its first poll and completes once woken.
#[test]
fn a_task_waits_and_is_woken_from_a_thread() {
    struct Wait {
        q: Arc<Mutex<WaitQueue>>,
        ticket: Option<weft_sync::waitq::Ticket>,
    }
    impl Future for Wait {
        type Output = Token;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Token> {
            let q = self.q.clone();
            match &self.ticket {
                None => {
                    self.ticket = Some(q.lock().register_task(cx.waker(), ()));
                    Poll::Pending
                }
                Some(t) => {
                    if let Some(tok) = t.token() {
                        return Poll::Ready(tok);
                    }
                    if q.lock().update_waker(t, cx.waker()) {
                        Poll::Pending
                    } else {
                        Poll::Ready(t.token().unwrap())
                    }
                }
            }
        }
    }
    let q = Arc::new(Mutex::new(WaitQueue::new()));
    let q2 = q.clone();
    let waker = std::thread::spawn(move || {
        loop {
            let w = q2.lock().wake_one(Token::HANDOFF);
            if let Some((w, ())) = w {
                w.wake();
                break;
            }
            std::thread::yield_now();
        }
    });
    let tok = weft_sync::block_on(Wait { q, ticket: None });
    assert_eq!(tok, Token::HANDOFF);
    waker.join().unwrap();
}

#[test]
fn tickets_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<weft_sync::waitq::Ticket>();
    send_sync::<WaitQueue<u32>>();
    send_sync::<weft_sync::waitq::Wakeups>();
}

#[test]
fn duration_max_is_forever() {
    assert!(Deadline::after(Duration::MAX).is_never());
    assert_eq!(Deadline::after(Duration::MAX).remaining(), None);
    let q = Arc::new(Mutex::new(WaitQueue::<()>::new()));
    let ticket = q.lock().register_thread(());
    let q2 = Arc::clone(&q);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        let (w, ()) = q2.lock().wake_one(Token::RETRY).unwrap();
        w.wake();
    });
    assert_eq!(
        ticket.park(Deadline::after(Duration::MAX)),
        Some(Token::RETRY)
    );
    t.join().unwrap();
}

#[test]
fn spurious_unparks_are_absorbed() {
    let q = Mutex::new(WaitQueue::<()>::new());
    let ticket = q.lock().register_thread(());
    let me = std::thread::current();
    let unparked = Arc::new(AtomicBool::new(false));
    let t = {
        let unparked = Arc::clone(&unparked);
        std::thread::spawn(move || {
            for _ in 0..5 {
                me.unpark();
                unparked.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    // Park only once the first unpark is in: its token makes the park's first sleep return at
    // once, so at least one spurious unpark reaches the park however late the other thread
    // runs (the later ones most likely reach it too). The wait spins: a blocking wait could
    // use up the token itself.
    while !unparked.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let start = Instant::now();
    assert_eq!(
        ticket.park(Deadline::after(Duration::from_millis(40))),
        None
    );
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert_eq!(q.lock().leave(&ticket), Left::Removed(()));
    t.join().unwrap();
}

#[test]
fn a_primitive_defined_token_arrives_intact() {
    let q = Mutex::new(WaitQueue::<()>::new());
    let ticket = q.lock().register_thread(());
    let seven = Token::new(7).unwrap();
    let (w, ()) = q.lock().wake_one(seven).unwrap();
    w.wake();
    assert_eq!(ticket.park(Deadline::never()), Some(seven));
    assert_eq!(ticket.token().map(Token::get), Some(7));
    assert_eq!(Token::new(0), None);
}
