//! `ThreadPoolExecutor` through its public API, on real threads.

use std::{
    collections::HashSet,
    sync::{Arc, Barrier, mpsc},
    thread,
    time::{Duration, Instant},
};

use weft_futures::{TaskError, as_completed};
use weft_pool::{BuildError, ThreadPoolExecutor};

/// A counter for tests (std atomics are banned from weft's own code, not from its tests).
#[allow(clippy::disallowed_types)]
type Counter = std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;

fn name() -> String {
    thread::current().name().unwrap_or("").to_owned()
}

/// Upper bound for "returns soon" and "arrives soon": only a hang or a timeout that never
/// fires exceeds it. Under Miri, beside the other checks on a loaded machine, seconds pass
/// between two steps of one thread.
const SLACK: Duration = Duration::from_secs(30);

/// How long a task holds its worker when a test checks that something does not wait for it:
/// longer than [`SLACK`], so that waiting for the task and a slow machine cannot be mistaken
/// for one another.
const LONG: Duration = Duration::from_secs(60);

/// A gate a task blocks on until the test opens it.
fn gate() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel::<()>();
    (tx, move || {
        let _ = rx.recv();
    })
}

/// A gate as [`gate`], that also opens by itself [`LONG`] after the task reaches it: a call
/// that wrongly waits for the task then fails the test instead of hanging it.
fn gate_at_most_long() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel::<()>();
    (tx, move || {
        let _ = rx.recv_timeout(LONG);
    })
}

#[test]
fn workers_start_lazily() {
    let pool = ThreadPoolExecutor::new(4);
    assert_eq!(pool.num_workers(), 0);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(pool.num_workers(), 0);
    pool.submit(|| ()).result().unwrap();
    assert_eq!(pool.num_workers(), 1);
}

#[test]
fn default_is_min_32_cores_plus_4() {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        ThreadPoolExecutor::default().max_workers(),
        (cores + 4).min(32)
    );
    assert_eq!(
        ThreadPoolExecutor::builder().build().unwrap().max_workers(),
        (cores + 4).min(32)
    );
}

#[test]
fn zero_workers_is_an_error() {
    let err = ThreadPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::ZeroWorkers);
    assert_eq!(err.to_string(), "max_workers must be greater than 0");
    let _: &dyn std::error::Error = &err;
}

#[test]
#[should_panic(expected = "max_workers must be greater than 0")]
fn new_zero_panics() {
    let _ = ThreadPoolExecutor::new(0);
}

#[test]
fn never_more_than_max_workers() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("bound")
        .build()
        .unwrap();
    // The first three tasks meet at a barrier: they can only pass it on three workers at
    // once, so every worker runs one of them however late its thread starts (with sleeps
    // alone, a worker slow to start on a loaded machine could find the queue already empty).
    let met = Arc::new(Barrier::new(3));
    let futures: Vec<_> = (0..24)
        .map(|i| {
            let met = met.clone();
            pool.submit(move || {
                if i < 3 {
                    met.wait();
                }
                thread::sleep(Duration::from_millis(5));
                name()
            })
        })
        .collect();
    assert!(pool.num_workers() <= 3);
    let names: HashSet<String> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for n in ["bound_0", "bound_1", "bound_2"] {
        assert!(names.contains(n), "{names:?}");
    }
    assert_eq!(pool.num_workers(), 3);
}

#[test]
fn default_thread_names_follow_python() {
    let pool = ThreadPoolExecutor::new(1);
    let n = pool.submit(name).result().unwrap();
    assert!(
        n.starts_with("ThreadPoolExecutor-") && n.ends_with("_0"),
        "{n}"
    );
}

#[test]
fn idle_worker_is_reused() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .thread_name_prefix("reuse")
        .build()
        .unwrap();
    for round in 0..10 {
        assert_eq!(pool.submit(name).result().unwrap(), "reuse_0");
        if round % 3 == 0 {
            // Long enough for the worker to stop spinning and park, most likely; a worker
            // still spinning is reused all the same, so a slow machine only skips the case.
            thread::sleep(Duration::from_millis(30));
        }
    }
    assert_eq!(pool.num_workers(), 1);
}

#[test]
fn busy_workers_cause_new_ones() {
    let pool = ThreadPoolExecutor::new(2);
    let (open, wait) = gate();
    let blocked = pool.submit(wait);
    while !blocked.running() {
        thread::yield_now();
    }
    // The only worker is busy: the next task gets a second thread.
    assert_eq!(
        pool.submit(name).result().unwrap().rsplit('_').next(),
        Some("1")
    );
    open.send(()).unwrap();
    blocked.result().unwrap();
}

