//! Real parts for the tests: a `redis-server` on a free loopback port, Python Celery in a
//! virtual environment, each stopped by a guard, also when a test panics.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]

use std::{
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Prints why a test is skipped; CI sets `WEFT_CELERY_REQUIRED`, and then a skip is a failure.
fn skip(line: &str) {
    assert!(
        std::env::var_os("WEFT_CELERY_REQUIRED").is_none(),
        "{line} (WEFT_CELERY_REQUIRED is set)"
    );
    eprintln!("{line}");
}

/// A `redis-server` child process on 127.0.0.1; killed and reaped on drop.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

pub fn redis_server() -> Option<PathBuf> {
    let bin = std::env::var_os("WEFT_REDIS_SERVER")
        .map_or_else(|| PathBuf::from("redis-server"), PathBuf::from);
    let ok = Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(bin)
}

/// Starts a Redis server, or prints a skip line and returns `None` when there is none.
pub fn redis(test: &str) -> Option<Redis> {
    redis_with(test, &[])
}

pub fn redis_with(test: &str, extra: &[&str]) -> Option<Redis> {
    if redis_server().is_none() {
        skip(&format!(
            "SKIP {test}: redis-server is not installed (apt-get install redis-server)"
        ));
        return None;
    }
    let port = free_port();
    let dir = tmp_dir(test);
    let mut r = Redis {
        child: None,
        port,
        dir,
        args: extra.iter().map(|s| (*s).to_owned()).collect(),
    };
    r.start();
    Some(r)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn tmp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("celery-tests")
        .join(format!("{name}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Redis {
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    pub fn start(&mut self) {
        let bin = redis_server().unwrap();
        let mut cmd = Command::new(bin);
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(&self.dir)
        .args(&self.args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        self.child = Some(cmd.spawn().expect("start redis-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
                && let Ok(mut conn) = c.get_connection_with_timeout(Duration::from_millis(200))
            {
                let pong: redis::RedisResult<String> = redis::cmd("PING").query(&mut conn);
                if pong.is_ok() || pong.as_ref().is_err_and(|e| e.code() == Some("NOAUTH")) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server: SIGTERM (it writes its append-only file if configured), then waits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_free_term(&c);
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn conn(&self, db: u32) -> redis::Connection {
        redis::Client::open(self.url(db))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

/// Sends SIGTERM through the `kill` command (no libc dependency).
fn unsafe_free_term(c: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status();
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed and reaped on drop.
pub struct Proc {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait (Celery's warm shutdown).
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe_free_term(&c);
            let deadline = Instant::now() + Duration::from_secs(20);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until the log contains `needle` (panics with the log after `limit`).
    pub fn wait_for_log(&self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle:?} never appeared in the log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Python interpreter of a virtual environment with Celery, or `None` (with a skip line).
pub fn python(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("WEFT_CELERY_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/celery-venv"),
        PathBuf::from,
    );
    let py = venv.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import celery, redis"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(py)
    } else {
        skip(&format!(
            "SKIP {test}: no Python Celery at {} (python3 -m venv target/celery-venv && target/celery-venv/bin/pip install celery redis packaging; or set WEFT_CELERY_VENV)",
            venv.display()
        ));
        None
    }
}

/// The tasks module the Python workers load.
pub const TASKS_PY: &str = r#"
import os, time
from celery import Celery
url = os.environ["WEFT_TEST_REDIS"]
app = Celery("tasks", broker=url, backend=url)
app.conf.broker_transport_options = {"visibility_timeout": float(os.environ.get("WEFT_TEST_VT", "3600"))}
app.conf.worker_prefetch_multiplier = 1

@app.task(name="tasks.add")
def add(a, b):
    return a + b

@app.task(name="tasks.boom")
def boom():
    raise ValueError("bad value")

@app.task(name="tasks.slow", acks_late=True)
def slow(seconds):
    time.sleep(seconds)
    return seconds

@app.task(name="weft.hang", acks_late=True)
def hang(x):
    return x * 10
"#;

/// Starts a Python Celery worker (threads pool) on `url`, waiting until it is ready.
pub fn python_worker(
    py: &Path,
    dir: &Path,
    url: &str,
    concurrency: u32,
    vt_secs: f64,
    name: &str,
) -> Proc {
    std::fs::write(dir.join("tasks.py"), TASKS_PY).unwrap();
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(py)
        .args([
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "-P",
            "threads",
            "--loglevel=INFO",
        ])
        .args([
            "-c",
            &concurrency.to_string(),
            "-n",
            &format!("{name}@localhost"),
        ])
        .args([
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ])
        .current_dir(dir)
        .env("WEFT_TEST_REDIS", url)
        .env("WEFT_TEST_VT", vt_secs.to_string())
        .env("PYTHONPATH", dir)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start the Python worker");
    let p = Proc {
        child: Some(child),
        log,
    };
    p.wait_for_log("ready.", Duration::from_secs(60));
    p
}

/// Runs a Python script (with the tasks module importable) and returns its stdout.
pub fn python_script(py: &Path, dir: &Path, url: &str, script: &str) -> String {
    std::fs::write(dir.join("tasks.py"), TASKS_PY).unwrap();
    let out = Command::new(py)
        .args(["-c", script])
        .current_dir(dir)
        .env("WEFT_TEST_REDIS", url)
        .env("PYTHONPATH", dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `f` every 20 ms until it returns `Some`, failing after `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The stored task-meta document of `id`, if any.
pub fn meta(conn: &mut redis::Connection, id: &str) -> Option<serde_json::Value> {
    let v: Option<String> = redis::cmd("GET")
        .arg(format!("celery-task-meta-{id}"))
        .query(conn)
        .unwrap();
    v.map(|s| serde_json::from_str(&s).unwrap())
}
