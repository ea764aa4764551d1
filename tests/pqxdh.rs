//! Post-quantum session setup (PQXDH with ML-KEM-768), its replay rules
//! and the refusal to downgrade.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use dmseal::{
    AcceptError, Account, ClassicX3dh, DecryptError, FirstMessageError, PqPreKeyKind, PreKeyBundle, PreKeyMessage,
    SessionSetup, StartError,
};

/// Bob with one-time prekeys of both kinds, published.
fn bob(seed: u64) -> Account {
    let mut r = rng(seed);
    let mut bob = Account::new_with_rng(&mut r);
    let otks = bob.generate_one_time_prekeys_with_rng(&mut r, 3).unwrap();
    let pqs = bob.generate_pq_one_time_prekeys_with_rng(&mut r, 3).unwrap();
    bob.mark_one_time_prekeys_published(&otks.iter().map(|k| k.id()).collect::<Vec<_>>()).unwrap();
    bob.mark_pq_one_time_prekeys_published(&pqs.iter().map(|k| k.id()).collect::<Vec<_>>()).unwrap();
    bob
}

fn first_message(bundle: &PreKeyBundle, seed: u64) -> (Account, dmseal::Session, Vec<u8>) {
    let mut r = rng(seed);
    let alice = Account::new_with_rng(&mut r);
    let (s, first) = alice.start_session_with_rng(&mut r, bundle, CONTEXT, b"post-quantum hello").unwrap();
    (alice, s, first)
}

/// Offset of the PQ fields in a prekey message: version, type, flags,
/// identity, signed prekey id, base key, then the one-time prekey id.
fn pq_at(with_otk: bool) -> usize {
    3 + 128 + 4 + 32 + if with_otk { 4 } else { 0 }
}

#[test]
fn a_pqxdh_session_decrypts_both_ways_and_reports_its_setup() {
    for pq_one_time in [Some(1), None] {
        let mut bob = bob(100);
        let bundle = bob.prekey_bundle(Some(1), pq_one_time).unwrap();
        let (_alice, mut a, first) = first_message(&bundle, 101);
        assert_eq!(a.setup(), SessionSetup::Pqxdh);
        let m = PreKeyMessage::decode(&first).unwrap();
        let kind = if pq_one_time.is_some() { PqPreKeyKind::OneTime } else { PqPreKeyKind::LastResort };
        assert_eq!(m.pq_prekey(), Some((kind, 1)));
        let pending = bob.open_first_message(&m, CONTEXT, 0).unwrap();
        assert_eq!(pending.setup(), SessionSetup::Pqxdh);
        let mut b = bob.accept(pending).unwrap();
        assert_eq!(b.setup(), SessionSetup::Pqxdh);
        assert_eq!(a.decrypt(&b.encrypt(b"reply").unwrap()).unwrap(), b"reply");
        assert_eq!(b.decrypt(&a.encrypt(b"again").unwrap()).unwrap(), b"again");
    }
}

#[test]
fn the_one_time_pq_prekey_is_consumed() {
    let mut bob = bob(102);
    let bundle = bob.prekey_bundle(None, Some(2)).unwrap();
    let (_alice, _a, first) = first_message(&bundle, 103);
    let m = PreKeyMessage::decode(&first).unwrap();
    let p = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    assert_eq!(bob.unused_published_pq_one_time_prekeys(), 3);
    bob.accept(p).unwrap();
    assert_eq!(bob.unused_published_pq_one_time_prekeys(), 2);
    assert!(bob.pq_prekey(PqPreKeyKind::OneTime, 2).is_none());
    assert_eq!(
        bob.open_first_message(&m, CONTEXT, 0).err(),
        Some(FirstMessageError::UnknownPqPreKey { kind: PqPreKeyKind::OneTime, id: 2 })
    );
}

#[test]
fn a_tampered_kem_ciphertext_fails_cleanly_and_changes_nothing() {
    let mut bob = bob(104);
    let bundle = bob.prekey_bundle(Some(1), Some(1)).unwrap();
    let (_alice, _a, first) = first_message(&bundle, 105);
    let before = bob.pickle().to_bytes();
    let ct_at = pq_at(true) + 5;
    for offset in [0, 1, 500, 1087] {
        let tampered = flip(&first, (ct_at + offset) * 8 + 3);
        let m = PreKeyMessage::decode(&tampered).unwrap();
        assert_eq!(
            bob.open_first_message(&m, CONTEXT, 0).err(),
            Some(FirstMessageError::Message(DecryptError::AuthenticationFailed)),
            "ciphertext byte {offset}"
        );
    }
    assert_eq!(bob.pickle().to_bytes(), before);
    let p = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    bob.accept(p).unwrap();
}

