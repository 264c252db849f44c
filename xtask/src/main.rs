//! weft's task runner: `cargo xtask <command>`.
//!
//! * `verify [--only CRATE] [--skip CHECK]... [--serial]`: fmt, clippy, tests (with doc tests),
//!   docs, tidy, loom, Miri, ThreadSanitizer, fuzz, examples; a crate × check table at the end.
//!   Miri and the fuzz targets run alongside the rest (one CPU each) unless `--serial`.
//! * `loom [CRATE] [--preemptions N]`: the loom models, exhaustive, each model a process.
//! * `mutants [CRATE] [--list] [--only NAME]`: the planted-bug catalogues, each mutant must be
//!   caught by the loom models or the tests.
//! * `tsan [CRATE]`, `fuzz [--seconds N] [TARGET]`, `soak [--minutes F]`: ThreadSanitizer, the
//!   cargo-fuzz targets, the soak test.
//! * `bench [--filter TEXT] [--json PATH] [--runs N] [--processes N] [--threads 1,2,4,8,16]
//!   [--quick] [--report]`: weft beside its peers, thread sweeps at the `--threads` counts;
//!   `--processes` measures in that many processes and merges their runs; `--report` writes
//!   `docs/bench/` (tables and SVG charts).
//! * `demo [--scenario NAME]`: the guide's scenarios, end to end, with timings.
//! * `tidy`: the project's conventions (also a `#[test]`).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod bench;
mod demo;
mod fuzz;
mod loom;
mod mutants;
mod run;
mod soak;
mod tidy;
mod tsan;
mod verify;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  verify [--only CRATE] [--skip CHECK]... [--serial]
                                            every check: fmt clippy test doc tidy loom miri tsan
                                            fuzz examples (--quick skips loom miri tsan fuzz);
                                            Miri and fuzz run alongside the rest unless --serial
  loom [CRATE] [--preemptions N]            loom models (exhaustive), one crate or all
  miri [CRATE]                              Miri over the crates that contain unsafe code
  tsan [CRATE]                              integration and stress tests under ThreadSanitizer
                                            (nightly + rust-src)
  fuzz [--seconds N] [--list] [TARGET]      the cargo-fuzz targets in fuzz/, N seconds each
                                            (default 60; nightly + cargo-fuzz)
  mutants [CRATE] [--list] [--only NAME] [--no-baseline] [--limit SECONDS]
                                            apply each planted bug of crates/*/mutants.txt alone
                                            to a scratch copy; each must be caught (not in verify)
  soak [--minutes F] [--seed N] [--only PRIMITIVE]
                                            every primitive under randomised load, with a
                                            watchdog (release build of crates/soak)
  bench [--filter TEXT] [--json PATH] [--runs N] [--processes N] [--threads 1,2,4,8,16]
        [--quick] [--report]
                                            weft beside std, parking_lot, crossbeam, flume, rayon,
                                            threadpool and CPython, with ratios; --processes N
                                            measures in N processes and merges their runs;
                                            --report writes docs/bench/README.md and an SVG
                                            chart per family
  demo [--scenario NAME] [--list]           the Python threading guide's scenarios, with timings
  tidy                                      the project's conventions
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "verify" => verify::main(rest),
        "loom" => verify::loom_main(rest),
        "miri" => verify::miri_main(rest),
        "bench" => bench::main(rest),
        "demo" => demo::main(rest),
        "tidy" => tidy::main(),
        "mutants" => mutants::main(rest),
        "tsan" => tsan::main(rest),
        "fuzz" => fuzz::main(rest),
        "soak" => soak::main(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
