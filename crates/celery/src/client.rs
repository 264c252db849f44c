//! The Celery app: a connection to the broker and the result backend, the results listener,
//! and the executor that sends tasks.

use std::{collections::HashMap, fmt, time::Duration};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use weft_condition::Condition;
use weft_event::Event;
use weft_futures::{
    Chunk, Executor, Future, Map, MapOptions, MapSubmit, Promise, Rejected, Submitted, Task,
    TaskError, promise,
};
// The client and the worker are driven by the network, which loom cannot model; their
// in-process hand-off is modelled on its own (`mailbox.rs`, `tests/loom.rs`). They need what
// loom's `Arc` lacks (`Weak`, unsized coercion to trait objects), so they use std's.
use std::sync::Arc;
use weft_sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
    thread,
};

use crate::{
    CeleryError, WorkerBuilder,
    conn::{Endpoint, is_connection_error},
    mailbox::Mailbox,
    protocol::{self, Meta},
    restore,
};

/// kombu's default visibility timeout: one hour.
const DEFAULT_VISIBILITY: Duration = Duration::from_secs(3600);
/// How long a submission keeps retrying while Redis is unreachable before it fails its future.
const SEND_BUDGET: Duration = Duration::from_secs(30);
/// How long the results listener blocks in one read (so it notices a shutdown).
const LISTEN_TICK: Duration = Duration::from_millis(500);
/// How many finished channels the listener collects before unsubscribing them in one command.
const UNSUBSCRIBE_BATCH: usize = 512;
/// The most keys read by one `MGET`.
const MGET_CHUNK: usize = 512;
/// How many tasks a [`CeleryExecutor`]'s `map` keeps submitted and not yet consumed when
/// [`MapOptions::buffersize`] is not set.
const DEFAULT_MAP_BUFFER: usize = 64;

/// A Celery application bound to one Redis server, used as broker and result backend:
/// Python's `Celery(broker=url, backend=url)`.
///
/// Cloning is cheap and shares the connections and the results listener. The app makes
/// [`CeleryExecutor`]s (to send tasks) and [`WorkerBuilder`]s (to run them).
///
/// # Examples
///
/// ```no_run
/// use weft_celery::Celery;
///
/// let app = Celery::connect("redis://:secret@127.0.0.1:6379/0")?;
/// let ex = app.executor();
/// let sum = ex.submit_named::<i64>("tasks.add", (2, 3));
/// assert_eq!(sum.result()?, 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Celery {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) endpoint: Endpoint,
    pub(crate) visibility_timeout: Duration,
    producer: Mutex<Option<redis::Connection>>,
    results: Arc<Results>,
    origin: String,
    reply_to: String,
}

/// What the submitting threads and the results listener share.
struct Results {
    /// Every task whose result is awaited, by task id.
    pending: Mutex<HashMap<String, Box<dyn Slot>>>,
    /// Task ids whose channels the listener must subscribe to.
    to_subscribe: Mailbox,
    /// Task ids whose channels the listener may unsubscribe from.
    to_unsubscribe: Mutex<Vec<String>>,
    /// The listener's private channel: a message there only wakes it.
    wake_channel: String,
    stop: Event,
}

/// A pending remote result: completes a typed [`Promise`] from a JSON outcome.
trait Slot: Send {
    fn finish(self: Box<Self>, outcome: Result<Value, TaskError>);
    fn revoked(self: Box<Self>);
    fn started(&self);
    fn executor(&self) -> &Arc<ExecState>;
}

struct Typed<R> {
    promise: Option<Promise<R>>,
    /// Set before this side completes the future, so the done-callback can tell a local
    /// `cancel()` (not set) from a result (set).
    settled: Arc<AtomicBool>,
    exec: Arc<ExecState>,
}

impl<R: DeserializeOwned + Send + 'static> Slot for Typed<R> {
    fn finish(mut self: Box<Self>, outcome: Result<Value, TaskError>) {
        self.settled.store(true, Ordering::SeqCst);
        if let Some(p) = self.promise.take() {
            p.complete(outcome.and_then(|v| {
                serde_json::from_value(v).map_err(|e| {
                    TaskError::Failed(format!(
                        "the result does not decode as {}: {e}",
                        std::any::type_name::<R>()
                    ))
                })
            }));
        }
    }

    fn revoked(mut self: Box<Self>) {
        self.settled.store(true, Ordering::SeqCst);
        if let Some(p) = self.promise.take() {
            p.cancel();
        }
    }

    fn started(&self) {
        if let Some(p) = &self.promise {
            p.set_running();
        }
    }

    fn executor(&self) -> &Arc<ExecState> {
        &self.exec
    }
}

