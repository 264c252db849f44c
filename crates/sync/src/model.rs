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
