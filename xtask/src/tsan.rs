//! `cargo xtask tsan`: the stress and integration tests under ThreadSanitizer.
//!
//! TSan needs a nightly toolchain with `rust-src` (std is rebuilt with the sanitizer through
//! `-Zbuild-std`); where that is missing the check is skipped, as Miri's is. The loom models
//! are not run here (loom replaces the threads TSan would watch), and neither are the tests
//! that fork (weft-process's integration tests and the facade's process test): TSan does not
//! support a multi-threaded process that forks and then runs threads in the child.

use std::{path::PathBuf, time::Duration};

use crate::run::{self, Crate, Outcome};

/// The host triple `-Zbuild-std` builds for.
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The suppressions file: only std/libc internals, one reason per entry.
pub(crate) fn suppressions() -> PathBuf {
    run::root().join("xtask/tsan.supp")
}

/// Whether this machine can build and run TSan tests: nightly with `rust-src`, on x86-64 Linux.
pub(crate) fn available() -> bool {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return false;
    }
    let mut cmd = std::process::Command::new("rustc");
    cmd.args(["+nightly", "--print", "sysroot"]);
    for v in ["RUSTC", "RUSTUP_TOOLCHAIN", "RUSTC_WRAPPER"] {
        cmd.env_remove(v);
    }
    let Ok(out) = cmd.output() else {
        return false;
    };
    if !out.status.success() {
        return false;
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    sysroot
        .join("lib/rustlib/src/rust/library/std/Cargo.toml")
        .is_file()
}

/// The integration test targets TSan runs for `c` (every `tests/*.rs` but the loom models);
/// empty when the crate is not checked under TSan, with the reason.
pub(crate) fn targets(c: &Crate) -> Result<Vec<String>, &'static str> {
    match c.dir.as_str() {
        "bench" => return Err("bench"),
        // Every integration test of the process pool forks its workers.
        "process" => return Err("fork"),
        // The facade's tests run the crates' own code, which their own runs cover (and its
        // executor test forks).
        "weft" => return Err("facade"),
        _ => {}
    }
    let mut t: Vec<String> = run::rs_stems(&c.path().join("tests"))
        .into_iter()
        // The loom models run no real threads; the Celery interop tests spend their time in
        // Python processes, which TSan does not watch.
        .filter(|t| t != "loom" && !(c.dir == "celery" && t == "interop"))
        .collect();
    t.sort();
    if t.is_empty() { Err("no tests") } else { Ok(t) }
}

/// Runs `c`'s integration tests under TSan.
pub(crate) fn one(c: &Crate, targets: &[String]) -> Outcome {
    println!(
        "\n==> tsan: {} ({}) under ThreadSanitizer",
        c.package,
        targets.join(", ")
    );
    let mut cmd = crate::verify::nightly();
    cmd.args([
        "test",
        "-Zbuild-std",
        "--target",
        TARGET,
        "-p",
        &c.package,
        "--all-features",
    ]);
    for t in targets {
        cmd.args(["--test", t]);
    }
    cmd.arg("--target-dir")
        .arg(run::root().join("target/tsan"))
        // `weft_tsan` lets a stress test scale itself down under the sanitizer (as for Miri).
        .env("RUSTFLAGS", "-Zsanitizer=thread --cfg weft_tsan")
        .env(
            "TSAN_OPTIONS",
            format!(
                "halt_on_error=1 second_deadlock_stack=1 suppressions={}",
                suppressions().display()
            ),
        );
    let o = run::run_with_timeout(&mut cmd, Duration::from_secs(900));
    let (passed, failed, ignored) = run::test_counts(&o.output);
    let races = o.output.matches("WARNING: ThreadSanitizer").count();
    println!(
        "    {}: {passed} passed, {failed} failed, {ignored} ignored under TSan; {races} report(s) ({:.0} s)",
        c.package,
        o.elapsed.as_secs_f64()
    );
    o
}

/// `cargo xtask tsan [CRATE]`.
pub(crate) fn main(args: &[String]) -> Result<(), String> {
    if !available() {
        println!(
            "tsan: skipped: no nightly with rust-src here \
             (rustup component add --toolchain nightly rust-src)"
        );
        return Ok(());
    }
    let mut failed = Vec::new();
    for c in crate::verify::selected(args.first().map(String::as_str))? {
        match targets(&c) {
            Ok(t) => {
                if !one(&c, &t).ok {
                    failed.push(c.package.clone());
                }
            }
            Err(why) => println!("tsan: {}: skipped ({why})", c.package),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("tsan failed: {}", failed.join(", ")))
    }
}
