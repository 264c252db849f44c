//! `cargo xtask mutants`: checks that check the checks.
//!
//! Each crate may keep a catalogue of planted bugs in `crates/<crate>/mutants.txt`:
//!
//! ```text
//! === ring-getter-wakeup-dropped
//! file: src/ring.rs
//! why: a push no longer wakes a parked getter
//! --- find
//! <exact text; must occur exactly once in the file>
//! --- replace
//! <replacement text>
//! ```
//!
//! A block runs until the next `===` line or the end of the file; lines before the first block
//! are comments. The find and replace texts are the lines between their markers, joined by
//! line breaks, without the blank lines that separate blocks. Each mutant is applied alone to a
//! scratch copy of the workspace (`target/mutants/ws`); the crate's loom models run first, then
//! its ordinary tests, both stopping at the first failure; the mutant must make one of them fail
//! (or hang past the time limit). A survivor, or a catalogue error (a find text that does not
//! occur exactly once, a mutant that does not compile), fails the run.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::run::{self, Crate};

/// The catalogue file in each crate's directory.
const CATALOGUE: &str = "mutants.txt";
/// Default time limit for one mutant (both phases); at least three times the clean run.
const LIMIT: Duration = Duration::from_secs(300);
/// Time limit for the clean run that opens each crate.
const BASELINE_LIMIT: Duration = Duration::from_secs(3600);

/// One planted bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mutant {
    pub(crate) name: String,
    pub(crate) file: String,
    pub(crate) why: String,
    pub(crate) find: String,
    pub(crate) replace: String,
    /// `deep:` loom models (often `#[ignore]`d for the time an exhaustive pass takes) that find
    /// this bug quickly: tried first, under [`DEEP_LIMIT`]; a failure counts as caught, running
    /// out of time does not.
    pub(crate) deep: Vec<String>,
    /// The line of its `===` header in the catalogue.
    pub(crate) line: usize,
}

/// Parses a catalogue; errors name the line.
pub(crate) fn parse(text: &str) -> Result<Vec<Mutant>, String> {
    #[derive(PartialEq)]
    enum Part {
        Header,
        Find,
        Replace,
    }
    fn close(m: Option<(Mutant, Part, Vec<&str>, Vec<&str>)>) -> Result<Option<Mutant>, String> {
        let Some((mut m, part, find, replace)) = m else {
            return Ok(None);
        };
        if part != Part::Replace {
            return Err(format!(
                "line {}: mutant `{}` lacks a `--- find` and a `--- replace` section",
                m.line, m.name
            ));
        }
        if m.file.is_empty() {
            return Err(format!(
                "line {}: mutant `{}` lacks `file:`",
                m.line, m.name
            ));
        }
        let join = |mut v: Vec<&str>| {
            while v.last().is_some_and(|l| l.trim().is_empty()) {
                v.pop();
            }
            v.join("\n")
        };
        m.find = join(find);
        m.replace = join(replace);
        if m.find.is_empty() {
            return Err(format!(
                "line {}: mutant `{}` has an empty find text",
                m.line, m.name
            ));
        }
        Ok(Some(m))
    }
    let mut out: Vec<Mutant> = Vec::new();
    let mut cur: Option<(Mutant, Part, Vec<&str>, Vec<&str>)> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(name) = line.strip_prefix("===") {
            out.extend(close(cur.take())?);
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(format!("line {}: a mutant needs a name after `===`", n + 1));
            }
            if out.iter().any(|m| m.name == name) {
                return Err(format!("line {}: mutant `{name}` named twice", n + 1));
            }
            cur = Some((
                Mutant {
                    name,
                    file: String::new(),
                    why: String::new(),
                    find: String::new(),
                    replace: String::new(),
                    deep: Vec::new(),
                    line: n + 1,
                },
                Part::Header,
                Vec::new(),
                Vec::new(),
            ));
            continue;
        }
        let Some((m, part, find, replace)) = cur.as_mut() else {
            continue;
        };
        match (&*part, line.trim_end()) {
            (Part::Header, "--- find") => *part = Part::Find,
            (Part::Find, "--- replace") => *part = Part::Replace,
            (Part::Header, l) => {
                if let Some(f) = l.strip_prefix("file:") {
                    m.file = f.trim().to_string();
                } else if let Some(w) = l.strip_prefix("why:") {
                    m.why = w.trim().to_string();
                } else if let Some(d) = l.strip_prefix("deep:") {
                    m.deep = d
                        .split(',')
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .collect();
                } else if !l.trim().is_empty() {
                    return Err(format!(
                        "line {}: unexpected `{l}` in the header of mutant `{}`",
                        n + 1,
                        m.name
                    ));
                }
            }
            (Part::Find, _) => find.push(line),
            (Part::Replace, _) => replace.push(line),
        }
    }
    out.extend(close(cur)?);
    Ok(out)
}

