//! `queue_spsc` (1 producer, 1 consumer) and `queue_mpmc` (4 producers, 4 consumers): 1 M items
//! through a queue of capacity 1024; ns per item. weft `Queue` vs std `sync_channel`,
//! crossbeam-channel `bounded`, flume `bounded`, kanal `bounded` and CPython's `queue.Queue`;
//! `queue_spsc_simple` compares weft's `SimpleQueue` with CPython's `queue.SimpleQueue`.
//!
//! std has no multi-consumer receiver: for `queue_mpmc` its four consumers share the
//! `Receiver` behind an `Arc<Mutex<_>>`, the usual workaround.
//!
//! Thread sweeps (`_t<T>` for each T of `--threads`): T producers and T consumers move a fixed
//! number of items through a bounded queue of capacity 128; `queue_mpmc_hot` back to back,
//! `queue_mpmc_out100` with ~100 ns of work to make each item and ~100 ns to use it; ns per item;
//! weft `Queue` vs crossbeam-channel, flume and kanal.
#![allow(clippy::disallowed_types, missing_docs)]

use std::{
    sync::{Arc, Mutex},
    thread,
};

use weft_bench::{
    emit, emit_rounds, emit_rounds_sweep, enabled, ns_once, python_median, rounds, run_threads,
    scale, share, spin, sweep_enabled, sweep_name, thread_counts, work,
};
use weft_queue::{Queue, SimpleQueue};

const CAP: usize = 1024;
const P: usize = 4;
const C: usize = 4;

/// Runs `P` producers each sending `n / P` items and `C` consumers each receiving `n / C`.
fn mpmc<S, R>(n: u64, tx: S, rx: R, send: fn(&S, u64), recv: fn(&R) -> u64)
where
    S: Clone + Send + 'static,
    R: Clone + Send + 'static,
{
    let per_p = n / P as u64;
    let per_c = n / C as u64;
    let mut hs = Vec::new();
    for p in 0..P as u64 {
        let tx = tx.clone();
        hs.push(thread::spawn(move || {
            for i in 0..per_p {
                send(&tx, p * per_p + i);
            }
            0
        }));
    }
    for _ in 0..C {
        let rx = rx.clone();
        hs.push(thread::spawn(move || {
            let mut sum = 0u64;
            for _ in 0..per_c {
                sum = sum.wrapping_add(recv(&rx));
            }
            sum
        }));
    }
    drop((tx, rx));
    let sum = hs
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold(0u64, u64::wrapping_add);
    std::hint::black_box(sum);
}

fn spsc<S, R>(n: u64, tx: S, rx: R, send: fn(&S, u64), recv: fn(&R) -> u64)
where
    S: Send + 'static,
{
    let t = thread::spawn(move || {
        for i in 0..n {
            send(&tx, i);
        }
    });
    let mut sum = 0u64;
    for _ in 0..n {
        sum = sum.wrapping_add(recv(&rx));
    }
    t.join().unwrap();
    std::hint::black_box(sum);
}

const PY: &str = r#"
import os, queue, threading, time
N = int(os.environ["N"]); P = int(os.environ["P"]); C = int(os.environ["C"])
KIND = os.environ["KIND"]
def make():
    return queue.SimpleQueue() if KIND == "simple" else queue.Queue(1024)
def prod(q, base, k):
    put = q.put
    for i in range(base, base + k):
        put(i)
def cons(q, k):
    get = q.get
    for _ in range(k):
        get()
