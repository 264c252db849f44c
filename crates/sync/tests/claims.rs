//! `Claims` on real threads (and under Miri, which checks the slots' accesses).
#![allow(clippy::disallowed_types)]

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering::SeqCst},
};

use weft_sync::claims::Claims;

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn three_threads_work_through_the_items_in_blocks() {
    let n = if cfg!(miri) { 50 } else { 10_000 };
    let claims = Claims::new((0..n).collect::<Vec<u64>>());
    let tokens = std::thread::scope(|s| {
        let run = || {
            let mut token = None;
            while let Some(mut claim) = claims.claim(7) {
                while let Some((at, x)) = claim.take() {
                    assert_eq!(at as u64, x);
                    claim.put(x * 2);
                }
                token = token.or(claim.settle());
            }
            token
        };
        let hs: Vec<_> = (0..3).map(|_| s.spawn(run)).collect();
        hs.into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(tokens.len(), 1, "exactly one claim settles last");
    let (values, failed) = claims.finish(tokens.into_iter().next().unwrap());
    assert!(values.iter().copied().eq((0..n).map(|x| x * 2)));
    assert!(failed.is_empty());
}

#[test]
fn items_without_a_result_are_listed_and_every_item_is_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let claims: Claims<Counted, Counted> =
        Claims::new((0..6).map(|_| Counted(drops.clone())).collect());
    let mut a = claims.claim(4).unwrap();
    // 0: a result; 1: taken, no result (its run failed); 2: a result; 3 never taken.
    let (_, x) = a.take().unwrap();
    a.put(x);
    drop(a.take().unwrap());
    let (_, x) = a.take().unwrap();
    a.put(x);
    assert!(a.settle().is_none());
    // 4 and 5: split off, and the parcel redeemed.
    let mut b = claims.claim(2).unwrap();
    let parcel = b.split_off().unwrap();
    assert!(b.settle().is_none());
    let mut c = claims.redeem(parcel);
    while let Some((_, x)) = c.take() {
        c.put(x);
    }
    let (values, failed) = claims.finish(c.settle().unwrap());
    assert_eq!(values.len(), 4);
    assert_eq!(failed, [1, 3]);
    // Items 1 and 3 were dropped without a result; the four results are still alive.
    assert_eq!(drops.load(SeqCst), 2);
    drop(values);
    assert_eq!(drops.load(SeqCst), 6);
}

#[test]
fn an_unfinished_claims_drops_the_items_never_claimed() {
    let drops = Arc::new(AtomicUsize::new(0));
    let claims: Claims<Counted, ()> = Claims::new((0..5).map(|_| Counted(drops.clone())).collect());
    let mut a = claims.claim(2).unwrap();
    let (_, x) = a.take().unwrap();
    drop(x);
    a.put(());
    // The unsettled claim's untaken item is dropped when it settles on drop.
    drop(a);
    assert_eq!(drops.load(SeqCst), 2);
    drop(claims);
    assert_eq!(drops.load(SeqCst), 5);
}

#[test]
#[should_panic(expected = "another Claims")]
fn a_parcel_is_redeemed_only_where_it_was_made() {
    let first = Claims::<u8, u8>::new(vec![1, 2]);
    let second = Claims::<u8, u8>::new(vec![1, 2]);
    let mut claim = first.claim(2).unwrap();
    let parcel = claim.split_off().unwrap();
    let _ = second.redeem(parcel);
}

#[test]
#[should_panic(expected = "put without an item taken")]
fn a_put_needs_a_taken_item() {
    let claims = Claims::<u8, u8>::new(vec![1]);
    let mut claim = claims.claim(1).unwrap();
    claim.put(0);
}
