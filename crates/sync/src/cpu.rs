//! Which CPUs a thread may run on, and which it runs on (Linux): the few calls the pools'
//! placement hints need, behind a safe interface.
//!
//! Placement is a hint to the kernel, never part of a protocol: under loom and Miri, and off
//! Linux, every function here reports "unknown" (`None`, `false`) and changes nothing, and a
//! caller must work the same either way.
//!
//! # Examples
//!
//! ```
//! use weft_sync::cpu;
//!
//! if let (Some(here), Some(mask)) = (cpu::current(), cpu::mask_of(None)) {
//!     // The CPU this thread runs on is one it may run on.
//!     assert!(mask.contains(here));
//! }
//! ```

/// A thread's kernel id, as [`thread_id`] gives it.
pub type ThreadId = i32;

#[cfg(all(target_os = "linux", not(weft_loom), not(miri)))]
mod imp {
    use std::mem;

    use super::ThreadId;

    /// A set of CPUs (a thread's affinity mask).
    #[derive(Clone, Copy)]
    pub struct CpuSet(libc::cpu_set_t);

    impl std::fmt::Debug for CpuSet {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_set().entries(self.iter()).finish()
        }
    }

    impl CpuSet {
        /// The set of `cpu` alone (`None` if `cpu` is out of the mask's range).
        #[must_use]
        pub fn one(cpu: usize) -> Option<Self> {
            if cpu >= libc::CPU_SETSIZE as usize {
                return None;
            }
            // SAFETY: an all-zero `cpu_set_t` is the empty set.
            let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
            // SAFETY: `cpu` is below the set's size (checked above).
            unsafe { libc::CPU_SET(cpu, &mut set) };
            Some(Self(set))
        }

        /// Whether `cpu` is in the set.
        #[must_use]
        pub fn contains(&self, cpu: usize) -> bool {
            // SAFETY: `CPU_ISSET` reads within the set, bounds-checked against its size.
            cpu < libc::CPU_SETSIZE as usize && unsafe { libc::CPU_ISSET(cpu, &self.0) }
        }

        /// The CPUs in the set, lowest first.
        pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
            (0..libc::CPU_SETSIZE as usize).filter(|&c| self.contains(c))
        }
    }

    pub(super) fn current() -> Option<usize> {
        // SAFETY: `sched_getcpu` has no preconditions.
        usize::try_from(unsafe { libc::sched_getcpu() }).ok()
    }

    pub(super) fn thread_id() -> Option<ThreadId> {
        // SAFETY: `gettid` has no preconditions.
        Some(unsafe { libc::gettid() })
    }

    pub(super) fn mask_of(thread: Option<ThreadId>) -> Option<CpuSet> {
        // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set, filled in by the call.
        let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
        // SAFETY: `set` is writable and of the size passed; pid 0 is the calling thread.
        let r = unsafe {
            libc::sched_getaffinity(
                thread.unwrap_or(0),
                mem::size_of::<libc::cpu_set_t>(),
                &mut set,
            )
        };
        (r == 0).then_some(CpuSet(set))
    }

    pub(super) fn set_mask(thread: Option<ThreadId>, set: &CpuSet) -> bool {
        // SAFETY: `set` is a valid mask of the size passed; pid 0 is the calling thread. An id
        // that names no thread of ours makes the call fail, which is reported.
        let r = unsafe {
            libc::sched_setaffinity(
                thread.unwrap_or(0),
                mem::size_of::<libc::cpu_set_t>(),
                &set.0,
            )
        };
        r == 0
    }
}

#[cfg(not(all(target_os = "linux", not(weft_loom), not(miri))))]
mod imp {
    use super::ThreadId;

    /// A set of CPUs (never made here: every query says "unknown").
    #[derive(Clone, Copy, Debug)]
    pub struct CpuSet(());

    impl CpuSet {
        /// The set of `cpu` alone (`None` here).
        #[must_use]
        pub const fn one(_cpu: usize) -> Option<Self> {
            None
        }

        /// Whether `cpu` is in the set.
        #[must_use]
        pub const fn contains(&self, _cpu: usize) -> bool {
            false
        }

        /// The CPUs in the set, lowest first.
        pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
            std::iter::empty()
        }
    }

    pub(super) const fn current() -> Option<usize> {
        None
    }

    pub(super) const fn thread_id() -> Option<ThreadId> {
        None
    }

    pub(super) const fn mask_of(_thread: Option<ThreadId>) -> Option<CpuSet> {
        None
    }

    pub(super) const fn set_mask(_thread: Option<ThreadId>, _set: &CpuSet) -> bool {
        false
    }
}

pub use imp::CpuSet;

/// The CPU the calling thread runs on (`sched_getcpu`), or `None` where unknown.
#[must_use]
pub fn current() -> Option<usize> {
    imp::current()
}

/// The calling thread's kernel id (`gettid`), or `None` where there is none to use.
#[must_use]
pub fn thread_id() -> Option<ThreadId> {
    imp::thread_id()
}

/// The CPUs `thread` (the calling thread for `None`) may run on (`sched_getaffinity`), or `None`
/// where unknown or if the call failed.
#[must_use]
pub fn mask_of(thread: Option<ThreadId>) -> Option<CpuSet> {
    imp::mask_of(thread)
}

/// Restricts `thread` (the calling thread for `None`) to `set` (`sched_setaffinity`); whether
/// it took effect.
pub fn set_mask(thread: Option<ThreadId>, set: &CpuSet) -> bool {
    imp::set_mask(thread, set)
}
