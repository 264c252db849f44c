//! `ThreadPoolExecutor::map` / `map_with`: order, laziness, bounds, panics, endless input.

use std::{cell::Cell, rc::Rc, sync::Arc, thread, time::Duration};

use weft_futures::{MapOptions, TaskError};
use weft_pool::ThreadPoolExecutor;

#[allow(clippy::disallowed_types)]
type Counter = std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;

/// A timeout that only a hang reaches: under Miri, beside the other checks on a loaded
/// machine, seconds pass between two steps of one thread.
const SLACK: Duration = Duration::from_secs(30);

/// An input that counts how many items were pulled; `Rc` makes it `!Send` on purpose: items
/// are pulled on the caller's thread.
fn counting(n: impl Iterator<Item = u64>) -> (Rc<Cell<usize>>, impl Iterator<Item = u64>) {
    let pulled = Rc::new(Cell::new(0));
    let p = pulled.clone();
    (pulled, n.inspect(move |_| p.set(p.get() + 1)))
}

/// How many callers are inside [`Peak::during`] at once, at most: proof of items running side by
/// side, without timing anything.
#[derive(Default)]
struct Peak {
    now: Counter,
    most: Counter,
}

impl Peak {
    fn during<R>(&self, f: impl FnOnce() -> R) -> R {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        let r = f();
        self.now.fetch_sub(1, SeqCst);
        r
    }

    fn most(&self) -> usize {
        self.most.load(SeqCst)
    }
}

#[test]
fn results_come_in_input_order() {
    let pool = ThreadPoolExecutor::new(4);
    let out: Vec<u64> = pool
        .map(
            |ms: u64| {
                thread::sleep(Duration::from_millis(ms));
                ms
            },
            [50, 40, 30, 20, 10, 0],
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, [50, 40, 30, 20, 10, 0]);
}

#[test]
fn runs_on_the_workers() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("mapper")
        .build()
        .unwrap();
    for name in pool.map(|_: u8| thread::current().name().unwrap().to_owned(), 0..10) {
        assert!(name.unwrap().starts_with("mapper_"));
    }
}

#[test]
fn empty_input() {
    let pool = ThreadPoolExecutor::new(2);
    assert_eq!(pool.map(|x: u8| x, []).count(), 0);
    assert_eq!(
        pool.map_with(|x: u8| x, [], MapOptions::default().chunksize(3))
            .count(),
        0
    );
}

#[test]
fn buffersize_bounds_the_items_pulled_ahead() {
    let pool = ThreadPoolExecutor::new(2);
    let (pulled, items) = counting(0..);
    let mut it = pool.map_with(|x| x * 2, items, MapOptions::default().buffersize(3));
    // Python submits the first `buffersize` tasks at once.
    assert_eq!(pulled.get(), 3);
    for taken in 1..=200usize {
        assert_eq!(it.next(), Some(Ok(2 * (taken as u64 - 1))));
        assert!(
            pulled.get() <= taken + 3 + 1,
            "pulled {} after taking {taken}",
            pulled.get()
        );
    }
}

#[test]
fn buffersize_counts_chunks() {
    let pool = ThreadPoolExecutor::new(2);
    let (pulled, items) = counting(0..);
    let mut it = pool.map_with(
        |x| x,
        items,
        MapOptions::default().buffersize(2).chunksize(5),
    );
    assert_eq!(pulled.get(), 10);
    for taken in 1..=100usize {
        assert!(it.next().unwrap().is_ok());
        assert!(pulled.get() <= taken + 2 * 5 + 1);
    }
}

#[test]
fn default_map_submits_two_tasks_per_worker_at_first() {
    let pool = ThreadPoolExecutor::new(3);
    let (pulled, items) = counting(0..);
    let it = pool.map(|x| x, items);
    assert_eq!(pulled.get(), 6);
    drop(it);
    // Python's test_map_buffersize_when_buffer_is_full: an unconsumed map pulls no more.
    pool.shutdown(true, false);
    assert_eq!(pulled.get(), 6);
}

#[test]
fn default_map_stays_bounded_on_an_endless_input() {
    let pool = ThreadPoolExecutor::new(2);
    let (pulled, items) = counting(0..);
    let mut it = pool.map(|x| x + 1, items);
    for taken in 1..=300_000usize {
        assert_eq!(it.next(), Some(Ok(taken as u64)));
        // Adaptive batches: at most 2 × max_workers batches of at most 8192 items (64 KiB of
        // 8-byte items).
        assert!(pulled.get() <= taken + 4 * 8192 + 1);
    }
}

