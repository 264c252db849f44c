//! The pool's engine: one queue of jobs, the workers that drain it, and the bookkeeping that
//! decides when to wake a parked worker and when to start a new one.
//!
//! # One lock, and hints beside it
//!
//! Everything that decides something lives in [`State`], under one short lock: the queue of
//! jobs, the parked workers, how many workers are idle, and whether the pool is open. A
//! submit pushes its job and, in the same critical section, sees whether an idle worker is
//! spinning (it will find the job), or parked (pop it and wake it after unlocking), or whether
//! a new worker must start. A worker checks the queue under the same lock before it parks. So
//! a wake-up is never lost, and a worker that is awake is never woken with a system call.
//!
//! Two atomics are hints for spinning workers only (they read them without the lock, and
//! re-check under it): `queued`, the queue's length, and `closed`, set once at shutdown or
//! breakage. Relaxed is enough for both: they order nothing, the lock does.
//!
//! # Idle accounting
//!
//! `idle` counts workers without a job: started and not yet at their first job, spinning, or
//! parked. A worker enters idle under the lock when it finds the queue empty, and leaves it
//! under the lock when it pops a job. A submit starts a new worker only when the jobs queued
//! outnumber the idle workers (and fewer than `max_workers` were started): an idle worker is
//! reused before a thread is spawned, as Python's `_adjust_thread_count` does with its idle
//! semaphore, but counted exactly.
//!
//! # Staggered wake-ups
//!
//! `landing` counts workers a submit woke that are not yet back from parking. A submit that
//! needs another parked worker while one is landing (and fewer workers are busy or landing than
//! there are CPUs) leaves the wake-up to it (`owed`): the landing worker, back under the lock,
//! wakes the next one if the queue still needs it, pinned away from its own CPU (`place`). A
//! wake-up is only ever left to a worker in flight, which re-makes the decision under the lock
//! before it could park again, so no job waits for a wake-up nobody will make.

use std::{
    cell::Cell,
    collections::VecDeque,
    mem,
    panic::{AssertUnwindSafe, catch_unwind},
};

use weft_futures::TaskError;
use weft_sync::{
    Arc, Deadline, Mutex, SpinWait,
    atomic::{AtomicBool, AtomicUsize, Ordering},
    thread::{self, JoinHandle},
    waitq::{Token, WaitQueue, Wakeup, Wakeups},
};

use crate::{
    job::{Abort, BoxJob, Finishing, Job, current_is_finishing},
    map::Help,
    place::{self, Home, Seat},
};

/// Whether the pool still takes work.
#[derive(Debug)]
enum Closed {
    Open,
    ShutDown,
    /// Broken, with the reason every failed future carries.
    Broken(String),
}

struct State {
    /// Jobs accepted and not yet taken by a worker.
    jobs: VecDeque<BoxJob>,
    /// Parked idle workers (weft-sync's waiting core), each with its number: a submit that
    /// needs one pops the oldest and delivers its token under this lock.
    sleepers: WaitQueue<usize>,
    /// Workers without a job (starting, spinning or parked); see the module docs.
    idle: usize,
    /// Workers started so far (never more than `max_workers`; also the next thread's number).
    spawned: usize,
    /// Workers started and not yet exited.
    alive: usize,
    handles: Vec<JoinHandle<()>>,
    /// Workers a submit woke that are not yet back from parking.
    landing: usize,
    /// Wake-ups that submits left to the next worker to land (see [`Shared::try_push`]), and
    /// the CPU the last such submit ran on.
    owed: usize,
    owed_cpu: Option<usize>,
    /// Each started worker's placement record, by number (see [`place`]).
    seats: Vec<Seat>,
    closed: Closed,
    /// Callers of `shutdown(wait = true)` waiting for the last worker to exit.
    exit_waiters: WaitQueue,
    /// Running map batches with items left to claim, oldest first: a worker that finds the
    /// queue empty helps the oldest (docs/pool.md, "Batches that idle workers help").
    helping: VecDeque<Box<dyn Help>>,
}

