//! How the thread pool runs the tasks of a `map`: batches of items, sized adaptively.
//!
//! Order, laziness, buffering and cancellation are [`weft_futures::Map`]'s, shared by every
//! executor; this file only says how a batch of items becomes a job, and, with the default
//! options, how big the batches are.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use weft_futures::{Chunk, MapOptions, MapSubmit, Promise, Submitted, TaskError, promise};
use weft_sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
    clock,
};

use crate::{
    ThreadPoolExecutor,
    job::{Abort, Finishing, Job},
    shared::{Refused, Shared},
};

/// A flag the caller raises to make running batches stop after their current item.
type SplitFlag = Arc<AtomicBool>;

/// A batch that runs this long is worth its scheduling cost many times over, and wakes the
/// map's caller (who, on a machine with as many workers as CPUs, takes a CPU from a worker)
/// rarely: 2 ms rather than 0.5 ms made `map` over 1 µs items 0.5–1 % faster (issue 12). The
/// last batches are cut smaller anyway when the input's length is known
/// (`chunk_len_hinted`).
const TARGET_NANOS: u64 = 2_000_000;
/// The guided cut of the last batches (`chunk_len_hinted`) stops at `max_workers / 256` of the
/// adaptive size (about 8 µs of work per worker with the 2 ms target: 16 µs with two workers,
/// 125 µs with 16). Each batch costs a hand-off to the caller; without a floor the last batches
/// shrank to one item, hundreds of them at 16 workers, while a floor the same for every pool
/// size left two workers unevenly loaded at the end (issue 12, docs/pool.md).
const GUIDED_FLOOR: usize = 256;
/// A caller that has waited this long for a batch asks every batch in flight to split: the items
/// turned slow, and what is left of each batch should spread over the workers.
const SPLIT_AFTER: Duration = Duration::from_millis(50);
/// The largest adaptive batch of small items: bounds the items pulled ahead with default options.
const MAX_BATCH: usize = 65_536;
/// The most bytes a batch's items, or its results, may take in one vector: 64 KiB stays well
/// under the allocator's threshold for mapping fresh pages (128 KiB in glibc), so that the
/// vectors of a long map reuse heap memory instead of faulting in new pages for every batch.
const MAX_BATCH_BYTES: usize = 64 << 10;
/// The cap of an adaptive batch of large items never goes below this many items.
const MIN_MAX_BATCH: usize = 4096;

/// The largest adaptive batch for items `X` and results `T`.
const fn max_batch<X, T>() -> usize {
    let x = size_of::<X>();
    let t = size_of::<T>();
    let widest = if x > t { x } else { t };
    let by_bytes = match MAX_BATCH_BYTES.checked_div(widest) {
        Some(n) => n,
        None => MAX_BATCH,
    };
    if by_bytes < MIN_MAX_BATCH {
        MIN_MAX_BATCH
    } else if by_bytes > MAX_BATCH {
        MAX_BATCH
    } else {
        by_bytes
    }
}

/// The thread pool's side of a map: each task is a [`BatchJob`] of items run by `f`.
///
/// With the default options (no `buffersize`, `chunksize` 1) the batches are adaptive: they
/// start at one item, grow (at most fourfold per batch) while batches run under
/// [`TARGET_NANOS`], shrink at once when they run longer, and a caller that waits
/// [`SPLIT_AFTER`] for its oldest batch makes every batch in flight stop after its current item
/// (the map re-submits what they left, spread over the workers). With explicit options, each
/// batch carries exactly `chunksize` items.
pub(crate) struct Batches<'a, F> {
    pool: &'a ThreadPoolExecutor,
    f: Arc<F>,
    adaptive: Option<Adaptive>,
}

struct Adaptive {
    /// Items in the next batch.
    size: usize,
    /// The flag of the batches submitted since the last split; replaced by a fresh one at
    /// each split, so that later batches run whole.
    split: SplitFlag,
}

impl<'a, F> Batches<'a, F> {
    pub(crate) fn new(pool: &'a ThreadPoolExecutor, f: F, options: MapOptions) -> Self {
        let adaptive =
            (options.get_chunksize() == 1 && options.get_buffersize().is_none()).then(|| {
                Adaptive {
                    size: 1,
                    split: Arc::new(AtomicBool::new(false)),
                }
            });
        Self {
            pool,
            f: Arc::new(f),
            adaptive,
        }
    }
}