impl<R> Drop for Typed<R> {
    fn drop(&mut self) {
        // A promise dropped here (the app is gone) completes its future with `Abandoned`;
        // that is not a local cancel, so no revoke goes out.
        self.settled.store(true, Ordering::SeqCst);
        self.promise = None;
        self.exec.release();
    }
}

/// One executor's bookkeeping: open or shut down, and how many of its futures are pending.
pub(crate) struct ExecState {
    open: AtomicBool,
    outstanding: Condition<usize>,
}

impl ExecState {
    /// Counts one more pending future, unless the executor is shut down. Under the lock that
    /// `close` takes too, so a `shutdown(wait)` never misses a task admitted concurrently.
    fn admit(&self) -> bool {
        let mut n = self.outstanding.lock();
        if !self.open.load(Ordering::SeqCst) {
            return false;
        }
        *n += 1;
        true
    }

    /// One pending future is done.
    fn release(&self) {
        let mut n = self.outstanding.lock();
        *n -= 1;
        if *n == 0 {
            n.notify_all();
        }
    }

    /// Stops admitting.
    fn close(&self) {
        let _n = self.outstanding.lock();
        self.open.store(false, Ordering::SeqCst);
    }
}

/// Configures a [`Celery`] app: Python's `Celery(...)` keyword arguments and
/// `broker_transport_options`.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use weft_celery::Celery;
///
/// let app = Celery::builder("redis://127.0.0.1:6379/0")
///     .visibility_timeout(Duration::from_secs(60))
///     .build()?;
/// # Ok::<(), weft_celery::CeleryError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct CeleryBuilder {
    url: String,
    visibility_timeout: Duration,
}

impl CeleryBuilder {
    /// How long a delivered task may stay unacknowledged before workers put it back on its
    /// queue (kombu's `visibility_timeout` transport option; default one hour). A task that
    /// runs longer than this is delivered again while it still runs, as with kombu.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// Connects to Redis and starts the results listener (one connection and one thread
    /// for every future of this app).
    ///
    /// # Errors
    /// [`CeleryError::InvalidUrl`] for a URL that is not `redis://…`;
    /// [`CeleryError::Connect`] when Redis cannot be reached or refuses the credentials.
    pub fn build(self) -> Result<Celery, CeleryError> {
        let endpoint = Endpoint::parse(&self.url)?;
        let mut producer = endpoint
            .connect()
            .map_err(|e| CeleryError::Connect(e.to_string()))?;
        redis::cmd("PING")
            .query::<String>(&mut producer)
            .map_err(|e| CeleryError::Connect(e.to_string()))?;
        let results = Arc::new(Results {
            pending: Mutex::new(HashMap::new()),
            to_subscribe: Mailbox::new(),
            to_unsubscribe: Mutex::new(Vec::new()),
            wake_channel: format!("weft-celery-wake-{}", protocol::uuid4()),
            stop: Event::new(),
        });
        let listener = Listener {
            endpoint: endpoint.clone(),
            results: results.clone(),
            visibility_timeout: self.visibility_timeout,
        };
        thread::Builder::new()
            .name("weft-celery-results".into())
            .spawn(move || listener.run())
            .map_err(|e| CeleryError::Connect(format!("cannot start the listener: {e}")))?;
        Ok(Celery {
            inner: Arc::new(Inner {
                endpoint,
                visibility_timeout: self.visibility_timeout,
                producer: Mutex::new(Some(producer)),
                results,
                origin: format!("weft-{}@{}", std::process::id(), hostname()),
                reply_to: protocol::uuid4(),
            }),
        })
    }
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Celery {
    /// Connects to the Redis server at `url` (`redis://[[user]:password@]host[:port][/db]`),
    /// with the default options. Python's `Celery(broker=url, backend=url)`.
    ///
    /// # Errors
    /// As [`CeleryBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    pub fn connect(url: &str) -> Result<Self, CeleryError> {
        Self::builder(url).build()
    }

