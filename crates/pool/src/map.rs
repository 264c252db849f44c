//! How the thread pool runs the tasks of a `map`: batches of items, sized adaptively.
//!
//! Order, laziness, buffering and cancellation are [`weft_futures::Map`]'s, shared by every
//! executor; this file only says how a batch of items becomes a job, and, with the default
//! options, how big the batches are.

use std::{
    mem,
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use weft_futures::{Chunk, MapOptions, MapSubmit, Promise, Submitted, TaskError, promise};
use weft_sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicU64, Ordering},
    claims::{Claim, Claims, Parcel, Settled},
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
/// rarely: 2 ms rather than 0.5 ms made `map` over 1 µs items 0.5–1 % faster (issue 12). Idle
/// workers help finish the last ones (see [`Batch`]).
const TARGET_NANOS: u64 = 2_000_000;
/// Adaptive batches grow at most this many times per batch. One timed item may be a fluke, but
/// a batch sized from it that turns out slow is split after [`SPLIT_AFTER`] like any other;
/// fourfold growth took seven batches from one item to 2 ms of 1 µs items, each a round trip
/// through the caller while the workers ran dry (issue 12, fourteenth round: 1 → 64 → 2 000 items).
const GROWTH: usize = 64;
/// While the map's oldest batch is expected to take at most this long (or no batch has been
/// timed yet), its caller polls for it this long before it parks ([`MapSubmit::poll_for`]).
/// The first result of a map over 1 µs items took 110–180 µs with the caller parked at once and
/// 70–130 µs with it polling, on the machine of issue 12 (a parked caller on an idle vCPU takes
/// tens of microseconds to wake up); every round trip of the ramp costs that.
const POLL_NANOS: u64 = 250_000;
/// A caller that has waited this long for a batch asks every batch in flight to split: the items
/// turned slow, and what is left of each batch should spread over the workers.
const SPLIT_AFTER: Duration = Duration::from_millis(50);
/// The work in one claim of a batch's items (see [`Batch`]): idle workers help a running batch
/// in claims this long, so its last items spread over the workers within about this much, and
/// a claim costs one atomic addition per this much work.
const BLOCK_NANOS: u64 = 50_000;
/// Claims per batch before any batch of the map reported its time.
const UNMEASURED_BLOCKS: usize = 8;
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
/// start at one item, grow (at most [`GROWTH`]-fold per batch) while batches run under
/// [`TARGET_NANOS`], shrink at once when they run longer, and a caller that waits
/// [`SPLIT_AFTER`] for its oldest batch makes every batch in flight stop after its current item
/// and hand what it left to the pool, spread over the workers. With explicit options, each
/// batch carries exactly `chunksize` items. Either way, a worker that finds the queue empty
/// helps a running batch with the items nobody has claimed yet ([`Batch`]).
pub(crate) struct Batches<'a, F> {
    pool: &'a ThreadPoolExecutor,
    f: Arc<F>,
    adaptive: Option<Adaptive>,
    /// Nanoseconds per item in the last batch that reported its time, if any did.
    per_item: Option<u64>,
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
            per_item: None,
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
        // Claims of about `BLOCK_NANOS` each; before any batch reported its time, an eighth of
        // the batch.
        let block = match self.per_item {
            Some(per_item) => usize::try_from(BLOCK_NANOS / per_item).unwrap_or(usize::MAX),
            None => items.len().div_ceil(UNMEASURED_BLOCKS),
        };
        let batch = Box::new(BatchJob {
            f: self.f.clone(),
            items,
            promise,
            split: self.adaptive.as_ref().map(|a| a.split.clone()),
            block,
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
    /// more than what is left: the last batch is the remainder, not a full batch that would pull
    /// one more item from the input only to see it end. The last batches are not cut smaller:
    /// idle workers help finish a running batch (see [`Batch`]), so the workers run out of
    /// items together without the extra hand-offs to the caller that smaller batches cost.
    fn chunk_len_hinted(&mut self, chunksize: usize, remaining: (usize, Option<usize>)) -> usize {
        let size = self.chunk_len(chunksize);
        match (&self.adaptive, remaining.0) {
            (Some(_), left) if left > 0 => size.min(left),
            _ => size,
        }
    }

    fn patience(&self) -> Option<Duration> {
        self.adaptive.as_ref().map(|_| SPLIT_AFTER)
    }

    fn poll_for(&self, len: usize) -> Option<Duration> {
        self.adaptive.as_ref()?;
        let quick = self
            .per_item
            .is_none_or(|per_item| per_item.saturating_mul(len as u64) <= POLL_NANOS);
        quick.then_some(Duration::from_nanos(POLL_NANOS))
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
        // An unmeasured batch (under loom: one whose runners saw no other thread's time pass)
        // or an empty one says nothing.
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        if ran == 0 || nanos == 0 {
            return;
        }
        let per_item = (nanos / ran as u64).max(1);
        self.per_item = Some(per_item);
        let Some(a) = &mut self.adaptive else { return };
        let max = max_batch::<X, T>();
        let ideal = usize::try_from(TARGET_NANOS / per_item).unwrap_or(max);
        // Grow at most `GROWTH`-fold per batch; shrink at once.
        a.size = ideal.clamp(1, max).min(a.size.saturating_mul(GROWTH));
    }
}

/// One task of a map: a batch of items, which its worker runs in blocks claimed from a shared
/// cursor, so that an idle worker can claim the blocks left (see [`Batch`]).
struct BatchJob<F, X, T> {
    f: Arc<F>,
    items: Vec<X>,
    promise: Promise<Chunk<X, T>>,
    split: Option<SplitFlag>,
    /// Items per claim.
    block: usize,
}

impl<F, X, T> Job for BatchJob<F, X, T>
where
    F: Fn(X) -> T + Send + Sync + 'static,
    X: Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, finishing: &Finishing<'_>) {
        let BatchJob {
            f,
            items,
            promise,
            split,
            block,
        } = *self;
        if !promise.set_running() {
            // The map iterator was dropped and cancelled this batch.
            return;
        }
        let pool = finishing.pool();
        // A batch of several blocks is offered to idle workers while it runs; with nobody to
        // help, its worker claims it whole.
        let block = if pool.max_workers() > 1 {
            block
        } else {
            items.len()
        };
        let batch = Arc::new(Batch::new(f, items, promise, split, block));
        let offered = batch.claims.len() > batch.block;
        if offered {
            Shared::offer_help(pool, Box::new(Helper(batch.clone())));
        }
        Batch::claim_and_run(&batch, pool, finishing, false);
        if offered {
            pool.withdraw_help(Arc::as_ptr(&batch).cast());
        }
    }

    fn abort(self: Box<Self>, why: Abort) {
        why.apply(self.promise);
    }
}

