//! `cargo xtask verify`, `cargo xtask loom`, `cargo xtask miri`.

use std::{collections::BTreeMap, process::Command, time::Duration};

use crate::run::{self, Crate, Log, Outcome};

/// The checks, in the order they run.
const CHECKS: &[&str] = &[
    "fmt", "clippy", "test", "doc", "tidy", "loom", "miri", "tsan", "fuzz", "examples",
];

/// Seconds each fuzz target runs in `verify`.
const FUZZ_SECONDS: u64 = 15;

/// Default preemption bound for the loom run (`LOOM_MAX_PREEMPTIONS` overrides it).
pub(crate) const LOOM_PREEMPTIONS: &str = "3";

#[derive(Clone, Debug)]
enum Cell {
    Pass(Duration),
    Fail(Duration),
    Skip(&'static str),
}

#[derive(Default)]
struct Table {
    /// row (crate or "workspace") → check → cell.
    cells: BTreeMap<(usize, String), BTreeMap<&'static str, Cell>>,
    failures: Vec<String>,
    tests: (u64, u64, u64),
}

impl Table {
    fn set(&mut self, row: (usize, &str), check: &'static str, cell: Cell) {
        if let Cell::Fail(_) = cell {
            self.failures.push(format!("{check} ({})", row.1));
        }
        self.cells
            .entry((row.0, row.1.to_string()))
            .or_default()
            .insert(check, cell);
    }

