use std::{
    fmt,
    future::Future,
    panic::{self, AssertUnwindSafe},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use weft_sync::{
    Deadline, Mutex, MutexGuard,
    waitq::{Left, Ticket, Token, WaitQueue, Wakeups},
};

/// The round this waiter arrived in has tripped: it passes.
const TRIPPED: Token = Token::HANDOFF;
/// The barrier broke (timeout, abort, reset, a panicking action) while this waiter waited.
const BROKEN: Token = match Token::new(3) {
    Some(t) => t,
    None => unreachable!(),
};
/// A trip is under way and has ended: look again (for a waiter that arrived during the trip).
const RETRY: Token = Token::RETRY;

/// The error of a wait on a broken barrier: Python's `threading.BrokenBarrierError`.
///
/// Returned by [`Barrier::wait`], [`Barrier::wait_timeout`] and [`Barrier::wait_async`] when the
/// barrier is broken on arrival, or breaks while the caller waits (another party timed out, it
/// was [`abort`](Barrier::abort)ed or [`reset`](Barrier::reset), or the action panicked), or
/// when the caller's own timed wait expires.
///
/// # Examples
///
/// ```
/// use weft_barrier::{Barrier, BrokenBarrierError};
///
/// let b = Barrier::new(2);
/// b.abort();
/// assert_eq!(b.wait(), Err(BrokenBarrierError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl std::error::Error for BrokenBarrierError {}

/// Where the barrier is in its cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Parties are arriving.
    Filling,
    /// The last party arrived and runs the action (outside the lock); the round's waiters stay
    /// queued until it ends, and newcomers wait for it to end.
    Tripping,
    /// Broken until [`Barrier::reset`].
    Broken,
}

/// What a queued waiter waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// It arrived in the current round and waits for the trip.
    Arrived,
    /// It came during a trip and waits to enter the next round.
    Entering,
}

struct State {
    phase: Phase,
    /// Parties arrived in the current round (Filling only).
    count: usize,
    /// An [`Barrier::abort`] came during a trip: break once it ends.
    abort_after_trip: bool,
    waiters: WaitQueue<Kind>,
}

impl State {
    /// Breaks the barrier: every queued waiter of the round gets `BROKEN`, every newcomer that
    /// waited out a trip looks again (and finds it broken).
    fn break_now(&mut self) -> Wakeups {
        self.phase = Phase::Broken;
        self.count = 0;
        self.waiters.wake_all_with(|k| match k {
            Kind::Arrived => BROKEN,
            Kind::Entering => RETRY,
        })
    }
}

