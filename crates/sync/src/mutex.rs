/// A mutual-exclusion lock for a primitive's *internal* state: `std::sync::Mutex` (a futex on
/// Linux), or loom's model of it under `weft_loom`.
///
/// Poisoning is ignored: weft's internal critical sections never leave state half-updated on a
/// panic (they run no user code), so a poisoned lock is still consistent.
#[derive(Debug, Default)]
pub struct Mutex<T: ?Sized> {
    #[cfg(not(weft_loom))]
    inner: std::sync::Mutex<T>,
    #[cfg(weft_loom)]
    inner: loom::sync::Mutex<T>,
}

/// The guard of a [`Mutex`]: `std`'s or loom's.
#[cfg(not(weft_loom))]
pub type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

/// The guard of a [`Mutex`]: `std`'s or loom's.
#[cfg(weft_loom)]
pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// A new unlocked mutex (not `const`: loom's constructor is not).
    pub fn new(value: T) -> Self {
        #[cfg(not(weft_loom))]
        {
            Self {
                inner: std::sync::Mutex::new(value),
            }
        }
        #[cfg(weft_loom)]
        {
            Self {
                inner: loom::sync::Mutex::new(value),
            }
        }
    }

    /// Consumes the mutex and returns its value.
    pub fn into_inner(self) -> T {
        self.inner
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, blocking the thread until it is free.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks if free at once.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// A mutable reference through exclusive access.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
