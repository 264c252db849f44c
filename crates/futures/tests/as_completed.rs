//! `as_completed`, `as_completed_timeout` and `wait` through the public API.
// These tests run on real std threads only (never under loom), so std's sync types are right here.
#![allow(clippy::disallowed_types)]

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use weft_futures::{
    Future, Promise, ReturnWhen, TaskError, Timeout, Waited, as_completed, as_completed_timeout,
    promise, wait,
};

const SHORT: Duration = Duration::from_millis(50);

/// Upper bound for "returns soon after", and a timeout that must not run out before another
/// thread's short sleeps end: only a hang or a timeout that never fires exceeds it. Under Miri,
/// beside the other checks on a loaded machine, seconds pass between two steps of one thread.
const SLACK: Duration = Duration::from_secs(30);

fn pairs<T>(n: usize) -> (Vec<Promise<T>>, Vec<Future<T>>) {
    (0..n).map(|_| promise()).unzip()
}

#[test]
fn empty_input() {
    assert_eq!(as_completed(Vec::<Future<u8>>::new()).count(), 0);
    assert_eq!(
        as_completed_timeout(Vec::<Future<u8>>::new(), SHORT).count(),
        0
    );
    let w = wait(Vec::<Future<u8>>::new(), None, ReturnWhen::FirstCompleted);
    assert!(w.done.is_empty() && w.not_done.is_empty());
}

#[test]
fn finished_first_in_input_order_then_completion_order() {
    let (mut ps, fs) = pairs::<usize>(6);
    // 4 and 1 are done before the call (one cancelled), in that input order: 1, 4.
    let f_ids: Vec<_> = fs.iter().map(Future::id).collect();
    fs[1].cancel();
    ps.remove(4).set_result(4);
    ps.remove(1); // drops the cancelled one's promise: no effect
    // Remaining promises: for futures 0, 2, 3, 5.
    let mut it = as_completed(fs);
    assert_eq!(it.len(), 6);
    assert_eq!(it.next().unwrap().id(), f_ids[1]);
    assert_eq!(it.next().unwrap().result(), Ok(4));
    // Complete in the order 5, 0, 3, 2 from another thread, one at a time.
    let order = [3usize, 0, 2, 1]; // indices into ps = [p0, p2, p3, p5]
    let expected = [5usize, 0, 3, 2];
    let mut ps: Vec<Option<Promise<usize>>> = ps.into_iter().map(Some).collect();
    for (k, &j) in order.iter().enumerate() {
        let p = ps[j].take().unwrap();
        let v = expected[k];
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            p.set_result(v);
        });
        assert_eq!(it.next().unwrap().result(), Ok(v));
        t.join().unwrap();
    }
    assert!(it.next().is_none());
    assert!(it.next().is_none());
}

