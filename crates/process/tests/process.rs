//! Everything that crosses a fork, through the public API: the happy path, the fault table
//! (including CPython's crash matrix), shutdown, and leak checks.
//!
//! A `harness = false` target: libtest always runs a thread pool, and forking from a
//! multi-threaded process is exactly what the pool tells its users not to do. `main` runs each
//! case on the main thread and checks that it leaves no descriptor and no child process behind
//! (`/proc/self/fd` and the processes whose parent is us, zombies included). Miri and loom
//! cannot fork: under them this prints a skip line and the summary, and passes.

#[cfg(any(miri, weft_loom))]
fn main() {
    println!("process: fork tests skipped under Miri / loom");
    println!("0 passed, 0 failed");
}

#[cfg(not(any(miri, weft_loom)))]
fn main() {
    cases::main();
}

#[cfg(not(any(miri, weft_loom)))]
mod cases {
    use std::{
        panic::{AssertUnwindSafe, catch_unwind},
        time::{Duration, Instant},
    };

    use serde::{Deserialize, Deserializer, Serialize, Serializer, de, ser};
    use weft_futures::{MapOptions, TaskError, conformance};
    use weft_process::ProcessPoolExecutor;
    use weft_sync::atomic::{AtomicU32, Ordering};

    type Case = (&'static str, fn());

    /// Upper bound for "returns soon": only a hang, or a pool that keeps going wrong, exceeds
    /// it. On a loaded machine, beside the other checks, seconds pass between two steps.
    const SLACK: Duration = Duration::from_secs(30);

    /// How long, in milliseconds, a task runs when a case checks that something does not wait
    /// for it: longer than [`SLACK`], so that waiting for the task and a slow machine cannot be
    /// mistaken for one another.
    const LONG_MS: u64 = 60_000;
    const LONG: Duration = Duration::from_millis(LONG_MS);

    const CASES: &[Case] = &[
        ("happy_path", happy_path),
        ("build_errors", build_errors),
        ("many_tasks", many_tasks),
        ("task_panic_keeps_worker", task_panic_keeps_worker),
        ("sigkill_mid_task", sigkill_mid_task),
        ("exit_in_task", exit_in_task),
        ("abort_in_task", abort_in_task),
        ("zygote_killed", zygote_killed),
        ("arg_fails_to_serialize", arg_fails_to_serialize),
        ("result_fails_to_serialize", result_fails_to_serialize),
        ("result_fails_to_deserialize", result_fails_to_deserialize),
        ("undecodable_frame", undecodable_frame),
        (
            "crash_while_decoding_argument",
            crash_while_decoding_argument,
        ),
        ("crash_while_encoding_result", crash_while_encoding_result),
        ("large_payloads", large_payloads),
        ("max_tasks_per_child_rotation", max_tasks_per_child_rotation),
        ("initializer_once_per_worker", initializer_once_per_worker),
        (
            "initializer_panics_breaks_pool",
            initializer_panics_breaks_pool,
        ),
        ("cancel_queued", cancel_queued),
        ("map_ordered_and_chunked", map_ordered_and_chunked),
        ("map_is_lazy", map_is_lazy),
        ("map_drop_cancels", map_drop_cancels),
        ("shutdown_cancel_futures", shutdown_cancel_futures),
        ("shutdown_no_wait_then_drop", shutdown_no_wait_then_drop),
        ("drop_waits_for_work", drop_waits_for_work),
        ("submit_after_shutdown", submit_after_shutdown),
        ("terminate_workers", terminate_workers),
        ("kill_workers", kill_workers),
        ("deny_threads", deny_threads),
        (
            "callbacks_and_concurrent_submitters",
            callbacks_and_concurrent_submitters,
        ),
        ("two_pools", two_pools),
        (
            "pools_built_back_to_back_are_not_threads",
            pools_built_back_to_back_are_not_threads,
        ),
        ("sent_ahead_requeued_on_death", sent_ahead_requeued_on_death),
        ("built_on_a_thread_that_exits", built_on_a_thread_that_exits),
        (
            "map_worker_death_fails_its_chunk",
            map_worker_death_fails_its_chunk,
        ),
        ("stress_submit_cancel_map", stress_submit_cancel_map),
        (
            "initializer_exits_breaks_pool",
            initializer_exits_breaks_pool,
        ),
        (
            "workers_run_tasks_with_the_mask_they_started_with",
            workers_run_tasks_with_the_mask_they_started_with,
        ),
        (
            "an_initializers_cpu_mask_is_kept",
            an_initializers_cpu_mask_is_kept,
        ),
        ("executor_work", executor_work),
        ("executor_map_eager_then_lazy", executor_map_eager_then_lazy),
        (
            "executor_map_fails_items_alone",
            executor_map_fails_items_alone,
        ),
        ("executor_map_drop_cancels", executor_map_drop_cancels),
        (
            "executor_refuses_after_shutdown",
            executor_refuses_after_shutdown,
        ),
    ];

    /// The CPUs the calling thread may run on.
    fn my_cpus() -> Vec<usize> {
        weft_sync::cpu::mask_of(None).map_or_else(Vec::new, |m| m.iter().collect())
    }

    /// Sleeps (a task slow enough for the dispatcher to place its worker first), then reports
    /// the worker's CPU mask.
    fn mask_after(ms: u64) -> Vec<usize> {
        std::thread::sleep(Duration::from_millis(ms));
        my_cpus()
    }

    /// The dispatcher pins an idle worker to one CPU before it sends it a slow task; the worker
    /// takes its own mask back before the task runs, so a task never sees the pin (on a machine
    /// with one CPU nothing is pinned, and this holds trivially). Round 0 meets workers just
    /// born, which are placed from their first task when the pool has no initializer; with an
    /// initializer (a slow one, that leaves the mask alone), a worker is placed only once it has
    /// read its mask after it.
    fn workers_run_tasks_with_the_mask_they_started_with() {
        let mine = my_cpus();
        // More workers than CPUs, so that some share one.
        let workers = mine.len() + 1;
        for init in [false, true] {
            let mut b = ProcessPoolExecutor::builder().max_workers(workers);
            if init {
                b = b.initializer(|| std::thread::sleep(Duration::from_millis(20)));
            }
            let pool = b.build().unwrap();
            for round in 0..3 {
                let masks: Vec<Vec<usize>> = pool
                    .map(mask_after, vec![2; 3 * workers])
                    .map(Result::unwrap)
                    .collect();
                for m in masks {
                    assert_eq!(
                        m, mine,
                        "initializer {init}, round {round}: a task ran with the pool's placement pin"
                    );
                }
            }
        }
    }

    /// A worker whose initializer narrowed its own mask keeps it: placements choose within it
    /// and give it back.
    fn an_initializers_cpu_mask_is_kept() {
        let Some(&first) = my_cpus().first() else {
            return;
        };
        let pool = ProcessPoolExecutor::builder()
            .max_workers(my_cpus().len() + 1)
            .initializer(move || {
                let one = weft_sync::cpu::CpuSet::one(first).unwrap();
                assert!(weft_sync::cpu::set_mask(None, &one));
            })
            .build()
            .unwrap();
        let masks: Vec<Vec<usize>> = pool
            .map(mask_after, vec![2; 6])
            .map(Result::unwrap)
            .collect();
        for m in masks {
            assert_eq!(m, vec![first]);
        }
    }

    // The checks every `weft_futures::Executor` passes, written once in
    // `weft_futures::conformance` and run on the thread pool too (`crates/pool/tests/executor.rs`).

    fn executor_work() {
        conformance::work(&ProcessPoolExecutor::new(2).unwrap());
    }

    fn executor_map_eager_then_lazy() {
        conformance::map_is_eager_then_lazy(&ProcessPoolExecutor::new(2).unwrap());
    }

    fn executor_map_fails_items_alone() {
        conformance::map_fails_items_alone(&ProcessPoolExecutor::new(2).unwrap());
    }

    fn executor_map_drop_cancels() {
        // Without prefetch, a worker holds one task at a time: every queued one is cancellable.
        for workers in [1, 2] {
            let pool = ProcessPoolExecutor::builder()
                .max_workers(workers)
                .prefetch(0)
                .build()
                .unwrap();
            conformance::map_cancels_unconsumed_tasks_on_drop(&pool, workers);
        }
    }

    fn executor_refuses_after_shutdown() {
        conformance::refuses_after_shutdown(&ProcessPoolExecutor::new(1).unwrap());
    }

    fn fd_count() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(Iterator::count)
            .unwrap_or(0)
    }

