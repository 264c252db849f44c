use std::{
    collections::VecDeque,
    fmt,
    marker::PhantomData,
    panic::{AssertUnwindSafe, catch_unwind},
    vec,
};

use weft_futures::{Future, MapOptions, Promise, TaskError, promise};
use weft_sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
    thread,
};

use crate::{
    ThreadPoolExecutor,
    job::{Abort, Finishing, Job},
    shared::{Refused, Shared},
};

/// What a batch hands back: a result per item it ran, how long that took (nanoseconds), and
/// the items it left unrun because the caller asked it to split (see [`Map`]'s adaptive mode).
struct Batch<T, X> {
    results: Vec<Result<T, TaskError>>,
    nanos: u64,
    leftover: Vec<X>,
}

/// A flag the caller raises to make a running batch stop after its current item.
type SplitFlag = Arc<AtomicBool>;

/// The iterator of [`ThreadPoolExecutor::map`] and [`ThreadPoolExecutor::map_with`]: each
/// item's result, `Ok` or its own [`TaskError`], in input order.
///
/// It pulls items from the input on the calling thread as results are taken, keeping a
/// bounded number of tasks in flight. Dropping it after taking a result cancels the tasks not
/// yet started (as Python's `map` generator does when closed); tasks already running finish,
/// and their results are discarded. Dropped before its first `next`, it leaves the tasks it
/// submitted up front to run, as Python's unstarted `map` does.
///
/// # Examples
///
/// ```
/// use weft_futures::TaskError;
///
/// let pool = weft_pool::ThreadPoolExecutor::new(2);
/// let results: Vec<_> = pool
///     .map(|x: i32| if x == 2 { panic!("two") } else { x }, 1..=3)
///     .collect();
/// assert_eq!(results, [Ok(1), Err(TaskError::Panicked("two".into())), Ok(3)]);
/// ```
#[must_use = "a map iterator yields nothing unless iterated"]
pub struct Map<'a, F, I: Iterator, T> {
    pool: &'a ThreadPoolExecutor,
    f: Arc<F>,
    items: I,
    /// Tasks submitted and not yet consumed, oldest first.
    inflight: VecDeque<Slot<T, I::Item>>,
    current: Current<T>,
    max_inflight: usize,
    chunking: Chunking,
    /// The input is exhausted, or the pool stopped accepting work: pull no more.
    done_pulling: bool,
    /// `next` was called: from then on, dropping the iterator cancels what has not started.
    started: bool,
    _item: PhantomData<fn() -> T>,
}

enum Slot<T, X> {
    /// A batch of `usize` items, with its split flag in adaptive mode.
    Running(Future<Batch<T, X>>, usize, Option<SplitFlag>),
    /// Items that could not be scheduled: each yields this error.
    Failed(TaskError, usize),
}

enum Current<T> {
    Empty,
    Ok(vec::IntoIter<Result<T, TaskError>>),
    Err(TaskError, usize),
}

/// How many items go into each task.
#[derive(Clone, Copy, Debug)]
enum Chunking {
    /// The caller's `chunksize`.
    Fixed(usize),
    /// Default options: start at one item per task; grow while batches run quickly, shrink
    /// when they run long (see [`Map::adapt`]).
    Adaptive(usize),
}

/// A batch that runs this long is worth its scheduling cost many times over.
const TARGET_NANOS: u64 = 500_000;
/// A caller that has waited this long for a batch asks every batch in flight to split: the items
/// turned slow, and what is left of each batch should spread over the workers.
const SPLIT_AFTER: std::time::Duration = std::time::Duration::from_millis(50);
/// The largest adaptive batch: bounds the items pulled ahead with default options.
const MAX_BATCH: usize = 4096;

