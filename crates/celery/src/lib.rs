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
//! | `@app.task(name=...)` + `celery worker -c n -Q q` | [`WorkerBuilder::register_fn`], [`WorkerBuilder::concurrency`], [`WorkerBuilder::queue`] |
//! | `acks_late=True` | always (see [`Worker`]) |
//!
//! See `docs/celery.md` for the wire format and the delivery guarantees.
//!
//! # Examples
//!
//! ```no_run
//! use weft_celery::Celery;
//! use weft_futures::as_completed;
//!
//! let app = Celery::connect("redis://127.0.0.1:6379/0")?;
//! let worker = app.worker().register_fn("weft.square", |x: u64| x * x).concurrency(4).build()?;
//! let handle = worker.spawn();
//!
//! let ex = app.executor();
//! let futures: Vec<_> = (0..10u64).map(|x| ex.submit_named::<u64>("weft.square", x)).collect();
//! let total: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
//! assert_eq!(total, 285);
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

/// A task declared once, by type: the name a Celery worker knows it by, and its serde
/// argument and result types. Used by [`CeleryExecutor::submit_task`] and
/// [`WorkerBuilder::register_task`].
///
/// This is the Celery-side subset of the `Task` trait that `weft-futures` shares between
/// every executor (which also carries the body); a type implementing that trait can
/// implement this one by forwarding its three items.
///
/// # Examples
///
/// ```
/// use weft_celery::TaskSpec;
///
/// struct Add;
/// impl TaskSpec for Add {
///     const NAME: &'static str = "tasks.add";
///     type Args = (i64, i64);
///     type Output = i64;
/// }
/// assert_eq!(Add::NAME, "tasks.add");
/// ```
pub trait TaskSpec: 'static {
    /// The task's name, as registered in the worker (Python: `@app.task(name=...)`).
    const NAME: &'static str;
    /// The positional arguments (a tuple for several).
    type Args: serde::Serialize + serde::de::DeserializeOwned + Send + 'static;
    /// The return value.
    type Output: serde::Serialize + serde::de::DeserializeOwned + Send + 'static;
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Celery>();
    send_sync::<CeleryExecutor>();
    send_sync::<CeleryError>();
};