#[test]
fn a_swapped_pq_prekey_id_or_kind_fails_cleanly_and_changes_nothing() {
    let bob = bob(106);
    let bundle = bob.prekey_bundle(None, Some(1)).unwrap();
    let (_alice, _a, first) = first_message(&bundle, 107);
    let before = bob.pickle().to_bytes();
    let at = pq_at(false);
    // Another existing one-time PQ prekey id: decapsulates under the wrong
    // key (implicit rejection), so decryption fails.
    let mut swapped = first.clone();
    swapped[at + 1..at + 5].copy_from_slice(&2u32.to_be_bytes());
    let m = PreKeyMessage::decode(&swapped).unwrap();
    assert_eq!(
        bob.open_first_message(&m, CONTEXT, 0).err(),
        Some(FirstMessageError::Message(DecryptError::AuthenticationFailed))
    );
    // The same id as the last-resort kind: also the wrong key.
    let mut as_last_resort = first.clone();
    as_last_resort[at] = PqPreKeyKind::LastResort.to_byte();
    let m = PreKeyMessage::decode(&as_last_resort).unwrap();
    assert!(bob.open_first_message(&m, CONTEXT, 0).is_err());
    // An unknown id.
    swapped[at + 1..at + 5].copy_from_slice(&99u32.to_be_bytes());
    let m = PreKeyMessage::decode(&swapped).unwrap();
    assert_eq!(
        bob.open_first_message(&m, CONTEXT, 0).err(),
        Some(FirstMessageError::UnknownPqPreKey { kind: PqPreKeyKind::OneTime, id: 99 })
    );
    assert_eq!(bob.pickle().to_bytes(), before);
}

#[test]
fn a_tampered_or_re_kinded_pq_prekey_signature_is_refused_by_the_initiator() {
    let bob = bob(108);
    let bundle = bob.prekey_bundle(None, Some(1)).unwrap();
    let bytes = bundle.encode();
    // The PQ prekey is last: kind (1), id (4), key type (1), key (1184), signature (64).
    let pq_at = bytes.len() - (1 + 4 + 1 + 1184 + 64);
    let alice = Account::new_with_rng(&mut rng(109));
    let cases = [
        ("signature", flip(&bytes, (bytes.len() - 10) * 8)),
        ("kind", {
            let mut b = bytes.clone();
            b[pq_at] = PqPreKeyKind::LastResort.to_byte();
            b
        }),
        ("id", {
            let mut b = bytes.clone();
            b[pq_at + 4] ^= 0x02;
            b
        }),
        ("key", flip(&bytes, (pq_at + 6 + 600) * 8 + 1)),
    ];
    for (what, b) in cases {
        match PreKeyBundle::decode(&b) {
            Ok(bundle) => assert_eq!(
                alice.start_session_with_rng(&mut rng(110), &bundle, CONTEXT, b"x").err(),
                Some(StartError::BadPqPreKeySignature),
                "{what}"
            ),
            // A changed key can fail the FIPS 203 modulus check instead.
            Err(e) => assert_eq!(what, "key", "{what}: {e:?}"),
        }
    }
}

#[test]
fn repeated_pq_prekey_messages_before_the_first_reply_decrypt() {
    let mut bob = bob(111);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (_alice, mut a, first) = first_message(&bundle, 112);
    let second = a.encrypt(b"second").unwrap();
    let third = a.encrypt(b"third").unwrap();
    let p = bob.open_first_message(&PreKeyMessage::decode(&third).unwrap(), CONTEXT, 0).unwrap();
    assert_eq!(p.plaintext(), b"third");
    let mut b = bob.accept(p).unwrap();
    assert_eq!(b.decrypt(&first).unwrap(), b"post-quantum hello");
    assert_eq!(b.decrypt(&second).unwrap(), b"second");
}

#[test]
fn a_replay_of_the_last_resort_triple_that_matches_no_session_is_refused() {
    let mut bob = bob(113);
    // No one-time prekey of either kind: signed prekey + last-resort PQ.
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (_alice, _a, first) = first_message(&bundle, 114);
    let m = PreKeyMessage::decode(&first).unwrap();
    let p1 = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    let p2 = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    bob.accept(p1).unwrap();
    assert_eq!(bob.open_first_message(&m, CONTEXT, 0).err(), Some(FirstMessageError::Replay));
    assert_eq!(bob.accept(p2).err(), Some(AcceptError::Replay));
    // After a decline too.
    let (_alice, _a, first) = first_message(&bundle, 115);
    let m = PreKeyMessage::decode(&first).unwrap();
    let p = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    bob.decline(p).unwrap();
    assert_eq!(bob.open_first_message(&m, CONTEXT, 0).err(), Some(FirstMessageError::Replay));
}

