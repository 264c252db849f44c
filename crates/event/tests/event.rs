//! `Event` through its public API, with real threads and real time.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use weft_event::Event;

/// Upper bound for "returns soon after": only a hang or a timeout that never fires exceeds it.
/// Under Miri, beside the other checks on a loaded machine, seconds pass between two steps of
/// one thread.
const SLACK: Duration = Duration::from_secs(30);

/// A timeout that no correct run reaches: a waiter given it is released by a `set`, however
/// slowly the setter gets there.
const LONG: Duration = Duration::from_secs(120);

/// Spins (sleeping) until `cond` holds; fails if it has not held after [`SLACK`].
fn eventually(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < SLACK, "condition never held");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn starts_clear_and_default_is_clear() {
    assert!(!Event::new().is_set());
    assert!(!Event::default().is_set());
}

#[test]
fn set_clear_is_set() {
    let ev = Event::new();
    ev.set();
    assert!(ev.is_set());
    ev.set();
    assert!(ev.is_set());
    ev.clear();
    assert!(!ev.is_set());
    ev.clear();
    assert!(!ev.is_set());
}

#[test]
fn wait_returns_at_once_when_set() {
    let ev = Event::new();
    ev.set();
    ev.wait();
    assert!(ev.wait_timeout(Duration::ZERO));
    assert!(ev.wait_timeout(Duration::from_secs(10)));
    assert!(ev.wait_timeout(Duration::MAX));
}

#[test]
fn zero_timeout_on_clear_event_is_false() {
    let ev = Event::new();
    assert!(!ev.wait_timeout(Duration::ZERO));
}

#[test]
fn timeout_never_early() {
    let ev = Event::new();
    for ms in [1u64, 10, 50, 100] {
        let d = Duration::from_millis(ms);
        let t = Instant::now();
        assert!(!ev.wait_timeout(d));
        let elapsed = t.elapsed();
        assert!(elapsed >= d, "returned after {elapsed:?}, before {d:?}");
        assert!(elapsed < d + SLACK, "returned late: {elapsed:?}");
    }
}

#[test]
fn timeout_never_early_with_many_waiters() {
    // CPython's test_timeout: N waiters each time out on their own.
    let ev = Arc::new(Event::new());
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let ev = Arc::clone(&ev);
            thread::spawn(move || {
                let t = Instant::now();
                let r = ev.wait_timeout(Duration::from_millis(100));
                (r, t.elapsed())
            })
        })
        .collect();
    for t in threads {
        let (r, elapsed) = t.join().unwrap();
        assert!(!r);
        assert!(elapsed >= Duration::from_millis(100), "early: {elapsed:?}");
    }
}

#[test]
fn set_from_another_thread_wakes_waiter() {
    let ev = Arc::new(Event::new());
    let before_set = Arc::new(AtomicUsize::new(0));
    let (e, b) = (Arc::clone(&ev), Arc::clone(&before_set));
    let t = thread::spawn(move || {
        e.wait();
        b.load(Ordering::SeqCst)
    });
    // Usually the waiter is parked by now; if the machine is slow and it is not, its wait
    // starts after the set and returns at once, still seeing the store: the test holds
    // either way.
    thread::sleep(Duration::from_millis(50));
    before_set.store(1, Ordering::SeqCst);
    ev.set();
    assert_eq!(t.join().unwrap(), 1, "the waiter returned before the set");
}

#[test]
fn timed_wait_woken_by_set_returns_true() {
    let ev = Arc::new(Event::new());
    let e = Arc::clone(&ev);
    let t = thread::spawn(move || e.wait_timeout(LONG));
    // Usually parked by now; a waiter that starts after the set returns true as well.
    thread::sleep(Duration::from_millis(20));
    ev.set();
    assert!(t.join().unwrap());
}

#[test]
fn duration_max_waits_forever_until_set() {
    let ev = Arc::new(Event::new());
    let e = Arc::clone(&ev);
    let returned = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&returned);
    let t = thread::spawn(move || {
        let got = e.wait_timeout(Duration::MAX);
        r.store(1, Ordering::SeqCst);
        got
    });
    // However far the waiter got meanwhile (if it has not even started, the check below
    // holds trivially), it must not have returned before the set.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        returned.load(Ordering::SeqCst),
        0,
        "Duration::MAX returned early"
    );
    ev.set();
    assert!(t.join().unwrap());
}

