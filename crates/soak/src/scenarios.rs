//! One round of each primitive. Each spawns the round's threads, drives the primitive until the
//! round's end, winds down, and checks what must hold.

use std::{
    cell::RefCell,
    collections::VecDeque,
    sync::OnceLock,
    time::{Duration, Instant},
};

use weft_barrier::Barrier;
use weft_condition::Condition;
use weft_event::Event;
use weft_futures::{ReturnWhen, TaskError, as_completed, as_completed_timeout, promise, wait};
use weft_lock::{Lock, RLock};
use weft_pool::ThreadPoolExecutor;
use weft_process::ProcessPoolExecutor;
use weft_queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, SimpleQueue};
use weft_semaphore::{BoundedSemaphore, Semaphore};
use weft_sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::{Round, Scenario, Shared, Tally, rng::Rng, tasks::poll_for};

/// Every primitive, by the name `--only` takes.
pub(crate) const ALL: &[(&str, Scenario)] = &[
    ("Lock", lock),
    ("RLock", rlock),
    ("Semaphore", semaphore),
    ("BoundedSemaphore", bounded_semaphore),
    ("Event", event),
    ("Barrier", barrier),
    ("Condition", condition),
    ("Queue(1)", queue_1),
    ("Queue(2)", queue_2),
    ("Queue(3)", queue_3),
    ("Queue(large)", queue_large),
    ("LifoQueue", lifo_queue),
    ("PriorityQueue", priority_queue),
    ("SimpleQueue", simple_queue),
    ("futures", futures),
    ("ThreadPoolExecutor", thread_pool),
    ("ProcessPoolExecutor", process_pool),
];

/// Runs `f(thread index, its generator)` on `n` scoped threads.
fn spawn(n: usize, seed: u64, f: impl Fn(usize, &mut Rng) + Sync) {
    std::thread::scope(|s| {
        for i in 0..n {
            let f = &f;
            s.spawn(move || f(i, &mut Rng::new(seed ^ (i as u64).wrapping_mul(0x9E37))));
        }
    });
}

/// A short random timeout: zero, microseconds, or a millisecond or two.
fn short(rng: &mut Rng) -> Duration {
    match rng.range(0, 3) {
        0 => Duration::ZERO,
        1 => Duration::from_micros(rng.range(1, 200)),
        _ => Duration::from_millis(rng.range(1, 2)),
    }
}

fn lock(r: &Round, _: &mut Rng) -> Tally {
    let s = Shared::default();
    let lock = Lock::new(0u64);
    let inside = AtomicUsize::new(0);
    let taken = AtomicU64::new(0);
    spawn(r.threads, r.seed, |_, rng| {
        while Instant::now() < r.until {
            let g = match rng.range(0, 4) {
                0 => Some(lock.acquire()),
                1 => lock.try_acquire(),
                2 => lock.acquire_timeout(short(rng)),
                // A task among the threads, waiting without end or dropped by its timeout.
                3 => poll_for(lock.acquire_async(), None),
                _ => poll_for(lock.acquire_async(), Some(short(rng))),
            };
            s.op();
            if let Some(mut g) = g {
                let before = inside.fetch_add(1, Relaxed);
                s.check(before == 0, || {
                    format!("Lock: {} holders at once", before + 1)
                });
                s.check(lock.locked(), || "Lock: held but locked() is false".into());
                *g += 1;
                taken.fetch_add(1, Relaxed);
                if rng.one_in(8) {
                    std::thread::yield_now();
                }
                inside.fetch_sub(1, Relaxed);
            }
        }
    });
    let count = *lock.acquire();
    let t = taken.load(Relaxed);
    s.check(count == t, || {
        format!("Lock: the guarded counter is {count} after {t} increments")
    });
    s.check(!lock.locked(), || "Lock: still locked at the end".into());
    s.items(count);
    s.tally()
}