struct Options {
    krate: Option<String>,
    list: bool,
    only: Option<String>,
    baseline: bool,
    limit: Duration,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        krate: None,
        list: false,
        only: None,
        baseline: true,
        limit: LIMIT,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => o.list = true,
            "--only" => o.only = Some(it.next().ok_or("--only needs a mutant name")?.clone()),
            "--no-baseline" => o.baseline = false,
            "--limit" => {
                let s = it.next().ok_or("--limit needs seconds")?;
                o.limit = Duration::from_secs(s.parse().map_err(|_| format!("bad --limit `{s}`"))?);
            }
            other if !other.starts_with('-') => o.krate = Some(other.to_string()),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(o)
}

/// One row of the final table.
struct Row {
    mutant: String,
    krate: String,
    caught_by: String,
    secs: f64,
    ok: bool,
}

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let o = options(args)?;
    let crates: Vec<Crate> = crate::verify::selected(o.krate.as_deref())?
        .into_iter()
        .filter(|c| c.path().join(CATALOGUE).is_file())
        .collect();
    if crates.is_empty() {
        return Err("no crate with a mutants.txt selected".into());
    }
    // Read and check every catalogue before running anything.
    let mut rows = Vec::new();
    let mut plan: Vec<(Crate, Vec<Mutant>)> = Vec::new();
    for c in &crates {
        let text = std::fs::read_to_string(c.path().join(CATALOGUE)).unwrap_or_default();
        let mutants = match parse(&text) {
            Ok(m) => m,
            Err(e) => {
                println!("catalogue error: crates/{}/{CATALOGUE}: {e}", c.dir);
                rows.push(Row {
                    mutant: "(catalogue)".into(),
                    krate: c.dir.clone(),
                    caught_by: format!("CATALOGUE ERROR: {e}"),
                    secs: 0.0,
                    ok: false,
                });
                continue;
            }
        };
        let mut good = Vec::new();
        for m in mutants {
            if o.only.as_ref().is_some_and(|n| *n != m.name) {
                continue;
            }
            match check_applies(&c.path(), &m) {
                Ok(()) => good.push(m),
                Err(e) => {
                    println!(
                        "catalogue error: crates/{}/{CATALOGUE}:{}: {e}",
                        c.dir, m.line
                    );
                    rows.push(Row {
                        mutant: m.name.clone(),
                        krate: c.dir.clone(),
                        caught_by: format!("CATALOGUE ERROR: {e}"),
                        secs: 0.0,
                        ok: false,
                    });
                }
            }
        }
        plan.push((c.clone(), good));
    }
    if o.only.is_some() && plan.iter().all(|(_, m)| m.is_empty()) && rows.is_empty() {
        return Err(format!(
            "no mutant named `{}`",
            o.only.as_deref().unwrap_or("")
        ));
    }
    if o.list {
        for (c, ms) in &plan {
            for m in ms {
                println!("{:<40} {:<10} {}: {}", m.name, c.dir, m.file, m.why);
            }
        }
        return if rows.is_empty() {
            Ok(())
        } else {
            Err(format!("{} catalogue error(s)", rows.len()))
        };
    }

    let scratch = run::root().join("target/mutants");
    let ws = scratch.join("ws");
    println!(
        "==> mutants: syncing the scratch workspace {}",
        ws.display()
    );
    sync_tree(&run::root(), &ws).map_err(|e| format!("copying the workspace: {e}"))?;
    let nextest = nextest_available();
    if !nextest {
        println!("    cargo-nextest not found: using cargo test (no fail-fast within a binary)");
    }

    for (c, mutants) in &plan {
        if mutants.is_empty() {
            continue;
        }
        let mut limit = o.limit;
        if o.baseline {
            println!(
                "\n==> mutants: {} baseline (no mutant: must pass)",
                c.package
            );
            let r = run_checks(&ws, &scratch, c, BASELINE_LIMIT, nextest);
            if r.caught.is_some() {
                return Err(format!(
                    "{}: the unmutated crate fails ({}): fix that first",
                    c.package,
                    r.caught.unwrap_or_default()
                ));
            }
            // A mutant that runs three times as long as the clean crate is hanging; a shorter
            // limit could pass off a slow survivor as a timeout.
            limit = limit.max(Duration::from_secs_f64(3.0 * r.secs));
            println!(
                "    clean run {:.0}s: each mutant gets {:.0}s",
                r.secs,
                limit.as_secs_f64()
            );
        }
        for m in mutants {
            println!("\n==> mutant {} ({}: {}): {}", m.name, c.dir, m.file, m.why);
            let path = ws.join("crates").join(&c.dir).join(&m.file);
            let original = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let mutated = original.replacen(&m.find, &m.replace, 1);
            std::fs::write(&path, &mutated).map_err(|e| format!("{}: {e}", path.display()))?;
            let r = match run_deep(&ws, &scratch, c, &m.deep) {
                Some(r) => r,
                None => run_checks(&ws, &scratch, c, limit, nextest),
            };
            std::fs::write(&path, &original)
                .map_err(|e| format!("restoring {}: {e}", path.display()))?;
            let (caught_by, ok) = match r.caught {
                Some(by) if r.build_failed => {
                    (format!("CATALOGUE ERROR: does not build ({by})"), false)
                }
                Some(by) => (by, true),
                None => ("SURVIVED".to_string(), false),
            };
            println!("    {}: {caught_by} ({:.0}s)", m.name, r.secs);
            rows.push(Row {
                mutant: m.name.clone(),
                krate: c.dir.clone(),
                caught_by,
                secs: r.secs,
                ok,
            });
        }
    }

    println!();
    println!("| mutant | crate | caught by | seconds |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.0} |",
            r.mutant, r.krate, r.caught_by, r.secs
        );
    }
    let bad = rows.iter().filter(|r| !r.ok).count();
    println!(
        "\nmutants: {} caught, {bad} survived or in error",
        rows.len() - bad
    );
    if bad == 0 {
        Ok(())
    } else {
        Err(format!("{bad} mutant(s) survived or are in error"))
    }
}

