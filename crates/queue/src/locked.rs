//! The lock-based blocking core shared by the queue types: a store (FIFO, LIFO or heap) under
//! weft-sync's internal lock, three wait lists (getters, putters, joiners), the unfinished-task
//! count and the shutdown flag.
//!
//! Protocol (weft-sync's waiting core, [`WaitQueue`]): a blocked call, thread or task, queues
//! itself under the lock after finding it cannot proceed, and sleeps (or returns `Pending`)
//! after releasing it; every put that stores an item pops one getter, and every get that frees
//! room pops one putter, delivering the token under the lock and waking it after releasing the
//! lock. A woken waiter re-checks under the lock. A queued task polled before its wake-up stays
//! queued and takes nothing out of turn. A waiter that stops waiting (timed out, future dropped)
//! leaves under the lock: if it was already popped, the wake-up is its own; a thread re-checks
//! once more before reporting the timeout, a dropped future passes it on to the next waiter of
//! its kind if what it announced (an item, a free slot) is still there. So a wake-up is never
//! lost.

use std::{
    collections::VecDeque,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    task::{Context, Poll},
};

use weft_sync::{
    Deadline, Mutex, MutexGuard,
    waitq::{Left, Ticket, Token, WaitQueue, Wakeup, Wakeups},
};

use crate::{GetError, PutError, TaskDoneError, tasks::Tasks, wait::TaskWait};

/// Where the items live: the order of the queue.
pub(crate) trait Store<T> {
    /// Adds an item. May panic (a user `Ord`): it must then leave the store unchanged.
    fn push(&mut self, item: T);
    /// Takes the next item. May panic (a user `Ord`): it must then leave the store unchanged.
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
    /// Takes every item out (to drop them after releasing the lock).
    fn take_all(&mut self) -> Vec<T>;
    /// Gives memory back after a burst.
    fn shrink(&mut self);
}

/// Shrinks a buffer once it is mostly unused, keeping some headroom.
pub(crate) fn should_shrink(len: usize, capacity: usize) -> Option<usize> {
    (capacity > 64 && capacity > 4 * len).then(|| (2 * len).max(32))
}

impl<T> Store<T> for VecDeque<T> {
    fn push(&mut self, item: T) {
        self.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
    fn take_all(&mut self) -> Vec<T> {
        self.drain(..).collect()
    }
    fn shrink(&mut self) {
        if let Some(to) = should_shrink(VecDeque::len(self), self.capacity()) {
            self.shrink_to(to);
        }
    }
}

#[derive(Debug)]
struct State<S> {
    store: S,
    /// Items put and not yet marked done (Python's `unfinished_tasks`).
    unfinished: usize,
    shutdown: bool,
    getters: WaitQueue,
    putters: WaitQueue,
    joiners: WaitQueue,
}

/// Picks one of the wait queues out of the state.
type Pick<S> = fn(&mut State<S>) -> &mut WaitQueue;

/// Wakes the waiter popped under the lock, after the lock is released.
fn wake(w: Option<(Wakeup, ())>) {
    if let Some((w, ())) = w {
        w.wake();
    }
}

/// A blocking queue over the store `S`; `maxsize == 0` is unbounded.
#[derive(Debug)]
pub(crate) struct Locked<S> {
    maxsize: usize,
    state: Mutex<State<S>>,
}

/// How long a call may block: not at all (`try_`), until a deadline, or forever.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Block {
    No,
    Until(Deadline),
}

impl Block {
    pub(crate) fn forever() -> Self {
        Self::Until(Deadline::never())
    }
    pub(crate) fn timeout(d: std::time::Duration) -> Self {
        Self::Until(Deadline::after(d))
    }
}

impl<S> Locked<S> {
    pub(crate) fn new(store: S, maxsize: usize) -> Self {
        Self {
            maxsize,
            state: Mutex::new(State {
                store,
                unfinished: 0,
                shutdown: false,
                getters: WaitQueue::new(),
                putters: WaitQueue::new(),
                joiners: WaitQueue::new(),
            }),
        }
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Parks on `ticket` (already queued in some list of `st`) after releasing the lock, and
    /// settles a timeout against a concurrent wake-up. Returns the lock again and whether the
    /// call should give up (timed out and nobody woke it).
    fn park<'a>(
        &'a self,
        st: MutexGuard<'a, State<S>>,
        ticket: &Ticket,
        deadline: Deadline,
        list: Pick<S>,
    ) -> (MutexGuard<'a, State<S>>, bool) {
        drop(st);
        let token = ticket.park(deadline);
        let mut st = self.state.lock();
        let gave_up = match token {
            Some(_) => false,
            None => match list(&mut st).leave(ticket) {
                // Still queued: nobody woke us and the timeout stands.
                Left::Removed(()) => true,
                // A waker popped us as we timed out: the wake-up is ours. Re-check once, so it
                // is honoured (or the resource it announced is gone).
                Left::Received(_) => false,
            },
        };
        (st, gave_up)
    }

