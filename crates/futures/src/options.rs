/// How an executor's `map_with` feeds its items: how many tasks may be in flight at once, and
/// how many items travel together in one task.
///
/// Python's `Executor.map(fn, *iterables, timeout=None, chunksize=1, buffersize=None)`
/// (`buffersize` is Python 3.14's). Shared by `weft-pool` and `weft-process`.
///
/// * `buffersize`: at most this many tasks (chunks) submitted and not yet consumed; `None`
///   leaves the choice to the executor (weft's pools: 2 × `max_workers`).
/// * `chunksize`: items per task (default 1); every item still gets its own result.
///
/// The setters take and return the options by value, builder style; the getters are
/// [`MapOptions::get_buffersize`] and [`MapOptions::get_chunksize`].
///
/// # Examples
///
/// ```
/// use weft_futures::MapOptions;
///
/// let opts = MapOptions::default().buffersize(64).chunksize(16);
/// assert_eq!(opts.get_buffersize(), Some(64));
/// assert_eq!(opts.get_chunksize(), 16);
/// assert_eq!(MapOptions::default().get_chunksize(), 1);
/// assert_eq!(MapOptions::default().get_buffersize(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "options do nothing until passed to map_with"]
pub struct MapOptions {
    buffersize: Option<usize>,
    chunksize: usize,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl MapOptions {
    /// The defaults: no explicit `buffersize` (the executor's own), `chunksize` 1, as
    /// Python's `map(fn, items)`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_futures::MapOptions::new(), weft_futures::MapOptions::default());
    /// ```
    pub const fn new() -> Self {
        Self {
            buffersize: None,
            chunksize: 1,
        }
    }

    /// At most `n` tasks in flight (submitted and not yet consumed): Python 3.14's
    /// `map(..., buffersize=n)`.
    ///
    /// # Panics
    ///
    /// If `n` is 0 (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_futures::MapOptions::default().buffersize(8).get_buffersize(), Some(8));
    /// ```
    pub const fn buffersize(mut self, n: usize) -> Self {
        assert!(n > 0, "buffersize must be at least 1");
        self.buffersize = Some(n);
        self
    }

    /// `k` items per task: Python's `map(..., chunksize=k)`.
    ///
    /// # Panics
    ///
    /// If `k` is 0 (Python raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_futures::MapOptions::default().chunksize(100).get_chunksize(), 100);
    /// ```
    pub const fn chunksize(mut self, k: usize) -> Self {
        assert!(k > 0, "chunksize must be at least 1");
        self.chunksize = k;
        self
    }

    /// The `buffersize` set, or `None` for the executor's default (Python's `buffersize=None`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_futures::MapOptions::default().get_buffersize(), None);
    /// ```
    #[must_use]
    pub const fn get_buffersize(&self) -> Option<usize> {
        self.buffersize
    }

    /// Items per task (at least 1; default 1, as Python's `chunksize`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(weft_futures::MapOptions::default().get_chunksize(), 1);
    /// ```
    #[must_use]
    pub const fn get_chunksize(&self) -> usize {
        self.chunksize
    }
}
