//! Unit tests of the account: first messages, replays, prekey lifetimes.

use super::*;
use crate::error::{DecryptError, FirstMessageError};
use crate::prekeys::{
    MAX_ONE_TIME_PREKEYS, MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY, MAX_RETIRED_SIGNED_PREKEYS,
    MAX_SIGNED_PREKEY_GRACE_SECS, SignedPreKey,
};
use crate::testing::{CONTEXT, rng};

fn first_without_otk(bob: &Account, seed: u8) -> PreKeyMessage {
    let mut r = rng(seed);
    let alice = Account::new_with_rng(&mut r);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"x").unwrap();
    PreKeyMessage::decode(&first).unwrap()
}

#[test]
fn the_replay_record_fills_to_its_cap_then_refuses_until_rotation() {
    let mut r = rng(80);
    let mut bob = Account::new_with_rng(&mut r);
    let id = bob.signed_prekey().id();
    let record = &mut bob.prekeys.signed.current.replay_record;
    for i in 0..(MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY - 1) as u32 {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        record.insert((None, k));
    }
    // The last free slot is used...
    let m = first_without_otk(&bob, 81);
    let p = bob.open_first_message(&m, CONTEXT, 0).unwrap();
    bob.accept(p).unwrap();
    assert_eq!(bob.prekeys.signed.current.replay_record.len(), MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY);
    // ...and one past it is refused, never silently accepted.
    let m = first_without_otk(&bob, 82);
    assert_eq!(
        bob.open_first_message(&m, CONTEXT, 0).err(),
        Some(FirstMessageError::ReplayRecordFull { signed_prekey_id: id })
    );
    // After rotation, new first messages go to the new signed prekey.
    bob.rotate_signed_prekey_with_rng(&mut r, 0, 60).unwrap();
    let m = first_without_otk(&bob, 83);
    assert!(bob.open_first_message(&m, CONTEXT, 0).is_ok());
}

#[test]
fn a_retired_signed_prekey_works_inside_its_grace_period_and_is_deleted_after() {
    let mut r = rng(84);
    let mut bob = Account::new_with_rng(&mut r);
    let old_id = bob.signed_prekey().id();
    let m = first_without_otk(&bob, 85);
    bob.rotate_signed_prekey_with_rng(&mut r, 1_000, 100).unwrap();
    assert!(bob.open_first_message(&m, CONTEXT, 1_099).is_ok());
    assert_eq!(
        bob.open_first_message(&m, CONTEXT, 1_100).err(),
        Some(FirstMessageError::UnknownSignedPreKey { id: old_id })
    );
    assert_eq!(bob.expire_prekeys(1_099), 0);
    assert_eq!(bob.expire_prekeys(1_100), 1);
    assert!(bob.prekeys.signed.get(old_id).is_none(), "the private key must be gone");
}

#[test]
fn a_first_message_claiming_a_huge_counter_is_refused_before_any_dh() {
    let mut r = rng(89);
    let bob = Account::new_with_rng(&mut r);
    let m = first_without_otk(&bob, 90);
    for (counter, expected) in [
        (
            crate::limits::MAX_CHAIN_JUMP + 1,
            DecryptError::TooFarAhead { got: crate::limits::MAX_CHAIN_JUMP + 1, max: crate::limits::MAX_CHAIN_JUMP },
        ),
        (u32::MAX, DecryptError::AuthenticationFailed),
    ] {
        let mut bytes = m.prefix_bytes().to_vec();
        bytes.extend(crate::message::NormalMessage::forge_counters(m.message().as_bytes(), 0, counter));
        let forged = PreKeyMessage::decode(&bytes).unwrap();
        let (result, work) = crate::work::measure(|| bob.open_first_message(&forged, CONTEXT, 0));
        assert_eq!(result.err(), Some(FirstMessageError::Message(expected)));
        assert_eq!(work.dh, 0);
    }
}

#[test]
fn removed_one_time_prekeys_free_their_places() {
    let mut r = rng(91);
    let mut bob = Account::new_with_rng(&mut r);
    let keys = bob.generate_one_time_prekeys_with_rng(&mut r, MAX_ONE_TIME_PREKEYS).unwrap();
    let ids: Vec<u32> = keys.iter().map(|k| k.id()).collect();
    bob.mark_one_time_prekeys_published(&ids).unwrap();
    assert_eq!(bob.published_one_time_prekey_ids().first(), Some(&ids[0]));
    assert!(bob.generate_one_time_prekeys_with_rng(&mut r, 1).is_err());
    assert_eq!(bob.remove_one_time_prekeys(&[ids[0], ids[1], 4_000_000]), 2);
    assert_eq!(bob.unused_published_one_time_prekeys(), MAX_ONE_TIME_PREKEYS - 2);
    assert!(bob.generate_one_time_prekeys_with_rng(&mut r, 2).is_ok());
}