fn rlock(r: &Round, _: &mut Rng) -> Tally {
    let s = Shared::default();
    let lock = RLock::new(RefCell::new(0u64));
    let inside = AtomicUsize::new(0);
    let taken = AtomicU64::new(0);
    spawn(r.threads, r.seed, |_, rng| {
        while Instant::now() < r.until {
            let g = match rng.range(0, 2) {
                0 => Some(lock.acquire()),
                1 => lock.try_acquire(),
                _ => lock.acquire_timeout(short(rng)),
            };
            s.op();
            let Some(g) = g else { continue };
            let before = inside.fetch_add(1, Relaxed);
            s.check(before == 0, || {
                format!("RLock: {} owners at once", before + 1)
            });
            s.check(lock.is_owned(), || "RLock: held but not owned".into());
            // Re-enter up to twice: the owner always gets in at once.
            let depth = rng.range(0, 2);
            let mut again = Vec::new();
            for _ in 0..depth {
                let a = lock.try_acquire();
                s.op();
                s.check(a.is_some(), || "RLock: the owner could not re-enter".into());
                again.extend(a);
            }
            *g.borrow_mut() += 1;
            taken.fetch_add(1, Relaxed);
            drop(again);
            s.check(lock.is_owned(), || {
                "RLock: lost ownership while re-entered".into()
            });
            inside.fetch_sub(1, Relaxed);
            drop(g);
        }
    });
    let count = *lock.acquire().borrow();
    let t = taken.load(Relaxed);
    s.check(count == t, || {
        format!("RLock: the guarded counter is {count} after {t} increments")
    });
    s.items(count);
    s.tally()
}

/// The shared body of both semaphores: never more holders than permits; the permits come back.
macro_rules! semaphore_round {
    ($r:expr, $rng:expr, $name:literal, $sem:expr, $permits:expr, $release:expr) => {{
        let s = Shared::default();
        let permits = $permits;
        let sem = $sem;
        let inside = AtomicUsize::new(0);
        spawn($r.threads, $r.seed, |_, rng| {
            while Instant::now() < $r.until {
                let p = match rng.range(0, 4) {
                    0 => Some(sem.acquire()),
                    1 => sem.try_acquire(),
                    2 => sem.acquire_timeout(short(rng)),
                    // A task among the threads: waits without end, or is dropped when its
                    // timeout fires (woken or not).
                    3 => poll_for(sem.acquire_async(), None),
                    _ => poll_for(sem.acquire_async(), Some(short(rng))),
                };
                s.op();
                let Some(p) = p else { continue };
                let before = inside.fetch_add(1, Relaxed);
                s.check(before < permits, || {
                    format!("{}: {} holders of {permits} permits", $name, before + 1)
                });
                if rng.one_in(8) {
                    std::thread::yield_now();
                }
                inside.fetch_sub(1, Relaxed);
                if rng.one_in(4) {
                    // Keep the permit taken, then give it back by hand.
                    p.forget();
                    let ok = $release(&sem);
                    s.check(ok, || {
                        format!("{}: releasing a forgotten permit failed", $name)
                    });
                }
                s.items(1);
            }
        });
        s.check(sem.available() == permits, || {
            format!(
                "{}: {} permits at the end, not {permits}",
                $name,
                sem.available()
            )
        });
        (s, sem)
    }};
}

fn semaphore(r: &Round, rng: &mut Rng) -> Tally {
    let permits = rng.range(1, 4) as usize;
    let (s, _) = semaphore_round!(
        r,
        rng,
        "Semaphore",
        Semaphore::new(permits),
        permits,
        |sem: &Semaphore| {
            sem.release(1);
            true
        }
    );
    s.tally()
}

fn bounded_semaphore(r: &Round, rng: &mut Rng) -> Tally {
    let permits = rng.range(1, 4) as usize;
    let (s, sem) = semaphore_round!(
        r,
        rng,
        "BoundedSemaphore",
        BoundedSemaphore::new(permits),
        permits,
        |sem: &BoundedSemaphore| sem.release(1).is_ok()
    );
    s.check(sem.release(1).is_err(), || {
        "BoundedSemaphore: a release past the bound succeeded".into()
    });
    s.check(sem.available() == permits, || {
        "BoundedSemaphore: a refused release changed the count".into()
    });
    s.tally()
}

