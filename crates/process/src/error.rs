use std::fmt;

/// An argument that [`ProcessPoolExecutor::try_submit`](crate::ProcessPoolExecutor::try_submit)
/// did not accept, handed back: the pool was shut down or is broken.
///
/// Python's `submit` raises `RuntimeError('cannot schedule new futures after shutdown')` or
/// `BrokenProcessPool`, and the arguments are simply lost; here the argument comes back,
/// untouched.
///
/// # Examples
///
/// ```
/// use weft_process::ProcessPoolExecutor;
///
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// let pool = ProcessPoolExecutor::new(1)?;
/// pool.shutdown(true, false);
/// let arg = pool.try_submit(double, 21).unwrap_err().into_inner();
/// assert_eq!(double(arg), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rejected<A>(pub A);

impl<A> Rejected<A> {
    /// The argument that was not accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_process::Rejected(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> A {
        self.0
    }
}

impl<A> fmt::Debug for Rejected<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rejected(..)")
    }
}

impl<A> fmt::Display for Rejected<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot schedule new futures after shutdown or on a broken pool")
    }
}

impl<A> std::error::Error for Rejected<A> {}