    fn print(&self) {
        let checks: Vec<&str> = CHECKS
            .iter()
            .copied()
            .filter(|c| self.cells.values().any(|r| r.contains_key(c)))
            .collect();
        println!();
        print!("{:<12}", "crate");
        for c in &checks {
            print!(" {c:>12}");
        }
        println!();
        for ((_, row), cells) in &self.cells {
            print!("{row:<12}");
            for c in &checks {
                let s = match cells.get(c) {
                    Some(Cell::Pass(d)) => format!("pass {:>5.1}s", d.as_secs_f64()),
                    Some(Cell::Fail(d)) => format!("FAIL {:>5.1}s", d.as_secs_f64()),
                    Some(Cell::Skip(why)) => format!("skip:{why}"),
                    None => "-".into(),
                };
                print!(" {s:>12}");
            }
            println!();
        }
        println!();
    }
}

struct Options {
    only: Option<String>,
    skip: Vec<String>,
    /// Run Miri and the fuzz targets in turn with the rest instead of alongside.
    serial: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        only: None,
        skip: Vec::new(),
        serial: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--only" | "-p" => o.only = Some(it.next().ok_or("--only needs a crate")?.clone()),
            "--skip" => {
                let c = it.next().ok_or("--skip needs a check")?;
                if !CHECKS.contains(&c.as_str()) {
                    return Err(format!(
                        "unknown check `{c}` (checks: {})",
                        CHECKS.join(" ")
                    ));
                }
                o.skip.push(c.clone());
            }
            "--serial" => o.serial = true,
            "--quick" => o
                .skip
                .extend(["loom", "miri", "tsan", "fuzz"].map(String::from)),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(o)
}

/// Crates selected by `--only` (by directory or package name).
pub(crate) fn selected(only: Option<&str>) -> Result<Vec<Crate>, String> {
    let all = run::crates();
    match only {
        None => Ok(all),
        Some(name) => {
            let name = name.strip_prefix("weft-").unwrap_or(name);
            let hit: Vec<Crate> = all
                .into_iter()
                .filter(|c| {
                    c.dir == name || c.package == name || c.package == format!("weft-{name}")
                })
                .collect();
            if hit.is_empty() {
                Err(format!("no crate named `{name}`"))
            } else {
                Ok(hit)
            }
        }
    }
}

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    let crates = selected(opts.only.as_deref())?;
    let wants = |c: &str| !opts.skip.iter().any(|s| s == c);
    let mut table = Table::default();
    let ws = (0usize, "workspace");
    let packages: Vec<String> = crates.iter().map(|c| c.package.clone()).collect();
    let scope = |cmd: &mut Command| {
        if opts.only.is_some() {
            for p in &packages {
                cmd.args(["-p", p]);
            }
        } else {
            cmd.arg("--workspace");
        }
    };
    let rows: Vec<(usize, Crate)> = crates
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, c)| (i + 1, c))
        .collect();

    // Miri and the fuzz targets each keep one CPU busy for minutes, while the other checks
    // leave CPU time unused (tests that wait, a loom suite's last model, linking): they run
    // alongside the others, their lines kept and printed in one piece at the end.
    let side = {
        let (miri, fuzz) = (wants("miri"), wants("fuzz"));
        let rows = rows.clone();
        let run = move |log: &mut Log| side_checks(&rows, miri, fuzz, log);
        if opts.serial || !(miri || fuzz) {
            Side::Done(run(&mut Log::terminal()))
        } else {
            println!(
                "\n==> miri, fuzz: running alongside the checks below; their report follows at \
                 the end"
            );
            Side::Running(std::thread::spawn(move || {
                let mut log = Log::buffered();
                let cells = run(&mut log);
                (cells, log.into_text())
            }))
        }
    };
    if wants("fmt") {
        step("fmt", "formatting");
        let mut cmd = run::cargo();
        cmd.arg("fmt");
        if opts.only.is_some() {
            for p in &packages {
                cmd.args(["-p", p]);
            }
        } else {
            cmd.arg("--all");
        }
        cmd.arg("--check");
        let o = run::run_streaming(&mut cmd, true);
        table.set(ws, "fmt", cell(&o));
    }
    if wants("clippy") {
        step("clippy", "lints, -D warnings, every target and feature");
        let mut cmd = run::cargo();
        cmd.arg("clippy");
        scope(&mut cmd);
        cmd.args(["--all-targets", "--all-features", "--", "-D", "warnings"]);
        let o = run::run_streaming(&mut cmd, true);
        table.set(ws, "clippy", cell(&o));
    }
    if wants("test") {
        for (i, c) in &rows {
            let mut cmd = run::cargo();
            if c.dir == "bench" {
                // The measuring kit's own unit tests (medians, modes, merging processes); the
                // benchmark binaries themselves run under `cargo xtask bench`.
                step(
                    "test",
                    &format!("{} (the measuring kit's unit tests)", c.package),
                );
                cmd.args(["test", "-p", &c.package, "--lib"]);
            } else {
                step(
                    "test",
                    &format!("{} (unit, integration and doc tests)", c.package),
                );
                cmd.args(["test", "-p", &c.package, "--all-features"]);
            }
            let o = run::run_with_timeout(&mut cmd, Duration::from_secs(600));
            let counts = run::test_counts(&o.output);
            table.tests.0 += counts.0;
            table.tests.1 += counts.1;
            table.tests.2 += counts.2;
            println!(
                "    {}: {} passed, {} failed, {} ignored",
                c.package, counts.0, counts.1, counts.2
            );
            table.set((*i, &c.dir), "test", cell(&o));
        }
        if opts.only.is_none() {
            step("test", "xtask");
            let mut cmd = run::cargo();
            cmd.args(["test", "-p", "xtask"]);
            let o = run::run_with_timeout(&mut cmd, Duration::from_secs(300));
            let counts = run::test_counts(&o.output);
            table.tests.0 += counts.0;
            table.tests.1 += counts.1;
            table.set((usize::MAX, "xtask"), "test", cell(&o));
        }
    }
    if wants("doc") {
        step("doc", "rustdoc, -D warnings");
        let mut cmd = run::cargo();
        cmd.arg("doc");
        scope(&mut cmd);
        cmd.args(["--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-Dwarnings");
        let o = run::run_streaming(&mut cmd, true);
        table.set(ws, "doc", cell(&o));
    }
    if wants("tidy") {
        step("tidy", "conventions");
        let start = std::time::Instant::now();
        let problems = crate::tidy::check();
        for p in &problems {
            println!("      {p}");
        }
        let d = start.elapsed();
        table.set(
            ws,
            "tidy",
            if problems.is_empty() {
                Cell::Pass(d)
            } else {
                Cell::Fail(d)
            },
        );
    }
    if wants("loom") {
        let modelled: Vec<&(usize, Crate)> =
            rows.iter().filter(|(_, c)| c.has_loom_models()).collect();
        if !modelled.is_empty() {
            let crates: Vec<Crate> = modelled.iter().map(|(_, c)| c.clone()).collect();
            let results = crate::loom::run(&crates, &loom_bound(None));
            for ((i, c), r) in modelled.iter().zip(results) {
                let cellv = if r.ok {
                    Cell::Pass(r.model_time)
                } else {
                    Cell::Fail(r.model_time)
                };
                table.set((*i, &c.dir), "loom", cellv);
            }
        }
    }
    if wants("tsan") {
        let checked: Vec<(usize, &Crate, Vec<String>)> = rows
            .iter()
            .filter_map(|(i, c)| match crate::tsan::targets(c) {
                Ok(t) => Some((*i, c, t)),
                Err(why) => {
                    if why == "fork" {
                        table.set((*i, &c.dir), "tsan", Cell::Skip("fork"));
                    }
                    None
                }
            })
            .collect();
        if !checked.is_empty() {
            if crate::tsan::available() {
                for (i, c, t) in checked {
                    table.set((i, &c.dir), "tsan", cell(&crate::tsan::one(c, &t)));
                }
            } else {
                println!(
                    "\n==> tsan: skipped: no nightly with rust-src here \
                     (rustup component add --toolchain nightly rust-src)"
                );
                for (i, c, _) in checked {
                    table.set((i, &c.dir), "tsan", Cell::Skip("none"));
                }
            }
        }
    }
    if wants("examples") && crates.iter().any(|c| c.dir == "weft") {
        step("examples", "every example of the weft crate, run");
        let start = std::time::Instant::now();
        let ok = crate::demo::run_all(None, false, crate::demo::Profile::Dev).is_ok();
        let d = start.elapsed();
        let i = rows
            .iter()
            .find(|(_, c)| c.dir == "weft")
            .map_or(0, |(i, _)| *i);
        table.set(
            (i, "weft"),
            "examples",
            if ok { Cell::Pass(d) } else { Cell::Fail(d) },
        );
    }

    let side = match side {
        Side::Done(cells) => cells,
        Side::Running(handle) => {
            let (cells, text) = handle.join().map_err(|_| "the side checks panicked")?;
            print!("{text}");
            cells
        }
    };
    for ((i, dir), check, cell) in side {
        table.set((i, &dir), check, cell);
    }

    table.print();
    let (p, f, s) = table.tests;
    println!("tests: {p} passed, {f} failed, {s} skipped");
    if table.failures.is_empty() {
        println!("verify: all checks passed");
        Ok(())
    } else {
        Err(format!("failed: {}", table.failures.join(", ")))
    }
}

