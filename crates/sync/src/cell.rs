//! `UnsafeCell` with loom's closure-shaped API on both sides.
//!
//! Under `weft_loom` this is `loom::cell::UnsafeCell`, which checks at run time that no `with`
//! overlaps a `with_mut` on another thread. Under `std` it is a zero-cost wrapper of
//! `core::cell::UnsafeCell` with the same methods, so call sites never carry a `cfg`.

#[cfg(weft_loom)]
pub use loom::cell::UnsafeCell;

/// A zero-cost `core::cell::UnsafeCell` with loom's `with` / `with_mut` shape.
#[cfg(not(weft_loom))]
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

#[cfg(not(weft_loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `data`.
    #[inline]
    pub const fn new(data: T) -> Self {
        Self(core::cell::UnsafeCell::new(data))
    }

    /// Unwraps the value.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

#[cfg(not(weft_loom))]
impl<T: ?Sized> UnsafeCell<T> {
    /// Calls `f` with a shared raw pointer to the value.
    ///
    /// The caller's `unsafe` dereference must not overlap a `with_mut` on another thread.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a unique raw pointer to the value.
    ///
    /// The caller's `unsafe` dereference must be the only access at that moment.
    #[inline]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// A mutable reference through exclusive access; no synchronisation needed.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}
