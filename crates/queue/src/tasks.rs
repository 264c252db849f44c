//! Python's task accounting (`task_done` / `join`) for the lock-free FIFO cores, the ring and
//! the segmented list: one protocol, whatever counts the pushes.
//!
//! The unfinished count is never stored: it is `pushed - finished`, where `pushed` is the core's
//! own count of items ever pushed (so a push pays no extra atomic) and `finished` counts
//! `task_done` calls. Each core passes its way of reading `pushed`, which must include every
//! item already handed to a consumer.
//!
//! Joiners, threads and tasks alike, wait in a [`WaitQueue`] kept under the core's lists lock.
//! A joiner registers and re-checks the count under that lock; the `task_done` that brings the
//! count to zero takes the same lock before waking them all. So a joiner either sees zero, or
//! is registered when it is woken: no lost wake-up (loom models
//! `join_returns_only_after_every_task_done`, `unbounded_join_waits_for_task_done` and
//! `join_async_waits_for_task_done`). Every joiner is woken at once, so one that leaves (a
//! dropped `join_async`) has nothing to pass on.

use std::task::{Context, Poll};

use weft_sync::{
    Deadline, Mutex,
    atomic::{AtomicUsize, Ordering},
    waitq::{Token, WaitQueue},
};

use crate::{TaskDoneError, wait::TaskWait};

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

    /// Blocks until every task is done. `joiners` picks the joiners' queue out of the core's
    /// lists, which `lists` guards.
    pub(crate) fn join<L>(
        &self,
        lists: &Mutex<L>,
        joiners: impl Fn(&mut L) -> &mut WaitQueue,
        pushed: impl Fn() -> usize,
    ) {
        while self.unfinished(&pushed) != 0 {
            let ticket = {
                let mut l = lists.lock();
                if self.unfinished(&pushed) == 0 {
                    return;
                }
                joiners(&mut l).register_thread(())
            };
            // Every joiner is woken once the count reaches zero (or on an immediate shutdown
            // that settles it); the loop re-checks.
            let _ = ticket.park(Deadline::never());
        }
    }

    /// One poll of an async join: `Ready` once every task is done. A queued task is polled
    /// again only once it was woken.
    pub(crate) fn poll_join<L>(
        &self,
        lists: &Mutex<L>,
        joiners: impl Fn(&mut L) -> &mut WaitQueue,
        pushed: impl Fn() -> usize,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<()> {
        if let Some(ticket) = &wait.ticket {
            if ticket.token().is_none()
                && joiners(&mut lists.lock()).update_waker(ticket, cx.waker())
            {
                return Poll::Pending;
            }
            wait.ticket = None;
        }
        if self.unfinished(&pushed) == 0 {
            return Poll::Ready(());
        }
        let mut l = lists.lock();
        // Re-checked under the lock that the last `task_done` takes before waking joiners.
        if self.unfinished(&pushed) == 0 {
            return Poll::Ready(());
        }
        wait.ticket = Some(joiners(&mut l).register_task(cx.waker(), ()));
        Poll::Pending
    }

    /// A queued async join is dropped: it leaves. Joiners are woken all at once, so a wake-up
    /// it received concerns it alone.
    pub(crate) fn cancel_join<L>(
        lists: &Mutex<L>,
        joiners: impl Fn(&mut L) -> &mut WaitQueue,
        wait: &mut TaskWait,
    ) {
        if let Some(ticket) = wait.ticket.take() {
            let _ = joiners(&mut lists.lock()).leave(&ticket);
        }
    }

    /// Wakes every registered joiner (after the count reached zero, or on shutdown).
    pub(crate) fn wake<L>(lists: &Mutex<L>, joiners: impl Fn(&mut L) -> &mut WaitQueue) {
        // Joiners register and re-check under the lists lock, so taking it here after the count
        // reached zero is enough.
        let woken = joiners(&mut lists.lock()).wake_all(Token::RETRY);
        woken.wake();
    }
}