/// Cells of the side checks, keyed as [`Table::set`] takes them.
type SideCells = Vec<((usize, String), &'static str, Cell)>;

/// The side checks: running alongside the others, or already done (`--serial`).
enum Side {
    Running(std::thread::JoinHandle<(SideCells, String)>),
    Done(SideCells),
}

/// Miri on every crate with `unsafe` code, then every fuzz target, reporting to `log`.
fn side_checks(rows: &[(usize, Crate)], miri: bool, fuzz: bool, log: &mut Log) -> SideCells {
    let mut cells: SideCells = Vec::new();
    let mut set = |i: usize, dir: &str, check: &'static str, cell: Cell| {
        cells.push(((i, dir.to_string()), check, cell));
    };
    if miri {
        let unsafe_crates: Vec<&(usize, Crate)> = rows
            .iter()
            .filter(|(_, c)| c.dir != "bench" && c.has_unsafe())
            .collect();
        if !unsafe_crates.is_empty() {
            if miri_available() {
                for (i, c) in unsafe_crates {
                    set(*i, &c.dir, "miri", miri_one(c, log));
                }
            } else {
                log.say(
                    "\n==> miri: skipped: no nightly Miri here \
                     (rustup component add --toolchain nightly miri rust-src)",
                );
                for (i, c) in unsafe_crates {
                    set(*i, &c.dir, "miri", Cell::Skip("none"));
                }
            }
        }
    }
    if fuzz {
        let targets: Vec<(usize, String, String)> = crate::fuzz::targets()
            .into_iter()
            .filter_map(|t| {
                let dir = crate::fuzz::crate_of(&t);
                let (i, c) = rows.iter().find(|(_, c)| c.dir == dir)?;
                Some((*i, c.dir.clone(), t))
            })
            .collect();
        if !targets.is_empty() {
            if crate::fuzz::available() {
                for (i, dir, t) in targets {
                    let o = crate::fuzz::one(&t, FUZZ_SECONDS, log);
                    set(i, &dir, "fuzz", cell(&o));
                }
            } else {
                log.say(
                    "\n==> fuzz: skipped: no cargo-fuzz on a nightly toolchain here \
                     (cargo install cargo-fuzz --locked)",
                );
                for (i, dir, _) in targets {
                    set(i, &dir, "fuzz", Cell::Skip("none"));
                }
            }
        }
    }
    cells
}

