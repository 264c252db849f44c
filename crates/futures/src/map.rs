//! `Executor.map`, once for every executor: ordered, lazy, bounded, cancelled on drop.

use std::{collections::VecDeque, fmt, mem, time::Duration, vec};

use weft_sync::Deadline;

use crate::{Future, MapOptions, TaskError, shared::Spin};

/// What one task of a [`Map`] hands back when it runs several items: the result of every item
/// it ran, in order, and the items it was asked to leave unrun.
///
/// The results are stored compactly, as the values of the items that succeeded (`values`) and
/// the errors of those that failed, with their positions (`errors`): a map of cheap items
/// carries one `R` per item from the worker to the consumer, not a `Result` (several times
/// larger), and the consumer's loop over them stays a loop over plain values (docs/futures.md,
/// "Issue 12"). [`Chunk::new`] builds one from a `Result` per item.
///
/// An executor that runs a chunk in one go returns every result and no `leftover`. One that
/// can stop a running chunk early (asked to by [`MapSubmit::stalled`]) and cannot spread the
/// rest itself hands the items it did not run back in `leftover`; the map submits them again,
/// ahead of every later task, so the results still come in input order. (weft-pool spreads a
/// stopped batch's items over its workers itself, and returns none.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft_futures::{Chunk, TaskError};
///
/// let c: Chunk<u8, u8> = Chunk::new(vec![Ok(1), Err(TaskError::Cancelled), Ok(2)]);
/// assert_eq!(c.values, [1, 2]);
/// assert_eq!(c.errors, [(1, TaskError::Cancelled)]);
/// assert_eq!(c.len(), 3);
/// assert!(c.leftover.is_empty());
/// assert_eq!(c.elapsed, Duration::ZERO);
/// ```
#[derive(Debug)]
pub struct Chunk<X, R> {
    /// The values of the items that succeeded, in input order.
    pub values: Vec<R>,
    /// The items that failed: each one's position among the items run (`0..len()`) and its
    /// error, in increasing position. The items run are `values.len() + errors.len()`; the
    /// positions not listed here take the values in order.
    pub errors: Vec<(usize, TaskError)>,
    /// The items after the last one run, not run, in input order.
    pub leftover: Vec<X>,
    /// How long the task ran its items (`Duration::ZERO` if the executor does not measure it),
    /// for executors that size their chunks from it.
    pub elapsed: Duration,
}

impl<X, R> Chunk<X, R> {
    /// A chunk that ran every item: one result per item, in order; no leftover, no timing.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = weft_futures::Chunk::<(), i32>::new(vec![Ok(7)]);
    /// assert_eq!(c.values, [7]);
    /// assert!(c.errors.is_empty());
    /// ```
    #[must_use]
    pub fn new(results: Vec<Result<R, TaskError>>) -> Self {
        let mut values = Vec::with_capacity(results.len());
        let mut errors = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(v) => values.push(v),
                Err(e) => errors.push((i, e)),
            }
        }
        Self {
            values,
            errors,
            leftover: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// How many items ran: `values.len() + errors.len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = weft_futures::Chunk::<(), i32>::new(vec![Ok(1), Ok(2)]);
    /// assert_eq!(c.len(), 2);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len() + self.errors.len()
    }

    /// Whether no item ran.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_futures::Chunk::<(), i32>::new(Vec::new()).is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.errors.is_empty()
    }
}

/// One task of a [`Map`], as the executor submitted it.
///
/// # Examples
///
/// ```
/// use weft_futures::{Submitted, TaskError, promise};
///
/// let (p, f) = promise::<u32>();
/// p.set_result(1);
/// let one: Submitted<u8, u32> = Submitted::One(f);
/// let refused: Submitted<u8, u32> = Submitted::Refused(TaskError::Cancelled);
/// # drop((one, refused));
/// ```
#[derive(Debug)]
pub enum Submitted<X, R> {
    /// A single item, with its own future.
    One(Future<R>),
    /// Several items in one task, with one future for all their results.
    Chunk(Future<Chunk<X, R>>),
    /// The executor refused the task (it was shut down, or is broken): every item of it yields
    /// this error, and the map pulls nothing more from its input.
    Refused(TaskError),
}

