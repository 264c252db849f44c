//! The worker: takes task messages off Redis lists, runs registered Rust functions on a
//! [`ThreadPoolExecutor`], stores their results as Celery does, and acknowledges late.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt,
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use weft_event::Event;
use weft_futures::{Task, TaskError};
use weft_pool::ThreadPoolExecutor;
use weft_semaphore::Semaphore;
// The worker is driven by the network, which loom cannot model, and needs what loom's `Arc`
// lacks (unsized coercion to trait objects), so it uses std's.
use std::sync::Arc;
use weft_sync::{
    Deadline, Mutex,
    thread::{self, JoinHandle},
};

use crate::{
    Celery, CeleryError,
    conn::{Endpoint, is_connection_error},
    protocol::{self, Incoming, Refusal},
    restore,
};

/// Celery's `result_expires` default: results live one day.
pub(crate) const RESULT_EXPIRES_SECS: u64 = 86_400;
/// Celery's `REVOKES_MAX`: how many revoked ids a worker remembers.
const REVOKES_MAX: usize = 50_000;
/// kombu's `brpop_timeout`, in seconds: how long one `BRPOP` blocks.
const BRPOP_TIMEOUT: u64 = 1;
/// How long storing a result keeps retrying while Redis is away; after that the task stays
/// unacknowledged and is delivered again after the visibility timeout.
const STORE_BUDGET: Duration = Duration::from_secs(60);

/// How a registered task failed, in Celery's terms: the exception's type, module and text.
#[derive(Debug, Clone)]
struct Failure {
    exc_type: String,
    exc_module: Option<String>,
    message: String,
}

type Handler = Arc<dyn Fn(Vec<Value>, Map<String, Value>) -> Result<Value, Failure> + Send + Sync>;

