use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use super::*;
use crate::PqPreKeyKind;
use crate::error::DecodeError;
use crate::error::PreKeyError;
use crate::prekeys::{MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS};
use crate::{Account, Address};

const NOW: u64 = 1_800_000_000;

fn bob() -> Address {
    Address::new("bob", 1).unwrap()
}

fn account(seed: u64) -> Account {
    Account::new_with_rng(&mut ChaCha20Rng::seed_from_u64(seed))
}

/// A directory holding `account`'s identity upload under `bob()`.
fn directory_with(account: &Account) -> Directory<MemoryDirectory> {
    let d = Directory::new(MemoryDirectory::new());
    d.publish_identity(&bob(), &account.identity_upload(NOW).encode()).unwrap();
    d
}

#[test]
fn uploads_round_trip_with_their_documented_lengths() {
    let mut a = account(1);
    let upload = a.identity_upload(NOW);
    let bytes = upload.encode();
    assert_eq!(bytes.len(), 1558);
    assert_eq!(IdentityUpload::decode(&bytes).unwrap(), upload);
    let classic = Account::new_classic_only_with_rng(&mut ChaCha20Rng::seed_from_u64(2));
    let bytes = classic.identity_upload(NOW).encode();
    assert_eq!(bytes.len(), 304);
    IdentityUpload::decode(&bytes).unwrap().verify().unwrap();

    let batch = a.publish_prekeys(3, 2).unwrap();
    let bytes = batch.encode();
    assert_eq!(bytes.len(), 2 + 128 + 2 + 3 * 36 + 2 + 2 * 1254 + 64);
    let decoded = PreKeyBatch::decode(&bytes).unwrap();
    decoded.verify().unwrap();
    assert_eq!(decoded, batch);
    let empty = a.publish_prekeys(0, 0).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.encode().len(), 2 + 128 + 2 + 2 + 64);
}

#[test]
fn publish_prekeys_marks_every_key_published_and_is_all_or_nothing() {
    let mut a = account(3);
    let early = a.generate_one_time_prekeys(2).unwrap();
    let batch = a.publish_prekeys(3, 1).unwrap();
    // The two generated earlier and not published go into the batch too.
    assert_eq!(batch.one_time_prekeys().len(), 5);
    assert_eq!(batch.one_time_prekeys().first().map(|k| k.id()), early.first().map(|k| k.id()));
    assert_eq!(a.unused_published_one_time_prekeys(), 5);
    assert_eq!(a.unused_published_pq_one_time_prekeys(), 1);
    assert!(a.unpublished_one_time_prekeys().is_empty());
    // Past the PQ cap nothing at all is generated, X25519 keys included.
    let err = a.publish_prekeys(1, MAX_PQ_ONE_TIME_PREKEYS).unwrap_err();
    assert!(matches!(err, PreKeyError::TooManyOneTimePreKeys { .. }));
    assert_eq!(a.published_one_time_prekey_ids().len(), 5);
    assert!(a.unpublished_one_time_prekeys().is_empty());
}

#[test]
fn every_signature_of_an_identity_upload_is_checked_and_a_bad_one_stores_nothing() {
    let a = account(4);
    let good = a.identity_upload(NOW).encode();
    // Offsets (§4.6): signed prekey signature at 175, PQ signature at
    // 240 + 1190, the upload signature in the last 64 bytes.
    for (offset, what) in [
        (175, "signed prekey"),
        (240 + 1190, "last-resort PQ prekey"),
        (good.len() - 1, "identity upload"),
        (131, "identity upload"), // the date
    ] {
        let mut bad = good.clone();
        bad[offset] ^= 0x01;
        let d = Directory::new(MemoryDirectory::new());
        let err = d.publish_identity(&bob(), &bad).unwrap_err();
        assert!(matches!(err, DirectoryError::BadSignature { what: w } if w == what), "{offset}: {err:?}");
        assert!(d.identity_upload(&bob()).unwrap().is_none());
    }
}