    /// A builder for an app with options (see [`CeleryBuilder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = weft_celery::Celery::builder("redis://127.0.0.1:6379/0");
    /// ```
    pub fn builder(url: &str) -> CeleryBuilder {
        CeleryBuilder {
            url: url.to_owned(),
            visibility_timeout: DEFAULT_VISIBILITY,
        }
    }

    /// An executor that sends tasks to the default queue, `celery`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let fast = app.executor().queue("fast");
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    #[must_use]
    pub fn executor(&self) -> CeleryExecutor {
        CeleryExecutor {
            app: self.clone(),
            queue: "celery".to_owned(),
            state: Arc::new(ExecState {
                open: AtomicBool::new(true),
                outstanding: Condition::new(0),
            }),
        }
    }

    /// A builder for a worker that runs tasks registered by name (see [`WorkerBuilder`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let worker = app.worker().register_fn("weft.neg", |x: i64| -x).build()?;
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    pub fn worker(&self) -> WorkerBuilder {
        WorkerBuilder::new(self.clone())
    }

    /// Puts back on their queues the tasks that stayed unacknowledged longer than the
    /// visibility timeout (kombu's `restore_visible`); returns how many. Workers do this on
    /// their own; the app's results listener does it too, about every visibility timeout.
    ///
    /// # Errors
    /// The Redis error, if Redis could not be reached.
    pub fn restore_unacked(&self) -> Result<usize, CeleryError> {
        let mut conn = self.inner.producer.lock();
        self.inner
            .endpoint
            .with_retry(&mut conn, Duration::ZERO, |c| {
                restore::restore_visible(c, self.inner.visibility_timeout)
            })
            .map_err(|e| CeleryError::Connect(e.to_string()))
    }

    /// Broadcasts Celery's `revoke` control command for `task_id` (Python's
    /// `app.control.revoke(task_id)`): workers skip the task and report it `REVOKED`. A task
    /// a worker has already started runs to its end.
    ///
    /// # Errors
    /// The Redis error, if Redis could not be reached within the retry budget.
    pub fn revoke(&self, task_id: &str) -> Result<(), CeleryError> {
        self.broadcast_revoke(&[task_id], SEND_BUDGET)
    }

    /// One `revoke` broadcast for every id in `ids`, retrying for up to `budget`.
    fn broadcast_revoke(&self, ids: &[&str], budget: Duration) -> Result<(), CeleryError> {
        let msg = protocol::revoke_broadcast(ids);
        let channel = protocol::pidbox_channel(self.inner.endpoint.db);
        let mut conn = self.inner.producer.lock();
        self.inner
            .endpoint
            .with_retry(&mut conn, budget, |c| {
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&msg)
                    .query::<i64>(c)
            })
            .map(drop)
            .map_err(|e| CeleryError::Connect(e.to_string()))
    }

    /// How many remote results this app still waits for.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// assert_eq!(app.pending(), 0);
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    #[must_use]
    pub fn pending(&self) -> usize {
        self.inner.results.pending.lock().len()
    }

    /// A future of this app was cancelled by its holder: forget it, take its message off its
    /// queue if no worker has taken it yet, and broadcast a revoke for a worker that has.
    fn cancelled_locally(&self, task_id: &str, queued: &Queued) {
        let slot = self.inner.results.pending.lock().remove(task_id);
        if slot.is_none() {
            return;
        }
        drop(slot);
        self.inner
            .results
            .to_unsubscribe
            .lock()
            .push(task_id.to_owned());
        let revoke = protocol::revoke_broadcast(&[task_id]);
        let channel = protocol::pidbox_channel(self.inner.endpoint.db);
        let meta_key = protocol::meta_key(task_id);
        let revoked = protocol::meta(
            task_id,
            "REVOKED",
            &protocol::exception("TaskRevokedError", Some("celery.exceptions"), "revoked"),
            None,
        );
        let mut conn = self.inner.producer.lock();
        // Best effort, as Celery's `revoke`, and one attempt only, so that `cancel()` does not
        // block while Redis is down: the future is cancelled either way. A message still
        // queued is taken off its queue, in one step with storing the `REVOKED` state a
        // worker would have stored on meeting it (so that anyone else waiting on the task id
        // learns of it): no worker can take it any more, so it never runs. One a worker
        // already took is skipped there on the revoke broadcast, unless it has started.
        let _ = self
            .inner
            .endpoint
            .with_retry(&mut conn, Duration::ZERO, |c| {
                redis::pipe()
                    .cmd("EVAL")
                    .arg(DEQUEUE_REVOKED)
                    .arg(2)
                    .arg(&queued.key)
                    .arg(&meta_key)
                    .arg(&queued.message)
                    .arg(crate::worker::RESULT_EXPIRES_SECS)
                    .arg(&revoked)
                    .ignore()
                    .cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&revoke)
                    .ignore()
                    .query::<()>(c)
            });
    }
}

