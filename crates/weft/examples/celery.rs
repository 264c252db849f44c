//! Beyond one machine: the guide's CPU-bound sum of squares, sent through Redis to Celery
//! workers, next to the local pools. The scenario starts its own `redis-server` on a free
//! loopback port, two weft workers (each a `ThreadPoolExecutor` fed from Redis), and, when a
//! Python Celery virtual environment exists at `target/celery-venv` (or `$WEFT_CELERY_VENV`),
//! a Python Celery worker that takes part through the same Redis. It stops everything at the
//! end. Without `redis-server` it says so and skips.
//!
//! Python: `celery -A tasks worker`, then `group(cpu_bound.s(n) for n in numbers)().get()`.
//! Runs as `cargo xtask demo --scenario celery`.

use std::{
    hint::black_box,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use weft::{celery::Celery, futures::as_completed, pool::ThreadPoolExecutor};

fn cpu_bound(number: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..number {
        sum = sum.wrapping_add(black_box(i * i));
    }
    sum
}

/// A child process killed and reaped when dropped, also on panic.
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
url = os.environ["WEFT_DEMO_REDIS"]
app = Celery("demo_tasks", broker=url, backend=url)
app.conf.worker_prefetch_multiplier = 1

@app.task(name="python.cpu_bound")
def cpu_bound(number):
    return sum(i * i for i in range(number)) % (1 << 64)
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(status) = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    else {
        println!(
            "redis-server is not installed (apt-get install redis-server): skipping the celery scenario"
        );
        println!("DEMO-RESULT {{\"scenario\":\"celery\"}}");
        return Ok(());
    };
    assert!(status.success(), "redis-server --version failed");
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
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
            .stdout(Stdio::null())
            .spawn()?,
    );
    let url = format!("redis://127.0.0.1:{port}/0");
    let started = Instant::now();
    let app = loop {
        match Celery::connect(&url) {
            Ok(app) => break app,
            Err(e) if started.elapsed() > Duration::from_secs(10) => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    println!("redis-server on 127.0.0.1:{port}");

    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let per_worker = cores.div_ceil(2).max(1);
    let workers: Vec<_> = (0..2)
        .map(|i| {
            app.worker()
                .register_fn("weft.cpu_bound", cpu_bound)
                .concurrency(per_worker)
                .hostname(&format!("weft{i}@demo"))
                .build()
                .map(|w| w.spawn())
        })
        .collect::<Result<_, _>>()?;
    println!("two weft workers, {per_worker} threads each");

    let numbers: Vec<u64> = (0..8).map(|i| 100_000_000 + i).collect();

    println!("Sequential:");
    let start = Instant::now();
    let expected: Vec<u64> = numbers.iter().map(|&n| cpu_bound(n)).collect();
    let sequential = start.elapsed().as_secs_f64();
    println!("Duration {sequential:.2} seconds");

    println!("ThreadPoolExecutor ({cores} workers):");
    let start = Instant::now();
    let on_threads: Vec<u64> = ThreadPoolExecutor::new(cores)
        .map(cpu_bound, numbers.clone())
        .map(|r| r.expect("cpu_bound panicked"))
        .collect();
    let threads_s = start.elapsed().as_secs_f64();
    assert_eq!(on_threads, expected);
    println!(
        "Duration {threads_s:.2} seconds ({:.2}x)",
        sequential / threads_s
    );

    println!("Celery over Redis (two weft workers):");
    let start = Instant::now();
    let ex = app.executor();
    let futures: Vec<_> = numbers
        .iter()
        .map(|&n| ex.submit_named::<u64>("weft.cpu_bound", n))
        .collect();
    let mut on_celery: Vec<u64> = as_completed(futures)
        .map(|f| f.result().expect("the remote task failed"))
        .collect();
    let celery_s = start.elapsed().as_secs_f64();
    on_celery.sort_unstable();
    let mut sorted = expected.clone();
    sorted.sort_unstable();
    assert_eq!(on_celery, sorted);
    println!(
        "Duration {celery_s:.2} seconds ({:.2}x)",
        sequential / celery_s
    );

    // A Python Celery worker on the same Redis, when one is installed: it takes tasks that a
    // weft client sends, on its own queue (CPython is about a hundred times slower at this
    // loop, so it gets the guide's original ten-million numbers, and only two of them).
    let venv = std::env::var_os("WEFT_CELERY_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/celery-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    if python.is_file() {
        let dir = std::env::temp_dir().join(format!("weft-celery-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("demo_tasks.py"), PY_TASKS)?;
        let _py = Guard(
            Command::new(&python)
                .args([
                    "-m",
                    "celery",
                    "-A",
                    "demo_tasks",
                    "worker",
                    "-P",
                    "threads",
                    "-c",
                    "1",
                ])
                .args([
                    "-Q",
                    "python",
                    "--loglevel=WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ])
                .current_dir(&dir)
                .env("WEFT_DEMO_REDIS", &url)
                .env("PYTHONPATH", &dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let small: Vec<u64> = (0..2).map(|i| 10_000_000 + i).collect();
        println!("Python Celery worker (queue `python`, numbers {small:?}):");
        let start = Instant::now();
        let py_ex = app.executor().queue("python");
        let futures: Vec<_> = small
            .iter()
            .map(|&n| py_ex.submit_named::<u64>("python.cpu_bound", n))
            .collect();
        for (f, &n) in futures.into_iter().zip(&small) {
            let got = f.result()?;
            assert_eq!(got, cpu_bound(n));
        }
        println!(
            "Duration {:.2} seconds (includes the Python worker's start-up), results equal to Rust's",
            start.elapsed().as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!(
            "no Python Celery at {} : the Python worker is skipped",
            venv.display()
        );
    }

    for w in workers {
        w.stop();
    }
    println!(
        "DEMO-RESULT {{\"scenario\":\"celery\",\"sequential_s\":{sequential:.4},\"concurrent_s\":{celery_s:.4}}}"
    );
    Ok(())
}
