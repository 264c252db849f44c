//! Running cargo and friends, and finding the workspace's crates.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The workspace root, from this crate's manifest directory.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .into()
}

/// The cargo that runs us (`$CARGO`), or `cargo`.
pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Sets up `cmd` (a `cargo test --release` of loom models) to build under `--cfg weft_loom`,
/// with debug assertions (the crates' own invariant checks run in every interleaving) and
/// without the release profile's debug info, which a loom build never uses and which cost
/// about a fifth of its build time.
pub(crate) fn loom_env(cmd: &mut Command) -> &mut Command {
    cmd.env("RUSTFLAGS", "--cfg weft_loom -C debug-assertions")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
}

/// A workspace crate: its directory name under `crates/` and its package name.
#[derive(Clone, Debug)]
pub(crate) struct Crate {
    pub(crate) dir: String,
    pub(crate) package: String,
}

impl Crate {
    pub(crate) fn path(&self) -> PathBuf {
        root().join("crates").join(&self.dir)
    }

    /// Whether any of its sources contains `unsafe` code.
    pub(crate) fn has_unsafe(&self) -> bool {
        rust_files(&self.path().join("src")).iter().any(|f| {
            std::fs::read_to_string(f).is_ok_and(|s| {
                s.lines().any(|l| {
                    let l = l.trim_start();
                    !l.starts_with("//") && (l.contains("unsafe {") || l.contains("unsafe impl"))
                })
            })
        })
    }

    pub(crate) fn has_loom_models(&self) -> bool {
        self.path().join("tests/loom.rs").is_file()
    }
}

/// Every crate under `crates/`, sorted, with its package name from its manifest.
pub(crate) fn crates() -> Vec<Crate> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(root().join("crates")) else {
        return out;
    };
    for entry in dir.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let package = text
            .lines()
            .find_map(|l| {
                let l = l.trim();
                l.strip_prefix("name")
                    .map(str::trim_start)
                    .and_then(|l| l.strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
            .unwrap_or_default();
        out.push(Crate {
            dir: entry.file_name().to_string_lossy().into_owned(),
            package,
        });
    }
    out.sort_by(|a, b| order(&a.dir).cmp(&order(&b.dir)).then(a.dir.cmp(&b.dir)));
    out
}

/// Foundation first, then the primitives in the order they build on each other.
pub(crate) fn order(dir: &str) -> usize {
    const ORDER: &[&str] = &[
        "sync",
        "lock",
        "event",
        "semaphore",
        "condition",
        "queue",
        "futures",
        "pool",
        "process",
        "weft",
        "soak",
        "bench",
    ];
    ORDER.iter().position(|d| *d == dir).unwrap_or(ORDER.len())
}

/// The stems of the `.rs` files directly in `dir` (binaries, examples), unsorted.
pub(crate) fn rs_stems(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .collect()
}

/// Every `.rs` file below `dir`.
pub(crate) fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// What a finished command did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) ok: bool,
    pub(crate) elapsed: Duration,
    /// Everything it printed on stdout and stderr, interleaved line by line.
    pub(crate) output: String,
    /// Whether it was killed for running past its time limit.
    pub(crate) timed_out: bool,
}

/// Runs `cmd`, echoing its output line by line (indented) while capturing it.
pub(crate) fn run_streaming(cmd: &mut Command, echo: bool) -> Outcome {
    run_inner(cmd, echo, None, true)
}

/// As [`run_streaming`] (echoing), but kills the command's whole process group once `limit`
/// has passed, so a hung test cannot stall the run.
pub(crate) fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Outcome {
    run_inner(cmd, true, Some(limit), true)
}

/// As [`run_with_timeout`], but without echoing the output (it is still captured).
pub(crate) fn run_quiet_with_timeout(cmd: &mut Command, limit: Duration) -> Outcome {
    run_inner(cmd, false, Some(limit), true)
}

/// As [`run_quiet_with_timeout`], without announcing the command either.
pub(crate) fn run_silent_with_timeout(cmd: &mut Command, limit: Duration) -> Outcome {
    run_inner(cmd, false, Some(limit), false)
}

/// Where a check's lines go: straight to the terminal, or into a buffer that is printed in one
/// piece later (a check running alongside others, so that its lines do not interleave with
/// theirs).
pub(crate) struct Log {
    buffer: Option<String>,
}

impl Log {
    /// Lines go to stdout as they come.
    pub(crate) fn terminal() -> Self {
        Self { buffer: None }
    }

    /// Lines are kept until [`Self::into_text`].
    pub(crate) fn buffered() -> Self {
        Self {
            buffer: Some(String::new()),
        }
    }

    /// One line.
    pub(crate) fn say(&mut self, line: &str) {
        match &mut self.buffer {
            None => println!("{line}"),
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
        }
    }

