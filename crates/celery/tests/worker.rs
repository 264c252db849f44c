//! A weft client with weft workers, on a real `redis-server`: results, failures, bad input,
//! revoke, late acknowledgement after a crash, clean stop, Redis restarts.

mod common;

use std::{
    process::{Command, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use common::{eventually, meta};
use weft_celery::{Celery, CeleryError};
use weft_futures::{TaskError, as_completed};

static GATE: AtomicBool = AtomicBool::new(false);

fn gated(x: u64) -> u64 {
    while !GATE.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    x
}

#[test]
fn results_arrive_for_many_futures() {
    let Some(redis) = common::redis("results_arrive_for_many_futures") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = app
        .worker()
        .register_fn("weft.square", |x: u64| x * x)
        .register_fn("weft.add", |(a, b): (i64, i64)| a + b)
        .register_fn("weft.unit", |(): ()| "none")
        .concurrency(4)
        .spawn_built();
    let ex = app.executor();
    let futures: Vec<_> = (0..2000u64)
        .map(|x| ex.submit_named::<u64>("weft.square", x))
        .collect();
    let total: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
    assert_eq!(total, (0..2000u64).map(|x| x * x).sum::<u64>());
    assert_eq!(ex.submit_named::<i64>("weft.add", (2, -5)).result(), Ok(-3));
    assert_eq!(
        ex.submit_named::<String>("weft.unit", ()).result().unwrap(),
        "none"
    );
    // A result that does not decode as the asked type fails that future alone.
    let wrong = ex.submit_named::<String>("weft.square", 3u64).result();
    assert!(
        matches!(wrong, Err(TaskError::Failed(ref m)) if m.contains("does not decode")),
        "{wrong:?}"
    );
    assert_eq!(app.pending(), 0);
    // Acknowledged: nothing is left unacknowledged.
    let mut c = redis.conn(0);
    let unacked: usize = redis::cmd("HLEN").arg("unacked").query(&mut c).unwrap();
    assert_eq!(unacked, 0);
    handle.stop();
}

trait SpawnBuilt {
    fn spawn_built(self) -> weft_celery::WorkerHandle;
}

impl SpawnBuilt for weft_celery::WorkerBuilder {
    fn spawn_built(self) -> weft_celery::WorkerHandle {
        self.build().unwrap().spawn()
    }
}

#[test]
fn failures_and_bad_input_are_reported_and_the_worker_goes_on() {
    let Some(redis) = common::redis("failures_and_bad_input") else {
        return;
    };
    let app = Celery::connect(&redis.url(1)).unwrap();
    let handle = app
        .worker()
        .register_fn("weft.panic", |(): ()| -> u64 { panic!("boom at {}", 42) })
        .register_fn("weft.square", |x: u64| x * x)
        .concurrency(1)
        .spawn_built();
    let ex = app.executor();
    let err = ex
        .submit_named::<u64>("weft.panic", ())
        .result()
        .unwrap_err();
    assert_eq!(err, TaskError::Failed("RustPanic: boom at 42".into()));
    let err = ex
        .submit_named::<u64>("weft.nope", ())
        .result()
        .unwrap_err();
    assert_eq!(err, TaskError::Failed("NotRegistered: 'weft.nope'".into()));
    let err = ex
        .submit_named::<u64>("weft.square", "seven")
        .result()
        .unwrap_err();
    assert!(
        matches!(&err, TaskError::Failed(m) if m.starts_with("TypeError: weft.square")),
        "{err:?}"
    );

    // Raw messages nobody's client sends: garbage, a pickle body, a body that is not
    // protocol 2. Each is refused; those with an id are reported.
    let mut c = redis.conn(1);
    let pickle = serde_json::json!({
        "body": "gASVCQAAAAAAAACMBXBvc2l4lIwGc3lzdGVtlJOULg==",
        "content-encoding": "binary", "content-type": "application/x-python-serialize",
        "headers": {"id": "pickle-1", "task": "weft.square"},
        "properties": {"body_encoding": "base64", "delivery_tag": "t1",
                       "delivery_info": {"exchange": "", "routing_key": "celery"}}});
    let bad_body = serde_json::json!({
        "body": "WzEsIDJd", "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"id": "v1-1", "task": "weft.square"},
        "properties": {"body_encoding": "base64", "delivery_tag": "t2",
                       "delivery_info": {"exchange": "", "routing_key": "celery"}}});
    for m in [
        "\u{1}not json".to_owned(),
        "[1,2,3]".to_owned(),
        pickle.to_string(),
        bad_body.to_string(),
    ] {
        let _: i64 = redis::cmd("LPUSH")
            .arg("celery")
            .arg(m)
            .query(&mut c)
            .unwrap();
    }
    // The worker takes one message at a time in order: once this task is done, the four
    // raw messages before it were handled.
    assert_eq!(ex.submit_named::<u64>("weft.square", 9u64).result(), Ok(81));
    let m = meta(&mut c, "pickle-1").expect("the pickle message is reported");
    assert_eq!(m["status"], "FAILURE");
    assert_eq!(m["result"]["exc_type"], "ContentDisallowed");
    assert!(
        m["result"]["exc_message"][0]
            .as_str()
            .unwrap()
            .contains("pickle")
    );
    let m = meta(&mut c, "v1-1").expect("the bad body is reported");
    assert_eq!(m["result"]["exc_type"], "InvalidTaskError");
    let len: usize = redis::cmd("LLEN").arg("celery").query(&mut c).unwrap();
    assert_eq!(len, 0);
    handle.stop();
}

#[test]
fn cancel_revokes_a_queued_task() {
    let Some(redis) = common::redis("cancel_revokes_a_queued_task") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = app
        .worker()
        .register_fn("weft.gated", gated)
        .register_fn("weft.square", |x: u64| x * x)
        .concurrency(1)
        .spawn_built();
    let ex = app.executor().queue("celery");
    let busy = ex.submit_named::<u64>("weft.gated", 1u64);
    let (victim_id, victim) = ex.apply_async::<u64>("weft.square", 5u64);
    let after = ex.submit_named::<u64>("weft.square", 6u64);
    assert!(victim.cancel());
    assert_eq!(victim.result(), Err(TaskError::Cancelled));
    eventually(
        "the worker to learn of the revoke",
        Duration::from_secs(10),
        || handle.is_revoked(&victim_id).then_some(()),
    );
    GATE.store(true, Ordering::SeqCst);
    assert_eq!(busy.result(), Ok(1));
    assert_eq!(after.result(), Ok(36));
    let mut c = redis.conn(0);
    let m = meta(&mut c, &victim_id).expect("the revoked task is reported");
    assert_eq!(m["status"], "REVOKED");
    assert_eq!(m["result"]["exc_type"], "TaskRevokedError");
    handle.stop();
}

#[test]
fn shutdown_cancels_or_waits() {
    let Some(redis) = common::redis("shutdown_cancels_or_waits") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let ex = app.executor();
    // No worker: the futures stay pending until cancelled.
    let fs: Vec<_> = (0..5u64)
        .map(|x| ex.submit_named::<u64>("weft.square", x))
        .collect();
    assert!(!fs[0].wait_timeout(Duration::from_millis(50)));
    ex.shutdown(true, true);
    for f in fs {
        assert_eq!(f.result(), Err(TaskError::Cancelled));
    }
    assert_eq!(app.pending(), 0);
    let ex2 = app.executor();
    let f = ex2.submit_named::<u64>("weft.square", 3u64);
    let handle = app
        .worker()
        .register_fn("weft.square", |x: u64| x * x)
        .spawn_built();
    ex2.shutdown(true, false);
    assert!(f.done());
    assert_eq!(f.result(), Ok(9));
    handle.stop();
}

#[test]
fn urls_with_passwords_and_bad_urls() {
    assert!(matches!(
        Celery::connect("http://x"),
        Err(CeleryError::InvalidUrl(_))
    ));
    let Some(redis) = common::redis_with("urls_with_passwords", &["--requirepass", "s3cret"])
    else {
        return;
    };
    let good = format!("redis://:s3cret@127.0.0.1:{}/2", redis.port);
    let bad = format!("redis://:wrong@127.0.0.1:{}/2", redis.port);
    assert!(matches!(
        Celery::connect(&bad),
        Err(CeleryError::Connect(_))
    ));
    let app = Celery::connect(&good).unwrap();
    let handle = app
        .worker()
        .register_fn("weft.square", |x: u64| x * x)
        .spawn_built();
    assert_eq!(
        app.executor()
            .submit_named::<u64>("weft.square", 12u64)
            .result(),
        Ok(144)
    );
    handle.stop();
}

#[test]
fn stop_finishes_what_the_worker_holds() {
    static HOLD: AtomicBool = AtomicBool::new(false);
    let Some(redis) = common::redis("stop_finishes") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = app
        .worker()
        .register_fn("weft.hold", |x: u64| {
            while !HOLD.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            x
        })
        .concurrency(2)
        .spawn_built();
    let ex = app.executor();
    let a = ex.submit_named::<u64>("weft.hold", 1u64);
    let b = ex.submit_named::<u64>("weft.hold", 2u64);
    let mut c = redis.conn(0);
    eventually("both tasks to be taken", Duration::from_secs(10), || {
        let n: usize = redis::cmd("HLEN").arg("unacked").query(&mut c).unwrap();
        (n == 2).then_some(())
    });
    let stopper = std::thread::spawn(move || handle.stop());
    HOLD.store(true, Ordering::SeqCst);
    stopper.join().unwrap();
    assert_eq!(a.result(), Ok(1));
    assert_eq!(b.result(), Ok(2));
    let n: usize = redis::cmd("HLEN").arg("unacked").query(&mut c).unwrap();
    assert_eq!(n, 0);
}

/// Helper process for `a_killed_worker_loses_nothing`: a worker whose task never ends.
#[test]
#[ignore = "helper process, started by a_killed_worker_loses_nothing"]
fn child_worker_that_hangs() {
    let Ok(url) = std::env::var("WEFT_CHILD_REDIS") else {
        return;
    };
    let app = Celery::connect(&url).unwrap();
    let _handle = app
        .worker()
        .register_fn("weft.hang", |x: u64| -> u64 {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let _ = x;
            }
        })
        .concurrency(1)
        .spawn_built();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn start_hanging_child(url: &str) -> common::Proc {
    let log = common::tmp_dir("child").join("child.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_worker_that_hangs",
            "--ignored",
            "--nocapture",
        ])
        .env("WEFT_CHILD_REDIS", url)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    common::Proc {
        child: Some(child),
        log,
    }
}

#[test]
fn a_killed_worker_loses_nothing() {
    let Some(redis) = common::redis("a_killed_worker_loses_nothing") else {
        return;
    };
    let url = redis.url(0);
    let mut child = start_hanging_child(&url);
    let app = Celery::builder(&url)
        .visibility_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let f = app.executor().submit_named::<u64>("weft.hang", 7u64);
    let mut c = redis.conn(0);
    eventually(
        "the child to take the task",
        Duration::from_secs(30),
        || {
            let n: usize = redis::cmd("HLEN").arg("unacked").query(&mut c).unwrap();
            (n == 1).then_some(())
        },
    );
    child.kill();
    assert!(!f.done());
    // A new worker restores the message after the visibility timeout and runs it.
    let handle = app
        .worker()
        .register_fn("weft.hang", |x: u64| x * 10)
        .spawn_built();
    assert_eq!(f.result(), Ok(70));
    let n: usize = redis::cmd("HLEN").arg("unacked").query(&mut c).unwrap();
    assert_eq!(n, 0);
    handle.stop();
}

#[test]
fn client_and_worker_survive_a_redis_restart() {
    static HOLD: AtomicBool = AtomicBool::new(false);
    let Some(mut redis) = common::redis_with(
        "redis_restart",
        &["--appendonly", "yes", "--appendfsync", "always"],
    ) else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = app
        .worker()
        .register_fn("weft.square", |x: u64| x * x)
        .register_fn("weft.hold", |x: u64| {
            while !HOLD.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            x
        })
        .concurrency(2)
        .spawn_built();
    let ex = app.executor();
    assert_eq!(ex.submit_named::<u64>("weft.square", 4u64).result(), Ok(16));
    let held = ex.submit_named::<u64>("weft.hold", 5u64);
    let mut c = redis.conn(0);
    eventually("the task to be taken", Duration::from_secs(10), || {
        let n: usize = redis::cmd("HLEN").arg("unacked").query(&mut c).unwrap();
        (n == 1).then_some(())
    });
    redis.stop();
    redis.start();
    // The held task finishes while the client's listener reconnects; its result is stored
    // once the worker reconnects, and the future resolves.
    HOLD.store(true, Ordering::SeqCst);
    assert_eq!(held.result(), Ok(5));
    assert_eq!(ex.submit_named::<u64>("weft.square", 6u64).result(), Ok(36));
    handle.stop();
}

#[test]
fn shutdown_with_cancel_revokes_everything_pending() {
    static HOLD: AtomicBool = AtomicBool::new(false);
    static STARTED: AtomicBool = AtomicBool::new(false);
    let Some(redis) = common::redis("shutdown_with_cancel_revokes") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = app
        .worker()
        .register_fn("weft.hold", |x: u64| {
            STARTED.store(true, Ordering::SeqCst);
            while !HOLD.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            x
        })
        .concurrency(1)
        .spawn_built();
    let ex = app.executor();
    let (busy_id, busy) = ex.apply_async::<u64>("weft.hold", 0u64);
    let mut c = redis.conn(0);
    // Started, not only taken: a task taken but not yet started is skipped on a revoke.
    eventually("the first task to start", Duration::from_secs(10), || {
        STARTED.load(Ordering::SeqCst).then_some(())
    });
    let queued: Vec<_> = (1..4u64)
        .map(|x| ex.apply_async::<u64>("weft.hold", x))
        .collect();
    ex.shutdown(false, true);
    assert!(busy.cancelled());
    for (id, f) in &queued {
        assert!(f.cancelled());
        eventually(
            "the worker to learn of the revoke",
            Duration::from_secs(10),
            || handle.is_revoked(id).then_some(()),
        );
    }
    HOLD.store(true, Ordering::SeqCst);
    // The task already running finishes (a revoke does not stop it, as in Celery); the queued
    // ones are skipped and reported.
    let status = eventually(
        "the queued tasks to be reported",
        Duration::from_secs(20),
        || {
            let all: Option<Vec<_>> = queued.iter().map(|(id, _)| meta(&mut c, id)).collect();
            all
        },
    );
    for m in status {
        assert_eq!(m["status"], "REVOKED");
    }
    let m = meta(&mut c, &busy_id).expect("the running task finishes");
    assert_eq!(m["status"], "SUCCESS");
    handle.stop();
}