#[test]
fn endless_input_in_constant_memory() {
    let pool = ThreadPoolExecutor::new(2);
    let sum: u64 = pool
        .map(|x: u64| x % 7, 0..)
        .take(500_000)
        .map(Result::unwrap)
        .sum();
    assert_eq!(sum, (0..500_000u64).map(|x| x % 7).sum());
    let firsts: Vec<u64> = pool
        .map_with(|x: u64| x * 3, 0.., MapOptions::default().buffersize(1))
        .take(5)
        .map(Result::unwrap)
        .collect();
    assert_eq!(firsts, [0, 3, 6, 9, 12]);
}

#[test]
fn a_panic_fails_its_item_alone() {
    let pool = ThreadPoolExecutor::new(2);
    let f = |x: u32| {
        if x % 10 == 3 {
            panic!("bad item {x}");
        }
        x
    };
    for opts in [
        MapOptions::default(),
        MapOptions::default().chunksize(4),
        MapOptions::default().buffersize(2),
    ] {
        let out: Vec<_> = pool.map_with(f, 0..40, opts).collect();
        assert_eq!(out.len(), 40);
        for (x, r) in (0..40).zip(out) {
            if x % 10 == 3 {
                assert_eq!(r, Err(TaskError::Panicked(format!("bad item {x}"))));
            } else {
                assert_eq!(r, Ok(x));
            }
        }
    }
}

/// A batch runs its items in one tight loop under one `catch_unwind`, entered again after a
/// panic (issue 12): panics at a batch's first and last items, several in a row, and many per
/// batch each fail their own item, and every other item keeps its value, in order, whether the
/// batches are adaptive (large here: the items are cheap) or of a fixed `chunksize`.
#[test]
fn panics_anywhere_in_a_big_batch_fail_their_items_alone() {
    let pool = ThreadPoolExecutor::new(2);
    let bad = |x: u64| matches!(x % 1000, 0 | 1 | 2 | 511 | 999) || x == 29_999;
    let f = move |x: u64| {
        if bad(x) {
            panic!("bad item {x}");
        }
        x * 3
    };
    for opts in [
        MapOptions::default(),
        MapOptions::default().chunksize(1000),
        MapOptions::default().chunksize(333),
    ] {
        let out: Vec<_> = pool.map_with(f, 0..30_000, opts).collect();
        assert_eq!(out.len(), 30_000);
        for (x, r) in (0..30_000u64).zip(out) {
            if bad(x) {
                assert_eq!(r, Err(TaskError::Panicked(format!("bad item {x}"))));
            } else {
                assert_eq!(r, Ok(x * 3));
            }
        }
    }
}

/// An item type large enough to cap the adaptive batches below their largest size, and results
/// that own memory: every result comes back once, in order.
#[test]
fn large_items_and_owned_results_come_back_in_order() {
    let pool = ThreadPoolExecutor::new(2);
    let out: Vec<String> = pool
        .map(
            |a: [u64; 64]| a[0].to_string(),
            (0..20_000u64).map(|i| [i; 64]),
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(out.len(), 20_000);
    assert!(out.iter().enumerate().all(|(i, s)| *s == i.to_string()));
}

#[test]
fn chunks_give_every_item_its_result() {
    let pool = ThreadPoolExecutor::new(3);
    let out: Vec<u64> = pool
        .map_with(|x: u64| x * x, 0..1000, MapOptions::default().chunksize(7))
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..1000u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn dropping_the_iterator_cancels_what_has_not_started() {
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(Counter::new(0));
    let r = ran.clone();
    // Every item after the first holds the only worker until the iterator is dropped, so
    // that none but the second can have started by then. (Items that slept 20 ms each let a
    // third one start legitimately whenever this thread was late to drop the iterator.)
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = dropped.clone();
    let mut it = pool.map_with(
        move |x: u32| {
            while x > 0 && !d.load(SeqCst) {
                thread::yield_now();
            }
            r.fetch_add(1, SeqCst);
        },
        0..100,
        MapOptions::default().buffersize(10),
    );
    assert!(it.next().unwrap().is_ok());
    drop(it);
    dropped.store(true, SeqCst);
    pool.shutdown(true, false);
    // The first item, and at most the one running when the iterator was dropped.
    assert!(ran.load(SeqCst) <= 2, "{}", ran.load(SeqCst));
}

#[test]
fn map_after_shutdown_yields_one_error_and_ends() {
    let pool = ThreadPoolExecutor::new(1);
    pool.shutdown(true, false);
    let out: Vec<_> = pool
        .map_with(|x: u8| x, 0..10, MapOptions::default().buffersize(1))
        .collect();
    assert_eq!(out, [Err(TaskError::Cancelled)]);
}

#[test]
fn broken_pool_map_reports_broken() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| panic!("init"))
        .build()
        .unwrap();
    let out: Vec<_> = pool.map(|x: u8| x, 0..3).collect();
    assert!(!out.is_empty());
    assert!(
        out.iter()
            .all(|r| matches!(r, Err(TaskError::BrokenPool(_)))),
        "{out:?}"
    );
}

