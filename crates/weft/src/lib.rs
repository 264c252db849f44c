//! Python's concurrency vocabulary for Rust, every primitive in one crate.
//!
//! Each module re-exports one weft crate; depend on that crate alone when it is all you need.
//!
//! | module | crate | Python |
//! |---|---|---|
//! | [`lock`] | `weft-lock` | `threading.Lock`, `threading.RLock` |
//! | [`semaphore`] | `weft-semaphore` | `threading.Semaphore`, `threading.BoundedSemaphore` |
//! | [`event`] | `weft-event` | `threading.Event` |
//! | [`condition`] | `weft-condition` | `threading.Condition` |
//! | [`barrier`] | `weft-barrier` | `threading.Barrier` |
//! | [`queue`] | `weft-queue` | `queue.Queue`, `LifoQueue`, `PriorityQueue`, `SimpleQueue` |
//! | [`futures`] | `weft-futures` | `concurrent.futures.Future`, `as_completed`, `wait` |
//! | [`pool`] | `weft-pool` | `concurrent.futures.ThreadPoolExecutor` |
//! | [`process`] | `weft-process` | `concurrent.futures.ProcessPoolExecutor` |
//! | [`celery`] | `weft-celery` | `celery.Celery` client and worker (Redis, protocol v2, JSON) |

pub use weft_barrier as barrier;
pub use weft_celery as celery;
pub use weft_condition as condition;
pub use weft_event as event;
pub use weft_futures as futures;
pub use weft_lock as lock;
pub use weft_pool as pool;
pub use weft_process as process;
pub use weft_queue as queue;
pub use weft_semaphore as semaphore;
