//! The bounded FIFO behind [`Queue`](crate::Queue): a lock-free ring of slots, each with a
//! sequence stamp (Dmitry Vyukov's bounded MPMC queue, in the shape of crossbeam's
//! `ArrayQueue`), plus wait queues (weft-sync's waiting core) used only when the ring is full or
//! empty.
//!
//! # The words
//!
//! * `head` / `tail`: positions `lap | index`, where `index < cap` and a lap is `one_lap`, a
//!   power of two above `cap`. `tail` also carries `mark_bit` (between index and lap): set by
//!   `shutdown`, after which no push can claim a slot.
//! * `slot.stamp`: `tail + 1` once the item of position `tail` is written (readable by the pop
//!   of that position); `head + one_lap` once the pop of position `head` has moved it out
//!   (writable by the push one lap later).
//! * `tail.waiting` / `head.waiting`: how many getters / putters are parked. Each sits on the
//!   cache line of the end whose movement it waits for, which the threads moving that end
//!   already own. Only read-modify-writes change it.
//! * `finished`: how many tasks were marked done (or settled by an immediate shutdown). The
//!   number of unfinished tasks is `pushed(tail) - finished`: a push pays no extra atomic for
//!   `task_done` bookkeeping.
//!
//! # Slots claimed but not yet published (or released)
//!
//! A push claims its position (compare-exchange on `tail`) and then writes the item and
//! publishes it (stamp store); a pop claims (`head`) and then reads the item out and releases
//! the slot. Between the two steps another thread can meet the slot: a pop finds the head slot
//! claimed by a push that has not published, a push finds the slot it needs claimed by a pop
//! that has not released it. Neither counts as empty or full: `try_pop` reports `Empty` only
//! when no push has claimed the head position (`tail == head`), `try_push` reports `Full` only
//! when the head is a whole lap behind the tail, as crossbeam's `ArrayQueue` does. Otherwise the
//! caller either waits for the other thread's step, or parks:
//!
//! * A call that may not block any longer (`try_get`/`try_put`, a timed call whose deadline
//!   passed, the drain of an immediate shutdown) waits for that step: the other thread is past
//!   its claim and finishes without waiting for anyone, so this is a bounded wait (a few
//!   instructions, unless that thread was preempted). So `try_get` never reports `Empty` while a
//!   push that returned before it is in the queue, and an immediate shutdown removes every item
//!   whose push claimed a slot before it, then settles their task counts.
//! * A blocking call's attempts read only the slot's stamp (they do not tell "in flight" from
//!   empty or full, and leave the other end's cache line alone); it spins briefly, then parks
//!   (below). It does not spin unboundedly: several
//!   threads spinning on one slot would only steal the processor from the thread they wait for.
//!
//! A parked thread that is woken and finds the slot still in flight parks again; the push
//! (pop) under way wakes a thread when it finishes. So that no wake-up dies there, a woken
//! thread **passes its wake-up on** when it leaves: a woken getter that takes an item (or hears
//! `ShutDown`) wakes the next parked getter if more items are claimed or the queue is shut
//! down; a woken putter that got in wakes the next parked putter if a slot is free. Without
//! this, capacity 2 with two parked getters stranded an item: push A claims slot p and stalls,
//! push B publishes p + 1 and wakes getter 1, which finds p unpublished and parks again; A then
//! wakes getter 2, which takes p, and p + 1 stayed queued while getter 1 slept. Now getter 2
//! passes the wake-up on and getter 1 takes p + 1. After `shutdown`, getters that find an item
//! on its way park until it is published; the getter that takes it (or that then hears
//! `ShutDown`) wakes the next, and so each hears `ShutDown` in turn.
//!
//! A get answers `ShutDown` only when the queue is shut down and nothing is claimed: every
//! item accepted before the shutdown has been handed out. The pass-on costs nothing on the fast
//! path: only a thread that slept does it.
//!
//! # Sleeping without losing a wake-up
//!
//! A getter that found nothing registers: under the lists lock it queues its waiter and does
//! `tail.waiting.fetch_add(1, Acquire)`; then it re-checks the head slot's stamp, and sleeps only
//! if nothing is published there. A push publishes its slot (Release stamp store) and then does
//! `tail.waiting.fetch_add(0, Release)`. Both are read-modify-writes of one word, so one comes
//! first in its modification order: if the push's comes first, the registration reads from it
//! and synchronises with it, so the re-check sees the item; if the registration comes first,
//! the push reads a count above zero and wakes the oldest parked getter. Putters mirror this
//! with `head.waiting`. A woken thread re-checks and may find its item taken by a thread that
//! never slept; then it sleeps again, since that item was used. A parked getter's re-check
//! (`get_ready`) asks whether an item is *published* at the head (a push under way wakes it when
//! it publishes), or the queue is shut down with nothing claimed.
//!
//! (A `SeqCst` fence on each side would do as well on paper; the read-modify-write form costs
//! about the same on x86-64 and is what loom models exactly.)
//!
//! # Threads and tasks
//!
//! The lists are weft-sync's [`WaitQueue`]s: a parked thread and an async task (`put_async`,
//! `get_async`) wait in one FIFO and run the same handshake. A task does not spin (a poll never
//! blocks): it registers, re-checks, and returns `Pending`; woken, it re-checks and either
//! leaves with an item (a slot), passing the wake-up on as a woken thread does, or registers
//! again. A task's future dropped after a wake-up passes it on (`pass_on_getter` /
//! `pass_on_putter`, the same checks); dropped while still queued, it leaves and `waiting`
//! goes down, as for a thread that timed out.