pub(crate) type Initializer = Box<dyn Fn() + Send + Sync>;

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Hint: `state.jobs.len()`, for spinning workers.
    queued: AtomicUsize,
    /// Hint: the pool is shut down or broken, for spinning workers.
    closed: AtomicBool,
    /// Workers that are completing a future and will be back at the queue at once (see
    /// [`Finishing`]).
    pub(crate) finishing: AtomicUsize,
    /// The CPUs this process may run on, read once: wake-ups are staggered only while fewer
    /// workers than this are busy or landing.
    cpus: usize,
    /// Set (under the lock) once `max_workers` workers are started, so that workers stop
    /// announcing `finishing`, which only spawn decisions read; cleared if a spawn fails.
    pub(crate) full: AtomicBool,
    max_workers: usize,
    prefix: String,
    initializer: Option<Initializer>,
}

/// What `try_push` did not accept, and why.
pub(crate) enum Refused<J> {
    ShutDown(Box<J>),
    Broken(Box<J>, String),
}

// loom's `thread_local!` has no `const` form.
#[allow(clippy::missing_const_for_thread_local)]
mod worker_of {
    use std::cell::Cell;
    weft_sync::thread::thread_local! {
    /// The pool this thread works for (the address of its `Shared`), 0 for a thread that is
    /// not a worker: lets `shutdown(wait = true)` from inside a task skip joining itself.
    pub(super) static WORKER_OF: Cell<usize> = Cell::new(0);
    }
}
use worker_of::WORKER_OF;

