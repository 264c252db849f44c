use std::collections::VecDeque;

use crate::park::{Notifier, Waiter};

/// A FIFO of parked waiters, each with a payload, kept under the owning primitive's lock.
///
/// The list holds [`Notifier`]s; a waker pops one and, after releasing its lock, calls
/// [`Notifier::notify`]. A waiter whose wait timed out calls [`WaitList::remove`] under the same
/// lock: `Some` means the timeout stands, `None` means a waker took it first and a notification
/// is on its way (see [`crate::park`]).
///
/// The payload carries per-waiter data: how many permits it wants, an item handed to it, a
/// sequence number. Memory is that of a `VecDeque`: proportional to the waiters, shrunk by
/// [`WaitList::shrink`] when the owner wants.
#[derive(Debug)]
pub struct WaitList<T = ()> {
    entries: VecDeque<(Notifier, T)>,
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> WaitList<T> {
    /// An empty list (no allocation until the first waiter).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }

    /// How many waiters are queued.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nobody waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues `waiter` last.
    pub fn push_back(&mut self, waiter: &Waiter, payload: T) {
        self.entries.push_back((waiter.notifier(), payload));
    }

    /// Queues `waiter` first (for a waiter that was woken, lost its race, and must not be
    /// overtaken again).
    pub fn push_front(&mut self, waiter: &Waiter, payload: T) {
        self.entries.push_front((waiter.notifier(), payload));
    }

    /// Takes the oldest waiter; notify it after releasing the lock.
    pub fn pop_front(&mut self) -> Option<(Notifier, T)> {
        self.entries.pop_front()
    }

    /// Takes the newest waiter.
    pub fn pop_back(&mut self) -> Option<(Notifier, T)> {
        self.entries.pop_back()
    }

    /// The oldest waiter's payload.
    #[must_use]
    pub fn front(&self) -> Option<&T> {
        self.entries.front().map(|(_, p)| p)
    }

    /// The oldest waiter's payload, mutably.
    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.entries.front_mut().map(|(_, p)| p)
    }

    /// Removes `waiter`'s entry if it is still queued and returns its payload; `None` means a
    /// waker has taken it.
    pub fn remove(&mut self, waiter: &Waiter) -> Option<T> {
        let at = self.entries.iter().position(|(n, _)| waiter.is(n))?;
        self.entries.remove(at).map(|(_, p)| p)
    }

    /// Whether `waiter` is still queued.
    #[must_use]
    pub fn contains(&self, waiter: &Waiter) -> bool {
        self.entries.iter().any(|(n, _)| waiter.is(n))
    }

    /// The payloads, oldest first, mutably (for example to hand items to waiters in place).
    pub fn payloads_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut().map(|(_, p)| p)
    }

    /// Takes every waiter, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = (Notifier, T)> + '_ {
        self.entries.drain(..)
    }

    /// Takes every waiter into a new list (to notify them after releasing the lock).
    #[must_use]
    pub fn take(&mut self) -> Self {
        Self {
            entries: std::mem::take(&mut self.entries),
        }
    }

    /// Gives back memory held for a past crowd of waiters.
    pub fn shrink(&mut self) {
        if self.entries.capacity() > 4 * self.entries.len().max(4) {
            self.entries.shrink_to(self.entries.len().max(4));
        }
    }
}

impl<T> IntoIterator for WaitList<T> {
    type Item = (Notifier, T);
    type IntoIter = std::collections::vec_deque::IntoIter<(Notifier, T)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}