impl<F, X, T> MapSubmit<X, T> for Batches<'_, F>
where
    F: Fn(X) -> T + Send + Sync + 'static,
    X: Send + 'static,
    T: Send + 'static,
{
    fn submit(&mut self, items: Vec<X>) -> Submitted<X, T> {
        let (promise, future) = promise();
        let batch = Box::new(BatchJob {
            f: self.f.clone(),
            items,
            promise,
            split: self.adaptive.as_ref().map(|a| a.split.clone()),
        });
        match Shared::try_push(self.pool.shared(), batch) {
            Ok(()) => Submitted::Chunk(future),
            Err(refused) => {
                let (job, error) = match refused {
                    Refused::ShutDown(job) => (job, TaskError::Cancelled),
                    Refused::Broken(job, why) => (job, TaskError::BrokenPool(why)),
                };
                job.promise.cancel();
                Submitted::Refused(error)
            }
        }
    }

    fn chunk_len(&mut self, chunksize: usize) -> usize {
        self.adaptive.as_ref().map_or(chunksize, |a| a.size)
    }

    /// With adaptive batches and an input that knows a lower bound of its length, no batch takes
    /// more than a `2 × max_workers`-th of the items left ("guided" scheduling): the last batches
    /// shrink, and no worker is left alone with a big one at the end.
    ///
    /// A pool of one worker has nobody to balance with: its batches keep the adaptive size
    /// (capped by what is left), as each smaller batch would only add a hand-off to the caller.
    fn chunk_len_hinted(&mut self, chunksize: usize, remaining: (usize, Option<usize>)) -> usize {
        let size = self.chunk_len(chunksize);
        match (&self.adaptive, remaining.0) {
            (Some(_), left) if left > 0 && self.pool.max_workers() == 1 => size.min(left),
            (Some(_), left) if left > 0 => {
                let share = left.div_ceil(self.pool.max_workers().saturating_mul(2).max(1));
                // Not below the floor (see `GUIDED_FLOOR`), nor above what is left.
                let floor = size.saturating_mul(self.pool.max_workers()) / GUIDED_FLOOR;
                size.min(share.max(floor)).min(left).max(1)
            }
            _ => size,
        }
    }

    fn patience(&self) -> Option<Duration> {
        self.adaptive.as_ref().map(|_| SPLIT_AFTER)
    }

    fn stalled(&mut self) {
        if let Some(a) = &mut self.adaptive {
            // Relaxed: the flag only asks to stop early; the items left come back through the
            // batch's future, which orders everything.
            a.split.store(true, Ordering::Relaxed);
            a.split = Arc::new(AtomicBool::new(false));
        }
    }

    fn finished(&mut self, ran: usize, elapsed: Duration) {
        let Some(a) = &mut self.adaptive else { return };
        // An unmeasured batch (weft's clock reads no durations under loom) or an empty one
        // says nothing.
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        if ran == 0 || nanos == 0 {
            return;
        }
        let per_item = (nanos / ran as u64).max(1);
        let max = max_batch::<X, T>();
        let ideal = usize::try_from(TARGET_NANOS / per_item).unwrap_or(max);
        // Grow at most fourfold per batch (one fast batch may be a fluke); shrink at once.
        a.size = ideal.clamp(1, max).min(a.size.saturating_mul(4));
    }

    /// Up to `2 × max_workers` pieces (which split again if they are still slow): slow items
    /// spread over the workers, while a false alarm (a worker descheduled on a busy machine)
    /// costs a handful of tasks, not one per item.
    fn leftover_len(&mut self, n: usize, _chunksize: usize) -> usize {
        let pieces = self.pool.max_workers().saturating_mul(2).clamp(1, n.max(1));
        n.div_ceil(pieces)
    }
}

