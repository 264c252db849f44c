//! The condition's mutex (weft-lock's raw lock) and its wait queue, on weft-sync's waiting
//! core.
//!
//! The mutex is [`RawLock`], the lock under `weft_lock::Lock`: one mutex implementation, with
//! its fairness (a waiter that waited long enough is handed the lock, rationed), its queues of
//! threads and tasks together, and its proofs.
//!
//! The condition keeps its own FIFO of waiters, threads and tasks alike, under its own
//! internal lock (`cond`). `notify` picks condition waiters oldest first; while the mutex is
//! held it does not wake them but moves their entries, intact, to the back of the mutex's
//! queue ([`RawLock::transfer_waiters`], "wait morphing", as parking_lot's `Condvar`): they then
//! wait for the mutex as if they had just called `lock`, are woken by the unlocks that free it
//! in arrival order with the other lockers, and so never wake merely to block again on a mutex
//! their notifier still holds. With the mutex free, `notify` wakes them directly
//! ([`Token::RETRY`]) to compete for it.
//!
//! Lock order: `cond`, then the mutex's internal queue lock, everywhere.
//!
//! A waiter ends its wait with the token it was delivered: from the condition queue
//! ([`Token::RETRY`]: notified, take the mutex) or from the mutex's queue after a move
//! ([`Token::RETRY`]: notified, compete for the mutex as a woken locker does;
//! [`Token::HANDOFF`]: notified, and the mutex is already its own). A waiter that stops waiting
//! (timeout, dropped future) settles: it leaves the condition queue (not notified), or, moved,
//! the mutex's queue (notified, still to take the mutex), or keeps the token it received.

use std::task::Context;

use weft_lock::raw::{RawLock, TaskWait};
use weft_sync::{
    Deadline, Mutex, SpinWait,
    atomic::{AtomicUsize, Ordering},
    waitq::{Left, Ticket, Token, WaitQueue, Wakeups},
};

/// The mutex, the condition's waiters, and their count.
#[derive(Debug)]
pub(crate) struct Raw {
    /// How many wait on the condition (not yet notified), readable without the lock so that a
    /// notify with nobody waiting costs one load. Written only under `cond`.
    waiting: AtomicUsize,
    /// Threads and tasks waiting on the condition, oldest first.
    cond: Mutex<WaitQueue>,
    /// The mutex.
    lock: RawLock,
}

impl Raw {
    pub(crate) fn new() -> Self {
        Self {
            waiting: AtomicUsize::new(0),
            cond: Mutex::new(WaitQueue::new()),
            // Never handed off: a dropped `wait_async` re-locks blocking (see `RawLock::without_hand_offs`).
            lock: RawLock::without_hand_offs(),
        }
    }

