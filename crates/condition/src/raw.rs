//! The condition's own mutex and its two wait queues, on weft-sync's waiting core.
//!
//! The mutex is a word with two bits, after parking_lot's `RawMutex`:
//!
//! * `LOCKED` (1): some guard holds the data.
//! * `PARKED` (2): someone is to be woken by an unlock (the mutex queue is not empty, or a
//!   notified condition waiter waits for the mutex), so `unlock` must take the slow path. The
//!   bit is only ever set or cleared while holding `queues`.
//!
//! `queues` (weft-sync's internal lock) holds two FIFOs of weft-sync's waiting core, threads and
//! tasks alike: waiters for the mutex, and waiters on the condition. `notify` picks condition
//! waiters oldest first; while the mutex is held it does not wake them but marks them as moved
//! to the mutex ("wait morphing", as parking_lot's `Condvar`): a marked waiter is woken by the
//! unlock that frees the mutex, in arrival order with the mutex queue, and so never wakes merely
//! to block again on a mutex its notifier still holds.
//!
//! Tokens: every wake-up carries [`Token::RETRY`], "the mutex was released: try to take it"
//! (for a condition waiter it also means "you were notified"). The mutex is not handed over:
//! a running thread may take it first (throughput over strict fairness, as parking_lot); the
//! woken waiter then queues again.

use std::task::Context;

use weft_sync::{
    Deadline, Mutex, SpinWait,
    atomic::{AtomicU8, AtomicUsize, Ordering},
    waitq::{Left, Ticket, Token, WaitQueue, Wakeup, Wakeups},
};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

#[derive(Debug, Default)]
struct Queues {
    /// Threads and tasks waiting for the mutex, oldest first; the payload is the sequence
    /// number of their arrival.
    lock: WaitQueue<u64>,
    /// Threads and tasks waiting on the condition, oldest first. The payload is `Some(seq)`
    /// once a `notify` picked the waiter while the mutex was held: it is then notified and
    /// waits for the mutex as if it had joined `lock` at `seq`. Marked waiters are always the
    /// first `marked` entries (notify picks the oldest unmarked ones; an unlock wakes the
    /// front).
    cond: WaitQueue<Option<u64>>,
    /// How many entries at the front of `cond` are marked.
    marked: usize,
    /// The last sequence number handed out.
    seq: u64,
}

impl Queues {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Whether an unlock has someone to wake (the meaning of `PARKED`).
    fn parked(&self) -> bool {
        !self.lock.is_empty() || self.marked > 0
    }

    /// Condition waiters a `notify` may still pick.
    fn unmarked(&self) -> usize {
        self.cond.len() - self.marked
    }