fn event(r: &Round, rng: &mut Rng) -> Tally {
    let s = Shared::default();
    // Generations: each one has fresh waiters and one setter; every waiter must be released.
    while Instant::now() < r.until {
        let ev = Event::new();
        if rng.one_in(2) {
            // A set then a clear before anyone waits: the flag is down again.
            ev.set();
            ev.clear();
            s.check(!ev.is_set(), || "Event: set then clear left it set".into());
        }
        let released = AtomicUsize::new(0);
        let waiters = r.threads.max(2) - 1;
        let delay = Duration::from_micros(rng.range(0, 500));
        spawn(waiters + 1, rng.next(), |i, rng| {
            if i == 0 {
                std::thread::sleep(delay);
                ev.set();
                if rng.one_in(2) {
                    // Setting twice changes nothing.
                    ev.set();
                }
                s.op();
                return;
            }
            match rng.range(0, 3) {
                0 => ev.wait(),
                1 => {
                    while !ev.wait_timeout(short(rng)) {
                        s.op();
                    }
                }
                2 => drop(poll_for(ev.wait_async(), None)),
                _ => {
                    // Async waits cancelled by their timeout until one completes.
                    while poll_for(ev.wait_async(), Some(short(rng))).is_none() {
                        s.op();
                    }
                }
            }
            s.op();
            released.fetch_add(1, Relaxed);
        });
        let n = released.load(Relaxed);
        s.check(n == waiters, || {
            format!("Event: {n} of {waiters} waiters released")
        });
        s.check(ev.is_set(), || "Event: not set after the set".into());
        ev.clear();
        s.check(!ev.wait_timeout(Duration::ZERO), || {
            "Event: set after clear".into()
        });
        s.items(n as u64);
    }
    s.tally()
}

/// A barrier of the round's threads, some waiting as tasks, some with timeouts that break it:
/// whoever finds it broken resets it, and a thread that leaves aborts it so nobody waits for it.
/// Every trip runs the action once, and `parties` parties pass per trip: exactly that many waits
/// succeed, except that a task dropped by its timeout just after its round tripped passed without
/// seeing it.
fn barrier(r: &Round, rng: &mut Rng) -> Tally {
    let s = Shared::default();
    let parties = r.threads.max(2);
    let trips = std::sync::Arc::new(AtomicU64::new(0));
    let t = std::sync::Arc::clone(&trips);
    let b = Barrier::with_action(parties, move || {
        t.fetch_add(1, Relaxed);
    });
    let passed = AtomicU64::new(0);
    let dropped = AtomicU64::new(0);
    let timeouts = rng.one_in(2);
    spawn(parties, rng.next(), |_, rng| {
        loop {
            let got = match rng.range(0, 3) {
                0 => b.wait(),
                1 if timeouts => b.wait_timeout(Duration::from_millis(rng.range(1, 20))),
                1 => b.wait(),
                2 => poll_for(b.wait_async(), None).expect("an unlimited wait ends"),
                // A task whose timeout fires: dropping a waiting party breaks the round.
                _ if timeouts => {
                    let limit = Duration::from_millis(rng.range(1, 20));
                    poll_for(b.wait_async(), Some(limit)).unwrap_or_else(|| {
                        dropped.fetch_add(1, Relaxed);
                        Err(weft_barrier::BrokenBarrierError)
                    })
                }
                _ => poll_for(b.wait_async(), None).expect("an unlimited wait ends"),
            };
            s.op();
            match got {
                Ok(i) => {
                    s.check(i < parties, || {
                        format!("Barrier: arrival index {i} of {parties}")
                    });
                    passed.fetch_add(1, Relaxed);
                }
                Err(_) if Instant::now() < r.until => b.reset(),
                Err(_) => {}
            }
            if Instant::now() >= r.until {
                // Leaving: nobody may wait for this party any more.
                b.abort();
                return;
            }
        }
    });
    let (trips, passed, dropped) = (
        trips.load(Relaxed),
        passed.load(Relaxed),
        dropped.load(Relaxed),
    );
    let due = trips * parties as u64;
    s.check(passed <= due && due <= passed + dropped, || {
        format!(
            "Barrier: {passed} successful waits (and {dropped} dropped) for {trips} trips of {parties}"
        )
    });
    s.items(passed);
    s.tally()
}