#[test]
fn the_pq_prekey_is_in_an_identity_upload_exactly_when_the_signed_prekey_promises_it() {
    // Stripped: the flag cleared and the field cut out. Caught before the
    // upload signature is even checked.
    let a = account(17);
    let full = a.identity_upload(NOW).encode();
    let mut stripped = full[..240].to_vec();
    stripped[2] = 0;
    stripped.extend_from_slice(&full[full.len() - 64..]);
    let upload = IdentityUpload::decode(&stripped).unwrap();
    assert!(matches!(upload.verify(), Err(DirectoryError::MissingPqPreKey)));
    // Added: a classic-only account's upload with a validly signed PQ key.
    let classic = Account::new_classic_only_with_rng(&mut ChaCha20Rng::seed_from_u64(18));
    let bare = classic.identity_upload(NOW).encode();
    let mut added = bare[..240].to_vec();
    added[2] = 0x01;
    added.extend_from_slice(&pq_field(&classic.last_resort_pq_prekey()));
    added.extend_from_slice(&bare[240..]);
    let upload = IdentityUpload::decode(&added).unwrap();
    assert!(matches!(upload.verify(), Err(DirectoryError::UnexpectedPqPreKey)));
}

#[test]
fn a_batch_with_a_bad_signature_stores_nothing() {
    let mut a = account(5);
    let d = directory_with(&a);
    let good = a.publish_prekeys(2, 1).unwrap().encode();
    // A one-time X25519 key (unsigned by itself) is covered by the batch
    // signature; the PQ key by its own and the batch's.
    for (offset, what) in [(132 + 4, "prekey batch"), (132 + 72 + 2 + 1190, "one-time PQ prekey")] {
        let mut bad = good.clone();
        bad[offset] ^= 0x01;
        match d.publish_prekeys(&bob(), &bad) {
            Err(DirectoryError::BadSignature { what: w }) => assert_eq!(w, what),
            // Flipping a key bit may make it invalid as a key first.
            Err(DirectoryError::Malformed(_)) => {}
            other => panic!("{offset}: {other:?}"),
        }
        assert_eq!(d.counts(&bob()).unwrap(), PreKeyCounts::default());
    }
    d.publish_prekeys(&bob(), &good).unwrap();
    assert_eq!(d.counts(&bob()).unwrap(), PreKeyCounts::new(2, 1));
}

#[test]
fn another_identitys_upload_for_a_held_address_is_refused_until_the_device_is_removed() {
    let (a, mut other) = (account(6), account(7));
    let d = directory_with(&a);
    let err = d.publish_identity(&bob(), &other.identity_upload(NOW + 1).encode()).unwrap_err();
    assert!(matches!(err, DirectoryError::IdentityChanged));
    let err = d.publish_prekeys(&bob(), &other.publish_prekeys(1, 0).unwrap().encode()).unwrap_err();
    assert!(matches!(err, DirectoryError::IdentityChanged));
    assert!(d.remove_device(&bob()).unwrap());
    assert!(!d.remove_device(&bob()).unwrap());
    d.publish_identity(&bob(), &other.identity_upload(NOW + 1).encode()).unwrap();
    assert_eq!(d.identity_upload(&bob()).unwrap().map(|u| u.identity().clone()), Some(other.identity().clone()));
}

#[test]
fn identity_uploads_only_move_forward() {
    let mut a = account(8);
    let d = Directory::new(MemoryDirectory::new());
    let first = a.identity_upload(NOW).encode();
    d.publish_identity(&bob(), &first).unwrap();
    // The same bytes again (a retry) are fine.
    d.publish_identity(&bob(), &first).unwrap();
    // Earlier date, same keys: stale.
    let err = d.publish_identity(&bob(), &a.identity_upload(NOW - 1).encode()).unwrap_err();
    assert!(matches!(err, DirectoryError::StaleUpload));
    a.rotate_signed_prekey(NOW + 10, 60).unwrap();
    let rotated = a.identity_upload(NOW + 10).encode();
    d.publish_identity(&bob(), &rotated).unwrap();
    // The old upload replayed: its signed prekey id is lower.
    assert!(matches!(d.publish_identity(&bob(), &first), Err(DirectoryError::StaleUpload)));
    // A later date with a lower key id is stale too (a wrong clock does not help).
    let old = account(8);
    assert_eq!(old.identity(), a.identity());
    let err = d.publish_identity(&bob(), &old.identity_upload(NOW + 100).encode()).unwrap_err();
    assert!(matches!(err, DirectoryError::StaleUpload));
    let stored = d.identity_upload(&bob()).unwrap().unwrap();
    assert_eq!(stored.signed_prekey(), &a.signed_prekey());
}