/// Checks that `m.find` occurs exactly once in its file.
fn check_applies(crate_dir: &Path, m: &Mutant) -> Result<(), String> {
    let path = crate_dir.join(&m.file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("`{}`: {e}", m.file))?;
    match text.matches(&m.find).count() {
        1 => {}
        0 => {
            return Err(format!(
                "`{}`: the find text of `{}` is not there",
                m.file, m.name
            ));
        }
        n => {
            return Err(format!(
                "`{}`: the find text of `{}` occurs {n} times (must be once)",
                m.file, m.name
            ));
        }
    }
    if m.find == m.replace {
        return Err(format!("`{}`: replace equals find", m.name));
    }
    if !m.deep.is_empty() {
        let models = std::fs::read_to_string(crate_dir.join("tests/loom.rs")).unwrap_or_default();
        for name in &m.deep {
            if !models.contains(&format!("fn {name}(")) {
                return Err(format!("`{}`: no loom model `{name}`", m.name));
            }
        }
    }
    Ok(())
}

/// How long the `deep:` models of a mutant may run before the ordinary checks take over.
const DEEP_LIMIT: Duration = Duration::from_secs(300);

/// Runs a mutant's `deep:` loom models (ignored or not) one by one; `Some` once one fails.
fn run_deep(ws: &Path, scratch: &Path, c: &Crate, deep: &[String]) -> Option<Verdict> {
    let start = Instant::now();
    for name in deep {
        println!("    deep: {name}");
        let mut cmd = run::cargo();
        run::loom_env(&mut cmd)
            .current_dir(ws)
            .args(["test", "-p", &c.package, "--all-features", "--target-dir"])
            .arg(scratch.join("target-loom"))
            .args([
                "--test",
                "loom",
                "--release",
                "--",
                "--include-ignored",
                "--exact",
            ])
            .arg(name);
        let o = run::run_quiet_with_timeout(&mut cmd, DEEP_LIMIT);
        // One exact model runs, so any failure that is not a build error is that model's:
        // a failed assertion (`... FAILED`) or a loom deadlock, which panics inside loom's
        // scheduler and aborts the process with no `FAILED` line.
        let built = !o.output.contains("could not compile");
        if !o.ok && !o.timed_out && built {
            return Some(Verdict {
                caught: Some(format!("loom::{name} (deep)")),
                build_failed: false,
                secs: start.elapsed().as_secs_f64(),
            });
        }
    }
    None
}