/// A batch being run: its items claimed in blocks by its worker and by idle workers that help
/// it (weft-sync's [`Claims`]), the results in order, and the future to complete.
///
/// # The protocol
///
/// * **Claims.** A runner (the batch's worker, or an idle worker helping it) claims `block`
///   items at a time; each item is claimed by exactly one runner, which runs it and puts its
///   result (or records its panic in `errors`).
/// * **Settling.** A runner settles each claim when it is done with it; the runner that
///   settles the last item gets the token that unlocks the results, and completes the future,
///   alone. It drops the batch's share of the map's function first, and every runner drops its
///   own before it settles, so that the function is dropped by the map's caller, as before.
/// * **Splitting.** When the map's caller has waited too long (the items turned slow), `split`
///   is raised: a runner stops after its current item and hands the rest of its claim to the
///   pool as [`Piece`] jobs spread over the workers, which run and settle them; later claims
///   take one item each.
///
/// `tests/loom.rs` (`an_idle_worker_helps_a_running_batch`) explores a worker and a helper
/// sharing a batch.
struct Batch<F, X, T> {
    /// The map's function, until the batch completes.
    f: Mutex<Option<Arc<F>>>,
    claims: Claims<X, T>,
    block: usize,
    /// The items that panicked (or never ran, for a piece the pool aborted), by position.
    errors: Mutex<Vec<(usize, TaskError)>>,
    /// Nanoseconds spent running items, summed over the runners.
    busy: AtomicU64,
    promise: Mutex<Option<Promise<Chunk<X, T>>>>,
    split: Option<SplitFlag>,
}