/// A synchronisation point for a fixed number of parties: Python's `threading.Barrier`, for
/// threads and async tasks alike.
///
/// Each party calls [`wait`](Barrier::wait) (or awaits [`wait_async`](Barrier::wait_async));
/// when the `parties`-th arrives, the optional action runs once, on that party, and then all of
/// them are released, each with its own arrival index in `0..parties` (the last to arrive gets
/// `parties - 1`). The barrier is then ready for the next round, as often as needed.
///
/// # Breaking
///
/// The barrier *breaks*, and every party waiting at that moment gets [`BrokenBarrierError`],
/// when a timed wait expires ([`wait_timeout`](Barrier::wait_timeout), or
/// [`wait`](Barrier::wait) with a [default timeout](Barrier::default_timeout)), when a waiting
/// [`wait_async`](Barrier::wait_async) future is dropped (a cancelled task is a party that
/// left, as a timed-out thread), when [`abort`](Barrier::abort) is called, or when the action
/// panics. A broken barrier fails every wait at once until [`reset`](Barrier::reset).
///
/// # Semantics (CPython's `threading.Barrier`)
///
/// * The action runs after every party has arrived and before any of them is released; it
///   runs on the party that arrived last, outside the barrier's internal lock (it may call the
///   barrier's methods).
/// * A party that arrives while the action runs waits for the trip to end and then joins the
///   next round (or fails, if the trip broke the barrier).
/// * [`reset`](Barrier::reset) breaks the current round's waits and leaves the barrier usable
///   at once; [`abort`](Barrier::abort) breaks it for good (until `reset`).
/// * A wait that times out never returns before its timeout; a timeout that expires while the
///   trip is already under way loses to the trip (the party passes), as in CPython.
/// * Everything a party wrote before arriving is visible to every party after it passes.
///
/// # Cost
///
/// One internal lock per arrival; a waiting party parks (threads) or registers its waker
/// (tasks) in one FIFO shared by both, with one small allocation per wait. The trip wakes the
/// round's waiters after releasing the lock.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
/// use weft_barrier::Barrier;
///
/// let trips = Arc::new(AtomicUsize::new(0));
/// let t = Arc::clone(&trips);
/// let b = Arc::new(Barrier::with_action(2, move || {
///     t.fetch_add(1, Ordering::Relaxed);
/// }));
/// let b2 = Arc::clone(&b);
/// let worker = std::thread::spawn(move || {
///     for _ in 0..3 {
///         b2.wait().unwrap();
///     }
/// });
/// for _ in 0..3 {
///     b.wait().unwrap(); // Python: b.wait()
/// }
/// worker.join().unwrap();
/// assert_eq!(trips.load(Ordering::Relaxed), 3);
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Box<dyn Fn() + Send + Sync>>,
    timeout: Option<Duration>,
    state: Mutex<State>,
}

impl Barrier {
    /// A barrier for `parties` parties, with no action and no default timeout.
    ///
    /// Python: `threading.Barrier(parties)`.
    ///
    /// # Panics
    ///
    /// If `parties` is 0 (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = weft_barrier::Barrier::new(1);
    /// assert_eq!(b.wait(), Ok(0)); // a single party passes at once
    /// ```
    #[must_use]
    pub fn new(parties: usize) -> Self {
        assert!(parties > 0, "Barrier::new: parties must be at least 1");
        Self {
            parties,
            action: None,
            timeout: None,
            state: Mutex::new(State {
                phase: Phase::Filling,
                count: 0,
                abort_after_trip: false,
                waiters: WaitQueue::new(),
            }),
        }
    }

    /// A barrier whose `action` runs once per trip, on the last party to arrive, before any
    /// party is released. If the action panics, the barrier breaks (every other party gets
    /// [`BrokenBarrierError`]) and the panic continues on the party that ran it.
    ///
    /// Python: `threading.Barrier(parties, action=action)`.
    ///
    /// # Panics
    ///
    /// If `parties` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use weft_barrier::Barrier;
    ///
    /// static RAN: AtomicBool = AtomicBool::new(false);
    /// let b = Barrier::with_action(1, || RAN.store(true, Ordering::Relaxed));
    /// b.wait().unwrap();
    /// assert!(RAN.load(Ordering::Relaxed));
    /// ```
    #[must_use]
    pub fn with_action(parties: usize, action: impl Fn() + Send + Sync + 'static) -> Self {
        let mut b = Self::new(parties);
        b.action = Some(Box::new(action));
        b
    }