/// Takes a message (`ARGV[1]`) off its queue (`KEYS[1]`) and, if it was there, stores and
/// publishes the task's `REVOKED` state (`ARGV[3]`, kept `ARGV[2]` seconds) under its result
/// key (`KEYS[2]`), as Celery's Redis backend stores a state. Atomic: no worker takes the
/// message in between.
const DEQUEUE_REVOKED: &str = r"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
    redis.call('SETEX', KEYS[2], ARGV[2], ARGV[3])
    redis.call('PUBLISH', KEYS[2], ARGV[3])
end
return 0
";

/// Where a sent task's message waits for a worker: its queue's list and the message itself.
struct Queued {
    key: String,
    message: String,
}

impl fmt::Debug for Celery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Celery")
            .field("db", &self.inner.endpoint.db)
            .field("visibility_timeout", &self.inner.visibility_timeout)
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.results.stop.set();
        if let Some(c) = self.producer.lock().as_mut() {
            let _ = redis::cmd("PUBLISH")
                .arg(&self.results.wake_channel)
                .arg("")
                .query::<i64>(c);
        }
    }
}

/// Sends tasks to Celery workers (Python or weft) and returns weft [`Future`]s: the
/// `concurrent.futures.Executor` face of a Celery app.
///
/// Made by [`Celery::executor`]; [`CeleryExecutor::queue`] routes to another queue. Results
/// arrive through the result backend's publish/subscribe on one connection for the whole
/// app, so waiting costs nothing per future and [`weft_futures::as_completed`] over many
/// remote futures is O(1) per completion.
///
/// # Arguments
///
/// Celery's message body is `[args, kwargs, embed]`. The `args` value given to
/// [`CeleryExecutor::submit_named`] is serialized with serde and becomes the positional
/// argument list: a tuple (or any value that serializes to a JSON array, such as a `Vec`)
/// *is* the list, `()` is the empty list, and any other value is the one argument. To pass
/// one list as the single argument, wrap it in a one-element tuple: `(vec![1, 2, 3],)`.
///
/// # Dropping
///
/// Dropping an executor does not wait for its remote tasks (a worker may never come);
/// its futures stay live as long as the app. Call [`CeleryExecutor::shutdown`] to wait.
///
/// # Examples
///
/// ```no_run
/// use weft_celery::Celery;
/// use weft_futures::as_completed;
///
/// let app = Celery::connect("redis://127.0.0.1:6379/0")?;
/// let ex = app.executor();
/// let futures: Vec<_> = (0..100).map(|i| ex.submit_named::<i64>("tasks.add", (i, i))).collect();
/// let total: i64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
/// # Ok::<(), weft_celery::CeleryError>(())
/// ```
pub struct CeleryExecutor {
    app: Celery,
    queue: String,
    state: Arc<ExecState>,
}

