//! One wait queue for threads and tasks: register, wake (one, n, all) with a token, and leave.
//!
//! Every blocking weft primitive keeps a [`WaitQueue`] under its own lock. A waiter is a parked
//! thread ([`WaitQueue::register_thread`]) or an async task ([`WaitQueue::register_task`], which
//! stores the task's [`Waker`]); both wait in one FIFO. The primitive only decides *who* to wake
//! and *what* [`Token`] to hand over; this module owns the protocol:
//!
//! * **Delivery under the lock.** [`WaitQueue::wake_one`], [`WaitQueue::wake_n`] and
//!   [`WaitQueue::wake_all`] pop entries and store the token into each waiter's slot while the
//!   primitive's lock is held. They return [`Wakeups`]: the actual wake-ups (`unpark` or
//!   [`Waker::wake`]), to run after the lock is released, so a woken waiter never blocks on the
//!   lock its waker still holds.
//! * **Leave is decisive.** A waiter that stops waiting (its deadline passed, its future was
//!   dropped) calls [`WaitQueue::leave`] under the same lock. Either its entry is still queued
//!   ([`Left::Removed`]: it received nothing) or its token is already in its slot
//!   ([`Left::Received`]: the primitive honours it or passes it on). There is no third case, no
//!   notification "on its way" to wait for, which a future's `Drop` could not do anyway.
//!
//! A thread parks on its [`Ticket`] ([`Ticket::park`]) until a token is there or its
//! [`Deadline`] passes. A task polls [`Ticket::token`], and on a miss re-registers its current
//! waker under the lock with [`WaitQueue::update_waker`] (which fails only when the token has
//! arrived in the meantime).
//!
//! # Allocation
//!
//! None in the common case. A wait's slot (a token word and, for a thread, its handle) is
//! shared by the queue entry and the waiter's [`Ticket`]; when the ticket is dropped and nobody
//! else holds the slot any more (no queue entry, no pending [`Wakeup`]), it goes back to a
//! per-thread spare, one for thread waits and one for task waits, and the next wait on that
//! thread reuses it. A future's slot therefore costs one allocation the first time a thread
//! polls such a future, not one per wait. (The slot is recycled rather than stored inside the
//! future, which would need a pinned intrusive list and `unsafe` in every primitive; a slot
//! still shared when its ticket is dropped is simply freed, so reuse never races.) The queue is
//! a `VecDeque` that keeps its capacity; waking more than one waiter collects the wake-ups in a
//! `Vec` beyond the first.
//!
//! # Examples
//!
//! ```
//! use weft_sync::{Arc, Deadline, Mutex, waitq::{Token, WaitQueue}};
//!
//! let q = Arc::new(Mutex::new(WaitQueue::<()>::new()));
//! let ticket = q.lock().register_thread(());
//! let q2 = Arc::clone(&q);
//! let t = weft_sync::thread::spawn(move || {
//!     let wakeups = q2.lock().wake_all(Token::RETRY);
//!     wakeups.wake(); // after the lock is released
//! });
//! assert_eq!(ticket.park(Deadline::never()), Some(Token::RETRY));
//! t.join().unwrap();
//! ```
#[cfg(weft_loom)]
use std::sync::PoisonError;
use std::{
    cell::Cell, collections::VecDeque, fmt, mem::ManuallyDrop, num::NonZeroUsize, task::Waker,
};

use crate::{
    Arc, Deadline,
    atomic::{AtomicUsize, Ordering},
    thread::{self, Thread},
};

/// What a waker hands a waiter: why it was woken (after parking_lot_core's unpark token).
///
/// Two tokens are predefined; a primitive may define more with [`Token::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token(NonZeroUsize);

impl Token {
    /// "Look again": the waiter re-checks the primitive's state (an event was set, a slot may
    /// be free).
    pub const RETRY: Self = Self(NonZeroUsize::MIN);
    /// "It is yours": the waker handed the waiter something (a lock, a permit, a trip of a
    /// barrier) that a leaving waiter must pass on.
    pub const HANDOFF: Self = Self(NonZeroUsize::new(2).unwrap());

