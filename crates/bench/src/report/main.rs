//! Writes the benchmark report: `report <records.json> <out-dir>`.
//!
//! Reads the records `cargo xtask bench --json` wrote (serde_json), and writes
//! `<out-dir>/README.md` and the charts, with the machine and the date. Per family: a table of
//! the single-point workloads (weft, the best peer, weft ÷ best peer, every peer) with its bar
//! chart `<family>.svg`, and for each thread sweep a table (one row per thread count) with
//! `<family>-sweep.svg`, operations per second against thread count, one line per
//! implementation. Bimodal figures show both modes. The last section lists every row where weft
//! is behind its best peer in the run, with the reason recorded in `behind.md`. Run by
//! `cargo xtask bench --report`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use plotters::prelude::*;
use weft_bench::{Modes, Record};

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
    (
        "async",
        "Async (tokio multi-thread runtime, one worker per core)",
        &["async_"],
    ),
];

const PEERS: &[&str] = &[
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out] = args.as_slice() else {
        return Err("usage: report <records.json> <out-dir>".into());
    };
    let records: Vec<Record> = serde_json::from_str(&std::fs::read_to_string(input)?)?;
    let _ = FAR_ABOVE.set(far_above(&records));
    let out = Path::new(out);
    std::fs::create_dir_all(out)?;
    let mut md = header(&records);
    md.push_str(include_str!("about.md"));
    let mut bimodal = false;
    for (name, title, prefixes) in FAMILIES {
        let (single, sweeps): (Vec<Record>, Vec<Record>) = records
            .iter()
            .filter(|r| prefixes.iter().any(|p| r.workload.starts_with(p)))
            .cloned()
            .partition(|r| r.sweep.is_none());
        if single.is_empty() && sweeps.is_empty() {
            continue;
        }
        bimodal |= single.iter().chain(&sweeps).any(|r| r.modes.is_some());
        let _ = writeln!(md, "\n## {title}\n");
        let rows = family(&single);
        if !rows.is_empty() {
            let _ = writeln!(md, "![{title}]({name}.svg)\n");
            md.push_str(&table(&rows));
            chart(&out.join(format!("{name}.svg")), title, &rows)?;
        }
        let groups = sweep_groups(&sweeps);
        if !groups.is_empty() {
            let _ = writeln!(
                md,
                "\n### {title}: thread sweeps\n\n![{title}: thread sweeps]({name}-sweep.svg)\n"
            );
            for g in &groups {
                md.push_str(&sweep_table(g));
            }
            sweep_chart(&out.join(format!("{name}-sweep.svg")), title, &groups)?;
        }
    }
    md.push_str(
        "\nweft ÷ best peer compares weft with the best peer on the same workload in the same \
         run (never the `floor`, a bound rather than a peer): at most 1.00 is the goal for times \
         (weft as fast or faster), at least 1.00 for a speedup (×). The bar charts show each \
         peer's figure relative to weft's on a log scale (right of 1 = weft is ahead); the sweep \
         charts show operations per second (or the speedup) against the thread count, one line \
         per implementation (the thread axis on a log scale).\n",
    );
    if bimodal {
        md.push_str(
            "\n**Bimodal figures.** A figure written `a / b (m:n)` comes from runs that fell in two \
             clusters: m runs around a and n around b (each the median of its cluster). On this \
             2-core machine that is the signature of two threads that sometimes share one core; \
             neither mode alone is the truth, and the single median of such a row is a coin toss \
             between them. The ratio uses the overall medians, and then, in brackets, compares \
             the modes one by one (weft's low mode with the peer's low mode, high with high; a \
             figure with one mode stands for both); the charts mark both modes.\n",
        );
    }
    if FAR_ABOVE.get().copied().flatten().is_some_and(|far| {
        records
            .iter()
            .any(|r| r.round_trips.iter().any(|t| *t > far))
    }) {
        md.push_str(
            "\n**CPUs near / far.** A ratio followed by `(CPUs near a / far b)` comes from \
             processes that ran in both states of the machine (see the header): a is weft ÷ the \
             best peer over the processes whose runs started with the two vCPUs near, b over \
             those that started with them far apart (a cache-line round trip above three times \
             the lowest of this report). Each workload measured in rounds takes the round trip \
             just before its runs (`weft_bench::rounds`); the state can still change during them.\n",
        );
    }
    md.push_str(&behind(&records));
    std::fs::write(out.join("README.md"), md)?;
    println!("wrote {}", out.join("README.md").display());
    Ok(())
}

