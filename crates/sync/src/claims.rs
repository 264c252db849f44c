//! [`Claims`]: a vector of items that several threads work through together, each item taken
//! by exactly one of them, and whose results come back in order.
//!
//! Threads claim ranges of positions from a shared cursor (one `fetch_add` per claim), take the
//! items of their [`Claim`] one by one and put each one's result at its position. A claim that
//! is asked to stop early hands the rest of its range on as a [`Parcel`], which any thread can
//! redeem. When a claim settles, the positions it covered count as done; the claim that settles
//! the last position gets a [`Settled`] token, and with it [`Claims::finish`] hands back every
//! result in order (and the positions that have none: their item failed, or was discarded).
//!
//! The items and results live in two vectors' allocations, without a cell per slot, so that
//! the results become the caller's vector without a copy. Every access to them is decided by
//! the cursor and the settle count, whose atomics loom explores; Miri checks the accesses
//! themselves in this module's tests.

use std::fmt;

use crate::{
    Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

/// A vector's allocation whose slots the claims read and write one at a time each. Under
/// `weft_loom` the same slots as loom cells (one per slot, holding an `Option`), so that loom
/// checks every access against the claims' happens-before: two claims touching one slot, or
/// `finish` reading a result it is not ordered after, fail the model.
#[cfg(not(weft_loom))]
struct Raw<V> {
    ptr: *mut V,
    cap: usize,
}

#[cfg(not(weft_loom))]
impl<V> Raw<V> {
    /// Takes over `v`'s allocation; its `len` items stay initialised, to be read out.
    fn from_vec(v: Vec<V>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        Self {
            ptr: v.as_mut_ptr(),
            cap: v.capacity(),
        }
    }

    /// `n` slots, none initialised.
    fn with_slots(n: usize) -> Self {
        Self::from_vec(Vec::with_capacity(n))
    }

    /// # Safety
    ///
    /// Slot `at` is in bounds, initialised, not read before, and accessed by no other thread.
    unsafe fn read(&self, at: usize) -> V {
        // SAFETY: the caller's.
        unsafe { self.ptr.add(at).read() }
    }

    /// # Safety
    ///
    /// Slot `at` is in bounds, not initialised, and accessed by no other thread.
    unsafe fn write(&self, at: usize, v: V) {
        // SAFETY: the caller's.
        unsafe { self.ptr.add(at).write(v) }
    }

    /// The allocation back as a vector of its first `len` slots.
    ///
    /// # Safety
    ///
    /// Called once; the first `len` slots are initialised, the others are not (or were read
    /// out); no other thread accesses the allocation any more.
    unsafe fn take_vec(&self, len: usize) -> Vec<V> {
        // SAFETY: the caller's; `ptr` and `cap` came from a vector.
        unsafe { Vec::from_raw_parts(self.ptr, len, self.cap) }
    }
}

#[cfg(weft_loom)]
struct Raw<V> {
    slots: Box<[crate::cell::UnsafeCell<Option<V>>]>,
}

#[cfg(weft_loom)]
impl<V> Raw<V> {
    fn from_vec(v: Vec<V>) -> Self {
        Self {
            slots: v
                .into_iter()
                .map(|x| crate::cell::UnsafeCell::new(Some(x)))
                .collect(),
        }
    }

    fn with_slots(n: usize) -> Self {
        Self {
            slots: (0..n).map(|_| crate::cell::UnsafeCell::new(None)).collect(),
        }
    }

    unsafe fn read(&self, at: usize) -> V {
        // SAFETY: the caller's (and loom checks it).
        self.slots[at]
            .with_mut(|p| unsafe { (*p).take() })
            .expect("a slot read once, after it was written")
    }

    unsafe fn write(&self, at: usize, v: V) {
        // SAFETY: the caller's (and loom checks it).
        self.slots[at].with_mut(|p| unsafe { *p = Some(v) });
    }

    unsafe fn take_vec(&self, len: usize) -> Vec<V> {
        // SAFETY: the caller's (and loom checks it).
        (0..len).map(|at| unsafe { self.read(at) }).collect()
    }
}

/// Items to be worked through by several threads, each claimed by one; see the
/// [module docs](self).
///
/// The Python equivalent is the work queue of `concurrent.futures`, item by item: every item
/// a task of its own, results gathered in input order (`Executor.map`).
///
/// # Examples
///
/// ```
/// use weft_sync::claims::Claims;
///
/// let claims = Claims::new(vec![1, 2, 3, 4, 5]);
/// let done = std::thread::scope(|s| {
///     let run = || {
///         let mut settled = None;
///         while let Some(mut claim) = claims.claim(2) {
///             while let Some((_, x)) = claim.take() {
///                 claim.put(x * 10);
///             }
///             settled = settled.or(claim.settle());
///         }
///         settled
///     };
///     let a = s.spawn(run);
///     let b = s.spawn(run);
///     // Exactly one of the two settled the last position.
///     a.join().unwrap().or(b.join().unwrap()).unwrap()
/// });
/// let (values, failed) = claims.finish(done);
/// assert_eq!(values, [10, 20, 30, 40, 50]);
/// assert!(failed.is_empty());
/// ```
pub struct Claims<X, T> {
    items: Raw<X>,
    out: Raw<T>,
    len: usize,
    /// The first position nobody has claimed (may run past `len`).
    next: AtomicUsize,
    /// Positions not yet settled; the claim that brings it to zero gets the [`Settled`] token.
    pending: AtomicUsize,
    /// Positions whose result slot was never written, in no order.
    failed: Mutex<Vec<usize>>,
    /// This instance's number, which its parcels and its token carry.
    id: u64,
    finished: AtomicBool,
}

// SAFETY: each item and result slot is accessed by the one claim that owns its position, and
// the allocations as a whole only by `finish` (after every position settled, acquire) and by
// `drop` (exclusive); the values that cross threads are `Send`.
unsafe impl<X: Send, T: Send> Send for Claims<X, T> {}
// SAFETY: as above: shared access hands out disjoint positions only.
unsafe impl<X: Send, T: Send> Sync for Claims<X, T> {}

/// Every instance's number, for the checks that a parcel or a token is redeemed where it was made.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl<X, T> Claims<X, T> {
    /// Claims over `items`, in their order; results are collected in a vector of the same
    /// length.
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::<u8, u8>::new(vec![1, 2]);
    /// assert_eq!(claims.len(), 2);
    /// ```
    #[must_use]
    pub fn new(items: Vec<X>) -> Self {
        let len = items.len();
        Self {
            items: Raw::from_vec(items),
            out: Raw::with_slots(len),
            len,
            next: AtomicUsize::new(0),
            pending: AtomicUsize::new(len),
            failed: Mutex::new(Vec::new()),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            finished: AtomicBool::new(false),
        }
    }

    /// How many items there are.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_sync::claims::Claims::<u8, u8>::new(vec![]).len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no items.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(weft_sync::claims::Claims::<u8, u8>::new(vec![]).is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every position has been claimed (a hint: claims may still be running).
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::<u8, u8>::new(vec![1]);
    /// assert!(!claims.all_claimed());
    /// let c = claims.claim(5).unwrap();
    /// assert!(claims.all_claimed());
    /// # drop(c);
    /// ```
    #[must_use]
    pub fn all_claimed(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.len
    }

    /// Claims the next `k` positions (fewer at the end; at least one); `None` once every
    /// position is claimed.
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::<u8, u8>::new(vec![1, 2, 3]);
    /// assert_eq!(claims.claim(2).unwrap().range(), 0..2);
    /// assert_eq!(claims.claim(2).unwrap().range(), 2..3);
    /// assert!(claims.claim(2).is_none());
    /// ```
    pub fn claim(&self, k: usize) -> Option<Claim<'_, X, T>> {
        let k = k.max(1);
        // Relaxed: a claim only has to be exclusive. The items were published with the
        // `Claims` itself, and the results travel through `pending`.
        let start = self.next.fetch_add(k, Ordering::Relaxed);
        (start < self.len).then(|| Claim::new(self, start, self.len.min(start + k)))
    }

    /// The claim of a parcel that another claim handed on.
    ///
    /// # Panics
    ///
    /// If the parcel was made by another `Claims`.
    ///
    /// # Examples
    ///
    /// See [`Claim::split_off`].
    pub fn redeem(&self, parcel: Parcel) -> Claim<'_, X, T> {
        assert_eq!(parcel.id, self.id, "a parcel redeemed on another Claims");
        Claim::new(self, parcel.start, parcel.end)
    }

    /// Every result, in order of position, skipping the positions that have none; and those
    /// positions, in increasing order. Takes the token of the claim that settled last.
    ///
    /// # Panics
    ///
    /// If `settled` is another `Claims`' token.
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::new(vec![1, 2, 3]);
    /// let mut c = claims.claim(3).unwrap();
    /// while let Some((at, x)) = c.take() {
    ///     if at != 1 {
    ///         c.put(x + 1);
    ///     }
    /// }
    /// let (values, failed) = claims.finish(c.settle().unwrap());
    /// assert_eq!(values, [2, 4]);
    /// assert_eq!(failed, [1]);
    /// ```
    pub fn finish(&self, settled: Settled) -> (Vec<T>, Vec<usize>) {
        assert_eq!(settled.id, self.id, "a token redeemed on another Claims");
        // The token exists once, so this runs once.
        self.finished.store(true, Ordering::Relaxed);
        let mut failed = std::mem::take(&mut *self.failed.lock());
        failed.sort_unstable();
        // SAFETY: every position settled (the token's acquire saw every claim's writes), so
        // every item was read out or dropped: the allocation is only memory now.
        drop(unsafe { self.items.take_vec(0) });
        let values = if failed.is_empty() {
            // SAFETY: every result slot was written.
            unsafe { self.out.take_vec(self.len) }
        } else {
            let mut values = Vec::with_capacity(self.len - failed.len());
            let mut f = failed.iter().peekable();
            for at in 0..self.len {
                if f.peek() == Some(&&at) {
                    f.next();
                } else {
                    // SAFETY: settled and not failed: written once, read once.
                    values.push(unsafe { self.out.read(at) });
                }
            }
            // SAFETY: every written slot was read out.
            drop(unsafe { self.out.take_vec(0) });
            values
        };
        (values, failed)
    }

    /// Settles `n` positions; whether they were the last.
    fn settle(&self, n: usize) -> Option<Settled> {
        // Release: this claim's writes before the count; acquire for the claim that reaches
        // zero, so that `finish` sees every claim's.
        (n > 0 && self.pending.fetch_sub(n, Ordering::AcqRel) == n)
            .then_some(Settled { id: self.id })
    }
}

