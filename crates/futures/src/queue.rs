//! The per-call completion queue of `as_completed` and `wait`.
//!
//! Each pending future carries a hook `(queue, index)`; the thread that makes it done pushes
//! `index` here (O(1)), and the one consumer takes the whole batch at once. Completion order is
//! the order of the pushes.

use std::mem;

use weft_sync::{
    Deadline, Mutex, SpinWait,
    park::{Notifier, Parked, Waiter},
};

#[derive(Default)]
struct Inner {
    ready: Vec<usize>,
    /// The consumer, while it sleeps on an empty queue.
    sleeper: Option<Notifier>,
}

/// Indices of futures that completed, in completion order.
#[derive(Default)]
pub(crate) struct CompletionQueue {
    inner: Mutex<Inner>,
}

impl CompletionQueue {
    /// A queue with room for `n` completions, so that pushing never reallocates (a large
    /// reallocation in the middle of a run is slow, and makes glibc consolidate its free lists).
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                ready: Vec::with_capacity(n),
                sleeper: None,
            }),
        }
    }

    /// Called by the thread that completed future `index`.
    pub(crate) fn push(&self, index: usize) {
        let sleeper = {
            let mut inner = self.inner.lock();
            inner.ready.push(index);
            inner.sleeper.take()
        };
        if let Some(n) = sleeper {
            n.notify();
        }
    }

    /// Moves every completed index into `batch` (which must be empty), waiting until at least
    /// one arrives or `deadline` passes. `false` on timeout (with `batch` left empty).
    pub(crate) fn take_batch(&self, batch: &mut Vec<usize>, deadline: Deadline) -> bool {
        debug_assert!(batch.is_empty());
        let mut waiter = None;
        let mut spin = SpinWait::new();
        loop {
            let mut inner = self.inner.lock();
            if !inner.ready.is_empty() {
                mem::swap(&mut inner.ready, batch);
                return true;
            }
            // Completions tend to come in bursts: a short spin (then a few yields) catches the
            // next one far more cheaply than a park and an unpark.
            if !deadline.has_passed() && spin.spin() {
                drop(inner);
                continue;
            }
            let w = waiter.get_or_insert_with(Waiter::new);
            inner.sleeper = Some(w.notifier());
            drop(inner);
            match w.wait(deadline) {
                Parked::Woken => w.rearm(),
                Parked::TimedOut => {
                    let mut inner = self.inner.lock();
                    if inner.sleeper.as_ref().is_some_and(|n| w.is(n)) {
                        // The timeout stands; take what came in meanwhile, if anything.
                        inner.sleeper = None;
                        mem::swap(&mut inner.ready, batch);
                        return !batch.is_empty();
                    }
                    drop(inner);
                    // A pusher took our notifier: collect the notification, then look again.
                    let _ = w.wait_notified();
                    w.rearm();
                }
            }
        }
    }
}