use std::{
    mem::MaybeUninit,
    task::{Context, Poll, Waker},
};

use weft_sync::{
    CachePadded, Deadline, Mutex, SpinWait,
    atomic::{AtomicUsize, Ordering},
    cell::UnsafeCell,
    waitq::{Left, Ticket, Token, WaitQueue, Wakeups},
};

use crate::{GetError, PutError, TaskDoneError, locked::Block, tasks::Tasks, wait::TaskWait};

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

#[derive(Debug, Default)]
struct Lists {
    getters: WaitQueue,
    putters: WaitQueue,
    joiners: WaitQueue,
}

/// Picks one of the wait queues out of [`Lists`].
type Pick = fn(&mut Lists) -> &mut WaitQueue;

/// One end of the ring: a position, and the number of threads parked waiting for the other
/// end to move (getters at the tail, putters at the head). Both sit on one cache line, which the
/// threads working at that end already own.
#[derive(Debug)]
struct End {
    pos: AtomicUsize,
    /// Changed only by read-modify-writes (under the lists lock), so that the wakers'
    /// `fetch_add(0)` and the sleepers' registrations form one modification order.
    waiting: AtomicUsize,
    /// Whether calls working at this end (gets at the head, puts at the tail) lately found what
    /// they wanted by waiting a moment before queueing: an async call by looking again (see
    /// [`ASYNC_LOOKS`]), a thread by spinning (see [`thread_spin`]).
    looks_pay: Hint,
}

impl End {
    fn new() -> Self {
        Self {
            pos: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            looks_pay: Hint::new(false),
        }
    }
}

/// A hint that no decision of the protocol reads (only how many times an async call looks
/// again before it queues, and any count is correct). A weft-sync atomic like the others, so
/// that under loom the models explore its loads and stores too and show that no value of it
/// changes an outcome.
type Hint = weft_sync::atomic::AtomicBool;

/// An async put (get) found the ring full (empty): whether to look again (after a pause of
/// `look`'s next round) before queueing. The first look is always taken; further ones only
/// while looks have lately been paying at this end (`pays`), so that where they cannot succeed
/// (a single-threaded runtime, where the other end cannot run meanwhile) a miss costs one
/// short round. `looked` records that a look was taken; when all of them miss, `pays` is
/// cleared.
#[inline]
fn look_again(look: &mut SpinWait, looked: &mut bool, pays: &Hint) -> bool {
    use Ordering::Relaxed;
    // Relaxed: a hint (see `Hint`).
    if *looked && !pays.load(Relaxed) {
        return false;
    }
    if look.spin_no_yield() {
        *looked = true;
        return true;
    }
    if pays.load(Relaxed) {
        pays.store(false, Relaxed);
    }
    false
}

/// A look again found what the call wanted: looks pay at this end.
#[inline]
fn looks_paid(looked: bool, pays: &Hint) {
    use Ordering::Relaxed;
    // Relaxed: a hint (see `Hint`).
    if looked && !pays.load(Relaxed) {
        pays.store(true, Relaxed);
    }
}

/// The most rounds a blocked thread spins (3 busy, the rest yields) before it parks, while
/// spinning has lately been paying at its end (see [`thread_spin`]); otherwise it spins
/// parking_lot's budget, [`SpinWait::new`]'s 10 rounds.
#[cfg_attr(weft_loom, allow(dead_code))]
const LONG_SPIN: u32 = 64;

/// The spin of a blocked put (get) before it parks: [`LONG_SPIN`] rounds while puts (gets) at
/// this end lately got in by spinning (`pays`), parking_lot's 10 otherwise.
///
/// A thread that parks is woken by the other end's next pop (push), and the kernel tends to
/// wake it on the waker's CPU: a putter thread feeding a getter task packs onto the tokio
/// worker's CPU, and from then on the two take turns there, a park and a wake-up every
/// capacity's worth of items (issue 12, "`async_mixed`"). A thread that yields instead stays
/// runnable where it is, and the other end keeps its own CPU. Yields cost CPU when nothing comes
/// (about a microsecond each on the machine of issue 12), so the long spin is only for an end
/// where spinning has been paying: the first call that spins its whole budget and parks turns
/// it off.
///
/// Under loom every budget is the same single yield ([`SpinWait`]), so the hint is neither read
/// nor written there: it changes nothing a model could observe, and would only multiply the
/// interleavings of every blocked thread.
#[inline]
fn thread_spin(pays: &Hint) -> SpinWait {
    #[cfg(not(weft_loom))]
    // Relaxed: a hint (see `Hint`).
    if pays.load(Ordering::Relaxed) {
        return SpinWait::with_limits(3, LONG_SPIN);
    }
    let _ = pays;
    SpinWait::new()
}

/// A blocked put (get) got in after `spin` spun at least once: spinning pays at this end.
#[inline]
fn spin_paid(spin: &SpinWait, pays: &Hint) {
    #[cfg(not(weft_loom))]
    // Relaxed: a hint (see `Hint`).
    if spin.spun() && !pays.load(Ordering::Relaxed) {
        pays.store(true, Ordering::Relaxed);
    }
    let _ = (spin, pays);
}

/// A blocked put (get) spun its whole budget and parks: spinning does not pay at this end.
#[inline]
fn spin_missed(pays: &Hint) {
    #[cfg(not(weft_loom))]
    // Relaxed: a hint (see `Hint`).
    if pays.load(Ordering::Relaxed) {
        pays.store(false, Ordering::Relaxed);
    }
    let _ = pays;
}

