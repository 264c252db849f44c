/// Runs a concurrency model.
///
/// Under `weft_loom`, `loom::model`: every interleaving of the threads the body spawns through
/// [`crate::thread`], with at most `LOOM_MAX_PREEMPTIONS` preemptions (3 when unset). Under
/// `std`, the body runs once on real threads, so plain `cargo test` compiles and smoke-runs
/// every model.
pub fn model<F>(body: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let bound = std::env::var("LOOM_MAX_PREEMPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    model_with_preemptions(bound, body);
}

/// [`model`] with exactly `bound` preemptions, whatever `LOOM_MAX_PREEMPTIONS` says: the bound
/// a model declares is the one that runs (for a model too large to run exhaustively at the
/// usual bound, or one that needs a deeper search).
pub fn model_with_preemptions<F>(bound: usize, body: F)
where
    F: Fn() + Sync + Send + 'static,
{
    #[cfg(weft_loom)]
    {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(bound);
        builder.check(body);
    }
    #[cfg(not(weft_loom))]
    {
        let _ = bound;
        body();
    }
}

/// [`model_with_preemptions`] over only the first `schedules` interleavings of loom's search.
///
/// loom explores the interleavings depth-first in a fixed order, so a given `schedules` always
/// covers the same ones: a model too large to run exhaustively at `bound` in every check can
/// still run, reproducibly, the part of its search where its planted bugs are found (the rest
/// is left to an exhaustive run on demand). It proves nothing about the interleavings it
/// leaves out; a model that uses it says so. Under `std` the body runs once, as for [`model`].
///
/// # Examples
///
/// ```
/// use weft_sync::{Arc, atomic::{AtomicUsize, Ordering}, thread};
///
/// weft_sync::model_prefix(2, 1_000, || {
///     let n = Arc::new(AtomicUsize::new(0));
///     let m = Arc::clone(&n);
///     let t = thread::spawn(move || m.fetch_add(1, Ordering::SeqCst));
///     n.fetch_add(1, Ordering::SeqCst);
///     t.join().unwrap();
///     assert_eq!(n.load(Ordering::SeqCst), 2);
/// });
/// ```
pub fn model_prefix<F>(bound: usize, schedules: usize, body: F)
where
    F: Fn() + Sync + Send + 'static,
{
    #[cfg(weft_loom)]
    {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(bound);
        builder.max_permutations = Some(schedules);
        builder.check(body);
    }
    #[cfg(not(weft_loom))]
    {
        let _ = (bound, schedules);
        body();
    }
}

/// The outcomes a model claims its interleavings reach, and which of them it did reach.
///
/// A model passes when no interleaving breaks its assertions, which it also does when it never
/// reaches the race it is written for (a bound too low, a schedule that never lines up). A
/// model that says "the waiter is released, or times out" names both outcomes here, records
/// the one each interleaving ends with ([`saw`](Self::saw)), and [`check`](Self::check)s after
/// the search that every one was reached. Under `std` a model runs once and reaches one
/// outcome, so `check` asserts nothing there.
///
/// The record lives outside loom's view (loom does not explore it) and across the
/// interleavings of one search.
///
/// # Examples
///
/// ```
/// use weft_sync::{Arc, Outcomes, atomic::{AtomicUsize, Ordering}, thread};
///
/// let outcomes = Outcomes::new(&["the thread first", "main first"]);
/// let o = outcomes.clone();
/// weft_sync::model(move || {
///     let n = Arc::new(AtomicUsize::new(0));
///     let m = Arc::clone(&n);
///     let t = thread::spawn(move || m.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst));
///     let mine = n.compare_exchange(0, 2, Ordering::SeqCst, Ordering::SeqCst);
///     let theirs = t.join().unwrap();
///     assert!(mine.is_ok() != theirs.is_ok());
///     o.saw(if theirs.is_ok() { "the thread first" } else { "main first" });
/// });
/// outcomes.check();
/// ```
#[derive(Clone, Debug)]
pub struct Outcomes {
    inner: std::sync::Arc<OutcomesInner>,
}

#[derive(Debug)]
struct OutcomesInner {
    names: &'static [&'static str],
    #[allow(clippy::disallowed_types)] // outside loom's view on purpose: see `Outcomes`
    seen: Vec<std::sync::atomic::AtomicUsize>,
}

impl Outcomes {
    /// The outcomes a model claims to reach, by name.
    ///
    /// # Panics
    ///
    /// If `names` is empty or names an outcome twice.
    pub fn new(names: &'static [&'static str]) -> Self {
        assert!(!names.is_empty(), "a model claims at least one outcome");
        for (i, n) in names.iter().enumerate() {
            assert!(!names[..i].contains(n), "the outcome {n:?} is named twice");
        }
        Self {
            inner: std::sync::Arc::new(OutcomesInner {
                names,
                seen: names.iter().map(|_| Default::default()).collect(),
            }),
        }
    }

    /// Records that this interleaving reached the outcome `name`.
    ///
    /// # Panics
    ///
    /// If `name` is not one of the outcomes given to [`new`](Self::new): an interleaving
    /// ended in an outcome the model does not claim.
    pub fn saw(&self, name: &str) {
        let Some(i) = self.inner.names.iter().position(|n| *n == name) else {
            panic!(
                "an interleaving reached {name:?}, which is not among the outcomes {:?}",
                self.inner.names
            );
        };
        self.inner.seen[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// After the search: every outcome was reached by some interleaving (under `weft_loom`;
    /// under `std`, where the model ran once, nothing is asserted).
    ///
    /// # Panics
    ///
    /// Under `weft_loom`, if some outcome was reached by no interleaving, naming them.
    pub fn check(&self) {
        if !cfg!(weft_loom) {
            return;
        }
        let missed: Vec<&str> = self
            .inner
            .names
            .iter()
            .zip(&self.inner.seen)
            .filter(|(_, n)| n.load(std::sync::atomic::Ordering::Relaxed) == 0)
            .map(|(name, _)| *name)
            .collect();
        assert!(
            missed.is_empty(),
            "no interleaving reached {missed:?} (the model claims {:?})",
            self.inner.names
        );
    }
}

#[cfg(not(weft_loom))]
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::{
        sync::Arc,
        task::{Context, Poll, Wake, Waker},
        thread::Thread,
    };

    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
