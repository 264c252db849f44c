use std::ops::{Deref, DerefMut};

/// Pads and aligns a value to the length of a cache line (128 bytes on x86-64 and aarch64,
/// whose prefetchers pull pairs of 64-byte lines), so that two hot atomics written by different
/// threads never share a line.
///
/// The same layout as `crossbeam_utils::CachePadded`, kept here so that a weft crate depends on
/// `weft-sync` alone.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    repr(align(64))
)]
pub struct CachePadded<T> {
    value: T,
}

impl<T> CachePadded<T> {
    /// Pads `value`.
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