impl<X, T> Drop for Claims<X, T> {
    fn drop(&mut self) {
        if self.finished.load(Ordering::Relaxed) {
            return;
        }
        // Not finished: no claim is alive (they borrow `self`). The items never claimed are
        // dropped; items and results of settled claims, or of parcels never redeemed, leak.
        let claimed = self.next.load(Ordering::Relaxed).min(self.len);
        for at in claimed..self.len {
            // SAFETY: never claimed, so never read; `&mut self` is exclusive.
            drop(unsafe { self.items.read(at) });
        }
        // SAFETY: the slots left are read out or leaked; only the memory is freed.
        unsafe {
            drop(self.items.take_vec(0));
            drop(self.out.take_vec(0));
        }
    }
}

impl<X, T> fmt::Debug for Claims<X, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("len", &self.len)
            .field("next", &self.next.load(Ordering::Relaxed))
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A range of positions of a [`Claims`], owned by one thread: it takes their items one by one
/// and puts each one's result.
///
/// A taken item that gets no [`put`](Self::put) before the next [`take`](Self::take) (its run
/// panicked, say), or before the claim settles, has no result: [`Claims::finish`] lists its
/// position. Items never taken are dropped when the claim settles, and listed too.
///
/// # Examples
///
/// See [`Claims`].
pub struct Claim<'a, X, T> {
    claims: &'a Claims<X, T>,
    start: usize,
    next: usize,
    end: usize,
    /// The position taken last, if it has no result yet.
    open: Option<usize>,
    /// Positions handed on in parcels (they settle there).
    handed_on: usize,
}