    /// Sets the timeout [`wait`](Barrier::wait) uses (none by default: wait forever).
    /// [`wait_async`](Barrier::wait_async) ignores it: async timeouts come from the runtime.
    ///
    /// Python: `threading.Barrier(parties, timeout=timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_barrier::{Barrier, BrokenBarrierError};
    ///
    /// let b = Barrier::new(2).default_timeout(Duration::from_millis(10));
    /// assert_eq!(b.wait(), Err(BrokenBarrierError)); // nobody came: the barrier breaks
    /// assert!(b.broken());
    /// ```
    #[must_use]
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many parties the barrier waits for.
    ///
    /// Python: `b.parties`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_barrier::Barrier::new(4).parties(), 4);
    /// ```
    #[must_use]
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many parties are waiting in the current round (0 while a trip is under way or the
    /// barrier is broken).
    ///
    /// Python: `b.n_waiting`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_barrier::Barrier::new(4).n_waiting(), 0);
    /// ```
    #[must_use]
    pub fn n_waiting(&self) -> usize {
        let st = self.state.lock();
        if st.phase == Phase::Filling {
            st.count
        } else {
            0
        }
    }

    /// Whether the barrier is broken.
    ///
    /// Python: `b.broken`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = weft_barrier::Barrier::new(2);
    /// assert!(!b.broken());
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    #[must_use]
    pub fn broken(&self) -> bool {
        self.state.lock().phase == Phase::Broken
    }

    /// Waits until every party has arrived; returns this party's arrival index in
    /// `0..parties`.
    ///
    /// With a [default timeout](Barrier::default_timeout), behaves as
    /// [`wait_timeout`](Barrier::wait_timeout) with it.
    ///
    /// Python: `b.wait()`.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is broken, or breaks while this party waits.
    ///
    /// # Panics
    ///
    /// If this party runs the action and the action panics (after breaking the barrier).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft_barrier::Barrier;
    ///
    /// let b = Arc::new(Barrier::new(2));
    /// let b2 = Arc::clone(&b);
    /// let t = std::thread::spawn(move || b2.wait());
    /// let mine = b.wait().unwrap();
    /// let theirs = t.join().unwrap().unwrap();
    /// assert_eq!(mine + theirs, 1); // indices 0 and 1
    /// ```
    pub fn wait(&self) -> Result<usize, BrokenBarrierError> {
        match self.timeout {
            Some(t) => self.wait_deadline(Deadline::after(t)),
            None => self.wait_deadline(Deadline::never()),
        }
    }

    /// [`wait`](Barrier::wait), giving up after `timeout`: a timeout breaks the barrier, so
    /// every party waiting with this one gets [`BrokenBarrierError`] too. [`Duration::MAX`]
    /// waits forever.
    ///
    /// Python: `b.wait(timeout)`.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is broken, breaks while this party waits, or the
    /// timeout expires first (never early).
    ///
    /// # Panics
    ///
    /// If this party runs the action and the action panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_barrier::Barrier;
    ///
    /// let b = Barrier::new(2);
    /// assert!(b.wait_timeout(Duration::from_millis(5)).is_err());
    /// assert!(b.broken());
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrierError> {
        self.wait_deadline(Deadline::after(timeout))
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<usize, BrokenBarrierError> {
        loop {
            let mut st = self.state.lock();
            match st.phase {
                Phase::Broken => return Err(BrokenBarrierError),
                Phase::Tripping => {
                    // Wait for the trip to end, then look again (CPython waits for the
                    // round to drain, untimed, in the same place).
                    let ticket = st.waiters.register_thread(Kind::Entering);
                    drop(st);
                    let _ = ticket.park(Deadline::never());
                }
                Phase::Filling => {
                    let index = st.count;
                    if index + 1 == self.parties {
                        return self.trip(st, index);
                    }
                    st.count += 1;
                    let ticket = st.waiters.register_thread(Kind::Arrived);
                    drop(st);
                    let token = match ticket.park(deadline) {
                        Some(token) => token,
                        None => self.timed_out(&ticket),
                    };
                    return if token == TRIPPED {
                        Ok(index)
                    } else {
                        Err(BrokenBarrierError)
                    };
                }
            }
        }
    }

    /// A party's timed wait expired: settle under the lock. Still queued in a filling round, it
    /// breaks the barrier; still queued while the trip is under way, it waits for the trip
    /// (the trip has already won); already handed a token, that token stands.
    fn timed_out(&self, ticket: &Ticket) -> Token {
        let mut st = self.state.lock();
        match st.waiters.leave(ticket) {
            Left::Received(token) => token,
            Left::Removed(_) if st.phase == Phase::Tripping => {
                let again = st.waiters.register_thread(Kind::Arrived);
                drop(st);
                match again.park(Deadline::never()) {
                    Some(token) => token,
                    None => unreachable!("an untimed park returns only with a token"),
                }
            }
            Left::Removed(_) => {
                let wakeups = st.break_now();
                drop(st);
                wakeups.wake();
                BROKEN
            }
        }
    }

    /// The last party arrived: run the action outside the lock, then release the round.
    fn trip(
        &self,
        mut st: MutexGuard<'_, State>,
        index: usize,
    ) -> Result<usize, BrokenBarrierError> {
        st.phase = Phase::Tripping;
        st.count = 0;
        drop(st);
        let outcome = match &self.action {
            Some(action) => panic::catch_unwind(AssertUnwindSafe(action)),
            None => Ok(()),
        };
        let mut st = self.state.lock();
        let ok = outcome.is_ok();
        let wakeups = st.waiters.wake_all_with(|k| match k {
            Kind::Arrived if ok => TRIPPED,
            Kind::Arrived => BROKEN,
            Kind::Entering => RETRY,
        });
        st.phase = if ok && !st.abort_after_trip {
            Phase::Filling
        } else {
            Phase::Broken
        };
        st.abort_after_trip = false;
        drop(st);
        wakeups.wake();
        match outcome {
            Ok(()) => Ok(index),
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// Breaks the barrier: every party waiting now, and every later wait, gets
    /// [`BrokenBarrierError`] until [`reset`](Barrier::reset). Called during a trip (for
    /// example from the action), it takes effect once the trip has released its round.
    ///
    /// Python: `b.abort()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = weft_barrier::Barrier::new(3);
    /// b.abort();
    /// assert!(b.wait().is_err());
    /// ```
    pub fn abort(&self) {
        let mut st = self.state.lock();
        match st.phase {
            Phase::Tripping => st.abort_after_trip = true,
            Phase::Filling | Phase::Broken => {
                let wakeups = st.break_now();
                drop(st);
                wakeups.wake();
            }
        }
    }

    /// Makes the barrier usable again: every party waiting in the current round gets
    /// [`BrokenBarrierError`], a broken barrier is mended, and the next round starts empty.
    /// During a trip it only cancels an [`abort`](Barrier::abort) made during that trip.
    ///
    /// Python: `b.reset()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = weft_barrier::Barrier::new(1);
    /// b.abort();
    /// b.reset();
    /// assert_eq!(b.wait(), Ok(0));
    /// ```
    pub fn reset(&self) {
        let mut st = self.state.lock();
        match st.phase {
            Phase::Tripping => st.abort_after_trip = false,
            Phase::Filling | Phase::Broken => {
                let wakeups = st.break_now();
                st.phase = Phase::Filling;
                drop(st);
                wakeups.wake();
            }
        }
    }

    /// Waits, as an async task, until every party has arrived; resolves to this party's arrival
    /// index. Threads and tasks may meet at one barrier.
    ///
    /// The future does nothing until first polled. Dropping it while it waits (for example on
    /// a `tokio::time::timeout`) is a party leaving: like an expired
    /// [`wait_timeout`](Barrier::wait_timeout), it breaks the barrier for the round, unless the
    /// trip was already under way or had released it. The
    /// [default timeout](Barrier::default_timeout) does not apply.
    ///
    /// Python: `await asyncio.Barrier.wait()`.
    ///
    /// # Errors
    ///
    /// The future resolves to [`BrokenBarrierError`] as [`wait`](Barrier::wait) returns it.
    ///
    /// # Panics
    ///
    /// The future panics if its party runs the action and the action panics, and if polled
    /// after it completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weft_barrier::Barrier;
    ///
    /// let b = Arc::new(Barrier::new(2));
    /// let b2 = Arc::clone(&b);
    /// let thread = std::thread::spawn(move || b2.wait().unwrap());
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let mine = rt.block_on(async { b.wait_async().await.unwrap() });
    /// assert_eq!(mine + thread.join().unwrap(), 1);
    /// ```
    pub fn wait_async(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            step: Step::Start,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &st.count)
            .field("phase", &st.phase)
            .finish_non_exhaustive()
    }
}

enum Step {
    Start,
    Entering(Ticket),
    Arrived(Ticket, usize),
    Done,
}

/// The future of [`Barrier::wait_async`]: resolves to the arrival index, or
/// [`BrokenBarrierError`].
///
/// `Send`; its `poll` never blocks (except to run the action, on the last party). Dropping it
/// while it waits breaks the barrier for the round, as a timed-out thread does.
#[must_use = "futures do nothing unless polled"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    step: Step,
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Start => "start",
            Step::Entering(_) => "entering",
            Step::Arrived(..) => "arrived",
            Step::Done => "done",
        };
        f.debug_struct("BarrierWait")
            .field("step", &step)
            .finish_non_exhaustive()
    }
}

