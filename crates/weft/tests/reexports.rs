//! The facade re-exports every weft crate: each module names its crate's main types, and each
//! works when reached through `weft::`.

use std::time::Duration;

use weft::barrier::{Barrier, BrokenBarrierError};
use weft::celery::{
    Celery, CeleryBuilder, CeleryError, CeleryExecutor, Worker, WorkerBuilder, WorkerHandle,
};
use weft::condition::{Condition, ConditionGuard};
use weft::event::Event;
use weft::futures::{
    AsCompleted, Future, FutureId, MapOptions, Promise, ReturnWhen, TaskError, Waited,
    as_completed, promise, wait,
};
use weft::lock::{Lock, LockGuard, RLock, RLockGuard};
use weft::pool::{Rejected, ThreadPoolExecutor};
use weft::process::ProcessPoolExecutor;
use weft::queue::{
    GetError, LifoQueue, PriorityQueue, PutError, Queue, ShutDown, SimpleQueue, TaskDoneError,
};
use weft::semaphore::{BoundedSemaphore, BoundedSemaphoreError, Permit, Semaphore};

// The shared types are shareable through the facade too.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Lock<u64>>();
    send_sync::<Celery>();
    send_sync::<CeleryExecutor>();
    send_sync::<RLock<u64>>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<Event>();
    send_sync::<Barrier>();
    send_sync::<BrokenBarrierError>();
    send_sync::<Condition<Vec<u8>>>();
    send_sync::<Queue<u8>>();
    send_sync::<LifoQueue<u8>>();
    send_sync::<PriorityQueue<u8>>();
    send_sync::<SimpleQueue<u8>>();
    send_sync::<Future<u8>>();
    send_sync::<TaskError>();
    send_sync::<ThreadPoolExecutor>();
};

#[test]
fn lock() {
    let lock = Lock::new(1u64);
    {
        let mut guard: LockGuard<'_, u64> = lock.acquire();
        *guard += 1;
    }
    assert!(!lock.locked());
    assert_eq!(lock.into_inner(), 2);

    let rlock = RLock::new(5u8);
    let outer: RLockGuard<'_, u8> = rlock.acquire();
    let inner = rlock.acquire();
    assert_eq!(*outer + *inner, 10);
}

#[test]
fn semaphore() {
    let sem = Semaphore::new(2);
    let permit: Permit<'_> = sem.acquire();
    assert_eq!(sem.available(), 1);
    drop(permit);
    assert_eq!(sem.available(), 2);

    let bounded = BoundedSemaphore::new(1);
    let err: BoundedSemaphoreError = bounded.release(1).unwrap_err();
    assert!(!err.to_string().is_empty());
}

#[test]
fn event() {
    let ev = Event::new();
    assert!(!ev.wait_timeout(Duration::ZERO));
    ev.set();
    assert!(ev.is_set());
}

#[test]
fn condition() {
    let cond = Condition::new(vec![1u8]);
    let mut guard: ConditionGuard<'_, Vec<u8>> = cond.lock();
    guard.wait_for(|v: &Vec<u8>| !v.is_empty());
    assert_eq!(guard.pop(), Some(1));
}

#[test]
fn queue() {
    let q = Queue::new(1);
    q.put(7u8).unwrap();
    assert!(matches!(q.try_put(8), Err(PutError::Full(8))));
    assert_eq!(q.get().unwrap(), 7);
    assert!(matches!(q.try_get(), Err(GetError::Empty)));
    q.shutdown(false);
    assert!(matches!(q.put(9), Err(ShutDown(9))));

    let lifo = LifoQueue::new(0);
    lifo.put(1u8).unwrap();
    lifo.put(2).unwrap();
    assert_eq!(lifo.get().unwrap(), 2);

    let pq = PriorityQueue::new(0);
    pq.put(3u8).unwrap();
    pq.put(1).unwrap();
    assert_eq!(pq.get().unwrap(), 1);

    let done: Result<(), TaskDoneError> = pq.task_done();
    assert!(done.is_ok());

    let sq = SimpleQueue::new();
    sq.put(4u8);
    assert_eq!(sq.get(), 4);
}

#[test]
fn futures() {
    let (p, f): (Promise<u8>, Future<u8>) = promise();
    let id: FutureId = f.id();
    p.set_result(3);
    let Waited { done, not_done } = wait(vec![f], None, ReturnWhen::AllCompleted);
    assert!(not_done.is_empty());
    assert_eq!(done[0].id(), id);

    let (p, f) = promise::<u8>();
    drop(p);
    let mut it: AsCompleted<u8> = as_completed(vec![f]);
    let f = it.next().unwrap();
    assert!(matches!(f.result(), Err(TaskError::Abandoned)));
}

#[test]
fn pool() {
    let pool = ThreadPoolExecutor::new(2);
    assert_eq!(pool.submit(|| 6 * 7).result().unwrap(), 42);
    let doubled: Vec<u32> = pool
        .map_with(|x: u32| x * 2, 0..4, MapOptions::default().buffersize(2))
        .map(Result::unwrap)
        .collect();
    assert_eq!(doubled, [0, 2, 4, 6]);

    pool.shutdown(true, false);
    let rejected: Rejected<_> = pool.try_submit(|| 1).unwrap_err();
    assert_eq!((rejected.into_inner())(), 1);
}

#[test]
fn process() {
    // Zero workers is refused before anything is forked.
    assert!(
        ProcessPoolExecutor::builder()
            .max_workers(0)
            .build()
            .is_err()
    );
}

#[cfg(feature = "async")]
#[test]
fn future_is_awaitable() {
    fn into_future<F: std::future::IntoFuture<Output = Result<u8, TaskError>>>(f: F) -> F {
        f
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (p, f) = promise::<u8>();
    p.set_result(9);
    assert_eq!(rt.block_on(async { into_future(f).await }).unwrap(), 9);
}

#[test]
fn celery_is_reachable_through_the_facade() {
    fn declared<T: weft::futures::Task>() -> &'static str {
        T::NAME
    }
    weft::futures::task! {
        struct Add = "tasks.add";
        fn run((a, b): (i64, i64)) -> i64 { a + b }
    }
    assert_eq!(declared::<Add>(), "tasks.add");
    // A task declared once registers on a Celery worker as it is.
    fn registers<T: weft::futures::Task>(b: WorkerBuilder) -> WorkerBuilder {
        b.register_task::<T>()
    }
    let _ = registers::<Add>;
    // And the Celery executor is an `Executor`.
    fn executor<E: weft::futures::Executor>() {}
    executor::<CeleryExecutor>();
    let connect: fn(&str) -> Result<Celery, CeleryError> = Celery::connect;
    assert!(matches!(
        connect("http://nowhere"),
        Err(CeleryError::InvalidUrl(_))
    ));
    let _ = std::mem::size_of::<(CeleryBuilder, Worker, WorkerBuilder, WorkerHandle)>();
}

#[test]
fn barrier() {
    let b = std::sync::Arc::new(Barrier::new(2));
    let b2 = std::sync::Arc::clone(&b);
    let t = std::thread::spawn(move || b2.wait());
    let mine = b.wait().unwrap();
    assert_eq!(mine + t.join().unwrap().unwrap(), 1);
    assert_eq!(
        b.wait_timeout(Duration::from_millis(1)),
        Err(BrokenBarrierError)
    );
    assert!(b.broken());
}