    /// Takes the mutex if it is free at once.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.lock.try_lock()
    }

    /// Takes the mutex, parking while another thread holds it.
    #[inline]
    pub(crate) fn lock(&self) {
        self.lock.lock();
    }

    /// Releases the mutex, waking (or handing it to) the oldest waiter for it, if any.
    ///
    /// # Safety
    ///
    /// The caller holds the mutex, and releases it once.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: the caller holds the mutex (this function's contract).
        unsafe { self.lock.unlock() }
    }

    /// Whether the mutex is held.
    pub(crate) fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// One poll of an async lock: `true` once the task holds the mutex.
    pub(crate) fn poll_lock(&self, wait: &mut TaskWait, cx: &Context<'_>) -> bool {
        self.lock.poll_lock(wait, cx)
    }

    /// A queued async lock is dropped: leaves the mutex's queue; a wake-up or hand-off it
    /// already received is passed on.
    pub(crate) fn cancel_lock(&self, wait: &mut TaskWait) {
        if self.lock.cancel(wait) {
            // SAFETY: `cancel` returned `true`: we hold the mutex (handed to us, or taken to
            // pass a wake-up on), and release it once, which wakes the next waiter.
            unsafe { self.lock.unlock() }
        }
    }

    /// A `wait_async` future that was taking the mutex back is dropped: leaves the mutex's
    /// queue and takes the mutex, blocking (the guard it borrows must hold it again). A
    /// hand-off received meanwhile, or the mutex taken to pass a wake-up on, is simply kept.
    pub(crate) fn cancel_relock(&self, wait: &mut TaskWait) {
        if !self.lock.cancel(wait) {
            self.lock.lock();
        }
    }

    /// Takes the mutex back after a wait ended with `token` (see [`Raw::leave_cond`]): a
    /// hand-off means it is ours already; a retry wake-up competes as a woken locker does;
    /// no token (not notified) takes it as any caller of `lock`.
    pub(crate) fn relock(&self, token: Option<Token>) {
        match token {
            Some(Token::HANDOFF) => {}
            Some(_) => self.lock.lock_bumped(),
            None => self.lock.lock(),
        }
    }

    /// Queues the caller (a thread) on the condition, releases the mutex, parks until
    /// notified or until `deadline`, and takes the mutex again. Returns whether it was
    /// notified. The caller must hold the mutex.
    pub(crate) fn wait(&self, deadline: Deadline) -> bool {
        let ticket = {
            let mut q = self.cond.lock();
            let ticket = q.register_thread(());
            // Relaxed: read by `notify` after it took the mutex we still hold, or (notify
            // without the lock) with no ordering promised beyond that of the mutex.
            self.waiting.store(q.len(), Ordering::Relaxed);
            ticket
        };
        // SAFETY: the caller holds the mutex (this function's contract); it is released once
        // here and taken back below.
        unsafe { self.lock.unlock() };
        // A short bounded spin before parking, as `Event::wait` does: a notification that
        // arrives within a few microseconds (the other side of a hand-over, which already
        // runs) then costs no park and no unpark, and the yields let a notifier that shares
        // this CPU run. The ticket is registered, so nothing can be missed meanwhile. Under
        // loom the same spin runs with loom's budget (one yield).
        let mut spin = SpinWait::new();
        while ticket.token().is_none() && !deadline.has_passed() && spin.spin() {}
        let token = match ticket.park(deadline) {
            Some(token) => Some(token),
            // A notification that picked us at the moment we timed out is ours: we count as
            // notified rather than let it vanish.
            None => self.leave_cond(&ticket),
        };
        drop(ticket);
        self.relock(token);
        token.is_some()
    }

    /// Registers a task on the condition and releases the mutex (the first poll of
    /// `wait_async`). The caller must hold the mutex.
    pub(crate) fn register_cond_task(&self, cx: &Context<'_>) -> Ticket {
        let ticket = {
            let mut q = self.cond.lock();
            let ticket = q.register_task(cx.waker(), ());
            // Relaxed: as in `wait`.
            self.waiting.store(q.len(), Ordering::Relaxed);
            ticket
        };
        // SAFETY: the caller holds the mutex (the guard's, which `wait_async` borrows), and the
        // future takes it back before it completes or is dropped.
        unsafe { self.lock.unlock() };
        ticket
    }

    /// A later poll of a condition waiter task: the token once it was notified (see
    /// [`Raw::relock`]), `None` while it waits, on the condition or, moved, for the mutex.
    pub(crate) fn poll_cond(&self, ticket: &Ticket, cx: &Context<'_>) -> Option<Token> {
        loop {
            if let Some(token) = ticket.token() {
                return Some(token);
            }
            let mut q = self.cond.lock();
            if q.update_waker(ticket, cx.waker()) {
                return None;
            }
            // Not on the condition: woken (the token is there), or moved to the mutex's queue
            // under `cond`, which we hold, so it is there unless an unlock woke it since.
            if self.lock.update_moved_waker(ticket, cx.waker()) {
                return None;
            }
            // A token was delivered meanwhile, under one of the two locks: read it.
        }
    }

    /// A condition waiter stops waiting (timeout, dropped future): `None` if it was not
    /// notified, else the token to take the mutex back with ([`Raw::relock`]). The caller
    /// takes the mutex back in every case.
    pub(crate) fn leave_cond(&self, ticket: &Ticket) -> Option<Token> {
        let mut q = self.cond.lock();
        match q.try_leave(ticket) {
            Some(Left::Removed(())) => {
                self.waiting.store(q.len(), Ordering::Relaxed);
                None
            }
            // Woken on the condition (the mutex was free), or moved and then woken by an
            // unlock.
            Some(Left::Received(token)) => Some(token),
            None => {
                // Moved to the mutex's queue under `cond`: leave it there.
                drop(q);
                match self.lock.leave_moved(ticket) {
                    // Notified, and still waiting for the mutex: the caller takes it now.
                    Left::Removed(_) => Some(Token::RETRY),
                    // Woken by an unlock (to retry, or handed the mutex): honour it.
                    Left::Received(token) => Some(token),
                }
            }
        }
    }

    /// Notifies up to `n` condition waiters, oldest first. Returns how many.
    pub(crate) fn notify(&self, n: usize) -> usize {
        // Relaxed: a waiter registers while holding the mutex; a notifier that changed the
        // shared state under the mutex afterwards sees its registration through the mutex.
        if n == 0 || self.waiting.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let mut q = self.cond.lock();
        let picked = n.min(q.len());
        if picked == 0 {
            return 0;
        }
        // The mutex is held (by the notifier itself, in Python's shape): move the waiters to
        // its queue, to be woken (or handed the mutex) by the unlocks that free it.
        let moved = self
            .lock
            .transfer_waiters(|to, now| q.transfer_front(picked, to, |()| now));
        let wakeups = match moved {
            Some(_) => Wakeups::new(),
            // The mutex is free: wake them to compete for it.
            None => q.wake_n(picked, Token::RETRY),
        };
        self.waiting.store(q.len(), Ordering::Relaxed);
        drop(q);
        wakeups.wake();
        picked
    }
}