#[test]
fn the_grace_period_is_capped() {
    let mut r = rng(86);
    let mut bob = Account::new_with_rng(&mut r);
    assert!(bob.rotate_signed_prekey_with_rng(&mut r, 0, MAX_SIGNED_PREKEY_GRACE_SECS).is_ok());
    assert_eq!(
        bob.rotate_signed_prekey_with_rng(&mut r, 0, MAX_SIGNED_PREKEY_GRACE_SECS + 1).err(),
        Some(PreKeyError::GracePeriodTooLong {
            got: MAX_SIGNED_PREKEY_GRACE_SECS + 1,
            max: MAX_SIGNED_PREKEY_GRACE_SECS
        })
    );
}

#[test]
fn retired_signed_prekeys_are_capped_oldest_first() {
    let mut r = rng(87);
    let mut bob = Account::new_with_rng(&mut r);
    let first_id = bob.signed_prekey().id();
    for _ in 0..MAX_RETIRED_SIGNED_PREKEYS {
        bob.rotate_signed_prekey_with_rng(&mut r, 0, 1_000).unwrap();
    }
    assert_eq!(bob.prekeys.signed.retired.len(), MAX_RETIRED_SIGNED_PREKEYS);
    assert!(bob.signed_prekey_by_id(first_id).is_some());
    bob.rotate_signed_prekey_with_rng(&mut r, 0, 1_000).unwrap();
    assert_eq!(bob.prekeys.signed.retired.len(), MAX_RETIRED_SIGNED_PREKEYS);
    assert!(bob.signed_prekey_by_id(first_id).is_none());
}

#[test]
fn one_time_prekeys_fill_to_the_cap_and_refuse_past_it() {
    let mut r = rng(88);
    let mut bob = Account::new_with_rng(&mut r);
    let keys = bob.generate_one_time_prekeys_with_rng(&mut r, MAX_ONE_TIME_PREKEYS - 1).unwrap();
    assert_eq!(keys.len(), MAX_ONE_TIME_PREKEYS - 1);
    assert!(bob.generate_one_time_prekeys_with_rng(&mut r, 1).is_ok());
    assert_eq!(
        bob.generate_one_time_prekeys_with_rng(&mut r, 1).err(),
        Some(PreKeyError::TooManyOneTimePreKeys {
            stored: MAX_ONE_TIME_PREKEYS,
            requested: 1,
            max: MAX_ONE_TIME_PREKEYS
        })
    );
    // Publishing and counting.
    assert_eq!(bob.unpublished_one_time_prekeys().len(), MAX_ONE_TIME_PREKEYS);
    let ids: Vec<u32> = keys.iter().take(10).map(|k| k.id()).collect();
    bob.mark_one_time_prekeys_published(&ids).unwrap();
    assert_eq!(bob.unused_published_one_time_prekeys(), 10);
    assert_eq!(bob.unpublished_one_time_prekeys().len(), MAX_ONE_TIME_PREKEYS - 10);
    assert_eq!(
        bob.mark_one_time_prekeys_published(&[ids[0], 999_999]).err(),
        Some(PreKeyError::UnknownOneTimePreKey { id: 999_999 })
    );
}

#[test]
fn a_capability_bit_from_a_later_version_is_kept_and_ignored() {
    let mut r = rng(70);
    let mut bob = Account::new_with_rng(&mut r);
    // Bob's build signs a capability this one does not know (0x80).
    bob.prekeys.signed.current = SignedPreKey::generate(&bob.identity, 1, 0x83, &mut r);
    let bundle = crate::PreKeyBundle::decode(&bob.prekey_bundle(None, None).unwrap().encode()).unwrap();
    assert!(bundle.signed_prekey().runs_kem_ratchet() && bundle.signed_prekey().publishes_pq_prekeys());
    let alice = Account::new_with_rng(&mut r);
    let (a, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"hi").unwrap();
    assert!(a.kem_ratchet());
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    assert_eq!(pending.plaintext(), b"hi");
    // A rotation keeps the bits it does not know.
    bob.rotate_signed_prekey_with_rng(&mut r, 10, 0).unwrap();
    assert_eq!(bob.prekeys.signed.current.capabilities, 0x83);
}