/// Configures a [`Worker`]: which tasks it knows (by name), how many it runs at once, which
/// queues it consumes. Python's `celery worker` command line, with tasks registered in Rust.
///
/// # Examples
///
/// ```no_run
/// use weft_celery::Celery;
///
/// let app = Celery::connect("redis://127.0.0.1:6379/0")?;
/// let worker = app
///     .worker()
///     .register_fn("weft.mul", |(a, b): (i64, i64)| a * b)
///     .concurrency(4)
///     .queue("celery")
///     .build()?;
/// let handle = worker.spawn();
/// // ... tasks run ...
/// handle.stop();
/// # Ok::<(), weft_celery::CeleryError>(())
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct WorkerBuilder {
    app: Celery,
    tasks: HashMap<String, Handler>,
    concurrency: usize,
    queues: Vec<String>,
    default_queue: bool,
    hostname: Option<String>,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.tasks.keys().collect();
        names.sort();
        f.debug_struct("WorkerBuilder")
            .field("tasks", &names)
            .field("concurrency", &self.concurrency)
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    pub(crate) fn new(app: Celery) -> Self {
        Self {
            app,
            tasks: HashMap::new(),
            concurrency: std::thread::available_parallelism().map_or(1, usize::from),
            queues: vec!["celery".to_owned()],
            default_queue: true,
            hostname: None,
        }
    }

    /// Registers `f` as the task called `name` (Python's `@app.task(name=...)`).
    ///
    /// The message's positional arguments decode into `A`: a one-element list as its element
    /// (so `|x: u64|` takes `f(5)`), else the whole list (so a tuple `|(a, b): (i64, i64)|`
    /// takes `f(2, 3)`), and `()` takes no arguments. Keyword arguments, when there are no
    /// positional ones, decode into `A` as a map (a struct with those fields). Arguments that
    /// do not decode fail the task with Python's `TypeError`; a panic fails it with
    /// `RustPanic` and its message. Either way the worker goes on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let w = app.worker()
    ///     .register_fn("weft.square", |x: u64| x * x)
    ///     .register_fn("weft.concat", |(a, b): (String, String)| a + &b)
    ///     .build()?;
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    pub fn register_fn<A, R, F>(mut self, name: &str, f: F) -> Self
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let task = name.to_owned();
        let handler: Handler = Arc::new(move |args, kwargs| {
            let a: A = decode_args(&task, args, kwargs)?;
            let r = f(a);
            serde_json::to_value(&r).map_err(|e| Failure {
                exc_type: "EncodeError".into(),
                exc_module: Some("kombu.exceptions".into()),
                message: format!("the result of {task} cannot be serialized: {e}"),
            })
        });
        self.tasks.insert(name.to_owned(), handler);
        self
    }

    /// Registers a task declared once as a [`Task`] (with [`weft_futures::task!`], the same
    /// declaration the local pools run): `T::run` runs under the name `T::NAME`, its
    /// arguments decoded as `T::Args` as [`register_fn`](Self::register_fn) describes.
    /// Python's `@app.task(name=...)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use weft_celery::Celery;
    /// use weft_futures::task;
    ///
    /// task! {
    ///     pub struct Add = "weft.add";
    ///     fn run((a, b): (i64, i64)) -> i64 { a + b }
    /// }
    ///
    /// let app = Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let w = app.worker().register_task::<Add>().build()?;
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    pub fn register_task<T: Task>(self) -> Self {
        self.register_fn::<T::Args, T::Output, _>(T::NAME, T::run)
    }

    /// How many tasks run at once: the size of the [`ThreadPoolExecutor`] underneath
    /// (Celery's `--concurrency`; default: the number of cores). The worker takes a message
    /// off Redis only when a thread is free, so it never holds more than this.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Consumes queue `name` (Celery's `-Q`). The first call replaces the default queue,
    /// `celery`; later calls add queues.
    pub fn queue(mut self, name: &str) -> Self {
        if self.default_queue {
            self.queues.clear();
            self.default_queue = false;
        }
        if !self.queues.iter().any(|q| q == name) {
            self.queues.push(name.to_owned());
        }
        self
    }

    /// The worker's node name, which `revoke` broadcasts with a destination match (Celery's
    /// `-n`); default `weft-<pid>@<host>`.
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.to_owned());
        self
    }

    /// Makes the worker (it starts with [`Worker::spawn`]).
    ///
    /// # Errors
    /// [`CeleryError::Config`] for zero concurrency or an empty queue name.
    pub fn build(self) -> Result<Worker, CeleryError> {
        if self.concurrency == 0 {
            return Err(CeleryError::Config("concurrency must be at least 1".into()));
        }
        if self.queues.iter().any(String::is_empty) {
            return Err(CeleryError::Config("a queue name is empty".into()));
        }
        Ok(Worker {
            shared: Arc::new(Shared {
                endpoint: self.app.inner.endpoint.clone(),
                visibility_timeout: self.app.inner.visibility_timeout,
                tasks: self.tasks,
                queues: self.queues,
                hostname: self.hostname.unwrap_or_else(|| {
                    format!("weft-{}@{}", std::process::id(), crate::client::hostname())
                }),
                concurrency: self.concurrency,
                revoked: Mutex::new(Revoked::default()),
                conns: Mutex::new(Vec::new()),
                slots: Semaphore::new(self.concurrency),
                stop: Event::new(),
                consumer_ready: Event::new(),
                control_ready: Event::new(),
            }),
        })
    }
}

/// Decodes Celery's `args`/`kwargs` into `A` (see [`WorkerBuilder::register_fn`]).
fn decode_args<A: DeserializeOwned>(
    task: &str,
    mut args: Vec<Value>,
    kwargs: Map<String, Value>,
) -> Result<A, Failure> {
    let type_error = |why: String| Failure {
        exc_type: "TypeError".into(),
        exc_module: Some("builtins".into()),
        message: format!(
            "{task}: the arguments do not decode as {}: {why}",
            std::any::type_name::<A>()
        ),
    };
    if !kwargs.is_empty() {
        if !args.is_empty() {
            return Err(type_error(
                "weft tasks take positional or keyword arguments, not both".into(),
            ));
        }
        return serde_json::from_value(Value::Object(kwargs))
            .map_err(|e| type_error(e.to_string()));
    }
    if args.is_empty()
        && let Ok(a) = serde_json::from_value(Value::Null)
    {
        return Ok(a);
    }
    if args.len() == 1 {
        if let Ok(a) = serde_json::from_value(args[0].clone()) {
            return Ok(a);
        }
        let single = args.pop().unwrap_or(Value::Null);
        return serde_json::from_value(Value::Array(vec![single]))
            .map_err(|e| type_error(e.to_string()));
    }
    serde_json::from_value(Value::Array(args)).map_err(|e| type_error(e.to_string()))
}

