//! Persistence: pickles round-trip, refuse the wrong type, key or version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use dmseal::{Account, AccountPickle, PICKLE_VERSION, PickleError, Session, SessionPickle};

const KEY: [u8; 32] = [7; 32];

#[test]
fn a_session_survives_a_pickle_round_trip_mid_conversation_with_skipped_keys_pending() {
    let (mut a, mut b) = established(50);
    let ms: Vec<_> = (0..6u8).map(|i| a.encrypt(&[i]).unwrap()).collect();
    b.decrypt(&ms[5]).unwrap();
    assert_eq!(b.skipped_message_keys(), 5);
    let encrypted = b.pickle().encrypt(&KEY);
    let plain = b.pickle().to_bytes();
    drop(b);
    let mut b = Session::from_pickle(&SessionPickle::from_encrypted(&encrypted, &KEY).unwrap()).unwrap();
    let mut b2 = Session::from_pickle(&SessionPickle::from_bytes(&plain).unwrap()).unwrap();
    for (i, m) in ms[..5].iter().enumerate().rev() {
        assert_eq!(b.decrypt(m).unwrap(), [i as u8]);
        assert_eq!(b2.decrypt(m).unwrap(), [i as u8]);
    }
    let reply = b.encrypt(b"after restore").unwrap();
    assert_eq!(a.decrypt(&reply).unwrap(), b"after restore");
}

#[test]
fn an_account_survives_a_pickle_round_trip() {
    let mut r = rng(51);
    let (bob, bundle) = bob_with_bundle(&mut r, true);
    let restored =
        Account::from_pickle(&AccountPickle::from_encrypted(&bob.pickle().encrypt(&KEY), &KEY).unwrap()).unwrap();
    assert_eq!(restored.identity(), bob.identity());
    assert_eq!(restored.prekey_bundle(Some(1), None).unwrap(), bundle);
    assert_eq!(restored.pickle().to_bytes(), bob.pickle().to_bytes());
}

#[test]
fn an_account_pickle_is_refused_where_a_session_pickle_is_expected() {
    let mut r = rng(52);
    let (bob, _) = bob_with_bundle(&mut r, false);
    let encrypted = bob.pickle().encrypt(&KEY);
    assert_eq!(
        SessionPickle::from_encrypted(&encrypted, &KEY).err(),
        Some(PickleError::WrongType { found: 1, expected: 2 })
    );
    let plain = bob.pickle().to_bytes();
    assert_eq!(SessionPickle::from_bytes(&plain).err(), Some(PickleError::WrongType { found: 1, expected: 2 }));
    // And the type byte cannot simply be rewritten: it is associated data.
    let mut relabelled = encrypted.clone();
    relabelled[4] = 2;
    assert_eq!(SessionPickle::from_encrypted(&relabelled, &KEY).err(), Some(PickleError::WrongKeyOrCorrupted));
}

#[test]
fn a_wrong_key_and_corruption_are_one_error() {
    let (_a, b) = established(53);
    let encrypted = b.pickle().encrypt(&KEY);
    assert_eq!(SessionPickle::from_encrypted(&encrypted, &[8; 32]).err(), Some(PickleError::WrongKeyOrCorrupted));
    for i in 9..encrypted.len() {
        let mut c = encrypted.clone();
        c[i] ^= 0x10;
        assert_eq!(SessionPickle::from_encrypted(&c, &KEY).err(), Some(PickleError::WrongKeyOrCorrupted), "byte {i}");
    }
}

#[test]
fn an_unknown_pickle_version_is_reported_as_such() {
    let (_a, b) = established(54);
    let mut encrypted = b.pickle().encrypt(&KEY);
    encrypted[5..9].copy_from_slice(&(PICKLE_VERSION + 1).to_be_bytes());
    assert_eq!(
        SessionPickle::from_encrypted(&encrypted, &KEY).err(),
        Some(PickleError::UnsupportedVersion { found: PICKLE_VERSION + 1, supported: PICKLE_VERSION })
    );
}