/// Items a producer puts: its index in the high bits, a serial in the low ones.
fn item(producer: usize, serial: u64) -> u64 {
    ((producer as u64) << 40) | serial
}

/// Checks that `got` holds every item of `sent` exactly once and nothing else (or, when
/// `subset`, nothing that was not sent, each at most once).
fn exactly_once(s: &Shared, name: &str, mut sent: Vec<u64>, mut got: Vec<u64>, subset: bool) {
    sent.sort_unstable();
    got.sort_unstable();
    let dups = got.windows(2).filter(|w| w[0] == w[1]).count();
    s.lost(dups as u64);
    s.check(dups == 0, || {
        format!("{name}: {dups} item(s) received twice")
    });
    got.dedup();
    let foreign = got
        .iter()
        .filter(|g| sent.binary_search(g).is_err())
        .count();
    s.lost(foreign as u64);
    s.check(foreign == 0, || {
        format!("{name}: {foreign} item(s) received but never sent")
    });
    if !subset {
        let lost = sent.len().saturating_sub(got.len() - foreign);
        s.lost(lost as u64);
        s.check(lost == 0, || format!("{name}: {lost} item(s) lost"));
    }
    s.items(got.len() as u64);
}

fn condition(r: &Round, rng: &mut Rng) -> Tally {
    let s = Shared::default();
    // (items, producers still running)
    let cond = Condition::new((VecDeque::<u64>::new(), 0usize));
    let threads = r.threads.max(2);
    let producers = rng.range(1, threads as u64 - 1) as usize;
    cond.lock().1 = producers;
    let sent = Lock::new(Vec::new());
    let got = Lock::new(Vec::new());
    spawn(threads, r.seed, |i, rng| {
        if i < producers {
            let mut mine = Vec::new();
            let mut serial = 0;
            while Instant::now() < r.until {
                let it = item(i, serial);
                serial += 1;
                let mut g = cond.lock();
                g.0.push_back(it);
                mine.push(it);
                match rng.range(0, 3) {
                    0 => {
                        g.notify(1);
                    }
                    1 => {
                        g.notify_all();
                    }
                    2 => {
                        drop(g);
                        cond.notify(1);
                    }
                    _ => {
                        drop(g);
                        cond.notify_all();
                    }
                }
                s.op();
            }
            let mut g = cond.lock();
            g.1 -= 1;
            g.notify_all();
            drop(g);
            sent.acquire().extend(mine);
        } else {
            let mut mine = Vec::new();
            loop {
                let mut g = cond.lock();
                if rng.one_in(2) {
                    g.wait_for(|st| !st.0.is_empty() || st.1 == 0);
                } else {
                    while !g.wait_for_timeout(|st| !st.0.is_empty() || st.1 == 0, short(rng)) {
                        s.op();
                    }
                }
                s.op();
                match g.0.pop_front() {
                    Some(it) => mine.push(it),
                    None if g.1 == 0 => break,
                    None => s.violation("Condition: woken with the predicate false"),
                }
            }
            got.acquire().extend(mine);
        }
    });
    exactly_once(
        &s,
        "Condition",
        std::mem::take(&mut *sent.acquire()),
        std::mem::take(&mut *got.acquire()),
        false,
    );
    s.tally()
}

