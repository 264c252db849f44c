//! Checks that every [`Executor`] must pass, written once and run against each of them (the
//! thread pool, the process pool, the Celery executor): feature `conformance`, for tests only.
//!
//! Each check panics (with a message naming the executor's misbehaviour) when it fails. The
//! tasks live here, so a process pool's workers (forks of the test binary) and a Celery worker
//! that registers them by [`Task::NAME`](crate::Task::NAME) run the same code.
//!
//! Side effects that must be seen across processes go through files in a fresh temporary
//! directory (see [`map_cancels_unconsumed_tasks_on_drop`]).

use std::{
    cell::Cell,
    path::{Path, PathBuf},
    rc::Rc,
    time::Duration,
};

use crate::{Executor, MapOptions, TaskError, as_completed, task};

task! {
    /// `x * x`.
    pub struct Square = "weft.conformance.square";
    fn run(x: u64) -> u64 { x * x }

    /// `a + b`.
    pub struct Add = "weft.conformance.add";
    fn run((a, b): (i64, i64)) -> i64 { a + b }

    /// `x`, or a panic "two" for `x == 2`.
    pub struct PanicOnTwo = "weft.conformance.panic_on_two";
    fn run(x: u32) -> u32 {
        assert!(x != 2, "two");
        x
    }

    /// Creates the file `dir/name` (a side effect another process can see), then, given
    /// `Some(gate)`, waits until the file `dir/gate` exists (or `dir` is gone): holds its
    /// worker until the caller opens the gate. A remote task whose future was cancelled while
    /// it ran is not waited for by `shutdown`, so it may still be waiting when the check
    /// removes `dir`; it then ends instead of holding its worker forever.
    pub struct Mark = "weft.conformance.mark";
    fn run((dir, name, gate): (String, String, Option<String>)) -> () {
        let dir = Path::new(&dir);
        std::fs::write(dir.join(name), b"").expect("cannot create the marker file");
        if let Some(gate) = gate {
            while dir.exists() && !dir.join(&gate).exists() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// The whole interface, once: `submit`, `try_submit`, `map`, `map_with` (chunks), and the
/// futures of a `map`-free batch through [`as_completed`]. Leaves `ex` running.
///
/// # Panics
///
/// When `ex` returns a wrong result.
pub fn work<E: Executor>(ex: &E) {
    assert_eq!(ex.submit::<Add>((2, 3)).result(), Ok(5));
    let f = ex
        .try_submit::<Square>(7)
        .unwrap_or_else(|_| panic!("a running executor refused a task"));
    assert_eq!(f.result(), Ok(49));

    let squares: Vec<u64> = ex.map::<Square, _>(0..20).map(Result::unwrap).collect();
    assert_eq!(squares, (0..20u64).map(|x| x * x).collect::<Vec<_>>());

    let opts = MapOptions::default().chunksize(7).buffersize(2);
    let sums: Vec<i64> = ex
        .map_with::<Add, _>((0..50).map(|i| (i, 1)), opts)
        .map(Result::unwrap)
        .collect();
    assert_eq!(sums, (1..=50).collect::<Vec<i64>>());

    let futures: Vec<_> = (1..=5).map(|x| ex.submit::<Square>(x)).collect();
    let total: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
    assert_eq!(total, 1 + 4 + 9 + 16 + 25);
}

/// An input that counts how many items were pulled from it; `Rc` makes it `!Send`, as a map's
/// input may be.
fn counting(n: u64) -> (Rc<Cell<usize>>, impl Iterator<Item = u64>) {
    let pulled = Rc::new(Cell::new(0));
    let p = pulled.clone();
    (pulled, (0..n).inspect(move |_| p.set(p.get() + 1)))
}

/// `map` submits its first `buffersize` tasks when called, then never pulls more than
/// `buffersize × chunksize` items ahead of the results taken, yields them in order, and ends.
///
/// # Panics
///
/// When `ex`'s map pulls too much, too little, or yields a wrong result.
pub fn map_is_eager_then_lazy<E: Executor>(ex: &E) {
    for (buffersize, chunksize) in [(1, 1), (3, 1), (2, 5)] {
        let n = 40;
        let (pulled, items) = counting(n);
        let opts = MapOptions::default()
            .buffersize(buffersize)
            .chunksize(chunksize);
        let map = ex.map_with::<Square, _>(items, opts);
        let ahead = buffersize * chunksize;
        assert_eq!(
            pulled.get(),
            ahead,
            "map must submit its first {buffersize} tasks when called"
        );
        let mut taken = 0;
        for r in map {
            assert_eq!(r, Ok((taken as u64).pow(2)), "results come in input order");
            taken += 1;
            assert!(
                pulled.get() <= taken + ahead,
                "pulled {} items with {taken} results taken (buffersize {buffersize}, \
                 chunksize {chunksize})",
                pulled.get()
            );
        }
        assert_eq!(taken, n as usize);
        assert_eq!(pulled.get(), n as usize);
    }
}

/// A panic in one item fails that item alone, with or without chunks.
///
/// # Panics
///
/// When the panic spreads to other items, or is lost.
pub fn map_fails_items_alone<E: Executor>(ex: &E) {
    for chunksize in [1, 4] {
        let opts = MapOptions::default().chunksize(chunksize);
        let out: Vec<_> = ex.map_with::<PanicOnTwo, _>(0..6, opts).collect();
        assert_eq!(out.len(), 6);
        for (x, r) in out.iter().enumerate() {
            if x == 2 {
                // A Rust panic, or (Celery) a failure that names it.
                assert!(
                    matches!(r, Err(TaskError::Panicked(m) | TaskError::Failed(m)) if m.contains("two")),
                    "item 2 must fail with its panic: {r:?}"
                );
            } else {
                assert_eq!(
                    r,
                    &Ok(x as u32),
                    "item {x} must not be touched by item 2's panic"
                );
            }
        }
    }
}

/// A fresh, empty directory for one check's marker files.
fn marker_dir(check: &str) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    // A random name (std's hasher keys are random per process and per call), so that checks
    // running at once never share a directory.
    let tag = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let dir = std::env::temp_dir().join(format!("weft-{check}-{}-{tag:016x}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create a temporary directory");
    dir
}

/// Removes a check's marker directory for good. A remote task whose future was cancelled while
/// it started may still create its marker as the directory is being removed; the removal then
/// fails (the directory is not empty) and is tried again, so that the directory is gone and
/// such a task, waiting for a gate in it, ends (see `Mark`).
fn remove_markers(dir: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while dir.exists() && std::time::Instant::now() < deadline {
        if std::fs::remove_dir_all(dir).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Waits until every file in `names` exists in `dir`.
fn await_markers(dir: &Path, names: impl IntoIterator<Item = String>) {
    for name in names {
        while !dir.join(&name).exists() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Dropping a map's iterator cancels every task it submitted and did not hand out, before the
/// first `next` as after it. Ends with `ex.shutdown(true, false)`.
///
/// `workers` is how many tasks `ex` runs at once, and `ex` must start its queued tasks in
/// submission order. A task already handed to a worker counts as running and is not
/// cancelled, so give this check an executor that hands a worker one task at a time
/// (weft-process: `prefetch(0)`; Celery: a prefetch multiplier of 1).
///
/// # Panics
///
/// When a task of a dropped map runs anyway.
pub fn map_cancels_unconsumed_tasks_on_drop<E: Executor>(ex: &E, workers: usize) {
    let dir = marker_dir("map-drop");
    let d = dir.to_string_lossy().into_owned();
    let mark = |name: String, gate: Option<&str>| (d.clone(), name, gate.map(str::to_owned));

    // Dropped before its first `next`: every worker is held, so all five tasks are queued.
    let holds: Vec<_> = (0..workers)
        .map(|i| ex.submit::<Mark>(mark(format!("hold-{i}"), Some("open-1"))))
        .collect();
    await_markers(&dir, (0..workers).map(|i| format!("hold-{i}")));
    let unstarted = ex.map_with::<Mark, _>(
        (0..5).map(|i| mark(format!("unstarted-{i}"), None)),
        MapOptions::default().buffersize(5),
    );
    drop(unstarted);
    std::fs::write(dir.join("open-1"), b"").expect("cannot open the gate");
    for h in holds {
        assert_eq!(h.result(), Ok(()));
    }

    // Dropped after its first result: the first item runs, the next `workers` items hold every
    // worker, and the last three stay queued until the drop cancels them.
    let items = std::iter::once(mark("first".into(), None))
        .chain((0..workers).map(|i| mark(format!("hold2-{i}"), Some("open-2"))))
        .chain((0..3).map(|i| mark(format!("late-{i}"), None)));
    let mut started = ex.map_with::<Mark, _>(items, MapOptions::default().buffersize(workers + 4));
    assert_eq!(started.next(), Some(Ok(())));
    drop(started);
    std::fs::write(dir.join("open-2"), b"").expect("cannot open the gate");
    ex.shutdown(true, false);

    let mut ran: Vec<String> = std::fs::read_dir(&dir)
        .expect("cannot list the marker directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("unstarted-") || n.starts_with("late-"))
        .collect();
    remove_markers(&dir);
    ran.sort();
    assert!(ran.is_empty(), "tasks of dropped maps ran: {ran:?}");
}

/// After `shutdown`, `try_submit` hands the arguments back, and a map's first refused task
/// yields `Cancelled` for each of its items and ends the iteration.
///
/// # Panics
///
/// When a shut-down executor accepts work.
pub fn refuses_after_shutdown<E: Executor>(ex: &E) {
    ex.shutdown(true, false);
    let back = ex.try_submit::<Add>((4, 5)).map(|_| ()).unwrap_err();
    assert_eq!(back.into_inner(), (4, 5));
    let out: Vec<_> = ex
        .map_with::<Square, _>(0..10, MapOptions::default().chunksize(3))
        .collect();
    assert_eq!(out, vec![Err(TaskError::Cancelled); 3]);
}