#[test]
#[should_panic(expected = "cannot schedule new futures after shutdown")]
fn submit_after_shutdown_panics() {
    let pool = ThreadPoolExecutor::new(1);
    pool.shutdown(false, false);
    let _ = pool.submit(|| ());
}

#[test]
fn try_submit_after_shutdown_hands_the_job_back() {
    let pool = ThreadPoolExecutor::new(2);
    assert_eq!(pool.try_submit(|| 1).unwrap().result(), Ok(1));
    pool.shutdown(true, false);
    assert!(!pool.is_open());
    let s = String::from("kept");
    let rejected = pool.try_submit(move || s).unwrap_err();
    assert_eq!(
        rejected.to_string(),
        "cannot schedule new futures after shutdown or on a broken pool"
    );
    assert_eq!(format!("{rejected:?}"), "Rejected(..)");
    assert_eq!((rejected.into_inner())(), "kept");
}

#[test]
fn a_panic_fails_only_its_future() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("p")
        .build()
        .unwrap();
    let bad = pool.submit(|| -> u8 { panic!("boom") });
    let good = pool.submit(|| 7u8);
    assert_eq!(bad.result(), Err(TaskError::Panicked("boom".into())));
    assert_eq!(good.result(), Ok(7));
    let formatted = pool.submit(|| -> () { panic!("code {}", 42) });
    assert_eq!(
        formatted.result().unwrap_err().panic_message(),
        Some("code 42")
    );
    let any = pool.submit(|| std::panic::panic_any(5u32));
    assert_eq!(
        any.result().unwrap_err().panic_message(),
        Some("Box<dyn Any>")
    );
    // Still the same, living worker.
    assert_eq!(pool.submit(name).result().unwrap(), "p_0");
    assert_eq!(pool.num_workers(), 1);
}

#[test]
fn initializer_runs_once_per_worker_before_tasks() {
    let inits = Arc::new(Counter::new(0));
    let i = inits.clone();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(move || {
            i.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    let seen = inits.clone();
    assert!(pool.submit(move || seen.load(SeqCst)).result().unwrap() >= 1);
    // With one worker held, the next task runs on the second, which ran its initializer
    // first. (Left to timing, all the tasks below could run on the first worker of a slow
    // machine, and the second never start.)
    let (open, wait) = gate();
    let held = pool.submit(wait);
    while !held.running() {
        thread::yield_now();
    }
    let seen = inits.clone();
    assert_eq!(pool.submit(move || seen.load(SeqCst)).result(), Ok(2));
    open.send(()).unwrap();
    held.result().unwrap();
    let fs: Vec<_> = (0..20)
        .map(|_| pool.submit(|| thread::sleep(Duration::from_millis(2))))
        .collect();
    fs.into_iter().for_each(|f| f.result().unwrap());
    drop(pool);
    assert_eq!(inits.load(SeqCst), 2);
}

#[test]
fn initializer_panic_breaks_the_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("no database"))
        .build()
        .unwrap();
    // The first submit starts the first worker, so it is always accepted; later ones race
    // with the breakage: each is either rejected or fails with BrokenPool, never run.
    let mut futures = vec![pool.submit(|| 0)];
    futures.extend((1..5).filter_map(|i| pool.try_submit(move || i).ok()));
    for f in futures {
        match f.result() {
            Err(TaskError::BrokenPool(why)) => {
                assert!(why.contains("initializer panicked"), "{why}");
                assert!(why.contains("no database"), "{why}");
            }
            other => panic!("expected BrokenPool, got {other:?}"),
        }
    }
    assert!(!pool.is_open());
    assert_eq!((pool.try_submit(|| 9).unwrap_err().into_inner())(), 9);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.submit(|| 1)));
    let msg = caught.unwrap_err();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("broken") && msg.contains("initializer panicked"),
        "{msg}"
    );
    let start = Instant::now();
    drop(pool);
    assert!(start.elapsed() < SLACK, "dropping the broken pool hung");
}

