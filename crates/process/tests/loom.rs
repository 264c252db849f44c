//! loom models of the pool's parent-side bookkeeping (`src/schedule.rs`, included here as is) over
//! a mocked transport: threads stand for the dispatcher (dispatch, replies), the zygote's death
//! reports, submitters, cancelling callers and `shutdown`. loom cannot fork; everything that
//! crosses a fork is tested in `tests/process.rs`.
//!
//! Each mock task keeps the state word of a real future (pending → running, or pending →
//! cancelled, each once) and counts how often it was completed. Invariants:
//! * every task is completed exactly once: by its reply, by its worker's death, by a
//!   cancellation, or by a broken pool (never twice, never dropped unanswered);
//! * exactly one replacement is requested per worker that goes away, and none once the pool
//!   is shut down with nothing queued, or broken.
#![allow(dead_code)]

#[path = "../src/schedule.rs"]
mod schedule;

use schedule::{Job, Phase, Schedule};
use weft_sync::{
    Arc, Mutex,
    atomic::{AtomicU8, AtomicUsize, Ordering},
    thread,
};

const PENDING: u8 = 0;
const RUNNING: u8 = 1;
const CANCELLED: u8 = 2;

/// A future's state word and a completion counter, shared by the mock task and the test.
#[derive(Default)]
struct Probe {
    state: AtomicU8,
    completions: AtomicUsize,
}

impl Probe {
    /// `Future::cancel`: pending → cancelled completes the future.
    fn cancel(&self) -> bool {
        let ok = self
            .state
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if ok {
            self.completions.fetch_add(1, Ordering::AcqRel);
        }
        ok
    }
}

struct Task(Arc<Probe>);

impl Job for Task {
    fn start(&mut self) -> bool {
        match self
            .0
            .state
            .compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(s) => s == RUNNING,
        }
    }
}