    /// A primitive-defined token; `None` for zero (zero means "nothing received").
    #[must_use]
    pub const fn new(value: usize) -> Option<Self> {
        match NonZeroUsize::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The token's value (never zero).
    #[must_use]
    pub const fn get(self) -> usize {
        self.0.get()
    }
}

/// How a waiter left the queue ([`WaitQueue::leave`]).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a waiter that received a token must honour it or pass it on"]
pub enum Left<T> {
    /// The entry was still queued: the waiter received nothing. Here is its payload back.
    Removed(T),
    /// A waker had already popped the entry and delivered this token: honour it or pass it on.
    Received(Token),
}

/// The slot a waker delivers into: shared by the queue entry and the waiter's [`Ticket`].
struct Slot {
    /// 0 while waiting; the token once delivered. Written once, under the primitive's lock.
    token: AtomicUsize,
    /// The parked thread, for a thread waiter.
    thread: Option<Thread>,
    /// Under loom a thread sleeps on its own condition variable rather than on loom's park
    /// token, which also wakes threads blocked on a loom `Mutex` (see docs/architecture.md).
    #[cfg(weft_loom)]
    sleep: loom::sync::Mutex<()>,
    #[cfg(weft_loom)]
    wake: loom::sync::Condvar,
}

/// The spare slots of one thread: one for thread waits (holding this thread's handle) and one
/// for task waits. See "Allocation" in the module docs.
struct Spares {
    threads: Cell<Option<Arc<Slot>>>,
    tasks: Cell<Option<Arc<Slot>>>,
}

impl Spares {
    const fn new() -> Self {
        Self {
            threads: Cell::new(None),
            tasks: Cell::new(None),
        }
    }

    fn get(&self, for_thread: bool) -> &Cell<Option<Arc<Slot>>> {
        if for_thread {
            &self.threads
        } else {
            &self.tasks
        }
    }
}

// `const` initialisation makes the access a plain thread-pointer offset; loom's macro does not
// take that form.
#[cfg(not(weft_loom))]
std::thread_local!(static SPARE: Spares = const { Spares::new() });
#[cfg(weft_loom)]
loom::thread_local!(static SPARE: Spares = Spares::new());

impl Slot {
    fn new(thread: Option<Thread>) -> Arc<Self> {
        Arc::new(Self {
            token: AtomicUsize::new(0),
            thread,
            #[cfg(weft_loom)]
            sleep: loom::sync::Mutex::new(()),
            #[cfg(weft_loom)]
            wake: loom::sync::Condvar::new(),
        })
    }

    /// A slot for a wait by the current thread (`for_thread`) or by a task: this thread's spare
    /// if it has one, else a new one.
    fn take(for_thread: bool) -> Arc<Self> {
        let spare = SPARE
            .try_with(|spares| spares.get(for_thread).take())
            .ok()
            .flatten();
        match spare {
            // A spare is never shared (see `recycle`): its token is reset without a race.
            Some(slot) => {
                slot.token.store(0, Ordering::Relaxed);
                slot
            }
            None => Self::new(for_thread.then(thread::current)),
        }
    }

    /// Keeps `slot` as this thread's spare if nobody else holds it, else lets it go.
    fn recycle(mut slot: Arc<Self>) {
        // `get_mut` succeeds only for the last reference: no queue entry and no pending wake-up
        // can still write to or unpark through this slot.
        if Arc::get_mut(&mut slot).is_none() {
            return;
        }
        let for_thread = slot.thread.is_some();
        if for_thread && slot.thread.as_ref().map(Thread::id) != Some(thread::current().id()) {
            return;
        }
        // During thread-local destruction the slot is simply freed.
        let _ = SPARE.try_with(move |spares| drop(spares.get(for_thread).replace(Some(slot))));
    }

    fn token(&self) -> Option<Token> {
        // Acquire: pairs with the Release in `deliver`, publishing the waker's writes.
        NonZeroUsize::new(self.token.load(Ordering::Acquire)).map(Token)
    }