/// Above this cache-line round trip (ns) a process ran with the CPUs far apart: three times the
/// lowest round trip of the run (`None` without round trips). On this machine the two states
/// measure about 70 and about 430 ns, with little in between.
static FAR_ABOVE: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();

fn far_above(records: &[Record]) -> Option<f64> {
    let lowest = records
        .iter()
        .flat_map(|r| {
            let machine = (r.imp == weft_bench::MACHINE).then_some(r.median);
            r.round_trips.iter().copied().chain(machine)
        })
        .filter(|t| *t > 0.0)
        .min_by(f64::total_cmp)?;
    Some(3.0 * lowest)
}

/// weft ÷ the peer `peer` on the workload of `rs`, in each state of the machine, when its
/// processes saw both ([`weft_bench::ratio_by_state`]).
fn states(rs: &[&Record], peer: &str) -> Option<(f64, f64)> {
    let far = (*FAR_ABOVE.get()?)?;
    let weft = rs.iter().find(|r| r.imp == "weft")?;
    let peer = rs.iter().find(|r| r.imp == peer)?;
    weft_bench::ratio_by_state(weft, peer, far)
}

/// `ratio` followed by the ratio in each state of the machine, when there are two.
fn with_states(ratio: String, states: Option<(f64, f64)>) -> String {
    match states {
        Some((near, far)) => format!("{ratio} (CPUs near {near:.2} / far {far:.2})"),
        None => ratio,
    }
}

/// Why a row may be behind its best peer: `behind.md`, one `` - `prefix`: reason `` line per
/// entry, the prefix a workload name or the start of one (`lock_out100_t` for every point of a
/// sweep).
const REASONS: &str = include_str!("behind.md");

/// The reason recorded for `workload` in [`REASONS`]: the entry with the longest prefix of it.
fn reason(workload: &str) -> Option<&'static str> {
    REASONS
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("- `")?;
            let (prefix, text) = rest.split_once("`: ")?;
            workload.starts_with(prefix).then_some((prefix.len(), text))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, text)| text)
}