/// A bounded lock-free FIFO with blocking, task tracking and shutdown.
pub(crate) struct Ring<T> {
    /// The pop end: its position, and how many putters are parked (see [`End`]).
    head: CachePadded<End>,
    /// The push end: its position (and the shutdown mark), and how many getters are parked.
    tail: CachePadded<End>,
    /// `task_done` count; unfinished tasks are `pushed(tail) - finished`.
    tasks: Tasks,
    lists: Mutex<Lists>,
    buffer: Box<[Slot<T>]>,
    cap: usize,
    one_lap: usize,
    mark_bit: usize,
}

// SAFETY: items move between threads through the slots (`T: Send`); each slot is accessed by
// one thread at a time, as its stamp protocol guarantees.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; `&Ring` only moves `T`s in and out, never shares a `&T`.
unsafe impl<T: Send> Sync for Ring<T> {}

/// Re-reads `head` or `tail` after finding ours out of date: a read-modify-write, which always
/// sees the latest value (a plain load may legally lag behind for a while, and loom explores
/// such a lag without end). Only for `head`/`tail`, which change by read-modify-writes alone;
/// never for a stamp, which plain stores change.
#[inline]
fn fresh(position: &AtomicUsize) -> usize {
    position.fetch_add(0, Ordering::Relaxed)
}

/// Waiting for another thread's step that is already under way (a push between its claim and
/// its publish, a pop between its claim and its release): spin briefly, then yield (under loom:
/// yield each time, so that the other thread runs).
struct InFlight(SpinWait);

impl InFlight {
    fn new() -> Self {
        Self(SpinWait::new())
    }

    fn wait(&mut self) {
        if !self.0.spin() {
            weft_sync::thread::yield_now();
        }
    }
}

/// How many times, at most, an async put (get) that found the ring full (empty) looks again
/// before it queues its task, pausing 2, then 4, then 8 times in between
/// (`SpinWait::spin_no_yield`; under loom one yield, so the models explore both "found it on
/// the second look" and "queued").
///
/// A thread spins and yields a while before it parks; a poll must not block, but a few looks
/// cost less than queueing: with producer and consumer tasks running on two workers at once,
/// the other end is usually moments from freeing the slot (publishing the item), and a task
/// that queues instead pays the registration, the wake-up and, on tokio, often a move to the
/// waker's worker. On a single-threaded runtime no look can succeed (the other end cannot run
/// meanwhile), so only the first look is always taken: the others only while looks have lately
/// been paying at that end ([`look_again`]). See docs/queue.md, issue 12, fifth round.
const ASYNC_LOOKS: u32 = 3;

/// What one attempt at a pop found.
enum Pop<T> {
    Item(T),
    /// No push has claimed the head position.
    Empty,
    /// A push has claimed the head position and not yet published its item.
    Busy,
}

/// What one attempt at a push found; every failure hands the item back.
enum Push<T> {
    Done,
    /// The head is a whole lap behind the tail.
    Full(T),
    /// A pop has claimed the slot we need and not yet released it.
    Busy(T),
    ShutDown(T),
}

/// What a claim at one position found ([`Ring::claim_slot`], [`Ring::claim_item`]).
enum Claim<'a, T> {
    /// The slot is ours: write (or read) it, then hand it on with its stamp.
    Won(&'a Slot<T>),
    /// The slot is not ready for this position: its stamp.
    NotReady(usize),
    /// Another thread claimed this position first: the position it found.
    Raced(usize),
}

impl<T> Ring<T> {
    pub(crate) fn new(cap: usize) -> Self {
        assert!(cap > 0, "a ring needs room for one item");
        let mark_bit = (cap + 1).next_power_of_two();
        let one_lap = mark_bit * 2;
        let buffer = (0..cap)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Self {
            head: CachePadded::new(End::new()),
            tail: CachePadded::new(End::new()),
            tasks: Tasks::new(),
            lists: Mutex::new(Lists::default()),
            buffer,
            cap,
            one_lap,
            mark_bit,
        }
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.cap
    }

    /// The position after `pos` (same index + 1, or index 0 of the next lap).
    #[inline(always)]
    fn next_pos(&self, pos: usize) -> usize {
        if (pos & (self.mark_bit - 1)) + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// A push's claim at position `tail` (not marked): if the slot is free for this lap, claim
    /// it (compare-exchange on `tail`); the caller then writes and publishes ([`Self::publish`]).
    /// Shared by the inlined first attempt of [`Self::try_push`] and the loop of
    /// [`Self::try_push_slow`]; the item does not pass through it (a large item is moved as few
    /// times as before).
    #[inline(always)]
    fn claim_slot(&self, tail: usize) -> Claim<'_, T> {
        let slot = &self.buffer[tail & (self.mark_bit - 1)];
        // Acquire: pairs with the Release stamp store of the pop that emptied the slot, so its
        // read of the old item is over before we write.
        let stamp = slot.stamp.load(Ordering::Acquire);
        if tail != stamp {
            return Claim::NotReady(stamp);
        }
        // SeqCst: claims the slot; pushes that claim before `shutdown` marks the tail get in,
        // none after.
        match self.tail.pos.compare_exchange(
            tail,
            self.next_pos(tail),
            Ordering::SeqCst,
            Ordering::Relaxed,
        ) {
            Ok(_) => Claim::Won(slot),
            Err(now) => Claim::Raced(now),
        }
    }