/// A round of a task-tracking queue: producers put until the queue is shut down (blocking, timed
/// or non-blocking, retrying a `Full` with the item handed back), consumers get until it reports
/// `ShutDown`, and a controller shuts it down (graceful or immediate) at the round's end. Every
/// item put must come out exactly once (after an immediate shutdown: at most once), each
/// rejected item is handed back, and the task counts settle to zero.
macro_rules! queue_round {
    ($name:expr, $q:expr, $r:expr, $rng:expr) => {{
        let s = Shared::default();
        let q = $q;
        let name: &str = $name;
        let threads = $r.threads.max(2);
        let producers = $rng.range(1, threads as u64 - 1) as usize;
        let immediate = $rng.one_in(3);
        let sent = Lock::new(Vec::new());
        let got = Lock::new(Vec::new());
        spawn(threads + 1, $r.seed, |i, rng| {
            if i == threads {
                // The controller.
                let now = Instant::now();
                if $r.until > now {
                    std::thread::sleep($r.until - now);
                }
                q.shutdown(immediate);
                s.op();
            } else if i < producers {
                let mut mine = Vec::new();
                let mut serial = 0;
                'items: loop {
                    let it = item(i, serial);
                    serial += 1;
                    loop {
                        s.op();
                        let r = match rng.range(0, 4) {
                            0 => q.put(it).map_err(|e| PutError::ShutDown(e.into_inner())),
                            1 => q.try_put(it),
                            2 => q.put_timeout(it, short(rng)),
                            3 => poll_for(q.put_async(it), None)
                                .expect("an unlimited put ends")
                                .map_err(|e| PutError::ShutDown(e.into_inner())),
                            // A task's put dropped by its timeout: the item goes with the
                            // future, never queued, so it is simply tried again.
                            _ => match poll_for(q.put_async(it), Some(short(rng))) {
                                Some(r) => r.map_err(|e| PutError::ShutDown(e.into_inner())),
                                None => Err(PutError::Full(it)),
                            },
                        };
                        match r {
                            Ok(()) => {
                                mine.push(it);
                                break;
                            }
                            Err(e) => {
                                let shut = e.is_shutdown();
                                let back = e.into_inner();
                                s.check(back == it, || {
                                    format!("{name}: a rejected put handed back another item")
                                });
                                if shut {
                                    break 'items;
                                }
                            }
                        }
                    }
                }
                sent.acquire().extend(mine);
            } else {
                let mut mine = Vec::new();
                loop {
                    s.op();
                    let r = match rng.range(0, 4) {
                        0 => q.get().map_err(|_| GetError::ShutDown),
                        1 => q.try_get(),
                        2 => q.get_timeout(short(rng)),
                        3 => poll_for(q.get_async(), None)
                            .expect("an unlimited get ends")
                            .map_err(|_| GetError::ShutDown),
                        // A task's get dropped by its timeout never takes an item.
                        _ => match poll_for(q.get_async(), Some(short(rng))) {
                            Some(r) => r.map_err(|_| GetError::ShutDown),
                            None => Err(GetError::Empty),
                        },
                    };
                    match r {
                        Ok(it) => {
                            mine.push(it);
                            s.check(q.task_done().is_ok(), || {
                                format!("{name}: task_done refused for an item taken")
                            });
                        }
                        Err(e) if e.is_shutdown() => break,
                        Err(_) => {}
                    }
                }
                got.acquire().extend(mine);
            }
        });
        s.check(q.is_empty(), || {
            format!("{name}: items left after the drain")
        });
        s.check(q.unfinished_tasks() == 0, || {
            format!(
                "{name}: {} unfinished tasks at the end",
                q.unfinished_tasks()
            )
        });
        // Returns at once: nothing is unfinished (the watchdog catches a hang).
        q.join();
        s.check(q.put(0).is_err(), || {
            format!("{name}: a put after shutdown succeeded")
        });
        exactly_once(
            &s,
            name,
            std::mem::take(&mut *sent.acquire()),
            std::mem::take(&mut *got.acquire()),
            immediate,
        );
        s.tally()
    }};
}

fn queue_1(r: &Round, rng: &mut Rng) -> Tally {
    queue_round!("Queue(1)", Queue::new(1), r, rng)
}

fn queue_2(r: &Round, rng: &mut Rng) -> Tally {
    queue_round!("Queue(2)", Queue::new(2), r, rng)
}

fn queue_3(r: &Round, rng: &mut Rng) -> Tally {
    queue_round!("Queue(3)", Queue::new(3), r, rng)
}