fn step(check: &str, what: &str) {
    println!("\n==> {check}: {what}");
}

fn cell(o: &Outcome) -> Cell {
    if o.ok {
        Cell::Pass(o.elapsed)
    } else {
        Cell::Fail(o.elapsed)
    }
}

/// The preemption bound: `--preemptions`, else `LOOM_MAX_PREEMPTIONS`, else
/// [`LOOM_PREEMPTIONS`].
fn loom_bound(preemptions: Option<&str>) -> String {
    preemptions
        .map(str::to_string)
        .or_else(|| std::env::var("LOOM_MAX_PREEMPTIONS").ok())
        .unwrap_or_else(|| LOOM_PREEMPTIONS.to_string())
}

/// Whether `cargo +nightly miri` works here.
fn miri_available() -> bool {
    let mut cmd = nightly();
    cmd.args(["miri", "--version"]);
    cmd.output().is_ok_and(|o| o.status.success())
}

/// The rustup proxy's `cargo +nightly`, without the variables the stable cargo set for us.
pub(crate) fn nightly() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly").current_dir(run::root());
    for v in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "RUSTC_WRAPPER",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

fn miri_one(c: &Crate, log: &mut Log) -> Cell {
    log.say(&format!(
        "\n==> miri: {} (unit and integration tests under Miri)",
        c.package
    ));
    let mut cmd = nightly();
    cmd.args([
        "miri",
        "test",
        "-p",
        &c.package,
        "--lib",
        "--tests",
        "--target-dir",
    ])
    .arg(run::root().join("target/miri"))
    .env("MIRIFLAGS", "-Zmiri-disable-isolation");
    let o = log.run(&mut cmd, Duration::from_secs(900));
    let (passed, failed, ignored) = run::test_counts(&o.output);
    log.say(&format!(
        "    {}: {passed} passed, {failed} failed, {ignored} ignored under Miri",
        c.package
    ));
    cell(&o)
}

pub(crate) fn loom_main(args: &[String]) -> Result<(), String> {
    let mut only = None;
    let mut bound = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--preemptions" => bound = Some(it.next().ok_or("--preemptions needs N")?.clone()),
            other if !other.starts_with('-') => only = Some(other.to_string()),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let crates: Vec<Crate> = selected(only.as_deref())?
        .into_iter()
        .filter(Crate::has_loom_models)
        .collect();
    let results = crate::loom::run(&crates, &loom_bound(bound.as_deref()));
    let failed: Vec<&str> = crates
        .iter()
        .zip(&results)
        .filter(|(_, r)| !r.ok)
        .map(|(c, _)| c.package.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("loom failed: {}", failed.join(", ")))
    }
}

pub(crate) fn miri_main(args: &[String]) -> Result<(), String> {
    if !miri_available() {
        println!("miri: skipped: no nightly Miri here");
        return Ok(());
    }
    let mut failed = Vec::new();
    for c in selected(args.first().map(String::as_str))?
        .iter()
        .filter(|c| c.dir != "bench" && c.has_unsafe())
    {
        if let Cell::Fail(_) = miri_one(c, &mut Log::terminal()) {
            failed.push(c.package.clone());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("miri failed: {}", failed.join(", ")))
    }
}