/// One task of a map: a batch of items, run in one loop under one `catch_unwind` (entered again
/// after an item that panicked), each item with its own result.
struct BatchJob<F, X, T> {
    f: Arc<F>,
    items: Vec<X>,
    promise: Promise<Chunk<X, T>>,
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
        // weft's clock: under loom `elapsed` is zero, and `finished` leaves the size alone.
        let start = clock::Instant::now();
        let mut items = items.into_iter();
        let mut values = Vec::with_capacity(items.len());
        let mut errors = Vec::new();
        // One `catch_unwind` around a tight loop over the items, entered again after an item
        // that panicked: the item was taken from `items` before it ran, so the loop resumes at
        // the next one, and the failed item's position is the count of results so far.
        loop {
            let ran = catch_unwind(AssertUnwindSafe(|| match &split {
                None => values.extend(items.by_ref().map(&*f)),
                Some(flag) => {
                    for x in items.by_ref() {
                        values.push(f(x));
                        // Relaxed: see `Batches::stalled`.
                        if flag.load(Ordering::Relaxed) {
                            return;
                        }
                    }
                }
            }));
            match ran {
                Ok(()) => break,
                Err(payload) => {
                    errors.push((values.len() + errors.len(), TaskError::from_panic(payload)));
                    if split
                        .as_ref()
                        .is_some_and(|flag| flag.load(Ordering::Relaxed))
                    {
                        break;
                    }
                }
            }
        }
        let leftover: Vec<X> = items.collect();
        let elapsed = start.elapsed();
        // Drop our share of `f` before completing, so that the caller never waits on it.
        drop(f);
        finishing.announce();
        promise.set_result(Chunk {
            values,
            errors,
            leftover,
            elapsed,
        });
    }

    fn abort(self: Box<Self>, why: Abort) {
        why.apply(self.promise);
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use weft_futures::{MapOptions, MapSubmit};

    use super::{Batches, max_batch};
    use crate::ThreadPoolExecutor;

    #[test]
    fn the_largest_batch_is_sized_by_bytes() {
        assert_eq!(max_batch::<u64, u64>(), 8192);
        assert_eq!(max_batch::<u8, u16>(), 32_768);
        assert_eq!(max_batch::<(), ()>(), 65_536);
        assert_eq!(max_batch::<u64, [u8; 1024]>(), 4096);
    }

    #[test]
    fn the_last_adaptive_batches_shrink_with_the_input() {
        let pool = ThreadPoolExecutor::new(2);
        let mut b = Batches::new(&pool, |x: u64| x, MapOptions::default());
        b.adaptive.as_mut().unwrap().size = 4096;
        let mut len =
            |left: (usize, Option<usize>)| MapSubmit::<u64, u64>::chunk_len_hinted(&mut b, 1, left);
        // A quarter (2 × max_workers pieces) of what is left, but not below the floor (the
        // adaptive size × max_workers / 256: 32 items), nor above what is left; at least one.
        assert_eq!(len((1_000_000, Some(1_000_000))), 4096);
        assert_eq!(len((10_000, Some(10_000))), 2500);
        assert_eq!(len((800, Some(800))), 200);
        assert_eq!(len((100, Some(100))), 32);
        assert_eq!(len((20, Some(20))), 20);
        assert_eq!(len((1, Some(1))), 1);
        // An input that knows no lower bound is not capped.
        assert_eq!(len((0, None)), 4096);
        assert_eq!(len((0, Some(10))), 4096);
        // An explicit chunksize is honoured exactly.
        let mut fixed = Batches::new(&pool, |x: u64| x, MapOptions::default().chunksize(7));
        assert_eq!(
            MapSubmit::<u64, u64>::chunk_len_hinted(&mut fixed, 7, (3, Some(3))),
            7
        );
    }

    #[test]
    fn one_worker_keeps_its_batches_whole_to_the_end() {
        // Nobody to balance with: no guided cut, only what is left caps the batch.
        let pool = ThreadPoolExecutor::new(1);
        let mut b = Batches::new(&pool, |x: u64| x, MapOptions::default());
        b.adaptive.as_mut().unwrap().size = 4096;
        let mut len =
            |left: (usize, Option<usize>)| MapSubmit::<u64, u64>::chunk_len_hinted(&mut b, 1, left);
        assert_eq!(len((10_000, Some(10_000))), 4096);
        assert_eq!(len((5_000, Some(5_000))), 4096);
        assert_eq!(len((800, Some(800))), 800);
        assert_eq!(len((1, Some(1))), 1);
        assert_eq!(len((0, None)), 4096);
    }
}