#[test]
fn shutdown_wait_runs_every_queued_task() {
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(Counter::new(0));
    let futures: Vec<_> = (0..5)
        .map(|_| {
            let ran = ran.clone();
            pool.submit(move || {
                thread::sleep(Duration::from_millis(10));
                ran.fetch_add(1, SeqCst)
            })
        })
        .collect();
    pool.shutdown(true, false);
    assert_eq!(ran.load(SeqCst), 5);
    assert_eq!(pool.num_workers(), 0);
    assert!(futures.iter().all(|f| f.done() && !f.cancelled()));
    pool.shutdown(true, false); // harmless twice
}

#[test]
fn shutdown_cancel_futures_cancels_the_queue() {
    let pool = ThreadPoolExecutor::new(1);
    let (open, wait) = gate();
    let running = pool.submit(wait);
    while !running.running() {
        thread::yield_now();
    }
    let ran = Arc::new(Counter::new(0));
    let queued: Vec<_> = (0..10)
        .map(|_| {
            let ran = ran.clone();
            pool.submit(move || ran.fetch_add(1, SeqCst))
        })
        .collect();
    pool.shutdown(false, true);
    for f in &queued {
        assert!(f.cancelled() && f.done());
    }
    open.send(()).unwrap();
    pool.shutdown(true, false);
    assert_eq!(running.result(), Ok(()));
    assert_eq!(ran.load(SeqCst), 0);
    for f in queued {
        assert_eq!(f.result(), Err(TaskError::Cancelled));
    }
}

#[test]
fn shutdown_without_wait_returns_at_once() {
    let pool = ThreadPoolExecutor::new(1);
    // The running task holds the only worker until the gate opens below, or for `LONG` from a
    // moment after `start`: a shutdown that waited for it would take longer than `LONG`
    // (however slow the machine, a shutdown that does not wait takes less).
    let start = Instant::now();
    let (open, wait) = gate_at_most_long();
    let running = pool.submit(wait);
    let after = pool.submit(|| 5);
    pool.shutdown(false, false);
    let took = start.elapsed();
    assert!(
        took < LONG,
        "shutdown(wait = false) waited for the running task: {took:?}"
    );
    assert!(!running.done() && !after.done());
    open.send(()).unwrap();
    assert_eq!(after.result(), Ok(5));
    running.result().unwrap();
}

#[test]
fn cancelled_future_never_runs() {
    let pool = ThreadPoolExecutor::new(1);
    let (open, wait) = gate();
    let running = pool.submit(wait);
    let ran = Arc::new(Counter::new(0));
    let r = ran.clone();
    let f = pool.submit(move || r.fetch_add(1, SeqCst));
    assert!(f.cancel());
    open.send(()).unwrap();
    running.result().unwrap();
    drop(pool);
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(f.result(), Err(TaskError::Cancelled));
}

#[test]
fn shutdown_from_inside_a_task_does_not_deadlock() {
    for workers in [1, 2] {
        let pool = Arc::new(ThreadPoolExecutor::new(workers));
        let p = pool.clone();
        let f = pool.submit(move || {
            p.shutdown(true, false);
            "survived"
        });
        assert_eq!(f.result(), Ok("survived"));
        assert!(!pool.is_open());
        pool.shutdown(true, false);
        assert_eq!(pool.num_workers(), 0);
    }
}

#[test]
fn last_reference_dropped_inside_a_task() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let p = pool.clone();
    let (tx, rx) = mpsc::channel();
    pool.submit(move || {
        // Waits for the test to drop its reference (a sleep would not be enough on a loaded
        // machine: the test's drop, coming last, would run Drop on the test's thread).
        while Arc::strong_count(&p) > 1 {
            thread::yield_now();
        }
        drop(p); // the last reference: Drop runs on this worker
        tx.send("dropped").unwrap();
    });
    drop(pool);
    assert_eq!(rx.recv_timeout(SLACK), Ok("dropped"));
}

#[test]
fn drop_waits_for_every_task() {
    let ran = Arc::new(Counter::new(0));
    let futures = {
        let pool = ThreadPoolExecutor::new(2);
        (0..6)
            .map(|_| {
                let ran = ran.clone();
                pool.submit(move || {
                    thread::sleep(Duration::from_millis(10));
                    ran.fetch_add(1, SeqCst);
                })
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ran.load(SeqCst), 6);
    assert!(futures.iter().all(|f| f.done()));
}

#[test]
fn concurrent_shutdown_waiters_all_wait() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let ran = Arc::new(Counter::new(0));
    for _ in 0..4 {
        let ran = ran.clone();
        pool.submit(move || {
            thread::sleep(Duration::from_millis(30));
            ran.fetch_add(1, SeqCst);
        });
    }
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            let ran = ran.clone();
            thread::spawn(move || {
                pool.shutdown(true, false);
                ran.load(SeqCst)
            })
        })
        .collect();
    for w in waiters {
        assert_eq!(w.join().unwrap(), 4);
    }
}

