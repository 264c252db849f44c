//! `cargo xtask bench`: weft beside its peers, in the same run, with ratios.
//!
//! Every binary of `crates/bench/src/bin/` measures one family of workloads (named as in
//! `docs/bench/README.md`) for weft and each peer, and prints one
//! `WEFT-BENCH {"workload":…,"impl":…,"median":…,"unit":…,…}` line per median (JSON,
//! written and read with serde_json: the shape is `weft_bench::Record`, mirrored here).
//!
//! The table prints one line per workload: weft's figure, the best peer's (the lowest time, or
//! the highest speedup for a `×` row), the ratio weft ÷ best peer, then the other peers. A row
//! whose runs fall in two clusters prints both modes (`low|high (runs:runs)`). With
//! `--processes N` every binary measures in N processes in turn and merges their runs
//! (`weft_bench::fan_out`), so that a mode which holds for a whole process shows as a mode.

use std::{collections::BTreeMap, process::Command};

use serde::{Deserialize, Serialize};

use crate::run;

/// One reported median: the mirror of `weft_bench::Record` (xtask does not depend on the bench
/// crate, which pulls in every peer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) workload: String,
    #[serde(rename = "impl")]
    pub(crate) imp: String,
    pub(crate) median: f64,
    pub(crate) unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sweep: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) runs: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) modes: Option<Modes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) processes: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) round_trips: Vec<f64>,
}

/// The two clusters of a bimodal row: `weft_bench::Modes`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Modes {
    pub(crate) low: f64,
    pub(crate) low_runs: usize,
    pub(crate) high: f64,
    pub(crate) high_runs: usize,
}

/// Peers in display order.
const IMPLS: &[&str] = &[
    "weft",
    "std",
    "parking_lot",
    "crossbeam",
    "flume",
    "kanal",
    "async-channel",
    "tokio",
    "rayon",
    "threadpool",
    "python",
    "floor",
];

struct Options {
    filter: Option<String>,
    json: Option<String>,
    runs: Option<String>,
    processes: Option<String>,
    threads: Option<String>,
    quick: bool,
    report: bool,
}

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let mut o = Options {
        filter: None,
        json: None,
        runs: None,
        processes: None,
        threads: None,
        quick: false,
        report: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--filter" => o.filter = Some(it.next().ok_or("--filter needs TEXT")?.clone()),
            "--json" => o.json = Some(it.next().ok_or("--json needs PATH")?.clone()),
            "--runs" => o.runs = Some(it.next().ok_or("--runs needs N")?.clone()),
            "--processes" => {
                let p = it.next().ok_or("--processes needs N")?;
                if p.parse::<usize>().map_or(true, |n| n == 0) {
                    return Err(format!("--processes: `{p}` is not a process count"));
                }
                o.processes = Some(p.clone());
            }
            "--threads" => {
                let t = it.next().ok_or("--threads needs a list, e.g. 1,2,4,8,16")?;
                if t.split(',')
                    .any(|x| x.trim().parse::<usize>().map_or(true, |n| n == 0))
                {
                    return Err(format!("--threads: `{t}` is not a list of thread counts"));
                }
                o.threads = Some(t.clone());
            }
            "--quick" => o.quick = true,
            "--report" => o.report = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let records = run_benches(&o)?;
    print_table(&records);
    if let Some(path) = &o.json {
        std::fs::write(path, to_json(&records)?).map_err(|e| format!("writing {path}: {e}"))?;
        println!("wrote {path}");
    }
    if o.report {
        write_report(&records)?;
    }
    Ok(())
}

/// Writes `docs/bench/README.md` and one SVG chart per family, through the bench crate's
/// `report` binary (the plotting crate stays out of xtask).
fn write_report(records: &[Record]) -> Result<(), String> {
    let json = target_dir().join("bench-records.json");
    std::fs::write(&json, to_json(records)?)
        .map_err(|e| format!("writing {}: {e}", json.display()))?;
    let out = run::root().join("docs/bench");
    let mut cmd = Command::new(target_dir().join("release/report"));
    cmd.arg(&json).arg(&out);
    let o = run::run_streaming(&mut cmd, true);
    if o.ok {
        Ok(())
    } else {
        Err("the report could not be written".into())
    }
}

fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| run::root().join("target"), std::path::PathBuf::from)
}

/// The benchmark binaries, in family order.
fn binaries() -> Vec<String> {
    let mut names = run::rs_stems(&run::root().join("crates/bench/src/bin"));
    // Each binary is named after its crate: run them in the crates' order.
    names.sort_by_key(|n| (run::order(n), n.clone()));
    names
}

