//! Writes the benchmark report: `report <records.json> <out-dir>`.
//!
//! Reads the records `cargo xtask bench --json` wrote, and writes `<out-dir>/README.md` (one
//! table per family: workload, weft, each peer, ratio) and one SVG chart per family, with the
//! machine and the date. Run by `cargo xtask bench --report`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use plotters::prelude::*;
use serde::Deserialize;

#[derive(Debug, Deserialize, Clone)]
struct Record {
    workload: String,
    #[serde(rename = "impl")]
    imp: String,
    median: f64,
    unit: String,
}

/// Families in report order: (name, title, workload prefixes).
const FAMILIES: &[(&str, &str, &[&str])] = &[
    ("locks", "Locks", &["lock_", "rlock_"]),
    (
        "signalling",
        "Signalling: Event, Condition, Semaphore",
        &["event_", "condition_", "semaphore_"],
    ),
    ("queues", "Queues", &["queue_"]),
    (
        "pools",
        "Thread pool and futures",
        &["pool_", "as_completed_", "io_bound"],
    ),
    ("processes", "Process pool", &["process_", "cpu_bound_"]),
];

const PEERS: &[&str] = &[
    "std",
    "parking_lot",
    "crossbeam",
    "flume",
    "rayon",
    "threadpool",
    "python",
    "floor",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out] = args.as_slice() else {
        return Err("usage: report <records.json> <out-dir>".into());
    };
    let records: Vec<Record> = serde_json::from_str(&std::fs::read_to_string(input)?)?;
    let out = Path::new(out);
    std::fs::create_dir_all(out)?;
    let mut md = header();
    for (name, title, prefixes) in FAMILIES {
        let rows = family(&records, prefixes);
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(md, "\n## {title}\n\n![{title}]({name}.svg)\n");
        md.push_str(&table(&rows));
        chart(&out.join(format!("{name}.svg")), title, &rows)?;
    }
    md.push_str(
        "\nRatios are weft ÷ peer on the same workload in the same run: below 1.00 weft takes \
         less time; for a speedup (×) above 1.00 weft scales better. The charts show each \
         peer's figure relative to weft's on a log scale (right of 1 = weft is ahead).\n",
    );
    std::fs::write(out.join("README.md"), md)?;
    println!("wrote {}", out.join("README.md").display());
    Ok(())
}

/// The machine and the date.
fn header() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "no python3".into());
    let runs = std::env::var("WEFT_BENCH_RUNS").unwrap_or_else(|_| "5".into());
    format!(
        "# weft benchmarks\n\nMeasured {date} on {cores} cores ({cpu}), Linux, {rustc} release \
         builds, {python}. Every figure is the median of {runs} runs; weft and every peer ran \
         side by side in the same `cargo xtask bench --report` run, so the ratios compare like \
         with like even where absolute figures drift between machines.\n",
        date = today(),
    )
}

/// Today's date (UTC), from the system clock.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One row: a workload, its unit, weft's figure and each peer's.
struct Row {
    workload: String,
    unit: String,
    weft: Option<f64>,
    peers: Vec<(String, f64)>,
}

fn family(records: &[Record], prefixes: &[&str]) -> Vec<Row> {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| prefixes.iter().any(|p| r.workload.starts_with(p)))
    {
        if !order.contains(&r.workload) {
            order.push(r.workload.clone());
        }
        by.entry(r.workload.clone()).or_default().push(r);
    }
    order
        .into_iter()
        .map(|w| {
            let rs = &by[&w];
            let mut peers: Vec<(String, f64)> = rs
                .iter()
                .filter(|r| r.imp != "weft")
                .map(|r| (r.imp.clone(), r.median))
                .collect();
            peers.sort_by_key(|(p, _)| PEERS.iter().position(|x| x == p).unwrap_or(PEERS.len()));
            Row {
                unit: rs[0].unit.clone(),
                weft: rs.iter().find(|r| r.imp == "weft").map(|r| r.median),
                peers,
                workload: w,
            }
        })
        .collect()
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

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| workload | unit | weft | peer | peer figure | weft ÷ peer |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let weft = r.weft.map_or_else(|| "-".into(), fmt);
        if r.peers.is_empty() {
            let _ = writeln!(s, "| `{}` | {} | {weft} | | | |", r.workload, r.unit);
        }
        for (i, (p, v)) in r.peers.iter().enumerate() {
            let ratio = r
                .weft
                .filter(|_| *v > 0.0)
                .map_or_else(|| "-".into(), |w| format!("{:.2}", w / v));
            if i == 0 {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {weft} | {p} | {} | {ratio} |",
                    r.workload,
                    r.unit,
                    fmt(*v)
                );
            } else {
                let _ = writeln!(s, "| | | | {p} | {} | {ratio} |", fmt(*v));
            }
        }
    }
    s
}

/// A horizontal bar per (workload, peer): how far the peer is from weft, on a log scale.
fn chart(path: &Path, title: &str, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    // Advantage > 1 means weft is ahead: peer time / weft time, or weft speedup / peer speedup.
    let mut bars: Vec<(String, String, f64)> = Vec::new();
    for r in rows {
        let Some(w) = r.weft.filter(|w| *w > 0.0) else {
            continue;
        };
        for (p, v) in &r.peers {
            if *v <= 0.0 {
                continue;
            }
            let adv = if r.unit.contains('×') || r.unit == "x" {
                w / v
            } else {
                v / w
            };
            bars.push((r.workload.clone(), p.clone(), adv));
        }
    }
    if bars.is_empty() {
        return Ok(());
    }
    let lo = bars.iter().map(|b| b.2).fold(1.0f64, f64::min) / 1.5;
    let hi = bars.iter().map(|b| b.2).fold(1.0f64, f64::max) * 1.5;
    let height = 80 + 22 * bars.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = bars.len();
    let top = n as f64 - 0.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title}: peer ÷ weft (right of 1 = weft ahead)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(300)
        .build_cartesian_2d((lo..hi).log_scale(), -0.5..top)?;
    let labels: Vec<String> = bars.iter().map(|(w, p, _)| format!("{w} vs {p}")).collect();
    // Bar k (top to bottom) is centred on y = n - 1 - k; labels sit on the same integers.
    chart
        .configure_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| {
            let row = y.round();
            if (y - row).abs() > 0.01 || row < 0.0 {
                return String::new();
            }
            let k = n as f64 - 1.0 - row;
            if k < 0.0 {
                String::new()
            } else {
                labels.get(k as usize).cloned().unwrap_or_default()
            }
        })
        .x_desc("peer ÷ weft")
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(k, (_, p, adv))| {
        let y = (n - 1 - k) as f64;
        let color = match p.as_str() {
            "python" => RGBColor(0x30, 0x69, 0x98),
            "floor" => RGBColor(0x99, 0x99, 0x99),
            _ => RGBColor(0xd9, 0x6c, 0x1f),
        };
        let (a, b) = if *adv >= 1.0 {
            (1.0, *adv)
        } else {
            (*adv, 1.0)
        };
        Rectangle::new([(a, y - 0.38), (b, y + 0.38)], color.filled())
    }))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, -0.5), (1.0, top)],
        BLACK,
    )))?;
    root.present()?;
    Ok(())
}
