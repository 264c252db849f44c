//! The state every [`Future`](crate::Future) shares with its [`Promise`](crate::Promise).
//!
//! # The state word
//!
//! ```text
//!             set_running                complete
//!   PENDING ─────────────▶ RUNNING ───────────────▶ FINISHED_OK | FINISHED_ERR
//!      │  └──────────────────────────────────────────▲ complete
//!      │ cancel
//!      ▼
//!   CANCELLED
//! ```
//!
//! Bits 0..=2 hold the phase; bit 3 (`LISTENERS`) says that someone registered with the
//! listener list (a waiting thread or task, or a callback) and that the thread making the future done
//! must take the lock and fire them; bit 4 (`HOOKED`) says that the hook slot holds an
//! `as_completed` / `wait` hook, which the thread making the future done takes without a lock. Every transition is a CAS, so it
//! happens once whatever races; the phases after PENDING and RUNNING are final.
//!
//! The value slot is written by the promise (the one writer, by construction: it is consumed
//! by completing) before the CAS that publishes FINISHED, with Release; every reader first
//! observes FINISHED with Acquire. A completion that loses to `cancel` takes its value back.

use std::{
    mem,
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use weft_sync::{
    Arc, Deadline, Mutex, SpinWait,
    atomic::{AtomicUsize, Ordering},
    cell::UnsafeCell,
    clock::Instant,
    waitq::{Left, Ticket, Token, WaitQueue},
};

use crate::{TaskError, queue::CompletionQueue};

const PHASE: usize = 0b111;
pub(crate) const PENDING: usize = 0;
pub(crate) const RUNNING: usize = 1;
pub(crate) const FINISHED_OK: usize = 2;
pub(crate) const FINISHED_ERR: usize = 3;
pub(crate) const CANCELLED: usize = 4;
/// Someone is in the listener list: the completing thread must fire it.
const LISTENERS: usize = 0b1000;
/// The hook slot is full, and owned by whoever makes the future done (see `add_hook`).
const HOOKED: usize = 0b1_0000;

/// How a blocking wait spins before it parks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spin {
    /// Park at once: the task has far longer to run than a spin lasts (a map's batch of
    /// ~2 ms). On a machine that puts a woken thread on its waker's CPU, a spin would only keep
    /// the task's worker from running (issue 12, docs/pool.md).
    Off,
    /// The short busy spin of every wait (a few microseconds at most).
    Short,
    /// The short busy spin, then yield the CPU between looks at the future for up to this long,
    /// then park. For a task expected to finish within about that time (the first, small
    /// batches of an adaptive map): the caller is then awake when it finishes, where a park
    /// costs a wake-up of the caller and, on this kind of machine, tens of microseconds before
    /// it runs again, while the workers run out of work (issue 12, fourteenth round, docs/pool.md).
    Poll(Duration),
}

/// The most yields of a [`Spin::Poll`] (under loom, one), whatever its budget.
const POLL_YIELDS: u32 = 10_000;

/// Busy rounds a blocking wait spins while its task is pending (14 pause instructions).
const WAIT_SPIN_PENDING: u32 = 3;
/// Busy rounds it spins once its task is running (254 pause instructions, a few microseconds).
const WAIT_SPIN_RUNNING: u32 = 8;

/// Whether `state` is final (finished or cancelled).
#[inline]
pub(crate) fn is_done(state: usize) -> bool {
    state & PHASE >= FINISHED_OK
}

/// An `as_completed` / `wait` hook: pushes this index onto that call's completion queue.
type Hook = (Arc<CompletionQueue>, usize);

fn run_callback(f: Box<dyn FnOnce() + Send>) {
    // A panicking callback is caught (the panic hook has reported it, as Python logs it) and
    // the later ones still run; nothing is poisoned.
    drop(catch_unwind(AssertUnwindSafe(f)));
}

/// Everything a done future must wake, kept under `Shared::listeners`.
///
/// Compact on purpose: the listeners (waiting threads and tasks, callbacks) only cost a pointer
/// until used (the `as_completed` hook has its own lock-free slot). A small `Shared` keeps a
/// million futures cache- and allocator-friendly.
#[derive(Default)]
pub(crate) struct Listeners {
    more: Option<Box<More>>,
}

