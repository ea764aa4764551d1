//! Session setup: bundles, first messages, replay and routing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use dmseal::{
    AcceptError, Account, DecodeError, DecryptError, Envelope, FirstMessageError, KeyError, PreKeyBundle,
    PreKeyMessage, StartError,
};

#[test]
fn first_message_decrypts_and_the_reply_flows_back() {
    for with_otk in [true, false] {
        let (alice, mut a, _bob, mut b) = pair(1, with_otk);
        assert_eq!(b.peer_identity(), alice.identity());
        let reply = b.encrypt(b"hello").unwrap();
        assert_eq!(a.decrypt(&reply).unwrap(), b"hello");
        assert!(a.is_acknowledged());
    }
}

#[test]
fn every_bit_flip_of_a_bundle_makes_setup_fail_or_the_first_message_undecryptable() {
    let mut r = rng(2);
    let (bob, bundle) = bob_with_bundle(&mut r, true);
    let alice = Account::new_with_rng(&mut r);
    let bytes = bundle.encode();
    for bit in 0..bytes.len() * 8 {
        let flipped = flip(&bytes, bit);
        let Ok(bundle) = PreKeyBundle::decode(&flipped) else {
            continue;
        };
        let Ok((_, first)) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x") else {
            continue;
        };
        let opened = PreKeyMessage::decode(&first).map(|m| bob.open_first_message(&m, CONTEXT, 0));
        assert!(!matches!(opened, Ok(Ok(_))), "bundle bit {bit} flip went unnoticed");
    }
}

#[test]
fn a_bundle_with_a_bad_signed_prekey_signature_is_refused() {
    let mut r = rng(3);
    let (_bob, bundle) = bob_with_bundle(&mut r, false);
    let mut bytes = bundle.encode();
    // The signature sits after version, type, flags, identity, id and key.
    let sig_at = 3 + 128 + 4 + 32;
    bytes[sig_at + 5] ^= 0x40;
    let bundle = PreKeyBundle::decode(&bytes).unwrap();
    let alice = Account::new_with_rng(&mut r);
    assert_eq!(
        alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").err(),
        Some(StartError::BadSignedPreKeySignature)
    );
}

#[test]
fn a_bundle_whose_identity_binding_fails_is_refused() {
    let mut r = rng(4);
    let (_bob, bundle) = bob_with_bundle(&mut r, false);
    let other = Account::new_with_rng(&mut r);
    let mut bytes = bundle.encode();
    // Swap in another identity's X25519 key: the binding no longer holds.
    bytes[3 + 32..3 + 64].copy_from_slice(other.identity().agreement_key().as_bytes());
    assert_eq!(PreKeyBundle::decode(&bytes), Err(DecodeError::BadIdentityBinding));
}

#[test]
fn flipping_bit_255_of_any_received_x25519_key_is_refused() {
    let mut r = rng(5);
    let (bob, bundle) = bob_with_bundle(&mut r, true);
    let bytes = bundle.encode();
    // Identity X25519 key, signed prekey, one-time prekey (after the
    // signed prekey's signature and capabilities byte).
    for key_at in [3 + 32, 3 + 128 + 4, 3 + 128 + 4 + 32 + 64 + 1 + 4] {
        let b = flip(&bytes, (key_at + 31) * 8 + 7);
        assert_eq!(PreKeyBundle::decode(&b), Err(DecodeError::InvalidKey(KeyError::NonCanonical)), "at {key_at}");
    }
    let alice = Account::new_with_rng(&mut r);
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    // Initiator identity key, base key, ratchet key of the inner message
    // (the inner message is the last 36 + 66 + 17 bytes: header with
    // one-byte counters, the KEM ratchet's epoch, chunk byte and chunk,
    // "x" and tag).
    let inner = first.len() - (36 + 66 + 1 + 16);
    for key_at in [3 + 32, 3 + 128 + 4, inner + 2] {
        let m = flip(&first, (key_at + 31) * 8 + 7);
        assert_eq!(PreKeyMessage::decode(&m), Err(DecodeError::InvalidKey(KeyError::NonCanonical)), "at {key_at}");
    }
    let _ = bob;
}