#[test]
fn a_replayed_batch_is_refused_and_the_last_batch_again_is_a_retry() {
    let mut a = account(9);
    let d = directory_with(&a);
    let first = a.publish_prekeys(2, 0).unwrap().encode();
    assert_eq!(d.publish_prekeys(&bob(), &first).unwrap(), PreKeyCounts::new(2, 0));
    // Sent again at once: a retry of a lost answer, nothing added.
    assert_eq!(d.publish_prekeys(&bob(), &first).unwrap(), PreKeyCounts::new(2, 0));
    let first_claim = d.claim_bundle(&bob()).unwrap();
    let second = a.publish_prekeys(1, 0).unwrap().encode();
    d.publish_prekeys(&bob(), &second).unwrap();
    // The first batch replayed after that would hand its claimed key out again.
    assert!(matches!(d.publish_prekeys(&bob(), &first), Err(DirectoryError::StaleUpload)));
    let ids: Vec<u32> =
        (0..2).filter_map(|_| d.claim_bundle(&bob()).unwrap().bundle.one_time_prekey().map(|k| k.id())).collect();
    assert_eq!(ids, vec![2, 3]);
    assert_eq!(first_claim.bundle.one_time_prekey().map(|k| k.id()), Some(1));
}

#[test]
fn a_batch_before_the_identity_upload_is_refused() {
    let mut a = account(10);
    let d = Directory::new(MemoryDirectory::new());
    let err = d.publish_prekeys(&bob(), &a.publish_prekeys(1, 0).unwrap().encode()).unwrap_err();
    assert!(matches!(err, DirectoryError::UnknownDevice));
    assert!(matches!(d.claim_bundle(&bob()), Err(DirectoryError::UnknownDevice)));
    assert!(matches!(d.counts(&bob()), Err(DirectoryError::UnknownDevice)));
}

#[test]
fn a_directory_holds_at_most_the_account_limits_of_one_time_prekeys() {
    let mut a = account(11);
    let d = directory_with(&a);
    // At the limit of each kind: accepted.
    d.publish_prekeys(&bob(), &a.publish_prekeys(MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS).unwrap().encode())
        .unwrap();
    assert_eq!(d.counts(&bob()).unwrap(), PreKeyCounts::new(1000, 200));
    // One past: the account refuses to make it; a directory refuses it
    // from an account that deleted its copies.
    a.remove_one_time_prekeys(&[1]);
    let err = d.publish_prekeys(&bob(), &a.publish_prekeys(1, 0).unwrap().encode()).unwrap_err();
    assert!(matches!(err, DirectoryError::Full { held: 1000, adding: 1, max: 1000, .. }), "{err:?}");
    a.remove_pq_one_time_prekeys(&[1]);
    let err = d.publish_prekeys(&bob(), &a.publish_prekeys(0, 1).unwrap().encode()).unwrap_err();
    assert!(matches!(err, DirectoryError::Full { held: 200, adding: 1, max: 200, .. }), "{err:?}");
    assert_eq!(d.counts(&bob()).unwrap(), PreKeyCounts::new(1000, 200));
}

#[test]
fn batch_decoding_refuses_counts_past_the_limits_before_reading_keys() {
    let mut a = account(12);
    let bytes = a.publish_prekeys(0, 0).unwrap().encode();
    // A count at its limit is read on (and the input fails later);
    // one past is refused by the count alone.
    let at = |n: u16| {
        let mut b = bytes.clone();
        b[130..132].copy_from_slice(&n.to_be_bytes());
        PreKeyBatch::decode(&b).unwrap_err()
    };
    assert!(!matches!(at(1000), DecodeError::TooLong { .. }));
    assert_eq!(at(1001), DecodeError::TooLong { len: 1001, max: 1000 });
    let pq = |n: u16| {
        let mut b = bytes.clone();
        b[132..134].copy_from_slice(&n.to_be_bytes());
        PreKeyBatch::decode(&b).unwrap_err()
    };
    assert!(!matches!(pq(200), DecodeError::TooLong { .. }));
    assert_eq!(pq(201), DecodeError::TooLong { len: 201, max: 200 });
}

