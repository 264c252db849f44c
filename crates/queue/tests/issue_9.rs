//! Regression tests for the bounded `Queue`'s in-flight slots (issue 9), on real threads.
//!
//! A push claims its slot and then writes the item; a pop claims its slot and then reads it
//! out. Large items (16 KiB) widen those windows, and many rounds with the threads released
//! together by a barrier make it likely that one side finds the other's step under way. Each
//! test checks that every item arrives and that every thread returns; a hang is turned into a
//! failure by a generous deadline on the whole round (never a timing assertion).

use std::{
    sync::{Arc, Barrier, mpsc},
    thread,
    time::Duration,
};

use weft_queue::{GetError, Queue, ShutDown};

/// A 16 KiB item: writing it into a slot (or reading it out) takes long enough for another
/// thread to meet the slot claimed but not yet published (or not yet released).
#[derive(Clone, Copy)]
struct Big {
    id: u64,
    _pad: [u64; 2047],
}

fn big(id: u64) -> Big {
    Big {
        id,
        _pad: [id; 2047],
    }
}

/// How long a round may take before it counts as hung: far beyond any real round.
const HANG: Duration = Duration::from_secs(20);

fn rounds() -> u64 {
    if cfg!(miri) { 5 } else { 1500 }
}

/// Runs `f` on a thread and waits at most `HANG` for it: a hang becomes a failure.
fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what}: a thread is still blocked after {HANG:?}"))
}

/// Capacity 2, two getters parked, two producers putting at once: every item reaches a getter.
/// (The old ring stranded the second item while a getter slept: that getter was woken for it,
/// found the first slot claimed but unpublished, and parked again; the first item's wake-up
/// went to the other getter.)
#[test]
fn two_parked_getters_receive_both_items_of_two_concurrent_puts() {
    let q = Arc::new(Queue::<Big>::new(2));
    let (tx, rx) = mpsc::channel::<u64>();
    let getters: Vec<_> = (0..2)
        .map(|_| {
            let (q, tx) = (Arc::clone(&q), tx.clone());
            thread::spawn(move || {
                while let Ok(item) = q.get() {
                    tx.send(item.id).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let start = Arc::new(Barrier::new(3));
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let (q, start) = (Arc::clone(&q), Arc::clone(&start));
            thread::spawn(move || {
                for r in 0..rounds() {
                    start.wait();
                    q.put(big(2 * r + p)).unwrap_or_else(|_| panic!("shut down"));
                }
            })
        })
        .collect();
    for r in 0..rounds() {
        // The getters are idle (parked, most likely) when both puts start together.
        start.wait();
        let mut got = [
            rx.recv_timeout(HANG)
                .unwrap_or_else(|_| panic!("round {r}: the first item never arrived")),
            rx.recv_timeout(HANG)
                .unwrap_or_else(|_| panic!("round {r}: an item stranded while a getter sleeps")),
        ];
        got.sort_unstable();
        assert_eq!(got, [2 * r, 2 * r + 1], "round {r}");
    }
    for p in producers {
        p.join().unwrap();
    }
    q.shutdown(false);
    for g in getters {
        g.join().unwrap();
    }
}

/// The mirror image: capacity 2, full, two putters parked, two gets at once: both putters get
/// in. (The old ring left a putter asleep while a slot was free.)
#[test]
fn two_parked_putters_get_in_after_two_concurrent_gets() {
    let n = rounds();
    let q = Arc::new(Queue::<Big>::new(2));
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..n {
                    q.put(big(2 * i + p)).unwrap_or_else(|_| panic!("shut down"));
                }
            })
        })
        .collect();
    let start = Arc::new(Barrier::new(2));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (q, start) = (Arc::clone(&q), Arc::clone(&start));
            thread::spawn(move || {
                let mut ids = Vec::new();
                for _ in 0..n {
                    // Both gets start together, while the putters wait on a full queue.
                    start.wait();
                    ids.push(q.get().unwrap_or_else(|_| panic!("shut down")).id);
                }
                ids
            })
        })
        .collect();
    let mut all = within("putters and getters", move || {
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        all.sort_unstable();
        all
    });
    all.dedup();
    assert_eq!(all, (0..2 * n).collect::<Vec<_>>(), "every item once");
}

/// `shutdown(false)` racing a put while two getters are parked: every getter returns, and an
/// accepted item reaches exactly one of them. (On the old ring the getters woken by the
/// shutdown saw "shut down, but an item on its way" and parked again; the put woke one, and the
/// other never heard `ShutDown`.)
#[test]
fn shutdown_with_a_put_in_flight_releases_every_getter() {
    for r in 0..rounds() {
        let q = Arc::new(Queue::<Big>::new(2));
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get().map(|b| b.id))
            })
            .collect();
        let start = Arc::new(Barrier::new(2));
        let producer = {
            let (q, start) = (Arc::clone(&q), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                q.put(big(r)).is_ok()
            })
        };
        start.wait();
        q.shutdown(false);
        let (accepted, got) = within("getters after shutdown", move || {
            let accepted = producer.join().unwrap();
            let got: Vec<Result<u64, ShutDown>> =
                getters.into_iter().map(|g| g.join().unwrap()).collect();
            (accepted, got)
        });
        let items: Vec<u64> = got.iter().filter_map(|g| g.ok()).collect();
        assert_eq!(items, if accepted { vec![r] } else { vec![] }, "round {r}");
        assert_eq!(q.try_get().err(), Some(GetError::ShutDown), "round {r}");
    }
}

/// `shutdown(true)` racing two puts: once it returns nothing is queued, nothing arrives later,
/// the unfinished count is zero and `join` returns. (The old ring's drain stopped at the first
/// slot still being written: the items after it survived, `try_get` returned one, and `join`
/// hung.)
#[test]
fn immediate_shutdown_with_puts_in_flight_leaves_nothing_behind() {
    for r in 0..rounds() {
        let q = Arc::new(Queue::<Big>::new(4));
        let start = Arc::new(Barrier::new(3));
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let (q, start) = (Arc::clone(&q), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let _ = q.put(big(2 * r + p));
                    let _ = q.put(big(2 * r + p + 100));
                })
            })
            .collect();
        start.wait();
        q.shutdown(true);
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(
            q.try_get().err(),
            Some(GetError::ShutDown),
            "round {r}: an item survived an immediate shutdown"
        );
        assert_eq!(q.unfinished_tasks(), 0, "round {r}");
        let j = Arc::clone(&q);
        within("join after an immediate shutdown", move || j.join());
    }
}