fn run_benches(o: &Options) -> Result<Vec<Record>, String> {
    let bins = binaries();
    if bins.is_empty() {
        return Err("no benchmark binaries in crates/bench/src/bin".into());
    }
    println!("building the benchmarks (release) ...");
    let mut build = run::cargo();
    build.args(["build", "--release", "-p", "weft-bench", "--bins"]);
    let b = run::run_streaming(&mut build, false);
    if !b.ok {
        println!("{}", b.output);
        return Err("the benchmarks did not build".into());
    }
    let target = target_dir();
    let mut records = Vec::new();
    let mut failed = Vec::new();
    for bin in &bins {
        println!("\n==> {bin}");
        let mut cmd = Command::new(target.join("release").join(bin));
        if let Some(f) = &o.filter {
            cmd.env("WEFT_BENCH_FILTER", f);
        }
        if let Some(r) = &o.runs {
            cmd.env("WEFT_BENCH_RUNS", r);
        }
        if let Some(p) = &o.processes {
            cmd.env("WEFT_BENCH_PROCESSES", p);
        }
        if let Some(t) = &o.threads {
            cmd.env("WEFT_BENCH_THREADS", t);
        }
        if o.quick {
            cmd.env("WEFT_BENCH_QUICK", "1");
        }
        let out = run::run_streaming(&mut cmd, false);
        for line in out.output.lines() {
            if let Some(json) = line.strip_prefix("WEFT-BENCH ") {
                match parse_record(json) {
                    Some(r) => records.push(r),
                    None => println!("  unreadable line: {line}"),
                }
            } else {
                println!("  {line}");
            }
        }
        if !out.ok {
            failed.push(bin.clone());
        }
    }
    if failed.is_empty() {
        Ok(records)
    } else {
        Err(format!("benchmarks failed: {}", failed.join(", ")))
    }
}

fn parse_record(json: &str) -> Option<Record> {
    serde_json::from_str(json).ok()
}

/// Parses a flat JSON object into (key, value) pairs: strings unquoted, anything else (numbers,
/// `null`, booleans) as its JSON text. `None` for anything but a JSON object.
pub(crate) fn parse_flat_json(s: &str) -> Option<Vec<(String, String)>> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(s).ok()?;
    Some(
        v.into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
    )
}

/// Whether a higher figure is better in this unit (a speedup, a rate).
pub(crate) fn higher_is_better(unit: &str) -> bool {
    unit.contains('×') || unit.ends_with("/s")
}

/// The best peer of a row (never the `floor`, which is a bound rather than a peer).
fn best_peer<'a>(rs: &[&'a Record]) -> Option<&'a Record> {
    let peers = rs.iter().filter(|r| r.imp != "weft" && r.imp != "floor");
    if rs.first().is_some_and(|r| higher_is_better(&r.unit)) {
        peers.max_by(|a, b| a.median.total_cmp(&b.median)).copied()
    } else {
        peers.min_by(|a, b| a.median.total_cmp(&b.median)).copied()
    }
}

/// A figure, or both modes of a bimodal one.
fn cell(r: &Record) -> String {
    match r.modes {
        Some(m) => format!(
            "{}|{} ({}:{})",
            fmt(m.low),
            fmt(m.high),
            m.low_runs,
            m.high_runs
        ),
        None => fmt(r.median),
    }
}

/// The implementation name of the machine-state records (`weft_bench::MACHINE`): one figure per
/// benchmark process, the cache-line round trip between two CPUs as it started.
const MACHINE: &str = "machine";

