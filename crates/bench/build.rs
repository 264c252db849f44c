//! Switches on the async rows of weft's `Lock` and `Queue` (the `async-lock-queue` feature) only
//! where weft-lock and weft-queue have the methods they call: the feature is off by default and
//! is meant to be switched on once those methods exist, but `--all-features` builds (clippy,
//! rustdoc) must not break before then. With the feature on and a method missing, the rows are
//! left out and the build says so.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::Path;

/// Every `.rs` file under `dir`, concatenated.
fn sources(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
    out
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(weft_bench_async_lock_queue)");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_ASYNC_LOCK_QUEUE").is_none() {
        return;
    }
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lock_dir = crates.join("lock/src");
    let queue_dir = crates.join("queue/src");
    println!("cargo::rerun-if-changed={}", lock_dir.display());
    println!("cargo::rerun-if-changed={}", queue_dir.display());
    let (lock, queue) = (sources(&lock_dir), sources(&queue_dir));
    let missing: Vec<&str> = [
        (&lock, "fn acquire_async"),
        (&queue, "fn put_async"),
        (&queue, "fn get_async"),
        (&queue, "fn join_async"),
    ]
    .into_iter()
    .filter(|(src, f)| !src.contains(f))
    .map(|(_, f)| f)
    .collect();
    if missing.is_empty() {
        println!("cargo::rustc-cfg=weft_bench_async_lock_queue");
    } else {
        println!(
            "cargo::warning=async-lock-queue: weft-lock/weft-queue have no `{}` yet; the weft rows \
             of async_lock_* and async_queue_* / async_mixed_* are left out",
            missing.join("`, `")
        );
    }
}