#[test]
fn an_expired_last_resort_pq_prekey_is_refused_and_its_replay_records_go_with_it() {
    let mut r = rng(116);
    let mut bob = bob(116);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (_alice, _a, first) = first_message(&bundle, 117);
    let m = PreKeyMessage::decode(&first).unwrap();
    let p = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    bob.accept(p).unwrap();
    bob.rotate_last_resort_pq_prekey_with_rng(&mut r, 1_000, 50).unwrap();
    assert_eq!(bob.open_first_message(&m, CONTEXT, 1_049).err(), Some(FirstMessageError::Replay));
    assert_eq!(
        bob.open_first_message(&m, CONTEXT, 1_050).err(),
        Some(FirstMessageError::UnknownPqPreKey { kind: PqPreKeyKind::LastResort, id: 1 })
    );
    let before = bob.pickle().to_bytes().len();
    assert_eq!(bob.expire_prekeys(1_050), 1);
    assert!(bob.pickle().to_bytes().len() < before - 32, "the replay record naming it is gone");
    assert!(bob.pq_prekey(PqPreKeyKind::LastResort, 1).is_none());
}

#[test]
fn a_bundle_without_a_pq_prekey_is_refused_unless_the_account_starts_classic_setups() {
    // A peer without PQ support: its bundle has no PQ prekey and its signed
    // prekey does not sign the PQ capability.
    let legacy = Account::new_classic_only_with_rng(&mut rng(118));
    let classic = legacy.prekey_bundle(None, None).unwrap();
    assert!(classic.pq_prekey().is_none() && !classic.signed_prekey().publishes_pq_prekeys());
    let mut alice = Account::new_with_rng(&mut rng(119));
    for policy in [ClassicX3dh::Refuse, ClassicX3dh::Accept] {
        alice.set_classic_x3dh(policy);
        assert_eq!(
            alice.start_session_with_rng(&mut rng(120), &classic, CONTEXT, b"x").err(),
            Some(StartError::MissingPqPreKey),
            "{policy:?}"
        );
    }
    alice.set_classic_x3dh(ClassicX3dh::AcceptAndInitiate);
    let (s, _) = alice.start_session_with_rng(&mut rng(121), &classic, CONTEXT, b"x").unwrap();
    assert_eq!(s.setup(), SessionSetup::ClassicX3dh);
    // A PQ bundle still gives PQXDH when classic is allowed.
    let full = bob(122).prekey_bundle(Some(1), None).unwrap();
    assert!(full.signed_prekey().publishes_pq_prekeys());
    let (s, _) = alice.start_session_with_rng(&mut rng(122), &full, CONTEXT, b"x").unwrap();
    assert_eq!(s.setup(), SessionSetup::Pqxdh);
}

/// Offset of the capabilities byte in a bundle (docs/PROTOCOL.md §4.2).
const CAPABILITIES_AT: usize = 231;

#[test]
fn a_stripped_bundle_from_a_pq_capable_peer_is_refused_even_with_classic_setups_enabled() {
    let bob = bob(150);
    let full = bob.prekey_bundle(Some(1), None).unwrap();
    let stripped =
        PreKeyBundle::new(full.identity().clone(), full.signed_prekey().clone(), full.one_time_prekey().copied(), None);
    // The same, with the signed capability bit cleared as well.
    let mut bytes = stripped.encode();
    // PQ prekeys (0x01) and the KEM ratchet (0x02); clear the PQ bit.
    assert_eq!(bytes[CAPABILITIES_AT], 0x03);
    bytes[CAPABILITIES_AT] = 0x02;
    let cleared = PreKeyBundle::decode(&bytes).unwrap();
    // And one whose signature is simply bad.
    bytes[CAPABILITIES_AT - 1] ^= 1;
    let forged = PreKeyBundle::decode(&bytes).unwrap();
    let mut alice = Account::new_with_rng(&mut rng(151));
    for policy in [ClassicX3dh::Refuse, ClassicX3dh::Accept, ClassicX3dh::AcceptAndInitiate] {
        alice.set_classic_x3dh(policy);
        for bundle in [&stripped, &cleared] {
            assert_eq!(
                alice.start_session_with_rng(&mut rng(152), bundle, CONTEXT, b"x").err(),
                Some(StartError::PqPreKeyStripped),
                "{policy:?}"
            );
        }
        assert_eq!(
            alice.start_session_with_rng(&mut rng(152), &forged, CONTEXT, b"x").err(),
            Some(StartError::BadSignedPreKeySignature)
        );
    }
    // Capability bits this version does not know decode (a later version
    // may sign them) but, added on the way, break the signature.
    let mut unknown = full.encode();
    unknown[CAPABILITIES_AT] = 0x07;
    let unknown = PreKeyBundle::decode(&unknown).unwrap();
    assert_eq!(
        alice.start_session_with_rng(&mut rng(153), &unknown, CONTEXT, b"x").err(),
        Some(StartError::BadSignedPreKeySignature)
    );
}

