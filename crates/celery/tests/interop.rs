//! weft and Python Celery on one real `redis-server`, both ways: a weft client with a Python
//! worker, a Python client with a weft worker, and each restoring what the other left
//! unacknowledged when it was killed mid-task.

mod common;

use std::{
    process::{Command, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use common::{eventually, meta};
use weft_celery::Celery;
use weft_futures::{TaskError, as_completed};

#[test]
fn weft_client_python_worker() {
    let Some(py) = common::python("weft_client_python_worker") else {
        return;
    };
    let Some(redis) = common::redis("weft_client_python_worker") else {
        return;
    };
    let dir = common::tmp_dir("py-worker");
    let url = redis.url(0);
    let _worker = common::python_worker(&py, &dir, &url, 2, 3600.0, "pyw");
    let app = Celery::connect(&url).unwrap();
    let ex = app.executor();
    assert_eq!(ex.submit_named::<i64>("tasks.add", (2, 3)).result(), Ok(5));
    let err = ex
        .submit_named::<i64>("tasks.boom", ())
        .result()
        .unwrap_err();
    assert_eq!(err, TaskError::Failed("ValueError: bad value".into()));
    let err = ex
        .submit_named::<i64>("tasks.missing", ())
        .result()
        .unwrap_err();
    assert!(
        matches!(&err, TaskError::Failed(m) if m.starts_with("NotRegistered")),
        "{err:?}"
    );
    let futures: Vec<_> = (0..300i64)
        .map(|i| ex.submit_named::<i64>("tasks.add", (i, 1)))
        .collect();
    let total: i64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
    assert_eq!(total, (1..=300).sum::<i64>());

    // Revoke: both worker threads busy, a queued task cancelled; the Python worker skips it
    // and stores REVOKED.
    let busy: Vec<_> = (0..2)
        .map(|_| ex.submit_named::<f64>("tasks.slow", 1.5))
        .collect();
    let (victim_id, victim) = ex.apply_async::<i64>("tasks.add", (1, 1));
    assert!(victim.cancel());
    let mut c = redis.conn(0);
    let status = eventually(
        "the Python worker to report the revoke",
        Duration::from_secs(30),
        || meta(&mut c, &victim_id).map(|m| m["status"].as_str().unwrap().to_owned()),
    );
    assert_eq!(status, "REVOKED");
    for f in busy {
        assert_eq!(f.result(), Ok(1.5));
    }
}

#[test]
fn python_client_weft_worker() {
    static GATE: AtomicBool = AtomicBool::new(false);
    let Some(py) = common::python("python_client_weft_worker") else {
        return;
    };
    let Some(redis) = common::redis("python_client_weft_worker") else {
        return;
    };
    let dir = common::tmp_dir("py-client");
    let url = redis.url(3);
    let app = Celery::connect(&url).unwrap();
    let handle = app
        .worker()
        .register_fn("weft.mul", |(a, b): (i64, i64)| a * b)
        .register_fn("weft.panic", |(): ()| -> i64 { panic!("no luck") })
        .register_fn("weft.gated", |x: i64| {
            while !GATE.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            x
        })
        .register_fn("tasks.add", |(a, b): (i64, i64)| a + b)
        .concurrency(1)
        .build()
        .unwrap()
        .spawn();
    let script = r#"
from tasks import app
print("mul", app.send_task("weft.mul", (6, 7)).get(timeout=30))
try:
    app.send_task("weft.panic").get(timeout=30)
except Exception as e:
    print("panic", type(e).__name__, str(e))
try:
    app.send_task("weft.unknown", (1,)).get(timeout=30)
except Exception as e:
    print("unknown", type(e).__name__)
rs = [app.send_task("tasks.add", (i, i)) for i in range(200)]
print("many", sum(r.get(timeout=60) for r in rs))
"#;
    let out = common::python_script(&py, &dir, &url, script);
    assert!(out.contains("mul 42"), "{out}");
    assert!(out.contains("panic RustPanic no luck"), "{out}");
    assert!(out.contains("unknown NotRegistered"), "{out}");
    assert!(
        out.contains(&format!("many {}", (0..200).map(|i| 2 * i).sum::<i64>())),
        "{out}"
    );

    // A Python client revokes a task queued behind a busy one.
    let script = r#"
import sys
from tasks import app
busy = app.send_task("weft.gated", (1,))
victim = app.send_task("tasks.add", (1, 1))
app.control.revoke(victim.id)
print("ids", busy.id, victim.id)
"#;
    let out = common::python_script(&py, &dir, &url, script);
    let ids: Vec<&str> = out.split_whitespace().skip(1).collect();
    let (busy, victim) = (ids[0].to_owned(), ids[1].to_owned());
    eventually(
        "the weft worker to learn of the revoke",
        Duration::from_secs(20),
        || handle.is_revoked(&victim).then_some(()),
    );
    GATE.store(true, Ordering::SeqCst);
    let script = format!(
        r#"
from celery.exceptions import TaskRevokedError
from tasks import app
print("busy", app.AsyncResult("{busy}").get(timeout=30))
try:
    app.AsyncResult("{victim}").get(timeout=30)
except TaskRevokedError:
    print("victim revoked")
"#
    );
    let out = common::python_script(&py, &dir, &url, &script);
    assert!(out.contains("busy 1"), "{out}");
    assert!(out.contains("victim revoked"), "{out}");
    handle.stop();
}

/// Helper process: a weft worker whose task never ends (killed by the test).
#[test]
#[ignore = "helper process, started by python_restores_what_a_killed_weft_worker_held"]
fn interop_child_worker_that_hangs() {
    let Ok(url) = std::env::var("WEFT_CHILD_REDIS") else {
        return;
    };
    let app = Celery::connect(&url).unwrap();
    let _handle = app
        .worker()
        .register_fn("weft.hang", |_x: u64| -> u64 {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .concurrency(1)
        .build()
        .unwrap()
        .spawn();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn unacked(c: &mut redis::Connection) -> usize {
    redis::cmd("HLEN").arg("unacked").query(c).unwrap()
}

#[test]
fn python_restores_what_a_killed_weft_worker_held() {
    let Some(py) = common::python("python_restores_weft") else {
        return;
    };
    let Some(redis) = common::redis("python_restores_weft") else {
        return;
    };
    let dir = common::tmp_dir("py-restore");
    let url = redis.url(0);
    let log = dir.join("child.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "interop_child_worker_that_hangs",
            "--ignored",
            "--nocapture",
        ])
        .env("WEFT_CHILD_REDIS", &url)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = common::Proc {
        child: Some(child),
        log,
    };
    let app = Celery::connect(&url).unwrap();
    let f = app.executor().submit_named::<u64>("weft.hang", 4u64);
    let mut c = redis.conn(0);
    eventually(
        "the weft child to take the task",
        Duration::from_secs(30),
        || (unacked(&mut c) == 1).then_some(()),
    );
    child.kill();
    std::thread::sleep(Duration::from_millis(1100));
    // kombu restores when its consumer starts, for messages older than its visibility timeout.
    let _worker = common::python_worker(&py, &dir, &url, 1, 1.0, "restorer");
    assert_eq!(f.result(), Ok(40));
    // Celery stores the result, then acknowledges (two steps, unlike weft's one transaction).
    eventually(
        "the Python worker to acknowledge",
        Duration::from_secs(20),
        || (unacked(&mut c) == 0).then_some(()),
    );
}

#[test]
fn weft_restores_what_a_killed_python_worker_held() {
    let Some(py) = common::python("weft_restores_python") else {
        return;
    };
    let Some(redis) = common::redis("weft_restores_python") else {
        return;
    };
    let dir = common::tmp_dir("weft-restore");
    let url = redis.url(0);
    let mut worker = common::python_worker(&py, &dir, &url, 1, 3600.0, "victim");
    let app = Celery::builder(&url)
        .visibility_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let f = app.executor().submit_named::<f64>("tasks.slow", 60.0);
    let mut c = redis.conn(0);
    eventually(
        "the Python worker to take the task",
        Duration::from_secs(30),
        || (unacked(&mut c) == 1).then_some(()),
    );
    worker.kill();
    let handle = app
        .worker()
        .register_fn("tasks.slow", |s: f64| s / 2.0)
        .build()
        .unwrap()
        .spawn();
    assert_eq!(f.result(), Ok(30.0));
    assert_eq!(unacked(&mut c), 0);
    handle.stop();
}