#[test]
fn every_low_order_x25519_encoding_is_refused_as_a_base_key() {
    let mut r = rng(6);
    let (_bob, bundle) = bob_with_bundle(&mut r, true);
    let alice = Account::new_with_rng(&mut r);
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    let base_at = 3 + 128 + 4;
    let p_minus_1 = {
        let mut k = [0xffu8; 32];
        k[0] = 0xec;
        k[31] = 0x7f;
        k
    };
    let mut low: Vec<[u8; 32]> = vec![
        [0; 32],
        {
            let mut k = [0; 32];
            k[0] = 1;
            k
        },
        p_minus_1,
    ];
    for p in curve25519_dalek::constants::EIGHT_TORSION.iter() {
        low.push(p.to_montgomery().to_bytes());
    }
    // Non-canonical aliases: + p where it fits, and bit 255 set.
    let mut aliases = Vec::new();
    for k in &low {
        let mut high = *k;
        high[31] |= 0x80;
        aliases.push(high);
    }
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    aliases.push(p); // 0 + p
    let mut p1 = p;
    p1[0] = 0xee;
    aliases.push(p1); // 1 + p
    for k in low.iter().chain(&aliases) {
        let mut m = first.clone();
        m[base_at..base_at + 32].copy_from_slice(k);
        let err = PreKeyMessage::decode(&m).unwrap_err();
        assert!(
            matches!(err, DecodeError::InvalidKey(KeyError::LowOrder | KeyError::NonCanonical)),
            "{k:02x?}: {err:?}"
        );
    }
}

#[test]
fn adding_each_torsion_point_to_the_base_key_makes_the_first_message_fail() {
    use curve25519_dalek::montgomery::MontgomeryPoint;
    let mut r = rng(7);
    let (bob, bundle) = bob_with_bundle(&mut r, true);
    let alice = Account::new_with_rng(&mut r);
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    let base_at = 3 + 128 + 4;
    let base = MontgomeryPoint(first[base_at..base_at + 32].try_into().unwrap());
    let mut tried = 0;
    for sign in [0u8, 1] {
        let Some(edwards) = base.to_edwards(sign) else { continue };
        for t in curve25519_dalek::constants::EIGHT_TORSION.iter().skip(1) {
            let shifted = (edwards + t).to_montgomery().to_bytes();
            if shifted == base.to_bytes() {
                continue;
            }
            let mut m = first.clone();
            m[base_at..base_at + 32].copy_from_slice(&shifted);
            let Ok(msg) = PreKeyMessage::decode(&m) else { continue };
            tried += 1;
            assert!(bob.open_first_message(&msg, CONTEXT, 0).is_err());
        }
    }
    assert!(tried >= 7, "only {tried} torsion variants reached decryption");
}

#[test]
fn a_message_under_another_context_fails() {
    let mut r = rng(8);
    let (bob, bundle) = bob_with_bundle(&mut r, true);
    let alice = Account::new_with_rng(&mut r);
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    let m = PreKeyMessage::decode(&first).unwrap();
    assert!(matches!(
        bob.open_first_message(&m, b"alice:phone|mallory:laptop", 0),
        Err(FirstMessageError::Message(DecryptError::AuthenticationFailed))
    ));
    assert!(bob.open_first_message(&m, CONTEXT, 0).is_ok());
}

#[test]
fn repeated_prekey_messages_before_the_first_reply_decrypt() {
    let mut r = rng(9);
    let (mut bob, bundle) = bob_with_bundle(&mut r, false);
    let alice = Account::new_with_rng(&mut r);
    let (mut a, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"one").unwrap();
    let second = a.encrypt(b"two").unwrap();
    let third = a.encrypt(b"three").unwrap();
    // All three are prekey messages naming the same session.
    for m in [&second, &third] {
        assert!(matches!(Envelope::decode(m).unwrap(), Envelope::PreKey(_)));
    }
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let mut b = bob.accept(pending).unwrap();
    // Delivered out of order; routed to the session because it matches.
    let third_msg = PreKeyMessage::decode(&third).unwrap();
    assert!(b.matches(&third_msg));
    assert_eq!(b.decrypt(&third).unwrap(), b"three");
    assert_eq!(b.decrypt(&second).unwrap(), b"two");
    assert_eq!(b.decrypt(&second), Err(DecryptError::DuplicateOrExpired));
    // After a reply, Alice sends normal messages.
    a.decrypt(&b.encrypt(b"ok").unwrap()).unwrap();
    assert!(matches!(Envelope::decode(&a.encrypt(b"n").unwrap()).unwrap(), Envelope::Normal(_)));
}