    fn deliver(&self, token: Token) {
        // Release: pairs with the Acquire in `token`. Stored under the primitive's lock.
        self.token.store(token.get(), Ordering::Release);
    }
}

/// Who to wake once the entry is popped.
enum Sleeper {
    Thread,
    Task(Waker),
}

struct Entry<T> {
    slot: Arc<Slot>,
    sleeper: Sleeper,
    payload: T,
}

/// A waiter's end of one wait: the slot its token is delivered into.
///
/// Returned by [`WaitQueue::register_thread`] and [`WaitQueue::register_task`]; pass it back to
/// [`WaitQueue::leave`] and [`WaitQueue::update_waker`]. It is `Send`, so a future that holds
/// one is `Send`.
pub struct Ticket {
    /// Taken out only in `Drop`.
    slot: ManuallyDrop<Arc<Slot>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and `self.slot` is not used after this.
        let slot = unsafe { ManuallyDrop::take(&mut self.slot) };
        Slot::recycle(slot);
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("token", &self.token())
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// The token delivered to this waiter, or `None` while it waits. Acquire: once `Some`,
    /// everything the waker wrote before waking is visible.
    #[must_use]
    pub fn token(&self) -> Option<Token> {
        self.slot.token()
    }

    /// Parks the calling thread until a token is delivered or `deadline` passes.
    ///
    /// Returns the token, or `None` once the deadline has passed (never early, whatever
    /// spurious returns the OS park makes). After `None`, settle under the primitive's lock
    /// with [`WaitQueue::leave`]: the token may have been delivered at that very moment. Under
    /// loom a finite deadline yields once and then times out unless a token arrived.
    ///
    /// # Panics
    ///
    /// If the ticket was not made by [`WaitQueue::register_thread`] on this thread.
    pub fn park(&self, deadline: Deadline) -> Option<Token> {
        let thread = self
            .slot
            .thread
            .as_ref()
            .expect("Ticket::park on a task's ticket");
        assert!(
            thread.id() == thread::current().id(),
            "Ticket::park on another thread's ticket"
        );
        loop {
            if let Some(token) = self.token() {
                return Some(token);
            }
            #[cfg(not(weft_loom))]
            match deadline.remaining() {
                None => std::thread::park(),
                Some(left) if left.is_zero() => return None,
                Some(left) => std::thread::park_timeout(left),
            }
            #[cfg(weft_loom)]
            {
                // Parking takes time: the logical clock moves on.
                crate::clock::advance();
                if deadline.is_never() {
                    let guard = self
                        .slot
                        .sleep
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if self.token().is_none() {
                        drop(
                            self.slot
                                .wake
                                .wait(guard)
                                .unwrap_or_else(PoisonError::into_inner),
                        );
                    }
                } else {
                    loom::thread::yield_now();
                    return self.token();
                }
            }
        }
    }
}

/// One wake-up to perform after the primitive's lock is released.
pub struct Wakeup(WakeupKind);

enum WakeupKind {
    Thread(Arc<Slot>),
    Task(Waker),
}

impl fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            WakeupKind::Thread(_) => "Wakeup::Thread",
            WakeupKind::Task(_) => "Wakeup::Task",
        })
    }
}

impl Wakeup {
    /// Wakes the thread (unpark) or the task ([`Waker::wake`]). Call it after releasing the
    /// primitive's lock; the token is already in the waiter's slot.
    pub fn wake(self) {
        match self.0 {
            WakeupKind::Task(w) => w.wake(),
            WakeupKind::Thread(slot) => {
                // The waiter may have returned already; our Arc keeps its `Thread` alive, and
                // an extra unpark only makes a later park return early, which every park loop
                // absorbs.
                #[cfg(not(weft_loom))]
                if let Some(t) = &slot.thread {
                    t.unpark();
                }
                #[cfg(weft_loom)]
                {
                    drop(slot.sleep.lock().unwrap_or_else(PoisonError::into_inner));
                    slot.wake.notify_one();
                }
            }
        }
    }
}

/// The wake-ups a `wake_n` / `wake_all` collected: perform them with [`Wakeups::wake`] after
/// releasing the lock.
#[derive(Debug, Default)]
#[must_use = "the woken waiters sleep until `wake` is called"]
pub struct Wakeups {
    first: Option<Wakeup>,
    rest: Vec<Wakeup>,
}

