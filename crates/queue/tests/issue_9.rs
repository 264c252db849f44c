//! Regression tests for the bounded `Queue`'s in-flight slots (issue 9), on real threads.
//!
//! A push claims its slot and then writes the item; a pop claims its slot and then reads it
//! out. Large items (2 MiB) widen those windows past a woken thread's re-check, and many rounds with the threads released
//! together by a barrier make it likely that one side finds the other's step under way. Each
//! test checks that every item arrives and that every thread returns; a hang is turned into a
//! failure by a generous deadline on the whole round (never a timing assertion). Where the
//! scenario needs threads parked first, the test pauses briefly to let them park: that only
//! makes the race likely, it decides nothing.

/// Long enough for idle threads to stop spinning and park.
const SETTLE: Duration = Duration::from_millis(1);

use std::{
    sync::{Arc, Barrier, mpsc},
    thread,
    time::{Duration, Instant},
};

use weft_queue::{GetError, Queue, ShutDown};

/// A 2 MiB item: writing it into a slot (or reading it out) takes long enough for a woken
/// thread to meet the slot claimed but not yet published (or not yet released).
#[derive(Clone, Copy)]
struct Big {
    id: u64,
    _pad: [u64; PAD],
}

const PAD: usize = 262_143;

fn big(id: u64) -> Big {
    Big {
        id,
        _pad: [id; PAD],
    }
}

/// An 8 MiB item, for a publish that takes a few milliseconds of page faults.
struct Huge {
    id: u64,
    _pad: [u64; HUGE_PAD],
}

const HUGE_PAD: usize = (1 << 20) - 1;

fn huge(id: u64) -> Huge {
    Huge {
        id,
        _pad: [id; HUGE_PAD],
    }
}

/// A thread with room on its stack for a few `Big`s in transit.
fn spawn<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> thread::JoinHandle<R> {
    thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(f)
        .expect("spawn")
}

/// How long a round may take before it counts as hung: far beyond any real round, also under
/// Miri beside the other checks on a loaded machine (where seconds pass between two steps of
/// one thread).
const HANG: Duration = Duration::from_secs(60);

fn rounds() -> u64 {
    // Each round maps and faults in fresh megabytes: a debug build gets fewer rounds (the
    // defects showed within the first 50 rounds on the old ring, in release). ThreadSanitizer
    // (`cargo xtask tsan`) shadows every byte each item's copy touches, about half a second a
    // round: it checks the slots' accesses for races, which a few rounds exercise, while the
    // plain debug and release runs hunt for the hang.
    if cfg!(miri) {
        3
    } else if cfg!(weft_tsan) {
        8
    } else if cfg!(debug_assertions) {
        60
    } else {
        300
    }
}

/// Runs `f` on a thread and waits at most `HANG` for it: a hang becomes a failure.
fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    spawn(move || {
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
    spawn(two_parked_getters_receive_both_items_of_two_concurrent_puts_body)
        .join()
        .unwrap();
}

fn two_parked_getters_receive_both_items_of_two_concurrent_puts_body() {
    for r in 0..rounds() {
        let q = Arc::new(Queue::<Big>::new(2));
        // One item through, so that the next two puts land in a slot never touched before
        // (its pages fault in as the item is written: a slow publish) and in a warm one (a
        // fast publish). Whichever push claims first gets the cold slot.
        q.put(big(u64::MAX)).unwrap_or_else(|_| panic!("shut down"));
        assert!(q.try_get().is_ok());
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                spawn(move || q.get().map(|b| b.id).ok())
            })
            .collect();
        let start = Arc::new(Barrier::new(2));
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let (q, start) = (Arc::clone(&q), Arc::clone(&start));
                spawn(move || {
                    let item = big(p);
                    start.wait();
                    q.put(item).is_ok()
                })
            })
            .collect();
        // The getters are parked (most likely) when both puts start together.
        thread::sleep(SETTLE);
        let got = within("getters after two puts", move || {
            for p in producers {
                assert!(p.join().unwrap(), "shut down");
            }
            let got: Vec<Option<u64>> = getters.into_iter().map(|g| g.join().unwrap()).collect();
            got
        });
        let mut got: Vec<u64> = got.into_iter().map(|g| g.expect("shut down")).collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1], "round {r}: each item to one getter");
    }
}