fn queue_large(r: &Round, rng: &mut Rng) -> Tally {
    if rng.one_in(2) {
        queue_round!("Queue(large)", Queue::new(4096), r, rng)
    } else {
        queue_round!("Queue(large)", Queue::unbounded(), r, rng)
    }
}

fn lifo_queue(r: &Round, rng: &mut Rng) -> Tally {
    let cap = [0, 1, 2, 3, 64][rng.range(0, 4) as usize];
    queue_round!("LifoQueue", LifoQueue::new(cap), r, rng)
}

fn priority_queue(r: &Round, rng: &mut Rng) -> Tally {
    let cap = [0, 1, 2, 3, 64][rng.range(0, 4) as usize];
    queue_round!("PriorityQueue", PriorityQueue::new(cap), r, rng)
}

fn simple_queue(r: &Round, rng: &mut Rng) -> Tally {
    let s = Shared::default();
    let q = SimpleQueue::new();
    let threads = r.threads.max(2);
    let producers = rng.range(1, threads as u64 - 1) as usize;
    let consumers = threads - producers;
    let running = AtomicUsize::new(producers);
    let sent = Lock::new(Vec::new());
    let got = Lock::new(Vec::new());
    spawn(threads, r.seed, |i, rng| {
        if i < producers {
            let mut mine = Vec::new();
            let mut serial = 0;
            while Instant::now() < r.until {
                let it = item(i, serial);
                serial += 1;
                q.put(it);
                mine.push(it);
                s.op();
            }
            sent.acquire().extend(mine);
            if running.fetch_sub(1, Relaxed) == 1 {
                // The last producer tells every consumer to stop.
                for _ in 0..consumers {
                    q.put(u64::MAX);
                }
            }
        } else {
            let mut mine = Vec::new();
            loop {
                s.op();
                let it = match rng.range(0, 2) {
                    0 => Some(q.get()),
                    1 => q.try_get(),
                    _ => q.get_timeout(short(rng)),
                };
                match it {
                    Some(u64::MAX) => break,
                    Some(it) => mine.push(it),
                    None => {}
                }
            }
            got.acquire().extend(mine);
        }
    });
    s.check(q.is_empty(), || "SimpleQueue: items left at the end".into());
    exactly_once(
        &s,
        "SimpleQueue",
        std::mem::take(&mut *sent.acquire()),
        std::mem::take(&mut *got.acquire()),
        false,
    );
    s.tally()
}

/// The promises one completer thread completes, with their indices.
type Share = Lock<Vec<(usize, weft_futures::Promise<u64>)>>;

