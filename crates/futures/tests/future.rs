//! `Future` / `Promise` behaviour through the public API, with real threads and real time.
// These tests run on real std threads only (never under loom), so std's sync types are right here.
#![allow(clippy::disallowed_types)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use weft_futures::{FutureId, TaskError, promise};

const SHORT: Duration = Duration::from_millis(50);

/// Upper bound for "returns soon after", and a timeout that must not run out before another
/// thread's short sleep ends: only a hang or a timeout that never fires exceeds it. Under Miri,
/// beside the other checks on a loaded machine, seconds pass between two steps of one thread.
const SLACK: Duration = Duration::from_secs(30);

#[test]
fn states_pending_running_finished() {
    let (p, f) = promise::<u32>();
    assert!(!f.done() && !f.running() && !f.cancelled());
    assert!(p.set_running());
    assert!(f.running() && !f.done());
    assert!(p.set_running(), "set_running again on a running future");
    assert!(!f.cancel(), "a running future cannot be cancelled");
    assert!(!f.cancelled());
    p.set_result(3);
    assert!(f.done() && !f.running() && !f.cancelled());
    assert!(!f.cancel(), "a finished future cannot be cancelled");
    assert_eq!(f.result(), Ok(3));
}

#[test]
fn finish_straight_from_pending() {
    let (p, f) = promise::<&str>();
    p.set_result("x");
    assert!(f.done());
    assert_eq!(f.result(), Ok("x"));
}

#[test]
fn cancel_pending() {
    let (p, f) = promise::<u32>();
    assert!(f.cancel());
    assert!(f.cancelled() && f.done() && !f.running());
    assert!(f.cancel(), "cancel again reports true");
    assert!(p.is_cancelled());
    assert!(!p.set_running());
    p.set_result(1); // dropped: the future stays cancelled
    assert!(f.cancelled());
    assert_eq!(f.result(), Err(TaskError::Cancelled));
}

#[test]
fn set_error_and_abandoned() {
    let (p, f) = promise::<u32>();
    p.set_error(TaskError::BrokenPool("worker killed by signal 9".into()));
    assert!(f.done() && !f.cancelled());
    assert_eq!(
        f.result(),
        Err(TaskError::BrokenPool("worker killed by signal 9".into()))
    );

    let (p, f) = promise::<u32>();
    assert!(p.set_running());
    drop(p);
    assert!(f.done());
    assert_eq!(f.result(), Err(TaskError::Abandoned));
}

#[test]
fn promise_cancel() {
    let (p, f) = promise::<u32>();
    assert!(p.cancel());
    assert!(f.cancelled());
    let (p, f) = promise::<u32>();
    p.set_running();
    assert!(!p.cancel());
    p.set_result(1);
    assert_eq!(f.result(), Ok(1));
}

#[test]
fn complete_reports_lost_race() {
    let (p, f) = promise::<u32>();
    f.cancel();
    assert!(!p.complete(Ok(1)));
    let (p, _f) = promise::<u32>();
    assert!(p.complete(Err(TaskError::Failed("x".into()))));
}

#[test]
fn result_blocks_until_set_from_another_thread() {
    let (p, f) = promise::<String>();
    // The clock starts before the setter's sleep does, so the bound holds however late this
    // thread gets here (under ThreadSanitizer it may be late).
    let start = Instant::now();
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        p.set_result("late".into());
    });
    assert_eq!(f.result().unwrap(), "late");
    assert!(start.elapsed() >= SHORT);
    t.join().unwrap();
}

#[test]
fn waiter_wakes_on_promise_drop() {
    let (p, f) = promise::<u8>();
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        drop(p);
    });
    assert_eq!(f.result(), Err(TaskError::Abandoned));
    t.join().unwrap();
}

#[test]
fn waiter_wakes_on_cancel_from_another_thread() {
    let (_p, f) = promise::<u8>();
    let f = Arc::new(f);
    let f2 = f.clone();
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        assert!(f2.cancel());
    });
    f.wait();
    assert!(f.cancelled());
    t.join().unwrap();
}

#[test]
fn wait_timeout_never_early() {
    let (_p, f) = promise::<u8>();
    for d in [
        Duration::ZERO,
        Duration::from_millis(1),
        Duration::from_millis(30),
        SHORT,
    ] {
        let start = Instant::now();
        assert!(!f.wait_timeout(d));
        let took = start.elapsed();
        assert!(took >= d, "returned after {took:?} < {d:?}");
        assert!(took < d + SLACK, "returned only after {took:?}");
    }
}