impl<'a, F, I, T> Map<'a, F, I, T>
where
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(pool: &'a ThreadPoolExecutor, f: F, items: I, options: MapOptions) -> Self {
        let chunksize = options.get_chunksize();
        let chunking = if options.get_chunksize() == 1 && options.get_buffersize().is_none() {
            Chunking::Adaptive(1)
        } else {
            Chunking::Fixed(chunksize)
        };
        let max_inflight = options
            .get_buffersize()
            .unwrap_or(pool.max_workers().saturating_mul(2));
        let mut map = Self {
            pool,
            f: Arc::new(f),
            items,
            inflight: VecDeque::with_capacity(max_inflight.min(1024)),
            current: Current::Empty,
            max_inflight,
            chunking,
            done_pulling: false,
            started: false,
            _item: PhantomData,
        };
        // Python's `map` submits its first `buffersize` tasks at once.
        map.refill();
        map
    }

    /// Submits tasks until `max_inflight` are in flight or the input ends.
    fn refill(&mut self) {
        while !self.done_pulling && self.inflight.len() < self.max_inflight {
            let size = match self.chunking {
                Chunking::Fixed(k) | Chunking::Adaptive(k) => k,
            };
            let mut items = Vec::with_capacity(size);
            while items.len() < size {
                match self.items.next() {
                    Some(x) => items.push(x),
                    None => {
                        self.done_pulling = true;
                        break;
                    }
                }
            }
            if items.is_empty() {
                return;
            }
            let slot = self.submit(items);
            self.inflight.push_back(slot);
        }
    }

    /// Submits one batch; a refusal (the pool shut down or broke) ends the pulling.
    fn submit(&mut self, items: Vec<I::Item>) -> Slot<T, I::Item> {
        let len = items.len();
        let split = match self.chunking {
            Chunking::Adaptive(_) if !cfg!(weft_loom) => Some(Arc::new(AtomicBool::new(false))),
            _ => None,
        };
        let (promise, future) = promise();
        let batch = Box::new(BatchJob {
            f: self.f.clone(),
            items,
            promise,
            split: split.clone(),
        });
        match Shared::try_push(self.pool.shared(), batch) {
            Ok(()) => Slot::Running(future, len, split),
            Err(refused) => {
                let (job, error) = match refused {
                    Refused::ShutDown(job) => (job, TaskError::Cancelled),
                    Refused::Broken(job, why) => (job, TaskError::BrokenPool(why)),
                };
                job.promise.cancel();
                self.done_pulling = true;
                Slot::Failed(error, len)
            }
        }
    }

    /// Waits for the oldest batch; in adaptive mode, past [`SPLIT_AFTER`] every batch in
    /// flight is asked to stop after its current item.
    fn wait_front(&self, future: &Future<Batch<T, I::Item>>, split: Option<&SplitFlag>) {
        spin_until_done(future);
        if let Some(flag) = split
            && !future.wait_timeout(SPLIT_AFTER)
        {
            flag.store(true, Ordering::Relaxed);
            for slot in &self.inflight {
                if let Slot::Running(_, _, Some(flag)) = slot {
                    flag.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Schedules the items a split batch left, ahead of every later batch, in up to
    /// `2 × max_workers` smaller batches (which split again if they are still slow): slow items
    /// spread over the workers, while a false alarm (a worker descheduled on a busy machine)
    /// costs a handful of tasks, not one per item.
    fn resubmit_leftover(&mut self, leftover: Vec<I::Item>) {
        let pieces = self
            .pool
            .max_workers()
            .saturating_mul(2)
            .clamp(1, leftover.len());
        let per = leftover.len().div_ceil(pieces);
        let mut items = leftover.into_iter();
        let mut slots = Vec::with_capacity(pieces);
        loop {
            let piece: Vec<_> = items.by_ref().take(per).collect();
            if piece.is_empty() {
                break;
            }
            slots.push(self.submit(piece));
        }
        for slot in slots.into_iter().rev() {
            self.inflight.push_front(slot);
        }
    }

    /// Retunes the adaptive batch size from a batch of `len` items that ran `nanos`.
    fn adapt(&mut self, len: usize, nanos: u64) {
        let Chunking::Adaptive(size) = self.chunking else {
            return;
        };
        if cfg!(weft_loom) || len == 0 {
            return;
        }
        let per_item = (nanos / len as u64).max(1);
        let ideal = usize::try_from(TARGET_NANOS / per_item).unwrap_or(MAX_BATCH);
        // Grow at most fourfold per batch (one fast batch may be a fluke); shrink at once.
        let next = ideal.clamp(1, MAX_BATCH).min(size.saturating_mul(4));
        self.chunking = Chunking::Adaptive(next);
    }
}

impl<F, I, T> Iterator for Map<'_, F, I, T>
where
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    I: Iterator,
    I::Item: Send + 'static,
    T: Send + 'static,
{
    type Item = Result<T, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.started = true;
        loop {
            match &mut self.current {
                Current::Ok(results) => {
                    if let Some(r) = results.next() {
                        return Some(r);
                    }
                }
                Current::Err(e, left) if *left > 0 => {
                    *left -= 1;
                    return Some(Err(e.clone()));
                }
                _ => {}
            }
            self.current = Current::Empty;
            self.refill();
            self.current = match self.inflight.pop_front()? {
                Slot::Running(future, len, split) => {
                    self.wait_front(&future, split.as_ref());
                    match future.result() {
                        Ok(Batch {
                            results,
                            nanos,
                            leftover,
                        }) => {
                            self.adapt(results.len(), nanos);
                            if !leftover.is_empty() {
                                self.resubmit_leftover(leftover);
                            }
                            Current::Ok(results.into_iter())
                        }
                        // The whole batch was cancelled, or its pool broke.
                        Err(e) => Current::Err(e, len),
                    }
                }
                Slot::Failed(e, len) => Current::Err(e, len),
            };
        }
    }
}

/// A short spin before blocking on `future`: a batch about to complete costs no park and
/// unpark (and its worker no system call).
fn spin_until_done<T>(future: &Future<T>) {
    for round in 0..if cfg!(weft_loom) { 0 } else { 16 } {
        if future.done() {
            return;
        }
        if round < 8 {
            for _ in 0..(1u32 << round) {
                thread::spin_loop();
            }
        } else {
            thread::yield_now();
        }
    }
}

impl<F, I: Iterator, T> Drop for Map<'_, F, I, T> {
    fn drop(&mut self) {
        // Python's `map` generator cancels its pending futures when closed after it started;
        // one never started leaves the tasks it submitted up front to run (CPython's
        // `test_map_submits_without_iteration`).
        if !self.started {
            return;
        }
        for slot in &self.inflight {
            if let Slot::Running(future, _, _) = slot {
                future.cancel();
            }
        }
    }
}

impl<F, I: Iterator, T> fmt::Debug for Map<'_, F, I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.inflight.len())
            .field("max_in_flight", &self.max_inflight)
            .field("chunking", &self.chunking)
            .field("done_pulling", &self.done_pulling)
            .finish_non_exhaustive()
    }
}

