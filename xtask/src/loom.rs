//! The loom models of every crate, each model in a process of its own.
//!
//! loom runs every model thread as a coroutine with a stack of its own, and it maps, protects
//! and unmaps those stacks again for every interleaving it explores: most of a small model's
//! time is `mmap`, `mprotect`, `munmap` and the page faults of fresh stacks. Two models in one
//! test process then contend for that process's address space (one lock for its mappings, and a
//! TLB shootdown of the other CPU at every `munmap`): `never_more_holders_than_permits` took
//! 11 s alone, 10 s beside another model in a second process, and 44 s beside it in the same
//! process. So the models are not run by the test harness's threads: every model of every
//! selected crate is one process, as many at once as there are CPUs, the models known to be
//! long first.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use crate::run::{self, Crate};

/// How long one model may run before it is killed and counted as failed.
const MODEL_LIMIT: Duration = Duration::from_secs(900);

/// One crate's result: whether every model passed (and at least one ran), and the time its
/// models took, summed.
pub(crate) struct CrateResult {
    pub(crate) ok: bool,
    pub(crate) model_time: Duration,
}

/// One model to run.
struct Job {
    krate: usize,
    bin: PathBuf,
    name: String,
    /// Its time in the last run on this machine, if known (for the order).
    last: Option<Duration>,
}

/// What a model's run did.
struct Done {
    job: usize,
    ok: bool,
    timed_out: bool,
    elapsed: Duration,
    output: String,
}

/// Builds the loom test binary of each crate of `crates` (one cargo run), then runs every model
/// (not `#[ignore]`d) as a process of its own, `LOOM_MAX_PREEMPTIONS=bound`. Results by crate,
/// in `crates`' order.
pub(crate) fn run(crates: &[Crate], bound: &str) -> Vec<CrateResult> {
    let fail_all = || {
        crates
            .iter()
            .map(|_| CrateResult {
                ok: false,
                model_time: Duration::ZERO,
            })
            .collect()
    };
    println!(
        "\n==> loom: {} (exhaustive, LOOM_MAX_PREEMPTIONS={bound}; each model a process)",
        crates
            .iter()
            .map(|c| c.package.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bins = match build(crates) {
        Ok(b) => b,
        Err(e) => {
            println!("    {e}");
            return fail_all();
        }
    };
    let times = load_times();
    let mut jobs = Vec::new();
    for (k, c) in crates.iter().enumerate() {
        let Some(bin) = bins.get(&c.package) else {
            println!("    {}: no loom test binary was built", c.package);
            return fail_all();
        };
        match models(bin) {
            Ok(names) => jobs.extend(names.into_iter().map(|name| Job {
                krate: k,
                bin: bin.clone(),
                last: times.get(&key(&c.package, &name)).copied(),
                name,
            })),
            Err(e) => {
                println!("    {}: {e}", c.package);
                return fail_all();
            }
        }
    }
    // Longest first (by the last run), so that no long model starts last with the other CPUs
    // idle; models never timed keep their place, ahead of the known short ones.
    jobs.sort_by_key(|j| std::cmp::Reverse(j.last.unwrap_or(Duration::MAX)));
    let start = Instant::now();
    let done = run_jobs(&jobs, bound, crates);
    let mut results: Vec<CrateResult> = crates
        .iter()
        .map(|_| CrateResult {
            ok: true,
            model_time: Duration::ZERO,
        })
        .collect();
    let mut counts = vec![(0usize, 0usize); crates.len()];
    let mut new_times = times;
    for d in &done {
        let j = &jobs[d.job];
        let r = &mut results[j.krate];
        r.model_time += d.elapsed;
        if d.ok {
            counts[j.krate].0 += 1;
            new_times.insert(key(&crates[j.krate].package, &j.name), d.elapsed);
        } else {
            counts[j.krate].1 += 1;
            r.ok = false;
        }
    }
    for (k, c) in crates.iter().enumerate() {
        let (passed, failed) = counts[k];
        println!(
            "    {}: {passed} models passed, {failed} failed ({:.1} s of model time)",
            c.package,
            results[k].model_time.as_secs_f64()
        );
        if passed + failed == 0 {
            println!("    {}: ran zero loom models: that is a failure", c.package);
            results[k].ok = false;
        }
    }
    println!(
        "    all models: {:.1} s of wall time",
        start.elapsed().as_secs_f64()
    );
    if results.iter().any(|r| !r.ok) {
        println!(
            "    to replay a failing model: LOOM_CHECKPOINT_FILE=loom.json LOOM_CHECKPOINT_INTERVAL=1 \
             then LOOM_LOG=1 LOOM_LOCATION=1 with `cargo xtask loom CRATE` or the model's binary \
             and its name"
        );
    }
    save_times(&new_times);
    results
}

/// `cargo test --no-run` of the crates' loom targets; their binaries by package name.
fn build(crates: &[Crate]) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut cmd = run::cargo();
    cmd.args(["test", "--release", "--all-features", "--no-run"]);
    for c in crates {
        cmd.args(["-p", &c.package]);
    }
    cmd.args(["--test", "loom", "--message-format=json-render-diagnostics"])
        .arg("--target-dir")
        .arg(target_dir());
    run::loom_env(&mut cmd);
    let o = run::run_quiet_with_timeout(&mut cmd, Duration::from_secs(1200));
    let mut bins = BTreeMap::new();
    for line in o.output.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            if !line.starts_with('{') && !o.ok {
                println!("      {line}");
            }
            continue;
        };
        if v["reason"] != "compiler-artifact" || v["target"]["name"] != "loom" {
            continue;
        }
        let (Some(exe), Some(manifest)) = (v["executable"].as_str(), v["manifest_path"].as_str())
        else {
            continue;
        };
        if let Some(c) = crates
            .iter()
            .find(|c| Path::new(manifest) == c.path().join("Cargo.toml"))
        {
            bins.insert(c.package.clone(), PathBuf::from(exe));
        }
    }
    if o.ok {
        Ok(bins)
    } else {
        Err("the loom models did not build".into())
    }
}