#[derive(Default)]
struct More {
    /// Blocked threads and awaiting tasks, in one FIFO (weft-sync's waiting core). The
    /// completing thread wakes them all, each with its own [`Token::RETRY`], under this lock.
    waiters: WaitQueue,
    /// Done-callbacks in registration order.
    callbacks: Vec<Box<dyn FnOnce() + Send>>,
    /// Further hooks (only if a future ever carried two at once; by construction it cannot:
    /// a future is moved into one `as_completed` / `wait` at a time, which unhooks it).
    hooks: Vec<Hook>,
}

impl Listeners {
    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }
}

pub(crate) struct Shared<T> {
    /// Phase and the `LISTENERS` bit; see the module docs.
    state: AtomicUsize,
    /// The future's id: never reused within the process.
    id: u64,
    /// Written once by the promise before the Release CAS to FINISHED_*; read (taken) only
    /// by the future's owner after an Acquire load of FINISHED_*.
    /// The error is boxed: errors are the rare path, and a thin slot keeps `Shared` small.
    value: UnsafeCell<Option<Result<T, Box<TaskError>>>>,
    /// The `as_completed` / `wait` hook. Owned by the future's owner while `HOOKED` is clear;
    /// setting `HOOKED` (Release) hands it to whichever thread makes the future done, whose
    /// final transition sees the bit (Acquire); clearing it while pending takes it back.
    hook: UnsafeCell<Option<Hook>>,
    listeners: Mutex<Listeners>,
}

// SAFETY: the value slot is only ever moved in (by the promise's thread) and moved out (by the
// future's owner), never shared by reference across threads, so `T: Send` is enough; the
// rest is atomics and a mutex.
unsafe impl<T: Send> Sync for Shared<T> {}

/// A process-wide unique id, from a per-thread block of 1024 taken from a global counter (so
/// that threads creating futures at once do not contend on one cache line).
fn next_id() -> u64 {
    use std::cell::Cell;
    // The counter orders nothing (no model depends on ids), so a plain std atomic is right:
    // loom need not see it.
    #[allow(clippy::disallowed_types)]
    static NEXT_BLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    const BLOCK: u64 = 1024;
    thread_local! {
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    RANGE.with(|r| {
        let (mut next, mut end) = r.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, std::sync::atomic::Ordering::Relaxed);
            end = next + BLOCK;
        }
        r.set((next + 1, end));
        next
    })
}