impl Wakeups {
    /// No wake-ups.
    pub const fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds one (no allocation for the first).
    pub fn push(&mut self, w: Wakeup) {
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.rest.push(w);
        }
    }

    /// How many waiters will be woken.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Whether nobody will be woken.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Wakes them all, oldest first.
    pub fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

/// A FIFO of waiting threads and tasks, each with a payload, kept under the owning primitive's
/// lock. See the [module docs](self) for the protocol.
pub struct WaitQueue<T = ()> {
    entries: VecDeque<Entry<T>>,
}

impl<T> fmt::Debug for WaitQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitQueue")
            .field("len", &self.entries.len())
            .finish()
    }
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> WaitQueue<T> {
    /// An empty queue (no allocation until the first waiter).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }

    /// How many waiters are queued.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nobody waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues the current thread last; park on the returned ticket after releasing the lock.
    pub fn register_thread(&mut self, payload: T) -> Ticket {
        let slot = Slot::take(true);
        self.entries.push_back(Entry {
            slot: slot.clone(),
            sleeper: Sleeper::Thread,
            payload,
        });
        Ticket {
            slot: ManuallyDrop::new(slot),
        }
    }

    /// Queues a task last, to be woken through `waker`.
    pub fn register_task(&mut self, waker: &Waker, payload: T) -> Ticket {
        let slot = Slot::take(false);
        self.entries.push_back(Entry {
            slot: slot.clone(),
            sleeper: Sleeper::Task(waker.clone()),
            payload,
        });
        Ticket {
            slot: ManuallyDrop::new(slot),
        }
    }

    /// Stores the task's current waker in its entry (on a later poll). `false` when the entry is
    /// no longer queued: a token was delivered to it (read it with [`Ticket::token`]).
    pub fn update_waker(&mut self, ticket: &Ticket, waker: &Waker) -> bool {
        match self.position(ticket) {
            Some(at) => {
                if let Sleeper::Task(w) = &mut self.entries[at].sleeper
                    && !w.will_wake(waker)
                {
                    w.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    fn position(&self, ticket: &Ticket) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| Arc::ptr_eq(&e.slot, &ticket.slot))
    }

    fn pop(entry: Entry<T>, token: Token) -> (Wakeup, T) {
        entry.slot.deliver(token);
        let w = match entry.sleeper {
            Sleeper::Thread => WakeupKind::Thread(entry.slot),
            Sleeper::Task(w) => WakeupKind::Task(w),
        };
        (Wakeup(w), entry.payload)
    }

    /// Pops the oldest waiter and delivers `token` to it; wake it after releasing the lock.
    pub fn wake_one(&mut self, token: Token) -> Option<(Wakeup, T)> {
        let e = self.entries.pop_front()?;
        Some(Self::pop(e, token))
    }

    /// Pops up to `n` oldest waiters, delivering `token` to each.
    pub fn wake_n(&mut self, n: usize, token: Token) -> Wakeups {
        let mut out = Wakeups::new();
        for _ in 0..n {
            match self.wake_one(token) {
                Some((w, _)) => out.push(w),
                None => break,
            }
        }
        out
    }

    /// Pops every waiter, delivering `token` to each.
    pub fn wake_all(&mut self, token: Token) -> Wakeups {
        self.wake_all_with(|_| token)
    }

    /// Pops every waiter, delivering to each the token `choose` picks for its payload.
    pub fn wake_all_with(&mut self, mut choose: impl FnMut(&T) -> Token) -> Wakeups {
        let mut out = Wakeups::new();
        while let Some(e) = self.entries.pop_front() {
            let token = choose(&e.payload);
            out.push(Self::pop(e, token).0);
        }
        out
    }

    /// The oldest waiter's payload.
    #[must_use]
    pub fn front(&self) -> Option<&T> {
        self.entries.front().map(|e| &e.payload)
    }

    /// The payloads, oldest first, mutably.
    pub fn payloads_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut().map(|e| &mut e.payload)
    }

    /// A waiter stops waiting (deadline passed, future dropped): removes its entry if it is
    /// still queued, or reports the token it already received, which the caller must honour or
    /// pass on. Call under the primitive's lock.
    ///
    /// # Panics
    ///
    /// If `ticket` was never registered in this queue (it is neither queued nor woken).
    pub fn leave(&mut self, ticket: &Ticket) -> Left<T> {
        // Not queued: a waker popped the entry and delivered the token under this same lock,
        // so the token is there.
        match self.try_leave(ticket) {
            Some(left) => left,
            None => unreachable!("a ticket left a queue it was never in"),
        }
    }

    /// Moves up to `n` oldest waiters, entries intact (slot, thread or waker), to the back of
    /// `to`, mapping each payload with `f`, without delivering a token: they keep waiting, now
    /// in `to`, as if they had just registered there. Returns how many moved. Call with both
    /// queues' locks held (every primitive taking them in the same order).
    ///
    /// A moved waiter that stops waiting finds itself neither queued here nor woken
    /// ([`WaitQueue::try_leave`] returns `None`) and leaves `to` instead.
    pub fn transfer_front<U>(
        &mut self,
        n: usize,
        to: &mut WaitQueue<U>,
        mut f: impl FnMut(T) -> U,
    ) -> usize {
        let moved = n.min(self.entries.len());
        for e in self.entries.drain(..moved) {
            to.entries.push_back(Entry {
                slot: e.slot,
                sleeper: e.sleeper,
                payload: f(e.payload),
            });
        }
        moved
    }

    /// As [`WaitQueue::leave`], for a waiter that may have been moved to another queue by
    /// [`WaitQueue::transfer_front`]: `None` when it is neither queued here nor woken (it was
    /// moved; leave the other queue). Call under the primitive's lock.
    pub fn try_leave(&mut self, ticket: &Ticket) -> Option<Left<T>> {
        if let Some(at) = self.position(ticket)
            && let Some(e) = self.entries.remove(at)
        {
            Leaves::count(false);
            return Some(Left::Removed(e.payload));
        }
        let left = ticket.token().map(Left::Received);
        if left.is_some() {
            Leaves::count(true);
        }
        left
    }

    /// Gives back memory held for a past crowd of waiters.
    pub fn shrink(&mut self) {
        if self.entries.capacity() > 4 * self.entries.len().max(4) {
            self.entries.shrink_to(self.entries.len().max(4));
        }
    }
}

/// How the waiters' leaves ([`WaitQueue::leave`], [`WaitQueue::try_leave`]) ended, counted
/// under `weft_loom`: still queued ([`Left::Removed`]), or holding a token delivered to them
/// ([`Left::Received`], the race in which a leaving waiter must honour or pass on its wake-up).
///
/// loom runs every thread of a model on the test's own thread, so the count is the test's: a
/// model takes [`Leaves::so_far`] before its search and checks after it that some interleaving
/// left holding a token ([`Leaves::assert_received_since`]). A model that only ever reaches
/// clean leaves proves nothing about the pass-on. Under `std` nothing is counted.
///
/// # Examples
///
/// ```
/// use weft_sync::waitq::Leaves;
///
/// let before = Leaves::so_far();
/// weft_sync::model(|| { /* a leave racing a wake-up */ });
/// // Under `--cfg weft_loom` this fails unless some interleaving left holding a token.
/// before.assert_received_since();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leaves {
    /// Leaves that found the waiter still queued.
    pub removed: usize,
    /// Leaves that found a token delivered.
    pub received: usize,
}

