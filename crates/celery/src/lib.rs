//! A Celery client and a Celery worker for Rust: Celery's message protocol version 2 with the
//! JSON serializer, over Redis as broker (kombu's Redis transport) and result backend, so
//! weft and Python Celery interoperate in both directions.
//!
//! | Python Celery | weft |
//! |---|---|
//! | `app = Celery(broker=url, backend=url)` | [`Celery::connect`] / [`Celery::builder`] |
//! | `broker_transport_options={'visibility_timeout': t}` | [`CeleryBuilder::visibility_timeout`] |
//! | `app.send_task(name, args)` / `task.apply_async(args, queue=q)` | [`CeleryExecutor::submit_named`], [`CeleryExecutor::queue`] |
//! | `AsyncResult.get()` | [`weft_futures::Future::result`] |
//! | `AsyncResult.revoke()` / `app.control.revoke(id)` | [`weft_futures::Future::cancel`] / [`Celery::revoke`] |
//! | `@app.task(name=...)` + `celery worker -c n -Q q` | [`WorkerBuilder::register_task`] (a [`weft_futures::Task`]) or [`WorkerBuilder::register_fn`], [`WorkerBuilder::concurrency`], [`WorkerBuilder::queue`] |
//! | `add.delay(2, 3)` / `executor.map(add, items)` | [`weft_futures::Executor::submit`] / [`weft_futures::Executor::map`] on a [`CeleryExecutor`] |
//! | `acks_late=True` | always (see [`Worker`]) |
//!
//! See `docs/celery.md` for the wire format and the delivery guarantees.
//!
//! # Examples
//!
//! A task declared once with [`weft_futures::task!`] runs unchanged on threads, on forked
//! processes, or here on Celery workers:
//!
//! ```no_run
//! use weft_celery::Celery;
//! use weft_futures::{Executor, as_completed, task};
//!
//! task! {
//!     pub struct Square = "weft.square";
//!     fn run(x: u64) -> u64 { x * x }
//! }
//!
//! let app = Celery::connect("redis://127.0.0.1:6379/0")?;
//! let worker = app.worker().register_task::<Square>().concurrency(4).build()?;
//! let handle = worker.spawn();
//!
//! let ex = app.executor();
//! let futures: Vec<_> = (0..10u64).map(|x| ex.submit::<Square>(x)).collect();
//! let total: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
//! assert_eq!(total, 285);
//! let squares: Vec<u64> = ex.map::<Square, _>(0..4).map(Result::unwrap).collect();
//! assert_eq!(squares, [0, 1, 4, 9]);
//!
//! // Any task by name, e.g. one a Python worker defines.
//! let sum = ex.submit_named::<i64>("tasks.add", (2, 3));
//! handle.stop();
//! # Ok::<(), weft_celery::CeleryError>(())
//! ```

mod client;
mod conn;
mod error;
#[doc(hidden)]
pub mod mailbox;
mod protocol;
mod restore;
mod worker;

pub use crate::{
    client::{Celery, CeleryBuilder, CeleryExecutor},
    error::CeleryError,
    worker::{Worker, WorkerBuilder, WorkerHandle},
};

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Celery>();
    send_sync::<CeleryExecutor>();
    send_sync::<CeleryError>();
};
