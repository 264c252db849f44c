//! Operation sequences on every queue against a sequential model.
//!
//! The input picks a queue (Queue, LifoQueue or PriorityQueue with capacity 1, 2, 3 or
//! unbounded, or SimpleQueue) and then a sequence of operations: the non-blocking and
//! zero-timeout puts and gets, the blocking ones only where the model says they return at once,
//! `task_done`, `join` when nothing is unfinished, both shutdowns, the observers, and
//! `put_async`/`get_async` polled once and dropped when still pending (which must leave the queue
//! as it was: a dropped put never queues its item, a dropped get takes nothing). After
//! every operation the queue must agree with the model: no item lost, duplicated or reordered,
//! the same length, fullness, unfinished-task count and shutdown state, and the same error
//! (with the rejected item handed back) where the model says the operation fails.
#![no_main]

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use libfuzzer_sys::fuzz_target;
use weft_queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, SimpleQueue};

/// An item: a key (what a priority queue orders by) and a serial number (unique), so that a
/// lost, duplicated or reordered item is always visible.
type Item = (u8, u32);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Order {
    Fifo,
    Lifo,
    Priority,
}

/// The sequential model of one queue.
struct Model {
    order: Order,
    fifo: VecDeque<Item>,
    heap: BinaryHeap<Reverse<Item>>,
    maxsize: usize,
    unfinished: usize,
    shutdown: bool,
}

impl Model {
    fn new(order: Order, maxsize: usize) -> Self {
        Self {
            order,
            fifo: VecDeque::new(),
            heap: BinaryHeap::new(),
            maxsize,
            unfinished: 0,
            shutdown: false,
        }
    }

    fn len(&self) -> usize {
        match self.order {
            Order::Priority => self.heap.len(),
            _ => self.fifo.len(),
        }
    }

    fn is_full(&self) -> bool {
        self.maxsize > 0 && self.len() >= self.maxsize
    }

    /// What a non-blocking put does: Ok, or the error kind ("full" / "shutdown").
    fn put(&mut self, item: Item) -> Result<(), &'static str> {
        if self.shutdown {
            return Err("shutdown");
        }
        if self.is_full() {
            return Err("full");
        }
        match self.order {
            Order::Priority => self.heap.push(Reverse(item)),
            _ => self.fifo.push_back(item),
        }
        self.unfinished += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<Item> {
        match self.order {
            Order::Fifo => self.fifo.pop_front(),
            Order::Lifo => self.fifo.pop_back(),
            Order::Priority => self.heap.pop().map(|Reverse(i)| i),
        }
    }

    /// What a non-blocking get does.
    fn get(&mut self) -> Result<Item, &'static str> {
        match self.pop() {
            Some(i) => Ok(i),
            None if self.shutdown => Err("shutdown"),
            None => Err("empty"),
        }
    }

    fn shutdown(&mut self, immediate: bool) {
        self.shutdown = true;
        if immediate {
            while self.pop().is_some() {
                self.unfinished = self.unfinished.saturating_sub(1);
            }
        }
    }
}

fn put_kind<T>(r: &Result<(), PutError<T>>) -> Result<(), &'static str> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.is_full() => Err("full"),
        Err(_) => Err("shutdown"),
    }
}

fn get_kind(r: Result<Item, GetError>) -> Result<Item, &'static str> {
    r.map_err(|e| if e.is_empty() { "empty" } else { "shutdown" })
}

