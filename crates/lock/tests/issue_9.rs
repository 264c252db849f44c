//! Issue 9: an `RLock` whose owner exited while holding it (its guard leaked with
//! `mem::forget`) stays held, and no later thread is mistaken for that owner.

use std::{mem, sync::Arc, thread, time::Duration};

use weft_lock::RLock;

#[test]
fn a_dead_owner_is_never_impersonated_by_later_threads() {
    let lock = Arc::new(RLock::new(()));
    let l = Arc::clone(&lock);
    thread::spawn(move || {
        let lock = l;
        let g = lock.acquire();
        let inner = lock.acquire();
        assert_eq!(lock.recursion_count(), 2);
        mem::forget(inner);
        mem::forget(g);
    })
    .join()
    .unwrap();
    assert!(lock.locked());

    // Before the fix every one of these threads re-entered the lock: each was given the
    // thread-local address (the owner id) that the dead owner had, as a thread's stack and
    // thread-local block are reused by the next thread. Nothing here blocks (a try and a 1 ms
    // timed acquire), so the joins cannot hang.
    let mut entered = 0;
    for _ in 0..20 {
        let lock = Arc::clone(&lock);
        let (owned, depth, got, timed) = thread::spawn(move || {
            (
                lock.is_owned(),
                lock.recursion_count(),
                lock.try_acquire().map(mem::forget).is_some(),
                lock.acquire_timeout(Duration::from_millis(1))
                    .map(mem::forget)
                    .is_some(),
            )
        })
        .join()
        .unwrap();
        if owned || depth != 0 || got || timed {
            entered += 1;
        }
    }
    assert_eq!(
        entered, 0,
        "{entered} of 20 later threads entered a dead owner's lock"
    );
    assert!(lock.locked() && !lock.is_owned());
}

#[test]
fn thread_ids_differ_between_live_and_successive_threads() {
    // The id that replaced the thread-local address: distinct for threads alive at once and for
    // threads that follow one another (where addresses are reused).
    let lock = Arc::new(RLock::new(()));
    let g = lock.acquire();
    for _ in 0..20 {
        let l = Arc::clone(&lock);
        let seen = thread::spawn(move || (l.is_owned(), l.try_acquire().is_some()))
            .join()
            .unwrap();
        assert_eq!(seen, (false, false));
    }
    drop(g);
    assert!(!lock.locked());
}