#[test]
fn wait_timeout_true_when_done_meanwhile() {
    let (p, f) = promise::<u8>();
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        p.set_result(1);
    });
    assert!(f.wait_timeout(SLACK));
    assert!(f.wait_timeout(Duration::ZERO));
    t.join().unwrap();
}

#[test]
fn wait_timeout_max_is_forever() {
    let (p, f) = promise::<u8>();
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        p.set_result(1);
    });
    assert!(f.wait_timeout(Duration::MAX));
    assert_eq!(f.result_timeout(Duration::MAX).ok(), Some(Ok(1)));
    t.join().unwrap();
}

#[test]
fn result_timeout_hands_the_future_back() {
    let (p, f) = promise::<u8>();
    let start = Instant::now();
    let f = f.result_timeout(SHORT).unwrap_err();
    assert!(start.elapsed() >= SHORT);
    let f = f.try_result().unwrap_err();
    p.set_result(9);
    assert_eq!(f.try_result().ok(), Some(Ok(9)));
}

#[test]
fn many_waiters_all_wake() {
    let (p, f) = promise::<u8>();
    let f = Arc::new(f);
    let woken = Arc::new(AtomicUsize::new(0));
    let ts: Vec<_> = (0..4)
        .map(|i| {
            let (f, woken) = (f.clone(), woken.clone());
            thread::spawn(move || {
                if i % 2 == 0 {
                    f.wait();
                } else {
                    assert!(f.wait_timeout(SLACK));
                }
                woken.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // Lets them wait first, most likely. A waiter that comes after the result finds the future
    // done at once: the assertions hold either way.
    thread::sleep(SHORT);
    p.set_result(1);
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), 4);
}

#[test]
fn callbacks_in_registration_order_on_completing_thread() {
    let (p, f) = promise::<u8>();
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let log = log.clone();
        f.add_done_callback(move || log.lock().unwrap().push((i, thread::current().id())));
    }
    let t = thread::spawn(move || {
        p.set_result(1);
        thread::current().id()
    });
    let completer = t.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(log.iter().all(|x| x.1 == completer));
}

#[test]
fn callback_on_done_future_runs_at_once_on_caller() {
    let (p, f) = promise::<u8>();
    p.set_result(1);
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move || tx.send(thread::current().id()).unwrap());
    assert_eq!(rx.try_recv(), Ok(thread::current().id()));
}

#[test]
fn callbacks_run_on_cancel_before_it_returns() {
    let (_p, f) = promise::<u8>();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move || tx.send(()).unwrap());
    assert!(f.cancel());
    assert_eq!(rx.try_recv(), Ok(()));
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
}

#[test]
fn callbacks_run_on_abandon() {
    let (p, f) = promise::<u8>();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move || tx.send(()).unwrap());
    drop(p);
    assert_eq!(rx.try_recv(), Ok(()));
}