impl fmt::Debug for CeleryExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CeleryExecutor")
            .field("queue", &self.queue)
            .field("open", &self.state.open.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl CeleryExecutor {
    /// This executor, routing its submissions to queue `name` instead (Python's
    /// `apply_async(queue=name)`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let ex = app.executor().queue("priority");
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    #[must_use]
    pub fn queue(mut self, name: &str) -> Self {
        name.clone_into(&mut self.queue);
        self
    }

    /// The app this executor sends through.
    #[must_use]
    pub fn app(&self) -> &Celery {
        &self.app
    }

    /// Sends task `name` with `args` (see the type's docs for how `args` become Celery's
    /// argument list) and returns the future of its result, decoded as `R`. Python's
    /// `app.send_task(name, args)`.
    ///
    /// The future completes with the task's return value; with [`TaskError::Failed`]
    /// naming the exception type and text when the task raised (or panicked in a weft
    /// worker), or when the result does not decode as `R`; it is cancelled when the task was
    /// revoked. [`Future::cancel`] cancels it locally at once and broadcasts a revoke.
    ///
    /// While Redis is unreachable this retries for up to 30 seconds, then fails the future.
    ///
    /// # Panics
    /// After [`CeleryExecutor::shutdown`], as [`weft_pool::ThreadPoolExecutor::submit`]
    /// (Python raises `RuntimeError`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let f = app.executor().submit_named::<i64>("tasks.add", (2, 3));
    /// assert_eq!(f.result()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_named<R>(&self, name: &str, args: impl Serialize) -> Future<R>
    where
        R: DeserializeOwned + Send + 'static,
    {
        self.apply_async(name, args).1
    }

    /// As [`CeleryExecutor::submit_named`], and also returns the task's id (Python's
    /// `AsyncResult.id`), the key of its result in the backend and what
    /// [`Celery::revoke`] takes.
    ///
    /// # Panics
    /// After [`CeleryExecutor::shutdown`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let (id, f) = app.executor().apply_async::<i64>("tasks.add", (2, 3));
    /// println!("sent {id}");
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    pub fn apply_async<R>(&self, name: &str, args: impl Serialize) -> (String, Future<R>)
    where
        R: DeserializeOwned + Send + 'static,
    {
        match self.try_apply(name, &args) {
            Some(sent) => sent,
            None => panic!("cannot schedule new futures after shutdown"),
        }
    }

    /// Sends task `name` with `args`, or returns `None` when this executor is shut down.
    fn try_apply<R>(&self, name: &str, args: &impl Serialize) -> Option<(String, Future<R>)>
    where
        R: DeserializeOwned + Send + 'static,
    {
        let args = serde_json::to_value(args);
        if !self.state.admit() {
            return None;
        }
        let (p, f) = promise::<R>();
        let id = protocol::uuid4();
        match args {
            Ok(v) => self.send(&id, name, protocol::args_list(v), p, &f),
            Err(e) => {
                p.set_error(TaskError::Failed(format!(
                    "the arguments of {name} cannot be serialized: {e}"
                )));
                self.state.release();
            }
        }
        Some((id, f))
    }

    /// Stops accepting tasks; with `cancel_futures`, cancels every future of this executor
    /// still pending (broadcasting a revoke for each); with `wait`, blocks until every
    /// future of this executor is done. Python's `Executor.shutdown(wait, cancel_futures)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let ex = app.executor();
    /// let f = ex.submit_named::<i64>("tasks.add", (1, 1));
    /// ex.shutdown(true, false);
    /// assert!(f.done());
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.state.close();
        if cancel_futures {
            let mine: Vec<(String, Box<dyn Slot>)> = {
                let mut pending = self.app.inner.results.pending.lock();
                let ids: Vec<String> = pending
                    .iter()
                    .filter(|(_, s)| Arc::ptr_eq(s.executor(), &self.state))
                    .map(|(id, _)| id.clone())
                    .collect();
                ids.into_iter()
                    .filter_map(|id| pending.remove(&id).map(|s| (id, s)))
                    .collect()
            };
            let ids: Vec<String> = mine.iter().map(|(id, _)| id.clone()).collect();
            // Through `Slot::revoked`, not a drop: the futures are cancelled, not abandoned.
            for (_, slot) in mine {
                slot.revoked();
            }
            self.app
                .inner
                .results
                .to_unsubscribe
                .lock()
                .extend(ids.iter().cloned());
            for chunk in ids.chunks(1000) {
                let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                let _ = self.app.broadcast_revoke(&refs, Duration::ZERO);
            }
        }
        if wait {
            let mut n = self.state.outstanding.lock();
            n.wait_for(|n| *n == 0);
        }
    }

    /// Sends one admitted task: registers its slot, then pushes its message.
    fn send<R: DeserializeOwned + Send + 'static>(
        &self,
        id: &str,
        name: &str,
        args: Vec<Value>,
        p: Promise<R>,
        f: &Future<R>,
    ) {
        let inner = &self.app.inner;
        let results = &inner.results;
        let id = id.to_owned();
        let message = protocol::Outgoing {
            id: &id,
            name,
            args,
            queue: &self.queue,
            reply_to: &inner.reply_to,
            origin: &inner.origin,
        }
        .encode();
        let key = protocol::queue_key(&self.queue, 0);
        let settled = Arc::new(AtomicBool::new(false));
        {
            let settled = settled.clone();
            let app = Arc::downgrade(&self.app.inner);
            let id = id.clone();
            let queued = Queued {
                key: key.clone(),
                message: message.clone(),
            };
            f.add_done_callback(move || {
                if !settled.load(Ordering::SeqCst)
                    && let Some(inner) = app.upgrade()
                {
                    Celery { inner }.cancelled_locally(&id, &queued);
                }
            });
        }
        results.pending.lock().insert(
            id.clone(),
            Box::new(Typed {
                promise: Some(p),
                settled,
                exec: self.state.clone(),
            }),
        );
        let wake = results.to_subscribe.post(id.clone());
        let sent = {
            let mut conn = inner.producer.lock();
            inner.endpoint.with_retry(&mut conn, SEND_BUDGET, |c| {
                let mut pipe = redis::pipe();
                if wake {
                    pipe.cmd("PUBLISH")
                        .arg(&results.wake_channel)
                        .arg("")
                        .ignore();
                }
                pipe.cmd("LPUSH").arg(&key).arg(&message).ignore();
                pipe.query::<()>(c)
            })
        };
        if let Err(e) = sent {
            let slot = results.pending.lock().remove(&id);
            if let Some(slot) = slot {
                slot.finish(Err(TaskError::Failed(format!(
                    "the task {name} could not be sent: {e}"
                ))));
            }
        }
    }
}

