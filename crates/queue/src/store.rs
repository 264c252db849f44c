//! A binary min-heap whose `push` and `pop` leave it unchanged when `Ord` panics.
//!
//! `std::collections::BinaryHeap` keeps its memory safe when a comparison panics, but may be
//! left out of order. Here each operation first walks the tree with comparisons only (reading,
//! never moving), and then moves items along the path it found with no comparison at all: a
//! panic can only happen while nothing has changed yet.

use crate::locked::{Store, should_shrink};

/// Deep enough for any heap that fits in memory.
const MAX_DEPTH: usize = usize::BITS as usize;

#[derive(Debug)]
pub(crate) struct Heap<T> {
    items: Vec<T>,
}

impl<T> Heap<T> {
    pub(crate) const fn new() -> Self {
        Self { items: Vec::new() }
    }
}

impl<T: Ord> Store<T> for Heap<T> {
    fn push(&mut self, item: T) {
        // Phase 1, comparisons only: the ancestors `item` must climb past.
        let mut path = [0usize; MAX_DEPTH];
        let mut depth = 0;
        let mut at = self.items.len();
        while at > 0 {
            let parent = (at - 1) / 2;
            if item < self.items[parent] {
                path[depth] = parent;
                depth += 1;
                at = parent;
            } else {
                break;
            }
        }
        // Phase 2, no comparisons: sink each of those ancestors one level.
        let mut hole = self.items.len();
        self.items.push(item);
        for &parent in &path[..depth] {
            self.items.swap(hole, parent);
            hole = parent;
        }
    }

    fn pop(&mut self) -> Option<T> {
        let n = self.items.len().checked_sub(1)?;
        if n == 0 {
            return self.items.pop();
        }
        // The last item (index n) will fill the root's hole. Phase 1, comparisons only: walk
        // down the smaller children while they are smaller than it, ignoring index n itself.
        let mut path = [0usize; MAX_DEPTH];
        let mut depth = 1; // path[0] is the root
        let mut hole = 0;
        loop {
            let left = 2 * hole + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.items[right] < self.items[left] {
                right
            } else {
                left
            };
            if self.items[child] < self.items[n] {
                path[depth] = child;
                depth += 1;
                hole = child;
            } else {
                break;
            }
        }
        // Phase 2, no comparisons: the last item goes to the deepest hole, each item on the
        // path moves up one level, and the old root comes out.
        let mut carry = self.items.pop()?;
        for &at in path[..depth].iter().rev() {
            carry = std::mem::replace(&mut self.items[at], carry);
        }
        Some(carry)
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.items)
    }

    fn shrink(&mut self) {
        if let Some(to) = should_shrink(self.items.len(), self.items.capacity()) {
            self.items.shrink_to(to);
        }
    }
}

/// A stack for `LifoQueue`.
#[derive(Debug)]
pub(crate) struct Stack<T> {
    items: Vec<T>,
}

impl<T> Stack<T> {
    pub(crate) const fn new() -> Self {
        Self { items: Vec::new() }
    }
}

impl<T> Store<T> for Stack<T> {
    fn push(&mut self, item: T) {
        self.items.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.items)
    }
    fn shrink(&mut self) {
        if let Some(to) = should_shrink(self.items.len(), self.items.capacity()) {
            self.items.shrink_to(to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_sorts() {
        let mut h = Heap::new();
        let xs = [5, 3, 9, 1, 1, 7, 2, 8, 0, 6, 4];
        for x in xs {
            h.push(x);
        }
        let mut out = Vec::new();
        while let Some(x) = h.pop() {
            out.push(x);
        }
        let mut sorted = xs.to_vec();
        sorted.sort_unstable();
        assert_eq!(out, sorted);
    }

    #[test]
    fn heap_sorts_many() {
        let mut h = Heap::new();
        let mut x: u64 = 12345;
        let mut all = Vec::new();
        for _ in 0..if cfg!(miri) { 60 } else { 1000 } {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = x >> 40;
            all.push(v);
            h.push(v);
            if v.is_multiple_of(3) {
                let m = h.pop().unwrap();
                all.sort_unstable();
                assert_eq!(m, all.remove(0));
            }
        }
        all.sort_unstable();
        let mut out = Vec::new();
        while let Some(v) = h.pop() {
            out.push(v);
        }
        assert_eq!(out, all);
    }
}
