//! The public API contract, snippet by snippet: every name and shape the contract fixes, used
//! the way it is written there, through the facade. A rename or a changed signature fails here.

use std::time::{Duration, Instant};

use weft::{
    condition::Condition,
    event::Event,
    futures::{
        MapOptions, ReturnWhen, TaskError, Waited, as_completed, as_completed_timeout, promise,
        wait,
    },
    lock::{Lock, RLock},
    pool::ThreadPoolExecutor,
    queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, ShutDown, SimpleQueue},
    semaphore::{BoundedSemaphore, Semaphore},
};

const SHORT: Duration = Duration::from_millis(20);

#[test]
fn lock_contract() {
    let lock = Lock::new(0u64);
    {
        let mut g = lock.acquire();
        *g += 1;
        assert!(lock.locked());
        assert!(lock.try_acquire().is_none());
        let start = Instant::now();
        assert!(lock.acquire_timeout(SHORT).is_none());
        assert!(start.elapsed() >= SHORT);
    }
    let bare: Lock = Lock::default();
    drop(bare.acquire());
    let _unit = Lock::new(());
    let mut lock = lock;
    *lock.get_mut() += 1;
    assert_eq!(lock.into_inner(), 2);

    let r = RLock::new(7u8);
    let a = r.acquire();
    let b = r.try_acquire().expect("reentrant");
    let c = r.acquire_timeout(Duration::MAX).expect("reentrant");
    assert!(r.is_owned() && r.locked());
    assert_eq!(*a + *b + *c, 21);
    drop((a, b, c));
    assert!(!r.locked());
}

#[test]
fn semaphore_contract() {
    let sem = Semaphore::new(2);
    let p = sem.acquire();
    assert!(sem.try_acquire().is_some());
    assert_eq!(sem.available(), 1);
    p.forget();
    assert_eq!(sem.available(), 1);
    sem.release(1);
    assert_eq!(sem.available(), 2);
    assert!(sem.acquire_timeout(SHORT).is_some());

    let b = BoundedSemaphore::new(2);
    assert!(b.release(1).is_err());
    let p = b.acquire();
    drop(p);
    assert!(b.try_acquire().is_some());
    assert!(b.acquire_timeout(SHORT).is_some());
}

#[test]
fn event_contract() {
    let ev = Event::new();
    assert!(!ev.is_set());
    let start = Instant::now();
    assert!(!ev.wait_timeout(SHORT));
    assert!(start.elapsed() >= SHORT);
    ev.set();
    ev.wait();
    assert!(ev.wait_timeout(SHORT));
    ev.clear();
    assert!(!ev.is_set());
}

#[test]
fn condition_contract() {
    let cond = Condition::new(Vec::new());
    let mut g = cond.lock();
    g.push(1u8);
    assert!(cond.try_lock().is_none());
    assert!(!g.wait_timeout(SHORT));
    g.wait_for(|v: &Vec<u8>| !v.is_empty());
    assert!(g.wait_for_timeout(|v| !v.is_empty(), SHORT));
    g.notify(1);
    g.notify_all();
    drop(g);
    cond.notify(2);
    cond.notify_all();
}

#[test]
fn queue_contract() -> Result<(), ShutDown<i32>> {
    let q = Queue::new(1);
    q.put(1)?;
    assert!(q.is_full() && !q.is_empty() && q.len() == 1 && q.maxsize() == 1);
    assert!(matches!(q.try_put(2), Err(PutError::Full(2))));
    assert!(matches!(q.put_timeout(3, SHORT), Err(PutError::Full(3))));
    assert_eq!(q.get(), Ok(1));
    assert!(matches!(q.try_get(), Err(GetError::Empty)));
    assert!(matches!(q.get_timeout(SHORT), Err(GetError::Empty)));
    q.task_done().expect("one item was put");
    assert!(q.task_done().is_err());
    q.join();
    q.shutdown(false);
    assert_eq!(q.put(4).map_err(ShutDown::into_inner), Err(4));
    assert!(matches!(q.get(), Err(ShutDown(()))));
    assert!(matches!(q.try_put(5), Err(PutError::ShutDown(5))));

    let unbounded: Queue<i32> = Queue::unbounded();
    assert_eq!(unbounded.maxsize(), 0);
    let zero: Queue<i32> = Queue::new(0);
    assert!(!zero.is_full());

    let lifo = LifoQueue::new(0);
    lifo.put(1)?;
    lifo.put(2)?;
    assert_eq!(lifo.get(), Ok(2));
    let prio = PriorityQueue::new(0);
    prio.put(3)?;
    prio.put(1)?;
    assert_eq!(prio.try_get().ok(), Some(1));

    let s = SimpleQueue::new();
    s.put(9);
    assert_eq!(s.len(), 1);
    assert_eq!(s.get(), 9);
    assert_eq!(s.try_get(), None);
    assert_eq!(s.get_timeout(SHORT), None);
    assert!(s.is_empty());
    Ok(())
}

