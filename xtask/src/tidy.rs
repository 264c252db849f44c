//! Convention checks: `cargo xtask tidy`, also run by `cargo test -p xtask`.

use std::path::Path;

use crate::run::{self, rust_files};

/// Crates that are support rather than primitives: no loom models or doc page required.
const SUPPORT: &[&str] = &["sync", "weft", "bench", "soak"];

/// Only the benchmarks may depend on the rivals (weft-sync alone also takes `CachePadded` from
/// crossbeam-utils, see `SYNC_MAY_USE`).
const RIVALS: &[&str] = &[
    "parking_lot",
    "crossbeam-channel",
    "crossbeam-utils",
    "flume",
    "kanal",
    "async-channel",
    "rayon",
    "threadpool",
];

/// The one rival weft-sync may depend on: crossbeam-utils, for `CachePadded` (re-exported, so
/// that every other weft crate still depends on weft-sync alone).
const SYNC_MAY_USE: &str = "crossbeam-utils";

/// What only weft-sync may name: loom cannot see these.
const BYPASSES: &[&str] = &[
    "std::sync::atomic::{",
    "std::sync::atomic::Atomic",
    "core::sync::atomic::{",
    "core::sync::atomic::Atomic",
    "std::sync::Mutex",
    "std::sync::Condvar",
    "std::sync::RwLock",
    "std::thread::park",
    "std::cell::UnsafeCell",
    "core::cell::UnsafeCell",
];

pub(crate) fn main() -> Result<(), String> {
    let problems = check();
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        println!("tidy: ok");
        Ok(())
    } else {
        Err(format!("{} tidy problem(s)", problems.len()))
    }
}

/// Every convention the project keeps, as a list of problems (empty when tidy).
pub(crate) fn check() -> Vec<String> {
    let root = run::root();
    let mut problems = Vec::new();
    let rel = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();

    let mut manifests: Vec<_> = run::crates()
        .iter()
        .map(|c| c.path().join("Cargo.toml"))
        .collect();
    manifests.push(root.join("xtask/Cargo.toml"));
    for m in &manifests {
        let text = std::fs::read_to_string(m).unwrap_or_default();
        if !text.contains("[lints]\nworkspace = true") {
            problems.push(format!("{}: lacks `[lints] workspace = true`", rel(m)));
        }
        if !m.starts_with(root.join("crates/bench")) {
            let deps = section(&text, "[dependencies]");
            for r in RIVALS {
                if *r == SYNC_MAY_USE && m.starts_with(root.join("crates/sync")) {
                    continue;
                }
                if deps
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{r} ")))
                {
                    problems.push(format!(
                        "{}: depends on `{r}`, a rival: only crates/bench may",
                        rel(m)
                    ));
                }
            }
            if deps.lines().any(|l| l.trim_start().starts_with("loom "))
                && !m.starts_with(root.join("crates/sync"))
            {
                problems.push(format!("{}: depends on loom: only weft-sync may", rel(m)));
            }
        }
    }

    for c in run::crates() {
        let primitive = !SUPPORT.contains(&c.dir.as_str());
        if (primitive || c.dir == "sync") && !c.has_loom_models() {
            problems.push(format!("crates/{}: has no tests/loom.rs", c.dir));
        }
        if primitive && !root.join("docs").join(format!("{}.md", c.dir)).is_file() {
            problems.push(format!(
                "docs/{}.md: missing (one page per primitive)",
                c.dir
            ));
        }
        if c.dir != "bench" && !c.path().join("README.md").is_file() {
            problems.push(format!("crates/{}/README.md: missing", c.dir));
        }
        if c.dir == "sync" || c.dir == "bench" {
            continue;
        }
        let mut files = rust_files(&c.path().join("src"));
        files.push(c.path().join("tests/loom.rs"));
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            for (n, line) in lines.iter().enumerate() {
                // A bypass must be explicit: an `allow` of the lint just above it says why.
                let allowed = lines[n.saturating_sub(3)..n]
                    .iter()
                    .any(|l| l.contains("allow(clippy::disallowed_"));
                if line.trim_start().starts_with("//") || allowed {
                    continue;
                }
                for b in BYPASSES {
                    if line.contains(b) {
                        problems.push(format!(
                            "{}:{}: names `{b}`: use weft-sync so loom sees it",
                            rel(&f),
                            n + 1
                        ));
                    }
                }
            }
        }
    }

    for f in rust_files(&root.join("crates"))
        .into_iter()
        .chain(rust_files(&root.join("xtask")))
    {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let code = without_strings(line.split("//").next().unwrap_or(""));
            if !(code.contains("unsafe {") || code.contains("unsafe impl")) {
                continue;
            }
            let before = &lines[n.saturating_sub(6)..n];
            let documented = line.contains("SAFETY:")
                || before
                    .iter()
                    .any(|l| l.contains("SAFETY:") || l.trim_start().starts_with("///"));
            if !documented {
                problems.push(format!(
                    "{}:{}: `unsafe` without a `// SAFETY:` comment",
                    rel(&f),
                    n + 1
                ));
            }
        }
    }

    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    let demo = readme.find("cargo xtask demo");
    let verify = readme.find("cargo xtask verify");
    if !matches!((demo, verify), (Some(d), Some(v)) if d < v) {
        problems
            .push("README.md: must show `cargo xtask demo` then `cargo xtask verify` first".into());
    }
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap_or_default();
    if !ci.contains("xtask verify") {
        problems.push(".ci/run: must call `cargo xtask verify`".into());
    }
    conflict_markers(&root, &mut problems);
    problems
}

/// Flags a merge's conflict markers left in a tracked text file (sources, manifests, docs,
/// mutants catalogues), which nothing else would notice in a Markdown page or a catalogue.
fn conflict_markers(root: &Path, problems: &mut Vec<String>) {
    let Ok(out) = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
    else {
        return;
    };
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name);
        if !["rs", "md", "toml", "txt", "json", "yml", "sh"]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(name.as_ref())) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("<<<<<<< ") || line.starts_with(">>>>>>> ") {
                problems.push(format!("{name}:{}: a merge conflict marker", n + 1));
            }
        }
    }
}

/// `line` with the contents of its string literals dropped.
fn without_strings(line: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut escaped = false;
    for c in line.chars() {
        if in_str {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => escaped = false,
            }
        } else if c == '"' {
            in_str = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The body of a TOML section, up to the next header.
fn section<'a>(text: &'a str, header: &str) -> &'a str {
    let Some(start) = text.find(header) else {
        return "";
    };
    let body = &text[start + header.len()..];
    let end = body.find("\n[").unwrap_or(body.len());
    &body[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy() {
        let problems = super::check();
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }
}