#[test]
fn a_first_message_without_one_time_prekey_never_yields_a_second_session() {
    let mut r = rng(10);
    let (mut bob, bundle) = bob_with_bundle(&mut r, false);
    let alice = Account::new_with_rng(&mut r);
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    let m = PreKeyMessage::decode(&first).unwrap();
    // Opening twice changes nothing; both pendings exist.
    let p1 = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    let p2 = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    let _session = bob.accept(p1).unwrap();
    // Replayed after the session exists, to the account: refused.
    assert_eq!(bob.open_first_message(&m, CONTEXT, 0).err(), Some(FirstMessageError::Replay));
    assert_eq!(bob.accept(p2).err(), Some(AcceptError::Replay));

    // And after a decline.
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"y").unwrap();
    let m = PreKeyMessage::decode(&first).unwrap();
    let p = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    bob.decline(p).unwrap();
    assert_eq!(bob.open_first_message(&m, CONTEXT, 0).err(), Some(FirstMessageError::Replay));
}

#[test]
fn a_first_message_with_one_time_prekey_is_refused_once_it_is_consumed() {
    let (alice, _a, mut bob, _b) = pair(11, true);
    let _ = alice;
    let mut r = rng(12);
    let bundle = bob.prekey_bundle(Some(2), None).unwrap();
    let alice = Account::new_with_rng(&mut r);
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    let m = PreKeyMessage::decode(&first).unwrap();
    let p = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    let before = bob.unused_published_one_time_prekeys();
    bob.decline(p).unwrap();
    assert_eq!(bob.unused_published_one_time_prekeys(), before - 1);
    assert_eq!(
        bob.open_first_message(&m, CONTEXT, 0).err(),
        Some(FirstMessageError::OneTimePreKeyUnavailable { id: 2 })
    );
}

#[test]
fn opening_a_first_message_changes_nothing_until_accepted() {
    let mut r = rng(13);
    let (bob, bundle) = bob_with_bundle(&mut r, true);
    let before = bob.pickle().to_bytes();
    let alice = Account::new_with_rng(&mut r);
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    drop(pending);
    assert_eq!(bob.pickle().to_bytes(), before);
}

#[test]
fn a_pending_session_from_another_account_is_refused() {
    let mut r = rng(14);
    let (bob, bundle) = bob_with_bundle(&mut r, true);
    let mut carol = Account::new_with_rng(&mut r);
    let alice = Account::new_with_rng(&mut r);
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    assert_eq!(carol.accept(pending).err(), Some(AcceptError::WrongAccount));
}

#[test]
fn own_bundle_and_overlong_context_are_refused() {
    let mut r = rng(15);
    let (bob, bundle) = bob_with_bundle(&mut r, true);
    assert_eq!(bob.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").err(), Some(StartError::OwnBundle));
    let alice = Account::new_with_rng(&mut r);
    let long = vec![0u8; dmseal::limits::MAX_CONTEXT_LEN + 1];
    assert!(alice.start_session_with_rng(&mut r, &bundle, &long[..dmseal::limits::MAX_CONTEXT_LEN], b"x").is_ok());
    assert_eq!(
        alice.start_session_with_rng(&mut r, &bundle, &long, b"x").err(),
        Some(StartError::ContextTooLong { len: long.len(), max: dmseal::limits::MAX_CONTEXT_LEN })
    );
}

#[test]
fn beginning_a_session_then_encrypting_gives_the_bytes_start_session_gives() {
    let mut r = rng(40);
    let (_bob, bundle) = bob_with_bundle(&mut r, true);
    let alice = Account::new_with_rng(&mut r);
    let (_, started) = alice.start_session_with_rng(&mut rng(41), &bundle, CONTEXT, b"hello").unwrap();
    // The same RNG through both calls: the first encryption draws the KEM
    // ratchet's first key pair after setup's draws, as start_session does.
    let mut same = rng(41);
    let mut begun = alice.begin_session_with_rng(&mut same, &bundle, CONTEXT).unwrap();
    assert_eq!(begun.encrypt_with_rng(&mut same, b"hello").unwrap(), started);
    // Until a reply, every message is a prekey message of the same session.
    let second = begun.encrypt(b"again").unwrap();
    assert!(matches!(dmseal::Envelope::decode(&second).unwrap(), dmseal::Envelope::PreKey(_)));
}