#[test]
fn slow_items_keep_one_item_per_task() {
    // Items that take milliseconds must spread over the workers, not be batched together.
    let pool = ThreadPoolExecutor::new(4);
    let peak = Arc::new(Peak::default());
    let p = peak.clone();
    let names: Vec<String> = pool
        .map(
            move |_: u8| {
                p.during(|| thread::sleep(Duration::from_millis(250)));
                thread::current().name().unwrap().to_owned()
            },
            0..8,
        )
        .map(Result::unwrap)
        .collect();
    let distinct: std::collections::HashSet<_> = names.iter().collect();
    assert!(distinct.len() >= 3, "{names:?}");
    // One item per task: items side by side on several workers (batched, they would run one
    // after another on one).
    assert!(peak.most() >= 2, "the items ran one at a time");
}

#[test]
fn map_overhead_sanity() {
    let pool = ThreadPoolExecutor::new(2);
    let sum: u64 = pool
        .map(|x: u64| x * 2, 0..1_000_000)
        .map(Result::unwrap)
        .sum();
    assert_eq!(sum, 999_999 * 1_000_000);
}

#[test]
fn an_unstarted_map_cancels_what_it_submitted_when_dropped() {
    // Python runs the tasks of a `map` generator that was never started
    // (CPython's test_map_submits_without_iteration); weft's `Map` cancels them, started or
    // not: dropping the iterator abandons the whole call, the same on every executor.
    let pool = ThreadPoolExecutor::new(1);
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let blocker = pool.submit(move || gate.recv().unwrap());
    while !blocker.running() {
        thread::yield_now();
    }
    let ran = Arc::new(Counter::new(0));
    let r = ran.clone();
    let it = pool.map_with(
        move |_: u32| {
            r.fetch_add(1, SeqCst);
        },
        0..10,
        MapOptions::default().buffersize(10),
    );
    drop(it);
    release.send(()).unwrap();
    pool.shutdown(true, false);
    assert_eq!(blocker.result(), Ok(()));
    assert_eq!(ran.load(SeqCst), 0);
}

#[test]
fn an_item_waiting_for_a_later_item_of_its_batch_is_helped() {
    // In Python every item of `map` is a task of its own: an item may wait for a later one,
    // given a second worker. Here the eight items share one batch; the second worker, brought
    // in when the batch starts, claims the later items while the first item waits.
    if thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: one CPU (a helper is brought in only while a CPU may be free)");
        return;
    }
    #[allow(clippy::disallowed_types)]
    let (tx, rx) = {
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        (std::sync::Mutex::new(tx), std::sync::Mutex::new(rx))
    };
    let pool = ThreadPoolExecutor::new(2);
    let out: Vec<bool> = pool
        .map_with(
            move |x: u32| {
                if x == 0 {
                    rx.lock().unwrap().recv_timeout(SLACK).is_ok()
                } else {
                    tx.lock().unwrap().send(x).is_ok()
                }
            },
            0..8,
            MapOptions::default().chunksize(8).buffersize(1),
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, [true; 8]);
}

#[test]
fn panics_in_a_helped_batch_fail_their_items_alone() {
    // Items slow enough that the helpers claim parts of each batch; every seventh panics.
    let pool = ThreadPoolExecutor::new(4);
    for _ in 0..5 {
        let out: Vec<Result<u64, TaskError>> = pool
            .map_with(
                |x: u64| {
                    thread::sleep(Duration::from_micros(200));
                    assert!(x % 7 != 3, "item {x}");
                    x
                },
                0..200,
                MapOptions::default().chunksize(50).buffersize(2),
            )
            .collect();
        assert_eq!(out.len(), 200);
        for (x, r) in (0..200u64).zip(&out) {
            if x % 7 == 3 {
                assert_eq!(r, &Err(TaskError::Panicked(format!("item {x}"))));
            } else {
                assert_eq!(r, &Ok(x));
            }
        }
    }
}

#[test]
fn items_that_turn_slow_split_their_batch() {
    // Cheap items grow the adaptive batches to thousands of items; the slow ones that follow
    // must still spread over the workers instead of running one after another in one batch.
    let pool = ThreadPoolExecutor::new(4);
    let peak = Arc::new(Peak::default());
    let p = peak.clone();
    let out: Vec<u64> = pool
        .map(
            move |x: u64| {
                if x >= 50_000 {
                    p.during(|| thread::sleep(Duration::from_millis(400)));
                }
                x
            },
            0..50_008,
        )
        .map(Result::unwrap)
        .collect();
    assert!(out.iter().copied().eq(0..50_008));
    // The eight slow items are claimed together; once the caller has waited 50 ms for them,
    // the runner stops after its current one and the rest spread over the idle workers.
    assert!(peak.most() >= 2, "the slow items ran one after another");
}