/// The part of `map` that differs between executors: how a task of items is submitted, and
/// optionally how many items go into each task.
///
/// Everything else ([`Map`]'s order, laziness, buffering and cancellation) is shared, so `map`
/// behaves the same on threads, on processes and on a cluster. An executor implements this
/// (privately) and returns [`Map::new`] from its `map_with`.
///
/// # Examples
///
/// An executor that runs each item at once on the calling thread:
///
/// ```
/// use weft_futures::{Map, MapOptions, MapSubmit, Submitted, promise};
///
/// struct Inline;
///
/// impl MapSubmit<u32, u32> for Inline {
///     fn submit(&mut self, mut items: Vec<u32>) -> Submitted<u32, u32> {
///         let (p, f) = promise();
///         p.set_result(items.pop().unwrap() * 10);
///         Submitted::One(f)
///     }
/// }
///
/// let map = Map::new(Inline, 1..=3, MapOptions::default(), 2);
/// assert_eq!(map.collect::<Vec<_>>(), [Ok(10), Ok(20), Ok(30)]);
/// ```
pub trait MapSubmit<X, R> {
    /// Submits `items` (at least one, at most the last [`chunk_len`](Self::chunk_len)) as one
    /// task. A single item may come back as [`Submitted::One`]; several must come back as
    /// [`Submitted::Chunk`] (or [`Submitted::Refused`]).
    fn submit(&mut self, items: Vec<X>) -> Submitted<X, R>;

    /// How many items the next task takes, given the `chunksize` of the map's options.
    /// The default is `chunksize`; an executor with its own chunking policy returns its own
    /// choice (at least 1).
    fn chunk_len(&mut self, chunksize: usize) -> usize {
        chunksize
    }

    /// [`chunk_len`](Self::chunk_len), told what the input says of the items it has left
    /// (`remaining`: its `size_hint`, the items already pulled not counted). The map calls
    /// this one; the default ignores `remaining`. An executor with adaptive chunks can shrink
    /// the last ones, so that the workers run out of items together.
    fn chunk_len_hinted(&mut self, chunksize: usize, remaining: (usize, Option<usize>)) -> usize {
        let _ = remaining;
        self.chunk_len(chunksize)
    }

    /// How long the map waits for its oldest task before calling [`stalled`](Self::stalled);
    /// `None` (the default): it just waits.
    fn patience(&self) -> Option<Duration> {
        None
    }

    /// The oldest task took longer than [`patience`](Self::patience): an executor that can
    /// split its running chunks asks them to stop early (their leftover comes back in
    /// [`Chunk::leftover`]).
    fn stalled(&mut self) {}

    /// A chunk came back: `ran` items ran in `elapsed`. For an executor that sizes its chunks.
    fn finished(&mut self, ran: usize, elapsed: Duration) {
        let _ = (ran, elapsed);
    }

    /// How long the map may keep looking at its oldest task, `len` items, yielding its CPU in
    /// between, before it parks to wait for it (`None`, the default: it only spins briefly).
    /// An executor whose first chunks are small and quick (an adaptive map's ramp) returns about
    /// how long such a task takes: the caller is then awake when it finishes and submits the
    /// next chunks at once, where a parked caller costs a wake-up, and on some machines tens of
    /// microseconds in which the workers run out of work (issue 12, docs/pool.md).
    fn poll_for(&self, len: usize) -> Option<Duration> {
        let _ = len;
        None
    }

    /// How many items go into each task that re-submits the `n` items a split chunk left
    /// (at least 1). The default: [`chunk_len`](Self::chunk_len) of `chunksize`.
    fn leftover_len(&mut self, n: usize, chunksize: usize) -> usize {
        let _ = n;
        self.chunk_len(chunksize)
    }
}

