//! Any change to any byte of any message is rejected, and a rejected
//! message changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use dmseal::{Account, PreKeyMessage, Session};

fn snapshot(s: &Session) -> Vec<u8> {
    s.pickle().to_bytes().to_vec()
}

#[test]
fn every_bit_flip_of_a_normal_message_is_rejected_and_changes_nothing() {
    let (mut a, mut b) = established(20);
    // Leave a skipped key pending so every part of the state is exercised.
    let skipped = a.encrypt(b"skipped").unwrap();
    let m = a.encrypt(b"the message").unwrap();
    let before = snapshot(&b);
    for bit in 0..m.len() * 8 {
        assert!(b.decrypt(&flip(&m, bit)).is_err(), "bit {bit} flip accepted");
        assert_eq!(snapshot(&b), before, "bit {bit} flip changed the session");
    }
    assert_eq!(b.decrypt(&m).unwrap(), b"the message");
    assert_eq!(b.decrypt(&skipped).unwrap(), b"skipped");
}

#[test]
fn every_bit_flip_of_a_prekey_message_is_rejected_by_the_account_and_changes_nothing() {
    let mut r = rng(21);
    for with_otk in [true, false] {
        let (mut bob, bundle) = bob_with_bundle(&mut r, with_otk);
        let alice = Account::new_with_rng(&mut r);
        let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"first").unwrap();
        let before = bob.pickle().to_bytes();
        for bit in 0..first.len() * 8 {
            let opened = PreKeyMessage::decode(&flip(&first, bit)).map(|m| bob.open_first_message(&m, CONTEXT, 0));
            assert!(!matches!(opened, Ok(Ok(_))), "bit {bit} flip accepted");
        }
        assert_eq!(bob.pickle().to_bytes(), before);
        let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
        assert_eq!(pending.plaintext(), b"first");
        bob.accept(pending).unwrap();
    }
}

#[test]
fn every_bit_flip_of_a_repeated_prekey_message_is_rejected_by_the_session() {
    let (_alice, mut a, _bob, mut b) = pair(22, false);
    let second = a.encrypt(b"second").unwrap();
    let before = snapshot(&b);
    for bit in 0..second.len() * 8 {
        assert!(b.decrypt(&flip(&second, bit)).is_err(), "bit {bit} flip accepted");
        assert_eq!(snapshot(&b), before, "bit {bit} flip changed the session");
    }
    assert_eq!(b.decrypt(&second).unwrap(), b"second");
}

#[test]
fn truncation_at_every_length_fails_cleanly() {
    let (_alice, mut a, _bob, mut b) = pair(23, true);
    let prekey = a.encrypt(b"prekey").unwrap();
    let before = snapshot(&b);
    for len in 0..prekey.len() {
        assert!(b.decrypt(&prekey[..len]).is_err());
    }
    assert_eq!(snapshot(&b), before);
    assert_eq!(b.decrypt(&prekey).unwrap(), b"prekey");
    let normal = b.encrypt(b"normal").unwrap();
    for len in 0..normal.len() {
        assert!(a.decrypt(&normal[..len]).is_err());
    }
    assert_eq!(a.decrypt(&normal).unwrap(), b"normal");
}

#[test]
fn a_message_from_another_session_is_rejected() {
    let (mut a1, _b1) = established(24);
    let (_a2, mut b2) = established(25);
    let m = a1.encrypt(b"wrong session").unwrap();
    let before = snapshot(&b2);
    assert!(b2.decrypt(&m).is_err());
    assert_eq!(snapshot(&b2), before);
}