    /// Processes whose parent is this one, zombies included.
    fn children() -> Vec<i32> {
        let me = std::process::id().to_string();
        let mut v = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if rest.split_whitespace().nth(1) == Some(me.as_str()) {
                v.push(pid);
            }
        }
        v
    }

    pub(super) fn main() {
        let filter: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let (mut passed, mut failed) = (0, 0);
        for &(name, case) in CASES {
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let fds = fd_count();
            let kids = children();
            let t = Instant::now();
            let r = catch_unwind(AssertUnwindSafe(case));
            let mut leak = String::new();
            // Everything is reaped by the time the pool's Drop returns; allow a moment only
            // for the kernel to finish tearing down (a long one on a loaded machine).
            let until = Instant::now() + SLACK;
            loop {
                let (f, k) = (fd_count(), children());
                if f == fds && k.is_empty() {
                    break;
                }
                if Instant::now() > until {
                    leak = format!(
                        "leak: {fds} fds before, {f} after; children before {kids:?}, after {k:?}"
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            match (r, leak.is_empty()) {
                (Ok(()), true) => {
                    passed += 1;
                    println!("test {name} ... ok ({:.0?})", t.elapsed());
                }
                (Ok(()), false) => {
                    failed += 1;
                    println!("test {name} ... FAILED: {leak}");
                }
                (Err(p), _) => {
                    failed += 1;
                    let msg = p
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| p.downcast_ref::<&str>().copied())
                        .unwrap_or("?");
                    println!("test {name} ... FAILED: {msg} {leak}");
                }
            }
        }
        println!("{passed} passed, {failed} failed");
        if failed > 0 {
            std::process::exit(1);
        }
    }

    // ---- tasks (plain functions: they cross the fork as addresses) ----

    fn square(x: u64) -> u64 {
        x * x
    }

    fn pid(_: ()) -> u32 {
        std::process::id()
    }

    fn ppid(_: ()) -> i32 {
        // SAFETY: a plain system call.
        unsafe { libc::getppid() }
    }

    fn sleep_ms(ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }

    /// A directory for one case's marker files: a task makes itself seen by creating one, and
    /// is held by waiting for one (a gate) that the case creates. Removed when dropped, which
    /// also lets go every task still held: declare it after the pool, so that it is dropped
    /// first, also when the case fails.
    struct Markers(std::path::PathBuf);

    impl Markers {
        fn new(case: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("weft-process-{case}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("cannot create the marker directory");
            Self(dir)
        }

        fn path(&self, name: &str) -> String {
            self.0.join(name).to_string_lossy().into_owned()
        }

        fn exists(&self, name: &str) -> bool {
            self.0.join(name).exists()
        }

        fn create(&self, name: &str) {
            std::fs::write(self.0.join(name), b"").expect("cannot create a marker file");
        }
    }

    impl Drop for Markers {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Creates the file `mark` if given, then waits until the file `gate` exists (or its
    /// directory is gone), if given.
    fn mark_then_wait((mark, gate): (Option<String>, Option<String>)) {
        if let Some(mark) = mark {
            std::fs::write(mark, b"").expect("cannot create a marker file");
        }
        if let Some(gate) = gate {
            let gate = std::path::Path::new(&gate);
            while !gate.exists() && gate.parent().is_some_and(std::path::Path::exists) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    fn boom(msg: String) -> u8 {
        panic!("{msg}");
    }

    fn suicide(sig: i32) -> u8 {
        // SAFETY: signalling ourselves.
        unsafe { libc::kill(libc::getpid(), sig) };
        std::thread::sleep(Duration::from_secs(10));
        0
    }

    fn exit_with(code: i32) -> u8 {
        std::process::exit(code)
    }

    fn abort(_: ()) -> u8 {
        std::process::abort()
    }

    fn echo(v: Vec<u8>) -> Vec<u8> {
        v
    }

    /// Bytes serialized as one byte string (as `serde_bytes` does), not element by element.
    #[derive(Debug, PartialEq)]
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl de::Visitor<'_> for V {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    fn echo_bytes(b: Bytes) -> Bytes {
        let mut v = b.0;
        v.reverse();
        Bytes(v)
    }

    fn expect_broken(r: Result<impl std::fmt::Debug, TaskError>, needle: &str) {
        match r {
            Err(TaskError::BrokenPool(why)) => {
                assert!(why.contains(needle), "{why:?} does not name {needle:?}");
            }
            other => panic!("expected BrokenPool naming {needle:?}, got {other:?}"),
        }
    }

    // ---- cases ----

    fn happy_path() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        assert_eq!(pool.submit(square, 7).result(), Ok(49));
        let fs: Vec<_> = (0..20).map(|i| pool.submit(square, i)).collect();
        for (i, f) in fs.into_iter().enumerate() {
            assert_eq!(f.result(), Ok((i * i) as u64));
        }
        let v: Vec<u64> = pool.map(square, 0..10).map(Result::unwrap).collect();
        assert_eq!(v, (0..10).map(|i| i * i).collect::<Vec<_>>());
        // Non-capturing closures coerce to `fn` and work too; tuples carry several arguments.
        assert_eq!(
            pool.submit(
                |(a, b): (String, u32)| a.repeat(b as usize),
                ("ab".into(), 3)
            )
            .result(),
            Ok("ababab".into())
        );
        let me = std::process::id();
        assert_ne!(pool.submit(pid, ()).result(), Ok(me));
    }

    fn build_errors() {
        let e = ProcessPoolExecutor::new(0).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let e = ProcessPoolExecutor::builder()
            .max_tasks_per_child(0)
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    }

    fn many_tasks() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let fs: Vec<_> = (0..5_000u64)
            .map(|i| pool.submit(|x: u64| x + 1, i))
            .collect();
        let sum: u64 = fs.into_iter().map(|f| f.result().unwrap()).sum();
        assert_eq!(sum, (1..=5_000).sum::<u64>());
    }

    fn task_panic_keeps_worker() {
        let pool = ProcessPoolExecutor::new(1).unwrap();
        let before = pool.submit(pid, ()).result().unwrap();
        let r = pool.submit(boom, "kaboom 42".into()).result();
        assert_eq!(r, Err(TaskError::Panicked("kaboom 42".into())));
        assert_eq!(
            pool.submit(pid, ()).result(),
            Ok(before),
            "the worker was replaced"
        );
    }

    fn sigkill_mid_task() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let others: Vec<_> = (0..4).map(|_| pool.submit(sleep_ms, 100)).collect();
        let victim = pool.submit(suicide, libc::SIGKILL);
        let more: Vec<_> = (0..10).map(|i| pool.submit(square, i)).collect();
        expect_broken(victim.result(), "SIGKILL");
        for f in others {
            assert_eq!(f.result(), Ok(100));
        }
        for (i, f) in more.into_iter().enumerate() {
            assert_eq!(f.result(), Ok((i * i) as u64));
        }
        assert!(!pool.is_broken());
        assert_eq!(pool.submit(square, 3).result(), Ok(9));
    }

    fn exit_in_task() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let other = pool.submit(sleep_ms, 50);
        expect_broken(pool.submit(exit_with, 3).result(), "exited with status 3");
        assert_eq!(other.result(), Ok(50));
        assert_eq!(pool.submit(square, 4).result(), Ok(16));
    }

    fn abort_in_task() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let other = pool.submit(sleep_ms, 50);
        expect_broken(pool.submit(abort, ()).result(), "SIGABRT");
        assert_eq!(other.result(), Ok(50));
        assert_eq!(pool.submit(square, 5).result(), Ok(25));
    }

    fn zygote_killed() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let zygote = pool.submit(ppid, ()).result().unwrap();
        assert_ne!(zygote, std::process::id() as i32);
        // Every task starts after `t` and runs `LONG`: a future that waited for its task would
        // be done only after `LONG`, and one that did not, however slow the machine, before.
        let t = Instant::now();
        let running: Vec<_> = (0..2).map(|_| pool.submit(sleep_ms, LONG_MS)).collect();
        let queued: Vec<_> = (0..3).map(|_| pool.submit(sleep_ms, LONG_MS)).collect();
        while !running.iter().all(weft_futures::Future::running) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: signalling the pool's zygote, a live child of ours (not yet reaped: only the
        // pool reaps it, after seeing its control socket close).
        unsafe { libc::kill(zygote, libc::SIGKILL) };
        for f in running.into_iter().chain(queued) {
            expect_broken(f.result(), "SIGKILL");
        }
        assert!(t.elapsed() < LONG, "pending futures waited for their tasks");
        assert!(pool.is_broken());
        assert!(pool.try_submit(square, 1).is_err());
        let p = catch_unwind(AssertUnwindSafe(|| pool.submit(square, 1)));
        assert!(p.is_err(), "submit on a broken pool must panic");
    }

    /// A value whose `Serialize` fails (mode 1), panics (2), aborts (3) or exits (4), and whose
    /// `Deserialize` does the same for modes 11..14.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Trap(u8);

    fn act<E>(mode: u8, err: impl FnOnce() -> E) -> Result<(), E> {
        match mode {
            1 => Err(err()),
            2 => panic!("trap panicked"),
            3 => std::process::abort(),
            4 => std::process::exit(7),
            _ => Ok(()),
        }
    }

    impl Serialize for Trap {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 < 10 {
                act(self.0, || ser::Error::custom("trap refuses to serialize"))?;
            }
            s.serialize_u8(self.0)
        }
    }

    impl<'de> Deserialize<'de> for Trap {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let v = u8::deserialize(d)?;
            if v > 10 {
                act(v - 10, || de::Error::custom("trap refuses to deserialize"))?;
            }
            Ok(Trap(v))
        }
    }

    fn trap_id(t: Trap) -> u8 {
        t.0
    }

    fn make_trap(mode: u8) -> Trap {
        Trap(mode)
    }

    fn arg_fails_to_serialize() {
        let pool = ProcessPoolExecutor::new(1).unwrap();
        let f = pool.submit(trap_id, Trap(1));
        assert!(f.done(), "must fail before anything is sent");
        match f.result() {
            Err(TaskError::Failed(why)) => {
                assert!(why.contains("cannot serialize the argument"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pool.submit(trap_id, Trap(0)).result(), Ok(0));
    }

    fn result_fails_to_serialize() {
        let pool = ProcessPoolExecutor::new(1).unwrap();
        let w = pool.submit(pid, ()).result().unwrap();
        match pool.submit(make_trap, 1).result() {
            Err(TaskError::Failed(why)) => assert!(why.contains("serialize the result"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(pool.submit(pid, ()).result(), Ok(w), "the worker lives on");
    }

    fn result_fails_to_deserialize() {
        let pool = ProcessPoolExecutor::new(1).unwrap();
        match pool.submit(make_trap, 11).result() {
            Err(TaskError::Failed(why)) => assert!(why.contains("deserialize the result"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(pool.submit(square, 2).result(), Ok(4));
    }

    /// Writes garbage to the worker's own socket (the one socket it holds besides stdio).
    fn scribble(_: ()) -> u8 {
        for fd in 3..256 {
            // SAFETY: fstat into a stack buffer; write of a static buffer.
            unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                if libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK {
                    let junk = b"this is not a weft frame at all";
                    libc::write(fd, junk.as_ptr().cast(), junk.len());
                }
            }
        }
        std::thread::sleep(LONG);
        0
    }

    fn undecodable_frame() {
        let pool = ProcessPoolExecutor::new(1).unwrap();
        let w = pool.submit(pid, ()).result().unwrap();
        let t = Instant::now();
        match pool.submit(scribble, ()).result() {
            Err(TaskError::Failed(why)) => assert!(why.contains("malformed frame"), "{why}"),
            other => panic!("{other:?}"),
        }
        // The task sleeps `LONG` after its scribble: the frame was seen without waiting for it.
        assert!(
            t.elapsed() < LONG,
            "the malformed frame was seen only at the task's end"
        );
        let w2 = pool.submit(pid, ()).result().unwrap();
        assert_ne!(w, w2, "the worker must be replaced");
    }

    fn crash_while_decoding_argument() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        // Modes 12..14 serialize fine in the parent and trap when the worker decodes them.
        let other = pool.submit(sleep_ms, 100);
        match pool.submit(trap_id, Trap(12)).result() {
            Err(TaskError::Panicked(m)) => assert_eq!(m, "trap panicked"),
            r => panic!("{r:?}"),
        }
        expect_broken(pool.submit(trap_id, Trap(13)).result(), "SIGABRT");
        expect_broken(
            pool.submit(trap_id, Trap(14)).result(),
            "exited with status 7",
        );
        match pool.submit(trap_id, Trap(11)).result() {
            Err(TaskError::Failed(m)) => assert!(m.contains("deserialize the argument"), "{m}"),
            r => panic!("{r:?}"),
        }
        assert_eq!(other.result(), Ok(100));
        assert_eq!(pool.submit(trap_id, Trap(0)).result(), Ok(0));
    }

    fn crash_while_encoding_result() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let other = pool.submit(sleep_ms, 100);
        match pool.submit(make_trap, 2).result() {
            Err(TaskError::Panicked(m)) => assert_eq!(m, "trap panicked"),
            r => panic!("{r:?}"),
        }
        expect_broken(pool.submit(make_trap, 3).result(), "SIGABRT");
        expect_broken(pool.submit(make_trap, 4).result(), "exited with status 7");
        assert_eq!(other.result(), Ok(100));
        assert_eq!(pool.submit(make_trap, 0).result(), Ok(Trap(0)));
    }

    fn large_payloads() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        // 64 MiB each way, far beyond any socket buffer.
        let big: Vec<u8> = (0..64u32 << 20).map(|i| (i % 251) as u8).collect();
        let small = pool.submit(square, 3);
        let f = pool.submit(echo_bytes, Bytes(big.clone()));
        let g = pool.submit(echo, vec![7; 1 << 20]);
        assert_eq!(small.result(), Ok(9));
        let mut back = f.result().unwrap().0;
        back.reverse();
        assert!(back == big);
        assert!(g.result().unwrap() == vec![7; 1 << 20]);
    }

    fn max_tasks_per_child_rotation() {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .max_tasks_per_child(3)
            .build()
            .unwrap();
        let fs: Vec<_> = (0..30).map(|_| pool.submit(pid, ())).collect();
        let mut pids: Vec<u32> = fs.into_iter().map(|f| f.result().unwrap()).collect();
        let mut counts = std::collections::HashMap::new();
        for p in &pids {
            *counts.entry(*p).or_insert(0) += 1;
        }
        assert!(counts.values().all(|&c| c <= 3), "{counts:?}");
        pids.sort_unstable();
        pids.dedup();
        assert!(
            pids.len() >= 10,
            "only {} workers served 30 tasks",
            pids.len()
        );
    }

    static INIT_RUNS: AtomicU32 = AtomicU32::new(0);

    fn init_runs(_: ()) -> u32 {
        INIT_RUNS.load(Ordering::SeqCst)
    }

    fn initializer_once_per_worker() {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .max_tasks_per_child(4)
            .initializer(|| {
                INIT_RUNS.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let fs: Vec<_> = (0..20).map(|_| pool.submit(init_runs, ())).collect();
        for f in fs {
            assert_eq!(f.result(), Ok(1));
        }
        assert_eq!(
            INIT_RUNS.load(Ordering::SeqCst),
            0,
            "the initializer ran in the caller"
        );
    }

    fn initializer_panics_breaks_pool() {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .initializer(|| panic!("no database"))
            .build()
            .unwrap();
        let t = Instant::now();
        let fs: Vec<_> = (0..3).map(|i| pool.submit(square, i)).collect();
        for f in fs {
            expect_broken(f.result(), "no database");
        }
        assert!(
            t.elapsed() < SLACK,
            "the futures waited for a pool that had broken"
        );
        assert!(pool.is_broken());
        assert!(pool.try_submit(square, 1).is_err());
    }

    fn cancel_queued() {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .prefetch(0)
            .build()
            .unwrap();
        // The first task holds the only worker until the cancels are made. (A task that slept
        // 200 ms let the queued ones run when this thread was slower than that to cancel
        // them.)
        let markers = Markers::new("cancel_queued");
        let running = pool.submit(mark_then_wait, (None, Some(markers.path("open"))));
        let queued: Vec<_> = (0..5).map(|_| pool.submit(pid, ())).collect();
        for f in &queued[1..] {
            assert!(f.cancel());
            assert!(f.cancelled());
        }
        markers.create("open");
        assert_eq!(running.result(), Ok(()));
        let mut q = queued.into_iter();
        assert!(q.next().unwrap().result().is_ok());
        for f in q {
            assert_eq!(f.result(), Err(TaskError::Cancelled));
        }
        assert!(pool.submit(pid, ()).result().is_ok());
    }

    fn panics_on_seven(x: u32) -> u32 {
        assert!(x != 7, "seven");
        x * 10
    }

    fn map_ordered_and_chunked() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let opts = MapOptions::default().chunksize(4);
        let v: Vec<_> = pool.map_with(panics_on_seven, 0..25u32, opts).collect();
        assert_eq!(v.len(), 25);
        for (i, r) in v.into_iter().enumerate() {
            if i == 7 {
                assert_eq!(r, Err(TaskError::Panicked("seven".into())));
            } else {
                assert_eq!(r, Ok(i as u32 * 10));
            }
        }
        let v: Vec<u32> = pool
            .map_with(
                |x: u32| x + 1,
                0..10_000,
                MapOptions::default().chunksize(100),
            )
            .map(Result::unwrap)
            .collect();
        assert_eq!(v, (1..=10_000).collect::<Vec<_>>());
        assert_eq!(pool.map(square, Vec::new()).count(), 0);
    }

    fn map_is_lazy() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let pulled = std::cell::Cell::new(0u32);
        let items = (0..1_000u64).inspect(|_| pulled.set(pulled.get() + 1));
        let mut it = pool.map_with(square, items, MapOptions::default().buffersize(3));
        assert_eq!(it.next(), Some(Ok(0)));
        assert!(
            pulled.get() <= 5,
            "pulled {} items for one result",
            pulled.get()
        );
        drop(it);
    }

    fn map_drop_cancels() {
        // Without prefetch, every task not yet running stays cancellable.
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .prefetch(0)
            .build()
            .unwrap();
        // Each task leaves a marker; every one after the first then holds the only worker
        // until the iterator is dropped, so that no task but the second can have started by
        // then. (Tasks that slept let a third one start legitimately when this thread was
        // slow to drop the iterator, and a time limit could not tell that from a run of a
        // cancelled task.)
        let markers = Markers::new("map_drop_cancels");
        let tasks = (0..5).map(|i| {
            let gate = (i > 0).then(|| markers.path("open"));
            (Some(markers.path(&format!("task-{i}"))), gate)
        });
        let opts = MapOptions::default().buffersize(5);
        let mut it = pool.map_with(mark_then_wait, tasks, opts);
        assert_eq!(it.next(), Some(Ok(())));
        drop(it);
        markers.create("open");
        drop(pool);
        // The second task may have started before the drop; the other three must not run.
        let ran: Vec<usize> = (2..5)
            .filter(|i| markers.exists(&format!("task-{i}")))
            .collect();
        assert!(ran.is_empty(), "queued map tasks ran: {ran:?}");
    }

    fn shutdown_cancel_futures() {
        let pool = ProcessPoolExecutor::new(1).unwrap();
        // The first task holds the only worker until the queued ones are cancelled (a task that
        // slept 200 ms let one of them start when this thread was slower than that to shut
        // down); a queued task that runs leaves a marker.
        let markers = Markers::new("shutdown_cancel_futures");
        let running = pool.submit(mark_then_wait, (None, Some(markers.path("open"))));
        while !running.running() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let queued: Vec<_> = (0..5)
            .map(|i| {
                pool.submit(
                    mark_then_wait,
                    (Some(markers.path(&format!("queued-{i}"))), None),
                )
            })
            .collect();
        std::thread::scope(|s| {
            // Opens the gate once the shutdown has cancelled the queue (or, if it never does,
            // after `SLACK`, for the assertions below to fail rather than hang).
            s.spawn(|| {
                let until = Instant::now() + SLACK;
                while !queued.iter().all(weft_futures::Future::cancelled) && Instant::now() < until
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                markers.create("open");
            });
            pool.shutdown(true, true);
        });
        let ran: Vec<usize> = (0..5)
            .filter(|i| markers.exists(&format!("queued-{i}")))
            .collect();
        assert!(ran.is_empty(), "cancelled tasks ran: {ran:?}");
        assert_eq!(running.result(), Ok(()));
        for f in queued {
            assert!(f.cancelled());
        }
    }

    fn shutdown_no_wait_then_drop() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let fs: Vec<_> = (0..6).map(|_| pool.submit(sleep_ms, 30)).collect();
        pool.shutdown(false, false);
        for f in fs {
            assert_eq!(f.result(), Ok(30));
        }
        pool.shutdown(false, false);
        drop(pool);
    }

    fn drop_waits_for_work() {
        let fs: Vec<_> = {
            let pool = ProcessPoolExecutor::new(2).unwrap();
            (0..6).map(|i| pool.submit(sleep_ms, 10 * i)).collect()
        };
        for (i, f) in fs.into_iter().enumerate() {
            assert!(f.done());
            assert_eq!(f.result(), Ok(10 * i as u64));
        }
    }

    fn submit_after_shutdown() {
        // Four workers that never get a task exit idle at shutdown: not a broken pool.
        let pool = ProcessPoolExecutor::new(4).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        pool.shutdown(true, false);
        assert!(!pool.is_broken());
        assert_eq!(pool.try_submit(square, 4).unwrap_err().into_inner(), 4);
        assert!(catch_unwind(AssertUnwindSafe(|| pool.submit(square, 1))).is_err());
        let mut it = pool.map(square, [1, 2]);
        assert!(it.next().unwrap().is_err());
    }

    fn terminate_workers() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        // Every task starts after `t` and runs `LONG`: waiting for any of them takes longer.
        let t = Instant::now();
        let running = pool.submit(sleep_ms, LONG_MS);
        let queued = pool.submit(sleep_ms, LONG_MS);
        let queued2 = pool.submit(sleep_ms, LONG_MS);
        while !running.running() {
            std::thread::sleep(Duration::from_millis(1));
        }
        pool.terminate_workers();
        expect_broken(running.result(), "SIGTERM");
        // `queued` may have reached the second worker before the signal.
        for f in [queued, queued2] {
            match f.result() {
                Err(TaskError::Cancelled) => {}
                other => expect_broken(other, "SIGTERM"),
            }
        }
        drop(pool);
        assert!(t.elapsed() < LONG, "the pool waited for a terminated task");
    }

    fn kill_workers() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let running = pool.submit(sleep_ms, 10_000);
        while !running.running() {
            std::thread::sleep(Duration::from_millis(1));
        }
        pool.kill_workers();
        expect_broken(running.result(), "SIGKILL");
        assert!(pool.try_submit(square, 1).is_err());
    }

    fn deny_threads() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        let e = ProcessPoolExecutor::builder()
            .max_workers(1)
            .deny_threads(true)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("threads"), "{e}");
        drop(tx);
        let _ = t.join();
    }

    fn callbacks_and_concurrent_submitters() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        // Built first; threads come after (as the docs advise).
        let done = std::sync::Arc::new(AtomicU32::new(0));
        std::thread::scope(|s| {
            for t in 0..3u64 {
                let pool = &pool;
                let done = done.clone();
                s.spawn(move || {
                    for i in 0..200 {
                        let f = pool.submit(square, t * 1_000 + i);
                        let d = done.clone();
                        f.add_done_callback(move || {
                            d.fetch_add(1, Ordering::SeqCst);
                        });
                        assert_eq!(f.result(), Ok((t * 1_000 + i).pow(2)));
                    }
                });
            }
        });
        // A callback runs on the completing thread, possibly just after `result` returned.
        let until = Instant::now() + SLACK;
        while done.load(Ordering::SeqCst) < 600 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(done.load(Ordering::SeqCst), 600);
    }

    fn two_pools() {
        let a = ProcessPoolExecutor::new(1).unwrap();
        let b = ProcessPoolExecutor::new(1).unwrap();
        assert_eq!(a.submit(square, 2).result(), Ok(4));
        assert_eq!(b.submit(square, 3).result(), Ok(9));
        // Dropping `a` first must not wait on `b`'s processes holding `a`'s sockets.
        let t = Instant::now();
        drop(a);
        assert!(t.elapsed() < SLACK, "dropping `a` waited for `b`");
        assert_eq!(b.submit(square, 4).result(), Ok(16));
    }

    /// Other pools' dispatcher threads are not "other threads" for the fork check, also when
    /// the next pool is built at once, before the previous dispatcher could have run.
    fn pools_built_back_to_back_are_not_threads() {
        let pools: Vec<ProcessPoolExecutor> = (0..8)
            .map(|k| {
                ProcessPoolExecutor::builder()
                    .max_workers(1)
                    .deny_threads(true)
                    .build()
                    .unwrap_or_else(|e| panic!("pool {k}: {e}"))
            })
            .collect();
        for (k, pool) in pools.iter().enumerate() {
            assert_eq!(pool.submit(square, k as u64).result(), Ok((k * k) as u64));
        }
    }

    fn sent_ahead_requeued_on_death() {
        // One worker, one task sent ahead: the worker dies running the first; the second never
        // started, goes back to the queue and runs on the replacement.
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .prefetch(1)
            .build()
            .unwrap();
        let w = pool.submit(pid, ()).result().unwrap();
        let victim = pool.submit(suicide, libc::SIGKILL);
        let next = pool.submit(pid, ());
        expect_broken(victim.result(), "SIGKILL");
        let w2 = next.result().unwrap();
        assert_ne!(w, w2, "ran on the replacement");
    }

    fn built_on_a_thread_that_exits() {
        // The zygote has no PR_SET_PDEATHSIG (it would fire when the building thread exits):
        // a pool built on a short-lived thread outlives it.
        let pool = std::thread::spawn(|| ProcessPoolExecutor::new(1).unwrap())
            .join()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pool.submit(square, 6).result(), Ok(36));
        assert!(!pool.is_broken());
    }

    fn die_on_five(x: u32) -> u32 {
        if x == 5 {
            // SAFETY: signalling ourselves.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        x
    }

    fn map_worker_death_fails_its_chunk() {
        let pool = ProcessPoolExecutor::new(2).unwrap();
        let v: Vec<_> = pool
            .map_with(die_on_five, 0..12u32, MapOptions::default().chunksize(4))
            .collect();
        for (i, r) in v.into_iter().enumerate() {
            if (4..8).contains(&i) {
                assert!(
                    matches!(r, Err(TaskError::BrokenPool(_))),
                    "item {i}: {r:?}"
                );
            } else {
                assert_eq!(r, Ok(i as u32));
            }
        }
    }

    fn stress_submit_cancel_map() {
        // Built first; four threads then submit, cancel every third future, and map, while a
        // worker is killed now and then. Invariant: every future ends exactly one way, and an
        // `Ok` is always the right answer.
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .max_tasks_per_child(500)
            .build()
            .unwrap();
        let (ok, cancelled, broken) = (AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0));
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (pool, ok, cancelled, broken) = (&pool, &ok, &cancelled, &broken);
                s.spawn(move || {
                    let fs: Vec<_> = (0..600u64)
                        .map(|i| {
                            let x = t * 10_000 + i;
                            let f = if t == 0 && i % 150 == 149 {
                                pool.submit(|x: u64| die_on_five(5) as u64 + x, x)
                            } else {
                                pool.submit(square, x)
                            };
                            if i % 3 == 0 {
                                f.cancel();
                            }
                            (x, f)
                        })
                        .collect();
                    for (x, f) in fs {
                        match f.result() {
                            Ok(v) => {
                                assert_eq!(v, x * x);
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(TaskError::Cancelled) => {
                                cancelled.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(TaskError::BrokenPool(_)) => {
                                broken.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    let opts = MapOptions::default().chunksize(7).buffersize(3);
                    let v: Vec<u64> = pool
                        .map_with(square, 0..300u64, opts)
                        .map(Result::unwrap)
                        .collect();
                    assert_eq!(v, (0..300u64).map(|i| i * i).collect::<Vec<_>>());
                });
            }
        });
        let total = ok.load(Ordering::Relaxed)
            + cancelled.load(Ordering::Relaxed)
            + broken.load(Ordering::Relaxed);
        assert_eq!(total, 2_400);
        assert!(
            broken.load(Ordering::Relaxed) <= 4,
            "only the killers' own futures may break"
        );
        assert!(!pool.is_broken());
    }

    fn initializer_exits_breaks_pool() {
        // An initializer that exits instead of panicking: the queued tasks fail one by one
        // (each with its worker's exit status), then idle newborn workers keep dying: after 3
        // in a row the pool breaks instead of forking forever.
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .initializer(|| std::process::exit(9))
            .build()
            .unwrap();
        let t = Instant::now();
        let f = pool.submit(square, 2);
        expect_broken(f.result(), "exited with status 9");
        while !pool.is_broken() {
            assert!(t.elapsed() < SLACK, "the pool keeps forking");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(pool.try_submit(square, 1).is_err());
    }
}
