//! loom models: one per invariant. Under `--cfg weft_loom` each explores every interleaving
//! (bounded by `LOOM_MAX_PREEMPTIONS`); in a plain `cargo test` each runs once on real threads.

use weft_futures::{TaskError, Timeout, as_completed, as_completed_timeout, promise, wait};
use weft_sync::{
    Arc, Outcomes,
    atomic::{AtomicUsize, Ordering},
    thread,
    waitq::Leaves,
};

/// Complete and cancel race: exactly one wins, the callback runs once and sees the final state.
#[test]
fn complete_vs_cancel_exactly_one_wins() {
    weft_sync::model(|| {
        let (p, f) = promise::<u32>();
        let f = Arc::new(f);
        let calls = Arc::new(AtomicUsize::new(0));
        {
            let (f2, calls) = (f.clone(), calls.clone());
            f.add_done_callback(move || {
                // The callback sees a final state: done, and cancelled iff cancel won.
                assert!(f2.done());
                calls.fetch_add(if f2.cancelled() { 10 } else { 1 }, Ordering::Relaxed);
            });
        }
        let completer = thread::spawn(move || {
            if p.set_running() {
                p.set_result(7);
                true
            } else {
                false
            }
        });
        let cancelled = f.cancel();
        let completed = completer.join().unwrap();
        assert_ne!(
            cancelled, completed,
            "exactly one of complete and cancel wins"
        );
        assert_eq!(
            calls.load(Ordering::Relaxed),
            if cancelled { 10 } else { 1 }
        );
        let f = Arc::try_unwrap(f).unwrap();
        match f.result() {
            Ok(v) => assert!(completed && v == 7),
            Err(e) => assert!(cancelled && e == TaskError::Cancelled),
        }
    });
}

/// A blocked `result()` racing the completion is always woken, and sees the value.
#[test]
fn result_waiter_vs_completion_no_lost_wakeup() {
    weft_sync::model(|| {
        let (p, f) = promise::<u32>();
        let t = thread::spawn(move || p.set_result(5));
        assert_eq!(f.result(), Ok(5));
        t.join().unwrap();
    });
}

