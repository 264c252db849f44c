//! The condition's own mutex and its two wait queues.
//!
//! The mutex is a word with two bits, after parking_lot's `RawMutex`:
//!
//! * `LOCKED` (1): some guard holds the data.
//! * `PARKED` (2): the `lock` queue is not empty, so `unlock` must take the slow path and wake
//!   its head. The bit is only ever set or cleared while holding `queues`.
//!
//! `queues` (weft-sync's internal lock) holds two FIFOs of notifiers: threads parked waiting for
//! the mutex, and threads parked in `wait` (the condition queue). `notify` moves condition waiters
//! onto the mutex queue while the mutex is held ("wait morphing", as parking_lot's `Condvar`):
//! a notified thread is only woken once the mutex is free, and so never wakes up merely to block
//! again on a mutex its notifier still holds.

use std::collections::VecDeque;

use weft_sync::{
    Deadline, Mutex, SpinWait,
    atomic::{AtomicU8, AtomicUsize, Ordering},
    park::{Notifier, Parked, Waiter},
};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

#[derive(Debug, Default)]
struct Queues {
    /// Threads parked in `lock_slow`, and condition waiters moved here by `notify`; oldest first.
    lock: VecDeque<Notifier>,
    /// Threads parked in `wait`, oldest first.
    cond: VecDeque<Notifier>,
}

/// The mutex word, the waiter count, and the two queues.
#[derive(Debug)]
pub(crate) struct Raw {
    /// `LOCKED | PARKED`, see the module docs.
    state: AtomicU8,
    /// `queues.cond.len()`, readable without the lock so that a notify with nobody waiting costs
    /// one load. Written only under `queues`.
    waiting: AtomicUsize,
    queues: Mutex<Queues>,
}

weft_sync::thread::thread_local! {
    /// This thread's parking spot for `wait`.
    static WAITER: Waiter = Waiter::new();
}

fn position(queue: &VecDeque<Notifier>, waiter: &Waiter) -> Option<usize> {
    queue.iter().position(|n| waiter.is(n))
}

impl Raw {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(0),
            waiting: AtomicUsize::new(0),
            queues: Mutex::new(Queues::default()),
        }
    }

    /// Takes the mutex if it is free at once.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & LOCKED == 0 {
            // Acquire: pairs with the Release of the previous `unlock`, so the data it wrote is
            // visible to us.
            match self
                .state
                .compare_exchange(s, s | LOCKED, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Takes the mutex, parking while another thread holds it.
    #[inline]
    pub(crate) fn lock(&self) {
        // Acquire: as in `try_lock`.
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        let mut spin = SpinWait::new();
        let mut waiter: Option<Waiter> = None;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & LOCKED == 0 {
                if self.try_lock() {
                    return;
                }
                continue;
            }
            // Spin a little while nobody is parked: the holder may be about to release.
            if s & PARKED == 0 && spin.spin() {
                continue;
            }
            let w = waiter.get_or_insert_with(Waiter::new);
            {
                let mut q = self.queues.lock();
                // Re-check under the queue lock: `unlock` reads and clears `PARKED` under it,
                // so once `PARKED` is set here and our notifier queued, the next unlock sees it.
                let s = self.state.load(Ordering::Relaxed);
                if s & LOCKED == 0 {
                    continue;
                }
                if s & PARKED == 0
                    && self
                        .state
                        .compare_exchange(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                        .is_err()
                {
                    // Only an unlock can have changed the word (PARKED moves under `queues`,
                    // which we hold): the mutex is free, go and take it.
                    continue;
                }
                q.lock.push_back(w.notifier());
            }
            let _ = w.wait(Deadline::never());
            // Our notifier was popped and used: nobody can reach it any more.
            w.rearm();
            spin.reset();
        }
    }

    /// Releases the mutex, waking the oldest thread queued for it, if any.
    #[inline]
    pub(crate) fn unlock(&self) {
        // Release: pairs with the Acquire of the next `lock`, publishing the data we wrote.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let next = {
            let mut q = self.queues.lock();
            let next = q.lock.pop_front();
            // We hold the mutex and the queue lock, so nobody else changes the word now.
            // Release: as in `unlock`. The woken thread retries the lock itself (a running
            // thread may take it first: throughput over strict fairness, as parking_lot).
            let parked = if q.lock.is_empty() { 0 } else { PARKED };
            self.state.store(parked, Ordering::Release);
            next
        };
        if let Some(n) = next {
            n.notify();
        }
    }

    /// Queues the caller on the condition, releases the mutex, parks until notified or until
    /// `deadline`, and takes the mutex again. Returns whether it was notified.
    ///
    /// The caller must hold the mutex.
    pub(crate) fn wait(&self, deadline: Deadline) -> bool {
        // One parking spot per thread, reused: a wait then allocates nothing. A thread can be in
        // only one wait at a time, and every wait leaves the spot unreachable by any notifier
        // (woken, collected, or removed) and re-armed.
        WAITER
            .try_with(|w| self.wait_with(w, deadline))
            // The thread's locals are being torn down: use a fresh spot.
            .unwrap_or_else(|_| self.wait_with(&Waiter::new(), deadline))
    }

    fn wait_with(&self, w: &Waiter, deadline: Deadline) -> bool {
        {
            let mut q = self.queues.lock();
            q.cond.push_back(w.notifier());
            // Relaxed: read by `notify` after it took the mutex we still hold, or (notify
            // without the lock) with no ordering promised beyond that of the mutex.
            self.waiting.store(q.cond.len(), Ordering::Relaxed);
        }
        self.unlock();
        let notified = match w.wait(deadline) {
            Parked::Woken => true,
            Parked::TimedOut => {
                let mut q = self.queues.lock();
                if let Some(at) = position(&q.cond, w) {
                    // Still queued on the condition: the timeout stands.
                    q.cond.remove(at);
                    self.waiting.store(q.cond.len(), Ordering::Relaxed);
                    false
                } else {
                    // A notifier took us (woken, or moved to the mutex queue) at the moment we
                    // timed out: that notification is ours, so we count as notified rather than
                    // let it vanish. Collect it: it comes once the mutex is free.
                    drop(q);
                    let _ = w.wait_notified();
                    true
                }
            }
        };
        // No notifier of `w` is reachable now: ready for this thread's next wait.
        w.rearm();
        self.lock();
        notified
    }

    /// Wakes up to `n` condition waiters, oldest first. Returns how many.
    pub(crate) fn notify(&self, n: usize) -> usize {
        // Relaxed: a waiter registers while holding the mutex; a notifier that changed the
        // shared state under the mutex afterwards sees its registration through the mutex.
        if n == 0 || self.waiting.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let mut wake = Vec::new();
        let mut moved = 0;
        {
            let mut q = self.queues.lock();
            while moved < n {
                let Some(notifier) = q.cond.pop_front() else {
                    break;
                };
                moved += 1;
                if self.mark_parked_if_locked() {
                    // The mutex is held (by the notifier itself, in Python's shape): requeue
                    // the waiter on it; the unlock that frees the mutex wakes it.
                    q.lock.push_back(notifier);
                } else {
                    wake.push(notifier);
                }
            }
            self.waiting.store(q.cond.len(), Ordering::Relaxed);
        }
        for notifier in wake {
            notifier.notify();
        }
        moved
    }

    /// Sets `PARKED` if the mutex is held; returns whether it is. Call under `queues`.
    fn mark_parked_if_locked(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED == 0 {
                return false;
            }
            if s & PARKED != 0 {
                return true;
            }
            match self
                .state
                .compare_exchange(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Whether the mutex is held.
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }
}
