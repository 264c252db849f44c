//! Async waits driven by the soak's own threads: a future polled on the calling thread until it
//! completes or a deadline passes, then dropped. That is what a runtime's timeout does, and it
//! makes "a future dropped right after it was woken" happen all the time.

use std::{
    future::Future,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Wake, Waker},
    time::{Duration, Instant},
};

use weft_event::Event;

/// Wakes the polling thread: the waker sets an event the thread waits on.
struct Flag(Event);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.set();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.set();
    }
}

/// Polls `f` on this thread until it is ready or `limit` has passed; on time-out the future is
/// dropped (cancelled) and `None` returned. `None` for the limit waits without end.
///
/// When the time is up the future is dropped at once, woken or not, as a losing `select!`
/// branch or an aborted task is; a runtime's timeout (`tokio::time::timeout`) would poll it once
/// more first, which [`poll_for`] leaves to the completed case.
pub(crate) fn poll_for<F: Future>(f: F, limit: Option<Duration>) -> Option<F::Output> {
    let until = limit.map(|d| Instant::now() + d);
    let flag = Arc::new(Flag(Event::new()));
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        flag.0.clear();
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
        match until {
            None => {
                flag.0.wait();
            }
            Some(until) => {
                let now = Instant::now();
                if now >= until || !flag.0.wait_timeout(until - now) {
                    return None;
                }
            }
        }
    }
}