impl<F, X, T> Batch<F, X, T>
where
    F: Fn(X) -> T + Send + Sync + 'static,
    X: Send + 'static,
    T: Send + 'static,
{
    fn new(
        f: Arc<F>,
        items: Vec<X>,
        promise: Promise<Chunk<X, T>>,
        split: Option<SplitFlag>,
        block: usize,
    ) -> Self {
        Self {
            f: Mutex::new(Some(f)),
            block: block.clamp(1, items.len().max(1)),
            claims: Claims::new(items),
            errors: Mutex::new(Vec::new()),
            busy: AtomicU64::new(0),
            promise: Mutex::new(Some(promise)),
            split,
        }
    }

    fn split_raised(&self) -> bool {
        // Relaxed: the flag only asks to stop early; results travel through the claims.
        self.split
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Claims and runs blocks until none is left (a `helper` also stops when the pool has a job
    /// queued: queued work comes first).
    ///
    /// Each claim settles once the runner holds the next one, which it cannot be the last to
    /// settle while it holds another; the last claim settles after the runner dropped its share
    /// of the function, so whoever completes the batch drops the batch's share after every
    /// runner's.
    fn claim_and_run(
        this: &Arc<Self>,
        pool: &Arc<Shared>,
        finishing: &Finishing<'_>,
        helper: bool,
    ) {
        let mut f: Option<Arc<F>> = None;
        let mut held: Option<Claim<'_, X, T>> = None;
        let mut t = clock::Instant::now();
        loop {
            if helper && pool.has_queued() {
                break;
            }
            let k = if this.split_raised() { 1 } else { this.block };
            let Some(mut claim) = this.claims.claim(k) else {
                break;
            };
            if let Some(previous) = held.take() {
                let last = previous.settle();
                debug_assert!(
                    last.is_none(),
                    "a claim held: the previous one is not the last"
                );
            }
            // A share of the function while this runner holds a claim: the batch cannot
            // complete meanwhile, so it is there.
            let f = f.get_or_insert_with(|| {
                this.f
                    .lock()
                    .clone()
                    .expect("the map's function lives until the batch completes")
            });
            if this.run(f, &mut claim, true)
                && let Some(parcel) = claim.split_off()
            {
                Self::spread(this, pool, finishing, parcel);
            }
            held = Some(claim);
            this.add_busy(&mut t);
        }
        drop(f);
        if let Some(last) = held
            && let Some(settled) = last.settle()
        {
            this.complete(settled, Some(finishing));
        }
    }

    /// Adds the time since `t` to the batch's busy time, and restarts `t`.
    fn add_busy(&self, t: &mut clock::Instant) {
        let nanos = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy.fetch_add(nanos, Ordering::Relaxed);
        *t = clock::Instant::now();
    }

    /// Runs the items of `claim` with `f`, until none is left or, if `stoppable`, until `split`
    /// is raised (after at least one item); whether it stopped early.
    fn run(&self, f: &F, claim: &mut Claim<'_, X, T>, stoppable: bool) -> bool {
        // The flag, looked up once: the check after each item is one Relaxed load.
        let flag = self.split.as_deref().filter(|_| stoppable);
        let stop = || flag.is_some_and(|flag| flag.load(Ordering::Relaxed));
        // One `catch_unwind` around a tight loop, entered again after an item that panicked
        // (its position is recorded; the claim lists it as failed).
        loop {
            match catch_unwind(AssertUnwindSafe(|| claim.run(f, stop))) {
                Ok(early) => return early,
                Err(payload) => {
                    let at = claim.unanswered().expect("a panic comes from an item");
                    self.errors
                        .lock()
                        .push((at, TaskError::from_panic(payload)));
                    if stop() {
                        return true;
                    }
                }
            }
        }
    }

    /// Hands the items of `parcel` (a runner's unrun rest) to the pool in up to
    /// `2 × max_workers` pieces; the ones the pool refuses (it broke) run here.
    fn spread(this: &Arc<Self>, pool: &Arc<Shared>, finishing: &Finishing<'_>, mut parcel: Parcel) {
        let per = parcel
            .len()
            .div_ceil(pool.max_workers().saturating_mul(2).clamp(1, parcel.len()));
        loop {
            let rest = parcel.split_at(per);
            let piece = Box::new(Piece {
                batch: this.clone(),
                parcel,
            });
            if let Err(piece) = Shared::push_piece(pool, piece) {
                piece.run(finishing);
            }
            match rest {
                Some(rest) => parcel = rest,
                None => return,
            }
        }
    }

    /// Completes the batch's future with every result, in order. Called once, with the token
    /// of the last settled claim (`finishing`: `None` for the pool aborting a piece).
    fn complete(&self, settled: Settled, finishing: Option<&Finishing<'_>>) {
        // Drop the batch's share of the map's function before completing (every runner
        // dropped its own before settling), so that the caller never waits on it.
        drop(self.f.lock().take());
        // The positions without a result are the ones `errors` holds (the items that panicked,
        // or that an aborted piece dropped).
        let (values, _) = self.claims.finish(settled);
        let mut errors = mem::take(&mut *self.errors.lock());
        errors.sort_unstable_by_key(|&(at, _)| at);
        let elapsed = Duration::from_nanos(self.busy.load(Ordering::Relaxed));
        let promise = self.promise.lock().take();
        if let Some(finishing) = finishing {
            finishing.announce();
        }
        promise
            .expect("a batch is completed once")
            .set_result(Chunk {
                values,
                errors,
                leftover: Vec::new(),
                elapsed,
            });
    }
}

/// Items of a running batch whose runner was asked to split: a job of the pool, run by whichever
/// worker takes it (see [`Batch`]).
struct Piece<F, X, T> {
    batch: Arc<Batch<F, X, T>>,
    parcel: Parcel,
}

impl<F, X, T> Job for Piece<F, X, T>
where
    F: Fn(X) -> T + Send + Sync + 'static,
    X: Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, finishing: &Finishing<'_>) {
        let Piece { batch, parcel } = *self;
        let mut t = clock::Instant::now();
        let mut claim = batch.claims.redeem(parcel);
        let f = batch
            .f
            .lock()
            .clone()
            .expect("the map's function lives until the batch completes");
        batch.run(&f, &mut claim, false);
        drop(f);
        batch.add_busy(&mut t);
        if let Some(settled) = claim.settle() {
            batch.complete(settled, Some(finishing));
        }
    }

    /// The pool shut down with `cancel_futures`, or broke, before a worker took the piece: its
    /// items fail with that error, unrun.
    fn abort(self: Box<Self>, why: Abort) {
        let Piece { batch, parcel } = *self;
        let error = why.error();
        let mut claim = batch.claims.redeem(parcel);
        batch
            .errors
            .lock()
            .extend(claim.range().map(|at| (at, error.clone())));
        while let Some((_, item)) = claim.take() {
            // A panicking `Drop` of an item must not keep the batch from settling.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(item)));
        }
        if let Some(settled) = claim.settle() {
            batch.complete(settled, None);
        }
    }
}