/// The mirror image: capacity 2, full, two putters parked, two gets at once: both putters get
/// in. (The old ring left a putter asleep while a slot was free: woken for the slot one get
/// released, it found the slot it needed still being read by the other get, and parked again.)
#[test]
fn two_parked_putters_get_in_after_two_concurrent_gets() {
    spawn(two_parked_putters_get_in_after_two_concurrent_gets_body)
        .join()
        .unwrap();
}

fn two_parked_putters_get_in_after_two_concurrent_gets_body() {
    for r in 0..rounds() {
        let q = Arc::new(Queue::<Big>::new(2));
        q.put(big(0)).unwrap_or_else(|_| panic!("shut down"));
        q.put(big(1)).unwrap_or_else(|_| panic!("shut down"));
        // Both putters find the queue full (and park, most likely).
        let putters: Vec<_> = [2, 3]
            .into_iter()
            .map(|id| {
                let q = Arc::clone(&q);
                spawn(move || q.put(big(id)).is_ok())
            })
            .collect();
        thread::sleep(SETTLE);
        let start = Arc::new(Barrier::new(2));
        let getters: Vec<_> = (0..2)
            .map(|g| {
                let (q, start) = (Arc::clone(&q), Arc::clone(&start));
                spawn(move || {
                    if g == 0 {
                        // Touch this thread's stack where the item will land: its read is fast,
                        // the other getter's (page faults on a fresh stack) slow. Whichever
                        // claims first, one pop is still reading when the other released.
                        std::hint::black_box(big(9));
                    }
                    start.wait();
                    q.get().map(|b| b.id).ok()
                })
            })
            .collect();
        let mut got: Vec<u64> = within("putters after two gets", move || {
            let got: Vec<Option<u64>> = getters.into_iter().map(|g| g.join().unwrap()).collect();
            for p in putters {
                assert!(p.join().unwrap(), "shut down");
            }
            got
        })
        .into_iter()
        .map(|g: Option<u64>| g.expect("shut down"))
        .collect();
        while let Ok(b) = q.try_get() {
            got.push(b.id);
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3], "round {r}: every item once");
    }
}

/// `shutdown(false)` racing a put while two getters are parked: every getter returns, and an
/// accepted item reaches exactly one of them. (On the old ring the getters woken by the
/// shutdown saw "shut down, but an item on its way" and parked again; the put woke one, and the
/// other never heard `ShutDown`.)
#[test]
fn shutdown_with_a_put_in_flight_releases_every_getter() {
    spawn(shutdown_with_a_put_in_flight_releases_every_getter_body)
        .join()
        .unwrap();
}

fn shutdown_with_a_put_in_flight_releases_every_getter_body() {
    for r in 0..rounds() / 2 {
        let q = Arc::new(Queue::<Huge>::new(2));
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                spawn(move || q.get().map(|b| b.id))
            })
            .collect();
        thread::sleep(SETTLE);
        let start = Arc::new(Barrier::new(2));
        let producer = {
            let (q, start) = (Arc::clone(&q), Arc::clone(&start));
            spawn(move || {
                let item = huge(r);
                start.wait();
                q.put(item).is_ok()
            })
        };
        start.wait();
        // Land the shutdown at a different point of the put in each round (before its claim,
        // while it writes the item, after it published).
        let until = Instant::now() + Duration::from_micros(r % 40 * 100);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
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
    spawn(immediate_shutdown_with_puts_in_flight_leaves_nothing_behind_body)
        .join()
        .unwrap();
}

fn immediate_shutdown_with_puts_in_flight_leaves_nothing_behind_body() {
    for r in 0..rounds() {
        let q = Arc::new(Queue::<Big>::new(4));
        let start = Arc::new(Barrier::new(3));
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let (q, start) = (Arc::clone(&q), Arc::clone(&start));
                spawn(move || {
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
