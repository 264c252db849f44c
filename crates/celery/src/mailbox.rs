//! The hand-off of new subscriptions from submitting threads to the results listener.
//!
//! The listener blocks reading its subscriber connection, so a submitter that queues a task
//! id must also wake it (by publishing on the listener's private channel). One wake is
//! enough for any number of ids queued before the listener next looks, so a flag says
//! whether a wake is already on its way. The order of operations is the whole protocol:
//!
//! * a submitter pushes its id, *then* sets the flag; it publishes a wake only if the flag
//!   was clear;
//! * the listener clears the flag, *then* takes the list.
//!
//! So an id pushed after the listener's take finds the flag clear (or set by a later
//! submitter who wakes), and is never stranded. `tests/loom.rs` checks this.

use weft_sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};

/// Task ids waiting for the listener to subscribe, and whether a wake is pending.
#[derive(Debug, Default)]
pub struct Mailbox {
    items: Mutex<Vec<String>>,
    wake_pending: AtomicBool,
}

impl Mailbox {
    /// An empty mailbox.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `id`; returns `true` when the caller must wake the listener.
    pub fn post(&self, id: String) -> bool {
        self.items.lock().push(id);
        // SeqCst: ordered after the push above, and against the listener's clear-then-take.
        !self.wake_pending.swap(true, Ordering::SeqCst)
    }

    /// The listener's side: clears the wake flag, then takes every queued id.
    pub fn take(&self) -> Vec<String> {
        self.wake_pending.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.items.lock())
    }

    /// Drops every queued id (after a reconnect the listener subscribes to all pending tasks).
    pub fn clear(&self) {
        self.items.lock().clear();
    }
}
