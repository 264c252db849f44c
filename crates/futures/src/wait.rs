use std::{fmt, time::Duration};

use weft_sync::Deadline;

use crate::{Future, as_completed::Completion};

/// When [`wait`] returns: Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`.
///
/// # Examples
///
/// ```
/// assert_eq!(weft_futures::ReturnWhen::default(), weft_futures::ReturnWhen::AllCompleted);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished or cancelled).
    FirstCompleted,
    /// As soon as any future finishes with an error (a cancellation is not one); if none does,
    /// once all are done, as [`ReturnWhen::AllCompleted`].
    FirstException,
    /// Once every future is done.
    #[default]
    AllCompleted,
}

/// What [`wait`] returns: Python's `DoneAndNotDoneFutures(done, not_done)`.
///
/// Both lists keep the input order. `done` holds every future that is done when `wait`
/// returns.
pub struct Waited<T> {
    /// The futures done (finished or cancelled).
    pub done: Vec<Future<T>>,
    /// The futures still pending or running.
    pub not_done: Vec<Future<T>>,
}

impl<T> fmt::Debug for Waited<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waited")
            .field("done", &self.done)
            .field("not_done", &self.not_done)
            .finish()
    }
}

/// Waits for the futures until `return_when` holds or `timeout` passes: Python's
/// `concurrent.futures.wait(fs, timeout, return_when)`.
///
/// Returns at once if the condition already holds (or if every future is done, or the list is
/// empty). `timeout` `None` (or [`Duration::MAX`]) waits as long as it takes; otherwise `wait`
/// returns once `timeout` has passed (never earlier) with whatever is done then. Each
/// completion costs O(1), as in [`as_completed`](crate::as_completed). The futures are
/// moved in and come back split, in input order.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft_futures::{ReturnWhen, Waited, promise, wait};
///
/// let (p1, f1) = promise::<u8>();
/// let (_p2, f2) = promise::<u8>();
/// std::thread::spawn(move || p1.set_result(1));
/// let Waited { done, not_done } = wait(vec![f1, f2], None, ReturnWhen::FirstCompleted);
/// assert_eq!((done.len(), not_done.len()), (1, 1));
///
/// let Waited { done, not_done } = wait(not_done, Some(Duration::from_millis(5)), ReturnWhen::AllCompleted);
/// assert_eq!((done.len(), not_done.len()), (0, 1));
/// ```
pub fn wait<T>(
    futures: impl IntoIterator<Item = Future<T>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> Waited<T> {
    let deadline = timeout.map_or(Deadline::never(), Deadline::after);
    let mut c = Completion::new(futures);
    let total = c.remaining();
    let mut done = 0;
    let mut failed = false;
    loop {
        let satisfied = done == total
            || match return_when {
                ReturnWhen::FirstCompleted => done > 0,
                ReturnWhen::FirstException => failed,
                ReturnWhen::AllCompleted => false,
            };
        if satisfied {
            break;
        }
        let Some(i) = c.next_index(deadline) else {
            break;
        };
        done += 1;
        failed |= c.slot(i).failed();
    }
    let (done, not_done) = c.into_all().into_iter().partition(Future::done);
    Waited { done, not_done }
}
