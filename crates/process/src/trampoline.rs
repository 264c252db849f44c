//! How a `fn(A) -> R` crosses a fork: two addresses and a postcard argument.
//!
//! `submit(f, arg)` sends the address of `f` and the address of [`trampoline::<A, R>`], the
//! monomorphized glue that decodes an `A`, calls `f` and encodes the `R`. The worker casts both
//! back and calls the trampoline.
//!
//! Why the addresses are valid in the worker: a worker is a fork (of a fork) of the process
//! that took them, with no `exec` in between, so it runs the same binary image mapped at the
//! same addresses (fork copies the whole address space, ASLR included). A function pointer
//! names code, which fork never moves. A capturing closure is refused by the type (`fn(A) -> R`),
//! so no pointer into the caller's heap or stack ever crosses.

use serde::{Serialize, de::DeserializeOwned};

/// The erased shape of every [`trampoline`].
pub(crate) type Trampoline =
    unsafe fn(function: *const (), arg: &[u8], out: &mut Vec<u8>) -> Result<(), String>;

/// Runs `function` (an `fn(A) -> R`) on the postcard `arg` and appends the postcard result to
/// `out`; `Err` with the reason when the argument or the result cannot be (de)serialized.
///
/// # Safety
///
/// `function` must be the address of an `fn(A) -> R` of this binary image, taken with
/// [`erase`] (in this process or in an ancestor it was forked from).
pub(crate) unsafe fn trampoline<A: DeserializeOwned, R: Serialize>(
    function: *const (),
    arg: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    // SAFETY: by this function's contract `function` is an `fn(A) -> R`, and function pointers
    // have the size and representation of data pointers on every platform this crate builds
    // for (Unix; the same assumption `dlsym` makes).
    let f = unsafe { std::mem::transmute::<*const (), fn(A) -> R>(function) };
    let a: A = postcard::from_bytes(arg)
        .map_err(|e| format!("cannot deserialize the argument in the worker: {e}"))?;
    let r = f(a);
    postcard::to_extend(&r, Extend(out))
        .map(|_| ())
        .map_err(|e| format!("cannot serialize the result in the worker: {e}"))
}

/// `Extend<u8>` over a borrowed `Vec`, so postcard appends in place.
struct Extend<'a>(&'a mut Vec<u8>);

impl std::iter::Extend<u8> for Extend<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// The addresses that stand for `f` and its trampoline on the wire.
pub(crate) fn erase<A: DeserializeOwned, R: Serialize>(f: fn(A) -> R) -> (u64, u64) {
    let t: Trampoline = trampoline::<A, R>;
    (
        (t as *const ()).expose_provenance() as u64,
        (f as *const ()).expose_provenance() as u64,
    )
}

/// Calls the trampoline at `trampoline` with the function at `function`.
///
/// # Safety
///
/// Both addresses must come from one [`erase`] call in this process or an ancestor it was
/// forked from (without `exec`).
pub(crate) unsafe fn call(
    trampoline: u64,
    function: u64,
    arg: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let t = std::ptr::with_exposed_provenance::<()>(trampoline as usize);
    let f = std::ptr::with_exposed_provenance::<()>(function as usize);
    // SAFETY: `t` was erased from a `Trampoline` by `erase` in this same image (caller's
    // contract), and function and data pointers share a representation on Unix.
    let t = unsafe { std::mem::transmute::<*const (), Trampoline>(t) };
    // SAFETY: `f` is the `fn(A) -> R` erased together with this very trampoline.
    unsafe { t(f, arg, out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_one(x: u64) -> u64 {
        x + 1
    }

    #[test]
    fn round_trip_in_process() {
        let (t, f) = erase(add_one);
        let arg = postcard::to_allocvec(&41u64).unwrap();
        let mut out = Vec::new();
        // SAFETY: both addresses come from `erase` just above.
        unsafe { call(t, f, &arg, &mut out) }.unwrap();
        assert_eq!(postcard::from_bytes::<u64>(&out).unwrap(), 42);
        // SAFETY: as above.
        let e = unsafe { call(t, f, &[], &mut out) }.unwrap_err();
        assert!(e.contains("deserialize"), "{e}");
    }
}