    /// Writes `item` into the slot a push claimed at `tail` and publishes it.
    #[inline(always)]
    fn publish(slot: &Slot<T>, tail: usize, item: T) {
        slot.value.with_mut(|p| {
            // SAFETY: the claim on `tail` made this slot ours alone until the stamp below hands
            // it to the pop of this position; it is empty (its stamp said so).
            unsafe { p.write(MaybeUninit::new(item)) }
        });
        // Release: publishes the item to the pop that Acquire-loads the stamp.
        slot.stamp.store(tail + 1, Ordering::Release);
    }

    /// One push attempt.
    ///
    /// `Full` only when the head is a whole lap behind the tail. When the slot we need was
    /// claimed by a pop that has not released it yet: with `wait`, wait for that release (the
    /// pop is past its claim and finishes without waiting for anyone); without, report `Busy`.
    ///
    /// The first claim is inlined into the caller (an uncontended push is a load, a
    /// compare-exchange and two stores); anything else goes to [`Self::try_push_slow`].
    #[inline]
    fn try_push(&self, item: T, wait: bool) -> Push<T> {
        let tail = self.tail.pos.load(Ordering::Relaxed);
        if tail & self.mark_bit == 0
            && let Claim::Won(slot) = self.claim_slot(tail)
        {
            Self::publish(slot, tail, item);
            return Push::Done;
        }
        self.try_push_slow(item, wait)
    }

