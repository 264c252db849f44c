//! `event_pingpong` and `event_pingpong_pinned`: two threads alternate through two events (one
//! sets `ping` and waits for `pong`, the other waits for `ping`, clears it and sets `pong`); µs
//! per round trip. weft vs parking_lot (`Mutex<bool>` + `Condvar` event), std (`Mutex` +
//! `Condvar`), the floor (bare `park`/`unpark` with an atomic flag) and CPython
//! (`threading.Event`).
#![allow(clippy::disallowed_types, clippy::disallowed_methods, missing_docs)]

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, Thread},
};

use weft_bench::{
    emit, emit_rounds, enabled, ns_once, pin_to_cpu, python_median, rounds as rounds_of, scale,
};
use weft_event::Event;

/// The operations a ping-pong needs from an event.
trait Ev: Send + Sync + 'static {
    fn new() -> Self;
    fn set(&self);
    fn clear(&self);
    fn wait(&self);
}

impl Ev for Event {
    fn new() -> Self {
        Event::new()
    }
    fn set(&self) {
        Event::set(self);
    }
    fn clear(&self) {
        Event::clear(self);
    }
    fn wait(&self) {
        Event::wait(self);
    }
}

/// The classic condition-variable event (what a Rust program writes without weft).
struct PlEvent(parking_lot::Mutex<bool>, parking_lot::Condvar);

impl Ev for PlEvent {
    fn new() -> Self {
        Self(parking_lot::Mutex::new(false), parking_lot::Condvar::new())
    }
    fn set(&self) {
        *self.0.lock() = true;
        self.1.notify_all();
    }
    fn clear(&self) {
        *self.0.lock() = false;
    }
    fn wait(&self) {
        let mut g = self.0.lock();
        while !*g {
            self.1.wait(&mut g);
        }
    }
}

struct StdEvent(std::sync::Mutex<bool>, std::sync::Condvar);

impl Ev for StdEvent {
    fn new() -> Self {
        Self(std::sync::Mutex::new(false), std::sync::Condvar::new())
    }
    fn set(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
    fn clear(&self) {
        *self.0.lock().unwrap() = false;
    }
    fn wait(&self) {
        let mut g = self.0.lock().unwrap();
        while !*g {
            g = self.1.wait(g).unwrap();
        }
    }
}

/// Runs `rounds` round trips through a fresh pair of events.
fn pingpong<E: Ev>(rounds: u64, pinned: bool) {
    let ping = Arc::new(E::new());
    let pong = Arc::new(E::new());
    let (p, q) = (Arc::clone(&ping), Arc::clone(&pong));
    let t = thread::spawn(move || {
        if pinned {
            pin_to_cpu(0);
        }
        for _ in 0..rounds {
            p.wait();
            p.clear();
            q.set();
        }
    });
    if pinned {
        pin_to_cpu(0);
    }
    for _ in 0..rounds {
        ping.set();
        pong.wait();
        pong.clear();
    }
    t.join().unwrap();
    if pinned {
        weft_bench::unpin();
    }
}

/// The floor: the same alternation with nothing but two atomic flags and `park`/`unpark`.
fn floor(rounds: u64, pinned: bool) {
    struct Side {
        flag: AtomicBool,
        thread: OnceLock<Thread>,
    }
    fn run(me: &Side, other: &Side, rounds: u64, first: bool) {
        me.thread.set(thread::current()).unwrap();
        while other.thread.get().is_none() {
            thread::yield_now();
        }
        let other_thread = other.thread.get().unwrap();
        let signal = || {
            other.flag.store(true, Ordering::Release);
            other_thread.unpark();
        };
        let wait = || {
            while !me.flag.swap(false, Ordering::Acquire) {
                thread::park();
            }
        };
        for _ in 0..rounds {
            if first {
                signal();
                wait();
            } else {
                wait();
                signal();
            }
        }
    }
    let a = Arc::new(Side {
        flag: AtomicBool::new(false),
        thread: OnceLock::new(),
    });
    let b = Arc::new(Side {
        flag: AtomicBool::new(false),
        thread: OnceLock::new(),
    });
    let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
    let t = thread::spawn(move || {
        if pinned {
            pin_to_cpu(0);
        }
        run(&b2, &a2, rounds, false);
    });
    if pinned {
        pin_to_cpu(0);
    }
    run(&a, &b, rounds, true);
    t.join().unwrap();
    if pinned {
        weft_bench::unpin();
    }
}

const PY: &str = r#"
import os, threading, time
ROUNDS = int(os.environ["ROUNDS"])
if os.environ.get("PINNED") == "1":
    os.sched_setaffinity(0, {0})
def other(ping, pong):
    for _ in range(ROUNDS):
        ping.wait(); ping.clear(); pong.set()
for _ in range(int(os.environ["WEFT_BENCH_RUNS"])):
    ping = threading.Event(); pong = threading.Event()
    t = threading.Thread(target=other, args=(ping, pong))
    s = time.perf_counter(); t.start()
    for _ in range(ROUNDS):
        ping.set(); pong.wait(); pong.clear()
    t.join()
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
        ("event_pingpong_pinned", true, scale(100_000)),
        // Across cores each wake-up costs tens of µs on these machines: fewer rounds.
        ("event_pingpong", false, scale(20_000)),
    ] {
        if !enabled(workload) {
            continue;
        }
        let unit = "µs/round trip";
        let us = |run: &mut dyn FnMut()| ns_once(rounds, run) / 1_000.0;
        let results = rounds_of(&mut [
            ("weft", &mut || {
                us(&mut || pingpong::<Event>(rounds, pinned))
            }),
            ("floor", &mut || us(&mut || floor(rounds, pinned))),
            ("parking_lot", &mut || {
                us(&mut || pingpong::<PlEvent>(rounds, pinned))
            }),
            ("std", &mut || {
                us(&mut || pingpong::<StdEvent>(rounds, pinned))
            }),
        ]);
        emit_rounds(workload, unit, results);
        if let Some(py) = python((rounds / 5).max(1), pinned) {
            emit(workload, "python", py, unit);
        }
    }
}
