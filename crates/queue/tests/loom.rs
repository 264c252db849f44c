//! loom models of the queue family: one invariant per model.
//!
//! Run exhaustively with
//! `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-queue --test loom --release`;
//! without `weft_loom` each model runs once on real threads.

use std::time::Duration;

use weft_queue::{GetError, PriorityQueue, Queue, ShutDown};
use weft_sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
    thread,
};

#[test]
fn two_producers_one_consumer_capacity_1_every_item_once() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::new(1));
        let producers: Vec<_> = [10, 20]
            .into_iter()
            .map(|item| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.put(item).unwrap())
            })
            .collect();
        let mut got: Vec<i32> = (0..2).map(|_| q.get().unwrap()).collect();
        for p in producers {
            p.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, vec![10, 20], "each item exactly once");
        assert!(q.is_empty());
    });
}

#[test]
fn one_producer_capacity_1_keeps_fifo_order() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::new(1));
        let p = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                q.put(1).unwrap();
                q.put(2).unwrap();
            })
        };
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Ok(2));
        p.join().unwrap();
    });
}

#[test]
fn blocked_putter_is_woken_by_get() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::new(1));
        q.put(1).unwrap();
        let p = {
            let q = Arc::clone(&q);
            // Blocks while full, unless the get below came first.
            thread::spawn(move || q.put(2).unwrap())
        };
        assert_eq!(q.get(), Ok(1));
        // A lost wake-up would leave the putter asleep: loom reports the deadlock.
        p.join().unwrap();
        assert_eq!(q.try_get(), Ok(2));
    });
}

#[test]
fn blocked_getter_is_woken_by_put() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::new(1));
        let g = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get().unwrap())
        };
        q.put(7).unwrap();
        assert_eq!(g.join().unwrap(), 7);
        assert!(q.is_empty());
    });
}

#[test]
fn timed_out_getter_never_swallows_a_wake_up() {
    weft_sync::model_with_preemptions(2, || {
        let q = Arc::new(Queue::new(1));
        let timed = {
            let q = Arc::clone(&q);
            // Under loom: yields once, then times out unless woken.
            thread::spawn(move || q.get_timeout(Duration::from_secs(1)))
        };
        let untimed = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get())
        };
        q.put(1).unwrap();
        match timed.join().unwrap() {
            Ok(1) => {
                // The timed getter took the item: release the other one.
                q.put(2).unwrap();
                assert_eq!(untimed.join().unwrap(), Ok(2));
            }
            Err(GetError::Empty) => {
                // The item must reach the untimed getter (a deadlock report here would mean
                // the wake-up died with the timed-out waiter).
                assert_eq!(untimed.join().unwrap(), Ok(1));
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn timed_out_putter_never_loses_its_item() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::new(1));
        q.put(1).unwrap();
        let p = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put_timeout(2, Duration::from_secs(1)))
        };
        assert_eq!(q.get(), Ok(1));
        match p.join().unwrap() {
            Ok(()) => assert_eq!(q.try_get(), Ok(2)),
            Err(e) => {
                assert_eq!(e.into_inner(), 2, "the item comes back");
                assert!(q.is_empty());
            }
        }
    });
}

#[test]
fn join_returns_only_after_every_task_done() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::new(0));
        let done = Arc::new(AtomicBool::new(false));
        q.put(1).unwrap();
        let w = {
            let (q, done) = (Arc::clone(&q), Arc::clone(&done));
            thread::spawn(move || {
                q.get().unwrap();
                done.store(true, Ordering::Relaxed);
                q.task_done().unwrap();
            })
        };
        q.join();
        // join synchronises with the last task_done: the work before it is visible.
        assert!(done.load(Ordering::Relaxed));
        assert!(q.task_done().is_err(), "task_done past zero is an error");
        w.join().unwrap();
    });
}

