//! `Map` over chunks stored compactly (values, and errors by position): every item's result
//! comes back once, in input order (issue 12, docs/futures.md).
#![cfg(not(weft_loom))]
// These tests run on real std threads only (never under loom), so std's sync types are right here.
#![allow(clippy::disallowed_types)]

use weft_futures::{Chunk, Map, MapOptions, MapSubmit, Submitted, TaskError, promise};

/// An executor that completes each task at once with a chunk built by `make` from its items.
struct Inline<F>(F);

impl<F> MapSubmit<u32, u32> for Inline<F>
where
    F: FnMut(Vec<u32>) -> Chunk<u32, u32>,
{
    fn submit(&mut self, items: Vec<u32>) -> Submitted<u32, u32> {
        let (p, f) = promise();
        p.set_result((self.0)(items));
        Submitted::Chunk(f)
    }
}

fn failed(x: u32) -> TaskError {
    TaskError::Failed(format!("item {x}"))
}

fn expected(n: u32, bad: impl Fn(u32) -> bool) -> Vec<Result<u32, TaskError>> {
    (0..n)
        .map(|x| if bad(x) { Err(failed(x)) } else { Ok(x * 10) })
        .collect()
}

#[test]
fn errors_come_at_their_positions() {
    let bad = |x: u32| matches!(x % 7, 0 | 1) || x == 99;
    let source = Inline(move |items: Vec<u32>| {
        Chunk::new(
            items
                .into_iter()
                .map(|x| if bad(x) { Err(failed(x)) } else { Ok(x * 10) })
                .collect(),
        )
    });
    let opts = MapOptions::default().chunksize(9).buffersize(2);
    let out: Vec<_> = Map::new(source, 0..100, opts, 2).collect();
    assert_eq!(out, expected(100, bad));
}

#[test]
fn a_chunk_of_errors_only_and_one_of_values_only() {
    let source = Inline(|items: Vec<u32>| {
        if items[0] < 5 {
            Chunk::new(items.into_iter().map(|x| Err(failed(x))).collect())
        } else {
            Chunk::new(items.into_iter().map(|x| Ok(x * 10)).collect())
        }
    });
    let out: Vec<_> = Map::new(source, 0..10, MapOptions::default().chunksize(5), 2).collect();
    assert_eq!(out, expected(10, |x| x < 5));
}

/// A chunk whose error positions are out of order (an executor's bug) loses no result: the
/// errors that were not reached in order come after the values.
#[test]
fn a_chunk_with_errors_out_of_order_loses_nothing() {
    let source = Inline(|items: Vec<u32>| Chunk {
        values: vec![items[1] * 10, items[2] * 10],
        errors: vec![(3, failed(items[3])), (0, failed(items[0]))],
        leftover: Vec::new(),
        elapsed: std::time::Duration::ZERO,
    });
    let out: Vec<_> = Map::new(source, 0..4, MapOptions::default().chunksize(4), 1).collect();
    assert_eq!(out, [Ok(10), Ok(20), Err(failed(3)), Err(failed(0))]);
}

#[test]
fn chunk_new_splits_values_and_errors() {
    let c: Chunk<(), u32> = Chunk::new(vec![Err(failed(0)), Ok(1), Ok(2), Err(failed(3))]);
    assert_eq!(c.values, [1, 2]);
    assert_eq!(c.errors, [(0, failed(0)), (3, failed(3))]);
    assert_eq!(c.len(), 4);
    assert!(!c.is_empty());
}

/// `fold` (behind `sum`, `for_each`, `count`, ...) hands a chunk's values out in one loop; it
/// must give exactly what `next` gives: every result once, errors at their positions, also
/// after some results were taken with `next` and with chunks of errors, values, or both.
#[test]
fn fold_gives_what_next_gives() {
    let bad = |x: u32| matches!(x % 7, 0 | 1) || x == 99 || (40..50).contains(&x);
    let chunk = move |items: Vec<u32>| {
        Chunk::new(
            items
                .into_iter()
                .map(|x| if bad(x) { Err(failed(x)) } else { Ok(x * 10) })
                .collect(),
        )
    };
    for chunksize in [1, 2, 3, 9, 10, 100, 200] {
        for taken in [0, 1, 5, 41, 100] {
            let opts = MapOptions::default().chunksize(chunksize).buffersize(2);
            let mut map = Map::new(Inline(chunk), 0..100, opts, 2);
            let mut out: Vec<_> = map.by_ref().take(taken).collect();
            out = map.fold(out, |mut v, r| {
                v.push(r);
                v
            });
            assert_eq!(
                out,
                expected(100, bad),
                "chunksize {chunksize}, taken {taken}"
            );
        }
    }
}

/// Out-of-order error positions (an executor's bug) lose nothing under `fold` either.
#[test]
fn fold_over_a_chunk_with_errors_out_of_order_loses_nothing() {
    let source = Inline(|items: Vec<u32>| Chunk {
        values: vec![items[1] * 10, items[2] * 10],
        errors: vec![(3, failed(items[3])), (0, failed(items[0]))],
        leftover: Vec::new(),
        elapsed: std::time::Duration::ZERO,
    });
    let map = Map::new(source, 0..4, MapOptions::default().chunksize(4), 1);
    let out = map.fold(Vec::new(), |mut v, r| {
        v.push(r);
        v
    });
    assert_eq!(out, [Ok(10), Ok(20), Err(failed(3)), Err(failed(0))]);
}

/// An executor whose tasks stay pending: it keeps each promise (never completed), and each
/// future records its item when it is cancelled.
struct Parked {
    promises: Vec<weft_futures::Promise<u32>>,
    cancelled: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

impl MapSubmit<u32, u32> for Parked {
    fn submit(&mut self, mut items: Vec<u32>) -> Submitted<u32, u32> {
        let x = items.pop().expect("one item per task");
        let (p, f) = promise();
        let log = std::sync::Arc::clone(&self.cancelled);
        // Its promise is never completed: the future can only be done by a cancel.
        f.add_done_callback(move || log.lock().unwrap().push(x));
        self.promises.push(p);
        Submitted::One(f)
    }
}

/// Dropping a map cancels its pending tasks latest first, as CPython's `result_iterator` does:
/// a worker that frees up meanwhile takes the earliest queued task, which goes last, so it
/// never starts a task later in the input than one already cancelled (with a remote executor
/// the cancels and the worker's takes race on the broker; docs/futures.md).
#[test]
fn a_dropped_map_cancels_its_tasks_latest_first() {
    let cancelled = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let source = Parked {
        promises: Vec::new(),
        cancelled: std::sync::Arc::clone(&cancelled),
    };
    let map = Map::new(source, 0..5, MapOptions::default().buffersize(5), 1);
    drop(map);
    assert_eq!(*cancelled.lock().unwrap(), [4, 3, 2, 1, 0]);
}