impl Task {
    /// Completes the future (with a result or an error): a no-op if it was cancelled first,
    /// exactly as `Promise::set_result` on a cancelled future.
    fn complete(self) {
        if self.0.state.load(Ordering::Acquire) != CANCELLED {
            self.0.completions.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// What the executor does with a task `shutdown(cancel_futures)` or a broken pool hands
    /// back: cancel it if still pending, else fail it.
    fn cancel_or_fail(self) {
        if !self.0.cancel() {
            self.complete();
        }
    }
}

fn probes(n: usize) -> Vec<Arc<Probe>> {
    (0..n).map(|_| Arc::new(Probe::default())).collect()
}

fn assert_each_once(probes: &[Arc<Probe>]) {
    for (i, p) in probes.iter().enumerate() {
        assert_eq!(
            p.completions.load(Ordering::Acquire),
            1,
            "task {i} completed a wrong number of times"
        );
    }
}

/// Spawns whatever is owed, then dispatches and answers everything until the pool is quiet.
/// Returns how many spawns were requested.
fn drive_to_quiescence(book: &Mutex<Schedule<Task>>) -> usize {
    let mut spawns = 0;
    loop {
        let mut b = book.lock();
        for w in b.take_spawns() {
            spawns += 1;
            assert!(b.spawned(w) || matches!(b.phase(), Phase::Broken(_)));
        }
        if let Some((w, _)) = b.next() {
            let (t, _) = b.finished(w, false).expect("a dispatched task");
            drop(b);
            t.complete();
            continue;
        }
        if b.is_quiescent() {
            return spawns;
        }
        assert!(
            b.owes_spawns() || b.can_dispatch(),
            "stuck: work left but nothing to do"
        );
    }
}

fn running_book(workers: usize, max_tasks: Option<u64>) -> Schedule<Task> {
    running_book_with_depth(workers, 1, max_tasks)
}

fn running_book_with_depth(workers: usize, depth: usize, max_tasks: Option<u64>) -> Schedule<Task> {
    let mut b = Schedule::new(workers, depth, false, max_tasks);
    for w in b.take_spawns() {
        assert!(b.spawned(w));
    }
    b
}

#[test]
fn every_task_completes_once_dispatch_vs_cancel_vs_death() {
    weft_sync::model(|| {
        let ps = probes(2);
        let book = Arc::new(Mutex::new(running_book(1, None)));
        for p in &ps {
            assert!(book.lock().submit(Task(p.clone())).is_ok());
        }
        let deaths = Arc::new(AtomicUsize::new(0));

        // The dispatcher: hand out a task, then deliver the worker's reply.
        let d = {
            let book = book.clone();
            thread::spawn(move || {
                let w = book.lock().next().map(|(w, _)| w);
                if let Some(w) = w {
                    let done = book.lock().finished(w, false);
                    if let Some((t, _)) = done {
                        t.complete();
                    }
                }
            })
        };
        // A caller cancels the second task.
        let c = {
            let p = ps[1].clone();
            thread::spawn(move || {
                p.cancel();
            })
        };
        // The zygote reports the worker dead.
        let z = {
            let book = book.clone();
            let deaths = deaths.clone();
            thread::spawn(move || {
                let failed = book.lock().died(0, "was killed");
                deaths.fetch_add(1, Ordering::AcqRel);
                for t in failed {
                    t.complete();
                }
            })
        };
        d.join().unwrap();
        c.join().unwrap();
        z.join().unwrap();

        book.lock().shutdown(false);
        let spawns = drive_to_quiescence(&book);
        assert_each_once(&ps);
        // One death: one replacement at most (none if the queue was already empty).
        assert!(spawns <= deaths.load(Ordering::Acquire));
    });
}

#[test]
fn one_replacement_per_death_retire_vs_death_vs_bad_frame() {
    weft_sync::model(|| {
        let ps = probes(1);
        let book = Arc::new(Mutex::new(running_book(1, Some(1))));
        assert!(book.lock().submit(Task(ps[0].clone())).is_ok());
        let w = book.lock().next().map(|(w, _)| w).unwrap();
        let spawned = Arc::new(AtomicUsize::new(0));

        // The worker answers its last task (max_tasks_per_child = 1): it retires.
        let a = {
            let book = book.clone();
            thread::spawn(move || {
                let done = book.lock().finished(w, false);
                if let Some((t, retire)) = done {
                    assert!(retire);
                    t.complete();
                }
            })
        };
        // The zygote reports it dead.
        let b = {
            let book = book.clone();
            thread::spawn(move || {
                let failed = book.lock().died(w, "was killed");
                for t in failed {
                    t.complete();
                }
            })
        };
        // The dispatcher finds its stream broken and retires it.
        let c = {
            let book = book.clone();
            let spawned = spawned.clone();
            thread::spawn(move || {
                let (failed, n) = {
                    let mut b = book.lock();
                    let failed = b.retire(w);
                    (failed, b.take_spawns().len())
                };
                spawned.fetch_add(n, Ordering::AcqRel);
                for t in failed {
                    t.complete();
                }
            })
        };
        a.join().unwrap();
        b.join().unwrap();
        c.join().unwrap();
        let n = book.lock().take_spawns().len();
        assert_eq!(
            spawned.load(Ordering::Acquire) + n,
            1,
            "one worker went away: one replacement"
        );
        assert_each_once(&ps);
    });
}

#[test]
fn shutdown_vs_submit_vs_dispatch() {
    weft_sync::model(|| {
        let ps = probes(2);
        let book = Arc::new(Mutex::new(running_book(1, None)));

        // A submitter: a refused task comes back to it (it completes nothing; here it counts
        // as handled by handing the argument back).
        let s = {
            let book = book.clone();
            let ps = ps.clone();
            thread::spawn(move || {
                for p in ps {
                    let r = book.lock().submit(Task(p));
                    if let Err(t) = r {
                        t.0.completions.fetch_add(1, Ordering::AcqRel);
                    }
                }
            })
        };
        // shutdown(wait = false, cancel_futures = true).
        let x = {
            let book = book.clone();
            thread::spawn(move || {
                let cancelled = book.lock().shutdown(true);
                for t in cancelled {
                    t.cancel_or_fail();
                }
            })
        };
        // The dispatcher runs one round.
        let d = {
            let book = book.clone();
            thread::spawn(move || {
                let w = book.lock().next().map(|(w, _)| w);
                if let Some(w) = w {
                    let done = book.lock().finished(w, false);
                    if let Some((t, _)) = done {
                        t.complete();
                    }
                }
            })
        };
        s.join().unwrap();
        x.join().unwrap();
        d.join().unwrap();
        let spawns = drive_to_quiescence(&book);
        assert_eq!(spawns, 0, "no worker died: nothing to replace");
        assert_each_once(&ps);
    });
}

#[test]
fn broken_pool_fails_everything_once() {
    weft_sync::model(|| {
        let ps = probes(3);
        let book = Arc::new(Mutex::new(running_book(2, None)));
        for p in &ps[..2] {
            assert!(book.lock().submit(Task(p.clone())).is_ok());
        }
        let w = book.lock().next().map(|(w, _)| w).unwrap();

        // The zygote dies: the pool breaks.
        let z = {
            let book = book.clone();
            thread::spawn(move || {
                let jobs = book.lock().break_pool("zygote died".into());
                for t in jobs {
                    t.cancel_or_fail();
                }
            })
        };
        // Meanwhile the worker's reply arrives.
        let d = {
            let book = book.clone();
            thread::spawn(move || {
                let done = book.lock().finished(w, false);
                if let Some((t, _)) = done {
                    t.complete();
                }
            })
        };
        // And a late submit.
        let s = {
            let book = book.clone();
            let p = ps[2].clone();
            thread::spawn(move || {
                let r = book.lock().submit(Task(p));
                if let Err(t) = r {
                    t.0.completions.fetch_add(1, Ordering::AcqRel);
                }
            })
        };
        z.join().unwrap();
        d.join().unwrap();
        s.join().unwrap();
        // A task submitted before the break is failed by it; after, refused; never lost.
        let left = book.lock().break_pool("again".into());
        for t in left {
            t.cancel_or_fail();
        }
        assert!(book.lock().is_quiescent());
        assert!(
            book.lock().take_spawns().is_empty(),
            "a broken pool spawns nothing"
        );
        assert_each_once(&ps);
    });
}

#[test]
fn sent_ahead_tasks_requeued_on_death_vs_reply_vs_kill() {
    weft_sync::model(|| {
        let ps = probes(3);
        // One worker, two tasks in flight at a time (prefetch 1).
        let book = Arc::new(Mutex::new(running_book_with_depth(1, 2, None)));
        for p in &ps {
            assert!(book.lock().submit(Task(p.clone())).is_ok());
        }
        {
            let mut b = book.lock();
            assert!(b.next().is_some());
            assert!(b.next().is_some());
            assert!(b.next().is_none(), "depth 2: the third task waits");
        }
        // The worker answers its first task.
        let d = {
            let book = book.clone();
            thread::spawn(move || {
                let done = book.lock().finished(0, false);
                if let Some((t, _)) = done {
                    t.complete();
                }
            })
        };
        // The zygote reports it dead: its running task fails, the one sent ahead is requeued.
        let z = {
            let book = book.clone();
            thread::spawn(move || {
                let failed = book.lock().died(0, "was killed");
                assert!(failed.len() <= 1, "only the running task may fail");
                for t in failed {
                    t.complete();
                }
            })
        };
        // A caller cancels the third task.
        let c = {
            let p = ps[2].clone();
            thread::spawn(move || {
                p.cancel();
            })
        };
        d.join().unwrap();
        z.join().unwrap();
        c.join().unwrap();
        book.lock().shutdown(false);
        let spawns = drive_to_quiescence(&book);
        assert!(spawns <= 1);
        assert_each_once(&ps);
    });
}