fn print_table(records: &[Record]) {
    let (machine, records): (Vec<&Record>, Vec<&Record>) =
        records.iter().partition(|r| r.imp == MACHINE);
    let mut by_workload: BTreeMap<(usize, String), Vec<&Record>> = BTreeMap::new();
    for (i, r) in records.iter().copied().enumerate() {
        let first = records
            .iter()
            .position(|x| x.workload == r.workload)
            .unwrap_or(i);
        by_workload
            .entry((first, r.workload.clone()))
            .or_default()
            .push(r);
    }
    println!(
        "\n{:<30} {:<8} {:>18} {:<13} {:>18} {:>9}  other peers",
        "workload", "unit", "weft", "best peer", "figure", "weft/best"
    );
    println!("{}", "-".repeat(120));
    for ((_, workload), rs) in &by_workload {
        let weft = rs.iter().find(|r| r.imp == "weft");
        let unit = rs.first().map_or("", |r| r.unit.as_str());
        let weft_s = weft.map_or_else(|| "-".into(), |r| cell(r));
        let best = best_peer(rs);
        let (best_name, best_s) =
            best.map_or(("-", "-".to_string()), |b| (b.imp.as_str(), cell(b)));
        let ratio = match (weft, best) {
            (Some(w), Some(b)) if b.median > 0.0 => format!("{:.2}", w.median / b.median),
            _ => "-".into(),
        };
        let mut others: Vec<&&Record> = rs
            .iter()
            .filter(|r| r.imp != "weft" && best.is_none_or(|b| !std::ptr::eq(**r, b)))
            .collect();
        others.sort_by_key(|r| {
            IMPLS
                .iter()
                .position(|i| *i == r.imp)
                .unwrap_or(IMPLS.len())
        });
        let others: Vec<String> = others
            .iter()
            .map(|r| format!("{} {}", r.imp, cell(r)))
            .collect();
        println!(
            "{workload:<30} {unit:<8} {weft_s:>18} {best_name:<13} {best_s:>18} {ratio:>9}  {}",
            others.join(", ")
        );
    }
    println!(
        "\nweft/best is weft ÷ the best peer: at most 1.00 is the goal for times, at least 1.00 for \
         a speedup `×`. `a|b (m:n)`: the runs fell in two clusters, m runs around a and n around b."
    );
    if !machine.is_empty() {
        let each: Vec<String> = machine
            .iter()
            .map(|r| {
                let name = r.workload.rsplit('_').next().unwrap_or(&r.workload);
                let figures = if r.runs.is_empty() {
                    vec![r.median]
                } else {
                    r.runs.clone()
                };
                let figures: Vec<String> = figures.iter().map(|f| format!("{f:.0}")).collect();
                format!("{name} {}", figures.join("/"))
            })
            .collect();
        println!(
            "Cache-line round trip between two CPUs as each benchmark process started (ns): {}.",
            each.join(", ")
        );
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn to_json(records: &[Record]) -> Result<String, String> {
    serde_json::to_string_pretty(records)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| format!("writing the records as JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{Modes, Record};

    #[test]
    fn parses_a_record() {
        let r = super::parse_record(
            r#"{"workload":"lock_uncontended","impl":"weft","median":13.5,"unit":"ns/op"}"#,
        )
        .unwrap();
        assert_eq!(
            (r.workload.as_str(), r.imp.as_str(), r.median),
            ("lock_uncontended", "weft", 13.5)
        );
        assert_eq!((r.threads, r.modes, r.runs.len()), (None, None, 0));
        let f =
            super::parse_flat_json(r#"{"scenario":"x","sequential_s":null,"concurrent_s":1.5}"#)
                .unwrap();
        assert!(f.contains(&("scenario".to_string(), "x".to_string())));
        assert!(f.contains(&("sequential_s".to_string(), "null".to_string())));
        assert!(f.contains(&("concurrent_s".to_string(), "1.5".to_string())));
        assert!(super::parse_flat_json("[1, 2]").is_none());
        assert!(super::parse_record(r#"{"workload":"x"}"#).is_none());
    }

    #[test]
    fn a_sweep_record_survives_a_round_trip() {
        let r = Record {
            workload: "lock_out100_t4".into(),
            imp: "weft".into(),
            median: 120.5,
            unit: "ns/op".into(),
            sweep: Some("lock_out100".into()),
            threads: Some(4),
            runs: vec![80.0, 81.0, 120.5, 160.0, 161.0],
            modes: Some(Modes {
                low: 81.0,
                low_runs: 2,
                high: 161.0,
                high_runs: 3,
            }),
            processes: Some(3),
            round_trips: vec![70.0, 71.0, 430.0],
        };
        let json = super::to_json(std::slice::from_ref(&r)).unwrap();
        let back: Vec<Record> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, vec![r.clone()]);
        // A name with a quote or a backslash in it is escaped, not cut.
        let odd = Record {
            workload: "a\"b\\c".into(),
            ..r
        };
        let line = serde_json::to_string(&odd).unwrap();
        assert_eq!(super::parse_record(&line).unwrap(), odd);
    }

    #[test]
    fn the_best_peer_is_the_fastest_or_the_highest_speedup() {
        let rec = |imp: &str, median: f64, unit: &str| Record {
            workload: "w".into(),
            imp: imp.into(),
            median,
            unit: unit.into(),
            sweep: None,
            threads: None,
            runs: Vec::new(),
            modes: None,
            processes: None,
            round_trips: Vec::new(),
        };
        let times = [
            rec("weft", 10.0, "ns/op"),
            rec("std", 12.0, "ns/op"),
            rec("parking_lot", 9.0, "ns/op"),
            rec("floor", 1.0, "ns/op"),
        ];
        let rs: Vec<&Record> = times.iter().collect();
        assert_eq!(super::best_peer(&rs).unwrap().imp, "parking_lot");
        let speedups = [
            rec("weft", 1.8, "×"),
            rec("std", 1.9, "×"),
            rec("rayon", 2.0, "×"),
        ];
        let rs: Vec<&Record> = speedups.iter().collect();
        assert_eq!(super::best_peer(&rs).unwrap().imp, "rayon");
    }
}