/// The models of a loom test binary that run by default (not `#[ignore]`d).
fn models(bin: &Path) -> Result<Vec<String>, String> {
    let list = |ignored: bool| -> Result<Vec<String>, String> {
        let mut cmd = Command::new(bin);
        cmd.args(["--list", "--format", "terse"]);
        if ignored {
            cmd.arg("--ignored");
        }
        let out = cmd
            .output()
            .map_err(|e| format!("could not list {}: {e}", bin.display()))?;
        if !out.status.success() {
            return Err(format!("could not list {}", bin.display()));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_string)
            .collect())
    };
    let ignored = list(true)?;
    Ok(list(false)?
        .into_iter()
        .filter(|n| !ignored.contains(n))
        .collect())
}

/// Runs the jobs, as many at once as there are CPUs, printing each as it ends.
fn run_jobs(jobs: &[Job], bound: &str, crates: &[Crate]) -> Vec<Done> {
    let width = std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Done>();
    std::thread::scope(|s| {
        for _ in 0..width {
            let (next, tx) = (&next, tx.clone());
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let mut cmd = Command::new(&job.bin);
                    cmd.args([job.name.as_str(), "--exact", "--test-threads", "1"])
                        .env("LOOM_MAX_PREEMPTIONS", bound);
                    let o = run::run_silent_with_timeout(&mut cmd, MODEL_LIMIT);
                    let ran = run::test_counts(&o.output).0 == 1;
                    let done = Done {
                        job: i,
                        ok: o.ok && ran,
                        timed_out: o.timed_out,
                        elapsed: o.elapsed,
                        output: o.output,
                    };
                    if tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut all = Vec::new();
        for d in rx {
            let j = &jobs[d.job];
            let what = if d.ok {
                "ok"
            } else if d.timed_out {
                "TIMEOUT"
            } else {
                "FAILED"
            };
            println!(
                "    {what:<7} {:>6.1} s  {}::{}",
                d.elapsed.as_secs_f64(),
                crates[j.krate].package,
                j.name
            );
            if !d.ok {
                for line in d.output.lines() {
                    println!("      {line}");
                }
            }
            all.push(d);
        }
        all
    })
}

fn target_dir() -> PathBuf {
    run::root().join("target/loom")
}

fn key(package: &str, model: &str) -> String {
    format!("{package}::{model}")
}

/// Where the last run's model times are kept (a line `seconds package::model` each).
fn times_file() -> PathBuf {
    target_dir().join("model-times.txt")
}

fn load_times() -> BTreeMap<String, Duration> {
    std::fs::read_to_string(times_file())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (secs, name) = l.split_once(' ')?;
            Some((
                name.to_string(),
                Duration::from_secs_f64(secs.parse().ok()?),
            ))
        })
        .collect()
}

fn save_times(times: &BTreeMap<String, Duration>) {
    let text: String = times
        .iter()
        .map(|(name, d)| format!("{:.3} {name}\n", d.as_secs_f64()))
        .collect();
    let _ = std::fs::create_dir_all(target_dir());
    let _ = std::fs::write(times_file(), text);
}
