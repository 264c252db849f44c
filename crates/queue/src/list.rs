//! The unbounded FIFO behind [`Queue::unbounded`](crate::Queue::unbounded) and
//! [`SimpleQueue`](crate::SimpleQueue): a linked list of fixed-size segments with one lock for
//! the producers' end and another for the consumers' end (Michael and Scott's two-lock queue,
//! by segments), so that a put and a get never contend with each other.
//!
//! * The tail lock guards the last segment and the next free index in it. A put writes the
//!   slot, then sets that slot's `ready` flag (Release); when a segment is full it links a new
//!   one (Release on `next`) and moves there.
//! * The head lock guards the first segment and the next index to read. A get takes a slot once
//!   its `ready` flag is set (Acquire); past the end of a segment it follows `next` (Acquire)
//!   and frees the old segment: no put can touch it any more, since the last thing a put does
//!   to a segment is the `next` store the get just read.
//! * Memory follows the items: segments are freed as they are drained.
//! * Parked getters use the same handshake as the ring: `waiting` changes only by
//!   read-modify-writes, a put does `waiting.fetch_add(0, Release)` after publishing, a getter
//!   registers with `fetch_add(1, Acquire)` and then re-checks the head slot. Getters are
//!   threads and tasks in one [`WaitQueue`] (weft-sync's waiting core). A getter that stops
//!   waiting after a put woke it (a timed-out thread re-checks and takes the item; a dropped
//!   future takes nothing) passes the wake-up on if an item is still there.

use std::{
    mem::MaybeUninit,
    ptr,
    task::{Context, Poll, Waker},
};

use weft_sync::{
    CachePadded, Deadline, Mutex, SpinWait,
    atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering},
    cell::UnsafeCell,
    waitq::{Left, Ticket, Token, WaitQueue, Wakeups},
};

use crate::{GetError, PutError, TaskDoneError, locked::Block, tasks::Tasks, wait::TaskWait};

/// Items per segment (two under loom, so that small models cross segment boundaries).
const SEG: usize = if cfg!(weft_loom) { 2 } else { 32 };

/// A slot and its flag, side by side: the get that reads the flag then reads the item from the
/// same cache line.
struct Slot<T> {
    ready: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
}

struct Segment<T> {
    slots: [Slot<T>; SEG],
    next: AtomicPtr<Segment<T>>,
}