#[test]
fn futures_work_with_as_completed() {
    // Three tasks on three workers complete in the order 10, 30, 60, not the order they were
    // submitted in. Each is held at a gate: the first gate opens only once `as_completed`
    // holds all three (it yields the futures already done in input order, so none may be done
    // before), each other one from the done-callback of the task before (a callback runs once
    // its future is done). Sleeps of 10, 30 and 60 ms would set that order only on a machine
    // that runs every thread on time.
    let pool = ThreadPoolExecutor::new(3);
    let (open_10, wait_10) = gate();
    let (open_30, wait_30) = gate();
    let (open_60, wait_60) = gate();
    let task = |n: u64, wait: Box<dyn FnOnce() + Send>| {
        pool.submit(move || {
            wait();
            n
        })
    };
    let f60 = task(60, Box::new(wait_60));
    let f10 = task(10, Box::new(wait_10));
    let f30 = task(30, Box::new(wait_30));
    f10.add_done_callback(move || open_30.send(()).unwrap());
    f30.add_done_callback(move || open_60.send(()).unwrap());
    let completed = as_completed(vec![f60, f10, f30]);
    open_10.send(()).unwrap();
    let order: Vec<u64> = completed.map(|f| f.result().unwrap()).collect();
    assert_eq!(order, [10, 30, 60]);
}

#[test]
fn every_accepted_task_ends_when_shutdown_races_submits() {
    for _ in 0..20 {
        let pool = Arc::new(ThreadPoolExecutor::new(2));
        let ran = Arc::new(Counter::new(0));
        let start = Arc::new(Barrier::new(3));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let (pool, ran, start) = (pool.clone(), ran.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let mut accepted = Vec::new();
                    let mut rejected = 0;
                    for _ in 0..500 {
                        let r = ran.clone();
                        match pool.try_submit(move || {
                            r.fetch_add(1, SeqCst);
                        }) {
                            Ok(f) => accepted.push(f),
                            Err(job) => {
                                // Handed back intact: calling it counts as a run of ours.
                                (job.into_inner())();
                                rejected += 1;
                            }
                        }
                    }
                    (accepted, rejected)
                })
            })
            .collect();
        start.wait();
        thread::sleep(Duration::from_micros(200));
        pool.shutdown(true, true);
        let (mut finished, mut cancelled, mut rejected) = (0, 0, 0);
        for s in submitters {
            let (accepted, r) = s.join().unwrap();
            rejected += r;
            for f in accepted {
                match f.result() {
                    Ok(()) => finished += 1,
                    Err(TaskError::Cancelled) => cancelled += 1,
                    Err(e) => panic!("accepted task ended with {e}"),
                }
            }
        }
        assert_eq!(finished + cancelled + rejected, 1000);
        assert_eq!(ran.load(SeqCst), finished + rejected);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_many_submitters() {
    let pool = Arc::new(ThreadPoolExecutor::new(3));
    let submitters: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = pool.clone();
            thread::spawn(move || {
                let fs: Vec<_> = (0..5_000u64)
                    .map(|i| pool.submit(move || t * 100_000 + i))
                    .collect();
                fs.into_iter().map(|f| f.result().unwrap()).sum::<u64>()
            })
        })
        .collect();
    let total: u64 = submitters.into_iter().map(|s| s.join().unwrap()).sum();
    let expect: u64 = (0..4u64)
        .map(|t| (0..5_000u64).map(|i| t * 100_000 + i).sum::<u64>())
        .sum();
    assert_eq!(total, expect);
    assert!(pool.num_workers() <= 3);
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_bursts_with_parking_in_between() {
    let pool = ThreadPoolExecutor::new(2);
    for round in 0..200u64 {
        let fs: Vec<_> = (0..(round % 7 + 1))
            .map(|i| pool.submit(move || i * round))
            .collect();
        let sum: u64 = fs.into_iter().map(|f| f.result().unwrap()).sum();
        assert_eq!(sum, (0..(round % 7 + 1)).sum::<u64>() * round);
        if round % 50 == 0 {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn a_panicking_drop_of_a_cancelled_task_does_not_kill_the_worker() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !thread::panicking() {
                panic!("bomb");
            }
        }
    }
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("b")
        .build()
        .unwrap();
    let (open, wait) = gate();
    let running = pool.submit(wait);
    let bomb = Bomb;
    let doomed = pool.submit(move || drop(bomb));
    assert!(doomed.cancel());
    open.send(()).unwrap();
    running.result().unwrap();
    assert_eq!(pool.submit(name).result().unwrap(), "b_0");
    drop(pool);
}