/// Every row where weft is behind the best peer in this run (weft ÷ best peer above 1.00 for a
/// time, below 1.00 for a speedup, at two decimals), a sweep's points on one line, each with its
/// recorded reason; split by what the runs, paired with the peer's, say ([`weft_bench::paired`]):
/// behind beyond the spread (`p < 0.05`), or not told apart from level.
fn behind(records: &[Record]) -> String {
    let mut order: Vec<&str> = Vec::new();
    for r in records {
        if !order.contains(&r.workload.as_str()) {
            order.push(&r.workload);
        }
    }
    // (beyond the spread, sweep or workload, where: "T = 2: 1.06 (std; …)", reason key)
    let mut found: Vec<(bool, String, String, &str)> = Vec::new();
    for w in order {
        let rs: Vec<&Record> = records.iter().filter(|r| r.workload == w).collect();
        let Some(weft) = rs.iter().find(|r| r.imp == "weft") else {
            continue;
        };
        let peers: Vec<(String, f64, Option<Modes>)> = rs
            .iter()
            .filter(|r| r.imp != "weft")
            .map(|r| (r.imp.clone(), r.median, r.modes))
            .collect();
        let Some(b) = best(&weft.unit, &peers) else {
            continue;
        };
        let q = (weft.median / b.1 * 100.0).round() / 100.0;
        let is_behind = if higher_is_better(&weft.unit) {
            q < 1.0
        } else {
            q > 1.0
        };
        if !is_behind {
            continue;
        }
        let r = with_states(
            ratio(Some((weft.median, weft.modes)), Some(b)),
            states(&rs, &b.0),
        );
        let test = rs
            .iter()
            .find(|p| p.imp == b.0)
            .and_then(|p| weft_bench::paired(weft, p, higher_is_better(&weft.unit)));
        let told = test.map_or_else(
            || "; runs not paired".to_string(),
            |t| {
                format!(
                    "; worse in {} of {} paired runs, p {}",
                    t.worse,
                    t.pairs,
                    p_value(t.p)
                )
            },
        );
        let beyond = test.is_some_and(|t| t.behind());
        let (key, at) = match (&weft.sweep, weft.threads) {
            (Some(sweep), Some(t)) => (
                format!("{sweep}_t<T>"),
                format!("T = {t}: {r} ({}{told})", b.0),
            ),
            _ => (w.to_string(), format!("{r} ({}{told})", b.0)),
        };
        found.push((beyond, key, at, w));
    }
    let beyond = found.iter().filter(|f| f.0).count();
    if found.is_empty() {
        return "\n## Rows behind the best peer\n\nNone in this run.\n".into();
    }
    let mut s = format!(
        "\n## Rows behind the best peer\n\nIn this run weft is behind its best peer at {} \
         points (weft ÷ best peer, and the peer). Each point's runs are paired with the peer's \
         in the order measured (the same round, in the same process) and the pairs tested \
         (Wilcoxon signed-rank, one-sided, exact): at {beyond} of them the runs show weft behind \
         beyond their spread (p < 0.05); at the others they do not tell weft from level (with \
         this many points, about one in twenty of the points that are level in truth would \
         still pass the test by chance). The reasons are those recorded in \
         `crates/bench/src/report/behind.md` from the investigations written up in the crates' \
         pages.\n",
        found.len()
    );
    for (title, want) in [
        ("Behind beyond the spread of the runs", true),
        ("Behind in the medians, not told apart from level", false),
    ] {
        let of: Vec<&(bool, String, String, &str)> = found.iter().filter(|f| f.0 == want).collect();
        let _ = write!(s, "\n### {title}\n\n");
        if of.is_empty() {
            s.push_str("None in this run.\n");
            continue;
        }
        s.push_str("| workload | weft ÷ best peer | why |\n|---|---|---|\n");
        // One line per sweep (or workload), in the order of first appearance.
        let mut keys: Vec<&str> = Vec::new();
        for f in &of {
            if !keys.contains(&f.1.as_str()) {
                keys.push(&f.1);
            }
        }
        for key in keys {
            let line: Vec<&&(bool, String, String, &str)> =
                of.iter().filter(|f| f.1 == key).collect();
            let at: Vec<&str> = line.iter().map(|f| f.2.as_str()).collect();
            let _ = writeln!(
                s,
                "| `{key}` | {} | {} |",
                at.join("; "),
                reason(line[0].3).unwrap_or("no reason recorded")
            );
        }
    }
    s
}

/// A p-value with its relation: `= 0.23`, `= 0.049` (three decimals below 0.1, so that a value
/// just under 0.05 does not print as 0.05), or `< 0.001`.
fn p_value(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else if p < 0.1 {
        format!("= {p:.3}")
    } else {
        format!("= {p:.2}")
    }
}