    /// Pops the oldest waiter for the mutex (the head of `lock` or the first marked condition
    /// waiter, by sequence number) and delivers [`Token::RETRY`] to it, under the lock.
    fn wake_next_locker(&mut self) -> Option<Wakeup> {
        let marked_seq = match self.cond.front() {
            Some(Some(seq)) if self.marked > 0 => Some(*seq),
            _ => None,
        };
        let from_cond = match (marked_seq, self.lock.front()) {
            (Some(c), Some(&l)) => c < l,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if from_cond {
            self.marked -= 1;
            self.cond.wake_one(Token::RETRY).map(|(w, _)| w)
        } else {
            self.lock.wake_one(Token::RETRY).map(|(w, _)| w)
        }
    }
}

/// Where an async lock is: not queued, or queued on the mutex with a ticket.
#[derive(Debug, Default)]
pub(crate) struct LockWait {
    ticket: Option<Ticket>,
}

impl LockWait {
    pub(crate) fn is_queued(&self) -> bool {
        self.ticket.is_some()
    }
}

/// The mutex word, the waiter count, and the two queues.
#[derive(Debug)]
pub(crate) struct Raw {
    /// `LOCKED | PARKED`, see the module docs.
    state: AtomicU8,
    /// The unmarked condition waiters, readable without the lock so that a notify with nobody
    /// waiting costs one load. Written only under `queues`.
    waiting: AtomicUsize,
    queues: Mutex<Queues>,
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
            let ticket = {
                let mut q = self.queues.lock();
                // Re-check under the queue lock: `unlock` reads and clears `PARKED` under it,
                // so once `PARKED` is set here and we are queued, the next unlock sees us.
                if !self.mark_parked_if_locked() {
                    continue;
                }
                let seq = q.next_seq();
                q.lock.register_thread(seq)
            };
            // Never times out: the token comes.
            let _ = ticket.park(Deadline::never());
            spin.reset();
        }
    }

    /// Releases the mutex, waking the oldest waiter for it, if any.
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
        let wakeup = {
            let mut q = self.queues.lock();
            let wakeup = q.wake_next_locker();
            // We hold the mutex and the queue lock, so nobody else changes the word now.
            // Release: as in `unlock`. The woken waiter retries the lock itself.
            let parked = if q.parked() { PARKED } else { 0 };
            self.state.store(parked, Ordering::Release);
            wakeup
        };
        // Wake after unlocking the queues, so the woken waiter does not block on them.
        if let Some(w) = wakeup {
            w.wake();
        }
    }

    /// Under `queues`: clears `PARKED` when nobody is left for an unlock to wake (a waiter
    /// left). Relaxed: only holders of `queues` move the bit.
    fn clear_parked_if_idle(&self, q: &Queues) {
        if !q.parked() {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
    }

    /// One poll of an async lock: `true` once the task holds the mutex. A queued task only
    /// looks at its own token: it never takes the mutex out of turn from the queue (a running
    /// newcomer may, as for threads).
    pub(crate) fn poll_lock(&self, wait: &mut LockWait, cx: &Context<'_>) -> bool {
        if let Some(ticket) = &wait.ticket {
            if ticket.token().is_none() {
                let mut q = self.queues.lock();
                if q.lock.update_waker(ticket, cx.waker()) {
                    return false;
                }
                // No longer queued: an unlock delivered the token under this lock.
            }
            wait.ticket = None;
        }
        loop {
            if self.try_lock() {
                return true;
            }
            let mut q = self.queues.lock();
            if !self.mark_parked_if_locked() {
                // Freed meanwhile: try again.
                continue;
            }
            let seq = q.next_seq();
            wait.ticket = Some(q.lock.register_task(cx.waker(), seq));
            return false;
        }
    }

    /// A queued async lock is dropped: leaves the mutex queue; a wake-up it already received
    /// ("the mutex was released") is passed on.
    pub(crate) fn cancel_lock(&self, wait: &mut LockWait) {
        let Some(ticket) = wait.ticket.take() else {
            return;
        };
        let mut q = self.queues.lock();
        match q.lock.leave(&ticket) {
            Left::Removed(_) => self.clear_parked_if_idle(&q),
            Left::Received(_) => {
                drop(q);
                // Pass it on: if the mutex is still free, take it and release it, which wakes
                // the next waiter; if a running thread took it, that thread's unlock does.
                if self.try_lock() {
                    self.unlock();
                }
            }
        }
    }

    /// Queues the caller (a thread) on the condition, releases the mutex, parks until
    /// notified or until `deadline`, and takes the mutex again. Returns whether it was
    /// notified. The caller must hold the mutex.
    pub(crate) fn wait(&self, deadline: Deadline) -> bool {
        let ticket = {
            let mut q = self.queues.lock();
            let ticket = q.cond.register_thread(None);
            // Relaxed: read by `notify` after it took the mutex we still hold, or (notify
            // without the lock) with no ordering promised beyond that of the mutex.
            self.waiting.store(q.unmarked(), Ordering::Relaxed);
            ticket
        };
        self.unlock();
        let notified = match ticket.park(deadline) {
            Some(_) => true,
            // A notification that picked us at the moment we timed out is ours: we count as
            // notified rather than let it vanish.
            None => self.leave_cond(&ticket),
        };
        self.lock();
        notified
    }

    /// Registers a task on the condition and releases the mutex (the first poll of
    /// `wait_async`). The caller must hold the mutex.
    pub(crate) fn register_cond_task(&self, cx: &Context<'_>) -> Ticket {
        let ticket = {
            let mut q = self.queues.lock();
            let ticket = q.cond.register_task(cx.waker(), None);
            // Relaxed: as in `wait`.
            self.waiting.store(q.unmarked(), Ordering::Relaxed);
            ticket
        };
        self.unlock();
        ticket
    }

    /// A later poll of a condition waiter task: `true` once an unlock (or a notify with the
    /// mutex free) woke it. A marked waiter is still queued: it waits for the mutex.
    pub(crate) fn poll_cond(&self, ticket: &Ticket, cx: &Context<'_>) -> bool {
        if ticket.token().is_some() {
            return true;
        }
        let mut q = self.queues.lock();
        // Not queued any more: the token was delivered under this lock.
        !q.cond.update_waker(ticket, cx.waker())
    }

    /// A condition waiter stops waiting (timeout, dropped future), under the queue lock;
    /// returns whether it had been notified (marked, or woken).
    pub(crate) fn leave_cond(&self, ticket: &Ticket) -> bool {
        let mut q = self.queues.lock();
        match q.cond.leave(ticket) {
            Left::Removed(None) => {
                self.waiting.store(q.unmarked(), Ordering::Relaxed);
                false
            }
            Left::Removed(Some(_)) => {
                // Notified and waiting for the mutex: the caller takes the mutex itself now.
                q.marked -= 1;
                self.clear_parked_if_idle(&q);
                true
            }
            Left::Received(_) => true,
        }
    }

    /// Wakes up to `n` condition waiters, oldest first. Returns how many.
    pub(crate) fn notify(&self, n: usize) -> usize {
        // Relaxed: a waiter registers while holding the mutex; a notifier that changed the
        // shared state under the mutex afterwards sees its registration through the mutex.
        if n == 0 || self.waiting.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let mut wakeups = Wakeups::new();
        let picked;
        {
            let mut q = self.queues.lock();
            picked = n.min(q.unmarked());
            if picked > 0 {
                // With marked waiters, `PARKED` is already set and an unlock is on its way to
                // them (every unlock that finds `PARKED` wakes one): queue behind them.
                if q.marked > 0 || self.mark_parked_if_locked() {
                    // The mutex is held (by the notifier itself, in Python's shape): mark the
                    // waiters as moved to the mutex; the unlocks that free it wake them.
                    let from = q.marked;
                    let mut seq = q.seq;
                    for p in q.cond.payloads_mut().skip(from).take(picked) {
                        seq += 1;
                        *p = Some(seq);
                    }
                    q.seq = seq;
                    q.marked += picked;
                } else {
                    // The mutex is free and nobody is marked: wake the oldest directly.
                    wakeups = q.cond.wake_n(picked, Token::RETRY);
                }
                self.waiting.store(q.unmarked(), Ordering::Relaxed);
            }
        }
        wakeups.wake();
        picked
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
            // Relaxed: the queue lock orders it with the slow unlock.
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