impl Shared {
    pub(crate) fn new(
        max_workers: usize,
        prefix: String,
        initializer: Option<Initializer>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                sleepers: WaitQueue::new(),
                idle: 0,
                spawned: 0,
                alive: 0,
                handles: Vec::new(),
                landing: 0,
                owed: 0,
                owed_cpu: None,
                seats: Vec::new(),
                closed: Closed::Open,
                exit_waiters: WaitQueue::new(),
                helping: VecDeque::new(),
            }),
            queued: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            finishing: AtomicUsize::new(0),
            cpus: stagger_cpus(),
            full: AtomicBool::new(false),
            max_workers,
            prefix,
            initializer,
        }
    }

    pub(crate) fn max_workers(&self) -> usize {
        self.max_workers
    }

    pub(crate) fn alive(&self) -> usize {
        self.state.lock().alive
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state.lock().closed, Closed::Open)
    }

    /// Queues `job` for a worker, waking a parked one or starting a new one if no idle worker
    /// is awake to take it.
    pub(crate) fn try_push<J: Job + 'static>(
        this: &Arc<Self>,
        job: Box<J>,
    ) -> Result<(), Refused<J>> {
        Self::push(this, job, false)
    }

    /// Queues a [piece](crate::map) of a running batch, ahead of every other job: it belongs to
    /// a task already accepted, so a pool that is shut down still takes it (its workers drain
    /// the queue before they exit); a broken one hands it back, to run on the caller.
    pub(crate) fn push_piece<J: Job + 'static>(
        this: &Arc<Self>,
        job: Box<J>,
    ) -> Result<(), Box<J>> {
        Self::push(this, job, true).map_err(|refused| match refused {
            Refused::ShutDown(job) | Refused::Broken(job, _) => job,
        })
    }

    fn push<J: Job + 'static>(
        this: &Arc<Self>,
        job: Box<J>,
        piece: bool,
    ) -> Result<(), Refused<J>> {
        let mut st = this.state.lock();
        match &st.closed {
            Closed::Open => {}
            Closed::ShutDown if piece => {}
            Closed::ShutDown => return Err(Refused::ShutDown(job)),
            Closed::Broken(why) => {
                let why = why.clone();
                return Err(Refused::Broken(job, why));
            }
        }
        if piece {
            st.jobs.push_front(job);
        } else {
            st.jobs.push_back(job);
        }
        let queued = st.jobs.len();
        this.queued.store(queued, Ordering::Relaxed);
        // Idle workers that are awake (spinning, or woken and not yet back) take queued jobs
        // by themselves; wake a parked one only when they are too few.
        let mut wake = None;
        if this.needs_wake(&st) {
            // Staggered wake-ups: while another woken worker is not yet back from parking and a
            // CPU may still be free, leave this wake-up to that worker, which makes it when it
            // lands. Two wake-ups back to back can both be placed on the CPU that looked idle
            // at the first, leaving the other idle for milliseconds (docs/pool.md, "Issue 12,
            // third round").
            if st.landing > 0 && st.alive - st.idle + st.landing < this.cpus {
                st.owed += 1;
                st.owed_cpu = place::here();
            } else {
                wake = this.wake_worker(&mut st, None);
            }
        }
        let spawn = this.reserve_worker(&mut st);
        drop(st);
        if let Some(wakeup) = wake {
            wakeup.wake();
        }
        if let Some(index) = spawn {
            Self::spawn_worker(this, index);
        }
        Ok(())
    }

    /// Offers a running batch to the workers that find the queue empty. If no idle worker is
    /// awake to see it and a CPU may be free, one more is brought in: a parked worker woken, or
    /// a new one started (below `max_workers`), as a submit would for a job of its own.
    pub(crate) fn offer_help(this: &Arc<Self>, batch: Box<dyn Help>) {
        let mut st = this.state.lock();
        st.helping.push_back(batch);
        let awake = st.idle - st.sleepers.len();
        let mut helper = None;
        let mut spawn = None;
        if st.jobs.is_empty() && awake == 0 && st.alive - st.idle + st.landing < this.cpus {
            if st.sleepers.is_empty() {
                if st.spawned < this.max_workers {
                    spawn = Some(this.start_worker(&mut st));
                }
            } else {
                helper = this.wake_worker(&mut st, None);
            }
        }
        drop(st);
        if let Some(parked) = helper {
            parked.wake();
        }
        if let Some(index) = spawn {
            Self::spawn_worker(this, index);
        }
    }

    /// Takes back the offer of batch `id` (its worker is done claiming).
    pub(crate) fn withdraw_help(&self, id: *const ()) {
        self.state.lock().helping.retain(|b| b.id() != id);
    }

    /// Hint: whether a job is queued.
    pub(crate) fn has_queued(&self) -> bool {
        self.queued.load(Ordering::Relaxed) > 0
    }

    /// Whether the queued jobs outnumber the idle workers that are awake, and a parked one can be
    /// woken. Called under the lock.
    fn needs_wake(&self, st: &State) -> bool {
        let awake = st.idle - st.sleepers.len();
        st.jobs.len() > awake && !st.sleepers.is_empty()
    }

    /// Pops the oldest parked worker and delivers its token (under the lock; wake it after
    /// unlocking). It counts as awake (idle, not in `sleepers`) until it takes a job, and as
    /// landing until it is back from parking. A wake-up left to a landing worker (`pin`: the
    /// CPU its submitter was on) first pins the worker to a free CPU (see [`place`]), before
    /// the token, so that it sees the pin when it lands.
    fn wake_worker(&self, st: &mut State, pin: Option<Option<usize>>) -> Option<Wakeup> {
        if let Some(prefer) = pin
            && let Some(&worker) = st.sleepers.front()
        {
            place::pin_away(&mut st.seats, worker, prefer);
        }
        let (wakeup, _) = st.sleepers.wake_one(LANDING)?;
        st.landing += 1;
        Some(wakeup)
    }

    /// Whether the jobs queued need one more worker, and if so counts it as started (and idle:
    /// it will take a job without being woken) and returns its number. Called under the lock.
    fn reserve_worker(&self, st: &mut State) -> Option<usize> {
        let queued = st.jobs.len();
        let spawn = st.spawned < self.max_workers && queued > st.idle && {
            // A worker completing a future comes back for this job at once; not if it is the
            // thread submitting (from the future's waker), which is busy until it returns.
            let mut finishing = self.finishing.load(Ordering::Relaxed);
            if finishing > 0 && current_is_finishing(&self.finishing) {
                finishing -= 1;
            }
            queued > st.idle + finishing
        };
        if !spawn {
            return None;
        }
        Some(self.start_worker(st))
    }

    /// Counts one more worker as started (and idle: it will look at the queue and the batches
    /// to help without being woken), and returns its number. Called under the lock.
    fn start_worker(&self, st: &mut State) -> usize {
        let index = st.spawned;
        // A failed spawn leaves its seat behind for the next worker with its number.
        match st.seats.get_mut(index) {
            Some(seat) => *seat = Seat::default(),
            None => st.seats.push(Seat::default()),
        }
        st.spawned += 1;
        st.alive += 1;
        st.idle += 1;
        if st.spawned == self.max_workers {
            self.full.store(true, Ordering::Relaxed);
        }
        index
    }

    /// A finishing worker is about to run its future's done-callbacks ([`Finishing::withdraw`]):
    /// it stops counting as finishing, and a job that a submit left queued for it gets a new
    /// worker now, decided under the lock that the submit took (whichever came first, the job
    /// is not left behind a callback that may wait for it).
    pub(crate) fn withdraw_finishing(this: &Arc<Self>, finishing: &Finishing<'_>) {
        let mut st = this.state.lock();
        finishing.settle();
        let spawn = this.reserve_worker(&mut st);
        drop(st);
        if let Some(index) = spawn {
            Self::spawn_worker(this, index);
        }
    }

    fn spawn_worker(this: &Arc<Self>, index: usize) {
        let shared = Arc::clone(this);
        let spawned = thread::Builder::new()
            .name(format!("{}_{index}", this.prefix))
            .spawn(move || Self::work(&shared, index));
        match spawned {
            Ok(handle) => this.state.lock().handles.push(handle),
            Err(e) => {
                let mut st = this.state.lock();
                st.idle -= 1;
                st.alive -= 1;
                st.spawned -= 1;
                this.full.store(false, Ordering::Relaxed);
                let none_left = st.alive == 0;
                let waiters = exited(&mut st);
                drop(st);
                waiters.wake();
                if none_left {
                    // No thread will ever run what is queued: fail it rather than hang.
                    this.break_pool(format!("could not start a worker thread: {e}"));
                }
            }
        }
    }

    /// A worker thread's body.
    fn work(this: &Arc<Self>, index: usize) {
        WORKER_OF.with(|w| w.set(std::ptr::from_ref::<Self>(this) as usize));
        if let Some(init) = &this.initializer
            && let Err(payload) = catch_unwind(AssertUnwindSafe(init))
        {
            let why = match TaskError::from_panic(payload) {
                TaskError::Panicked(msg) => msg,
                other => other.to_string(),
            };
            this.break_pool(format!(
                "a thread initializer panicked ({why}); the thread pool is not usable anymore"
            ));
            this.exit(true);
            return;
        }
        let finishing = Finishing::new(this);
        let mut idle = true;
        let home = this.state.lock().seats[index].take();
        while let Some(job) = this.next_job(&finishing, &mut idle, index, &home) {
            // The task's own panic is caught inside `run` and fails its future; this catches
            // what could still escape (a captured value whose `Drop` panics when a cancelled
            // task is discarded), so that a worker never dies with the pool counting on it.
            let _ = catch_unwind(AssertUnwindSafe(|| job.run(&finishing)));
        }
        this.exit(idle);
    }

    /// The next job for a worker, or `None` once the pool is closed and its queue empty.
    fn next_job(
        &self,
        finishing: &Finishing<'_>,
        idle: &mut bool,
        index: usize,
        home: &Home,
    ) -> Option<BoxJob> {
        let mut spun = false;
        let mut landed = false;
        loop {
            let mut st = self.state.lock();
            if mem::take(&mut landed) {
                // Back from a submit's wake-up: where it runs (and its own mask back, if it was
                // pinned), then a wake-up a submit left to it, if still needed.
                st.seats[index].land(home);
                st.landing -= 1;
                if st.owed > 0 {
                    st.owed -= 1;
                    let owed = if self.needs_wake(&st) {
                        let prefer = st.owed_cpu;
                        self.wake_worker(&mut st, Some(prefer))
                    } else {
                        // The workers awake are enough for what is queued.
                        st.owed = 0;
                        None
                    };
                    if let Some(wakeup) = owed {
                        drop(st);
                        wakeup.wake();
                        st = self.state.lock();
                    }
                }
            }
            if let Some(job) = st.jobs.pop_front() {
                self.queued.store(st.jobs.len(), Ordering::Relaxed);
                if *idle {
                    st.idle -= 1;
                    *idle = false;
                }
                finishing.settle();
                return Some(job);
            }
            // No job: help the oldest running batch that has items left to claim, if any.
            while st.helping.front().is_some_and(|b| b.exhausted()) {
                st.helping.pop_front();
            }
            if let Some(batch) = st
                .helping
                .iter()
                .find(|b| !b.exhausted())
                .map(|b| b.handle())
            {
                if *idle {
                    st.idle -= 1;
                    *idle = false;
                }
                finishing.settle();
                drop(st);
                batch.help(finishing.pool(), finishing);
                continue;
            }
            if !*idle {
                st.idle += 1;
                *idle = true;
            }
            finishing.settle();
            if !matches!(st.closed, Closed::Open) {
                return None;
            }
            if !spun {
                // Spin a little before parking: a job that comes soon costs no system call,
                // neither here nor in the submitting thread.
                drop(st);
                self.spin();
                spun = true;
                continue;
            }
            // The queue is empty and checked under the lock that every push takes: a push
            // after this point finds us in `sleepers`.
            st.seats[index].vacate();
            let ticket = st.sleepers.register_thread(index);
            drop(st);
            // No deadline: an idle worker waits until a submit, a shutdown or a breakage pops
            // it (each delivers a token), so it never has to leave the queue.
            let woken = ticket.park(Deadline::never());
            debug_assert!(woken.is_some());
            // A submit's wake-up is counted back in at the top of the loop, under the lock.
            landed = woken == Some(LANDING);
            spun = false;
        }
    }

    /// Waits a bounded while for a job (or the closure) to show up in the hints.
    fn spin(&self) {
        let seen =
            || self.queued.load(Ordering::Relaxed) > 0 || self.closed.load(Ordering::Relaxed);
        // The same budgeted spin under loom (where it is one yield) as in production.
        let mut spin = SpinWait::with_limits(SPIN_BUSY, SPIN_ROUNDS);
        while !seen() && spin.spin() {}
    }

    /// A worker leaves the pool.
    fn exit(&self, idle: bool) {
        let mut st = self.state.lock();
        if idle {
            st.idle -= 1;
        }
        st.alive -= 1;
        let waiters = exited(&mut st);
        drop(st);
        waiters.wake();
    }

    /// Marks the pool broken: every queued job fails with [`TaskError::BrokenPool`], and no
    /// new job is accepted.
    pub(crate) fn break_pool(&self, reason: String) {
        let mut st = self.state.lock();
        if !matches!(st.closed, Closed::Broken(_)) {
            st.closed = Closed::Broken(reason.clone());
        }
        self.closed.store(true, Ordering::Relaxed);
        let jobs = mem::take(&mut st.jobs);
        self.queued.store(0, Ordering::Relaxed);
        let sleepers = st.sleepers.wake_all(Token::RETRY);
        drop(st);
        for job in jobs {
            job.abort(Abort::Broken(reason.clone()));
        }
        sleepers.wake();
    }

    /// Python's `shutdown(wait, cancel_futures)`.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let mut st = self.state.lock();
        if matches!(st.closed, Closed::Open) {
            st.closed = Closed::ShutDown;
        }
        self.closed.store(true, Ordering::Relaxed);
        let cancelled = if cancel_futures {
            mem::take(&mut st.jobs)
        } else {
            VecDeque::new()
        };
        self.queued.store(st.jobs.len(), Ordering::Relaxed);
        // Parked workers wake to drain what is left, then exit.
        let sleepers = st.sleepers.wake_all(Token::RETRY);
        let handles = if wait {
            mem::take(&mut st.handles)
        } else {
            Vec::new()
        };
        drop(st);
        for job in cancelled {
            job.abort(Abort::Cancel);
        }
        sleepers.wake();
        if !wait {
            return;
        }
        let me = thread::current().id();
        for handle in handles {
            // A task that shuts its own pool down must not join its own thread: that thread
            // exits once the task returns and the queue is drained.
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
        let in_worker = WORKER_OF.with(Cell::get) == self as *const Self as usize;
        self.wait_exited(usize::from(in_worker));
    }

    /// Blocks until at most `left` workers are alive (workers started concurrently with a
    /// shutdown, whose handles another caller took, are waited for here).
    fn wait_exited(&self, left: usize) {
        loop {
            let mut st = self.state.lock();
            if st.alive <= left {
                return;
            }
            let ticket = st.exit_waiters.register_thread(());
            drop(st);
            // No deadline: a worker's exit pops us (see `exited`); then look again.
            let woken = ticket.park(Deadline::never());
            debug_assert!(woken.is_some());
        }
    }
}