/// The iterator of every executor's `map` and `map_with`: one `Result` per item, in input
/// order, each `Ok` or that item's own [`TaskError`]. Python's `Executor.map` with 3.14's
/// `buffersize`.
///
/// * **Eager start.** Creating it submits the first `buffersize` tasks (pulling their items
///   from the input on the calling thread), as Python's `map` does when called.
/// * **Lazy, bounded.** Each result taken lets one more task be submitted; at most
///   `buffersize` tasks are submitted and not yet consumed, so at most
///   `buffersize × chunksize` items are pulled ahead of the results taken (plus one `next` on
///   the input to see its end). An endless input runs in constant memory; the input need not be
///   `Send`.
/// * **Ordered.** Results come in input order, whatever order the tasks finish in.
/// * **Chunks.** With `chunksize(k)` each task carries `k` items, and every item still gets
///   its own result: a panic in one item fails that item alone.
/// * **Cancelled on drop.** Dropping the iterator cancels every task submitted and not yet
///   consumed, always, also before the first `next` (tasks already running finish; their
///   results are discarded). Python cancels only once the generator has started; see
///   `docs/futures.md`.
/// * **Refusal.** If the executor stops accepting work while mapping, the items of the task it
///   refused yield its error ([`TaskError::Cancelled`] after a shutdown,
///   [`TaskError::BrokenPool`] on a broken pool) and the iteration ends.
///
/// # Examples
///
/// ```
/// use weft_futures::{Map, MapOptions, MapSubmit, Submitted, promise};
///
/// struct Inline;
///
/// impl MapSubmit<i32, i32> for Inline {
///     fn submit(&mut self, mut items: Vec<i32>) -> Submitted<i32, i32> {
///         let (p, f) = promise();
///         p.set_result(-items.pop().unwrap());
///         Submitted::One(f)
///     }
/// }
///
/// let mut map = Map::new(Inline, [1, 2, 3], MapOptions::default().buffersize(1), 4);
/// assert_eq!(map.next(), Some(Ok(-1)));
/// assert_eq!(map.collect::<Vec<_>>(), [Ok(-2), Ok(-3)]);
/// ```
#[must_use = "dropping a map cancels its tasks; iterate it"]
pub struct Map<'a, X, R, I> {
    source: Box<dyn MapSubmit<X, R> + Send + 'a>,
    items: I,
    /// Tasks submitted and not yet consumed, oldest first.
    inflight: VecDeque<Slot<X, R>>,
    /// The results of the chunk being handed out.
    current: Current<R>,
    buffersize: usize,
    chunksize: usize,
    /// The input is exhausted, or the executor refused a task: pull no more.
    done_pulling: bool,
    /// The last chunk taken ran at least [`LONG_CHUNK`]: the next wait parks without the
    /// future's busy spin, which could catch only the last few microseconds of such a chunk.
    /// (Under loom no chunk reports a duration, so the models wait as before.)
    long_chunks: bool,
}

/// A chunk that ran this long makes the map wait for the next without spinning first. The
/// spin of a blocking wait lasts a few microseconds (7 on the machine of issue 12); a
/// thread woken by a chunk's completion often lands on the CPU of the worker that completed
/// it, and there its spin before the next wait is time taken from that worker, for a
/// completion that is usually milliseconds away (issue 12, docs/pool.md).
const LONG_CHUNK: Duration = Duration::from_micros(100);

enum Slot<X, R> {
    One(Future<R>),
    /// A chunk of `usize` items.
    Chunk(Future<Chunk<X, R>>, usize),
    /// `usize` items the executor refused: each yields this error.
    Refused(TaskError, usize),
}

enum Current<R> {
    Empty,
    Ok(Results<R>),
    Err(TaskError, usize),
}

/// The results of a [`Chunk`] being handed out, in input order.
struct Results<R> {
    values: vec::IntoIter<R>,
    errors: vec::IntoIter<(usize, TaskError)>,
    /// The position of the next error (`usize::MAX` once there is none): every other position
    /// takes the next value, with no look at `errors`.
    next_error: usize,
    /// The position of the next result.
    at: usize,
}

impl<R> Results<R> {
    fn new(values: Vec<R>, errors: Vec<(usize, TaskError)>) -> Self {
        let next_error = errors.first().map_or(usize::MAX, |&(i, _)| i);
        Self {
            values: values.into_iter(),
            errors: errors.into_iter(),
            next_error,
            at: 0,
        }
    }

