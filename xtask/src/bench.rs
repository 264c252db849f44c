//! `cargo xtask bench`: weft beside its peers, in the same run, with ratios.
//!
//! Every binary of `crates/bench/src/bin/` measures one family of workloads (named as in
//! `docs/bench/README.md`) for weft and each peer, and prints one
//! `WEFT-BENCH {"workload":…,"impl":…,"median":…,"unit":…}` line per median.

use std::{collections::BTreeMap, fmt::Write as _, process::Command};

use crate::run;

/// One reported median.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) workload: String,
    pub(crate) imp: String,
    pub(crate) median: f64,
    pub(crate) unit: String,
}

/// Peers in display order.
const IMPLS: &[&str] = &[
    "weft",
    "std",
    "parking_lot",
    "crossbeam",
    "flume",
    "rayon",
    "threadpool",
    "python",
    "floor",
];

struct Options {
    filter: Option<String>,
    json: Option<String>,
    runs: Option<String>,
    quick: bool,
    report: bool,
}

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let mut o = Options {
        filter: None,
        json: None,
        runs: None,
        quick: false,
        report: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--filter" => o.filter = Some(it.next().ok_or("--filter needs TEXT")?.clone()),
            "--json" => o.json = Some(it.next().ok_or("--json needs PATH")?.clone()),
            "--runs" => o.runs = Some(it.next().ok_or("--runs needs N")?.clone()),
            "--quick" => o.quick = true,
            "--report" => o.report = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let records = run_benches(&o)?;
    print_table(&records);
    if let Some(path) = &o.json {
        std::fs::write(path, to_json(&records)).map_err(|e| format!("writing {path}: {e}"))?;
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
    std::fs::write(&json, to_json(records))
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
    let f = parse_flat_json(json)?;
    let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    Some(Record {
        workload: get("workload")?,
        imp: get("impl")?,
        median: get("median")?.parse().ok()?,
        unit: get("unit")?,
    })
}

/// Parses a flat JSON object of strings, numbers and nulls into (key, raw value) pairs.
pub(crate) fn parse_flat_json(s: &str) -> Option<Vec<(String, String)>> {
    let s = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    let read_string = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<String> {
        let mut v = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(v),
                '\\' => v.push(chars.next()?),
                c => v.push(c),
            }
        }
    };
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        match chars.next() {
            None => return Some(out),
            Some('"') => {}
            Some(_) => return None,
        }
        let key = read_string(&mut chars)?;
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ':') {
            chars.next();
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            read_string(&mut chars)?
        } else {
            let mut v = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                v.push(c);
                chars.next();
            }
            v.trim().to_string()
        };
        out.push((key, value));
    }
}

fn print_table(records: &[Record]) {
    let mut by_workload: BTreeMap<(usize, String), Vec<&Record>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
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
        "\n{:<26} {:<10} {:>11} {:<12} {:>11} {:>10}",
        "workload", "unit", "weft", "peer", "peer", "weft/peer"
    );
    println!("{}", "-".repeat(86));
    for ((_, workload), rs) in &by_workload {
        let weft = rs.iter().find(|r| r.imp == "weft");
        let unit = rs.first().map_or("", |r| r.unit.as_str());
        let weft_s = weft.map_or_else(|| "-".into(), |r| fmt(r.median));
        let mut peers: Vec<&&Record> = rs.iter().filter(|r| r.imp != "weft").collect();
        peers.sort_by_key(|r| {
            IMPLS
                .iter()
                .position(|i| *i == r.imp)
                .unwrap_or(IMPLS.len())
        });
        if peers.is_empty() {
            println!("{workload:<26} {unit:<10} {weft_s:>11}");
        }
        for (k, p) in peers.iter().enumerate() {
            let ratio = match weft {
                Some(w) if p.median > 0.0 => format!("{:.2}", w.median / p.median),
                _ => "-".into(),
            };
            let (name, u, ws) = if k == 0 {
                (workload.as_str(), unit, weft_s.as_str())
            } else {
                ("", "", "")
            };
            println!(
                "{name:<26} {u:<10} {ws:>11} {:<12} {:>11} {ratio:>10}",
                p.imp,
                fmt(p.median)
            );
        }
    }
    println!(
        "\nweft/peer below 1.00 means weft is faster (for a speedup `×`, above 1.00 means weft scales better)."
    );
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

fn to_json(records: &[Record]) -> String {
    let mut s = String::from("[\n");
    for (i, r) in records.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {{\"workload\": \"{}\", \"impl\": \"{}\", \"median\": {}, \"unit\": \"{}\"}}{}",
            r.workload,
            r.imp,
            r.median,
            r.unit,
            if i + 1 < records.len() { "," } else { "" }
        );
    }
    s.push(']');
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
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
        let f =
            super::parse_flat_json(r#"{"scenario":"x","sequential_s":null,"concurrent_s":1.5}"#)
                .unwrap();
        assert_eq!(f[1], ("sequential_s".to_string(), "null".to_string()));
    }
}