#[test]
fn panicking_callback_is_caught_and_later_ones_run() {
    let (p, f) = promise::<u8>();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    f.add_done_callback(|| panic!("callback boom"));
    f.add_done_callback(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    p.set_result(5);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    // Nothing poisoned: the future still works, callbacks still run.
    let r = ran.clone();
    f.add_done_callback(|| panic!("again"));
    f.add_done_callback(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(f.result(), Ok(5));
}

#[test]
fn callback_may_use_the_future_state() {
    // A callback sees the final state (it runs after the transition).
    let (p, f) = promise::<u8>();
    let f = Arc::new(f);
    let f2 = f.clone();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move || tx.send((f2.done(), f2.cancelled())).unwrap());
    p.set_result(1);
    assert_eq!(rx.recv().unwrap(), (true, false));
}

#[test]
fn ids_unique_and_shared_with_promise() {
    let mut ids = std::collections::HashSet::new();
    let mut alive = Vec::new();
    for _ in 0..1000 {
        let (p, f) = promise::<()>();
        assert_eq!(p.id(), f.id());
        assert!(ids.insert(f.id()), "ids of live futures are unique");
        alive.push((p, f));
    }
    // Never reused, even once a future is gone.
    let a = promise::<()>().1.id();
    let b = promise::<()>().1.id();
    assert!(a < b);
    let id: FutureId = alive[0].1.id();
    assert_eq!(id, alive[0].0.id());
    assert!(id.to_string().starts_with("future #"));
}

#[test]
fn value_dropped_exactly_once() {
    struct D(Arc<AtomicUsize>);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    // Never taken.
    let (p, f) = promise();
    p.set_result(D(drops.clone()));
    drop(f);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // Lost to cancel: dropped at once.
    let (p, f) = promise();
    f.cancel();
    p.set_result(D(drops.clone()));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    // Taken.
    let (p, f) = promise();
    p.set_result(D(drops.clone()));
    let v = f.result().ok().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    drop(v);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    // Future dropped before the result is set.
    let (p, f) = promise();
    drop(f);
    p.set_result(D(drops.clone()));
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

#[test]
fn debug_and_display() {
    struct NoDebug;
    let (p, f) = promise::<NoDebug>();
    assert!(format!("{f:?}").contains("pending"));
    assert!(format!("{p:?}").starts_with("Promise"));
    p.set_running();
    assert!(format!("{f:?}").contains("running"));
    assert_eq!(TaskError::Cancelled.to_string(), "the task was cancelled");
    assert_eq!(
        TaskError::Panicked("x".into()).to_string(),
        "the task panicked: x"
    );
    assert_eq!(
        TaskError::BrokenPool("exit 3".into()).to_string(),
        "the pool is broken: exit 3"
    );
    for e in [TaskError::Abandoned, TaskError::Failed("y".into())] {
        let s = e.to_string();
        assert!(!s.ends_with('.') && s.chars().next().unwrap().is_lowercase());
    }
}

#[test]
fn stress_complete_vs_cancel_vs_wait() {
    // Each round: a completer, a canceller and a waiter race on one future. Exactly one of
    // completion and cancellation wins; callbacks run once; the waiter sees the winner.
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    for i in 0..rounds {
        let (p, f) = promise::<usize>();
        let f = Arc::new(f);
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        f.add_done_callback(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        let completer = thread::spawn(move || {
            if p.set_running() {
                p.set_result(i);
                true
            } else {
                false
            }
        });
        let f2 = f.clone();
        let canceller = thread::spawn(move || f2.cancel());
        f.wait();
        let completed = completer.join().unwrap();
        let cancelled = canceller.join().unwrap();
        assert!(completed != cancelled, "exactly one wins");
        assert_eq!(f.cancelled(), cancelled);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let f = Arc::into_inner(f).unwrap();
        match f.result() {
            Ok(v) => assert!(completed && v == i),
            Err(e) => assert!(cancelled && e == TaskError::Cancelled),
        }
    }
}

#[test]
fn stress_callbacks_registered_while_completing() {
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    for _ in 0..rounds {
        let (p, f) = promise::<u8>();
        let calls = Arc::new(AtomicUsize::new(0));
        let t = thread::spawn(move || p.set_result(1));
        for _ in 0..3 {
            let c = calls.clone();
            f.add_done_callback(move || {
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
        t.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}

#[test]
fn exception_waits_and_does_not_take() {
    let (p, f) = promise::<u8>();
    let f = Arc::new(f);
    let f2 = f.clone();
    let t = thread::spawn(move || f2.exception());
    // Lets it wait first, most likely; if it comes after the error, it finds it at once.
    thread::sleep(SHORT);
    p.set_error(TaskError::Panicked("late".into()));
    assert_eq!(t.join().unwrap(), Some(TaskError::Panicked("late".into())));
    assert_eq!(
        f.exception()
            .and_then(|e| e.panic_message().map(str::to_owned))
            .as_deref(),
        Some("late")
    );

    let (p, f) = promise::<u8>();
    p.set_result(1);
    assert_eq!(f.exception(), None);
    assert_eq!(f.result(), Ok(1));

    let (_p, f) = promise::<u8>();
    f.cancel();
    assert_eq!(f.exception(), Some(TaskError::Cancelled));
}

#[test]
fn callback_may_register_callbacks_and_complete_other_futures() {
    // Callbacks run with no lock held: one may add a callback to its own (done) future, which
    // then runs at once, and complete another future whose callbacks run in turn.
    let (p1, f1) = promise::<u8>();
    let (p2, f2) = promise::<u8>();
    let f1 = Arc::new(f1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (f1c, o1, o2) = (f1.clone(), order.clone(), order.clone());
    f2.add_done_callback(move || o2.lock().unwrap().push("f2 done"));
    f1.add_done_callback(move || {
        let o = o1.clone();
        f1c.add_done_callback(move || o.lock().unwrap().push("nested"));
        o1.lock().unwrap().push("f1 done");
        p2.set_result(2);
    });
    p1.set_result(1);
    assert_eq!(*order.lock().unwrap(), ["nested", "f1 done", "f2 done"]);
    assert_eq!(f2.result(), Ok(2));
}