fn futures(r: &Round, rng: &mut Rng) -> Tally {
    let s = Shared::default();
    while Instant::now() < r.until {
        let n = rng.range(1, 64) as usize;
        let mut promises = Vec::with_capacity(n);
        let mut futures = Vec::with_capacity(n);
        let callbacks = weft_sync::Arc::new(AtomicUsize::new(0));
        for _ in 0..n {
            let (p, f) = promise::<u64>();
            let c = weft_sync::Arc::clone(&callbacks);
            f.add_done_callback(move || {
                c.fetch_add(1, Relaxed);
            });
            promises.push(Some(p));
            futures.push(f);
        }
        let ids: Vec<_> = futures.iter().map(|f| f.id()).collect();
        // Cancel some before the completers start, others while they run.
        for f in &futures {
            if rng.one_in(8) {
                s.check(f.cancel(), || {
                    "futures: cancelling a pending future failed".into()
                });
            }
        }
        let completers = r.threads.clamp(1, 8);
        let shares: Vec<Share> = (0..completers).map(|_| Lock::new(Vec::new())).collect();
        for (i, p) in promises.iter_mut().enumerate() {
            shares[i % completers]
                .acquire()
                .push((i, p.take().expect("once")));
        }
        let completed = AtomicUsize::new(0);
        let mode = rng.range(0, 2);
        let seen = std::thread::scope(|sc| {
            for (t, share) in shares.iter().enumerate() {
                let completed = &completed;
                let s = &s;
                let seed = rng.next() ^ t as u64;
                sc.spawn(move || {
                    let mut rng = Rng::new(seed);
                    for (i, p) in std::mem::take(&mut *share.acquire()) {
                        s.op();
                        if !p.set_running() {
                            // Cancelled first: the promise may not complete it.
                            continue;
                        }
                        if rng.one_in(5) {
                            p.set_error(TaskError::Failed(format!("planned {i}")));
                        } else {
                            p.set_result(i as u64);
                        }
                        completed.fetch_add(1, Relaxed);
                    }
                });
            }
            for f in &futures {
                if rng.one_in(8) {
                    let _ = f.cancel();
                }
            }
            // Collect every future exactly once, three ways.
            let mut seen = Vec::new();
            match mode {
                0 => seen.extend(as_completed(futures)),
                1 => {
                    let mut pending = futures;
                    while !pending.is_empty() {
                        let mut it = as_completed_timeout(pending, short(rng));
                        for r in it.by_ref() {
                            match r {
                                Ok(f) => seen.push(f),
                                Err(_) => break,
                            }
                        }
                        pending = it.into_pending();
                    }
                }
                _ => {
                    let mut pending = futures;
                    while !pending.is_empty() {
                        let w = wait(pending, Some(short(rng)), ReturnWhen::FirstCompleted);
                        seen.extend(w.done);
                        pending = w.not_done;
                    }
                }
            }
            seen
        });
        s.ops(n as u64);
        let mut seen_ids: Vec<_> = seen.iter().map(|f| f.id()).collect();
        seen_ids.sort_unstable();
        let mut want = ids.clone();
        want.sort_unstable();
        s.check(seen_ids == want, || {
            format!(
                "futures: {} of {n} futures yielded, or some twice",
                seen.len()
            )
        });
        let mut cancelled = 0;
        for f in seen {
            s.check(f.done(), || "futures: yielded before done".into());
            let id = f.id();
            let at = ids.iter().position(|x| *x == id).unwrap_or(usize::MAX);
            if f.cancelled() {
                cancelled += 1;
                continue;
            }
            match f.result() {
                Ok(v) => s.check(v as usize == at, || {
                    "futures: a result went to another future".into()
                }),
                Err(TaskError::Failed(m)) => s.check(m == format!("planned {at}"), || {
                    "futures: an error went astray".into()
                }),
                Err(e) => s.violation(&format!("futures: unexpected outcome {e:?}")),
            }
        }
        let done = completed.load(Relaxed);
        s.check(done + cancelled == n, || {
            format!("futures: {done} completed + {cancelled} cancelled of {n}")
        });
        let cb = callbacks.load(Relaxed);
        s.check(cb == n, || {
            format!("futures: {cb} callbacks ran for {n} futures")
        });
        s.items(n as u64);
    }
    s.tally()
}

/// The message of the panics the pool scenario plans (the panic hook keeps them quiet).
pub(crate) const PLANNED: &str = "soak: planned panic";