/// A timed wait racing the completion: if it reports "not done", the completion had not
/// happened-before; if the wake is taken at the moment of the timeout, it is not lost.
#[test]
fn timed_wait_vs_completion() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["done in time", "timed out"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let (p, f) = promise::<u32>();
        let t = thread::spawn(move || p.set_result(5));
        let done = f.wait_timeout(std::time::Duration::from_secs(1));
        t.join().unwrap();
        o.saw(if done { "done in time" } else { "timed out" });
        if done {
            assert!(f.done());
        }
        // Either way a second (untimed) wait finds it done.
        assert_eq!(f.result(), Ok(5));
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// A promise dropped while a waiter blocks completes the future with `Abandoned`.
#[test]
fn promise_drop_vs_waiter() {
    weft_sync::model(|| {
        let (p, f) = promise::<u32>();
        let t = thread::spawn(move || drop(p));
        assert_eq!(f.result(), Err(TaskError::Abandoned));
        t.join().unwrap();
    });
}

/// Two futures completed on two threads while `as_completed` iterates: both exactly once.
#[test]
fn as_completed_two_concurrent_completions() {
    weft_sync::model(|| {
        let (p1, f1) = promise::<u32>();
        let (p2, f2) = promise::<u32>();
        let t1 = thread::spawn(move || p1.set_result(1));
        let t2 = thread::spawn(move || p2.set_result(2));
        let mut sum = 0;
        let mut n = 0;
        for f in as_completed(vec![f1, f2]) {
            sum += f.result().unwrap();
            n += 1;
        }
        assert_eq!((n, sum), (2, 3));
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

/// `as_completed_timeout` racing a completion: the future is yielded, or a `Timeout` comes and
/// `into_pending` hands it back; never lost, never twice.
#[test]
fn as_completed_timeout_vs_completion() {
    let leaves = Leaves::so_far();
    let outcomes = Outcomes::new(&["yielded", "timed out"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let (p, f) = promise::<u32>();
        let t = thread::spawn(move || {
            // A step before the completion. Under loom a timed wait yields, and a thread that
            // yielded runs again only after another thread took a step: with the completion's
            // push as this thread's next step, the iterator could never time out before it
            // (`Outcomes` found that).
            thread::yield_now();
            p.set_result(1);
        });
        let mut it = as_completed_timeout(vec![f], std::time::Duration::from_secs(1));
        match it.next().unwrap() {
            Ok(f) => {
                o.saw("yielded");
                assert_eq!(f.result(), Ok(1));
                assert!(it.next().is_none());
                assert!(it.into_pending().is_empty());
            }
            Err(Timeout) => {
                o.saw("timed out");
                assert!(it.next().is_none());
                let mut rest = it.into_pending();
                assert_eq!(rest.len(), 1);
                t.join().unwrap();
                assert_eq!(rest.pop().unwrap().result(), Ok(1));
                return;
            }
        }
        t.join().unwrap();
    });
    outcomes.check();
    leaves.assert_received_since();
}

/// An `as_completed` iterator dropped (unhooking its futures) while a future completes: the
/// hook is taken by exactly one side, nothing is touched concurrently, nothing leaks.
#[test]
fn as_completed_drop_vs_completion() {
    let outcomes = Outcomes::new(&["the first yielded", "a timeout first"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let (p1, f1) = promise::<u32>();
        let (p2, f2) = promise::<u32>();
        let t = thread::spawn(move || {
            // A step before the completion, as in `as_completed_timeout_vs_completion`.
            thread::yield_now();
            p1.set_result(1);
            drop(p2);
        });
        let mut it = as_completed_timeout(vec![f1, f2], std::time::Duration::from_secs(1));
        let first = it.next();
        let pending = it.into_pending();
        t.join().unwrap();
        let yielded = usize::from(matches!(first, Some(Ok(_))));
        o.saw(if yielded == 1 {
            "the first yielded"
        } else {
            "a timeout first"
        });
        assert_eq!(yielded + pending.len(), 2);
        for f in pending {
            assert!(f.done());
        }
    });
    outcomes.check();
}

/// A future cancelled (by its executor, through the promise) while `as_completed` iterates, and
/// another completed: both yielded once; the cancelled one reads `Cancelled`.
#[test]
fn cancel_vs_as_completed() {
    weft_sync::model(|| {
        let (p1, f1) = promise::<u32>();
        let (p2, f2) = promise::<u32>();
        let t = thread::spawn(move || {
            assert!(p1.cancel());
            p2.set_result(2);
        });
        let mut results: Vec<_> = as_completed(vec![f1, f2]).map(|f| f.result()).collect();
        results.sort_by_key(|r| r.is_ok());
        assert_eq!(results, [Err(TaskError::Cancelled), Ok(2)]);
        t.join().unwrap();
    });
}

/// `wait(FirstCompleted)` with one future completing concurrently and one never: returns with
/// exactly the completed one done.
#[test]
fn wait_first_completed_vs_completion() {
    weft_sync::model(|| {
        let (p1, f1) = promise::<u32>();
        let (_p2, f2) = promise::<u32>();
        let t = thread::spawn(move || p1.set_result(1));
        let w = wait(vec![f1, f2], None, weft_futures::ReturnWhen::FirstCompleted);
        assert_eq!((w.done.len(), w.not_done.len()), (1, 1));
        t.join().unwrap();
    });
}

/// A done-callback registered while the future completes runs exactly once.
#[test]
fn callback_registered_concurrently_runs_once() {
    weft_sync::model(|| {
        let (p, f) = promise::<u32>();
        let calls = Arc::new(AtomicUsize::new(0));
        let t = thread::spawn(move || p.set_result(1));
        let c = calls.clone();
        f.add_done_callback(move || {
            c.fetch_add(1, Ordering::Relaxed);
        });
        t.join().unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    });
}

/// Awaiting (the `async` feature's waker path) racing the completion is always woken.
#[cfg(feature = "async")]
#[test]
fn async_waker_vs_completion() {
    weft_sync::model(|| {
        let (p, f) = promise::<u32>();
        let t = thread::spawn(move || p.set_result(9));
        assert_eq!(
            weft_sync::block_on(std::future::IntoFuture::into_future(f)),
            Ok(9)
        );
        t.join().unwrap();
    });
}

/// A thread with a timed wait and a task awaiting one future, in the same waiting queue, racing
/// its completion: the task always completes; the thread reports "done" exactly when the future
/// is done by then, and a "not done" leaves it waiting in nobody's way.
#[cfg(feature = "async")]
#[test]
fn thread_and_task_wait_one_future_vs_completion() {
    let outcomes = Outcomes::new(&["the thread saw it done", "the thread timed out"]);
    let o = outcomes.clone();
    weft_sync::model(move || {
        let (p, f) = promise::<u32>();
        let f = Arc::new(f);
        let waiter = {
            let f = f.clone();
            thread::spawn(move || {
                let done = f.wait_timeout(std::time::Duration::from_secs(1));
                // `true` means done; `false` is only ever a timeout, never a lost completion:
                // an untimed wait afterwards still returns.
                if done {
                    assert!(f.done());
                }
                f.wait();
                done
            })
        };
        let completer = thread::spawn(move || p.set_result(4));
        weft_sync::block_on(f.wait_async());
        assert!(f.done());
        let done = waiter.join().unwrap();
        o.saw(if done {
            "the thread saw it done"
        } else {
            "the thread timed out"
        });
        completer.join().unwrap();
        let f = Arc::try_unwrap(f).unwrap();
        assert_eq!(f.result(), Ok(4));
    });
    outcomes.check();
}

/// A task's wait is dropped (cancelled) while the completion runs and a thread waits untimed on
/// the same future: whether the drop leaves the queue before the completion or after its token
/// was delivered, the thread is still woken and the queue is left consistent.
#[cfg(feature = "async")]
#[test]
fn dropped_task_wait_vs_completion_and_thread() {
    let leaves = Leaves::so_far();
    use std::{
        future::Future as _,
        pin::pin,
        task::{Context, Waker},
    };
    weft_sync::model(|| {
        let (p, f) = promise::<u32>();
        let f = Arc::new(f);
        let waiter = {
            let f = f.clone();
            thread::spawn(move || {
                f.wait();
                assert!(f.done());
            })
        };
        let completer = thread::spawn(move || p.set_result(6));
        {
            // Register the task (one poll), then drop its wait: a cancelled `select!` arm.
            let mut wait = pin!(f.wait_async());
            let mut cx = Context::from_waker(Waker::noop());
            let _ = wait.as_mut().poll(&mut cx);
        }
        completer.join().unwrap();
        waiter.join().unwrap();
        // A later task wait finds the future done at once.
        weft_sync::block_on(f.wait_async());
        let f = Arc::try_unwrap(f).unwrap();
        assert_eq!(f.result(), Ok(6));
    });
    leaves.assert_received_since();
}

/// An awaiting task dropped (its `ResultFuture` with it) racing the completion, while a second
/// task waits on the future through `wait_async`: the second task is woken either way.
#[cfg(feature = "async")]
#[test]
fn dropped_result_future_vs_completion() {
    use std::{
        future::{Future as _, IntoFuture},
        pin::pin,
        task::{Context, Waker},
    };
    weft_sync::model(|| {
        let (p, f) = promise::<u32>();
        let (p2, f2) = promise::<u32>();
        let completer = thread::spawn(move || {
            p.set_result(1);
            p2.set_result(2);
        });
        {
            let mut awaiting = pin!(f.into_future());
            let mut cx = Context::from_waker(Waker::noop());
            if let std::task::Poll::Ready(r) = awaiting.as_mut().poll(&mut cx) {
                assert_eq!(r, Ok(1));
            }
        }
        assert_eq!(weft_sync::block_on(f2.into_future()), Ok(2));
        completer.join().unwrap();
    });
}

/// `Map` over an executor whose one worker races the map being dropped after its first result:
/// the task consumed ran, and the one still in flight either ran or was cancelled by the drop,
/// exactly once (never both, never neither); nothing past the buffer was submitted.
#[test]
fn map_drop_vs_worker_settles_every_task_once() {
    use std::collections::VecDeque;
    use weft_futures::{Map, MapOptions, MapSubmit, Promise, Submitted};
    use weft_sync::Mutex;

    type Queue = Arc<Mutex<VecDeque<(u32, Promise<u32>)>>>;

    struct OneWorker(Queue);

    impl MapSubmit<u32, u32> for OneWorker {
        fn submit(&mut self, mut items: Vec<u32>) -> Submitted<u32, u32> {
            let (p, f) = promise();
            self.0.lock().push_back((items.pop().unwrap(), p));
            Submitted::One(f)
        }
    }

    weft_sync::model(|| {
        let queue: Queue = Arc::new(Mutex::new(VecDeque::new()));
        let mut map = Map::new(
            OneWorker(queue.clone()),
            0..3u32,
            MapOptions::default().buffersize(2),
            1,
        );
        assert_eq!(
            queue.lock().len(),
            2,
            "the first buffer is submitted at once"
        );
        let dropped = Arc::new(weft_sync::atomic::AtomicBool::new(false));
        let worker = {
            let (queue, dropped) = (queue.clone(), dropped.clone());
            thread::spawn(move || {
                let mut ran = Vec::new();
                for _ in 0..2 {
                    let (x, p) = queue.lock().pop_front().unwrap();
                    // Acquire: pairs with the Release store after the drop.
                    let after_drop = dropped.load(Ordering::Acquire);
                    if p.set_running() {
                        assert!(!after_drop, "a task of a dropped map started");
                        p.set_result(x * 10);
                        ran.push(x);
                    }
                }
                ran
            })
        };
        assert_eq!(map.next(), Some(Ok(0)));
        drop(map);
        dropped.store(true, Ordering::Release);
        let ran = worker.join().unwrap();
        assert!(ran == [0] || ran == [0, 1], "ran {ran:?}");
        assert!(
            queue.lock().is_empty(),
            "nothing past the buffer was submitted"
        );
    });
}