impl<T> Shared<T> {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(PENDING),
            id: next_id(),
            value: UnsafeCell::new(None),
            hook: UnsafeCell::new(None),
            listeners: Mutex::new(Listeners::default()),
        }
    }

    /// The phase (Acquire: pairs with the Release of the transition that set it, so a reader
    /// that sees FINISHED_* sees the value).
    #[inline]
    pub(crate) fn phase(&self) -> usize {
        self.state.load(Ordering::Acquire) & PHASE
    }

    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        is_done(self.state.load(Ordering::Acquire))
    }

    /// PENDING → RUNNING. `false` if cancelled; `true` if it is (now or already) running.
    pub(crate) fn set_running(&self) -> bool {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            match cur & PHASE {
                PENDING => {}
                RUNNING => return true,
                _ => return false,
            }
            // Relaxed on success: RUNNING publishes nothing; the CAS itself makes the
            // transition race-free against `cancel`.
            match self.state.compare_exchange_weak(
                cur,
                (cur & !PHASE) | RUNNING,
                Ordering::Relaxed,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// PENDING → CANCELLED, firing the listeners on this thread. `true` if cancelled after the
    /// call (also when it already was).
    pub(crate) fn cancel(&self) -> bool {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            match cur & PHASE {
                PENDING => {}
                CANCELLED => return true,
                _ => return false,
            }
            // AcqRel: Release publishes nothing in the slot, but orders this transition before
            // whatever a listener observes; Acquire pairs with registrants (via the lock).
            match self.state.compare_exchange_weak(
                cur,
                (cur & !PHASE) | CANCELLED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(prev) => {
                    self.after_final(prev, || {});
                    return true;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// PENDING | RUNNING → FINISHED_*, with `outcome`. `false` (and `outcome` dropped) if the
    /// future was cancelled first.
    pub(crate) fn complete(&self, outcome: Result<T, TaskError>) -> bool {
        self.complete_with(outcome, || {})
    }

    /// [`Shared::complete`], calling `before_callbacks` on this thread once the waiters are
    /// woken and before the first done-callback runs (not at all if none is registered).
    pub(crate) fn complete_with(
        &self,
        outcome: Result<T, TaskError>,
        before_callbacks: impl FnOnce(),
    ) -> bool {
        let mut cur = self.state.load(Ordering::Acquire);
        if is_done(cur) {
            return false;
        }
        let phase = if outcome.is_ok() {
            FINISHED_OK
        } else {
            FINISHED_ERR
        };
        self.value.with_mut(|p| {
            // SAFETY: the promise is the only writer and writes once (it is consumed by this
            // call); no reader touches the slot before observing FINISHED_*, which only the CAS
            // below publishes.
            unsafe { *p = Some(outcome.map_err(Box::new)) }
        });
        loop {
            // Release: publishes the value written above to every Acquire reader of the state.
            match self.state.compare_exchange_weak(
                cur,
                (cur & !PHASE) | phase,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(prev) => {
                    self.after_final(prev, before_callbacks);
                    return true;
                }
                Err(now) if is_done(now) => {
                    // Lost to `cancel`: nobody reads the slot of a cancelled future; take the
                    // value back so that it is dropped now, on the producer's thread.
                    let value = self.value.with_mut(|p| {
                        // SAFETY: still the only accessor: readers only read FINISHED_* slots.
                        unsafe { (*p).take() }
                    });
                    drop(value);
                    return false;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Runs what the final transition (from `prev`) owes: the hook, then the listeners
    /// (`before_callbacks` just before the first done-callback, if any).
    #[inline]
    fn after_final(&self, prev: usize, before_callbacks: impl FnOnce()) {
        if prev & HOOKED != 0 {
            let hook = self.hook.with_mut(|p| {
                // SAFETY: our final transition saw HOOKED with Acquire, pairing with the
                // Release that set it after the owner's write; the owner no longer touches the
                // slot once the future is done (its CAS to clear HOOKED can only fail now).
                unsafe { (*p).take() }
            });
            if let Some((queue, index)) = hook {
                queue.push(index);
            }
        }
        if prev & LISTENERS != 0 {
            self.fire(before_callbacks);
        }
    }

    /// Fires the listeners (after the final transition) on this thread: the waiting threads
    /// and tasks first (their tokens delivered under the lock, the wake-ups performed after
    /// it), then any extra hooks, then the callbacks in registration order.
    ///
    /// The `More` box stays in place: a waiter that gave up at this very moment settles with
    /// [`WaitQueue::leave`] on the same queue, under the same lock, and finds its token there.
    fn fire(&self, before_callbacks: impl FnOnce()) {
        let (wakeups, hooks, callbacks) = {
            let mut l = self.listeners.lock();
            let Some(more) = l.more.as_mut() else {
                return;
            };
            (
                more.waiters.wake_all(Token::RETRY),
                mem::take(&mut more.hooks),
                mem::take(&mut more.callbacks),
            )
        };
        wakeups.wake();
        for (queue, index) in hooks {
            queue.push(index);
        }
        if !callbacks.is_empty() {
            before_callbacks();
        }
        for f in callbacks {
            run_callback(f);
        }
    }

    /// A waiter stops waiting (its deadline passed, or its task's future was dropped) and
    /// settles under the lock: its entry leaves the queue, or its token was already delivered.
    ///
    /// Returns whether the completion had reached it. There is nothing to pass on either way:
    /// a completion wakes every waiter, each with its own token, so a token one waiter drops
    /// was meant for nobody else.
    fn leave(&self, ticket: &Ticket) -> bool {
        let mut l = self.listeners.lock();
        let more = l
            .more
            .as_mut()
            .expect("a registered waiter's listener list stays in place");
        match more.waiters.leave(ticket) {
            Left::Removed(()) => {
                more.waiters.shrink();
                false
            }
            Left::Received(_) => true,
        }
    }

    /// Runs `add` on the listener list if the future is not done yet, setting `LISTENERS` so
    /// that the completing thread fires it; returns `false` (and runs nothing) once done.
    ///
    /// Why nothing is lost: `LISTENERS` is set (or seen set) under the lock, by a load or RMW
    /// that saw a pending state. The final transition is an RMW too; if it came later in the
    /// state's modification order it carries `LISTENERS`, and its thread takes the lock after
    /// us (had its critical section come first, our load under the lock would have seen the
    /// final state), so it finds what `add` pushed.
    fn register(&self, add: impl FnOnce(&mut Listeners)) -> bool {
        let mut l = self.listeners.lock();
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if is_done(cur) {
                return false;
            }
            if cur & LISTENERS != 0 {
                break;
            }
            match self.state.compare_exchange_weak(
                cur,
                cur | LISTENERS,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        add(&mut l);
        true
    }

    /// Registers a done-callback, or runs it at once on this thread if already done.
    pub(crate) fn add_callback(&self, f: Box<dyn FnOnce() + Send>) {
        let mut f = Some(f);
        if !self.register(|l| l.more().callbacks.push(f.take().expect("once"))) {
            run_callback(f.take().expect("not registered"));
        }
    }

    /// Registers an `as_completed` / `wait` hook; `false` if already done (nothing
    /// registered). Only the future's owner calls this (a `Completion` that owns the future).
    pub(crate) fn add_hook(&self, queue: &Arc<CompletionQueue>, index: usize) -> bool {
        let mut cur = self.state.load(Ordering::Acquire);
        if is_done(cur) {
            return false;
        }
        if cur & HOOKED != 0 {
            // Not reachable by construction (see `More::hooks`); stay correct anyway.
            return self.register(|l| l.more().hooks.push((queue.clone(), index)));
        }
        self.hook.with_mut(|p| {
            // SAFETY: HOOKED is clear, so the slot is ours: no completer reads it unless its
            // final transition sees HOOKED, which only our CAS below sets (and our own earlier
            // CAS that cleared it is ordered before any later transition).
            unsafe { *p = Some((queue.clone(), index)) }
        });
        loop {
            // Release: publishes the hook written above to the final transition's Acquire.
            match self.state.compare_exchange_weak(
                cur,
                cur | HOOKED,
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) if is_done(now) => {
                    let hook = self.hook.with_mut(|p| {
                        // SAFETY: HOOKED never got set, so the slot is still ours alone.
                        unsafe { (*p).take() }
                    });
                    drop(hook);
                    return false;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Unregisters the hook of `queue`, unless the future is done (then the thread that made
    /// it done takes the hook). Only the future's owner calls this.
    pub(crate) fn remove_hook(&self, queue: &Arc<CompletionQueue>) {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if is_done(cur) {
                return;
            }
            if cur & HOOKED == 0 {
                break;
            }
            // Clearing HOOKED while pending takes the slot back; once a final transition has
            // happened this CAS fails, and that thread owns the hook.
            match self.state.compare_exchange_weak(
                cur,
                cur & !HOOKED,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let hook = self.hook.with_mut(|p| {
                        // SAFETY: we cleared HOOKED before any final transition, so no other
                        // thread reads the slot; we wrote it ourselves.
                        unsafe { (*p).take() }
                    });
                    debug_assert!(hook.is_some_and(|(q, _)| Arc::ptr_eq(&q, queue)));
                    return;
                }
                Err(now) => cur = now,
            }
        }
        if cur & LISTENERS != 0
            && let Some(more) = &mut self.listeners.lock().more
        {
            more.hooks.retain(|(q, _)| !Arc::ptr_eq(q, queue));
        }
    }

    /// One poll of a task waiting for the future to be done: `Ready` once done, `Pending` with
    /// the task's waker in the waiting queue (registered on the first poll, kept current on the
    /// later ones) otherwise. `ticket` is the task's entry, owned by its future.
    ///
    /// The task waits in the same FIFO as blocked threads; the completing thread delivers its
    /// token under the lock and wakes it after. Never blocks beyond the listener lock.
    #[cfg(feature = "async")]
    pub(crate) fn poll_done(
        &self,
        ticket: &mut Option<Ticket>,
        waker: &std::task::Waker,
    ) -> std::task::Poll<()> {
        use std::task::Poll;
        let Some(t) = ticket else {
            if self.is_done() {
                return Poll::Ready(());
            }
            let mut registered = None;
            if self.register(|l| registered = Some(l.more().waiters.register_task(waker, ()))) {
                *ticket = registered;
                return Poll::Pending;
            }
            // Done before we registered: nothing was queued.
            return Poll::Ready(());
        };
        if t.token().is_none() {
            if self.is_done() {
                // Done, and the completing thread has not delivered our token yet: leave rather
                // than wait for a wake-up we no longer need.
                self.forget_wait(ticket);
                return Poll::Ready(());
            }
            let mut l = self.listeners.lock();
            let more = l
                .more
                .as_mut()
                .expect("a registered waiter's listener list stays in place");
            if more.waiters.update_waker(t, waker) {
                return Poll::Pending;
            }
            // No longer queued: the completion delivered our token under this lock.
        }
        *ticket = None;
        Poll::Ready(())
    }

    /// A task stops waiting (its future is dropped, or it saw the future done before its
    /// wake-up came): its entry leaves the queue, or the token it already received is dropped
    /// (see [`Shared::leave`]: nothing to pass on).
    #[cfg(feature = "async")]
    pub(crate) fn forget_wait(&self, ticket: &mut Option<Ticket>) {
        if let Some(t) = ticket.take()
            && t.token().is_none()
        {
            let _ = self.leave(&t);
        }
    }

    /// Blocks until done or until `deadline`; whether it is done.
    pub(crate) fn wait(&self, deadline: Deadline) -> bool {
        self.wait_spinning(deadline, Spin::Short)
    }

    /// As [`wait`](Self::wait), spinning as `spin` says before it parks (see [`Spin`]).
    pub(crate) fn wait_spinning(&self, deadline: Deadline, spin: Spin) -> bool {
        if self.is_done() {
            return true;
        }
        if deadline.has_passed() {
            return false;
        }
        // A completion that is a few hundred nanoseconds away is caught by a short busy spin,
        // far more cheaply than by parking (no yields: a yield costs about as much as a park).
        // Once the task is seen running, the spin goes on a while longer: a worker is on it
        // right now, on another CPU (this thread holds its own), and a short task is done
        // within microseconds (issue 12, docs/pool.md). A task not yet picked up gets only the
        // short spin: if its worker shares this CPU, spinning only keeps it away.
        let rounds = |busy| if matches!(spin, Spin::Off) { 0 } else { busy };
        let mut pending = SpinWait::with_limits(rounds(WAIT_SPIN_PENDING), WAIT_SPIN_PENDING);
        let mut running = SpinWait::with_limits(rounds(WAIT_SPIN_RUNNING), WAIT_SPIN_RUNNING);
        loop {
            let state = self.state.load(Ordering::Acquire);
            if is_done(state) {
                return true;
            }
            let more = if state & PHASE == RUNNING {
                running.spin_no_yield()
            } else {
                pending.spin_no_yield()
            };
            if !more {
                break;
            }
        }
        if let Spin::Poll(budget) = spin {
            // Yield the CPU between looks until the budget is spent: a worker that shares this
            // CPU runs meanwhile, and the completion needs no wake-up (see `Spin::Poll`).
            let start = Instant::now();
            let mut yields = SpinWait::with_limits(0, POLL_YIELDS);
            while !start.elapsed_at_least(budget) && !deadline.has_passed() && yields.spin() {
                if self.is_done() {
                    return true;
                }
            }
        }
        let mut ticket = None;
        if !self.register(|l| ticket = Some(l.more().waiters.register_thread(()))) {
            return true;
        }
        let ticket = ticket.expect("registered");
        if ticket.park(deadline).is_some() {
            // The completion delivered our token (Acquire): the final state is visible.
            return true;
        }
        // The deadline passed. Settle under the lock: either we leave the queue (the timeout
        // stands) or the completion reached us at that very moment (the future is done).
        let received = self.leave(&ticket);
        received || self.is_done()
    }

    /// A clone of the error of a done future (`None` if it finished with a value).
    pub(crate) fn error(&self) -> Option<TaskError> {
        match self.phase() {
            CANCELLED => Some(TaskError::Cancelled),
            FINISHED_ERR => self.value.with(|p| {
                // SAFETY: the Acquire load in `phase` saw FINISHED_ERR, published after the
                // promise's last write; the slot is only taken through the future by value,
                // which cannot happen while this `&self` borrow lives, so only reads overlap.
                match unsafe { &*p } {
                    Some(Err(e)) => Some((**e).clone()),
                    _ => None,
                }
            }),
            _ => None,
        }
    }

    /// The outcome of a done future; only for the future's owner, once.
    pub(crate) fn take_outcome(&self) -> Result<T, TaskError> {
        match self.phase() {
            CANCELLED => Err(TaskError::Cancelled),
            FINISHED_OK | FINISHED_ERR => self
                .value
                .with_mut(|p| {
                    // SAFETY: the Acquire load in `phase` saw FINISHED_*, which the promise
                    // published after its last write to the slot; only the future's owner (us, by
                    // `&mut`/value access to the one `Future`) touches it from now on.
                    unsafe { (*p).take() }.expect("the outcome of a future is taken once")
                })
                .map_err(|e| *e),
            _ => unreachable!("take_outcome on a future that is not done"),
        }
    }
}

#[cfg(all(test, not(weft_loom), target_pointer_width = "64"))]
mod tests {
    /// The shared state stays small: see docs/futures.md ("Memory").
    #[test]
    fn shared_state_is_compact() {
        let size = std::mem::size_of::<super::Shared<usize>>();
        assert!(size <= 64, "Shared<usize> is {size} bytes");
    }
}

#[cfg(all(test, not(weft_loom)))]
mod poll_tests {
    use std::time::{Duration, Instant};

    use weft_sync::Deadline;

    use super::Spin;
    use crate::promise;

    /// A poll whose budget runs out parks like any wait, and the completion wakes it; a wait
    /// that returns `true` has seen the task done.
    #[test]
    fn a_poll_that_runs_out_parks_and_is_woken() {
        for budget in [Duration::ZERO, Duration::from_micros(50)] {
            let (p, f) = promise::<u32>();
            let (seen, go) = std::sync::mpsc::channel::<()>();
            let completer = std::thread::spawn(move || {
                // Complete only once the waiter has started waiting (and, with these budgets,
                // soon stopped polling).
                go.recv().unwrap();
                std::thread::sleep(Duration::from_millis(5));
                p.set_result(7);
            });
            seen.send(()).unwrap();
            assert!(
                f.shared
                    .wait_spinning(Deadline::never(), Spin::Poll(budget))
            );
            assert!(f.done(), "a wait that said done saw it done");
            assert_eq!(f.result(), Ok(7));
            completer.join().unwrap();
        }
    }

    /// A completion made while the caller polls ends the wait.
    #[test]
    fn a_poll_sees_a_completion_made_meanwhile() {
        let (p, f) = promise::<u32>();
        let completer = std::thread::spawn(move || p.set_result(3));
        assert!(
            f.shared
                .wait_spinning(Deadline::never(), Spin::Poll(Duration::from_secs(60)))
        );
        assert_eq!(f.result(), Ok(3));
        completer.join().unwrap();
    }

    /// A poll stops at the wait's deadline: not done, and never before the deadline.
    #[test]
    fn a_poll_keeps_to_the_deadline() {
        let (_p, f) = promise::<u32>();
        let start = Instant::now();
        let timeout = Duration::from_millis(5);
        assert!(!f.shared.wait_spinning(
            Deadline::after(timeout),
            Spin::Poll(Duration::from_secs(60))
        ));
        assert!(start.elapsed() >= timeout);
        assert!(!f.done());
    }
}