impl Drop for CeleryExecutor {
    fn drop(&mut self) {
        self.state.close();
    }
}

/// The Celery app as a [`weft_futures::Executor`]: a [`Task`] declared once with
/// [`task!`](weft_futures::task) is sent by its [`Task::NAME`] to whichever worker consumes
/// the queue (a weft worker runs it with
/// [`register_task::<T>()`](crate::WorkerBuilder::register_task); a Python worker runs the
/// task of that name), and its result comes back decoded as `T::Output`.
///
/// * `submit` / `try_submit`: [`submit_named(T::NAME, args)`](CeleryExecutor::submit_named);
///   after [`shutdown`](CeleryExecutor::shutdown), `submit` panics and `try_submit` hands the
///   arguments back in [`Rejected`].
/// * `map` / `map_with`: the shared [`Map`] (order, laziness, buffering, cancellation are the
///   same as on the local pools). Every item is its own Celery task, so a failure fails its
///   item alone and any worker may take any item; with `chunksize(k)`, items are submitted and
///   buffered `k` at a time (at most `buffersize × k` items in flight). Without an explicit
///   `buffersize`, 64 tasks are kept in flight. Dropping the iterator cancels every task not
///   consumed: a task still queued is taken off its queue, one a worker already took is
///   revoked (it may still run if it has started, as in Celery).
/// * `shutdown(wait, cancel_futures)`: [`CeleryExecutor::shutdown`].
///
/// # Examples
///
/// ```no_run
/// use weft_celery::Celery;
/// use weft_futures::{Executor, task};
///
/// task! {
///     pub struct Add = "tasks.add";
///     fn run((a, b): (i64, i64)) -> i64 { a + b }
/// }
///
/// let app = Celery::connect("redis://127.0.0.1:6379/0")?;
/// let _worker = app.worker().register_task::<Add>().build()?.spawn();
/// let ex = app.executor();
/// assert_eq!(ex.submit::<Add>((2, 3)).result()?, 5);
/// let sums: Vec<i64> = ex.map::<Add, _>([(1, 1), (2, 2)]).map(Result::unwrap).collect();
/// assert_eq!(sums, [2, 4]);
/// Executor::shutdown(&ex, true, false);
/// assert_eq!(ex.try_submit::<Add>((1, 2)).unwrap_err().into_inner(), (1, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Executor for CeleryExecutor {
    fn submit<T: Task>(&self, args: T::Args) -> Future<T::Output> {
        self.submit_named::<T::Output>(T::NAME, args)
    }

    fn try_submit<T: Task>(&self, args: T::Args) -> Result<Future<T::Output>, Rejected<T::Args>> {
        match self.try_apply::<T::Output>(T::NAME, &args) {
            Some((_, f)) => Ok(f),
            None => Err(Rejected(args)),
        }
    }

    fn map_with<T: Task, I>(
        &self,
        items: I,
        options: MapOptions,
    ) -> Map<'_, T::Args, T::Output, I::IntoIter>
    where
        I: IntoIterator<Item = T::Args>,
    {
        let source = Remote::<T> {
            ex: self,
            task: std::marker::PhantomData,
        };
        Map::new(source, items, options, DEFAULT_MAP_BUFFER)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        CeleryExecutor::shutdown(self, wait, cancel_futures);
    }
}