#[test]
fn each_future_exactly_once_under_concurrency() {
    let n = if cfg!(miri) { 50 } else { 20_000 };
    let (ps, fs) = pairs::<usize>(n);
    let ids: HashSet<_> = fs.iter().map(Future::id).collect();
    let mut halves = [Vec::new(), Vec::new()];
    for (i, p) in ps.into_iter().enumerate() {
        halves[i % 2].push((i, p));
    }
    let ts: Vec<_> = halves
        .into_iter()
        .enumerate()
        .map(|(k, half)| {
            thread::spawn(move || {
                for (i, p) in half {
                    match i % 7 {
                        0 => drop(p),
                        1 => p.set_error(TaskError::Failed("x".into())),
                        _ => p.set_result(i),
                    }
                    if k == 0 && i % 1000 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut ok = 0;
    for f in as_completed(fs) {
        assert!(f.done());
        assert!(seen.insert(f.id()), "yielded twice");
        ok += usize::from(f.result().is_ok());
    }
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(seen, ids);
    assert_eq!(ok, (0..n).filter(|i| i % 7 >= 2).count());
}

#[test]
fn cancelled_while_iterating_is_yielded() {
    let (ps, fs) = pairs::<u8>(2);
    let f1 = fs[1].id();
    let mut it = as_completed(fs);
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        assert!(ps[1].cancel());
        ps
    });
    let f = it.next().unwrap();
    assert!(f.cancelled());
    assert_eq!(f.id(), f1);
    let ps = t.join().unwrap();
    drop(ps);
    assert_eq!(it.next().unwrap().result(), Err(TaskError::Abandoned));
}

#[test]
fn timeout_yields_err_once_then_ends() {
    let (ps, fs) = pairs::<u8>(3);
    let mut ps = ps.into_iter();
    ps.next().unwrap().set_result(0);
    let start = Instant::now();
    let mut it = as_completed_timeout(fs, SHORT);
    assert_eq!(it.next().unwrap().unwrap().result(), Ok(0));
    assert_eq!(it.next().unwrap().unwrap_err(), Timeout);
    assert!(start.elapsed() >= SHORT);
    assert!(it.next().is_none());
    let pending = it.into_pending();
    assert_eq!(pending.len(), 2);
    // The futures handed back still work, and carry no stale hook.
    let rest: Vec<_> = ps.collect();
    for (i, p) in rest.into_iter().enumerate() {
        p.set_result(i as u8 + 1);
    }
    let got: Vec<_> = pending.into_iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(got, [1, 2]);
}

#[test]
fn timeout_zero_and_max() {
    let (_ps, fs) = pairs::<u8>(1);
    let mut it = as_completed_timeout(fs, Duration::ZERO);
    assert_eq!(it.next().map(|r| r.err()), Some(Some(Timeout)));
    let (ps, fs) = pairs::<u8>(2);
    let t = thread::spawn(move || {
        for p in ps {
            thread::sleep(Duration::from_millis(10));
            p.set_result(1);
        }
    });
    let got: Vec<_> = as_completed_timeout(fs, Duration::MAX)
        .map(|r| r.unwrap().result())
        .collect();
    assert_eq!(got, [Ok(1), Ok(1)]);
    t.join().unwrap();
}

#[test]
fn timeout_completes_in_time() {
    let (ps, fs) = pairs::<u8>(4);
    let t = thread::spawn(move || {
        for p in ps {
            thread::sleep(Duration::from_millis(5));
            p.set_result(2);
        }
    });
    let n = as_completed_timeout(fs, SLACK)
        .filter(Result::is_ok)
        .count();
    assert_eq!(n, 4);
    t.join().unwrap();
}

#[test]
fn dropped_iterator_then_completion_is_harmless() {
    let (ps, fs) = pairs::<Vec<u8>>(if cfg!(miri) { 10 } else { 100 });
    let ids: Vec<_> = fs.iter().map(Future::id).collect();
    let mut it = as_completed(fs);
    drop(it.by_ref().take(0));
    drop(it);
    // The futures are gone; their promises complete later without trouble.
    let t = thread::spawn(move || {
        for p in ps {
            p.set_result(vec![1; 10]);
        }
    });
    t.join().unwrap();
    assert!(!ids.is_empty());
}

#[test]
fn iterator_dropped_while_completions_race() {
    for _ in 0..if cfg!(miri) { 3 } else { 200 } {
        let (ps, fs) = pairs::<u32>(8);
        let t = thread::spawn(move || ps.into_iter().for_each(|p| p.set_result(1)));
        let mut it = as_completed(fs);
        let _ = it.next();
        drop(it);
        t.join().unwrap();
    }
}

#[test]
fn repeated_waits_do_not_accumulate_hooks() {
    // The classic loop: wait(FIRST_COMPLETED) on what is left, many times.
    let n: usize = if cfg!(miri) { 6 } else { 50 };
    let (ps, fs) = pairs::<usize>(n);
    let mut not_done = fs;
    let mut ps: Vec<_> = ps.into_iter().map(Some).collect();
    let mut got = 0;
    for round in 0..n {
        for _ in 0..if cfg!(miri) { 2 } else { 10 } {
            // Waits that time out must leave no hook behind.
            let w = wait(not_done, Some(Duration::ZERO), ReturnWhen::FirstCompleted);
            assert!(w.done.is_empty());
            not_done = w.not_done;
        }
        ps[n - 1 - round].take().unwrap().set_result(round);
        let Waited {
            done,
            not_done: rest,
        } = wait(not_done, None, ReturnWhen::FirstCompleted);
        assert_eq!(done.len(), 1);
        got += done.len();
        not_done = rest;
    }
    assert_eq!(got, n);
    assert!(not_done.is_empty());
}

#[test]
fn wait_first_completed() {
    let (ps, fs) = pairs::<u8>(3);
    let mut ps = ps.into_iter();
    let p0 = ps.next().unwrap();
    // Taken before the spawn, so the bound holds however late this thread gets here.
    let start = Instant::now();
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        p0.set_result(1);
    });
    let w = wait(fs, None, ReturnWhen::FirstCompleted);
    assert!(start.elapsed() >= SHORT);
    assert_eq!((w.done.len(), w.not_done.len()), (1, 2));
    t.join().unwrap();
}

#[test]
fn wait_first_exception_ignores_cancel_and_success() {
    let (ps, fs) = pairs::<u8>(4);
    let mut ps = ps.into_iter();
    fs[0].cancel();
    ps.next(); // p0, cancelled
    ps.next().unwrap().set_result(1); // f1 ok
    let p2 = ps.next().unwrap();
    let p3 = ps.next().unwrap();
    // Taken before the spawn: the error comes at least SHORT after it, so a wait that returned
    // on the cancel or the success would show up as a shorter wait.
    let start = Instant::now();
    let t = thread::spawn(move || {
        thread::sleep(SHORT);
        p2.set_error(TaskError::Panicked("boom".into()));
        p3
    });
    let w = wait(fs, Some(SLACK), ReturnWhen::FirstException);
    assert!(start.elapsed() >= SHORT);
    assert_eq!(w.done.len(), 3);
    assert_eq!(w.not_done.len(), 1);
    drop(t.join().unwrap());
}

#[test]
fn wait_first_exception_all_ok_is_all_completed() {
    let (ps, fs) = pairs::<u8>(3);
    let t = thread::spawn(move || {
        for p in ps {
            thread::sleep(Duration::from_millis(5));
            p.set_result(1);
        }
    });
    let w = wait(fs, None, ReturnWhen::FirstException);
    assert_eq!((w.done.len(), w.not_done.len()), (3, 0));
    t.join().unwrap();
}

#[test]
fn wait_already_failed_returns_at_once() {
    let (ps, fs) = pairs::<u8>(2);
    let mut ps = ps.into_iter();
    drop(ps.next()); // Abandoned counts as an exception.
    let w = wait(fs, None, ReturnWhen::FirstException);
    assert_eq!((w.done.len(), w.not_done.len()), (1, 1));
    assert_eq!(
        w.done.into_iter().next().unwrap().result(),
        Err(TaskError::Abandoned)
    );
}

#[test]
fn wait_all_completed_and_timeout_never_early() {
    let (ps, fs) = pairs::<u8>(3);
    let mut ps = ps.into_iter();
    ps.next().unwrap().set_result(1);
    let start = Instant::now();
    let w = wait(fs, Some(SHORT), ReturnWhen::AllCompleted);
    let took = start.elapsed();
    assert!(took >= SHORT && took < SHORT + SLACK, "{took:?}");
    assert_eq!((w.done.len(), w.not_done.len()), (1, 2));
    let rest: Vec<_> = ps.collect();
    let t = thread::spawn(move || {
        for p in rest {
            thread::sleep(Duration::from_millis(5));
            p.set_result(2);
        }
    });
    let w = wait(w.not_done, None, ReturnWhen::AllCompleted);
    assert_eq!((w.done.len(), w.not_done.len()), (2, 0));
    t.join().unwrap();
}

#[test]
fn wait_keeps_input_order() {
    let (ps, fs) = pairs::<usize>(5);
    let ids: Vec<_> = fs.iter().map(Future::id).collect();
    for (i, p) in ps.into_iter().enumerate().rev() {
        p.set_result(i);
    }
    let w = wait(fs, None, ReturnWhen::AllCompleted);
    assert_eq!(w.done.iter().map(Future::id).collect::<Vec<_>>(), ids);
}

#[test]
fn hooks_do_not_leak_memory() {
    // A future completing after its iterator is gone releases the queue.
    let (p, f) = promise::<u8>();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    f.add_done_callback(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let it = as_completed_timeout(vec![f], Duration::ZERO);
    let mut pending = it.into_pending();
    p.set_result(1);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(pending.pop().unwrap().result(), Ok(1));
}

#[test]
fn stress_wait_first_completed_loop_with_two_completers() {
    // The classic loop while two threads complete (or abandon, or cancel) the futures: each
    // future ends up in exactly one `done` list, and no hook is left behind.
    let n = if cfg!(miri) { 20 } else { 3_000 };
    let (ps, fs) = pairs::<usize>(n);
    let mut halves = [Vec::new(), Vec::new()];
    for (i, p) in ps.into_iter().enumerate() {
        halves[i % 2].push((i, p));
    }
    let ts: Vec<_> = halves
        .into_iter()
        .map(|half| {
            thread::spawn(move || {
                for (i, p) in half {
                    match i % 5 {
                        0 => drop(p),
                        1 => {
                            p.cancel();
                        }
                        _ => p.set_result(i),
                    }
                }
            })
        })
        .collect();
    let mut not_done = fs;
    let mut seen = HashSet::new();
    while !not_done.is_empty() {
        let w = wait(not_done, Some(SLACK), ReturnWhen::FirstCompleted);
        assert!(!w.done.is_empty());
        for f in &w.done {
            assert!(seen.insert(f.id()));
        }
        not_done = w.not_done;
    }
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(seen.len(), n);
}

#[test]
fn wait_with_duration_max_is_forever() {
    let (ps, fs) = pairs::<u8>(2);
    let t = thread::spawn(move || {
        for p in ps {
            thread::sleep(Duration::from_millis(10));
            p.set_result(1);
        }
    });
    let w = wait(fs, Some(Duration::MAX), ReturnWhen::AllCompleted);
    assert_eq!((w.done.len(), w.not_done.len()), (2, 0));
    t.join().unwrap();
}
