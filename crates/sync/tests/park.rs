//! The parking primitive on real threads and real time.

use std::time::{Duration, Instant};

use weft_sync::{
    Deadline, WaitList,
    park::{Parked, Waiter},
};

#[test]
fn timed_wait_never_returns_early() {
    for ms in [0u64, 1, 5, 20] {
        let d = Duration::from_millis(ms);
        let start = Instant::now();
        let w = Waiter::new();
        assert_eq!(w.wait(Deadline::after(d)), Parked::TimedOut);
        assert!(
            start.elapsed() >= d,
            "returned after {:?} < {d:?}",
            start.elapsed()
        );
    }
}

#[test]
fn duration_max_is_forever() {
    assert!(Deadline::after(Duration::MAX).is_never());
    assert_eq!(Deadline::after(Duration::MAX).remaining(), None);
    let w = Waiter::new();
    let n = w.notifier();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        n.notify();
    });
    assert_eq!(w.wait(Deadline::after(Duration::MAX)), Parked::Woken);
    t.join().unwrap();
}

#[test]
fn spurious_unpark_is_absorbed() {
    let w = Waiter::new();
    let me = std::thread::current();
    let t = std::thread::spawn(move || {
        for _ in 0..5 {
            me.unpark();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let start = Instant::now();
    assert_eq!(
        w.wait(Deadline::after(Duration::from_millis(40))),
        Parked::TimedOut
    );
    assert!(start.elapsed() >= Duration::from_millis(40));
    t.join().unwrap();
}

#[test]
fn token_is_delivered_and_rearm_resets() {
    let w = Waiter::new();
    w.notifier()
        .notify_with(std::num::NonZeroUsize::new(7).unwrap());
    assert_eq!(w.wait(Deadline::never()), Parked::Woken);
    assert_eq!(w.token().map(|t| t.get()), Some(7));
    w.rearm();
    assert!(!w.is_notified());
}

#[test]
fn wait_list_is_fifo_and_remove_settles() {
    let (a, b, c) = (Waiter::new(), Waiter::new(), Waiter::new());
    let mut list = WaitList::new();
    list.push_back(&a, 'a');
    list.push_back(&b, 'b');
    list.push_front(&c, 'c');
    assert_eq!(list.len(), 3);
    assert_eq!(list.remove(&b), Some('b'));
    assert_eq!(list.remove(&b), None);
    let (n, p) = list.pop_front().unwrap();
    assert_eq!(p, 'c');
    assert!(c.is(&n));
    assert_eq!(list.pop_front().map(|(_, p)| p), Some('a'));
    assert!(list.is_empty());
}