#[test]
fn shutdown_races_blocked_put_and_get_nothing_lost() {
    weft_sync::model_with_preemptions(2, || {
        let q = Arc::new(Queue::new(1));
        let putter = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                // The second put blocks while the first item is queued.
                let a = q.put(1);
                let b = q.put(2);
                [a, b]
            })
        };
        let getter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get())
        };
        q.shutdown(false);
        // Nobody may stay blocked: a deadlock report would mean a missed shutdown wake-up.
        let puts = putter.join().unwrap();
        let got = getter.join().unwrap();
        let mut accepted: Vec<i32> = Vec::new();
        for (r, item) in puts.into_iter().zip([1, 2]) {
            match r {
                Ok(()) => accepted.push(item),
                Err(ShutDown(back)) => assert_eq!(back, item, "item handed back"),
            }
        }
        let mut out: Vec<i32> = got.into_iter().collect();
        while let Ok(x) = q.try_get() {
            out.push(x);
        }
        assert_eq!(
            out, accepted,
            "every accepted item comes out, in order, once"
        );
        assert_eq!(q.get(), Err(ShutDown(())));
    });
}

#[test]
fn shutdown_immediate_releases_join_and_drops_items() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::new(0));
        q.put(1).unwrap();
        let j = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.join())
        };
        q.shutdown(true);
        j.join().unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.is_empty());
    });
}

#[test]
fn priority_queue_orders_concurrent_puts() {
    weft_sync::model(|| {
        let q = Arc::new(PriorityQueue::new(2));
        let a = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(3).unwrap())
        };
        let b = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(1).unwrap())
        };
        // Concurrent with the puts: the first get sees one or both items, and takes the least.
        let first = q.get().unwrap();
        a.join().unwrap();
        b.join().unwrap();
        let second = q.get().unwrap();
        assert!(
            first == 1 || second == 1,
            "1 comes out first once both are in"
        );
        if first == 3 {
            assert_eq!(second, 1);
        } else {
            assert_eq!(second, 3);
        }
        assert!(q.is_empty());
    });
}

// The unbounded FIFO (`Queue::unbounded`, `SimpleQueue`): the two-lock segmented list, with
// two items per segment under loom so that these models cross segment boundaries.

#[test]
fn unbounded_items_cross_segments_once_in_order() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::unbounded());
        let p = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 1..=3 {
                    q.put(i).unwrap();
                }
            })
        };
        let got: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
        p.join().unwrap();
        assert_eq!(got, vec![1, 2, 3]);
        assert!(q.is_empty());
    });
}

#[test]
fn unbounded_blocked_getter_is_woken_by_put() {
    weft_sync::model(|| {
        let q = Arc::new(weft_queue::SimpleQueue::new());
        let g = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get())
        };
        q.put(7);
        assert_eq!(g.join().unwrap(), 7);
    });
}

#[test]
fn unbounded_timed_out_getter_never_swallows_a_wake_up() {
    weft_sync::model_with_preemptions(2, || {
        let q = Arc::new(Queue::unbounded());
        let timed = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get_timeout(Duration::from_secs(1)))
        };
        let untimed = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get())
        };
        q.put(1).unwrap();
        match timed.join().unwrap() {
            Ok(1) => {
                q.put(2).unwrap();
                assert_eq!(untimed.join().unwrap(), Ok(2));
            }
            Err(GetError::Empty) => assert_eq!(untimed.join().unwrap(), Ok(1)),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn unbounded_shutdown_races_get_and_put_nothing_lost() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::unbounded());
        let getter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get())
        };
        let putter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(5))
        };
        q.shutdown(false);
        let got = getter.join().unwrap();
        let put = putter.join().unwrap();
        match (put, got) {
            (Ok(()), Ok(5)) => {}
            (Ok(()), Err(ShutDown(()))) => assert_eq!(q.try_get(), Ok(5), "accepted item kept"),
            (Err(ShutDown(5)), Err(ShutDown(()))) => assert!(q.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn unbounded_join_waits_for_task_done() {
    weft_sync::model(|| {
        let q = Arc::new(Queue::unbounded());
        let done = Arc::new(AtomicBool::new(false));
        let w = {
            let (q, done) = (Arc::clone(&q), Arc::clone(&done));
            thread::spawn(move || {
                q.put(1).unwrap();
                q.get().unwrap();
                done.store(true, Ordering::Relaxed);
                q.task_done().unwrap();
            })
        };
        q.join();
        // join may run before the put (nothing outstanding yet): only check once it is done.
        w.join().unwrap();
        q.join();
        assert!(done.load(Ordering::Relaxed));
        assert!(q.task_done().is_err());
    });
}
