//! One task declared once, one generic function written once against `Executor`, run on the
//! three executors: a `ThreadPoolExecutor`, a `ProcessPoolExecutor` and a `CeleryExecutor`
//! (a real `redis-server` on a loopback port, a weft worker that registers the same tasks).
//! Then the futures of all three, mixed, through one `as_completed`.
//!
//! A `harness = false` target: the process pool forks, and libtest always runs a thread pool.
//! `main` builds the process pool first, while this is the only thread (its zygote is the
//! only fork of this process). Without `redis-server`, the Celery part prints a skip line
//! (and fails when `WEFT_CELERY_REQUIRED` is set), as the other Celery tests do.

#[cfg(any(miri, weft_loom))]
fn main() {
    println!("executors: fork tests skipped under Miri / loom");
}

#[cfg(not(any(miri, weft_loom)))]
#[path = "../../celery/tests/common/mod.rs"]
mod common;

#[cfg(not(any(miri, weft_loom)))]
fn main() {
    cases::main();
}

#[cfg(not(any(miri, weft_loom)))]
mod cases {
    use std::time::Instant;

    use weft::{
        celery::Celery,
        futures::{Executor, MapOptions, TaskError, as_completed, task},
        pool::ThreadPoolExecutor,
        process::ProcessPoolExecutor,
    };

    task! {
        /// `a + b`.
        pub struct Add = "weft.executors.add";
        fn run((a, b): (i64, i64)) -> i64 { a + b }

        /// `x * x`, or a panic "seven" for `x == 7`.
        pub struct Square = "weft.executors.square";
        fn run(x: u64) -> u64 {
            assert!(x != 7, "seven");
            x * x
        }

        /// The words of a line, counted.
        pub struct Words = "weft.executors.words";
        fn run(line: String) -> usize { line.split_whitespace().count() }
    }

    /// Written once: submit, try_submit, map (one failing item), map_with (chunks), and
    /// `as_completed` over the futures of a batch. The same code for every executor.
    fn work<E: Executor>(ex: &E) {
        assert_eq!(ex.submit::<Add>((2, 3)).result(), Ok(5));
        let f = ex
            .try_submit::<Words>("to be or not".to_owned())
            .unwrap_or_else(|_| panic!("a running executor refused a task"));
        assert_eq!(f.result(), Ok(4));

        let squares: Vec<Result<u64, TaskError>> = ex.map::<Square, _>(0..10).collect();
        for (x, r) in squares.iter().enumerate() {
            if x == 7 {
                assert!(
                    matches!(r, Err(TaskError::Panicked(m) | TaskError::Failed(m)) if m.contains("seven")),
                    "item 7 fails alone with its panic: {r:?}"
                );
            } else {
                assert_eq!(r, &Ok((x * x) as u64), "item {x}");
            }
        }

        let opts = MapOptions::default().chunksize(4).buffersize(3);
        let sums: Vec<i64> = ex
            .map_with::<Add, _>((0..30).map(|i| (i, i)), opts)
            .map(Result::unwrap)
            .collect();
        assert_eq!(sums, (0..30).map(|i| 2 * i).collect::<Vec<i64>>());

        let futures: Vec<_> = (1..=6).map(|i| ex.submit::<Add>((i, 10))).collect();
        let total: i64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
        assert_eq!(total, 21 + 60);
    }

    fn timed(name: &str, f: impl FnOnce()) {
        let t = Instant::now();
        f();
        println!("test {name} ... ok ({:.0?})", t.elapsed());
    }

    pub(super) fn main() {
        // The expected panics of `Square` (item 7) would each print a message and a backtrace,
        // on every executor: keep quiet about those, report every other panic.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
            if msg != Some("seven") {
                report(info);
            }
        }));
        // First, while this is the only thread: the process pool's one fork.
        let processes = ProcessPoolExecutor::new(2).expect("cannot start the process pool");
        let threads = ThreadPoolExecutor::new(2);
        timed("work_on_process_pool", || work(&processes));
        timed("work_on_thread_pool", || work(&threads));

        let Some(redis) = super::common::redis("work_on_celery") else {
            println!("2 passed, 0 failed (Celery skipped)");
            return;
        };
        let app = Celery::connect(&redis.url(0)).expect("cannot connect to redis-server");
        let worker = app
            .worker()
            .register_task::<Add>()
            .register_task::<Square>()
            .register_task::<Words>()
            .concurrency(2)
            .build()
            .expect("cannot build the worker")
            .spawn();
        let celery = app.executor();
        timed("work_on_celery", || work(&celery));

        // The futures of the three executors are the same type: one `as_completed` for all.
        timed("as_completed_over_all_three", || {
            let mut futures = Vec::new();
            for i in 0..4 {
                futures.push(Executor::submit::<Add>(&processes, (i, 100)));
                futures.push(Executor::submit::<Add>(&threads, (i, 200)));
                futures.push(celery.submit::<Add>((i, 300)));
            }
            let total: i64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
            assert_eq!(total, 3 * 6 + 4 * 600);
        });

        Executor::shutdown(&celery, true, false);
        Executor::shutdown(&threads, true, false);
        Executor::shutdown(&processes, true, false);
        worker.stop();
        println!("4 passed, 0 failed");
    }
}
