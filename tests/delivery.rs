//! Out-of-order delivery, loss, duplicates, and the limits on them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use dmseal::limits::{MAX_CHAIN_JUMP, MAX_RECEIVING_CHAINS, MAX_SKIPPED_KEYS_PER_CHAIN};
use dmseal::{DecryptError, Session};

fn send(s: &mut Session, n: u32) -> Vec<Vec<u8>> {
    (0..n).map(|i| s.encrypt(&i.to_be_bytes()).unwrap()).collect()
}

#[test]
fn out_of_order_within_and_across_ratchet_steps() {
    let (mut a, mut b) = established(30);
    let first_run = send(&mut a, 5);
    b.decrypt(&first_run[3]).unwrap();
    let reply = b.encrypt(b"r").unwrap();
    a.decrypt(&reply).unwrap();
    let second_run = send(&mut a, 3);
    b.decrypt(&second_run[2]).unwrap();
    // The rest of the first chain (announced by the second) and of the
    // second, in reverse.
    for m in second_run[..2].iter().rev().chain(first_run.iter().rev()) {
        if m == &first_run[3] {
            continue;
        }
        assert!(b.decrypt(m).is_ok());
    }
}

#[test]
fn a_replayed_message_is_rejected() {
    let (mut a, mut b) = established(31);
    let m = a.encrypt(b"once").unwrap();
    assert_eq!(b.decrypt(&m).unwrap(), b"once");
    assert_eq!(b.decrypt(&m), Err(DecryptError::DuplicateOrExpired));
    // Also for a message read from the skipped store.
    let ms = send(&mut a, 2);
    b.decrypt(&ms[1]).unwrap();
    b.decrypt(&ms[0]).unwrap();
    assert_eq!(b.decrypt(&ms[0]), Err(DecryptError::DuplicateOrExpired));
}

#[test]
fn a_counter_jump_of_exactly_the_limit_is_accepted_and_one_more_is_rejected() {
    for (extra, ok) in [(0u32, true), (1, false)] {
        let (mut a, mut b) = established(32);
        let ms = send(&mut a, MAX_CHAIN_JUMP + 2 + extra);
        b.decrypt(&ms[0]).unwrap(); // next expected counter: 1
        let target = &ms[(1 + MAX_CHAIN_JUMP + extra) as usize];
        let result = b.decrypt(target);
        if ok {
            assert!(result.is_ok());
        } else {
            assert_eq!(result, Err(DecryptError::TooFarAhead { got: MAX_CHAIN_JUMP + 1, max: MAX_CHAIN_JUMP }));
        }
        assert!(b.skipped_message_keys() <= MAX_SKIPPED_KEYS_PER_CHAIN);
    }
}

#[test]
fn a_previous_chain_jump_of_exactly_the_limit_is_accepted_and_one_more_is_rejected() {
    for (extra, ok) in [(0u32, true), (1, false)] {
        let (mut a, mut b) = established(33);
        // A sends 1 + limit (+ extra) messages; B reads only the first.
        let ms = send(&mut a, 1 + MAX_CHAIN_JUMP + extra);
        b.decrypt(&ms[0]).unwrap();
        // B replies on a new chain; A reads it and ratchets on its next
        // message, announcing its previous chain's length.
        let r = b.encrypt(b"r").unwrap();
        a.decrypt(&r).unwrap();
        let next = a.encrypt(b"after").unwrap();
        let result = b.decrypt(&next);
        if ok {
            assert_eq!(result.unwrap(), b"after");
            // The old chain was closed at the announced length.
            assert!(b.decrypt(ms.last().unwrap()).is_ok());
        } else {
            assert_eq!(result, Err(DecryptError::TooFarAhead { got: MAX_CHAIN_JUMP + 1, max: MAX_CHAIN_JUMP }));
        }
        assert!(b.skipped_message_keys() <= MAX_SKIPPED_KEYS_PER_CHAIN * MAX_RECEIVING_CHAINS);
    }
}

#[test]
fn stored_skipped_keys_never_exceed_the_cap() {
    let (mut a, mut b) = established(34);
    let mut r = rng(35);
    let mut max_seen = 0;
    for _ in 0..(MAX_RECEIVING_CHAINS + 2) {
        let ms: Vec<_> =
            (0..MAX_SKIPPED_KEYS_PER_CHAIN + 50).map(|_| a.encrypt_with_rng(&mut r, b"m").unwrap()).collect();
        b.decrypt(ms.last().unwrap()).unwrap();
        max_seen = max_seen.max(b.skipped_message_keys());
        a.decrypt(&b.encrypt_with_rng(&mut r, b"r").unwrap()).unwrap();
    }
    assert!(max_seen <= MAX_SKIPPED_KEYS_PER_CHAIN * MAX_RECEIVING_CHAINS);
    assert_eq!(b.skipped_message_keys(), MAX_SKIPPED_KEYS_PER_CHAIN * MAX_RECEIVING_CHAINS);
}