/// Runs `ops` on one of the three task-tracking queues (they share one API).
macro_rules! drive {
    ($q:expr, $model:expr, $ops:expr) => {{
        let q = $q;
        let mut m = $model;
        let mut serial = 0u32;
        for (step, &op) in $ops.iter().enumerate() {
            let key = op >> 4;
            match op % 12 {
                0 | 1 | 2 => {
                    let item = (key, serial);
                    serial += 1;
                    let expect = m.put(item);
                    let got = match op % 12 {
                        0 => q.try_put(item),
                        1 => q.put_timeout(item, Duration::ZERO),
                        // A blocking put only where it cannot block: not full, or shut down.
                        _ if expect != Err("full") => q.put(item).map_err(|e| PutError::ShutDown(e.into_inner())),
                        _ => q.try_put(item),
                    };
                    assert_eq!(put_kind(&got), expect, "step {step}: put {item:?}");
                    if let Err(e) = got {
                        assert_eq!(e.into_inner(), item, "step {step}: rejected item not handed back");
                    }
                }
                3 | 4 | 5 => {
                    let expect = m.get();
                    let got = match op % 12 {
                        3 => get_kind(q.try_get()),
                        4 => get_kind(q.get_timeout(Duration::ZERO)),
                        // A blocking get only where it cannot block: an item, or shut down.
                        _ if expect != Err("empty") => q.get().map_err(|_| "shutdown"),
                        _ => get_kind(q.try_get()),
                    };
                    assert_eq!(got, expect, "step {step}: get");
                }
                6 | 7 => {
                    let expect = m.unfinished > 0;
                    assert_eq!(q.task_done().is_ok(), expect, "step {step}: task_done");
                    if expect {
                        m.unfinished -= 1;
                    }
                }
                8 => {
                    q.shutdown(false);
                    m.shutdown(false);
                }
                9 => {
                    q.shutdown(true);
                    m.shutdown(true);
                }
                10 if m.unfinished == 0 => q.join(),
                // One poll of an async put or get; pending means the model says it would wait,
                // and dropping it must change nothing.
                11 if key % 2 == 0 => {
                    let item = (key, serial);
                    serial += 1;
                    let expect = m.put(item);
                    let mut fut = pin!(q.put_async(item));
                    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                        Poll::Ready(Ok(())) => assert_eq!(expect, Ok(()), "step {step}: put_async"),
                        Poll::Ready(Err(e)) => {
                            assert_eq!(expect, Err("shutdown"), "step {step}: put_async");
                            assert_eq!(e.into_inner(), item, "step {step}: rejected item not handed back");
                        }
                        Poll::Pending => assert_eq!(expect, Err("full"), "step {step}: put_async pending"),
                    }
                }
                11 => {
                    let expect = m.get();
                    let mut fut = pin!(q.get_async());
                    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                        Poll::Ready(got) => {
                            assert_eq!(got.map_err(|_| "shutdown"), expect, "step {step}: get_async");
                        }
                        Poll::Pending => assert_eq!(expect, Err("empty"), "step {step}: get_async pending"),
                    }
                }
                _ => {}
            }
            assert_eq!(q.len(), m.len(), "step {step}: len");
            assert_eq!(q.is_empty(), m.len() == 0, "step {step}: is_empty");
            assert_eq!(q.is_full(), m.is_full(), "step {step}: is_full");
            assert_eq!(q.unfinished_tasks(), m.unfinished, "step {step}: unfinished_tasks");
            assert_eq!(q.is_shutdown(), m.shutdown, "step {step}: is_shutdown");
            assert_eq!(q.maxsize(), m.maxsize, "step {step}: maxsize");
        }
        // Drain: whatever is left comes out in the model's order, then the queue is empty.
        loop {
            let expect = m.get();
            assert_eq!(get_kind(q.try_get()), expect, "drain");
            if expect.is_err() {
                break;
            }
        }
    }};
}

fn simple(ops: &[u8]) {
    let q = SimpleQueue::new();
    let mut m = VecDeque::new();
    let mut serial = 0u32;
    for (step, &op) in ops.iter().enumerate() {
        match op % 4 {
            0 => {
                q.put(serial);
                m.push_back(serial);
                serial += 1;
            }
            1 => assert_eq!(q.try_get(), m.pop_front(), "step {step}: try_get"),
            2 => assert_eq!(
                q.get_timeout(Duration::ZERO),
                m.pop_front(),
                "step {step}: get_timeout(0)"
            ),
            _ if op & 4 != 0 => {
                // One poll of `get_async`; dropped when pending, it takes nothing.
                let expect = m.pop_front();
                let mut fut = pin!(q.get_async());
                match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(got) => assert_eq!(Some(got), expect, "step {step}: get_async"),
                    Poll::Pending => assert_eq!(expect, None, "step {step}: get_async pending"),
                }
            }
            _ => {
                if let Some(expect) = m.pop_front() {
                    assert_eq!(q.get(), expect, "step {step}: get");
                }
            }
        }
        assert_eq!(q.len(), m.len(), "step {step}: len");
        assert_eq!(q.is_empty(), m.is_empty(), "step {step}: is_empty");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, ops)) = data.split_first() else {
        return;
    };
    // Capacity: 0 (unbounded through `new(0)`), 1, 2, 3, or `unbounded()`.
    let cap = usize::from(pick >> 2) % 5;
    let make = |cap: usize| if cap == 4 { 0 } else { cap };
    match pick % 4 {
        0 => {
            let q = if cap == 4 { Queue::unbounded() } else { Queue::new(cap) };
            drive!(q, Model::new(Order::Fifo, make(cap)), ops);
        }
        1 => {
            let q = if cap == 4 { LifoQueue::unbounded() } else { LifoQueue::new(cap) };
            drive!(q, Model::new(Order::Lifo, make(cap)), ops);
        }
        2 => {
            let q = if cap == 4 {
                PriorityQueue::unbounded()
            } else {
                PriorityQueue::new(cap)
            };
            drive!(q, Model::new(Order::Priority, make(cap)), ops);
        }
        _ => simple(ops),
    }
});