/// One task of a map: a batch of items, each run under its own `catch_unwind`.
struct BatchJob<F, X, T> {
    f: Arc<F>,
    items: Vec<X>,
    promise: Promise<Batch<T, X>>,
    split: Option<SplitFlag>,
}

impl<F, X, T> Job for BatchJob<F, X, T>
where
    F: Fn(X) -> T + Send + Sync,
    X: Send,
    T: Send,
{
    fn run(self: Box<Self>, finishing: &Finishing<'_>) {
        let BatchJob {
            f,
            items,
            promise,
            split,
        } = *self;
        if !promise.set_running() {
            // The map iterator was dropped and cancelled this batch.
            return;
        }
        let clock = Clock::start();
        let run = |x| catch_unwind(AssertUnwindSafe(|| f(x))).map_err(TaskError::from_panic);
        let mut items = items.into_iter();
        let mut results = Vec::with_capacity(items.len());
        match &split {
            None => results.extend(items.by_ref().map(run)),
            Some(flag) => {
                for x in items.by_ref() {
                    results.push(run(x));
                    // Relaxed: the flag only asks to stop early; the items left are handed
                    // back through the future, which orders everything.
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
        }
        let leftover: Vec<X> = items.collect();
        let nanos = clock.nanos();
        // Drop our share of `f` before completing, so that the caller never waits on it.
        drop(f);
        finishing.announce();
        promise.set_result(Batch {
            results,
            nanos,
            leftover,
        });
    }

    fn abort(self: Box<Self>, why: Abort) {
        why.apply(self.promise);
    }
}

/// Times a batch; no clock under loom (models must be deterministic).
struct Clock {
    #[cfg(not(weft_loom))]
    start: std::time::Instant,
}

impl Clock {
    fn start() -> Self {
        Self {
            #[cfg(not(weft_loom))]
            start: std::time::Instant::now(),
        }
    }

    fn nanos(&self) -> u64 {
        #[cfg(not(weft_loom))]
        {
            u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
        }
        #[cfg(weft_loom)]
        {
            0
        }
    }
}
