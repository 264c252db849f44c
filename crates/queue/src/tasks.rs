//! Python's task accounting (`task_done` / `join`) for the lock-free FIFO cores, the ring and
//! the segmented list: one protocol, whatever counts the pushes.
//!
//! The unfinished count is never stored: it is `pushed - finished`, where `pushed` is the core's
//! own count of items ever pushed (so a push pays no extra atomic) and `finished` counts
//! `task_done` calls. Each core passes its way of reading `pushed`, which must include every
//! item already handed to a consumer.
//!
//! Joiners wait in a [`WaitList`] kept under the core's lists lock. A joiner registers and
//! re-checks the count under that lock; the `task_done` that brings the count to zero takes the
//! same lock before waking them. So a joiner either sees zero, or is registered when it is woken:
//! no lost wake-up (loom models `join_returns_only_after_every_task_done` and
//! `unbounded_join_waits_for_task_done`).

use weft_sync::{
    Deadline, Mutex, WaitList,
    atomic::{AtomicUsize, Ordering},
    park::Waiter,
};

use crate::TaskDoneError;

/// The `task_done` count of a lock-free core.
#[derive(Debug)]
pub(crate) struct Tasks {
    finished: AtomicUsize,
}

impl Tasks {
    pub(crate) fn new() -> Self {
        Self {
            finished: AtomicUsize::new(0),
        }
    }

    /// Items put and not yet marked done. Wrapping: `pushed` may be a wrapping count (the
    /// ring's), and `finished` never passes it.
    pub(crate) fn unfinished(&self, pushed: impl Fn() -> usize) -> usize {
        // Acquire `finished` first: `pushed` read afterwards is at least every push that any
        // counted `task_done` saw.
        let finished = self.finished.load(Ordering::Acquire);
        pushed().wrapping_sub(finished)
    }

    /// Marks one task done; `wake_joiners` runs when this brought the count to zero.
    pub(crate) fn task_done(
        &self,
        pushed: impl Fn() -> usize,
        wake_joiners: impl FnOnce(),
    ) -> Result<(), TaskDoneError> {
        let mut finished = self.finished.load(Ordering::Acquire);
        loop {
            // Every push this thread knows of (the item it got, at least) is counted.
            let unfinished = pushed().wrapping_sub(finished);
            if unfinished == 0 {
                return Err(TaskDoneError(()));
            }
            // AcqRel: a `join` that sees the count reach zero sees the work done before.
            match self.finished.compare_exchange(
                finished,
                finished.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if unfinished == 1 {
                        wake_joiners();
                    }
                    return Ok(());
                }
                Err(now) => finished = now,
            }
        }
    }

    /// Marks up to `n` unfinished tasks done (never below zero), for an immediate shutdown that
    /// removed `n` queued items.
    pub(crate) fn settle(&self, n: usize, pushed: impl Fn() -> usize) {
        let mut finished = self.finished.load(Ordering::Acquire);
        loop {
            let k = n.min(pushed().wrapping_sub(finished));
            match self.finished.compare_exchange(
                finished,
                finished.wrapping_add(k),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => finished = now,
            }
        }
    }

    /// Blocks until every task is done. `joiners` picks the joiners' list out of the core's
    /// lists, which `lists` guards.
    pub(crate) fn join<L>(
        &self,
        lists: &Mutex<L>,
        joiners: impl Fn(&mut L) -> &mut WaitList,
        pushed: impl Fn() -> usize,
    ) {
        let mut waiter: Option<Waiter> = None;
        while self.unfinished(&pushed) != 0 {
            let w = waiter.get_or_insert_with(Waiter::new);
            {
                let mut l = lists.lock();
                if self.unfinished(&pushed) == 0 {
                    return;
                }
                joiners(&mut l).push_back(w, ());
            }
            let _ = w.wait(Deadline::never());
            w.rearm();
        }
    }

    /// Wakes every registered joiner (after the count reached zero, or on shutdown).
    pub(crate) fn wake<L>(lists: &Mutex<L>, joiners: impl Fn(&mut L) -> &mut WaitList) {
        // Joiners register and re-check under the lists lock, so taking it here after the count
        // reached zero is enough.
        let woken = joiners(&mut lists.lock()).take();
        for (n, ()) in woken {
            n.notify();
        }
    }
}