#[test]
fn futures_contract() {
    let (first, future) = promise::<u32>();
    assert!(!future.done() && !future.running() && !future.cancelled());
    assert!(first.set_running());
    assert!(future.running());
    assert!(!future.cancel());
    let id = future.id();
    let ran = std::sync::Arc::new(weft_sync_free_flag());
    let flag = ran.clone();
    future.add_done_callback(move || flag.set());
    first.set_result(5);
    assert!(ran.get());
    assert!(future.done());
    future.wait();
    assert!(future.wait_timeout(SHORT));
    assert_eq!(future.result(), Ok(5));

    let (p, f) = promise::<u32>();
    assert!(f.cancel() && f.cancel() && f.cancelled() && f.done());
    assert!(!p.set_running());
    assert_eq!(f.result(), Err(TaskError::Cancelled));

    let (p, f) = promise::<u32>();
    drop(p);
    assert_eq!(f.result(), Err(TaskError::Abandoned));

    let (p, f) = promise::<u32>();
    p.set_error(TaskError::Panicked("boom".into()));
    assert_eq!(f.result().unwrap_err().panic_message(), Some("boom"));

    let (p1, f1) = promise::<u32>();
    let (_p2, f2) = promise::<u32>();
    assert_ne!(f1.id(), f2.id());
    assert_ne!(id, f1.id());
    p1.set_result(1);
    let done: Vec<u32> = as_completed(vec![f1])
        .map(|f| f.result().unwrap())
        .collect();
    assert_eq!(done, vec![1]);
    let mut it = as_completed_timeout(vec![f2], SHORT);
    assert!(it.next().expect("a timeout").is_err());
    assert_eq!(it.into_pending().len(), 1);

    let (p3, f3) = promise::<u32>();
    let (_p4, f4) = promise::<u32>();
    p3.set_result(3);
    let Waited { done, not_done } = wait(vec![f3, f4], Some(SHORT), ReturnWhen::FirstCompleted);
    assert_eq!((done.len(), not_done.len()), (1, 1));
    let _ = (ReturnWhen::FirstException, ReturnWhen::AllCompleted);
    let _ = MapOptions::default().buffersize(4).chunksize(2);
}

#[test]
fn pool_contract() -> Result<(), Box<dyn std::error::Error>> {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("contract")
        .initializer(|| ())
        .build()?;
    assert!(
        ThreadPoolExecutor::builder()
            .max_workers(0)
            .build()
            .is_err()
    );
    let f = pool.submit(move || 6 * 7);
    assert_eq!(f.result(), Ok(42));
    let doubled: Vec<i32> = pool.map(|x| x * 2, 0..5).map(Result::unwrap).collect();
    assert_eq!(doubled, vec![0, 2, 4, 6, 8]);
    let opts = MapOptions::default().buffersize(4).chunksize(2);
    let n = pool
        .map_with(|x: u32| x + 1, 0..100, opts)
        .filter(Result::is_ok)
        .count();
    assert_eq!(n, 100);
    let p = pool.submit(|| panic!("inside a task"));
    assert!(matches!(p.result(), Err(TaskError::Panicked(m)) if m == "inside a task"));
    pool.shutdown(true, false);
    let job = || 1;
    let Err(rejected) = pool.try_submit(job) else {
        panic!("a shut-down pool accepted a job");
    };
    assert_eq!((rejected.into_inner())(), 1);
    Ok(())
}

/// A completion flag that needs nothing from the crates under test.
fn weft_sync_free_flag() -> Flag {
    Flag(std::sync::atomic::AtomicBool::new(false))
}

struct Flag(std::sync::atomic::AtomicBool);

impl Flag {
    fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