struct Verdict {
    /// The failing test, "timeout", or `None` when everything passed.
    caught: Option<String>,
    build_failed: bool,
    secs: f64,
}

/// The crate's loom models (release, `--cfg weft_loom`), then its ordinary tests, stopping at
/// the first failure; the time limit covers both.
fn run_checks(ws: &Path, scratch: &Path, c: &Crate, limit: Duration, nextest: bool) -> Verdict {
    let start = Instant::now();
    let bound = std::env::var("LOOM_MAX_PREEMPTIONS")
        .unwrap_or_else(|_| crate::verify::LOOM_PREEMPTIONS.to_string());
    let runner = |target: PathBuf| {
        let mut cmd = run::cargo();
        cmd.current_dir(ws).env_remove("RUSTFLAGS");
        if nextest {
            cmd.args([
                "nextest",
                "run",
                "--no-tests=warn",
                "--max-fail=1:immediate",
            ]);
        } else {
            cmd.arg("test");
        }
        cmd.args(["-p", &c.package, "--all-features", "--target-dir"])
            .arg(target);
        cmd
    };
    let mut phases: Vec<(&str, Command, String)> = Vec::new();
    if c.has_loom_models() {
        let mut cmd = runner(scratch.join("target-loom"));
        run::loom_env(&mut cmd)
            .args(["--test", "loom", "--release"])
            .env("LOOM_MAX_PREEMPTIONS", &bound);
        phases.push(("loom", cmd, String::new()));
    }
    // The ordinary tests: the library's unit tests and every integration test but loom. A test
    // without the standard harness cannot be listed by nextest: plain cargo test runs it.
    let plain = harnessless_tests(c);
    let mut cmd = runner(scratch.join("target"));
    cmd.arg("--lib");
    for t in run::rs_stems(&c.path().join("tests")) {
        if t != "loom" && !plain.contains(&t) {
            cmd.args(["--test", &t]);
        }
    }
    phases.push(("tests", cmd, String::new()));
    for t in &plain {
        let mut cmd = run::cargo();
        cmd.current_dir(ws)
            .env_remove("RUSTFLAGS")
            .args(["test", "-p", &c.package, "--all-features", "--target-dir"])
            .arg(scratch.join("target"))
            .args(["--test", t]);
        // Its failures name the test alone: prefix the binary, as nextest does.
        phases.push(("tests", cmd, format!("{t}::")));
    }
    for (phase, mut cmd, prefix) in phases {
        let left = limit.saturating_sub(start.elapsed());
        println!("    {phase}:");
        let o = run::run_quiet_with_timeout(&mut cmd, left);
        if o.timed_out {
            return Verdict {
                caught: Some("timeout".into()),
                build_failed: false,
                secs: start.elapsed().as_secs_f64(),
            };
        }
        if !o.ok {
            let built = o.output.contains("Finished")
                || o.output.contains("Starting")
                || o.output.contains("Running");
            let failed = first_failure(&o.output).map(|t| format!("{prefix}{t}"));
            let build_failed = !built && failed.is_none();
            if build_failed {
                let tail: Vec<&str> = o
                    .output
                    .lines()
                    .filter(|l| l.contains("error"))
                    .take(5)
                    .collect();
                for l in &tail {
                    println!("      {l}");
                }
            }
            return Verdict {
                caught: Some(failed.unwrap_or_else(|| format!("{phase} (failed, no test named)"))),
                build_failed,
                secs: start.elapsed().as_secs_f64(),
            };
        }
    }
    Verdict {
        caught: None,
        build_failed: false,
        secs: start.elapsed().as_secs_f64(),
    }
}

/// The first failing test named in nextest or cargo test output.
pub(crate) fn first_failure(output: &str) -> Option<String> {
    for line in output.lines() {
        let l = line.trim();
        // nextest: `FAIL [   0.123s] (3/10) weft-event::loom model_name`
        for status in ["FAIL [", "SIGABRT [", "SIGSEGV [", "TIMEOUT [", "SIGKILL ["] {
            if let Some(rest) = l.strip_prefix(status)
                && let Some((_, after)) = rest.split_once(']')
            {
                // Skip the progress counter, `(3/10)` or `( 3/10)`.
                let after = after.trim_start();
                let after = match after.strip_prefix('(') {
                    Some(rest) => rest.split_once(')').map_or(rest, |(_, r)| r),
                    None => after,
                };
                let mut words = after.split_whitespace();
                let binary = words.next()?;
                let name = words.next().unwrap_or("");
                let binary = binary.split("::").nth(1).unwrap_or(binary);
                return Some(format!("{binary}::{name}"));
            }
        }
        // cargo test (and harness-less tests): `test model_name ... FAILED[: why]`
        if let Some(rest) = l.strip_prefix("test ")
            && let Some((name, _)) = rest.split_once(" ... FAILED")
        {
            return Some(name.to_string());
        }
    }
    None
}