impl<'a, X, T> Claim<'a, X, T> {
    fn new(claims: &'a Claims<X, T>, start: usize, end: usize) -> Self {
        Self {
            claims,
            start,
            next: start,
            end,
            open: None,
            handed_on: 0,
        }
    }

    /// The positions this claim covers (less what it handed on).
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::<u8, u8>::new(vec![1, 2, 3]);
    /// assert_eq!(claims.claim(8).unwrap().range(), 0..3);
    /// ```
    #[must_use]
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }

    /// The next item and its position; `None` when the claim has none left.
    ///
    /// # Examples
    ///
    /// See [`Claims`].
    pub fn take(&mut self) -> Option<(usize, X)> {
        self.close_open();
        if self.next >= self.end {
            return None;
        }
        let at = self.next;
        self.next += 1;
        self.open = Some(at);
        // SAFETY: position `at` belongs to this claim alone, and is taken once.
        Some((at, unsafe { self.claims.items.read(at) }))
    }

    /// Runs `f` on each item left, putting each result, until none is left or `stop` (asked
    /// after each item) says to stop; whether it stopped early. The loop of [`take`](Self::take)
    /// and [`put`](Self::put) without their checks: for cheap items. If `f` panics, the item it
    /// was running is [`unanswered`](Self::unanswered), and a later call goes on with the next.
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::new(vec![1, 2, 3]);
    /// let mut c = claims.claim(3).unwrap();
    /// assert!(!c.run(|x| x + 1, || false));
    /// let (values, _) = claims.finish(c.settle().unwrap());
    /// assert_eq!(values, [2, 3, 4]);
    /// ```
    #[inline]
    pub fn run(&mut self, mut f: impl FnMut(X) -> T, mut stop: impl FnMut() -> bool) -> bool {
        self.close_open();
        while self.next < self.end {
            let at = self.next;
            self.next = at + 1;
            self.open = Some(at);
            // SAFETY: position `at` belongs to this claim alone, and is taken once.
            let x = unsafe { self.claims.items.read(at) };
            let v = f(x);
            // SAFETY: as above; it gets one result.
            unsafe { self.claims.out.write(at, v) };
            self.open = None;
            if self.next < self.end && stop() {
                return true;
            }
        }
        false
    }

    /// The position taken last, if it has no result yet (its run panicked, say).
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::<u8, u8>::new(vec![1]);
    /// let mut c = claims.claim(1).unwrap();
    /// let _ = c.take();
    /// assert_eq!(c.unanswered(), Some(0));
    /// ```
    #[must_use]
    pub fn unanswered(&self) -> Option<usize> {
        self.open
    }

    /// The result of the item taken last.
    ///
    /// # Panics
    ///
    /// If no item is waiting for its result (none taken, or this one already put).
    ///
    /// # Examples
    ///
    /// See [`Claims`].
    pub fn put(&mut self, value: T) {
        let at = self.open.take().expect("put without an item taken");
        // SAFETY: position `at` belongs to this claim alone, and gets one result.
        unsafe { self.claims.out.write(at, value) };
    }

    /// Hands the items not taken yet on as a [`Parcel`] (`None` if there are none): this claim
    /// ends at the current position, and the parcel, redeemed by any thread with
    /// [`Claims::redeem`], settles them.
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::new(vec![1, 2, 3]);
    /// let mut c = claims.claim(3).unwrap();
    /// let (_, x) = c.take().unwrap();
    /// c.put(x);
    /// let parcel = c.split_off().unwrap();
    /// assert!(c.settle().is_none());
    /// let mut rest = claims.redeem(parcel);
    /// while let Some((_, x)) = rest.take() {
    ///     rest.put(x * 2);
    /// }
    /// let (values, _) = claims.finish(rest.settle().unwrap());
    /// assert_eq!(values, [1, 4, 6]);
    /// ```
    pub fn split_off(&mut self) -> Option<Parcel> {
        if self.next >= self.end {
            return None;
        }
        let parcel = Parcel {
            id: self.claims.id,
            start: self.next,
            end: self.end,
        };
        self.handed_on += self.end - self.next;
        self.end = self.next;
        Some(parcel)
    }

    /// Settles the claim: its positions count as done (items not taken are dropped, and they
    /// and a taken item without a result are listed as failed). The claim that settles the
    /// last position of the `Claims` gets the token for [`Claims::finish`].
    ///
    /// # Examples
    ///
    /// See [`Claims`].
    pub fn settle(mut self) -> Option<Settled> {
        self.settle_now()
    }

    fn close_open(&mut self) {
        if let Some(at) = self.open.take() {
            self.claims.failed.lock().push(at);
        }
    }

    fn settle_now(&mut self) -> Option<Settled> {
        self.close_open();
        if self.next < self.end {
            let mut failed = self.claims.failed.lock();
            for at in self.next..self.end {
                // SAFETY: position `at` belongs to this claim alone and was not taken.
                drop(unsafe { self.claims.items.read(at) });
                failed.push(at);
            }
            self.next = self.end;
        }
        let n = self.end - self.start;
        self.start = self.end;
        self.claims.settle(n)
    }
}