/// The CPU count that bounds staggering: the CPUs this process may use. Under loom, unbounded,
/// so that the models take the staggered path whenever a wake-up is in flight.
fn stagger_cpus() -> usize {
    if cfg!(weft_loom) {
        usize::MAX
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    }
}

/// The token a submit wakes a parked worker with: the worker counts itself out of `landing`.
/// (Shutdown and breakage wake with [`Token::RETRY`].)
const LANDING: Token = match Token::new(3) {
    Some(t) => t,
    None => unreachable!(),
};

/// Rounds an idle worker spins before it parks: [`SPIN_BUSY`] busy ones, then yields.
const SPIN_ROUNDS: u32 = 64;
/// Busy rounds (2 + 4 + 8 + 16 = 30 pause instructions, under a microsecond) before the
/// worker starts yielding. Short on purpose (issue 12): a worker that has just completed a
/// future has often just woken its waiter, and when both share a CPU, every busy round is time
/// the woken thread waits for the CPU; a yield hands it over at once (docs/pool.md, "Issue 12").
const SPIN_BUSY: u32 = 4;

/// Under the lock, after a worker left `alive`: the callers of `shutdown(wait = true)` to wake
/// (each looks at `alive` again). A caller inside a worker waits for `alive <= 1`, the others for
/// `alive == 0`, so every exit down to one worker left wakes them.
fn exited(st: &mut State) -> Wakeups {
    if st.alive <= 1 {
        st.exit_waiters.wake_all(Token::RETRY)
    } else {
        Wakeups::new()
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use std::{
        thread::{sleep, yield_now},
        time::{Duration, Instant},
    };

    use crate::ThreadPoolExecutor;

    /// Every worker a submit wakes counts itself out of `landing` once it is back, and a
    /// wake-up left to it is made or dropped then: a count that never came down would leave
    /// every later wake-up of a burst to a worker that is not coming.
    #[test]
    fn woken_workers_count_themselves_back_and_settle_what_was_left_to_them() {
        let pool = ThreadPoolExecutor::new(2);
        let shared = pool.shared();
        let (p, f) = weft_futures::promise::<()>();
        let first = pool.submit(move || f.result().is_ok());
        assert_eq!(pool.submit(move || p.set_result(())).result(), Ok(()));
        assert_eq!(first.result(), Ok(true));
        for round in 0..20 {
            // Both workers park (their spin is far shorter than this), then a burst wakes them.
            sleep(Duration::from_millis(5));
            let futures: Vec<_> = (0..4).map(|i| pool.submit(move || i)).collect();
            for (i, f) in futures.into_iter().enumerate() {
                assert_eq!(f.result(), Ok(i));
            }
            // The jobs are done; a woken worker that found them taken is back all the same,
            // soon on a quiet machine, within seconds under Miri on a loaded one: only a count
            // that never comes down is still up after this long.
            let until = Instant::now() + Duration::from_secs(30);
            let settled = || {
                let st = shared.state.lock();
                (st.landing, st.owed)
            };
            while settled() != (0, 0) && Instant::now() < until {
                yield_now();
            }
            assert_eq!(settled(), (0, 0), "round {round}: (landing, owed)");
        }
    }
}