    /// A queued task's poll: `true` while it is still queued (its waker updated); a task woken
    /// and not yet polled keeps its turn, nobody polled out of turn takes it.
    fn still_queued(
        st: &mut State<S>,
        wait: &mut TaskWait,
        list: Pick<S>,
        cx: &Context<'_>,
    ) -> bool {
        if let Some(ticket) = &wait.ticket {
            if list(st).update_waker(ticket, cx.waker()) {
                return true;
            }
            wait.ticket = None;
            wait.woken = true;
        }
        false
    }
}

/// What one attempt under the lock came to: an answer (the lock released, the wake-up it
/// owes done), or "wait", with the lock still held (and a put's item handed back).
enum Step<'a, S, R, I = ()> {
    Done(R),
    Wait(MutexGuard<'a, State<S>>, I),
}

impl<S> Locked<S> {
    /// A put's attempt under the lock: stores the item if there is room (waking one getter).
    fn put_step<'a, T>(
        &'a self,
        mut st: MutexGuard<'a, State<S>>,
        item: T,
    ) -> Step<'a, S, Result<(), PutError<T>>, T>
    where
        S: Store<T>,
    {
        if st.shutdown {
            return Step::Done(Err(PutError::ShutDown(item)));
        }
        if self.maxsize == 0 || st.store.len() < self.maxsize {
            // May panic (a user `Ord`); the store and the counters are then unchanged, and
            // the wake-up this putter may have consumed passes to the next putter.
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| st.store.push(item))) {
                let next = st.putters.wake_one(Token::RETRY);
                drop(st);
                wake(next);
                resume_unwind(panic);
            }
            st.unfinished += 1;
            let next = st.getters.wake_one(Token::RETRY);
            drop(st);
            wake(next);
            return Step::Done(Ok(()));
        }
        Step::Wait(st, item)
    }

    /// A get's attempt under the lock: takes an item if there is one (waking one putter), or
    /// answers `ShutDown` once the queue is shut down and empty.
    fn get_step<'a, T>(
        &'a self,
        mut st: MutexGuard<'a, State<S>>,
    ) -> Step<'a, S, Result<T, GetError>>
    where
        S: Store<T>,
    {
        let popped = match catch_unwind(AssertUnwindSafe(|| st.store.pop())) {
            Ok(popped) => popped,
            Err(panic) => {
                // A user `Ord` panicked; the store is unchanged. Pass on the wake-up this
                // getter may have consumed, so the item is not stranded.
                let next = st.getters.wake_one(Token::RETRY);
                drop(st);
                wake(next);
                resume_unwind(panic);
            }
        };
        if let Some(item) = popped {
            let next = if self.maxsize == 0 {
                st.store.shrink();
                None
            } else {
                st.putters.wake_one(Token::RETRY)
            };
            drop(st);
            wake(next);
            return Step::Done(Ok(item));
        }
        if st.shutdown {
            return Step::Done(Err(GetError::ShutDown));
        }
        Step::Wait(st, ())
    }

    pub(crate) fn put<T>(&self, mut item: T, block: Block) -> Result<(), PutError<T>>
    where
        S: Store<T>,
    {
        let mut gave_up = false;
        let mut st = self.state.lock();
        loop {
            (st, item) = match self.put_step(st, item) {
                Step::Done(r) => return r,
                Step::Wait(st, item) => (st, item),
            };
            let deadline = match block {
                Block::Until(d) if !gave_up && !d.has_passed() => d,
                _ => return Err(PutError::Full(item)),
            };
            let ticket = st.putters.register_thread(());
            (st, gave_up) = self.park(st, &ticket, deadline, |s| &mut s.putters);
        }
    }

    pub(crate) fn get<T>(&self, block: Block) -> Result<T, GetError>
    where
        S: Store<T>,
    {
        let mut gave_up = false;
        let mut st = self.state.lock();
        loop {
            st = match self.get_step(st) {
                Step::Done(r) => return r,
                Step::Wait(st, ()) => st,
            };
            let deadline = match block {
                Block::Until(d) if !gave_up && !d.has_passed() => d,
                _ => return Err(GetError::Empty),
            };
            let ticket = st.getters.register_thread(());
            (st, gave_up) = self.park(st, &ticket, deadline, |s| &mut s.getters);
        }
    }

    /// One poll of an async put; the item stays in `item` while the task waits.
    pub(crate) fn poll_put<T>(
        &self,
        item: &mut Option<T>,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<Result<(), PutError<T>>>
    where
        S: Store<T>,
    {
        let mut st = self.state.lock();
        if Self::still_queued(&mut st, wait, |s| &mut s.putters, cx) {
            return Poll::Pending;
        }
        let it = item.take().expect("PutAsync polled after completion");
        match self.put_step(st, it) {
            Step::Done(r) => Poll::Ready(r),
            Step::Wait(mut st, back) => {
                *item = Some(back);
                wait.ticket = Some(st.putters.register_task(cx.waker(), ()));
                wait.woken = false;
                Poll::Pending
            }
        }
    }

    /// A pending async put is dropped (its item with it): it leaves; a wake-up it received
    /// passes to the next putter while there is room.
    pub(crate) fn cancel_put<T>(&self, wait: &mut TaskWait)
    where
        S: Store<T>,
    {
        if let Some(ticket) = wait.ticket.take() {
            let mut st = self.state.lock();
            let mut next = None;
            if let Left::Received(_) = st.putters.leave(&ticket)
                && !st.shutdown
                && (self.maxsize == 0 || st.store.len() < self.maxsize)
            {
                next = st.putters.wake_one(Token::RETRY);
            }
            drop(st);
            wake(next);
        }
    }

    /// One poll of an async get.
    pub(crate) fn poll_get<T>(
        &self,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<Result<T, GetError>>
    where
        S: Store<T>,
    {
        let mut st = self.state.lock();
        if Self::still_queued(&mut st, wait, |s| &mut s.getters, cx) {
            return Poll::Pending;
        }
        match self.get_step(st) {
            Step::Done(r) => Poll::Ready(r),
            Step::Wait(mut st, ()) => {
                wait.ticket = Some(st.getters.register_task(cx.waker(), ()));
                wait.woken = false;
                Poll::Pending
            }
        }
    }

    /// A pending async get is dropped: it took nothing; it leaves, and a wake-up it received
    /// passes to the next getter while an item is there.
    pub(crate) fn cancel_get<T>(&self, wait: &mut TaskWait)
    where
        S: Store<T>,
    {
        if let Some(ticket) = wait.ticket.take() {
            let mut st = self.state.lock();
            let mut next = None;
            if let Left::Received(_) = st.getters.leave(&ticket)
                && st.store.len() > 0
            {
                next = st.getters.wake_one(Token::RETRY);
            }
            drop(st);
            wake(next);
        }
    }

    pub(crate) fn len<T>(&self) -> usize
    where
        S: Store<T>,
    {
        self.state.lock().store.len()
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut st = self.state.lock();
        if st.unfinished == 0 {
            return Err(TaskDoneError(()));
        }
        st.unfinished -= 1;
        if st.unfinished == 0 {
            let joiners = st.joiners.wake_all(Token::RETRY);
            drop(st);
            joiners.wake();
        }
        Ok(())
    }

    pub(crate) fn join(&self) {
        let mut st = self.state.lock();
        while st.unfinished > 0 {
            let ticket = st.joiners.register_thread(());
            (st, _) = self.park(st, &ticket, Deadline::never(), |s| &mut s.joiners);
        }
    }

    /// One poll of an async join (every joiner is woken at once when the count reaches zero).
    pub(crate) fn poll_join(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<()> {
        let mut st = self.state.lock();
        if Self::still_queued(&mut st, wait, |s| &mut s.joiners, cx) {
            return Poll::Pending;
        }
        if st.unfinished == 0 {
            return Poll::Ready(());
        }
        wait.ticket = Some(st.joiners.register_task(cx.waker(), ()));
        Poll::Pending
    }

    /// A pending async join is dropped: it leaves (joiners are woken all at once, so there is
    /// nothing to pass on).
    pub(crate) fn cancel_join(&self, wait: &mut TaskWait) {
        Tasks::cancel_join(&self.state, |s| &mut s.joiners, wait);
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.state.lock().unfinished
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.state.lock().shutdown
    }

    pub(crate) fn shutdown<T>(&self, immediate: bool)
    where
        S: Store<T>,
    {
        let mut st = self.state.lock();
        st.shutdown = true;
        let mut dropped = Vec::new();
        let mut joiners = Wakeups::new();
        if immediate {
            dropped = st.store.take_all();
            st.store.shrink();
            st.unfinished = st.unfinished.saturating_sub(dropped.len());
            if st.unfinished == 0 {
                joiners = st.joiners.wake_all(Token::RETRY);
            }
        }
        let getters = st.getters.wake_all(Token::RETRY);
        let putters = st.putters.wake_all(Token::RETRY);
        drop(st);
        getters.wake();
        putters.wake();
        joiners.wake();
        // The items' destructors run last, outside the lock.
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbounded_store_shrinks_after_a_burst() {
        let mut q: VecDeque<u32> = VecDeque::new();
        for i in 0..10_000 {
            Store::push(&mut q, i);
        }
        let burst = q.capacity();
        while q.len() > 10 {
            let _ = Store::pop(&mut q);
            Store::shrink(&mut q);
        }
        assert!(q.capacity() < burst / 16, "{} vs {burst}", q.capacity());
        assert!(should_shrink(0, 64).is_none());
        assert_eq!(should_shrink(10, 1000), Some(32));
    }
}
