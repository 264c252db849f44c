//! loom models of weft-celery's in-process protocols (the network parts are tested against a
//! real Redis in `tests/worker.rs` and `tests/interop.rs`).

use weft_celery::mailbox::Mailbox;
use weft_sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
    thread,
};

/// Two submitters post while the listener takes: every id posted is taken by a take that a
/// wake asked for (taking the list before clearing the flag fails this model).
#[test]
fn no_subscription_is_stranded() {
    weft_sync::model(|| {
        let mb = Arc::new(Mailbox::new());
        let wakes = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|id| {
                let (mb, wakes) = (mb.clone(), wakes.clone());
                thread::spawn(move || {
                    if mb.post(id.to_owned()) {
                        wakes.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        // The listener (this thread) takes once for each wake it receives: here at most one
        // while the submitters run, then the rest after they are done. A post that raced with
        // a take must have left a wake behind, or its id is never taken.
        let mut taken = Vec::new();
        let mut received = 0;
        if wakes.load(Ordering::SeqCst) > received {
            received += 1;
            taken.extend(mb.take());
        }
        for s in submitters {
            s.join().unwrap();
        }
        while received < wakes.load(Ordering::SeqCst) {
            received += 1;
            taken.extend(mb.take());
        }
        taken.sort();
        assert_eq!(taken, vec!["a".to_owned(), "b".to_owned()]);
    });
}
