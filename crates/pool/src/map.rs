use std::{
    collections::VecDeque,
    fmt,
    marker::PhantomData,
    panic::{AssertUnwindSafe, catch_unwind},
    vec,
};

use weft_futures::{Future, MapOptions, Promise, TaskError, promise};
use weft_sync::{Arc, thread};

use crate::{
    ThreadPoolExecutor,
    job::{Abort, Finishing, Job},
    shared::{Refused, Shared},
};

/// The results of one batch, and how long the batch took to run (nanoseconds).
type Batch<T> = (Vec<Result<T, TaskError>>, u64);

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
    inflight: VecDeque<Slot<T>>,
    current: Current<T>,
    max_inflight: usize,
    chunking: Chunking,
    /// The input is exhausted, or the pool stopped accepting work: pull no more.
    done_pulling: bool,
    /// `next` was called: from then on, dropping the iterator cancels what has not started.
    started: bool,
    _item: PhantomData<fn() -> T>,
}

enum Slot<T> {
    Running(Future<Batch<T>>, usize),
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
        let max_inflight = options.get_buffersize().unwrap_or(2 * pool.max_workers());
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
            let len = items.len();
            if len == 0 {
                return;
            }
            let (promise, future) = promise();
            let batch = Box::new(BatchJob {
                f: self.f.clone(),
                items,
                promise,
            });
            match Shared::try_push(self.pool.shared(), batch) {
                Ok(()) => self.inflight.push_back(Slot::Running(future, len)),
                Err(refused) => {
                    let (job, error) = match refused {
                        Refused::ShutDown(job) => (job, TaskError::Cancelled),
                        Refused::Broken(job, why) => (job, TaskError::BrokenPool(why)),
                    };
                    job.promise.cancel();
                    self.inflight.push_back(Slot::Failed(error, len));
                    self.done_pulling = true;
                }
            }
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
                Slot::Running(future, len) => {
                    spin_until_done(&future);
                    match future.result() {
                        Ok((results, nanos)) => {
                            self.adapt(len, nanos);
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
            if let Slot::Running(future, _) = slot {
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
    promise: Promise<Batch<T>>,
}

impl<F, X, T> Job for BatchJob<F, X, T>
where
    F: Fn(X) -> T + Send + Sync,
    X: Send,
    T: Send,
{
    fn run(self: Box<Self>, finishing: &Finishing<'_>) {
        let BatchJob { f, items, promise } = *self;
        if !promise.set_running() {
            // The map iterator was dropped and cancelled this batch.
            return;
        }
        let clock = Clock::start();
        let results: Vec<_> = items
            .into_iter()
            .map(|x| catch_unwind(AssertUnwindSafe(|| f(x))).map_err(TaskError::from_panic))
            .collect();
        let nanos = clock.nanos();
        // Drop our share of `f` before completing, so that the caller never waits on it.
        drop(f);
        finishing.announce();
        promise.set_result((results, nanos));
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