    /// Runs `cmd` as [`run_with_timeout`] does (the command line, then its output indented), or,
    /// buffered, [`run_quiet_with_timeout`] with the same lines kept.
    pub(crate) fn run(&mut self, cmd: &mut Command, limit: Duration) -> Outcome {
        self.run_inner(cmd, true, limit)
    }

    /// As [`Self::run`], without the command's output (it is still captured in the outcome).
    pub(crate) fn run_quiet(&mut self, cmd: &mut Command, limit: Duration) -> Outcome {
        self.run_inner(cmd, false, limit)
    }

    fn run_inner(&mut self, cmd: &mut Command, echo: bool, limit: Duration) -> Outcome {
        if self.buffer.is_none() {
            return run_inner(cmd, echo, Some(limit), true);
        }
        self.say(&format!("    $ {}", describe(cmd)));
        let o = run_inner(cmd, false, Some(limit), false);
        if echo {
            for line in o.output.lines() {
                self.say(&format!("      {line}"));
            }
        }
        if o.timed_out {
            self.say(&format!("    timed out after {limit:?}: killed"));
        }
        o
    }

    /// What was kept (empty for [`Self::terminal`]).
    pub(crate) fn into_text(self) -> String {
        self.buffer.unwrap_or_default()
    }
}

fn run_inner(cmd: &mut Command, echo: bool, limit: Option<Duration>, announce: bool) -> Outcome {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    if announce {
        eprintln!("    $ {}", describe(cmd));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                ok: false,
                elapsed: start.elapsed(),
                output: format!("could not start: {e}"),
                timed_out: false,
            };
        }
    };
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let pump = |r: Box<dyn Read + Send>, tx: std::sync::mpsc::Sender<String>| {
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    };
    let t1 = pump(Box::new(child.stdout.take().expect("piped")), tx.clone());
    let t2 = pump(Box::new(child.stderr.take().expect("piped")), tx);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pid = child.id();
    if let Some(limit) = limit {
        let done = done.clone();
        let killed = killed.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + limit;
            while Instant::now() < until {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            if !done.load(std::sync::atomic::Ordering::Relaxed) {
                if announce {
                    eprintln!("    timed out after {limit:?}: killing process group {pid}");
                }
                killed.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
        });
    }
    let mut output = String::new();
    for line in rx {
        if echo {
            println!("      {line}");
        }
        output.push_str(&line);
        output.push('\n');
    }
    let _ = (t1.join(), t2.join());
    let ok = child.wait().is_ok_and(|s| s.success());
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    Outcome {
        ok,
        elapsed: start.elapsed(),
        output,
        timed_out: killed.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// A readable form of `cmd`, with the environment it sets.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(
        &Path::new(cmd.get_program())
            .file_name()
            .unwrap_or_default()
            .to_string_lossy(),
    );
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Test counts summed over every `test result:` line of cargo test output:
/// (passed, failed, ignored).
pub(crate) fn test_counts(output: &str) -> (u64, u64, u64) {
    let mut t = (0, 0, 0);
    for line in output.lines() {
        if let Some(plain) = plain_summary(line) {
            t.0 += plain.0;
            t.1 += plain.1;
            t.2 += plain.2;
            continue;
        }
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            continue;
        };
        for part in rest.split(';') {
            let mut words = part
                .split_whitespace()
                .filter(|w| *w != "ok." && *w != "FAILED.");
            if let (Some(n), Some(what)) = (words.next(), words.next()) {
                let n: u64 = n.parse().unwrap_or(0);
                match what {
                    "passed" => t.0 += n,
                    "failed" => t.1 += n,
                    "ignored" => t.2 += n,
                    _ => {}
                }
            }
        }
    }
    t
}

/// A harness-less test binary's closing line: `N passed, N failed` alone on a line, with an
/// optional `, N skipped` after it and one `word:` before it.
fn plain_summary(line: &str) -> Option<(u64, u64, u64)> {
    let mut rest = line.trim();
    if let Some((word, after)) = rest.split_once(": ")
        && !word.contains(' ')
    {
        rest = after;
    }
    let parts: Vec<&str> = rest.split(", ").collect();
    let count = |part: &str, what: &str| -> Option<u64> {
        let (n, w) = part.split_once(' ')?;
        if w == what { n.parse().ok() } else { None }
    };
    match parts.as_slice() {
        [p, f] => Some((count(p, "passed")?, count(f, "failed")?, 0)),
        [p, f, s] => Some((
            count(p, "passed")?,
            count(f, "failed")?,
            count(s, "skipped")?,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_cargo_test_lines() {
        let out = "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; \
                   finished in 0.00s\nnoise\ntest result: FAILED. 2 passed; 1 failed; 0 ignored; \
                   0 measured; 0 filtered out\n";
        assert_eq!(super::test_counts(out), (5, 1, 1));
        let plain =
            "process: 12 passed, 0 failed\n0 passed, 1 failed, 2 skipped\nnot 1 passed, x\n";
        assert_eq!(super::test_counts(plain), (12, 1, 2));
    }
}