fn thread_pool(r: &Round, rng: &mut Rng) -> Tally {
    let s = Shared::default();
    let pool = ThreadPoolExecutor::new(rng.range(1, 8) as usize);
    let n = 64 * r.threads;
    let ran: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(0)).collect();
    let ran = weft_sync::Arc::new(ran);
    let submitters = r.threads.min(8);
    let futures = Lock::new(Vec::new());
    spawn(submitters, r.seed, |t, rng| {
        let mut mine = Vec::new();
        for i in (t..n).step_by(submitters) {
            let ran = weft_sync::Arc::clone(&ran);
            let panics = i % 13 == 0;
            let f = pool.submit(move || {
                ran[i].fetch_add(1, Relaxed);
                if panics {
                    std::panic::panic_any(PLANNED);
                }
                i
            });
            s.op();
            if rng.one_in(6) {
                let _ = f.cancel();
            }
            mine.push((i, f));
        }
        futures.acquire().extend(mine);
    });
    // map: ordered, every item once.
    let m = rng.range(0, 200);
    let mut expect = 0u64;
    for v in pool.map(|x: u64| x * 2, 0..m) {
        s.check(v.as_ref().ok() == Some(&(expect * 2)), || {
            format!("ThreadPoolExecutor: map gave {v:?} for item {expect}")
        });
        expect += 1;
    }
    s.check(expect == m, || "ThreadPoolExecutor: map lost items".into());
    s.ops(m);
    let cancel_futures = rng.one_in(2);
    pool.shutdown(rng.one_in(2), cancel_futures);
    s.check(pool.try_submit(|| 0usize).is_err(), || {
        "ThreadPoolExecutor: accepted work after shutdown".into()
    });
    for (i, f) in std::mem::take(&mut *futures.acquire()) {
        f.wait();
        let count = ran[i].load(Relaxed);
        if f.cancelled() {
            s.check(count == 0, || {
                "ThreadPoolExecutor: a cancelled task ran".into()
            });
            continue;
        }
        s.check(count == 1, || {
            format!("ThreadPoolExecutor: task {i} ran {count} times")
        });
        match f.result() {
            Ok(v) => s.check(v == i, || "ThreadPoolExecutor: a result went astray".into()),
            Err(TaskError::Panicked(msg)) => s.check(i % 13 == 0 && msg == PLANNED, || {
                format!("ThreadPoolExecutor: task {i} panicked with {msg:?}")
            }),
            Err(e) => s.violation(&format!("ThreadPoolExecutor: task {i} ended with {e:?}")),
        }
        s.items(1);
    }
    drop(pool);
    s.tally()
}

static PROCESS_POOL: OnceLock<ProcessPoolExecutor> = OnceLock::new();
static PROCESS_POOL_FAILED: AtomicBool = AtomicBool::new(false);

/// Builds the process pool (its one fork of this process) before any other thread exists, and
/// keeps panics planned by the thread pool scenario quiet.
pub(crate) fn process_pool_init() {
    match ProcessPoolExecutor::new(2) {
        Ok(p) => {
            let _ = PROCESS_POOL.set(p);
        }
        Err(e) => {
            eprintln!("VIOLATION: ProcessPoolExecutor::new(2) failed: {e}");
            PROCESS_POOL_FAILED.store(true, Relaxed);
        }
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&PLANNED) {
            default(info);
        }
    }));
}

/// Shuts the process pool down (waiting for its workers).
pub(crate) fn process_pool_finish() {
    if let Some(p) = PROCESS_POOL.get() {
        p.shutdown(true, false);
    }
}

fn square(x: u64) -> u64 {
    x * x
}

fn process_pool(r: &Round, rng: &mut Rng) -> Tally {
    let s = Shared::default();
    let Some(pool) = PROCESS_POOL.get() else {
        if PROCESS_POOL_FAILED.swap(false, Relaxed) {
            s.violation("ProcessPoolExecutor: the pool could not be built");
        }
        return s.tally();
    };
    // Lightly: a few submitters, a few dozen tasks each, some cancelled, and a map.
    spawn(r.threads.min(4), r.seed, |_, rng| {
        let n = rng.range(1, 32);
        let fs: Vec<_> = (0..n).map(|x| (x, pool.submit(square, x))).collect();
        s.ops(n);
        for (x, f) in fs {
            if rng.one_in(8) && f.cancel() {
                s.check(f.cancelled(), || {
                    "ProcessPoolExecutor: cancel did not stick".into()
                });
                continue;
            }
            match f.result() {
                Ok(v) => s.check(v == x * x, || {
                    format!("ProcessPoolExecutor: square({x}) = {v}")
                }),
                Err(e) => s.violation(&format!("ProcessPoolExecutor: square({x}) failed: {e:?}")),
            }
            s.items(1);
        }
    });
    let m = rng.range(0, 100);
    let mut at = 0;
    for v in pool.map(square, 0..m) {
        s.check(v.as_ref().ok() == Some(&(at * at)), || {
            format!("ProcessPoolExecutor: map gave {v:?} for {at}")
        });
        at += 1;
    }
    s.check(at == m, || "ProcessPoolExecutor: map lost items".into());
    s.ops(m);
    s.items(m);
    s.tally()
}