#[cfg(weft_loom)]
std::thread_local! {
    static LEAVES: std::cell::Cell<Leaves> = const {
        std::cell::Cell::new(Leaves { removed: 0, received: 0 })
    };
}

impl Leaves {
    #[cfg(weft_loom)]
    fn count(received: bool) {
        LEAVES.with(|l| {
            let mut n = l.get();
            if received {
                n.received += 1;
            } else {
                n.removed += 1;
            }
            l.set(n);
        });
    }

    #[cfg(not(weft_loom))]
    fn count(_received: bool) {}

    /// The leaves counted so far by this test (under `std`: none).
    #[must_use]
    pub fn so_far() -> Self {
        #[cfg(weft_loom)]
        {
            LEAVES.with(std::cell::Cell::get)
        }
        #[cfg(not(weft_loom))]
        {
            Self::default()
        }
    }

    /// After a model's search: some interleaving since `self` (taken before it) had a waiter
    /// leave holding a delivered token. Under `std`, where a model runs once, nothing is
    /// asserted.
    ///
    /// # Panics
    ///
    /// Under `weft_loom`, if no leave since `self` found a token.
    pub fn assert_received_since(self) {
        if cfg!(weft_loom) {
            let now = Self::so_far();
            assert!(
                now.received > self.received,
                "no interleaving had a waiter leave holding a delivered token ({} leaves, all \
                 still queued): the model never reached the pass-on race",
                now.removed - self.removed
            );
        }
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    fn addr(t: &Ticket) -> *const Slot {
        Arc::as_ptr(&t.slot)
    }

    #[test]
    fn a_thread_reuses_its_slot_once_nobody_else_holds_it() {
        let mut q = WaitQueue::<()>::new();
        let first = q.register_thread(());
        let at = addr(&first);
        assert_eq!(q.leave(&first), Left::Removed(()));
        drop(first);
        let second = q.register_thread(());
        assert_eq!(addr(&second), at, "the spare slot was not reused");
        assert_eq!(second.token(), None, "a reused slot starts empty");
        let (w, ()) = q.wake_one(Token::RETRY).unwrap();
        // The pending wake-up still holds the slot: the next wait must get another one.
        drop(second);
        let third = q.register_thread(());
        assert_ne!(
            addr(&third),
            at,
            "a slot still held by a wake-up was reused"
        );
        w.wake();
        assert_eq!(q.leave(&third), Left::Removed(()));
    }

    #[test]
    fn transfer_front_moves_the_oldest_entries_without_waking_them() {
        let mut from = WaitQueue::<u32>::new();
        let mut to = WaitQueue::<u64>::new();
        let waker = std::task::Waker::noop();
        let a = from.register_thread(1);
        let b = from.register_task(waker, 2);
        let c = from.register_thread(3);
        let already = to.register_thread(0);
        assert_eq!(from.transfer_front(2, &mut to, |p| u64::from(p) * 10), 2);
        assert_eq!(from.len(), 1);
        assert_eq!(to.len(), 3);
        assert_eq!(a.token(), None, "a moved waiter was woken");
        assert_eq!(b.token(), None, "a moved waiter was woken");
        // Moved: neither queued in `from` nor woken.
        assert!(from.try_leave(&a).is_none());
        assert_eq!(from.try_leave(&c), Some(Left::Removed(3)));
        // Appended behind the waiter already there, in their order, payloads mapped.
        assert_eq!(
            to.payloads_mut().map(|p| *p).collect::<Vec<_>>(),
            [0, 10, 20]
        );
        assert_eq!(to.leave(&already), Left::Removed(0));
        let (w, p) = to.wake_one(Token::HANDOFF).unwrap();
        assert_eq!(p, 10);
        w.wake();
        assert_eq!(a.token(), Some(Token::HANDOFF));
        assert_eq!(from.try_leave(&a), Some(Left::Received(Token::HANDOFF)));
        assert_eq!(to.leave(&b), Left::Removed(20));
        // Asking for more than are queued moves what there is.
        assert_eq!(from.transfer_front(5, &mut to, u64::from), 0);
    }

    #[test]
    fn task_slots_are_reused_separately_from_thread_slots() {
        let mut q = WaitQueue::<()>::new();
        let waker = std::task::Waker::noop();
        let task = q.register_task(waker, ());
        let at = addr(&task);
        assert_eq!(q.leave(&task), Left::Removed(()));
        drop(task);
        let thread = q.register_thread(());
        assert_ne!(addr(&thread), at, "a task slot served a thread wait");
        let again = q.register_task(waker, ());
        assert_eq!(addr(&again), at, "the task spare was not reused");
        assert_eq!(q.leave(&thread), Left::Removed(()));
        assert_eq!(q.leave(&again), Left::Removed(()));
    }
}
