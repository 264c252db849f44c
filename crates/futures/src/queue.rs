//! The per-call completion queue of `as_completed` and `wait`.
//!
//! Each pending future carries a hook `(queue, index)`; the thread that makes it done pushes
//! `index` here (O(1)), and the one consumer takes the whole batch at once. Completion order is
//! the order of the pushes.
//!
//! The consumer, when it finds the queue empty, waits in weft-sync's waiting core: it registers
//! under the queue's lock, and a push delivers it a token under the same lock and wakes it
//! after unlocking. A consumer whose deadline passes settles with `leave` under the lock: either
//! it is still queued (the timeout stands) or a push reached it, and the index that push left is
//! in `ready` for it to take. There is one consumer, so a token is never meant for anyone else.

use std::mem;

use weft_sync::{
    Deadline, Mutex, SpinWait,
    waitq::{Token, WaitQueue},
};

#[derive(Default)]
struct Inner {
    ready: Vec<usize>,
    /// The consumer, while it sleeps on an empty queue (at most one entry).
    sleeper: WaitQueue,
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
                sleeper: WaitQueue::new(),
            }),
        }
    }

    /// Called by the thread that completed future `index`.
    pub(crate) fn push(&self, index: usize) {
        let wakeup = {
            let mut inner = self.inner.lock();
            inner.ready.push(index);
            // The token is delivered here, under the lock; the wake-up runs after it.
            inner.sleeper.wake_one(Token::RETRY)
        };
        if let Some((w, ())) = wakeup {
            w.wake();
        }
    }

    /// Moves every completed index into `batch` (which must be empty), waiting until at least
    /// one arrives or `deadline` passes. `false` on timeout (with `batch` left empty).
    pub(crate) fn take_batch(&self, batch: &mut Vec<usize>, deadline: Deadline) -> bool {
        debug_assert!(batch.is_empty());
        let mut spin = SpinWait::new();
        let mut spun_out = false;
        loop {
            let mut inner = self.inner.lock();
            if !inner.ready.is_empty() {
                mem::swap(&mut inner.ready, batch);
                return true;
            }
            // Completions tend to come in bursts: a short spin (then a few yields) catches the
            // next one far more cheaply than a park and an unpark. It runs without the lock:
            // every push takes it, and a consumer that spun or yielded holding it made the
            // completing thread block on it (issue 12, docs/futures.md).
            if !spun_out && !deadline.has_passed() {
                drop(inner);
                spun_out = !spin.spin();
                continue;
            }
            let ticket = inner.sleeper.register_thread(());
            drop(inner);
            if ticket.park(deadline).is_some() {
                // A push delivered our token: look again (its index is in `ready`).
                continue;
            }
            let mut inner = self.inner.lock();
            // Whether we are still queued (the timeout stands) or a push reached us at this
            // very moment (its index is in `ready`), what came in meanwhile is ours: take it.
            let _ = inner.sleeper.leave(&ticket);
            mem::swap(&mut inner.ready, batch);
            return !batch.is_empty();
        }
    }
}