    /// [`Self::try_push`] past its first claim.
    #[inline(never)]
    fn try_push_slow(&self, item: T, wait: bool) -> Push<T> {
        let mut in_flight = InFlight::new();
        let mut tail = self.tail.pos.load(Ordering::Relaxed);
        loop {
            if tail & self.mark_bit != 0 {
                return Push::ShutDown(item);
            }
            let stamp = match self.claim_slot(tail) {
                Claim::Won(slot) => {
                    Self::publish(slot, tail, item);
                    return Push::Done;
                }
                Claim::Raced(now) => {
                    tail = now;
                    continue;
                }
                Claim::NotReady(stamp) => stamp,
            };
            if !wait && stamp.wrapping_add(self.one_lap) == tail + 1 {
                // Full, or last lap's pop still under way: a blocking caller treats both alike
                // (it parks on the slot's stamp), so the head's cache line is left alone.
                return Push::Full(item);
            }
            // Full only if the head is a whole lap behind us. SeqCst: a pop whose claim comes
            // first in the total order (every pop that returned before this call began, at
            // least) is seen; a plain load, no locked instruction on the head's cache line. Our
            // `tail` cannot be out of date then: the tail is never more than a lap ahead.
            if self
                .head
                .pos
                .load(Ordering::SeqCst)
                .wrapping_add(self.one_lap)
                == tail
            {
                return Push::Full(item);
            }
            if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds last lap's item, whose pop has claimed it (the head is
                // past it) and not yet released it.
                if !wait {
                    return Push::Busy(item);
                }
                // That pop finishes without waiting for anyone: a few instructions, unless
                // its thread was preempted.
                in_flight.wait();
                tail = fresh(&self.tail.pos);
            } else {
                // Our `tail` (or the stamp we read) is behind: others moved on. Pause (under
                // loom: yield, so that the next read sees newer values), then read again.
                weft_sync::thread::spin_loop();
                tail = fresh(&self.tail.pos);
            }
        }
    }

    /// A pop's claim at position `head`: if the item of this position is published, claim it
    /// (compare-exchange on `head`); the caller then reads it out ([`Self::take_out`]). Shared
    /// by the inlined first attempt of [`Self::try_pop`] and the loop of [`Self::try_pop_slow`].
    #[inline(always)]
    fn claim_item(&self, head: usize) -> Claim<'_, T> {
        let slot = &self.buffer[head & (self.mark_bit - 1)];
        // Acquire: pairs with the push's Release stamp store: the item is written.
        let stamp = slot.stamp.load(Ordering::Acquire);
        if head + 1 != stamp {
            return Claim::NotReady(stamp);
        }
        // SeqCst: claims the item, in one total order with the other claims.
        match self.head.pos.compare_exchange(
            head,
            self.next_pos(head),
            Ordering::SeqCst,
            Ordering::Relaxed,
        ) {
            Ok(_) => Claim::Won(slot),
            Err(now) => Claim::Raced(now),
        }
    }

    /// Reads the item out of the slot a pop claimed at `head` and releases the slot for the
    /// next lap's push.
    #[inline(always)]
    fn take_out(&self, slot: &Slot<T>, head: usize) -> T {
        let item = slot.value.with_mut(|p| {
            // SAFETY: the claim on `head` made this slot ours alone; its stamp said the push of
            // this position finished writing it.
            unsafe { p.read().assume_init() }
        });
        // Release: our read is over before the next lap's push writes.
        slot.stamp
            .store(head.wrapping_add(self.one_lap), Ordering::Release);
        item
    }

    /// One pop attempt.
    ///
    /// `Empty` only when no push has claimed the head position. When one has and not yet
    /// published: with `wait`, wait for that publish (the push is past its claim and finishes
    /// without waiting for anyone); without, report `Busy`.
    ///
    /// The first claim is inlined into the caller; anything else goes to
    /// [`Self::try_pop_slow`].
    #[inline]
    fn try_pop(&self, wait: bool) -> Pop<T> {
        let head = self.head.pos.load(Ordering::Relaxed);
        if let Claim::Won(slot) = self.claim_item(head) {
            return Pop::Item(self.take_out(slot, head));
        }
        self.try_pop_slow(wait)
    }

    /// [`Self::try_pop`] past its first claim.
    #[inline(never)]
    fn try_pop_slow(&self, wait: bool) -> Pop<T> {
        let mut in_flight = InFlight::new();
        let mut head = self.head.pos.load(Ordering::Relaxed);
        loop {
            let stamp = match self.claim_item(head) {
                Claim::Won(slot) => return Pop::Item(self.take_out(slot, head)),
                Claim::Raced(now) => {
                    head = now;
                    continue;
                }
                Claim::NotReady(stamp) => stamp,
            };
            if !wait && stamp == head {
                // Nothing published here: empty, or a push under way. A blocking caller treats
                // both alike (it parks on the slot's stamp), so the tail is left alone.
                return Pop::Busy;
            }
            // Nothing published at our head. Empty only if no push has claimed it. SeqCst: a
            // push whose claim comes first in the total order (every push that returned before
            // this call began, at least) is seen. Our `head` cannot be out of date then, since
            // the head never passes the tail.
            if self.tail.pos.load(Ordering::SeqCst) & !self.mark_bit == head {
                return Pop::Empty;
            }
            if stamp == head {
                // A push has claimed this position and not yet published.
                if !wait {
                    return Pop::Busy;
                }
                // That push finishes without waiting for anyone: a few instructions, unless its
                // thread was preempted.
                in_flight.wait();
                head = fresh(&self.head.pos);
            } else {
                // Our `head` (or the stamp we read) is behind: others moved on. Pause (under
                // loom: yield, so that the next read sees newer values), then read again.
                weft_sync::thread::spin_loop();
                head = fresh(&self.head.pos);
            }
        }
    }

    fn is_shut(&self) -> bool {
        self.tail.pos.load(Ordering::SeqCst) & self.mark_bit != 0
    }

    /// Shut down, and no push under way: a get may answer `ShutDown`, since every item accepted
    /// before the shutdown has been handed out.
    fn shut_and_drained(&self) -> bool {
        self.is_shut() && self.nothing_claimed()
    }

    /// Whether no push has claimed a slot that no pop has claimed yet (latest values).
    fn nothing_claimed(&self) -> bool {
        fresh(&self.tail.pos) & !self.mark_bit == fresh(&self.head.pos)
    }

    /// For a parked getter's re-check: an item is published at the head, or the queue is shut
    /// down with nothing left or on its way. (A push under way at the head wakes a getter when
    /// it publishes.)
    fn get_ready(&self) -> bool {
        let head = fresh(&self.head.pos);
        let stamp = self.buffer[head & (self.mark_bit - 1)]
            .stamp
            .load(Ordering::Acquire);
        stamp == head + 1 || self.shut_and_drained()
    }

    /// For a parked putter's re-check: the slot at the tail is free, or the queue is shut down.
    /// (A pop under way at that slot wakes a putter when it releases it.)
    fn put_ready(&self) -> bool {
        let tail = fresh(&self.tail.pos);
        if tail & self.mark_bit != 0 {
            return true;
        }
        self.buffer[tail & (self.mark_bit - 1)]
            .stamp
            .load(Ordering::Acquire)
            == tail
    }

    /// Passes a wake-up on, for a getter that was woken and is leaving with an item or with
    /// `ShutDown`: if getters are parked and more items are claimed (published or on their way),
    /// or the queue is shut down, wake the next one. Each wake-up thus ends either with a getter
    /// that found nothing at all (nothing claimed, not shut down), or passes on.
    #[cold]
    fn pass_on_getter(&self) {
        // The waker's half of the handshake, as in `wake_getter`.
        if self.tail.waiting.fetch_add(0, Ordering::Release) != 0 {
            let head = fresh(&self.head.pos);
            // Differs from `head` when items are claimed, or when the shutdown mark is set.
            if fresh(&self.tail.pos) != head {
                self.wake_one(|l| &mut l.getters, &self.tail.waiting);
            }
        }
    }

    /// Passes a wake-up on, for a putter that was woken and is leaving with its item in: if
    /// putters are parked and a slot is free (or being freed), wake the next one.
    #[cold]
    fn pass_on_putter(&self) {
        if self.head.waiting.fetch_add(0, Ordering::Release) != 0 {
            let tail = fresh(&self.tail.pos);
            if tail & self.mark_bit == 0 && fresh(&self.head.pos).wrapping_add(self.one_lap) != tail
            {
                self.wake_one(|l| &mut l.putters, &self.head.waiting);
            }
        }
    }

    /// After a push: wake one parked getter, if any.
    #[inline]
    fn wake_getter(&self) {
        // The waker's half of the handshake (module docs). Release: a getter whose registration
        // comes after this in `waiting`'s order sees our item.
        if self.tail.waiting.fetch_add(0, Ordering::Release) != 0 {
            self.wake_one(|l| &mut l.getters, &self.tail.waiting);
        }
    }

    /// After a pop: wake one parked putter, if any.
    #[inline]
    fn wake_putter(&self) {
        // As in `wake_getter`: a putter registering after this sees the slot we freed.
        if self.head.waiting.fetch_add(0, Ordering::Release) != 0 {
            self.wake_one(|l| &mut l.putters, &self.head.waiting);
        }
    }

    #[cold]
    fn wake_one(&self, list: Pick, count: &AtomicUsize) {
        let next = {
            let mut lists = self.lists.lock();
            // The token is delivered under the lock; the wake-up runs after it is released.
            let next = list(&mut lists).wake_one(Token::RETRY);
            if next.is_some() {
                count.fetch_sub(1, Ordering::Relaxed);
            }
            next
        };
        if let Some((w, ())) = next {
            w.wake();
        }
    }

    /// Queues a thread (`waker == None`) or a task in a list: the sleeper's half of the
    /// handshake (module docs). The caller re-checks after this and before it sleeps.
    #[cold]
    fn register(&self, list: Pick, count: &AtomicUsize, waker: Option<&Waker>) -> Ticket {
        let mut lists = self.lists.lock();
        let l = list(&mut lists);
        let ticket = match waker {
            None => l.register_thread(()),
            Some(w) => l.register_task(w, ()),
        };
        // Acquire: if a waker's `fetch_add(0)` came first, we see what it published before it.
        count.fetch_add(1, Ordering::Acquire);
        ticket
    }

    /// A waiter stops waiting (ready after all, timed out, future dropped): leaves its list
    /// under the lock. Returns whether it had received a wake-up, which it must honour or pass
    /// on.
    #[cold]
    fn leave(&self, ticket: &Ticket, list: Pick, count: &AtomicUsize) -> bool {
        let mut lists = self.lists.lock();
        match list(&mut lists).leave(ticket) {
            Left::Removed(()) => {
                count.fetch_sub(1, Ordering::Relaxed);
                false
            }
            // A waker popped the entry (and counted it out) as we left: the wake-up is ours.
            Left::Received(_) => true,
        }
    }

    /// Registers the calling thread in a list, re-checks `ready` after the handshake, and
    /// sleeps unless it is ready. Returns whether the caller should give up (timed out, nobody
    /// woke it), and whether it holds a wake-up (which it must honour or pass on).
    #[cold]
    fn sleep(
        &self,
        deadline: Deadline,
        list: Pick,
        count: &AtomicUsize,
        ready: impl Fn() -> bool,
    ) -> (bool, bool) {
        let ticket = self.register(list, count, None);
        if ready() {
            // Ready already: withdraw at once (nobody woke us, unless a waker just did).
            return (false, self.leave(&ticket, list, count));
        }
        match ticket.park(deadline) {
            Some(_) => (false, true),
            // The deadline passed. Still queued: give up (the caller still re-checks once).
            // Popped by a waker as we gave up: the wake-up is ours; the caller re-checks, which
            // honours it (or passes it on).
            None => {
                let woken = self.leave(&ticket, list, count);
                (!woken, woken)
            }
        }
    }

    /// For an async call's poll: `true` while its task is still queued (its waker is updated
    /// under the lock); otherwise the ticket is spent, and `wait.woken` records the wake-up.
    #[inline]
    fn still_queued(&self, wait: &mut TaskWait, list: Pick, cx: &Context<'_>) -> bool {
        wait.ticket.is_some() && self.still_queued_slow(wait, list, cx)
    }

    /// [`Self::still_queued`] for a task that has a ticket.
    #[cold]
    fn still_queued_slow(&self, wait: &mut TaskWait, list: Pick, cx: &Context<'_>) -> bool {
        if let Some(ticket) = &wait.ticket {
            if ticket.token().is_none()
                && list(&mut self.lists.lock()).update_waker(ticket, cx.waker())
            {
                return true;
            }
            // Not queued any more: a waker delivered the token (under the lock we just held).
            wait.ticket = None;
            wait.woken = true;
        }
        false
    }

    /// One poll of an async put. The item stays in `item` while the task waits.
    #[inline]
    pub(crate) fn poll_put(
        &self,
        item: &mut Option<T>,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<Result<(), PutError<T>>> {
        let mut look = SpinWait::with_limits(ASYNC_LOOKS, ASYNC_LOOKS);
        let mut looked = false;
        loop {
            if self.still_queued(wait, |l| &mut l.putters, cx) {
                return Poll::Pending;
            }
            let it = item.take().expect("PutAsync polled after completion");
            match self.try_push(it, false) {
                Push::Done => {
                    looks_paid(looked, &self.tail.looks_pay);
                    self.after_push(wait.woken);
                    wait.woken = false;
                    return Poll::Ready(Ok(()));
                }
                Push::ShutDown(back) => return Poll::Ready(Err(PutError::ShutDown(back))),
                Push::Full(back) | Push::Busy(back) => *item = Some(back),
            }
            // A getter on another thread may free a slot in a moment: look again before
            // queueing (see `ASYNC_LOOKS`).
            if look_again(&mut look, &mut looked, &self.tail.looks_pay) {
                continue;
            }
            if !self.queue_putter(wait, cx) {
                return Poll::Pending;
            }
        }
    }

    /// An async put found no free slot: as a thread, but without the spin (a poll never
    /// blocks), it queues its task and re-checks. Returns `false` when the task waits now, and
    /// `true` when a slot was free after all (it left the list again; try once more).
    #[cold]
    fn queue_putter(&self, wait: &mut TaskWait, cx: &Context<'_>) -> bool {
        let ticket = self.register(|l| &mut l.putters, &self.head.waiting, Some(cx.waker()));
        if self.put_ready() {
            wait.woken = self.leave(&ticket, |l| &mut l.putters, &self.head.waiting);
            return true;
        }
        wait.ticket = Some(ticket);
        wait.woken = false;
        false
    }

    /// A pending async put is dropped (its item with it): it leaves, and passes on a wake-up
    /// it received, as a woken putter that got in does.
    pub(crate) fn cancel_put(&self, wait: &mut TaskWait) {
        if let Some(ticket) = wait.ticket.take()
            && self.leave(&ticket, |l| &mut l.putters, &self.head.waiting)
        {
            self.pass_on_putter();
        }
    }

    /// One poll of an async get.
    #[inline]
    pub(crate) fn poll_get(
        &self,
        wait: &mut TaskWait,
        cx: &Context<'_>,
    ) -> Poll<Result<T, GetError>> {
        let mut look = SpinWait::with_limits(ASYNC_LOOKS, ASYNC_LOOKS);
        let mut looked = false;
        loop {
            if self.still_queued(wait, |l| &mut l.getters, cx) {
                return Poll::Pending;
            }
            if let Pop::Item(item) = self.try_pop(false) {
                looks_paid(looked, &self.head.looks_pay);
                self.after_pop(wait.woken);
                wait.woken = false;
                return Poll::Ready(Ok(item));
            }
            // A putter on another thread may publish an item in a moment: look again before
            // queueing (see `ASYNC_LOOKS`).
            if look_again(&mut look, &mut looked, &self.head.looks_pay) {
                continue;
            }
            match self.queue_getter(wait, cx) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return Poll::Ready(Err(GetError::ShutDown)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// An async get found no item: it answers `ShutDown` only once no push is under way, as
    /// for a thread (`Ready(false)`); otherwise it queues its task and re-checks. Returns
    /// `Pending` when the task waits now, and `Ready(true)` when an item (or the shutdown) came
    /// after all (it left the list again; try once more).
    #[cold]
    fn queue_getter(&self, wait: &mut TaskWait, cx: &Context<'_>) -> Poll<bool> {
        if self.shut_and_drained() {
            if wait.woken {
                self.pass_on_getter();
            }
            wait.woken = false;
            return Poll::Ready(false);
        }
        let ticket = self.register(|l| &mut l.getters, &self.tail.waiting, Some(cx.waker()));
        if self.get_ready() {
            wait.woken = self.leave(&ticket, |l| &mut l.getters, &self.tail.waiting);
            return Poll::Ready(true);
        }
        wait.ticket = Some(ticket);
        wait.woken = false;
        Poll::Pending
    }

    /// A pending async get is dropped: it took no item; it leaves, and passes on a wake-up it
    /// received (the item it announced stays for the next getter).
    pub(crate) fn cancel_get(&self, wait: &mut TaskWait) {
        if let Some(ticket) = wait.ticket.take()
            && self.leave(&ticket, |l| &mut l.getters, &self.tail.waiting)
        {
            self.pass_on_getter();
        }
    }

    /// After a push: wake a parked getter; a putter that was woken passes its wake-up on.
    #[inline]
    fn after_push(&self, woken: bool) {
        self.wake_getter();
        if woken {
            self.pass_on_putter();
        }
    }

    /// After a pop: wake a parked putter; a getter that was woken passes its wake-up on.
    #[inline]
    fn after_pop(&self, woken: bool) {
        self.wake_putter();
        if woken {
            self.pass_on_getter();
        }
    }

    pub(crate) fn put(&self, mut item: T, block: Block) -> Result<(), PutError<T>> {
        let mut spin = thread_spin(&self.tail.looks_pay);
        let mut gave_up = false;
        let mut woken = false;
        loop {
            match self.try_push(item, false) {
                Push::Done => {
                    spin_paid(&spin, &self.tail.looks_pay);
                    self.after_push(woken);
                    return Ok(());
                }
                Push::ShutDown(back) => return Err(PutError::ShutDown(back)),
                Push::Full(back) | Push::Busy(back) => item = back,
            }
            let deadline = match block {
                Block::Until(d) if !gave_up && !d.has_passed() => d,
                // The last attempt waits for a pop under way: `Full` only when the ring really
                // is full.
                _ => {
                    return match self.try_push(item, true) {
                        Push::Done => {
                            self.after_push(woken);
                            Ok(())
                        }
                        Push::ShutDown(back) => Err(PutError::ShutDown(back)),
                        Push::Full(back) | Push::Busy(back) => Err(PutError::Full(back)),
                    };
                }
            };
            if spin.spin() {
                continue;
            }
            spin_missed(&self.tail.looks_pay);
            (gave_up, woken) = self.sleep(
                deadline,
                |l| &mut l.putters,
                &self.head.waiting,
                || self.put_ready(),
            );
            spin.reset();
        }
    }

    pub(crate) fn get(&self, block: Block) -> Result<T, GetError> {
        let mut spin = thread_spin(&self.head.looks_pay);
        let mut gave_up = false;
        let mut woken = false;
        loop {
            if let Pop::Item(item) = self.try_pop(false) {
                spin_paid(&spin, &self.head.looks_pay);
                self.after_pop(woken);
                return Ok(item);
            }
            // `ShutDown` only once no push is under way: every item accepted before the
            // shutdown has been handed out.
            if self.shut_and_drained() {
                if woken {
                    self.pass_on_getter();
                }
                return Err(GetError::ShutDown);
            }
            let deadline = match block {
                Block::Until(d) if !gave_up && !d.has_passed() => d,
                // The last attempt waits for a push under way: `Empty` only when nothing is
                // claimed.
                _ => {
                    if let Pop::Item(item) = self.try_pop(true) {
                        self.after_pop(woken);
                        return Ok(item);
                    }
                    if self.shut_and_drained() {
                        if woken {
                            self.pass_on_getter();
                        }
                        return Err(GetError::ShutDown);
                    }
                    return Err(GetError::Empty);
                }
            };
            if spin.spin() {
                continue;
            }
            spin_missed(&self.head.looks_pay);
            (gave_up, woken) = self.sleep(
                deadline,
                |l| &mut l.getters,
                &self.tail.waiting,
                || self.get_ready(),
            );
            spin.reset();
        }
    }

    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.pos.load(Ordering::SeqCst);
            let head = self.head.pos.load(Ordering::SeqCst);
            // A consistent pair: tail did not move while we read head.
            if self.tail.pos.load(Ordering::SeqCst) == tail {
                let hix = head & (self.mark_bit - 1);
                let tix = tail & (self.mark_bit - 1);
                return if hix < tix {
                    tix - hix
                } else if hix > tix {
                    self.cap - hix + tix
                } else if (tail & !self.mark_bit) == head {
                    0
                } else {
                    self.cap
                };
            }
        }
    }

    /// How many items were ever pushed, from a `tail` value.
    fn pushed(&self, tail: usize) -> usize {
        let tail = tail & !self.mark_bit;
        (tail / self.one_lap)
            .wrapping_mul(self.cap)
            .wrapping_add(tail & (self.mark_bit - 1))
    }

    /// Every push so far, as task accounting reads it (SeqCst, as the shutdown mark).
    fn pushed_now(&self) -> usize {
        self.pushed(self.tail.pos.load(Ordering::SeqCst))
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
        self.is_shut()
    }

    pub(crate) fn shutdown(&self, immediate: bool) {
        // SeqCst: pushes that claimed a slot before this are in; none can claim one after.
        self.tail.pos.fetch_or(self.mark_bit, Ordering::SeqCst);
        let mut dropped = Vec::new();
        if immediate {
            while let Pop::Item(item) = self.try_pop(true) {
                dropped.push(item);
            }
            self.tasks.settle(dropped.len(), || self.pushed_now());
        }
        let (getters, putters, joiners) = {
            let mut l = self.lists.lock();
            self.tail
                .waiting
                .fetch_sub(l.getters.len(), Ordering::Relaxed);
            self.head
                .waiting
                .fetch_sub(l.putters.len(), Ordering::Relaxed);
            let joiners = if immediate && self.unfinished() == 0 {
                l.joiners.wake_all(Token::RETRY)
            } else {
                Wakeups::new()
            };
            (
                l.getters.wake_all(Token::RETRY),
                l.putters.wake_all(Token::RETRY),
                joiners,
            )
        };
        // After unlocking: every parked getter and putter, thread or task, re-checks and hears
        // `ShutDown` (a getter once nothing is left or on its way).
        getters.wake();
        putters.wake();
        joiners.wake();
        // The items' destructors run last, outside every lock.
        drop(dropped);
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread is here; drop what is left, head to tail.
        while let Pop::Item(item) = self.try_pop(true) {
            drop(item);
        }
    }
}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

/// How many getters and putters are registered to park (test builds only): tests that need a
/// thread parked before they act wait for this instead of sleeping (see docs/verification.md,
/// "Tests on a loaded machine").
#[cfg(all(test, not(weft_loom)))]
impl<T> Ring<T> {
    pub(crate) fn parked(&self) -> (usize, usize) {
        (
            self.tail.waiting.load(Ordering::SeqCst),
            self.head.waiting.load(Ordering::SeqCst),
        )
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use std::{sync::Arc, thread};

    use super::*;

    /// How many rounds `spin` grants before it says "park".
    fn rounds(mut spin: SpinWait) -> u32 {
        let mut n = 0;
        while spin.spin() {
            n += 1;
        }
        n
    }

    #[test]
    fn a_blocked_thread_spins_long_only_where_spinning_pays() {
        let pays = Hint::new(false);
        assert_eq!(rounds(thread_spin(&pays)), 10);
        pays.store(true, Ordering::Relaxed);
        assert_eq!(rounds(thread_spin(&pays)), LONG_SPIN);
    }

    #[test]
    fn spinning_pays_only_for_a_call_that_spun_and_stops_paying_at_a_park() {
        let pays = Hint::new(false);
        let mut spin = thread_spin(&pays);
        // Got in at the first attempt: says nothing.
        spin_paid(&spin, &pays);
        assert!(!pays.load(Ordering::Relaxed));
        assert!(spin.spin());
        spin_paid(&spin, &pays);
        assert!(pays.load(Ordering::Relaxed));
        spin_missed(&pays);
        assert!(!pays.load(Ordering::Relaxed));
    }

    #[test]
    fn a_getter_that_parks_turns_the_long_spin_off_at_its_end() {
        let ring = Arc::new(Ring::<u32>::new(2));
        ring.head.looks_pay.store(true, Ordering::Relaxed);
        let getter = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.get(Block::forever()))
        };
        // Put only once the getter has registered to park, which it does after its whole spin
        // (however slowly a loaded machine runs it). Woken, it finds the item at its first try.
        while ring.tail.waiting.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        ring.put(7, Block::forever()).unwrap();
        assert_eq!(getter.join().unwrap().unwrap(), 7);
        assert!(!ring.head.looks_pay.load(Ordering::Relaxed));
    }
}