impl<T> Segment<T> {
    fn boxed() -> *mut Self {
        Box::into_raw(Box::new(Self {
            slots: std::array::from_fn(|_| Slot {
                ready: AtomicBool::new(false),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            }),
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    }
}

/// One end of the list: the segment and the index in it.
struct Cursor<T> {
    seg: *mut Segment<T>,
    index: usize,
}

#[derive(Debug, Default)]
struct Lists {
    getters: WaitQueue,
    joiners: WaitQueue,
}

/// An unbounded two-lock FIFO with blocking gets, task tracking and shutdown.
pub(crate) struct List<T> {
    head: CachePadded<Mutex<Cursor<T>>>,
    tail: CachePadded<Mutex<Cursor<T>>>,
    /// Items ever pushed (written under the tail lock).
    pushed: CachePadded<AtomicUsize>,
    /// Items ever popped (written under the head lock).
    popped: CachePadded<AtomicUsize>,
    /// Parked getters; changed only by read-modify-writes (see the module docs).
    waiting: CachePadded<AtomicUsize>,
    /// `task_done` count; unfinished tasks are `pushed - finished`.
    tasks: Tasks,
    shut: AtomicBool,
    lists: Mutex<Lists>,
}

// SAFETY: items move between threads through the slots (`T: Send`); the raw segment pointers
// are owned by the list and only followed under the end locks.
unsafe impl<T: Send> Send for List<T> {}
// SAFETY: as above; `&List` only moves `T`s in and out.
unsafe impl<T: Send> Sync for List<T> {}

/// What one attempt at a pop found.
enum Pop<T> {
    Item(T),
    Empty,
}

impl<T> List<T> {
    pub(crate) fn new() -> Self {
        let first = Segment::boxed();
        Self {
            head: CachePadded::new(Mutex::new(Cursor {
                seg: first,
                index: 0,
            })),
            tail: CachePadded::new(Mutex::new(Cursor {
                seg: first,
                index: 0,
            })),
            pushed: CachePadded::new(AtomicUsize::new(0)),
            popped: CachePadded::new(AtomicUsize::new(0)),
            waiting: CachePadded::new(AtomicUsize::new(0)),
            tasks: Tasks::new(),
            shut: AtomicBool::new(false),
            lists: Mutex::new(Lists::default()),
        }
    }

    fn try_push(&self, item: T) -> Result<(), T> {
        let mut tail = self.tail.lock();
        // Under the tail lock, so that a push is either before `shutdown` (which takes this
        // lock to set the flag) or refused.
        if self.shut.load(Ordering::Relaxed) {
            return Err(item);
        }
        if tail.index == SEG {
            let next = Segment::boxed();
            // SAFETY: `tail.seg` is alive: only the head end frees a segment, and only after
            // reading its `next`, which we are about to set.
            let seg = unsafe { &*tail.seg };
            // Release: the get that follows `next` sees the new segment initialised.
            seg.next.store(next, Ordering::Release);
            tail.seg = next;
            tail.index = 0;
        }
        // SAFETY: the segment is alive (as above) and slot `index` is ours alone: the tail
        // lock is held and no get reads it before its `ready` flag is set.
        let seg = unsafe { &*tail.seg };
        let i = tail.index;
        seg.slots[i].value.with_mut(|p| {
            // SAFETY: as above; the slot has never been written.
            unsafe { p.write(MaybeUninit::new(item)) }
        });
        // Counted before it is published, so that a `task_done` for this item, which comes
        // after a get that saw the flag, always finds it counted.
        // Only a holder of the tail lock writes `pushed`: a load and a store, no locked
        // instruction.
        self.pushed
            .store(self.pushed.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        // Release: publishes the item (and the count) to the get that Acquire-loads the flag.
        seg.slots[i].ready.store(true, Ordering::Release);
        tail.index = i + 1;
        Ok(())
    }

    fn try_pop(&self) -> Pop<T> {
        let mut head = self.head.lock();
        if head.index == SEG {
            // SAFETY: `head.seg` is alive: only this end frees segments, under this lock.
            let seg = unsafe { &*head.seg };
            // Acquire: pairs with the Release store of the put that linked it.
            let next = seg.next.load(Ordering::Acquire);
            if next.is_null() {
                return Pop::Empty;
            }
            let old = head.seg;
            head.seg = next;
            head.index = 0;
            // SAFETY: every slot of `old` was read, and the put that linked `next` was the last
            // to touch it (we read its store): nobody else can reach it.
            drop(unsafe { Box::from_raw(old) });
        }
        // SAFETY: the segment is alive (as above).
        let seg = unsafe { &*head.seg };
        let i = head.index;
        // Acquire: pairs with the put's Release: the item is written.
        if !seg.slots[i].ready.load(Ordering::Acquire) {
            return Pop::Empty;
        }
        let item = seg.slots[i].value.with_mut(|p| {
            // SAFETY: the flag says the slot was written; the head lock makes us its only
            // reader, once (the index moves past it).
            unsafe { p.read().assume_init() }
        });
        head.index = i + 1;
        // Only a holder of the head lock writes `popped`.
        self.popped
            .store(self.popped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Pop::Item(item)
    }

    /// For a parked getter's re-check: an item is published at the head, or the queue is shut
    /// down and empty.
    fn get_ready(&self) -> bool {
        let head = self.head.lock();
        // SAFETY: the segment is alive (only this end frees, under the lock we hold).
        let seg = unsafe { &*head.seg };
        let ready = if head.index == SEG {
            !seg.next.load(Ordering::Acquire).is_null()
        } else {
            seg.slots[head.index].ready.load(Ordering::Acquire)
        };
        ready || self.shut.load(Ordering::Acquire)
    }

    #[inline]
    fn wake_getter(&self) {
        // The waker's half of the handshake. Release: a getter registering after this sees
        // our item.
        if self.waiting.fetch_add(0, Ordering::Release) != 0 {
            self.wake_one();
        }
    }

    /// Pops the oldest parked getter (the token delivered under the lock) and wakes it after
    /// the lock is released.
    #[cold]
    fn wake_one(&self) {
        let next = {
            let mut l = self.lists.lock();
            let next = l.getters.wake_one(Token::RETRY);
            if next.is_some() {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
            }
            next
        };
        if let Some((w, ())) = next {
            w.wake();
        }
    }

    /// Passes a wake-up on, for a getter that received one and leaves without the item (a
    /// dropped future): if getters are parked and an item is there, wake the next one.
    #[cold]
    fn pass_on_getter(&self) {
        // The waker's half of the handshake, as in `wake_getter`.
        if self.waiting.fetch_add(0, Ordering::Release) != 0 && self.get_ready() {
            self.wake_one();
        }
    }

    /// Queues a thread (`waker == None`) or a task: the sleeper's half of the handshake. The
    /// caller re-checks after this and before it sleeps.
    #[cold]
    fn register(&self, waker: Option<&Waker>) -> Ticket {
        let mut l = self.lists.lock();
        let ticket = match waker {
            None => l.getters.register_thread(()),
            Some(w) => l.getters.register_task(w, ()),
        };
        // Acquire: if a put's `fetch_add(0)` came first, we see its item.
        self.waiting.fetch_add(1, Ordering::Acquire);
        ticket
    }

    /// A getter stops waiting: leaves under the lock. Returns whether it had received a
    /// wake-up, which it must honour or pass on.
    #[cold]
    fn leave(&self, ticket: &Ticket) -> bool {
        let mut l = self.lists.lock();
        match l.getters.leave(ticket) {
            Left::Removed(()) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                false
            }
            Left::Received(_) => true,
        }
    }

    pub(crate) fn put(&self, item: T, _block: Block) -> Result<(), PutError<T>> {
        self.try_push(item).map_err(PutError::ShutDown)?;
        self.wake_getter();
        Ok(())
    }

    pub(crate) fn get(&self, block: Block) -> Result<T, GetError> {
        let mut spin = SpinWait::new();
        let mut gave_up = false;
        loop {
            if let Pop::Item(item) = self.try_pop() {
                return Ok(item);
            }
            if self.shut.load(Ordering::Acquire) {
                // Pushes stop at the flag (under the tail lock): re-check once for the last.
                return match self.try_pop() {
                    Pop::Item(item) => Ok(item),
                    Pop::Empty => Err(GetError::ShutDown),
                };
            }
            let deadline = match block {
                Block::Until(d) if !gave_up && !d.has_passed() => d,
                _ => return Err(GetError::Empty),
            };
            if spin.spin() {
                continue;
            }
            gave_up = self.sleep(deadline);
            spin.reset();
        }
    }

    /// Registers, re-checks, and sleeps unless ready; returns whether to give up.
    #[cold]
    fn sleep(&self, deadline: Deadline) -> bool {
        let ticket = self.register(None);
        if self.get_ready() {
            // Ready already: withdraw at once; the caller re-checks (and so honours a wake-up
            // that arrived meanwhile).
            let _ = self.leave(&ticket);
            return false;
        }
        match ticket.park(deadline) {
            Some(_) => false,
            // Timed out. Still queued: give up (after one more look). A waker took us as we
            // gave up: the wake-up is ours; the caller re-checks, and takes the item.
            None => !self.leave(&ticket),
        }
    }

    /// One poll of an async put: an unbounded put never waits.
    pub(crate) fn poll_put(
        &self,
        item: &mut Option<T>,
        _wait: &mut TaskWait,
        _cx: &Context<'_>,
    ) -> Poll<Result<(), PutError<T>>> {
        let it = item.take().expect("PutAsync polled after completion");
        Poll::Ready(self.put(it, Block::No))
    }

    /// An async put never waits here, so it has nothing to cancel.
    pub(crate) fn cancel_put(&self, wait: &mut TaskWait) {
        debug_assert!(!wait.is_queued());
    }

    /// One poll of an async get.
    pub(crate) fn poll_get(
        &self,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<Result<T, GetError>> {
        loop {
            if let Some(ticket) = &wait.ticket {
                if ticket.token().is_none()
                    && self.lists.lock().getters.update_waker(ticket, cx.waker())
                {
                    return Poll::Pending;
                }
                // Woken: re-check (a barging getter may have taken the item; then we queue
                // again, since that item was used).
                wait.ticket = None;
            }
            if let Pop::Item(item) = self.try_pop() {
                return Poll::Ready(Ok(item));
            }
            if self.shut.load(Ordering::Acquire) {
                // Pushes stop at the flag (under the tail lock): re-check once for the last.
                return Poll::Ready(match self.try_pop() {
                    Pop::Item(item) => Ok(item),
                    Pop::Empty => Err(GetError::ShutDown),
                });
            }
            let ticket = self.register(Some(cx.waker()));
            if self.get_ready() {
                let _ = self.leave(&ticket);
                continue;
            }
            wait.ticket = Some(ticket);
            return Poll::Pending;
        }
    }

    /// A pending async get is dropped: it took no item; it leaves, and passes on a wake-up it
    /// received (the item it announced stays for the next getter).
    pub(crate) fn cancel_get(&self, wait: &mut TaskWait) {
        if let Some(ticket) = wait.ticket.take()
            && self.leave(&ticket)
        {
            self.pass_on_getter();
        }
    }

    pub(crate) fn len(&self) -> usize {
        let popped = self.popped.load(Ordering::Acquire);
        self.pushed.load(Ordering::Acquire).saturating_sub(popped)
    }

    pub(crate) fn maxsize(&self) -> usize {
        0
    }

    /// Every push so far, as task accounting reads it.
    fn pushed_now(&self) -> usize {
        self.pushed.load(Ordering::Acquire)
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.tasks.unfinished(|| self.pushed_now())
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        self.tasks.task_done(
            || self.pushed_now(),
            || Tasks::wake(&self.lists, |l| &mut l.joiners),
        )
    }

    pub(crate) fn join(&self) {
        self.tasks
            .join(&self.lists, |l| &mut l.joiners, || self.pushed_now());
    }

    pub(crate) fn poll_join(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<()> {
        self.tasks.poll_join(
            &self.lists,
            |l| &mut l.joiners,
            || self.pushed_now(),
            wait,
            cx,
        )
    }

    pub(crate) fn cancel_join(&self, wait: &mut TaskWait) {
        Tasks::cancel_join(&self.lists, |l| &mut l.joiners, wait);
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    pub(crate) fn shutdown(&self, immediate: bool) {
        {
            // Under the tail lock: every push is before this or refused.
            let _tail = self.tail.lock();
            self.shut.store(true, Ordering::Release);
        }
        let mut dropped = Vec::new();
        if immediate {
            while let Pop::Item(item) = self.try_pop() {
                dropped.push(item);
            }
            self.tasks.settle(dropped.len(), || self.pushed_now());
        }
        let (getters, joiners) = {
            let mut l = self.lists.lock();
            self.waiting.fetch_sub(l.getters.len(), Ordering::Relaxed);
            let joiners = if immediate && self.unfinished() == 0 {
                l.joiners.wake_all(Token::RETRY)
            } else {
                Wakeups::new()
            };
            (l.getters.wake_all(Token::RETRY), joiners)
        };
        getters.wake();
        joiners.wake();
        drop(dropped);
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        while let Pop::Item(item) = self.try_pop() {
            drop(item);
        }
        let head = self.head.get_mut();
        // SAFETY: `&mut self`: nobody else is here; the head segment is the only one left (the
        // pops above walked the list to its end) and it is ours to free.
        drop(unsafe { Box::from_raw(head.seg) });
    }
}

impl<T> std::fmt::Debug for List<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("List")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