#[test]
fn a_classic_first_message_is_refused_unless_the_weaker_setup_is_accepted() {
    let mut bob = Account::new_classic_only_with_rng(&mut rng(123));
    let classic = bob.prekey_bundle(None, None).unwrap();
    let mut alice = Account::new_with_rng(&mut rng(124));
    alice.set_classic_x3dh(ClassicX3dh::AcceptAndInitiate);
    let (_, first) = alice.start_session_with_rng(&mut rng(125), &classic, CONTEXT, b"classic").unwrap();
    let m = PreKeyMessage::decode(&first).unwrap();
    assert_eq!(m.pq_prekey(), None);
    bob.set_classic_x3dh(ClassicX3dh::Refuse);
    let before = bob.pickle().to_bytes();
    assert_eq!(bob.open_first_message(&m, CONTEXT, 0).err(), Some(FirstMessageError::ClassicSetupRefused));
    assert_eq!(bob.pickle().to_bytes(), before);
    bob.set_classic_x3dh(ClassicX3dh::Accept);
    let p = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    assert_eq!(p.setup(), SessionSetup::ClassicX3dh);
    assert_eq!(bob.accept(p).unwrap().setup(), SessionSetup::ClassicX3dh);
}

#[test]
fn stripping_the_pq_fields_from_a_first_message_is_detected() {
    // A server that removes the PQ fields and clears the flag turns the
    // message into a classic one: refused by default, and undecryptable
    // even where classic is allowed (the transcript and keys differ).
    let mut bob = bob(126);
    bob.set_classic_x3dh(ClassicX3dh::Accept);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (_alice, _a, first) = first_message(&bundle, 127);
    let at = pq_at(false);
    let mut stripped = first[..at].to_vec();
    stripped[2] &= !0x02;
    stripped.extend_from_slice(&first[at + 1093..]);
    let m = PreKeyMessage::decode(&stripped).unwrap();
    assert_eq!(
        bob.open_first_message(&m, CONTEXT, 0).err(),
        Some(FirstMessageError::Message(DecryptError::AuthenticationFailed))
    );
}

#[test]
fn an_account_with_pq_prekeys_survives_a_pickle_round_trip() {
    let mut bob = bob(128);
    bob.rotate_last_resort_pq_prekey_with_rng(&mut rng(129), 10, 100).unwrap();
    let restored = Account::from_pickle(&bob.pickle()).unwrap();
    assert_eq!(restored.pickle().to_bytes(), bob.pickle().to_bytes());
    assert_eq!(restored.prekey_bundle(Some(1), Some(1)).unwrap(), bob.prekey_bundle(Some(1), Some(1)).unwrap());
}

#[test]
fn an_unacknowledged_pqxdh_initiator_session_survives_a_pickle_round_trip() {
    let mut bob = bob(130);
    let bundle = bob.prekey_bundle(Some(1), Some(1)).unwrap();
    let (_alice, a, first) = first_message(&bundle, 131);
    // The initiator still wraps messages in the (1,264-byte) prefix.
    let mut a = dmseal::Session::from_pickle(&a.pickle()).unwrap();
    let second = a.encrypt(b"after restore").unwrap();
    let p = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let mut b = bob.accept(p).unwrap();
    assert_eq!(b.decrypt(&second).unwrap(), b"after restore");
}

#[test]
fn a_pending_session_whose_last_resort_pq_prekey_expired_is_not_recorded() {
    let mut r = rng(132);
    let mut bob = bob(132);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (_alice, _a, first) = first_message(&bundle, 133);
    let p = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    bob.rotate_last_resort_pq_prekey_with_rng(&mut r, 0, 10).unwrap();
    bob.expire_prekeys(10);
    let before = bob.pickle().to_bytes();
    assert_eq!(bob.accept(p).err(), Some(AcceptError::UnknownPqPreKey { id: 1 }));
    assert_eq!(bob.pickle().to_bytes(), before);
}
