//! weft's soak test: `cargo xtask soak --minutes N` (or `weft-soak --minutes N`).
//!
//! Round after round, each primitive is driven by a randomised mix: 1 to 16 threads (on a
//! machine with far fewer cores), blocking, non-blocking and timed calls, shutdowns, cancels.
//! Every round checks its invariants while it runs and when it ends: mutual exclusion (a
//! counter of holders), permits conserved, every item received exactly once (or handed back
//! by the call that could not deliver it), task counts settled, every blocked call returned
//! after a shutdown. A watchdog ends the process if a round does not finish in time (a hang).
//! The report gives, per primitive, the rounds, operations and items done and the violations
//! found; any violation or hang exits non-zero.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod rng;
mod scenarios;
mod tasks;

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use weft_sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::rng::Rng;

/// What one round of one primitive did.
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct Tally {
    /// Calls made (acquires, puts, gets, waits, submits, ...).
    pub(crate) ops: u64,
    /// Items or tasks that had to arrive exactly once, and did.
    pub(crate) items: u64,
    /// Invariant violations (each one is also printed).
    pub(crate) violations: u64,
    /// Items lost, received twice, or received but never sent (each also a violation).
    pub(crate) lost: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.ops += o.ops;
        self.items += o.items;
        self.violations += o.violations;
        self.lost += o.lost;
    }
}

/// Counters shared by the threads of a round.
#[derive(Default, Debug)]
pub(crate) struct Shared {
    pub(crate) ops: AtomicU64,
    pub(crate) items: AtomicU64,
    pub(crate) violations: AtomicU64,
    pub(crate) lost: AtomicU64,
}

impl Shared {
    pub(crate) fn op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ops(&self, n: u64) {
        self.ops.fetch_add(n, Ordering::Relaxed);
    }

    /// Records `n` items lost or duplicated (the violation is recorded separately).
    pub(crate) fn lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn items(&self, n: u64) {
        self.items.fetch_add(n, Ordering::Relaxed);
    }

    /// Records a violation of an invariant and says which.
    pub(crate) fn violation(&self, what: &str) {
        eprintln!("VIOLATION: {what}");
        self.violations.fetch_add(1, Ordering::Relaxed);
    }

    /// Checks `ok`, recording `what` as a violation if it does not hold.
    pub(crate) fn check(&self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.violation(&what());
        }
    }

    pub(crate) fn tally(&self) -> Tally {
        Tally {
            ops: self.ops.load(Ordering::Relaxed),
            items: self.items.load(Ordering::Relaxed),
            violations: self.violations.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }
}

/// One round's parameters: how many threads and for how long they drive the primitive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    pub(crate) threads: usize,
    pub(crate) until: Instant,
    pub(crate) seed: u64,
}

/// A round of one primitive: returns what it did.
type Scenario = fn(&Round, &mut Rng) -> Tally;

/// Longest a round may take before the watchdog calls it a hang.
const HANG: Duration = Duration::from_secs(120);

