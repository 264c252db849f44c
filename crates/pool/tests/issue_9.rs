//! Issue 9: a worker counts as idle only once its task and that task's done-callbacks are
//! over. A submit made while the only worker runs a callback starts a second worker (the pool
//! is below `max_workers`), so a callback that waits for that task does not wait forever.

use std::{sync::mpsc, thread, time::Duration};

use weft_futures::promise;
use weft_pool::ThreadPoolExecutor;

/// Long enough for any machine; only there to turn a hang into a failure.
const HANG: Duration = Duration::from_secs(60);

/// Runs `scenario` on its own thread and fails if it has not finished within [`HANG`]. On a
/// hang the stuck thread (and the pool it owns) is left behind: the test binary's exit ends it.
fn without_hanging(scenario: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        scenario();
        let _ = tx.send(());
    });
    match rx.recv_timeout(HANG) {
        Ok(()) => runner.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The scenario panicked: report its panic.
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the pool stalled (waited {HANG:?})"),
    }
}

#[test]
fn a_callback_waiting_for_a_task_submitted_from_another_thread_gets_a_second_worker() {
    without_hanging(|| {
        let pool = ThreadPoolExecutor::new(2);
        let (open, gate) = promise::<()>();
        let first = pool.submit(move || gate.wait());
        let (entered, callback_entered) = promise::<()>();
        let (later_ran, later_done) = promise::<u32>();
        let (callback_ran, callback_done) = promise::<u32>();
        first.add_done_callback(move || {
            entered.set_result(());
            // Waits for a task that is submitted while this callback runs.
            callback_ran.set_result(later_done.result().unwrap() + 1);
        });
        open.set_result(());
        callback_entered.wait();
        let later = pool.submit(move || later_ran.set_result(41));
        assert_eq!(callback_done.result(), Ok(42));
        assert_eq!(first.result(), Ok(()));
        assert_eq!(later.result(), Ok(()));
        assert_eq!(pool.num_workers(), 2);
    });
}

#[test]
fn every_worker_in_a_callback_each_gets_its_task_run() {
    // Three workers, each held in a callback that waits for a task submitted afterwards from
    // this thread: every such task needs a worker of its own, up to `max_workers`, and the
    // pool never starts more than that.
    without_hanging(|| {
        let pool = ThreadPoolExecutor::new(6);
        let mut waits = Vec::new();
        let mut gates = Vec::new();
        let mut entered = Vec::new();
        let mut releases = Vec::new();
        for _ in 0..3 {
            let (open, gate) = promise::<()>();
            let first = pool.submit(move || gate.wait());
            let (enter, in_callback) = promise::<()>();
            let (release, released) = promise::<()>();
            let (done, callback_done) = promise::<()>();
            first.add_done_callback(move || {
                enter.set_result(());
                released.wait();
                done.set_result(());
            });
            gates.push(open);
            entered.push(in_callback);
            releases.push(release);
            waits.push((first, callback_done));
        }
        for g in gates {
            g.set_result(());
        }
        for e in entered {
            e.wait();
        }
        // All three workers are inside callbacks now; each release runs on a new worker.
        let later: Vec<_> = releases
            .into_iter()
            .map(|r| pool.submit(move || r.set_result(())))
            .collect();
        for (first, callback_done) in waits {
            callback_done.wait();
            assert_eq!(first.result(), Ok(()));
        }
        for f in later {
            assert_eq!(f.result(), Ok(()));
        }
        assert!(pool.num_workers() <= 6);
    });
}

#[test]
fn an_idle_worker_is_still_reused_after_a_plain_result() {
    // The fix keeps Python's `test_idle_thread_reuse`: with no callbacks, the worker that
    // completed a future is reused by the next submit of the thread it woke.
    let pool = ThreadPoolExecutor::new(4);
    for i in 0..100 {
        assert_eq!(pool.submit(move || i * 2).result(), Ok(i * 2));
    }
    assert_eq!(pool.num_workers(), 1);
}