    /// The next result, value or error.
    fn next(&mut self) -> Option<Result<R, TaskError>> {
        if self.at != self.next_error
            && let Some(v) = self.values.next()
        {
            self.at += 1;
            return Some(Ok(v));
        }
        // The error due here; or, once the values ran out, the errors not reached at their
        // positions (only a chunk whose positions are out of order, an executor's bug, has
        // any): they come last, none lost.
        let (_, e) = self.errors.next()?;
        self.next_error = self
            .errors
            .as_slice()
            .first()
            .map_or(usize::MAX, |&(i, _)| i);
        self.at += 1;
        Some(Err(e))
    }
}

impl<'a, X, R, I> Map<'a, X, R, I>
where
    I: Iterator<Item = X>,
{
    /// A map over `items` that submits its tasks through `source`, with `options`
    /// (`default_buffersize` when they set none), and submits its first tasks now.
    ///
    /// For executors: `map_with` returns this.
    ///
    /// # Examples
    ///
    /// See [`MapSubmit`].
    pub fn new<S, J>(source: S, items: J, options: MapOptions, default_buffersize: usize) -> Self
    where
        S: MapSubmit<X, R> + Send + 'a,
        J: IntoIterator<IntoIter = I>,
    {
        let buffersize = options
            .get_buffersize()
            .unwrap_or(default_buffersize)
            .max(1);
        let mut map = Self {
            source: Box::new(source),
            items: items.into_iter(),
            inflight: VecDeque::with_capacity(buffersize.min(1024)),
            current: Current::Empty,
            buffersize,
            chunksize: options.get_chunksize(),
            done_pulling: false,
            long_chunks: false,
        };
        // Python's `map` submits its first `buffersize` tasks when it is called.
        map.refill();
        map
    }

    /// Submits tasks until `buffersize` are in flight or the input ends.
    fn refill(&mut self) {
        while !self.done_pulling && self.inflight.len() < self.buffersize {
            let size = self
                .source
                .chunk_len_hinted(self.chunksize, self.items.size_hint())
                .max(1);
            let mut items = Vec::with_capacity(size);
            // One `extend` rather than a `push` per item: for an input of known length (a range,
            // a vector) this is a plain copy loop.
            items.extend(self.items.by_ref().take(size));
            if items.len() < size {
                self.done_pulling = true;
            }
            if items.is_empty() {
                return;
            }
            let slot = self.submit(items);
            self.inflight.push_back(slot);
        }
    }

    fn submit(&mut self, items: Vec<X>) -> Slot<X, R> {
        let len = items.len();
        match self.source.submit(items) {
            Submitted::One(f) => {
                debug_assert_eq!(len, 1, "Submitted::One for a chunk of {len} items");
                Slot::One(f)
            }
            Submitted::Chunk(f) => Slot::Chunk(f, len),
            Submitted::Refused(e) => {
                self.done_pulling = true;
                Slot::Refused(e, len)
            }
        }
    }

    /// Submits the items a split chunk left, ahead of every later task.
    fn resubmit_leftover(&mut self, leftover: Vec<X>) {
        let per = self
            .source
            .leftover_len(leftover.len(), self.chunksize)
            .max(1);
        let mut items = leftover.into_iter();
        let mut slots = Vec::new();
        loop {
            let piece: Vec<X> = items.by_ref().take(per).collect();
            if piece.is_empty() {
                break;
            }
            slots.push(self.submit(piece));
        }
        for slot in slots.into_iter().rev() {
            self.inflight.push_front(slot);
        }
    }

    /// How to spin for the oldest task, `len` items: poll it for as long as the source asks
    /// ([`MapSubmit::poll_for`]); otherwise the future's short spin, or none (`quiet`: the
    /// chunk before was long, see `long_chunks`).
    fn spin_for(&self, len: usize, quiet: bool) -> Spin {
        match self.source.poll_for(len) {
            Some(budget) => Spin::Poll(budget),
            None if quiet => Spin::Off,
            None => Spin::Short,
        }
    }

    /// Waits for `front`, telling the source when it stalls past its patience.
    fn await_front<T>(&mut self, front: &Future<T>, spin: Spin) {
        match self.source.patience() {
            Some(patience) => {
                if !front.shared.wait_spinning(Deadline::after(patience), spin) {
                    self.source.stalled();
                }
            }
            None => {
                front.shared.wait_spinning(Deadline::never(), spin);
            }
        }
    }
}