/// The revoked task ids a worker remembers (the newest [`REVOKES_MAX`]).
#[derive(Default)]
struct Revoked {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Revoked {
    fn insert(&mut self, id: String) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > REVOKES_MAX
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

struct Shared {
    endpoint: Endpoint,
    visibility_timeout: Duration,
    tasks: HashMap<String, Handler>,
    queues: Vec<String>,
    hostname: String,
    concurrency: usize,
    revoked: Mutex<Revoked>,
    /// Idle connections for the pool threads (storing results, acknowledging).
    conns: Mutex<Vec<redis::Connection>>,
    /// One permit per free pool thread: a message is taken off Redis only with a permit.
    slots: Semaphore,
    stop: Event,
    consumer_ready: Event,
    control_ready: Event,
}

impl Shared {
    /// Runs `op` on an idle connection (or a new one), retrying through reconnections for up
    /// to `budget`.
    fn with_conn<T>(
        &self,
        budget: Duration,
        op: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let mut slot = self.conns.lock().pop();
        let r = self.endpoint.with_retry(&mut slot, budget, op);
        if let Some(c) = slot {
            self.conns.lock().push(c);
        }
        r
    }
}

/// A Celery worker that runs Rust functions registered by name: made by
/// [`WorkerBuilder::build`], started by [`Worker::spawn`].
///
/// It speaks kombu's Redis transport: `BRPOP` on the queues' lists (with kombu's priority
/// sub-queues), kombu's acknowledgement emulation (a delivered message waits in the
/// `unacked` hash until its result is stored), and Celery's Redis result backend.
///
/// # Delivery
///
/// * Late acknowledgement: a task is acknowledged in the same Redis transaction that stores
///   its result. A worker killed mid-task loses nothing: after the visibility timeout, any
///   worker (weft or Python) puts the message back on its queue and it runs again. A task
///   may therefore run more than once; make tasks idempotent, as Celery advises with
///   `acks_late`.
/// * Revoked tasks (Celery's `revoke` broadcast) are skipped and reported `REVOKED`; a task
///   already running is not interrupted (`terminate` is not supported).
/// * A message that cannot be decoded, a pickle message (never decoded), or an unknown task
///   name is reported as a failed task (`DecodeError`, `ContentDisallowed`, `NotRegistered`),
///   as Celery reports them; the worker goes on. A message without a task id cannot be
///   reported and is dropped with a line on stderr.
/// * When Redis goes away, the worker reconnects; results waiting to be stored are retried.
///
/// # Examples
///
/// ```no_run
/// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
/// let handle = app.worker().register_fn("weft.neg", |x: i64| -x).build()?.spawn();
/// handle.stop();
/// # Ok::<(), weft_celery::CeleryError>(())
/// ```
pub struct Worker {
    shared: Arc<Shared>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("hostname", &self.shared.hostname)
            .field("queues", &self.shared.queues)
            .field("concurrency", &self.shared.concurrency)
            .finish_non_exhaustive()
    }
}

/// A running [`Worker`]: [`WorkerHandle::stop`] (or dropping it) stops it cleanly.
#[must_use = "dropping the handle stops the worker"]
pub struct WorkerHandle {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("hostname", &self.shared.hostname)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts the worker on its own threads: one consuming the queues, one listening for
    /// control broadcasts (revoke), and the pool. Returns once both are connected to Redis
    /// (or after 10 seconds if Redis is not reachable yet; the worker keeps trying).
    ///
    /// # Panics
    /// If the operating system refuses to start a thread.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let app = weft_celery::Celery::connect("redis://127.0.0.1:6379/0")?;
    /// let handle = app.worker().register_fn("weft.id", |x: i64| x).build()?.spawn();
    /// drop(handle); // Stops it.
    /// # Ok::<(), weft_celery::CeleryError>(())
    /// ```
    pub fn spawn(self) -> WorkerHandle {
        let shared = self.shared;
        let consumer = {
            let s = shared.clone();
            thread::Builder::new()
                .name("weft-celery-consumer".into())
                .spawn(move || consume(&s))
                .expect("cannot start the worker's consumer thread")
        };
        let control = {
            let s = shared.clone();
            thread::Builder::new()
                .name("weft-celery-control".into())
                .spawn(move || control(&s))
                .expect("cannot start the worker's control thread")
        };
        let _ = shared.consumer_ready.wait_timeout(Duration::from_secs(10));
        let _ = shared.control_ready.wait_timeout(Duration::from_secs(10));
        WorkerHandle {
            shared,
            threads: vec![consumer, control],
        }
    }
}

impl WorkerHandle {
    /// Stops the worker cleanly: it takes no new message, finishes the tasks it holds
    /// (storing and acknowledging their results), and returns when its threads have ended.
    /// Python's warm shutdown (`SIGTERM`).
    pub fn stop(mut self) {
        self.stop_inner();
    }

