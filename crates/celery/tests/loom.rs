//! loom models of weft-celery's in-process protocols (the network parts are tested against a
//! real Redis in `tests/worker.rs` and `tests/interop.rs`).

use weft_celery::mailbox::Mailbox;
use weft_sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
    thread,
};

/// Two submitters post while the listener takes: every id posted is taken by the listener,
/// either in a take it was already going to do or in one that a wake asked for.
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
        // The listener's loop: one take, then one take per wake it has seen.
        let mut taken = mb.take();
        let mut handled = 0;
        for s in submitters {
            s.join().unwrap();
        }
        while handled < wakes.load(Ordering::SeqCst) {
            handled += 1;
            taken.extend(mb.take());
        }
        taken.sort();
        assert_eq!(taken, vec!["a".to_owned(), "b".to_owned()]);
    });
}