#[test]
fn saturation_starts_exactly_max_workers() {
    // CPython's test_saturation: 60 blocked tasks on a 4-worker pool use 4 threads.
    let pool = ThreadPoolExecutor::new(4);
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Arc::new(weft_sync::Mutex::new(rx));
    let futures: Vec<_> = (0..60)
        .map(|_| {
            let rx = rx.clone();
            pool.submit(move || {
                let _ = rx.lock().recv();
            })
        })
        .collect();
    assert_eq!(pool.num_workers(), 4);
    for _ in 0..60 {
        tx.send(()).unwrap();
    }
    futures.into_iter().for_each(|f| f.result().unwrap());
    assert_eq!(pool.num_workers(), 4);
}

#[test]
fn blocked_tasks_start_one_thread_each() {
    // CPython's test_threads_terminate: three blocked tasks, three threads, all joined.
    let pool = ThreadPoolExecutor::new(5);
    let barrier = Arc::new(Barrier::new(4));
    for _ in 0..3 {
        let b = barrier.clone();
        pool.submit(move || {
            b.wait();
        });
    }
    assert_eq!(pool.num_workers(), 3);
    barrier.wait();
    pool.shutdown(true, false);
    assert_eq!(pool.num_workers(), 0);
}

#[test]
fn idle_thread_reuse_after_each_result() {
    // CPython's test_idle_thread_reuse.
    let pool = ThreadPoolExecutor::default();
    assert_eq!(pool.submit(|| 21 * 2).result(), Ok(42));
    assert_eq!(pool.submit(|| 6 * 7).result(), Ok(42));
    assert_eq!(pool.submit(|| 3 * 14).result(), Ok(42));
    assert_eq!(pool.num_workers(), 1);
    pool.shutdown(true, false);
}

#[test]
fn a_task_and_its_captures_are_released_once_it_ran() {
    // CPython's test_free_reference: the pool keeps nothing of a finished task.
    let pool = ThreadPoolExecutor::new(2);
    let token = Arc::new(());
    let t = token.clone();
    pool.submit(move || drop(t)).result().unwrap();
    assert_eq!(Arc::strong_count(&token), 1);
    let t = token.clone();
    let f = pool.submit(move || Arc::strong_count(&t));
    assert!(f.result().unwrap() >= 2);
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn done_callback_may_submit_to_the_same_pool() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let (tx, rx) = mpsc::channel();
    let f = pool.submit(|| 1);
    let p = pool.clone();
    f.add_done_callback(move || {
        // Runs on the worker that completed `f` (or here, if it already had).
        let inner = p.submit(|| 2);
        tx.send(inner.result()).unwrap();
    });
    assert_eq!(rx.recv_timeout(SLACK), Ok(Ok(2)));
    assert_eq!(f.result(), Ok(1));
}

/// A worker woken in a burst may be pinned to one CPU for its wake-up (a placement hint, see
/// docs/pool.md); by the time it runs a task it has the CPU mask it started with again.
#[test]
fn woken_workers_run_tasks_with_the_mask_they_started_with() {
    use weft_sync::cpu;
    let mask = || cpu::mask_of(None).map(|m| m.iter().collect::<Vec<usize>>());
    // The workers start from this thread and inherit its mask.
    let start = mask();
    let pool = ThreadPoolExecutor::new(2);
    let (p, f) = weft_futures::promise::<()>();
    let first = pool.submit(move || f.result().is_ok());
    assert_eq!(pool.submit(move || p.set_result(())).result(), Ok(()));
    assert_eq!(first.result(), Ok(true));
    for round in 0..30 {
        // Both workers park; then two tasks back to back wake them, the second left to the
        // first worker, which pins it for its wake-up. (A worker that has not parked yet on a
        // slow machine takes its task unpinned: the masks must match all the same.)
        thread::sleep(Duration::from_millis(5));
        let a = pool.submit(mask);
        let b = pool.submit(mask);
        assert_eq!(a.result().as_ref(), Ok(&start), "round {round}");
        assert_eq!(b.result().as_ref(), Ok(&start), "round {round}");
    }
}
