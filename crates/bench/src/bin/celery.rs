//! weft-celery beside Python Celery, on one `redis-server` started here on a free loopback
//! port (skipped, with a note, when there is none):
//!
//! * `celery_roundtrip`: one task at a time, submit to result (µs/task): the latency of the
//!   whole path, client → Redis → worker → Redis → client.
//! * `celery_throughput`: 10 000 tiny tasks submitted at once and collected as they complete,
//!   4 worker threads (µs/task; the inverse of tasks per second).
//!
//! `weft` is a weft client with a weft worker; `python` is a Python Celery client with a Python
//! Celery worker (`-P threads -c 4`) from `target/celery-venv` or `$WEFT_CELERY_VENV`, on
//! another queue of the same Redis.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use weft_bench::{emit, enabled, median, scale};
use weft_celery::Celery;
use weft_futures::as_completed;

/// A child process killed and reaped on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PY_TASKS: &str = r#"
import os
from celery import Celery
url = os.environ["WEFT_BENCH_REDIS"]
app = Celery("bench_tasks", broker=url, backend=url)

@app.task(name="bench.noop")
def noop(x):
    return x
"#;

const PY_CLIENT: &str = r#"
import os, sys, time
from bench_tasks import app, noop
mode, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
noop.apply_async((0,), queue="pybench").get(timeout=60)
for _ in range(runs):
    t = time.perf_counter()
    if mode == "roundtrip":
        for i in range(n):
            noop.apply_async((i,), queue="pybench").get(timeout=60)
    else:
        rs = [noop.apply_async((i,), queue="pybench") for i in range(n)]
        for r in rs:
            r.get(timeout=120)
    print((time.perf_counter() - t) / n * 1e6, flush=True)
"#;

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    if !enabled("celery_roundtrip") && !enabled("celery_throughput") {
        return;
    }
    if Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("  redis-server is not installed: the celery benchmarks are skipped");
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("weft-bench-celery-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _redis = Guard(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    let url = format!("redis://127.0.0.1:{port}/0");
    let started = Instant::now();
    let app = loop {
        match Celery::connect(&url) {
            Ok(app) => break app,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "redis-server did not start: {e}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    let roundtrips = scale(500).max(20);
    let tasks = scale(10_000).max(100);

    let worker = app
        .worker()
        .register_fn("bench.noop", |x: u64| x)
        .concurrency(4)
        .build()
        .unwrap()
        .spawn();
    let ex = app.executor();
    assert_eq!(ex.submit_named::<u64>("bench.noop", 1u64).result(), Ok(1));
    if enabled("celery_roundtrip") {
        let m = median(|| {
            let t = Instant::now();
            for i in 0..roundtrips {
                assert_eq!(ex.submit_named::<u64>("bench.noop", i).result(), Ok(i));
            }
            t.elapsed().as_secs_f64() / roundtrips as f64 * 1e6
        });
        emit("celery_roundtrip", "weft", m, "µs/task");
    }
    if enabled("celery_throughput") {
        let m = median(|| {
            let t = Instant::now();
            let fs: Vec<_> = (0..tasks)
                .map(|i| ex.submit_named::<u64>("bench.noop", i))
                .collect();
            let sum: u64 = as_completed(fs).map(|f| f.result().unwrap()).sum();
            assert_eq!(sum, tasks * (tasks - 1) / 2);
            t.elapsed().as_secs_f64() / tasks as f64 * 1e6
        });
        emit("celery_throughput", "weft", m, "µs/task");
    }
    worker.stop();

    let venv = std::env::var_os("WEFT_CELERY_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/celery-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    if python.is_file() {
        std::fs::write(dir.join("bench_tasks.py"), PY_TASKS).unwrap();
        let _py = Guard(
            Command::new(&python)
                .args([
                    "-m",
                    "celery",
                    "-A",
                    "bench_tasks",
                    "worker",
                    "-P",
                    "threads",
                    "-c",
                    "4",
                ])
                .args([
                    "-Q",
                    "pybench",
                    "--loglevel=WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ])
                .current_dir(&dir)
                .env("WEFT_BENCH_REDIS", &url)
                .env("PYTHONPATH", &dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the Python worker"),
        );
        for (workload, n) in [
            ("celery_roundtrip", roundtrips),
            ("celery_throughput", tasks),
        ] {
            if !enabled(workload) {
                continue;
            }
            let mode = workload.trim_start_matches("celery_");
            let out = Command::new(&python)
                .args([
                    "-c",
                    PY_CLIENT,
                    mode,
                    &n.to_string(),
                    &weft_bench::runs().to_string(),
                ])
                .current_dir(&dir)
                .env("WEFT_BENCH_REDIS", &url)
                .env("PYTHONPATH", &dir)
                .stderr(Stdio::inherit())
                .output()
                .expect("run the Python client");
            let mut v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if v.is_empty() {
                eprintln!("  the Python client failed for {workload}");
                continue;
            }
            v.sort_by(f64::total_cmp);
            emit(workload, "python", v[v.len() / 2], "µs/task");
        }
    } else {
        eprintln!(
            "  no Python Celery at {}: the python column is skipped",
            venv.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