impl BarrierWait<'_> {
    /// The token delivered to `ticket`, or `None` after storing the task's current waker.
    fn poll_ticket(&self, ticket: &Ticket, cx: &Context<'_>) -> Option<Token> {
        if let Some(token) = ticket.token() {
            return Some(token);
        }
        let mut st = self.barrier.state.lock();
        if st.waiters.update_waker(ticket, cx.waker()) {
            None
        } else {
            // Delivered under the lock we hold: it is there.
            ticket.token()
        }
    }
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrierError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match std::mem::replace(&mut self.step, Step::Done) {
                Step::Done => panic!("BarrierWait polled after completion"),
                Step::Start => {
                    let barrier = self.barrier;
                    let mut st = barrier.state.lock();
                    match st.phase {
                        Phase::Broken => return Poll::Ready(Err(BrokenBarrierError)),
                        Phase::Tripping => {
                            let ticket = st.waiters.register_task(cx.waker(), Kind::Entering);
                            self.step = Step::Entering(ticket);
                            return Poll::Pending;
                        }
                        Phase::Filling => {
                            let index = st.count;
                            if index + 1 == barrier.parties {
                                return Poll::Ready(barrier.trip(st, index));
                            }
                            st.count += 1;
                            let ticket = st.waiters.register_task(cx.waker(), Kind::Arrived);
                            self.step = Step::Arrived(ticket, index);
                            return Poll::Pending;
                        }
                    }
                }
                Step::Entering(ticket) => {
                    if self.poll_ticket(&ticket, cx).is_none() {
                        self.step = Step::Entering(ticket);
                        return Poll::Pending;
                    }
                    // The trip ended: enter the next round.
                    self.step = Step::Start;
                }
                Step::Arrived(ticket, index) => match self.poll_ticket(&ticket, cx) {
                    None => {
                        self.step = Step::Arrived(ticket, index);
                        return Poll::Pending;
                    }
                    Some(TRIPPED) => return Poll::Ready(Ok(index)),
                    Some(_) => return Poll::Ready(Err(BrokenBarrierError)),
                },
            }
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.step, Step::Done) {
            Step::Start | Step::Done => {}
            // Every newcomer is woken at the trip's end: nothing to pass on.
            Step::Entering(ticket) => {
                let _ = self.barrier.state.lock().waiters.leave(&ticket);
            }
            Step::Arrived(ticket, _) => {
                let mut st = self.barrier.state.lock();
                match st.waiters.leave(&ticket) {
                    // The round tripped or broke with this party in it: the token was for
                    // it alone, and the others were released by the same step.
                    Left::Received(_) => {}
                    // The trip is under way: it releases the others without this party.
                    Left::Removed(_) if st.phase == Phase::Tripping => {}
                    // A party left a filling round: the others can never trip. Break it, as
                    // an expired timed wait does.
                    Left::Removed(_) => {
                        let wakeups = st.break_now();
                        drop(st);
                        wakeups.wake();
                    }
                }
            }
        }
    }
}