#[test]
fn set_wakes_every_waiter() {
    let ev = Arc::new(Event::new());
    let woke = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (ev, woke) = (Arc::clone(&ev), Arc::clone(&woke));
            thread::spawn(move || {
                if i % 2 == 0 {
                    ev.wait();
                } else {
                    assert!(ev.wait_timeout(LONG));
                }
                woke.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // Most are parked by now; any that are late find the flag up and return at once, so every
    // count below holds however many were parked at the set.
    thread::sleep(Duration::from_millis(50));
    assert_eq!(woke.load(Ordering::SeqCst), 0);
    ev.set();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(woke.load(Ordering::SeqCst), 8);
}

// `set_then_clear_still_releases_waiters` and `mixed_timeouts_and_set` are unit tests in
// src/event.rs: they must act only once waiters have queued, which they see there.

#[test]
fn cleared_event_blocks_again() {
    let ev = Arc::new(Event::new());
    ev.set();
    ev.clear();
    let t = Instant::now();
    assert!(!ev.wait_timeout(Duration::from_millis(30)));
    assert!(t.elapsed() >= Duration::from_millis(30));
}

#[test]
fn timed_out_waiter_does_not_steal_a_later_wake_up() {
    let ev = Arc::new(Event::new());
    // One waiter times out first.
    assert!(!ev.wait_timeout(Duration::from_millis(5)));
    // A second, untimed waiter must still be woken by the next set.
    let e = Arc::clone(&ev);
    let t = thread::spawn(move || e.wait());
    // Usually parked by now; a waiter that starts after the set returns at once.
    thread::sleep(Duration::from_millis(20));
    ev.set();
    t.join().unwrap();
}

#[test]
fn set_publishes_writes() {
    for _ in 0..100 {
        let ev = Arc::new(Event::new());
        let data = Arc::new(AtomicUsize::new(0));
        let (e, d) = (Arc::clone(&ev), Arc::clone(&data));
        let t = thread::spawn(move || {
            e.wait();
            d.load(Ordering::Relaxed)
        });
        data.store(42, Ordering::Relaxed);
        ev.set();
        assert_eq!(t.join().unwrap(), 42);
    }
}

#[test]
fn dropping_a_waiters_handle_while_it_waits() {
    // The event lives on in the other handle; the waiter is released by a set from a third.
    let ev = Arc::new(Event::new());
    let e = Arc::clone(&ev);
    let setter = Arc::clone(&ev);
    let t = thread::spawn(move || e.wait_timeout(LONG));
    // Usually parked by now; a waiter that starts after the set returns true as well.
    thread::sleep(Duration::from_millis(20));
    drop(ev);
    thread::spawn(move || setter.set()).join().unwrap();
    assert!(t.join().unwrap());
}

#[test]
fn debug_shows_the_flag() {
    let ev = Event::new();
    assert!(format!("{ev:?}").contains("is_set: false"));
    ev.set();
    assert!(format!("{ev:?}").contains("is_set: true"));
}

#[test]
#[cfg_attr(miri, ignore)]
fn ping_pong_stress() {
    // Two threads alternate through two events; every round trip must complete.
    let ping = Arc::new(Event::new());
    let pong = Arc::new(Event::new());
    const ROUNDS: usize = 5_000;
    let (p, q) = (Arc::clone(&ping), Arc::clone(&pong));
    let t = thread::spawn(move || {
        for _ in 0..ROUNDS {
            p.wait();
            p.clear();
            q.set();
        }
    });
    for _ in 0..ROUNDS {
        ping.set();
        pong.wait();
        pong.clear();
    }
    t.join().unwrap();
    assert!(!ping.is_set());
    assert!(!pong.is_set());
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_generations() {
    // A coordinator opens gate after gate; each of many workers passes every gate exactly once
    // and reports in. Invariant: nobody passes a gate before it opens, and nobody is lost.
    const WORKERS: usize = 8;
    const GATES: usize = 300;
    let gates: Arc<Vec<Event>> = Arc::new((0..GATES).map(|_| Event::new()).collect());
    let opened = Arc::new(AtomicUsize::new(0));
    let passed = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (gates, opened, passed) =
                (Arc::clone(&gates), Arc::clone(&opened), Arc::clone(&passed));
            thread::spawn(move || {
                for (g, gate) in gates.iter().enumerate() {
                    if (g + w) % 3 == 0 {
                        while !gate.wait_timeout(Duration::from_micros(50)) {}
                    } else {
                        gate.wait();
                    }
                    assert!(
                        opened.load(Ordering::SeqCst) > g,
                        "passed gate {g} before it opened"
                    );
                    passed.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for (g, gate) in gates.iter().enumerate() {
        // Wait until every worker passed the previous gate, so the next set finds some parked.
        eventually(|| passed.load(Ordering::SeqCst) >= g * WORKERS);
        opened.store(g + 1, Ordering::SeqCst);
        gate.set();
        if g % 2 == 0 {
            // Clearing once everyone is through must not disturb the next gates.
            eventually(|| passed.load(Ordering::SeqCst) >= (g + 1) * WORKERS);
            gate.clear();
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(passed.load(Ordering::SeqCst), WORKERS * GATES);
}