for _ in range(int(os.environ["WEFT_BENCH_RUNS"])):
    q = make()
    ts = [threading.Thread(target=prod, args=(q, p * (N // P), N // P)) for p in range(P)]
    ts += [threading.Thread(target=cons, args=(q, N // C)) for _ in range(C - 1)]
    s = time.perf_counter()
    for t in ts: t.start()
    cons(q, N // C)
    for t in ts: t.join()
    print((time.perf_counter() - s) / N * 1e9)
"#;

fn python(n: u64, p: usize, c: usize, kind: &str) -> Option<f64> {
    let script =
        format!("import os\nos.environ.update(N='{n}', P='{p}', C='{c}', KIND='{kind}')\n{PY}");
    python_median(&script)
}

/// Capacity of the sweeps' queues.
const SWEEP_CAP: usize = 128;
/// Items moved in one sweep point.
const SWEEP_TOTAL: u64 = 500_000;

/// One run of a sweep point: `t` producers and `t` consumers, started together, move `total`
/// items through (`tx`, `rx`); each item costs `work` [`spin`] iterations to make and as many to
/// use. Returns ns per item (wall time / items).
fn sweep_point<S: Sync, R: Sync>(
    t: usize,
    total: u64,
    work: u64,
    make: impl Fn() -> (S, R),
    send: fn(&S, u64),
    recv: fn(&R) -> u64,
) -> f64 {
    {
        let (tx, rx) = make();
        let wall = run_threads(2 * t, &|i| {
            let mut x = i as u64;
            if i < t {
                for _ in 0..share(total, t, i) {
                    if work > 0 {
                        x = spin(work, x);
                    }
                    send(&tx, x);
                }
            } else {
                for _ in 0..share(total, t, i - t) {
                    let v = recv(&rx);
                    x = if work > 0 { spin(work, x ^ v) } else { x ^ v };
                }
            }
            std::hint::black_box(x);
        });
        wall.as_nanos() as f64 / total as f64
    }
}

fn sweep(base: &str, work_ns: f64) {
    if !sweep_enabled(base) {
        return;
    }
    let w = if work_ns > 0.0 { work(work_ns) } else { 0 };
    let total = scale(SWEEP_TOTAL);
    for t in thread_counts() {
        if !enabled(&sweep_name(base, t)) {
            continue;
        }
        let results = rounds(&mut [
            ("weft", &mut || {
                sweep_point(
                    t,
                    total,
                    w,
                    || {
                        let q = Arc::new(Queue::new(SWEEP_CAP));
                        (Arc::clone(&q), q)
                    },
                    |q, v| q.put(v).unwrap(),
                    |q| q.get().unwrap(),
                )
            }),
            ("crossbeam", &mut || {
                sweep_point(
                    t,
                    total,
                    w,
                    || crossbeam_channel::bounded(SWEEP_CAP),
                    |tx, v| tx.send(v).unwrap(),
                    |rx| rx.recv().unwrap(),
                )
            }),
            ("flume", &mut || {
                sweep_point(
                    t,
                    total,
                    w,
                    || flume::bounded(SWEEP_CAP),
                    |tx, v| tx.send(v).unwrap(),
                    |rx| rx.recv().unwrap(),
                )
            }),
            ("kanal", &mut || {
                sweep_point(
                    t,
                    total,
                    w,
                    || kanal::bounded(SWEEP_CAP),
                    |tx, v| tx.send(v).unwrap(),
                    |rx| rx.recv().unwrap(),
                )
            }),
        ]);
        emit_rounds_sweep(base, t, "ns/item", results);
    }
}

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    let n = scale(1_000_000);
    // CPython moves about a million items a second: a fifth of the items keeps the run short
    // (the figure is per item either way).
    let n_py = (n / 5).max(4);

    if enabled("queue_spsc") {
        let w = "queue_spsc";
        let results = rounds(&mut [
            ("weft", &mut || {
                ns_once(n, || {
                    let q = Arc::new(Queue::new(CAP));
                    spsc(
                        n,
                        Arc::clone(&q),
                        q,
                        |q, v| q.put(v).unwrap(),
                        |q| q.get().unwrap(),
                    );
                })
            }),
            ("std", &mut || {
                ns_once(n, || {
                    let (tx, rx) = std::sync::mpsc::sync_channel(CAP);
                    spsc(n, tx, rx, |t, v| t.send(v).unwrap(), |r| r.recv().unwrap());
                })
            }),
            ("crossbeam", &mut || {
                ns_once(n, || {
                    let (tx, rx) = crossbeam_channel::bounded(CAP);
                    spsc(n, tx, rx, |t, v| t.send(v).unwrap(), |r| r.recv().unwrap());
                })
            }),
            ("flume", &mut || {
                ns_once(n, || {
                    let (tx, rx) = flume::bounded(CAP);
                    spsc(n, tx, rx, |t, v| t.send(v).unwrap(), |r| r.recv().unwrap());
                })
            }),
            ("kanal", &mut || {
                ns_once(n, || {
                    let (tx, rx) = kanal::bounded(CAP);
                    spsc(n, tx, rx, |t, v| t.send(v).unwrap(), |r| r.recv().unwrap());
                })
            }),
        ]);
        emit_rounds(w, "ns/item", results);
        if let Some(py) = python(n_py, 1, 1, "queue") {
            emit(w, "python", py, "ns/item");
        }
    }

    if enabled("queue_spsc_simple") {
        let w = "queue_spsc_simple";
        let results = rounds(&mut [
            ("weft", &mut || {
                ns_once(n, || {
                    let q = Arc::new(SimpleQueue::new());
                    spsc(n, Arc::clone(&q), q, |q, v| q.put(v), |q| q.get());
                })
            }),
            ("crossbeam", &mut || {
                ns_once(n, || {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    spsc(n, tx, rx, |t, v| t.send(v).unwrap(), |r| r.recv().unwrap());
                })
            }),
        ]);
        emit_rounds(w, "ns/item", results);
        if let Some(py) = python(n_py, 1, 1, "simple") {
            emit(w, "python", py, "ns/item");
        }
    }

    if enabled("queue_mpmc") {
        let w = "queue_mpmc";
        let results = rounds(&mut [
            ("weft", &mut || {
                ns_once(n, || {
                    let q = Arc::new(Queue::new(CAP));
                    mpmc(
                        n,
                        Arc::clone(&q),
                        q,
                        |q, v| q.put(v).unwrap(),
                        |q| q.get().unwrap(),
                    );
                })
            }),
            ("std", &mut || {
                ns_once(n, || {
                    let (tx, rx) = std::sync::mpsc::sync_channel(CAP);
                    let rx = Arc::new(Mutex::new(rx));
                    mpmc(
                        n,
                        tx,
                        rx,
                        |t, v| t.send(v).unwrap(),
                        |r| r.lock().unwrap().recv().unwrap(),
                    );
                })
            }),
            ("crossbeam", &mut || {
                ns_once(n, || {
                    let (tx, rx) = crossbeam_channel::bounded(CAP);
                    mpmc(n, tx, rx, |t, v| t.send(v).unwrap(), |r| r.recv().unwrap());
                })
            }),
            ("flume", &mut || {
                ns_once(n, || {
                    let (tx, rx) = flume::bounded(CAP);
                    mpmc(n, tx, rx, |t, v| t.send(v).unwrap(), |r| r.recv().unwrap());
                })
            }),
            ("kanal", &mut || {
                ns_once(n, || {
                    let (tx, rx) = kanal::bounded(CAP);
                    mpmc(n, tx, rx, |t, v| t.send(v).unwrap(), |r| r.recv().unwrap());
                })
            }),
        ]);
        emit_rounds(w, "ns/item", results);
        if let Some(py) = python(n_py, P, C, "queue") {
            emit(w, "python", py, "ns/item");
        }
    }

    sweep("queue_mpmc_hot", 0.0);
    sweep("queue_mpmc_out100", 100.0);
}