#[test]
fn batch_ids_must_rise_and_kinds_must_match() {
    let mut a = account(13);
    let bytes = a.publish_prekeys(2, 0).unwrap().encode();
    // Swap the two X25519 entries: ids 2, 1.
    let mut swapped = bytes.clone();
    let (first, second) = (bytes[132..168].to_vec(), bytes[168..204].to_vec());
    swapped[132..168].copy_from_slice(&second);
    swapped[168..204].copy_from_slice(&first);
    assert_eq!(PreKeyBatch::decode(&swapped).unwrap_err(), DecodeError::PreKeysOutOfOrder);
    // The same entry twice.
    let mut repeated = bytes.clone();
    repeated[168..204].copy_from_slice(&first);
    assert_eq!(PreKeyBatch::decode(&repeated).unwrap_err(), DecodeError::PreKeysOutOfOrder);
    // A last-resort key in a batch, a one-time key in an identity upload.
    let batch = a.publish_prekeys(0, 1).unwrap().encode();
    let mut wrong = batch.clone();
    wrong[134] = PqPreKeyKind::LastResort.to_byte();
    assert_eq!(PreKeyBatch::decode(&wrong).unwrap_err(), DecodeError::UnexpectedPqPreKeyKind { found: 0x02 });
    let mut upload = a.identity_upload(NOW).encode();
    upload[240] = PqPreKeyKind::OneTime.to_byte();
    assert_eq!(IdentityUpload::decode(&upload).unwrap_err(), DecodeError::UnexpectedPqPreKeyKind { found: 0x01 });
}

#[test]
fn claims_take_the_lowest_ids_report_low_counts_and_fall_back_to_last_resort_keys() {
    let mut a = account(14);
    let d = directory_with(&a).with_low_water(PreKeyCounts::new(2, 1));
    d.publish_prekeys(&bob(), &a.publish_prekeys(3, 2).unwrap().encode()).unwrap();
    let claims: Vec<ClaimedBundle> = (0..4).map(|_| d.claim_bundle(&bob()).unwrap()).collect();
    let one_time: Vec<Option<u32>> = claims.iter().map(|c| c.bundle.one_time_prekey().map(|k| k.id())).collect();
    assert_eq!(one_time, vec![Some(1), Some(2), Some(3), None]);
    let pq: Vec<(PqPreKeyKind, u32)> =
        claims.iter().filter_map(|c| c.bundle.pq_prekey().map(|k| (k.kind(), k.id()))).collect();
    use PqPreKeyKind::{LastResort, OneTime};
    assert_eq!(pq, vec![(OneTime, 1), (OneTime, 2), (LastResort, 1), (LastResort, 1)]);
    // Low water (2, 1): 2 and 1 left is not low; 1 and 0 left is.
    let low: Vec<bool> = claims.iter().map(|c| c.low).collect();
    assert_eq!(low, vec![false, true, true, true]);
    assert_eq!(claims[0].left, PreKeyCounts::new(2, 1));
    // Every claimed bundle starts a session: the signatures check.
    let alice = account(15);
    for c in &claims {
        alice.check_bundle(&c.bundle).unwrap();
    }
}

#[test]
fn a_classic_only_device_gets_bundles_without_a_pq_prekey() {
    let mut classic = Account::new_classic_only_with_rng(&mut ChaCha20Rng::seed_from_u64(16));
    let d = directory_with(&classic).with_low_water(PreKeyCounts::new(1, 10));
    d.publish_prekeys(&bob(), &classic.publish_prekeys(2, 0).unwrap().encode()).unwrap();
    let claim = d.claim_bundle(&bob()).unwrap();
    assert!(claim.bundle.pq_prekey().is_none());
    assert!(claim.bundle.one_time_prekey().is_some());
    // No PQ prekeys to run low on: only the X25519 count decides.
    assert!(!claim.low);
    assert!(d.claim_bundle(&bob()).unwrap().low);
}

#[test]
fn the_directory_errors_each_have_their_own_text() {
    let errors = [
        DirectoryError::Malformed(DecodeError::Truncated),
        DirectoryError::BadSignature { what: "prekey batch" },
        DirectoryError::MissingPqPreKey,
        DirectoryError::UnexpectedPqPreKey,
        DirectoryError::UnknownDevice,
        DirectoryError::IdentityChanged,
        DirectoryError::StaleUpload,
        DirectoryError::Full { what: "one-time prekeys", held: 1, adding: 2, max: 3 },
        DirectoryError::Store(crate::store::StoreError::Conflict { expected: 1, found: 2 }),
    ];
    let texts: std::collections::BTreeSet<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(texts.len(), errors.len());
    assert!(errors[8].is_transient() && !errors[6].is_transient());
}