impl<X, R, I> Iterator for Map<'_, X, R, I>
where
    I: Iterator<Item = X>,
{
    type Item = Result<R, TaskError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        // The path of almost every item: the next value of the current chunk, a few
        // instructions that inline into the caller's loop.
        if let Current::Ok(r) = &mut self.current
            && r.at != r.next_error
            && let Some(v) = r.values.next()
        {
            r.at += 1;
            return Some(Ok(v));
        }
        self.next_slow()
    }

    /// Internal iteration (`sum`, `collect`, `for_each`, `fold`, ...): the values of each chunk
    /// up to its next error are handed to `g` in one loop over the chunk's vector, which the
    /// compiler can unroll or vectorise, instead of one `next` per item; errors, chunk ends and
    /// waiting go through `next` as before, so order, laziness and refills are unchanged.
    #[inline]
    fn fold<B, G>(mut self, init: B, mut g: G) -> B
    where
        G: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        loop {
            if let Current::Ok(r) = &mut self.current {
                let left = r.values.len();
                // The values due before the next error (all of them if there is none).
                let run = r.next_error.saturating_sub(r.at).min(left);
                r.at += run;
                if run == left {
                    let values = mem::replace(&mut r.values, Vec::new().into_iter());
                    acc = values.map(Ok).fold(acc, &mut g);
                } else {
                    acc = r.values.by_ref().take(run).map(Ok).fold(acc, &mut g);
                }
            }
            match self.next_slow() {
                Some(item) => acc = g(acc, item),
                None => return acc,
            }
        }
    }
}

impl<X, R, I> Map<'_, X, R, I>
where
    I: Iterator<Item = X>,
{
    /// `next` past the fast path: an error, the end of a chunk, or the next task to wait for.
    fn next_slow(&mut self) -> Option<Result<R, TaskError>> {
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
            // Each result taken makes room for one more task (Python 3.14's `buffersize`).
            self.refill();
            self.current = match self.inflight.pop_front()? {
                Slot::One(future) => {
                    self.await_front(&future, self.spin_for(1, false));
                    return Some(future.result());
                }
                Slot::Chunk(future, len) => {
                    self.await_front(&future, self.spin_for(len, self.long_chunks));
                    match future.result() {
                        Ok(chunk) => {
                            self.long_chunks = chunk.elapsed >= LONG_CHUNK;
                            self.source.finished(chunk.len(), chunk.elapsed);
                            if !chunk.leftover.is_empty() {
                                self.resubmit_leftover(chunk.leftover);
                            }
                            Current::Ok(Results::new(chunk.values, chunk.errors))
                        }
                        // The whole chunk was cancelled, or its executor broke.
                        Err(e) => Current::Err(e, len),
                    }
                }
                Slot::Refused(e, len) => Current::Err(e, len),
            };
        }
    }
}

impl<X, R, I> Drop for Map<'_, X, R, I> {
    fn drop(&mut self) {
        // Every task not consumed is cancelled, whether or not iteration started: a map is
        // one call, and dropping its iterator abandons the whole call. Latest first, as
        // CPython's `result_iterator` does (it cancels its reversed list): a worker that frees
        // up meanwhile takes the earliest queued task, which is cancelled last, so it can only
        // start a task that comes before every cancelled one in the input, never one after
        // (with a remote executor the cancels and the worker's takes race on the broker).
        for slot in self.inflight.iter().rev() {
            match slot {
                Slot::One(f) => {
                    f.cancel();
                }
                Slot::Chunk(f, _) => {
                    f.cancel();
                }
                Slot::Refused(..) => {}
            }
        }
    }
}

impl<X, R, I> fmt::Debug for Map<'_, X, R, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.inflight.len())
            .field("buffersize", &self.buffersize)
            .field("chunksize", &self.chunksize)
            .field("done_pulling", &self.done_pulling)
            .finish_non_exhaustive()
    }
}