/// How a [`CeleryExecutor`]'s `map` submits: one Celery task per item.
struct Remote<'a, T> {
    ex: &'a CeleryExecutor,
    task: std::marker::PhantomData<fn() -> T>,
}

impl<T: Task> MapSubmit<T::Args, T::Output> for Remote<'_, T> {
    fn submit(&mut self, items: Vec<T::Args>) -> Submitted<T::Args, T::Output> {
        let mut futures = Vec::with_capacity(items.len());
        for item in &items {
            match self.ex.try_apply::<T::Output>(T::NAME, item) {
                Some((_, f)) => futures.push(f),
                None => {
                    // Shut down part-way through a chunk: the chunk is refused as a whole, so
                    // the items already sent are cancelled (taken off the queue).
                    for f in &futures {
                        f.cancel();
                    }
                    return Submitted::Refused(TaskError::Cancelled);
                }
            }
        }
        if futures.len() == 1
            && let Some(f) = futures.pop()
        {
            return Submitted::One(f);
        }
        Submitted::Chunk(gather(futures))
    }
}

/// What the futures of one chunk share until the last of them is done.
struct Gathering<X, R> {
    /// The items' futures, in input order; empty once taken (to collect them, or to cancel
    /// them when the chunk's future was cancelled).
    futures: Vec<Future<R>>,
    /// How many items are not done yet, plus one until `futures` is filled in.
    left: usize,
    promise: Option<Promise<Chunk<X, R>>>,
}

/// One future for the results of `futures`, in order, done when all of them are; cancelling
/// it cancels those not done.
fn gather<X, R>(futures: Vec<Future<R>>) -> Future<Chunk<X, R>>
where
    X: Send + 'static,
    R: Send + 'static,
{
    let (p, chunk) = promise::<Chunk<X, R>>();
    let state = Arc::new(Mutex::new(Gathering {
        futures: Vec::new(),
        left: futures.len() + 1,
        promise: Some(p),
    }));
    for f in &futures {
        let state = state.clone();
        // Runs at once if `f` is already done: the extra count in `left` keeps the chunk open
        // until `futures` is in place.
        f.add_done_callback(move || one_done(&state));
    }
    state.lock().futures = futures;
    one_done(&state);
    let state2 = state;
    chunk.add_done_callback(move || {
        // Still there only if the chunk was cancelled (completing takes them first).
        let orphans = std::mem::take(&mut state2.lock().futures);
        for f in &orphans {
            f.cancel();
        }
    });
    chunk
}

/// One count of a [`Gathering`] is done; the last collects the results and completes the chunk.
fn one_done<X, R>(state: &Mutex<Gathering<X, R>>) {
    let (futures, promise) = {
        let mut g = state.lock();
        g.left -= 1;
        if g.left > 0 {
            return;
        }
        (std::mem::take(&mut g.futures), g.promise.take())
    };
    if let Some(p) = promise {
        // Every future is done, so `result` does not block.
        let results = futures.into_iter().map(Future::result).collect();
        p.set_result(Chunk::new(results));
    }
}

/// The results listener: one subscriber connection for every pending future.
struct Listener {
    endpoint: Endpoint,
    results: Arc<Results>,
    visibility_timeout: Duration,
}

enum Exit {
    Stop,
    Reconnect,
}

impl Listener {
    fn run(self) {
        let mut getter: Option<redis::Connection> = None;
        loop {
            let Some(mut sub) = self.endpoint.connect_until(&self.results.stop) else {
                return;
            };
            if let Exit::Stop = self.session(&mut sub, &mut getter) {
                return;
            }
        }
    }

