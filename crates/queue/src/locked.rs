//! The lock-based blocking core shared by the queue types: a store (FIFO, LIFO or heap) under
//! weft-sync's internal lock, three wait lists (getters, putters, joiners), the unfinished-task
//! count and the shutdown flag.
//!
//! Protocol: a blocked call queues its [`Waiter`] under the lock, after finding it cannot
//! proceed, and sleeps after releasing it; every put that stores an item pops one getter, and
//! every get that frees room pops one putter, and wakes it after releasing the lock. A woken
//! waiter re-checks under the lock. A waiter that timed out removes itself under the lock; if it
//! was already popped, the wake-up is its own and it re-checks once more before reporting the
//! timeout, so a wake-up is never lost.

use std::{
    collections::VecDeque,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
};

use weft_sync::{
    Deadline, Mutex, MutexGuard, WaitList,
    park::{Parked, Waiter},
};

use crate::{GetError, PutError, TaskDoneError};

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
    getters: WaitList,
    putters: WaitList,
    joiners: WaitList,
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
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
            }),
        }
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Parks `w` (already queued in some list of `st`) after releasing the lock, and settles a
    /// timeout against a concurrent wake-up. Returns the lock again and whether the call should
    /// give up (timed out and nobody woke it).
    fn park<'a>(
        &'a self,
        st: MutexGuard<'a, State<S>>,
        w: &Waiter,
        deadline: Deadline,
        list: fn(&mut State<S>) -> &mut WaitList,
    ) -> (MutexGuard<'a, State<S>>, bool) {
        drop(st);
        let parked = w.wait(deadline);
        let mut st = self.state.lock();
        let gave_up = match parked {
            Parked::Woken => false,
            // Still queued: nobody woke us and the timeout stands.
            Parked::TimedOut if list(&mut st).remove(w).is_some() => true,
            Parked::TimedOut => {
                // A waker popped us as we timed out: the wake-up is ours. Collect it and
                // re-check once, so it is honoured (or the resource it announced is gone).
                let _ = w.wait_notified();
                false
            }
        };
        w.rearm();
        (st, gave_up)
    }
}

impl<S> Locked<S> {
    pub(crate) fn put<T>(&self, item: T, block: Block) -> Result<(), PutError<T>>
    where
        S: Store<T>,
    {
        let mut waiter: Option<Waiter> = None;
        let mut gave_up = false;
        let mut st = self.state.lock();
        loop {
            if st.shutdown {
                return Err(PutError::ShutDown(item));
            }
            if self.maxsize == 0 || st.store.len() < self.maxsize {
                // May panic (a user `Ord`); the store and the counters are then unchanged, and
                // the wake-up this putter may have consumed passes to the next putter.
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| st.store.push(item))) {
                    let next = st.putters.pop_front();
                    drop(st);
                    if let Some((n, ())) = next {
                        n.notify();
                    }
                    resume_unwind(panic);
                }
                st.unfinished += 1;
                let wake = st.getters.pop_front();
                drop(st);
                if let Some((n, ())) = wake {
                    n.notify();
                }
                return Ok(());
            }
            let deadline = match block {
                Block::Until(d) if !gave_up && !d.has_passed() => d,
                _ => return Err(PutError::Full(item)),
            };
            let w = waiter.get_or_insert_with(Waiter::new);
            st.putters.push_back(w, ());
            (st, gave_up) = self.park(st, w, deadline, |s| &mut s.putters);
        }
    }

    pub(crate) fn get<T>(&self, block: Block) -> Result<T, GetError>
    where
        S: Store<T>,
    {
        let mut waiter: Option<Waiter> = None;
        let mut gave_up = false;
        let mut st = self.state.lock();
        loop {
            let popped = match catch_unwind(AssertUnwindSafe(|| st.store.pop())) {
                Ok(popped) => popped,
                Err(panic) => {
                    // A user `Ord` panicked; the store is unchanged. Pass on the wake-up this
                    // getter may have consumed, so the item is not stranded.
                    let next = st.getters.pop_front();
                    drop(st);
                    if let Some((n, ())) = next {
                        n.notify();
                    }
                    resume_unwind(panic);
                }
            };
            if let Some(item) = popped {
                let wake = if self.maxsize == 0 {
                    st.store.shrink();
                    None
                } else {
                    st.putters.pop_front()
                };
                drop(st);
                if let Some((n, ())) = wake {
                    n.notify();
                }
                return Ok(item);
            }
            if st.shutdown {
                return Err(GetError::ShutDown);
            }
            let deadline = match block {
                Block::Until(d) if !gave_up && !d.has_passed() => d,
                _ => return Err(GetError::Empty),
            };
            let w = waiter.get_or_insert_with(Waiter::new);
            st.getters.push_back(w, ());
            (st, gave_up) = self.park(st, w, deadline, |s| &mut s.getters);
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
            let joiners = st.joiners.take();
            drop(st);
            for (n, ()) in joiners {
                n.notify();
            }
        }
        Ok(())
    }

    pub(crate) fn join(&self) {
        let mut st = self.state.lock();
        let mut waiter: Option<Waiter> = None;
        while st.unfinished > 0 {
            let w = waiter.get_or_insert_with(Waiter::new);
            st.joiners.push_back(w, ());
            (st, _) = self.park(st, w, Deadline::never(), |s| &mut s.joiners);
        }
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
        let mut joiners = WaitList::new();
        if immediate {
            dropped = st.store.take_all();
            st.store.shrink();
            st.unfinished = st.unfinished.saturating_sub(dropped.len());
            if st.unfinished == 0 {
                joiners = st.joiners.take();
            }
        }
        let getters = st.getters.take();
        let putters = st.putters.take();
        drop(st);
        for (n, ()) in getters.into_iter().chain(putters).chain(joiners) {
            n.notify();
        }
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
