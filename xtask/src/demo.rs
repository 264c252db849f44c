//! `cargo xtask demo`: the Python threading guide's scenarios, run with weft, end to end.
//!
//! Each scenario is an example program of the `weft` crate (`crates/weft/examples/*.rs`). It
//! tells its story on stdout and ends with one line
//! `DEMO-RESULT {"scenario":…,"sequential_s":…,"concurrent_s":…}`, which this command collects
//! into the closing table.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc::RecvTimeoutError,
    time::{Duration, Instant},
};

use crate::run;

/// The guide's order; examples not listed here run afterwards, alphabetically.
const ORDER: &[&str] = &[
    "threads_sleep",
    "threads_arguments",
    "threads_join_list",
    "executor_map",
    "executor_submit",
    "executor_as_completed",
    "io_bound",
    "image_download",
    "lock_counter",
    "semaphore_two_at_a_time",
    "event_signal",
    "condition_notify",
    "producer_consumer",
    "cpu_bound",
    "multiprocessing_workers",
    "asyncio_gather",
    "asyncio_to_thread",
    "asyncio_hybrid",
    "celery",
];

/// A scenario's closing figures.
struct Result {
    scenario: String,
    sequential: Option<f64>,
    concurrent: Option<f64>,
}

pub(crate) fn main(args: &[String]) -> std::result::Result<(), String> {
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scenario" | "-s" => only = Some(it.next().ok_or("--scenario needs a NAME")?.clone()),
            "--list" => {
                for s in scenarios() {
                    println!("{s}");
                }
                return Ok(());
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    run_all(only.as_deref(), true, Profile::Release)
}

/// The build the scenarios run from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// Optimised, as a user would ship them: `cargo xtask demo`, whose speedups are the point.
    Release,
    /// The debug build `cargo test -p weft --all-features` has already made (it builds every
    /// example), with debug assertions on: `cargo xtask verify`, which checks that every
    /// scenario runs to its end and needs no second, optimised build of the whole dependency
    /// tree for that.
    Dev,
}

/// Every example of the weft crate, in the guide's order.
pub(crate) fn scenarios() -> Vec<String> {
    let mut names = run::rs_stems(&run::root().join("crates/weft/examples"));
    names.sort_by_key(|n| {
        (
            ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()),
            n.clone(),
        )
    });
    names
}

/// Builds the examples, runs them (or one), and prints the table. Errors if any failed.
pub(crate) fn run_all(
    only: Option<&str>,
    verbose: bool,
    profile: Profile,
) -> std::result::Result<(), String> {
    let all = scenarios();
    let chosen: Vec<String> = match only {
        Some(name) => {
            if !all.iter().any(|s| s == name) {
                return Err(format!(
                    "no scenario `{name}`; there are: {}",
                    all.join(", ")
                ));
            }
            vec![name.to_string()]
        }
        None => all,
    };
    if chosen.is_empty() {
        return Err("no scenarios found in crates/weft/examples".into());
    }
    let (flag, dir) = match profile {
        Profile::Release => (Some("--release"), "release"),
        Profile::Dev => (None, "debug"),
    };
    println!("building the scenarios ({dir}) ...");
    let mut build = run::cargo();
    build.arg("build");
    build.args(flag);
    build.args(["-p", "weft", "--all-features"]);
    for s in &chosen {
        build.args(["--example", s]);
    }
    let o = run::run_streaming(&mut build, false);
    if !o.ok {
        println!("{}", o.output);
        return Err("the scenarios did not build".into());
    }
    let bin_dir = target_dir().join(dir).join("examples");
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for (i, name) in chosen.iter().enumerate() {
        println!("\n[{}/{}] {name}", i + 1, chosen.len());
        match run_one(&bin_dir.join(name), verbose) {
            Ok(r) => results.push(r),
            Err(e) => {
                println!("  !! {name}: {e}");
                failed.push(name.clone());
            }
        }
    }
    print_table(&results);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("scenarios failed: {}", failed.join(", ")))
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| run::root().join("target"), PathBuf::from)
}

/// Runs one scenario with a 120 s limit, streaming its output and a progress note on long
/// silent stretches.
fn run_one(bin: &PathBuf, verbose: bool) -> std::result::Result<Result, String> {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut result = None;
    let limit = Duration::from_secs(120);
    loop {
        match rx.recv_timeout(Duration::from_secs(2)) {
            Ok(line) => {
                if let Some(json) = line.strip_prefix("DEMO-RESULT ") {
                    result = Some(parse_result(json)?);
                } else if verbose {
                    println!("  {line}");
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if verbose {
                    println!(
                        "  ... still running ({:.0} s)",
                        start.elapsed().as_secs_f64()
                    );
                }
                if start.elapsed() > limit {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("still running after {limit:?}: killed"));
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("exited with {status}"));
    }
    result.ok_or_else(|| "printed no DEMO-RESULT line".to_string())
}

fn parse_result(json: &str) -> std::result::Result<Result, String> {
    let fields =
        crate::bench::parse_flat_json(json).ok_or_else(|| format!("bad DEMO-RESULT: {json}"))?;
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let num = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
    Ok(Result {
        scenario: get("scenario").ok_or("DEMO-RESULT without a scenario")?,
        sequential: num("sequential_s"),
        concurrent: num("concurrent_s"),
    })
}

fn print_table(results: &[Result]) {
    if results.is_empty() {
        return;
    }
    println!(
        "\n{:<28} {:>12} {:>12} {:>9}",
        "scenario", "sequential", "concurrent", "speedup"
    );
    println!("{}", "-".repeat(64));
    for r in results {
        let secs = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |s| format!("{s:.2} s"));
        let speedup = match (r.sequential, r.concurrent) {
            (Some(s), Some(c)) if c > 0.0 => format!("{:.2}x", s / c),
            _ => "-".to_string(),
        };
        println!(
            "{:<28} {:>12} {:>12} {:>9}",
            r.scenario,
            secs(r.sequential),
            secs(r.concurrent),
            speedup
        );
    }
}