/// The machine and the date.
fn header(records: &[Record]) -> String {
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
    // The runs per figure: what most records kept.
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for r in records.iter().filter(|r| !r.runs.is_empty()) {
        *counts.entry(r.runs.len()).or_default() += 1;
    }
    let runs = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map_or_else(|| "5".to_string(), |(k, _)| k.to_string());
    // The processes per figure (`--processes`): what most records were merged from.
    let mut by_processes: BTreeMap<usize, usize> = BTreeMap::new();
    for r in records {
        *by_processes.entry(r.processes.unwrap_or(1)).or_default() += 1;
    }
    let processes = by_processes
        .iter()
        .max_by_key(|(_, n)| **n)
        .map_or(1, |(k, _)| *k);
    let runs = if processes > 1 {
        format!(
            "{runs} runs, taken in {processes} processes one after the other (the runs of \
             every process together: a mode that holds for a whole process shows as a mode)"
        )
    } else {
        format!("{runs} runs")
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .map_or_else(String::new, |l| {
            format!(" The machine's load average over the last 5 minutes was {l} when this page was written.")
        });
    format!(
        "# weft benchmarks\n\nMeasured {date} on {cores} cores ({cpu}), Linux, {rustc} release \
         builds, {python}. Every figure is the median of {runs}; weft and every peer ran \
         side by side in the same `cargo xtask bench --report` run, so the ratios compare like \
         with like even where absolute figures drift between machines.{load}\n{machine}",
        date = today(),
        machine = machine_state(records),
    )
}

/// The machine's state as each benchmark process started (`weft_bench::cpu_round_trip`), one
/// figure per process, binary by binary; empty when no record carries it.
fn machine_state(records: &[Record]) -> String {
    let each: Vec<String> = records
        .iter()
        .filter(|r| r.imp == weft_bench::MACHINE)
        .map(|r| {
            let bin = r
                .workload
                .strip_prefix(weft_bench::MACHINE_PREFIX)
                .unwrap_or(&r.workload);
            let figures = if r.runs.is_empty() {
                vec![r.median]
            } else {
                r.runs.clone()
            };
            let figures: Vec<String> = figures.iter().map(|f| format!("{f:.0}")).collect();
            format!("{bin} {}", figures.join(" / "))
        })
        .collect();
    if each.is_empty() {
        return String::new();
    }
    format!(
        "\n**The machine's state.** As each benchmark process started, it timed a value passed \
         back and forth through one cache line between two threads pinned to the two vCPUs \
         (`weft_bench::cpu_round_trip`). On this virtual machine that figure is the host's \
         placement of the vCPUs, and it changes while the benchmarks run: about 70 ns most of \
         the time, about 430 ns for periods of seconds to tens of seconds, six times the cost \
         for every cache line that crosses between the two. A row measured in both states is bimodal by \
         machine state (see \"Why rows are bimodal here\" below). Round trips in ns, one per \
         process: {}.\n",
        each.join("; ")
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
    weft_modes: Option<Modes>,
    peers: Vec<(String, f64, Option<Modes>)>,
    /// weft ÷ the best peer with the CPUs near and far, when the row saw both ([`states`]).
    states: Option<(f64, f64)>,
}

fn family(records: &[Record]) -> Vec<Row> {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in records {
        if !order.contains(&r.workload) {
            order.push(r.workload.clone());
        }
        by.entry(r.workload.clone()).or_default().push(r);
    }
    order
        .into_iter()
        .map(|w| {
            let rs = &by[&w];
            let mut peers: Vec<(String, f64, Option<Modes>)> = rs
                .iter()
                .filter(|r| r.imp != "weft")
                .map(|r| (r.imp.clone(), r.median, r.modes))
                .collect();
            peers.sort_by_key(|(p, ..)| PEERS.iter().position(|x| x == p).unwrap_or(PEERS.len()));
            let weft = rs.iter().find(|r| r.imp == "weft");
            let states = best(&rs[0].unit, &peers).and_then(|b| states(rs, &b.0));
            Row {
                unit: rs[0].unit.clone(),
                weft: weft.map(|r| r.median),
                weft_modes: weft.and_then(|r| r.modes),
                peers,
                states,
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

/// Whether a higher figure is better in this unit (a speedup, a rate).
fn higher_is_better(unit: &str) -> bool {
    unit.contains('×') || unit.ends_with("/s")
}

/// A figure, or both modes of a bimodal one.
fn cell(median: f64, modes: Option<Modes>) -> String {
    match modes {
        Some(m) => format!(
            "{} / {} ({}:{})",
            fmt(m.low),
            fmt(m.high),
            m.low_runs,
            m.high_runs
        ),
        None => fmt(median),
    }
}

/// The best of `peers` (never the `floor`): the lowest time or the highest speedup.
fn best<'a>(
    unit: &str,
    peers: &'a [(String, f64, Option<Modes>)],
) -> Option<&'a (String, f64, Option<Modes>)> {
    let it = peers.iter().filter(|(p, v, _)| p != "floor" && *v > 0.0);
    if higher_is_better(unit) {
        it.max_by(|a, b| a.1.total_cmp(&b.1))
    } else {
        it.min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// weft ÷ the best peer, followed by the ratio mode by mode when either is bimodal
/// ([`weft_bench::ratio_by_mode`]).
fn ratio(
    weft: Option<(f64, Option<Modes>)>,
    best: Option<&(String, f64, Option<Modes>)>,
) -> String {
    match (weft, best) {
        (Some(w), Some((_, b, bm))) => {
            let overall = format!("{:.2}", w.0 / b);
            match weft_bench::ratio_by_mode(w, (*b, *bm)) {
                Some((low, high)) => format!("{overall} (by mode {low:.2} / {high:.2})"),
                None => overall,
            }
        }
        _ => "-".into(),
    }
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| workload | unit | weft | best peer | weft ÷ best peer | every peer |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let weft = r.weft.map_or_else(|| "-".into(), |w| cell(w, r.weft_modes));
        let b = best(&r.unit, &r.peers);
        let all: Vec<String> = r
            .peers
            .iter()
            .map(|(p, v, m)| format!("{p} {}", cell(*v, *m)))
            .collect();
        let _ = writeln!(
            s,
            "| `{}` | {} | {weft} | {} | {} | {} |",
            r.workload,
            r.unit,
            b.map_or_else(|| "-".into(), |b| format!("{} {}", b.0, cell(b.1, b.2))),
            with_states(ratio(r.weft.map(|w| (w, r.weft_modes)), b), r.states),
            all.join("; ")
        );
    }
    s
}

/// One thread sweep: its name, unit, implementations in display order, and every point.
struct Sweep {
    name: String,
    unit: String,
    imps: Vec<String>,
    threads: Vec<usize>,
    points: Vec<Record>,
}

impl Sweep {
    fn at(&self, imp: &str, t: usize) -> Option<&Record> {
        self.points
            .iter()
            .find(|r| r.imp == imp && r.threads == Some(t))
    }
}

fn sweep_groups(records: &[Record]) -> Vec<Sweep> {
    let mut out: Vec<Sweep> = Vec::new();
    for r in records {
        let (Some(name), Some(t)) = (&r.sweep, r.threads) else {
            continue;
        };
        let i = match out.iter().position(|g| &g.name == name) {
            Some(i) => i,
            None => {
                out.push(Sweep {
                    name: name.clone(),
                    unit: r.unit.clone(),
                    imps: Vec::new(),
                    threads: Vec::new(),
                    points: Vec::new(),
                });
                out.len() - 1
            }
        };
        let g = &mut out[i];
        if !g.imps.contains(&r.imp) {
            g.imps.push(r.imp.clone());
        }
        if !g.threads.contains(&t) {
            g.threads.push(t);
        }
        g.points.push(r.clone());
    }
    for g in &mut out {
        g.threads.sort_unstable();
        g.imps.sort_by_key(|p| {
            if p == "weft" {
                0
            } else {
                1 + PEERS.iter().position(|x| x == p).unwrap_or(PEERS.len())
            }
        });
    }
    out
}

fn sweep_table(g: &Sweep) -> String {
    let mut s = format!("\n`{}_t<T>` ({}):\n\n| T |", g.name, g.unit);
    for imp in &g.imps {
        let _ = write!(s, " {imp} |");
    }
    s.push_str(" best peer | weft ÷ best peer |\n|---|");
    for _ in 0..g.imps.len() + 2 {
        s.push_str("---|");
    }
    s.push('\n');
    for &t in &g.threads {
        let _ = write!(s, "| {t} |");
        for imp in &g.imps {
            let c = g
                .at(imp, t)
                .map_or_else(|| "-".into(), |r| cell(r.median, r.modes));
            let _ = write!(s, " {c} |");
        }
        let peers: Vec<(String, f64, Option<Modes>)> = g
            .points
            .iter()
            .filter(|r| r.threads == Some(t) && r.imp != "weft")
            .map(|r| (r.imp.clone(), r.median, r.modes))
            .collect();
        let b = best(&g.unit, &peers);
        let weft = g.at("weft", t).map(|r| (r.median, r.modes));
        let at: Vec<&Record> = g.points.iter().filter(|r| r.threads == Some(t)).collect();
        let _ = writeln!(
            s,
            " {} | {} |",
            b.map_or("-", |b| b.0.as_str()),
            with_states(ratio(weft, b), b.and_then(|b| states(&at, &b.0)))
        );
    }
    s
}

/// The plotted figure: operations per second for a time per operation, the figure itself for a
/// speedup or a rate.
fn per_second(unit: &str, v: f64) -> f64 {
    if higher_is_better(unit) {
        v
    } else if unit.starts_with("µs") {
        1e6 / v
    } else if unit.starts_with("ms") {
        1e3 / v
    } else {
        1e9 / v
    }
}

fn color(imp: &str) -> RGBColor {
    match imp {
        "weft" => RGBColor(0xd9, 0x2d, 0x20),
        "std" => RGBColor(0x1f, 0x77, 0xb4),
        "parking_lot" => RGBColor(0x2c, 0xa0, 0x2c),
        "crossbeam" => RGBColor(0x94, 0x67, 0xbd),
        "flume" => RGBColor(0x8c, 0x56, 0x4b),
        "kanal" => RGBColor(0xe3, 0x77, 0xc2),
        "async-channel" => RGBColor(0x17, 0xbe, 0xcf),
        "tokio" => RGBColor(0xbc, 0xbd, 0x22),
        "rayon" => RGBColor(0xff, 0x7f, 0x0e),
        "python" => RGBColor(0x30, 0x69, 0x98),
        _ => RGBColor(0x7f, 0x7f, 0x7f),
    }
}

/// One panel per sweep: operations per second (or the speedup) against the thread count, one
/// line per implementation, the thread count on a log scale; a bimodal point also shows its two modes
/// (hollow circles joined by a thin line).
fn sweep_chart(
    path: &Path,
    title: &str,
    groups: &[Sweep],
) -> Result<(), Box<dyn std::error::Error>> {
    let cols = if groups.len() > 1 { 2 } else { 1 };
    let rows = groups.len().div_ceil(cols);
    let root =
        SVGBackend::new(path, (520 * cols as u32, 40 + 360 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!("{title}: operations per second against threads"),
        ("sans-serif", 20),
    )?;
    let panels = root.split_evenly((rows, cols));
    for (g, area) in groups.iter().zip(panels.iter()) {
        let values: Vec<f64> = g
            .points
            .iter()
            .flat_map(|r| {
                let mut v = vec![r.median];
                if let Some(m) = r.modes {
                    v.extend([m.low, m.high]);
                }
                v
            })
            .filter(|v| *v > 0.0)
            .map(|v| per_second(&g.unit, v))
            .collect();
        if values.is_empty() {
            continue;
        }
        let hi = values.iter().copied().fold(0.0f64, f64::max) * 1.1;
        // The x axis is log2 of the thread count, drawn linearly, so that every count of the
        // sweep (1, 2, 4, 8, 16) gets its own evenly spaced label.
        let lg = |t: usize| (t as f64).log2();
        let x0 = lg(*g.threads.first().unwrap_or(&1)) - 0.3;
        let x1 = lg(*g.threads.last().unwrap_or(&1)) + 0.3;
        let y_desc = if higher_is_better(&g.unit) {
            g.unit.clone()
        } else {
            "operations per second".to_string()
        };
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{}_t<T>", g.name), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0.0..hi)?;
        let threads = g.threads.clone();
        chart
            .configure_mesh()
            .x_desc("threads")
            .y_desc(y_desc)
            .x_labels(40)
            .y_labels(12)
            .x_label_formatter(&|x| {
                threads
                    .iter()
                    .find(|t| (lg(**t) - x).abs() < 0.02)
                    .map_or_else(String::new, |t| t.to_string())
            })
            .y_label_formatter(&|y| si(*y))
            .draw()?;
        for imp in &g.imps {
            let c = color(imp);
            let pts: Vec<(f64, f64)> = g
                .threads
                .iter()
                .filter_map(|&t| g.at(imp, t).map(|r| (lg(t), per_second(&g.unit, r.median))))
                .filter(|(_, y)| y.is_finite() && *y > 0.0)
                .collect();
            let width = if imp == "weft" { 3 } else { 2 };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    pts.clone(),
                    c.stroke_width(width),
                )))?
                .label(imp.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(width))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
            for &t in &g.threads {
                let Some(m) = g.at(imp, t).and_then(|r| r.modes) else {
                    continue;
                };
                let (a, b) = (per_second(&g.unit, m.low), per_second(&g.unit, m.high));
                let x = lg(t);
                chart.draw_series(std::iter::once(PathElement::new(vec![(x, a), (x, b)], c)))?;
                chart.draw_series([a, b].map(|y| Circle::new((x, y), 5, c.stroke_width(1))))?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerLeft)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// `1.2k`, `35M`: a compact axis label.
fn si(v: f64) -> String {
    let (d, suffix) = if v >= 1e9 {
        (1e9, "G")
    } else if v >= 1e6 {
        (1e6, "M")
    } else if v >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if x >= 10.0 {
        format!("{x:.0}{suffix}")
    } else {
        format!("{x:.1}{suffix}")
    }
}

/// A horizontal bar per (workload, peer): how far the peer is from weft, on a log scale.
fn chart(path: &Path, title: &str, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    // Advantage > 1 means weft is ahead: peer time / weft time, or weft speedup / peer speedup.
    let mut bars: Vec<(String, String, f64)> = Vec::new();
    for r in rows {
        let Some(w) = r.weft.filter(|w| *w > 0.0) else {
            continue;
        };
        for (p, v, _) in &r.peers {
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