    /// The worker's node name.
    #[must_use]
    pub fn hostname(&self) -> &str {
        &self.shared.hostname
    }

    /// Whether this worker has received a revoke for `task_id` (Python's
    /// `app.control.inspect().revoked()`, for one worker and one id).
    #[must_use]
    pub fn is_revoked(&self, task_id: &str) -> bool {
        self.shared.revoked.lock().set.contains(task_id)
    }

    fn stop_inner(&mut self) {
        self.shared.stop.set();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// The consumer thread: waits for a free pool thread, `BRPOP`s one message, hands it over.
fn consume(shared: &Arc<Shared>) {
    let pool = match ThreadPoolExecutor::builder()
        .max_workers(shared.concurrency)
        .thread_name_prefix("weft-celery-worker")
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("weft-celery worker: cannot start the pool: {e}");
            return;
        }
    };
    let mut keys: Vec<String> = Vec::new();
    for pri in protocol::PRIORITY_STEPS {
        for q in &shared.queues {
            keys.push(protocol::queue_key(q, pri));
        }
    }
    let restore_every =
        (shared.visibility_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(10));
    // kombu restores once when a consumer starts, then periodically.
    let mut next_restore = Deadline::after(Duration::ZERO);
    let mut conn: Option<redis::Connection> = None;
    let mut pause = Duration::from_millis(20);
    let mut batch_rpop = true;
    while !shared.stop.is_set() {
        let Some(permit) = shared.slots.acquire_timeout(Duration::from_millis(200)) else {
            continue;
        };
        permit.forget();
        if conn.is_none() {
            conn = shared.endpoint.connect_until(&shared.stop);
            if conn.is_none() {
                shared.slots.release(1);
                break;
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        if next_restore.has_passed() {
            next_restore = Deadline::after(restore_every);
            if let Err(e) = restore::restore_visible(c, shared.visibility_timeout) {
                eprintln!("weft-celery worker: restoring unacknowledged tasks failed: {e}");
            }
        }
        shared.consumer_ready.set();
        let popped: redis::RedisResult<Option<(String, Vec<u8>)>> =
            redis::cmd("BRPOP").arg(&keys).arg(BRPOP_TIMEOUT).query(c);
        match popped {
            Ok(None) => shared.slots.release(1),
            Ok(Some((key, bytes))) => {
                pause = Duration::from_millis(20);
                let mut batch = vec![bytes];
                // More free threads: take up to that many more messages from the same list in
                // one round trip (`RPOP key count`, Redis 6.2+), each with its own permit.
                let mut extra = 0;
                while batch_rpop && let Some(p) = shared.slots.try_acquire() {
                    p.forget();
                    extra += 1;
                }
                if extra > 0 {
                    let more: redis::RedisResult<Option<Vec<Vec<u8>>>> =
                        redis::cmd("RPOP").arg(&key).arg(extra).query(c);
                    let got = match more {
                        Ok(Some(v)) => v,
                        Ok(None) => Vec::new(),
                        Err(e) => {
                            if !is_connection_error(&e) {
                                // An older Redis without `RPOP count`: one message per fetch.
                                batch_rpop = false;
                            }
                            Vec::new()
                        }
                    };
                    shared.slots.release(extra - got.len().min(extra));
                    batch.extend(got);
                }
                handle_batch(shared, &pool, c, batch);
            }
            Err(_) => {
                conn = None;
                shared.slots.release(1);
                let _ = shared.stop.wait_timeout(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
    shared.consumer_ready.set();
    // Finish what the pool holds: each task stores its result and acknowledges.
    pool.shutdown(true, false);
}

/// Validates one message: returns it with its handler when it can run, or reports why not
/// (and frees its slot).
fn check_message(shared: &Arc<Shared>, bytes: &[u8]) -> Option<(Incoming, Handler)> {
    let m = match protocol::decode_task(bytes) {
        Ok(m) => m,
        Err(Refusal::Undecodable(why)) => {
            eprintln!("weft-celery worker: dropping a message that cannot be reported: {why}");
            shared.slots.release(1);
            return None;
        }
        Err(Refusal::Invalid {
            id,
            exc_type,
            exc_module,
            message,
        }) => {
            eprintln!("weft-celery worker: refusing task {id}: {exc_type}: {message}");
            let result = protocol::exception(exc_type, Some(exc_module), &message);
            store(shared, &id, "FAILURE", &result, None);
            shared.slots.release(1);
            return None;
        }
    };
    if shared.revoked.lock().set.contains(&m.id) {
        report_revoked(shared, &m.id, None);
        shared.slots.release(1);
        return None;
    }
    let Some(handler) = shared.tasks.get(&m.task).cloned() else {
        eprintln!(
            "weft-celery worker: received unregistered task of type {:?}",
            m.task
        );
        let result = protocol::exception(
            "NotRegistered",
            Some("celery.exceptions"),
            &format!("'{}'", m.task),
        );
        store(shared, &m.id, "FAILURE", &result, None);
        shared.slots.release(1);
        return None;
    };
    Some((m, handler))
}

/// Handles the messages of one fetch, each holding one slot permit: reports those that
/// cannot run, records the others as unacknowledged (one transaction), and hands them to
/// the pool.
fn handle_batch(
    shared: &Arc<Shared>,
    pool: &ThreadPoolExecutor,
    conn: &mut redis::Connection,
    batch: Vec<Vec<u8>>,
) {
    let runnable: Vec<(Incoming, Handler)> = batch
        .iter()
        .filter_map(|bytes| check_message(shared, bytes))
        .collect();
    if runnable.is_empty() {
        return;
    }
    // The messages are now only in this process: record them as unacknowledged at once, so
    // that a crash from here on leaves them for `restore_visible`.
    let messages: Vec<&Incoming> = runnable.iter().map(|(m, _)| m).collect();
    let recorded = restore::mark_unacked(conn, &messages)
        .or_else(|_| shared.with_conn(STORE_BUDGET, |c| restore::mark_unacked(c, &messages)));
    if let Err(e) = recorded {
        eprintln!("weft-celery worker: cannot record tasks as unacknowledged: {e}");
    }
    for (m, handler) in runnable {
        let s = shared.clone();
        pool.submit(move || run(&s, m, &handler));
    }
}

/// Runs one task on a pool thread, stores its outcome, acknowledges, frees its slot.
fn run(shared: &Arc<Shared>, m: Incoming, handler: &Handler) {
    if shared.revoked.lock().set.contains(&m.id) {
        report_revoked(shared, &m.id, Some(&m.delivery_tag));
    } else {
        let outcome = catch_unwind(AssertUnwindSafe(|| handler(m.args, m.kwargs)));
        let (status, result) = match outcome {
            Ok(Ok(v)) => ("SUCCESS", v),
            Ok(Err(f)) => (
                "FAILURE",
                protocol::exception(&f.exc_type, f.exc_module.as_deref(), &f.message),
            ),
            Err(payload) => {
                let msg = match TaskError::from_panic(payload) {
                    TaskError::Panicked(msg) => msg,
                    other => other.to_string(),
                };
                ("FAILURE", protocol::exception("RustPanic", None, &msg))
            }
        };
        store(shared, &m.id, status, &result, Some(&m.delivery_tag));
    }
    shared.slots.release(1);
}

fn report_revoked(shared: &Shared, id: &str, tag: Option<&str>) {
    let result = protocol::exception("TaskRevokedError", Some("celery.exceptions"), "revoked");
    store(shared, id, "REVOKED", &result, tag);
}

/// Stores a final state as Celery's Redis backend does (`SETEX` the meta key, `PUBLISH` it on
/// the same channel) and, in the same transaction, acknowledges the message `tag`.
fn store(shared: &Shared, id: &str, status: &str, result: &Value, tag: Option<&str>) {
    let key = protocol::meta_key(id);
    let meta = protocol::meta(id, status, result, None);
    let done = shared.with_conn(STORE_BUDGET, |c| {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SETEX")
            .arg(&key)
            .arg(RESULT_EXPIRES_SECS)
            .arg(&meta)
            .ignore()
            .cmd("PUBLISH")
            .arg(&key)
            .arg(&meta)
            .ignore();
        if let Some(tag) = tag {
            restore::ack_into(&mut pipe, tag);
        }
        pipe.query::<()>(c)
    });
    if let Err(e) = done {
        eprintln!(
            "weft-celery worker: cannot store the result of {id} ({e}); it stays unacknowledged and runs again after the visibility timeout"
        );
    }
}

/// The control thread: listens on the `celery.pidbox` fanout for `revoke` commands.
fn control(shared: &Arc<Shared>) {
    let channel = protocol::pidbox_channel(shared.endpoint.db);
    while !shared.stop.is_set() {
        let Some(mut conn) = shared.endpoint.connect_until(&shared.stop) else {
            break;
        };
        if conn
            .set_read_timeout(Some(Duration::from_millis(250)))
            .is_err()
        {
            continue;
        }
        let mut ps = conn.as_pubsub();
        if ps.psubscribe(&channel).is_err() {
            continue;
        }
        shared.control_ready.set();
        while !shared.stop.is_set() {
            match ps.get_message() {
                Ok(msg) => {
                    let ids = protocol::decode_revoke(msg.get_payload_bytes(), &shared.hostname);
                    if !ids.is_empty() {
                        let mut revoked = shared.revoked.lock();
                        for id in ids {
                            revoked.insert(id);
                        }
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
        }
    }
    shared.control_ready.set();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_decode_as_documented() {
        let none = Map::new();
        assert_eq!(
            decode_args::<u64>("t", vec![json!(5)], none.clone()).unwrap(),
            5
        );
        assert_eq!(
            decode_args::<(i64, i64)>("t", vec![json!(2), json!(3)], none.clone()).unwrap(),
            (2, 3)
        );
        assert_eq!(
            decode_args::<(u64,)>("t", vec![json!(5)], none.clone()).unwrap(),
            (5,)
        );
        decode_args::<()>("t", vec![], none.clone()).unwrap();
        assert_eq!(
            decode_args::<Vec<u64>>("t", vec![json!([1, 2])], none.clone()).unwrap(),
            vec![1, 2]
        );
        let err = decode_args::<u64>("t", vec![json!("x")], none).unwrap_err();
        assert_eq!(err.exc_type, "TypeError");
    }
}