    /// One subscriber connection's life: subscribe to everything pending, then serve.
    fn session(&self, sub: &mut redis::Connection, getter: &mut Option<redis::Connection>) -> Exit {
        if sub.set_read_timeout(Some(LISTEN_TICK)).is_err() {
            return Exit::Reconnect;
        }
        let mut ps = sub.as_pubsub();
        if ps.subscribe(&self.results.wake_channel).is_err() {
            return Exit::Reconnect;
        }
        // After a reconnect, every pending task: its result may have been published while
        // nobody listened, and is then in its key.
        self.results.to_subscribe.clear();
        let all: Vec<String> = self.results.pending.lock().keys().cloned().collect();
        if self.subscribe_and_check(&mut ps, getter, all).is_err() {
            return Exit::Reconnect;
        }
        let mut unsubscribe = Vec::new();
        let mut since_restore = weft_sync::Deadline::after(self.visibility_timeout);
        loop {
            if self.results.stop.is_set() {
                return Exit::Stop;
            }
            if since_restore.has_passed() {
                since_restore = weft_sync::Deadline::after(self.visibility_timeout);
                let _ = self.endpoint.with_retry(getter, Duration::ZERO, |c| {
                    restore::restore_visible(c, self.visibility_timeout)
                });
            }
            let fresh = self.results.to_subscribe.take();
            if !fresh.is_empty() && self.subscribe_and_check(&mut ps, getter, fresh).is_err() {
                return Exit::Reconnect;
            }
            unsubscribe.append(&mut self.results.to_unsubscribe.lock());
            if unsubscribe.len() >= UNSUBSCRIBE_BATCH {
                let channels: Vec<String> = unsubscribe
                    .drain(..)
                    .map(|id| protocol::meta_key(&id))
                    .collect();
                if ps.unsubscribe(channels).is_err() {
                    return Exit::Reconnect;
                }
            }
            match ps.get_message() {
                Ok(msg) => {
                    let channel = msg.get_channel_name();
                    if let Some(id) = channel.strip_prefix("celery-task-meta-")
                        && self.deliver(id, msg.get_payload_bytes())
                    {
                        unsubscribe.push(id.to_owned());
                    }
                }
                Err(e) if e.is_timeout() => {
                    if !unsubscribe.is_empty() {
                        let channels: Vec<String> = unsubscribe
                            .drain(..)
                            .map(|id| protocol::meta_key(&id))
                            .collect();
                        if ps.unsubscribe(channels).is_err() {
                            return Exit::Reconnect;
                        }
                    }
                }
                Err(e) if is_connection_error(&e) => return Exit::Reconnect,
                Err(_) => return Exit::Reconnect,
            }
        }
    }

    /// Subscribes to the channels of `ids`, then reads their keys: a result stored before
    /// the subscription took effect is found there.
    fn subscribe_and_check(
        &self,
        ps: &mut redis::PubSub<'_>,
        getter: &mut Option<redis::Connection>,
        ids: Vec<String>,
    ) -> redis::RedisResult<()> {
        for chunk in ids.chunks(MGET_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(|id| protocol::meta_key(id)).collect();
            ps.subscribe(&keys)?;
            let values: Vec<Option<Vec<u8>>> =
                self.endpoint
                    .with_retry(getter, Duration::from_secs(5), |c| {
                        redis::cmd("MGET").arg(&keys).query(c)
                    })?;
            for (id, value) in chunk.iter().zip(values) {
                if let Some(v) = value {
                    self.deliver(id, &v);
                }
            }
        }
        Ok(())
    }

    /// Completes the future of `id` from a task-meta document; returns whether it is done.
    fn deliver(&self, id: &str, payload: &[u8]) -> bool {
        let outcome = match protocol::decode_meta(payload) {
            Ok((_, Meta::NotReady { started })) => {
                if started && let Some(s) = self.results.pending.lock().get(id) {
                    s.started();
                }
                return false;
            }
            Ok((_, Meta::Success(v))) => Ok(v),
            Ok((_, Meta::Failure(what))) => Err(TaskError::Failed(what)),
            Ok((_, Meta::Revoked)) => {
                let slot = self.results.pending.lock().remove(id);
                if let Some(s) = slot {
                    s.revoked();
                }
                return true;
            }
            Err(why) => Err(TaskError::Failed(why)),
        };
        let slot = self.results.pending.lock().remove(id);
        if let Some(s) = slot {
            s.finish(outcome);
        }
        true
    }
}