/// The round in progress, for the watchdog: its start (ms since the run began) and index.
static ROUND_START_MS: AtomicU64 = AtomicU64::new(0);
static ROUND_WHAT: AtomicUsize = AtomicUsize::new(usize::MAX);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut minutes = 1.0f64;
    let mut seed = None;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--minutes" => {
                let v = value("--minutes");
                minutes = v
                    .parse()
                    .ok()
                    .filter(|m: &f64| m.is_finite() && *m > 0.0)
                    .unwrap_or_else(|| fail(&format!("bad --minutes `{v}`")));
            }
            "--seed" => {
                let v = value("--seed");
                seed = Some(
                    v.parse()
                        .unwrap_or_else(|_| fail(&format!("bad --seed `{v}`"))),
                );
            }
            "--only" => only = Some(value("--only")),
            "-h" | "--help" => {
                println!(
                    "usage: weft-soak [--minutes F] [--seed N] [--only PRIMITIVE]\nprimitives: {}",
                    scenarios::ALL
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                return ExitCode::SUCCESS;
            }
            other => fail(&format!("unknown option `{other}`")),
        }
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let chosen: Vec<(&str, Scenario)> = scenarios::ALL
        .iter()
        .copied()
        .filter(|(n, _)| only.as_deref().is_none_or(|o| o == *n))
        .collect();
    if chosen.is_empty() {
        fail("no primitive by that name (see --help)");
    }

    // The process pool forks its helper here, before this process has any other thread.
    scenarios::process_pool_init();

    let total = Duration::from_secs_f64(minutes * 60.0);
    let began = Instant::now();
    let end = began + total;
    println!(
        "weft-soak: {minutes} minute(s), seed {seed}, {} primitive(s), up to 16 threads on {} core(s)",
        chosen.len(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let names: Vec<&str> = chosen.iter().map(|(n, _)| *n).collect();
    watchdog(began, names.iter().map(|s| (*s).to_string()).collect());

    let mut rng = Rng::new(seed);
    let mut totals: Vec<(Tally, u64)> = vec![(Tally::default(), 0); chosen.len()];
    let mut next_report = began + Duration::from_secs(30);
    'run: loop {
        for (i, (name, scenario)) in chosen.iter().enumerate() {
            let now = Instant::now();
            if now >= end {
                break 'run;
            }
            // A round drives its primitive for 50 to 400 ms, then winds down and checks.
            let span = Duration::from_millis(rng.range(50, 400));
            let round = Round {
                threads: rng.range(1, 16) as usize,
                until: now + span,
                seed: rng.next(),
            };
            ROUND_START_MS.store(began.elapsed().as_millis() as u64, Ordering::Relaxed);
            ROUND_WHAT.store(i, Ordering::Relaxed);
            let t = scenario(&round, &mut rng);
            ROUND_WHAT.store(usize::MAX, Ordering::Relaxed);
            if t.violations > 0 {
                eprintln!(
                    "{name}: {} violation(s) in a round of {} thread(s), seed {}",
                    t.violations, round.threads, round.seed
                );
            }
            totals[i].0.add(t);
            totals[i].1 += 1;
            if Instant::now() >= next_report {
                next_report += Duration::from_secs(30);
                let (ops, bad): (u64, u64) = totals
                    .iter()
                    .fold((0, 0), |a, (t, _)| (a.0 + t.ops, a.1 + t.violations));
                println!(
                    "  {:>5.0} s: {ops} operations, {bad} violation(s)",
                    began.elapsed().as_secs_f64()
                );
            }
        }
    }
    scenarios::process_pool_finish();

    println!();
    println!(
        "{:<22} {:>7} {:>13} {:>12} {:>9} {:>11}",
        "primitive", "rounds", "operations", "items", "lost/dup", "violations"
    );
    let mut sum = Tally::default();
    for ((name, _), (t, rounds)) in chosen.iter().zip(&totals) {
        println!(
            "{name:<22} {rounds:>7} {:>13} {:>12} {:>9} {:>11}",
            t.ops, t.items, t.lost, t.violations
        );
        sum.add(*t);
    }
    println!(
        "{:<22} {:>7} {:>13} {:>12} {:>9} {:>11}",
        "total",
        totals.iter().map(|(_, r)| r).sum::<u64>(),
        sum.ops,
        sum.items,
        sum.lost,
        sum.violations
    );
    println!(
        "weft-soak: {:.1} minute(s), seed {seed}: {} operations, {} items, {} lost or duplicated, {} violation(s)",
        began.elapsed().as_secs_f64() / 60.0,
        sum.ops,
        sum.items,
        sum.lost,
        sum.violations
    );
    if sum.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Ends the process (exit 3) when a round runs past [`HANG`].
fn watchdog(began: Instant, names: Vec<String>) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let what = ROUND_WHAT.load(Ordering::Relaxed);
                if what == usize::MAX {
                    continue;
                }
                let start = Duration::from_millis(ROUND_START_MS.load(Ordering::Relaxed));
                let running = began.elapsed().saturating_sub(start);
                if running > HANG && ROUND_WHAT.load(Ordering::Relaxed) == what {
                    eprintln!(
                        "HANG: a round of {} has run for {:.0} s (limit {} s): some call never returned",
                        names.get(what).map_or("?", String::as_str),
                        running.as_secs_f64(),
                        HANG.as_secs()
                    );
                    std::process::exit(3);
                }
            }
        })
        .expect("spawn the watchdog");
}

fn fail(msg: &str) -> ! {
    eprintln!("weft-soak: {msg}");
    std::process::exit(2);
}