impl<X, T> Drop for Claim<'_, X, T> {
    /// A claim dropped unsettled settles; if it was the last, the token is lost and nobody can
    /// [`finish`](Claims::finish): settle claims explicitly.
    fn drop(&mut self) {
        if self.start < self.end || self.open.is_some() {
            let _ = self.settle_now();
        }
    }
}

impl<X, T> fmt::Debug for Claim<'_, X, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("range", &self.range())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// Positions that a [`Claim`] handed on, to be redeemed with [`Claims::redeem`] on the same
/// `Claims` (by any thread). A parcel dropped unredeemed never settles its positions, and the
/// `Claims` never finishes.
#[derive(Debug)]
#[must_use = "a parcel's positions settle only when it is redeemed"]
pub struct Parcel {
    id: u64,
    start: usize,
    end: usize,
}

impl Parcel {
    /// How many positions it holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::<u8, u8>::new(vec![1, 2, 3]);
    /// let mut c = claims.claim(3).unwrap();
    /// let p = c.split_off().unwrap();
    /// assert_eq!(p.len(), 3);
    /// # drop(claims.redeem(p));
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether it holds no position (never, as made by [`Claim::split_off`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::<u8, u8>::new(vec![1]);
    /// let mut c = claims.claim(1).unwrap();
    /// let p = c.split_off().unwrap();
    /// assert!(!p.is_empty());
    /// # drop(claims.redeem(p));
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Splits off the positions from the `n`-th on (`None` if there are none): for spreading a
    /// parcel over several threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let claims = weft_sync::claims::Claims::<u8, u8>::new(vec![1, 2, 3]);
    /// let mut c = claims.claim(3).unwrap();
    /// let mut p = c.split_off().unwrap();
    /// let q = p.split_at(1).unwrap();
    /// assert_eq!((p.len(), q.len()), (1, 2));
    /// # drop((claims.redeem(p), claims.redeem(q)));
    /// ```
    pub fn split_at(&mut self, n: usize) -> Option<Parcel> {
        let at = self.start + n;
        (at < self.end).then(|| {
            let rest = Parcel {
                id: self.id,
                start: at,
                end: self.end,
            };
            self.end = at;
            rest
        })
    }
}

/// The proof that every position of a [`Claims`] settled: made once, by the claim that settled
/// the last one, and taken by [`Claims::finish`].
#[derive(Debug)]
#[must_use = "the results are only reachable through `Claims::finish`"]
pub struct Settled {
    id: u64,
}