#[test]
fn the_same_state_never_encrypts_to_the_same_bytes() {
    let (_a, b) = established(55);
    assert_ne!(b.pickle().encrypt(&KEY), b.pickle().encrypt(&KEY));
}

#[test]
fn malformed_pickle_bytes_are_refused_without_panicking() {
    let (_a, b) = established(56);
    let plain = b.pickle().to_bytes();
    for len in 0..plain.len() {
        assert!(SessionPickle::from_bytes(&plain[..len]).is_err());
    }
    let mut r = rng(57);
    for _ in 0..2000 {
        let len = (rand_core::Rng::next_u32(&mut r) % 400) as usize;
        let mut junk = vec![0u8; len];
        rand_core::Rng::fill_bytes(&mut r, &mut junk);
        if junk.len() >= 9 {
            junk[..9].copy_from_slice(&plain[..9]);
        }
        if let Ok(p) = SessionPickle::from_bytes(&junk) {
            let _ = Session::from_pickle(&p);
        }
        let _ = AccountPickle::from_bytes(&junk);
        let _ = SessionPickle::from_encrypted(&junk, &KEY);
    }
}

#[test]
fn rotations_with_different_grace_periods_survive_a_pickle_round_trip() {
    let mut r = rng(58);
    let (mut bob, _) = bob_with_bundle(&mut r, false);
    bob.rotate_signed_prekey_with_rng(&mut r, 0, 1_000).unwrap();
    bob.rotate_signed_prekey_with_rng(&mut r, 10, 100).unwrap();
    let restored = Account::from_pickle(&bob.pickle()).unwrap();
    assert_eq!(restored.pickle().to_bytes(), bob.pickle().to_bytes());
}

/// The XOR of two byte strings, as long as the shorter.
fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

#[test]
fn two_encryptions_after_restoring_an_old_session_do_not_share_key_and_nonce() {
    let (mut a, _b) = established(60);
    // A sending chain exists (a backup taken before the DH ratchet step
    // would draw a fresh ratchet key on restore: no reuse there).
    a.encrypt(b"warm").unwrap();
    let backup = a.pickle();
    let one = a.encrypt(b"transfer 100 to carol").unwrap();
    // Restored from the backup (or a cloned VM), the session encrypts at
    // the same chain position again.
    let mut restored = Session::from_pickle(&backup).unwrap();
    let two = restored.encrypt(b"meet me at 9 tonight!").unwrap();
    let header = one.len() - 21 - 16;
    assert_eq!(one[..header], two[..header], "same ratchet key and counters: the same position");
    // A shared keystream would make the XOR of the ciphertexts the XOR of
    // the plaintexts; with the synthetic IV it is not, and the IVs differ.
    assert_ne!(
        xor(&one[header..header + 21], &two[header..header + 21]),
        xor(b"transfer 100 to carol", b"meet me at 9 tonight!")
    );
    assert_ne!(one[one.len() - 16..], two[two.len() - 16..]);
    // All a reuse reveals is equality: the same plaintext gives the same bytes.
    let mut again = Session::from_pickle(&backup).unwrap();
    assert_eq!(again.encrypt(b"transfer 100 to carol").unwrap(), one);
}

#[test]
fn two_group_encryptions_after_restoring_an_old_state_do_not_share_key_and_nonce() {
    let mut alice = dmseal::Group::new(b"g", b"alice").unwrap();
    alice.add_member(b"bob").unwrap();
    let mut r = rng(61);
    let _ = alice.encrypt_with_rng(&mut r, b"first", 0).unwrap();
    let backup = alice.pickle();
    let one = alice.encrypt_with_rng(&mut r, b"transfer 100 to carol", 0).unwrap().message;
    let mut restored = dmseal::Group::from_pickle(&backup).unwrap();
    let two = restored.encrypt_with_rng(&mut r, b"meet me at 9 tonight!", 0).unwrap().message;
    let header = one.len() - 21 - 16 - 64;
    assert_eq!(one[..header], two[..header], "same state and index");
    assert_ne!(
        xor(&one[header..header + 21], &two[header..header + 21]),
        xor(b"transfer 100 to carol", b"meet me at 9 tonight!")
    );
}
