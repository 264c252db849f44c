//! `condition_pingpong` and `condition_pingpong_pinned`: two threads take turns through a
//! condition guarding a shared turn variable; µs per round trip. weft vs parking_lot
//! (`Mutex` + `Condvar`), std (`Mutex` + `Condvar`) and CPython (`threading.Condition`).
#![allow(clippy::disallowed_types, missing_docs)]

use std::{sync::Arc, thread};

use weft_bench::{
    emit, emit_rounds, enabled, ns_once, pin_to_cpu, python_median, rounds as rounds_of, scale,
};
use weft_condition::Condition;

/// One ping-pong run of `rounds` round trips; `ping` and `pong` are the two sides.
fn pingpong<S: Send + Sync + 'static>(
    shared: Arc<S>,
    rounds: u64,
    pinned: bool,
    side: fn(&S, u8, u64),
) {
    let other = Arc::clone(&shared);
    let t = thread::spawn(move || {
        if pinned {
            pin_to_cpu(0);
        }
        side(&other, 1, rounds);
    });
    if pinned {
        pin_to_cpu(0);
    }
    side(&shared, 0, rounds);
    t.join().unwrap();
    if pinned {
        weft_bench::unpin();
    }
}

fn weft_side(c: &Condition<u8>, me: u8, rounds: u64) {
    for _ in 0..rounds {
        let mut g = c.lock();
        g.wait_for(|t| *t == me);
        *g = 1 - me;
        g.notify(1);
    }
}

fn pl_side(c: &(parking_lot::Mutex<u8>, parking_lot::Condvar), me: u8, rounds: u64) {
    for _ in 0..rounds {
        let mut g = c.0.lock();
        while *g != me {
            c.1.wait(&mut g);
        }
        *g = 1 - me;
        c.1.notify_one();
    }
}

fn std_side(c: &(std::sync::Mutex<u8>, std::sync::Condvar), me: u8, rounds: u64) {
    for _ in 0..rounds {
        let mut g = c.0.lock().unwrap();
        while *g != me {
            g = c.1.wait(g).unwrap();
        }
        *g = 1 - me;
        c.1.notify_one();
    }
}

const PY: &str = r#"
import os, threading, time
ROUNDS = int(os.environ["ROUNDS"])
if os.environ.get("PINNED") == "1":
    os.sched_setaffinity(0, {0})
def side(c, st, me):
    for _ in range(ROUNDS):
        with c:
            while st[0] != me:
                c.wait()
            st[0] = 1 - me
            c.notify()
for _ in range(int(os.environ["WEFT_BENCH_RUNS"])):
    c = threading.Condition(); st = [0]
    t = threading.Thread(target=side, args=(c, st, 1))
    s = time.perf_counter(); t.start(); side(c, st, 0); t.join()
    print((time.perf_counter() - s) / ROUNDS * 1e6)
"#;

fn python(rounds: u64, pinned: bool) -> Option<f64> {
    let script = format!(
        "import os\nos.environ['ROUNDS']='{rounds}'\nos.environ['PINNED']='{}'\n{PY}",
        u8::from(pinned)
    );
    python_median(&script)
}

fn main() {
    if weft_bench::fan_out() {
        return;
    }
    for (workload, pinned, rounds) in [
        ("condition_pingpong_pinned", true, scale(100_000)),
        // Across cores each wake-up costs tens of µs on these machines: fewer rounds.
        ("condition_pingpong", false, scale(20_000)),
    ] {
        if !enabled(workload) {
            continue;
        }
        let us = |run: &mut dyn FnMut()| ns_once(rounds, run) / 1_000.0;
        let results = rounds_of(&mut [
            ("weft", &mut || {
                us(&mut || pingpong(Arc::new(Condition::new(0u8)), rounds, pinned, weft_side))
            }),
            ("parking_lot", &mut || {
                us(&mut || {
                    let s = (parking_lot::Mutex::new(0u8), parking_lot::Condvar::new());
                    pingpong(Arc::new(s), rounds, pinned, pl_side);
                })
            }),
            ("std", &mut || {
                us(&mut || {
                    let s = (std::sync::Mutex::new(0u8), std::sync::Condvar::new());
                    pingpong(Arc::new(s), rounds, pinned, std_side);
                })
            }),
        ]);
        emit_rounds(workload, "µs/round trip", results);
        if let Some(py) = python((rounds / 5).max(1), pinned) {
            emit(workload, "python", py, "µs/round trip");
        }
    }
}