/// The crate's integration tests declared with `harness = false` in its manifest.
fn harnessless_tests(c: &Crate) -> Vec<String> {
    let text = std::fs::read_to_string(c.path().join("Cargo.toml")).unwrap_or_default();
    text.split("[[test]]")
        .skip(1)
        .filter_map(|section| {
            let section = section.split("\n[").next().unwrap_or("");
            let harnessless = section.lines().any(|l| {
                l.split_once('=')
                    .is_some_and(|(k, v)| k.trim() == "harness" && v.trim() == "false")
            });
            let name = section.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
            })?;
            harnessless.then_some(name)
        })
        .collect()
}

fn nextest_available() -> bool {
    run::cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Mirrors the workspace's sources (not `target/`, not `.git`) into `to`, writing only files
/// whose content changed so the scratch builds stay incremental.
fn sync_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        let name_s = name.to_string_lossy();
        if name_s == "target"
            || name_s.starts_with('.')
            || (from == run::root() && name_s == "fuzz")
        {
            continue;
        }
        let src = e.path();
        let dst = to.join(&name);
        if e.file_type()?.is_dir() {
            sync_tree(&src, &dst)?;
        } else if e.file_type()?.is_file() {
            let new = std::fs::read(&src)?;
            if std::fs::read(&dst).ok().as_deref() != Some(&new[..]) {
                std::fs::write(&dst, &new)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_catalogue_format() {
        let text = "\
# a comment before the first block
=== one
file: src/a.rs
why: a wake-up dropped
--- find
    x.notify();
    y();
--- replace
    y();

=== two
file: src/b.rs
why: nothing left
--- find
a
--- replace
";
        let m = parse(text).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "one");
        assert_eq!(m[0].file, "src/a.rs");
        assert_eq!(m[0].why, "a wake-up dropped");
        assert_eq!(m[0].find, "    x.notify();\n    y();");
        assert_eq!(m[0].replace, "    y();");
        assert_eq!(m[1].find, "a");
        assert_eq!(m[1].replace, "");
        assert_eq!(m[1].line, 11);
    }

    #[test]
    fn rejects_broken_blocks() {
        assert!(parse("=== a\nfile: x\n--- find\nz\n").is_err());
        assert!(parse("=== a\n--- find\nz\n--- replace\nq\n").is_err());
        assert!(parse("=== a\nfile: x\n--- find\nz\n--- replace\n=== a\nfile: x\n--- find\nz\n--- replace\n").is_err());
    }

    #[test]
    fn names_the_first_failure() {
        let nextest = "    Starting 6 tests\n        PASS [   0.1s] (1/6) weft-event::loom a\n        FAIL [   0.2s] (2/6) weft-event::loom set_wakes_all\n";
        assert_eq!(
            first_failure(nextest).as_deref(),
            Some("loom::set_wakes_all")
        );
        let spaced = "        FAIL [   0.2s] ( 1/11) weft-futures::loom complete_vs_cancel\n";
        assert_eq!(
            first_failure(spaced).as_deref(),
            Some("loom::complete_vs_cancel")
        );
        let old = "        FAIL [   0.2s] weft-event::event waits\n";
        assert_eq!(first_failure(old).as_deref(), Some("event::waits"));
        let cargo = "test a ... ok\ntest b::c ... FAILED\n";
        let plain = "test forks ... ok (3ms)\ntest dies ... FAILED: boom\n";
        assert_eq!(first_failure(plain).as_deref(), Some("dies"));
        assert_eq!(first_failure(cargo).as_deref(), Some("b::c"));
    }

    #[test]
    fn every_catalogue_parses_and_applies() {
        for c in run::crates() {
            let p = c.path().join(CATALOGUE);
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let mutants = parse(&text).unwrap_or_else(|e| panic!("crates/{}: {e}", c.dir));
            for m in mutants {
                check_applies(&c.path(), &m).unwrap_or_else(|e| panic!("crates/{}: {e}", c.dir));
            }
        }
    }
}