/// A gate items pass one permit at a time, counting the items waiting at it.
#[allow(clippy::disallowed_types)]
#[derive(Default)]
struct Turnstile {
    state: std::sync::Mutex<(usize, usize, bool)>, // (permits, waiting, open for good)
    changed: std::sync::Condvar,
}

impl Turnstile {
    fn pass(&self) {
        let mut st = self.state.lock().unwrap();
        st.1 += 1;
        self.changed.notify_all();
        while st.0 == 0 && !st.2 {
            st = self.changed.wait(st).unwrap();
        }
        if !st.2 {
            st.0 -= 1;
        }
        st.1 -= 1;
        self.changed.notify_all();
    }

    fn wait_for_waiting(&self, n: usize) {
        let mut st = self.state.lock().unwrap();
        while st.1 < n {
            st = self.changed.wait(st).unwrap();
        }
    }

    fn let_through(&self, n: usize) {
        self.state.lock().unwrap().0 += n;
        self.changed.notify_all();
    }

    fn open(&self) {
        self.state.lock().unwrap().2 = true;
        self.changed.notify_all();
    }
}

/// A shutdown that cancels the pieces of a split batch while they are queued: both workers are
/// held in items that turned slow, the caller waits past its patience (so the batches in flight
/// are asked to split), each worker is let through one item (it splits the rest of its claim
/// into pieces at the front of the queue, takes one and is held again), and the pool shuts
/// down with `cancel_futures`. Every item must come back once, in order: its value if it ran,
/// `Cancelled` if it never did, and the map must end.
fn shutdown_meets_queued_pieces() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = Arc::new(Turnstile::default());
    let slow = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ran = Arc::new(Counter::new(0));
    let (done, results) = std::sync::mpsc::channel();
    {
        let (pool, g, turned, r) = (pool.clone(), gate.clone(), slow.clone(), ran.clone());
        thread::spawn(move || {
            let mut out = Vec::new();
            for res in pool.map(
                move |x: u64| {
                    if turned.load(SeqCst) {
                        g.pass();
                    }
                    r.fetch_add(1, SeqCst);
                    x
                },
                0..400_000,
            ) {
                out.push(res);
                if out.len() == 30_000 {
                    slow.store(true, SeqCst);
                }
            }
            done.send(out).unwrap();
        });
    }
    gate.wait_for_waiting(2);
    // The caller waits for its oldest batch 50 ms before it asks the batches to split.
    thread::sleep(Duration::from_millis(300));
    gate.let_through(2);
    gate.wait_for_waiting(2);
    pool.shutdown(false, true);
    gate.open();
    let results = results
        .recv_timeout(Duration::from_secs(60))
        .expect("the map never ended: a cancelled piece left its batch incomplete");
    // Every item answered once, in order: a value if it ran, `Cancelled` if it never did.
    let mut ok = 0;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(x) => {
                assert_eq!(*x, i as u64);
                ok += 1;
            }
            Err(TaskError::Cancelled) => {}
            Err(e) => panic!("item {i}: {e}"),
        }
    }
    assert_eq!(
        ran.load(SeqCst),
        ok,
        "an item ran without its value, or twice"
    );
    // The cancelled items: the queued pieces and batches, and the batches the map submitted
    // after the shutdown.
    assert!(results.iter().any(Result::is_err));
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_shutdown_cancels_the_queued_pieces_of_a_split_batch() {
    // Where the shutdown falls among the pieces varies from try to try.
    for _ in 0..3 {
        shutdown_meets_queued_pieces();
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_map_racing_shutdown_with_cancel() {
    for round in 0..20u64 {
        let pool = Arc::new(ThreadPoolExecutor::new(2));
        let ran = Arc::new(Counter::new(0));
        let r = ran.clone();
        let p = pool.clone();
        let stopper = thread::spawn(move || {
            thread::sleep(Duration::from_micros(100 * round));
            p.shutdown(false, true);
        });
        let mut ok = 0;
        let mut cancelled = 0;
        for res in pool.map(
            move |x: u64| {
                r.fetch_add(1, SeqCst);
                x
            },
            0..200_000,
        ) {
            match res {
                Ok(_) => ok += 1,
                Err(TaskError::Cancelled) => cancelled += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        stopper.join().unwrap();
        pool.shutdown(true, false);
        // Every item that came back Ok ran exactly once; none ran without coming back
        // (a cancelled batch never starts); pulling stopped at the shutdown.
        assert_eq!(ran.load(SeqCst), ok, "round {round}");
        assert!(ok + cancelled <= 200_000);
    }
}

#[test]
fn a_huge_max_workers_does_not_overflow_the_default_buffer() {
    let pool = ThreadPoolExecutor::new(usize::MAX);
    let out: Vec<u8> = pool.map(|x: u8| x, 0..3).map(Result::unwrap).collect();
    assert_eq!(out, [0, 1, 2]);
}