/// A running batch as the pool's idle workers see it (type-erased).
pub(crate) trait Help: Send {
    /// The batch, for [`Shared::withdraw_help`].
    fn id(&self) -> *const ();
    /// Whether every item is claimed.
    fn exhausted(&self) -> bool;
    /// Another handle on the same batch.
    fn handle(&self) -> Box<dyn Help>;
    /// Claims and runs blocks of the batch until none is left or a job is queued.
    fn help(&self, pool: &Arc<Shared>, finishing: &Finishing<'_>);
}

struct Helper<F, X, T>(Arc<Batch<F, X, T>>);

impl<F, X, T> Help for Helper<F, X, T>
where
    F: Fn(X) -> T + Send + Sync + 'static,
    X: Send + 'static,
    T: Send + 'static,
{
    fn id(&self) -> *const () {
        Arc::as_ptr(&self.0).cast()
    }

    fn exhausted(&self) -> bool {
        self.0.claims.all_claimed()
    }

    fn handle(&self) -> Box<dyn Help> {
        Box::new(Helper(self.0.clone()))
    }

    fn help(&self, pool: &Arc<Shared>, finishing: &Finishing<'_>) {
        Batch::claim_and_run(&self.0, pool, finishing, true);
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use weft_futures::{MapOptions, MapSubmit, promise};
    use weft_sync::Arc;

    use super::{Batch, Batches, Piece, max_batch};
    use crate::{
        ThreadPoolExecutor,
        job::{Abort, Job},
    };

    #[test]
    fn the_largest_batch_is_sized_by_bytes() {
        assert_eq!(max_batch::<u64, u64>(), 8192);
        assert_eq!(max_batch::<u8, u16>(), 32_768);
        assert_eq!(max_batch::<(), ()>(), 65_536);
        assert_eq!(max_batch::<u64, [u8; 1024]>(), 4096);
    }

    /// A runner asked to split ran two items and handed the rest on as two pieces; the pool
    /// then shut down with `cancel_futures` (or broke) before any worker took them. The pieces'
    /// items fail with that error, unrun, and the batch still completes once, whichever settles
    /// last: the runner, a piece, or a piece that did run.
    #[test]
    fn pieces_aborted_before_they_run_fail_their_items_and_the_batch_completes() {
        for order in 0..3 {
            for why in [Abort::Cancel, Abort::Broken("gone".into())] {
                let (p, future) = promise();
                let f = Arc::new(|x: u32| x * 10);
                let batch = Arc::new(Batch::new(f.clone(), (0..7).collect(), p, None, 7));
                let mut claim = batch.claims.claim(7).expect("seven items");
                let mut n = 0;
                assert!(claim.run(&*f, || {
                    n += 1;
                    n == 2
                }));
                let mut rest = claim.split_off().expect("five items left");
                let second = rest.split_at(2).expect("a second piece");
                let piece = |parcel| {
                    Box::new(Piece {
                        batch: batch.clone(),
                        parcel,
                    })
                };
                let (first, second) = (piece(rest), piece(second));
                let error = why.clone().error();
                match order {
                    // Both pieces aborted, the runner settles last.
                    0 => {
                        first.abort(why.clone());
                        second.abort(why);
                        assert!(!future.done());
                        let settled = claim.settle().expect("the runner settles last");
                        batch.complete(settled, None);
                    }
                    // The runner settles first; the second aborted piece completes the batch.
                    1 => {
                        assert!(claim.settle().is_none());
                        first.abort(why.clone());
                        assert!(!future.done());
                        second.abort(why);
                    }
                    // The first piece runs its items (as a worker would), the second is aborted
                    // last.
                    _ => {
                        assert!(claim.settle().is_none());
                        let mut c = batch.claims.redeem(first.parcel);
                        assert!(!c.run(&*f, || false));
                        assert!(c.settle().is_none());
                        drop(first.batch);
                        second.abort(why);
                    }
                }
                // Completed at once, by whichever settled last (no waiting: a lost token would
                // leave it pending for ever).
                let Ok(done) = future.try_result() else {
                    panic!("order {order}: the batch was not completed");
                };
                let chunk = done.expect("the batch completed with its results");
                let failed: Vec<usize> = if order == 2 {
                    vec![4, 5, 6]
                } else {
                    (2..7).collect()
                };
                let values: Vec<u32> = (0..7u32)
                    .filter(|x| !failed.contains(&(*x as usize)))
                    .map(|x| x * 10)
                    .collect();
                assert_eq!(chunk.values, values, "order {order}");
                assert_eq!(
                    chunk.errors,
                    failed
                        .iter()
                        .map(|&at| (at, error.clone()))
                        .collect::<Vec<_>>(),
                    "order {order}"
                );
                assert!(chunk.leftover.is_empty());
                // The batch dropped its share of the function when it completed.
                assert_eq!(Arc::strong_count(&f), 1);
            }
        }
    }

    /// The ramp of an adaptive map: one item, then at most `GROWTH` times more per timed batch,
    /// up to ~2 ms of items; the caller polls a batch that is not timed yet or is expected to be
    /// quick, and parks at once for a long one. Explicit options never poll.
    #[test]
    fn adaptive_batches_ramp_in_two_steps_and_the_caller_polls_only_quick_ones() {
        use std::time::Duration;

        use super::{GROWTH, POLL_NANOS, TARGET_NANOS};

        let pool = ThreadPoolExecutor::new(2);
        let mut b = Batches::new(&pool, |x: u64| x, MapOptions::default());
        let poll = Some(Duration::from_nanos(POLL_NANOS));
        let size = |b: &mut Batches<'_, _>| MapSubmit::<u64, u64>::chunk_len(b, 1);
        assert_eq!(size(&mut b), 1);
        // Nothing timed yet: the first batches are polled, whatever their length.
        assert_eq!(MapSubmit::<u64, u64>::poll_for(&b, 1), poll);
        assert_eq!(MapSubmit::<u64, u64>::poll_for(&b, 1_000_000), poll);
        // One item ran in 1 µs: the next batch grows by `GROWTH` only...
        MapSubmit::<u64, u64>::finished(&mut b, 1, Duration::from_micros(1));
        assert_eq!(size(&mut b), GROWTH);
        // ...and the one after that reaches the target (2 ms of 1 µs items).
        MapSubmit::<u64, u64>::finished(&mut b, GROWTH, Duration::from_micros(GROWTH as u64));
        let ideal = usize::try_from(TARGET_NANOS / 1_000).unwrap();
        assert_eq!(size(&mut b), ideal);
        // At 1 µs an item, a batch of up to 250 items is polled; a 2 ms batch is not.
        let quick = usize::try_from(POLL_NANOS / 1_000).unwrap();
        assert_eq!(MapSubmit::<u64, u64>::poll_for(&b, quick), poll);
        assert_eq!(MapSubmit::<u64, u64>::poll_for(&b, quick + 1), None);
        assert_eq!(MapSubmit::<u64, u64>::poll_for(&b, ideal), None);
        // Items that turn slow shrink the batches at once.
        MapSubmit::<u64, u64>::finished(&mut b, 10, Duration::from_millis(10));
        assert_eq!(size(&mut b), 2);
        // An explicit chunksize (or buffersize) is never polled.
        let fixed = Batches::new(&pool, |x: u64| x, MapOptions::default().chunksize(7));
        assert_eq!(MapSubmit::<u64, u64>::poll_for(&fixed, 7), None);
        let fixed = Batches::new(&pool, |x: u64| x, MapOptions::default().buffersize(4));
        assert_eq!(MapSubmit::<u64, u64>::poll_for(&fixed, 1), None);
    }

    #[test]
    fn an_adaptive_batch_takes_no_more_than_what_is_left() {
        for workers in [1, 2, 8] {
            let pool = ThreadPoolExecutor::new(workers);
            let mut b = Batches::new(&pool, |x: u64| x, MapOptions::default());
            b.adaptive.as_mut().unwrap().size = 4096;
            let mut len = |left: (usize, Option<usize>)| {
                MapSubmit::<u64, u64>::chunk_len_hinted(&mut b, 1, left)
            };
            // Full batches while enough is left, whatever the pool's size (idle workers help
            // finish the last ones: no guided cut); then the remainder.
            assert_eq!(len((1_000_000, Some(1_000_000))), 4096);
            assert_eq!(len((5_000, Some(5_000))), 4096);
            assert_eq!(len((800, Some(800))), 800);
            assert_eq!(len((1, Some(1))), 1);
            // An input that knows no lower bound is not capped.
            assert_eq!(len((0, None)), 4096);
            assert_eq!(len((0, Some(10))), 4096);
        }
        // An explicit chunksize is honoured exactly.
        let pool = ThreadPoolExecutor::new(2);
        let mut fixed = Batches::new(&pool, |x: u64| x, MapOptions::default().chunksize(7));
        assert_eq!(
            MapSubmit::<u64, u64>::chunk_len_hinted(&mut fixed, 7, (3, Some(3))),
            7
        );
    }
}
