//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/`, each for a fixed time.
//!
//! `fuzz/` is a workspace of its own (libFuzzer needs nightly); where nightly or cargo-fuzz is
//! missing the check is skipped, as Miri's is. A crash leaves its input in
//! `fuzz/artifacts/<target>/`; replay it with `cargo +nightly fuzz run <target> <file>`.

use std::time::Duration;

use crate::run::{self, Log, Outcome};

/// Seconds per target for `cargo xtask fuzz` without `--seconds`.
const DEFAULT_SECONDS: u64 = 60;

/// The fuzz targets, sorted: the stems of `fuzz/fuzz_targets/*.rs`.
pub(crate) fn targets() -> Vec<String> {
    let mut t = run::rs_stems(&run::root().join("fuzz/fuzz_targets"));
    t.sort();
    t
}

/// The crate a target exercises (its row in verify's table).
pub(crate) fn crate_of(target: &str) -> &'static str {
    match target {
        "wire_decode" => "process",
        t if t.starts_with("queue") => "queue",
        _ => "weft",
    }
}

/// Whether `cargo +nightly fuzz` works here.
pub(crate) fn available() -> bool {
    crate::verify::nightly()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds and runs one target for `seconds`, its report going to `log`.
pub(crate) fn one(target: &str, seconds: u64, log: &mut Log) -> Outcome {
    log.say(&format!(
        "\n==> fuzz: {target} for {seconds} s (libFuzzer, nightly)"
    ));
    let mut cmd = crate::verify::nightly();
    cmd.args(["fuzz", "run", target, "--"])
        .arg(format!("-max_total_time={seconds}"))
        // A single input that runs past ten seconds is a hang.
        .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"]);
    // Building the target from cold takes a few minutes on two cores.
    let o = log.run_quiet(&mut cmd, Duration::from_secs(seconds + 900));
    let runs = o
        .output
        .lines()
        .find_map(|l| l.trim().strip_prefix("stat::number_of_executed_units:"))
        .map_or_else(|| "?".to_string(), |n| n.trim().to_string());
    if o.ok {
        log.say(&format!("    {target}: {runs} inputs, no crash, no hang"));
    } else {
        for l in o
            .output
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .iter()
            .rev()
        {
            log.say(&format!("      {l}"));
        }
        log.say(&format!(
            "    {target}: FAILED after {runs} inputs (the input is in fuzz/artifacts/{target}/)"
        ));
    }
    o
}

/// `cargo xtask fuzz [--seconds N] [TARGET]`.
pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let s = it.next().ok_or("--seconds needs N")?;
                seconds = s.parse().map_err(|_| format!("bad --seconds `{s}`"))?;
            }
            "--list" => {
                for t in targets() {
                    println!("{t}");
                }
                return Ok(());
            }
            other if !other.starts_with('-') => only = Some(other.to_string()),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let all = targets();
    let chosen: Vec<String> = match &only {
        Some(t) if all.contains(t) => vec![t.clone()],
        Some(t) => return Err(format!("no fuzz target `{t}` (targets: {})", all.join(" "))),
        None => all,
    };
    if !available() {
        println!(
            "fuzz: skipped: no cargo-fuzz on a nightly toolchain here \
             (cargo install cargo-fuzz --locked)"
        );
        return Ok(());
    }
    let failed: Vec<String> = chosen
        .iter()
        .filter(|t| !one(t, seconds, &mut Log::terminal()).ok)
        .cloned()
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz failed: {}", failed.join(", ")))
    }
}
