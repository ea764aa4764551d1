//! The prekey directory a server runs and the housekeeping a device does
//! against it: uploads checked before they are stored, bundles that never
//! hand out a one-time prekey twice (also from several processes on one
//! SQLite file), the fall-back to last-resort keys, and
//! `Conversations::prekey_maintenance`.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::world::{DAY, NOW, addr, device, device_with};
use dmseal::directory::{Directory, DirectoryError, DirectoryStore, MemoryDirectory, PreKeyCounts, SqliteDirectory};
use dmseal::{
    Account, Address, BundleSourceError, ConversationConfig, PqPreKeyKind, PreKeyBundle, PreKeyPolicy, ReceivedKind,
    SessionSetup,
};

/// A database file removed when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("dmseal-directory-{name}-{}.db", std::process::id()));
        let db = Self(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Uploads `account`'s identity and a batch of fresh one-time prekeys.
fn upload<S: DirectoryStore>(directory: &Directory<S>, device: &Address, account: &mut Account, n: usize, pq: usize) {
    directory.publish_identity(device, &account.identity_upload(NOW).encode()).unwrap();
    directory.publish_prekeys(device, &account.publish_prekeys(n, pq).unwrap().encode()).unwrap();
}

#[test]
fn concurrent_claims_over_one_sqlite_file_never_hand_out_a_key_twice() {
    let db = TempDb::new("concurrent");
    let bob = addr("bob", 1);
    let mut account = Account::new();
    upload(&Directory::new(SqliteDirectory::open(&db.0).unwrap()), &bob, &mut account, 200, 50);

    // Four threads, each with its own connection (as four server
    // processes would have), claim 300 bundles between them.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (path, bob) = (db.0.clone(), bob.clone());
            std::thread::spawn(move || {
                let directory = Directory::new(SqliteDirectory::open(path).unwrap());
                (0..75).map(|_| directory.claim_bundle(&bob).unwrap().bundle).collect::<Vec<PreKeyBundle>>()
            })
        })
        .collect();
    let bundles: Vec<PreKeyBundle> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(bundles.len(), 300);

    let one_time: Vec<u32> = bundles.iter().filter_map(|b| b.one_time_prekey().map(|k| k.id())).collect();
    let unique: BTreeSet<u32> = one_time.iter().copied().collect();
    assert_eq!((one_time.len(), unique.len()), (200, 200), "a one-time prekey was handed out twice");
    let pq_one_time: Vec<u32> = bundles
        .iter()
        .filter_map(|b| b.pq_prekey().filter(|k| k.kind() == PqPreKeyKind::OneTime).map(|k| k.id()))
        .collect();
    let unique: BTreeSet<u32> = pq_one_time.iter().copied().collect();
    assert_eq!((pq_one_time.len(), unique.len()), (50, 50), "a one-time PQ prekey was handed out twice");
    // The other 250 carry the last-resort PQ prekey; every bundle checks.
    let alice = Account::new();
    for b in &bundles {
        assert!(b.pq_prekey().is_some());
        alice.check_bundle(b).unwrap();
    }
    let directory = Directory::new(SqliteDirectory::open(&db.0).unwrap());
    assert_eq!(directory.counts(&bob).unwrap(), PreKeyCounts::new(0, 0));
}

/// The rules hold whatever the store: run against memory and SQLite.
fn refusals_change_nothing<S: DirectoryStore>(directory: &Directory<S>) {
    let bob = addr("bob", 1);
    let mut account = Account::new();
    upload(directory, &bob, &mut account, 3, 1);
    let held = directory.identity_upload(&bob).unwrap();

    // A wrong signature: the last byte of the batch's signature.
    let mut forged = account.publish_prekeys(2, 0).unwrap().encode();
    let last = forged.len() - 1;
    forged[last] ^= 0x40;
    let err = directory.publish_prekeys(&bob, &forged).unwrap_err();
    assert!(matches!(err, DirectoryError::BadSignature { .. }), "{err:?}");
    // Someone else's identity upload for Bob's address.
    let err = directory.publish_identity(&bob, &Account::new().identity_upload(NOW).encode()).unwrap_err();
    assert!(matches!(err, DirectoryError::IdentityChanged), "{err:?}");
    // Stale: Bob rotated and uploaded; the old upload replayed.
    let old = account.identity_upload(NOW).encode();
    account.rotate_signed_prekey(NOW + DAY, DAY).unwrap();
    directory.publish_identity(&bob, &account.identity_upload(NOW + DAY).encode()).unwrap();
    let rotated = directory.identity_upload(&bob).unwrap();
    assert_ne!(rotated, held);
    assert!(matches!(directory.publish_identity(&bob, &old), Err(DirectoryError::StaleUpload)));
    // Garbage.
    let err = directory.publish_prekeys(&bob, b"\x01\x08").unwrap_err();
    assert!(matches!(err, DirectoryError::Malformed(_)), "{err:?}");

    assert_eq!(directory.identity_upload(&bob).unwrap(), rotated);
    assert_eq!(directory.counts(&bob).unwrap(), PreKeyCounts::new(3, 1));
}

#[test]
fn wrong_signatures_stale_uploads_and_foreign_identities_change_nothing_in_either_store() {
    refusals_change_nothing(&Directory::new(MemoryDirectory::new()));
    let db = TempDb::new("refusals");
    refusals_change_nothing(&Directory::new(SqliteDirectory::open(&db.0).unwrap()));
    refusals_change_nothing(&Directory::new(SqliteDirectory::open_in_memory().unwrap()));
}

#[test]
fn low_counts_are_reported_at_the_low_water_mark() {
    let directory = Directory::new(SqliteDirectory::open_in_memory().unwrap());
    let bob = addr("bob", 1);
    // The defaults: 20 X25519 and 10 PQ.
    upload(&directory, &bob, &mut Account::new(), 21, 30);
    // 20 left after the first claim: not below the mark.
    assert!(!directory.claim_bundle(&bob).unwrap().low);
    // 19 left: low.
    let claim = directory.claim_bundle(&bob).unwrap();
    assert_eq!(claim.left, PreKeyCounts::new(19, 28));
    assert!(claim.low);
}

#[test]
fn a_burst_of_first_messages_beyond_the_one_time_prekeys_falls_back_to_last_resort_keys() {
    let directory = Directory::new(SqliteDirectory::open_in_memory().unwrap());
    let policy = PreKeyPolicy::new().with_targets(2, 1);
    let mut bob = device_with("bob", 1, ConversationConfig::new().with_prekey_policy(policy));
    let uploads = bob.prekey_maintenance(NOW, PreKeyCounts::default()).unwrap();
    directory.publish_identity(bob.me(), &uploads.identity.unwrap().encode()).unwrap();
    directory.publish_prekeys(bob.me(), &uploads.batch.unwrap().encode()).unwrap();

    // Six people write first, more than the two one-time prekeys.
    for i in 0..6 {
        let mut alice = device(&format!("alice{i}"), 1);
        alice.set_devices("bob", &[1]).unwrap();
        let mut source = |need: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
            need.iter().map(|a| Ok((a.clone(), directory.claim_bundle(a)?.bundle))).collect()
        };
        let out = alice.send_fetching("bob", "hi Bob", &mut source, NOW).unwrap();
        let received = bob.receive(alice.me(), &out.messages[0].1, NOW).unwrap();
        assert_eq!((received.kind(), received.plaintext()), (ReceivedKind::Message, &b"hi Bob"[..]));
        bob.commit_received(received, vec![]).unwrap();
    }
    // All six are read; the directory has no one-time prekeys left and
    // says so, and maintenance tops it up again.
    let counts = directory.counts(bob.me()).unwrap();
    assert_eq!(counts, PreKeyCounts::new(0, 0));
    let uploads = bob.prekey_maintenance(NOW + 60, counts).unwrap();
    assert!(uploads.identity.is_none());
    let batch = uploads.batch.unwrap();
    assert_eq!((batch.one_time_prekeys().len(), batch.pq_one_time_prekeys().len()), (2, 1));
    directory.publish_prekeys(bob.me(), &batch.encode()).unwrap();
    assert_eq!(directory.counts(bob.me()).unwrap(), PreKeyCounts::new(2, 1));
}

#[test]
fn prekey_maintenance_rotates_on_schedule_and_deletes_retired_keys_after_the_grace_period() {
    let policy = PreKeyPolicy::new().with_targets(10, 5).with_rotation(7 * DAY, 2 * DAY);
    let mut bob = device_with("bob", 1, ConversationConfig::new().with_prekey_policy(policy));
    let directory = Directory::new(MemoryDirectory::new());
    let publish = |d: &Directory<MemoryDirectory>, uploads: &dmseal::PreKeyUploads| {
        if let Some(identity) = &uploads.identity {
            d.publish_identity(&addr("bob", 1), &identity.encode()).unwrap();
        }
        if let Some(batch) = &uploads.batch {
            d.publish_prekeys(&addr("bob", 1), &batch.encode()).unwrap();
        }
    };

    // The first call dates the keys and uploads everything.
    assert_eq!(bob.account().signed_prekey_since(), None);
    let first = bob.prekey_maintenance(NOW, PreKeyCounts::default()).unwrap();
    assert_eq!(first.identity.as_ref().map(|u| u.signed_prekey().id()), Some(1));
    publish(&directory, &first);
    assert_eq!(bob.account().signed_prekey_since(), Some(NOW));
    assert_eq!(directory.counts(bob.me()).unwrap(), PreKeyCounts::new(10, 5));

    // Nothing to do one second before the rotation is due.
    let counts = directory.counts(bob.me()).unwrap();
    assert!(bob.prekey_maintenance(NOW + 7 * DAY - 1, counts).unwrap().is_empty());
    // At the rotation: a new signed prekey and last-resort PQ prekey; the
    // old ones still open first messages during the grace period.
    let rotated = bob.prekey_maintenance(NOW + 7 * DAY, counts).unwrap();
    let upload = rotated.identity.clone().unwrap();
    assert_eq!(upload.signed_prekey().id(), 2);
    assert_eq!(upload.last_resort_pq_prekey().map(|k| k.id()), Some(2));
    assert!(rotated.batch.is_none());
    publish(&directory, &rotated);
    assert_eq!(directory.claim_bundle(bob.me()).unwrap().bundle.signed_prekey().id(), 2);
    assert!(bob.account().signed_prekey_by_id(1).is_some());
    // One second before the grace period ends: kept; at its end: deleted.
    let counts = directory.counts(bob.me()).unwrap();
    let before = bob.prekey_maintenance(NOW + 9 * DAY - 1, counts).unwrap();
    assert_eq!(before.retired, 0);
    assert!(bob.account().signed_prekey_by_id(1).is_some());
    let after = bob.prekey_maintenance(NOW + 9 * DAY, counts).unwrap();
    assert_eq!(after.retired, 2); // the signed prekey and the last-resort PQ prekey
    assert!(bob.account().signed_prekey_by_id(1).is_none());
    assert!(bob.account().pq_prekey(PqPreKeyKind::LastResort, 1).is_none());
}

#[test]
fn prekey_maintenance_makes_room_by_deleting_keys_the_directory_handed_out_long_ago() {
    let policy = PreKeyPolicy::new().with_targets(600, 0);
    let mut bob = device_with("bob", 1, ConversationConfig::new().with_prekey_policy(policy));
    let first = bob.prekey_maintenance(NOW, PreKeyCounts::default()).unwrap();
    assert_eq!(first.batch.unwrap().one_time_prekeys().len(), 600);
    // All 600 claimed, no first message came: the account holds 600 it
    // cannot tell from keys still in flight. Topping up to 600 again
    // passes the 1,000 an account holds, so the 200 oldest go.
    let second = bob.prekey_maintenance(NOW + DAY, PreKeyCounts::default()).unwrap();
    assert_eq!(second.retired, 200);
    let batch = second.batch.unwrap();
    assert_eq!(batch.one_time_prekeys().first().map(|k| k.id()), Some(601));
    assert_eq!(bob.account().published_one_time_prekey_ids().len(), 1000);
    assert_eq!(bob.account().published_one_time_prekey_ids().first(), Some(&201));
    // Keys the directory still holds (the newest) are never deleted: with
    // 1,000 held there, nothing is missing and nothing goes.
    let third = bob.prekey_maintenance(NOW + 2 * DAY, PreKeyCounts::new(1000, 0)).unwrap();
    assert!(third.is_empty() && third.retired == 0);
}

#[test]
fn sessions_from_directory_bundles_are_pqxdh_and_maintenance_survives_a_reopen() {
    let store = std::sync::Arc::new(dmseal::store::MemoryStore::new());
    let me = addr("bob", 1);
    let config = ConversationConfig::new();
    let mut bob = dmseal::Conversations::open(store.clone(), [7; 32], me.clone(), config).unwrap();
    let directory = Directory::new(MemoryDirectory::new());
    let uploads = bob.prekey_maintenance(NOW, PreKeyCounts::default()).unwrap();
    directory.publish_identity(&me, &uploads.identity.unwrap().encode()).unwrap();
    directory.publish_prekeys(&me, &uploads.batch.unwrap().encode()).unwrap();
    drop(bob);
    // Reopened: the schedule and the published keys were committed.
    let mut bob = dmseal::Conversations::open(store, [7; 32], me.clone(), config).unwrap();
    assert_eq!(bob.account().signed_prekey_since(), Some(NOW));
    assert!(bob.prekey_maintenance(NOW + 1, directory.counts(&me).unwrap()).unwrap().is_empty());

    let alice = Account::new();
    let bundle = directory.claim_bundle(&me).unwrap().bundle;
    let session = alice.begin_session(&bundle, b"context").unwrap();
    assert_eq!(session.setup(), SessionSetup::Pqxdh);
}

mod model {
    use std::collections::BTreeSet;

    use dmseal::directory::{Directory, MemoryDirectory, SqliteDirectory};
    use dmseal::{Account, Address};
    use proptest::prelude::*;

    use super::NOW;

    #[derive(Debug, Clone)]
    enum Op {
        Upload(usize),
        Replay(usize),
        Claim,
        Rotate,
        OldIdentity(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0usize..4).prop_map(Op::Upload),
            1 => any::<usize>().prop_map(Op::Replay),
            4 => Just(Op::Claim),
            1 => Just(Op::Rotate),
            1 => any::<usize>().prop_map(Op::OldIdentity),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Any sequence of uploads, replays, rotations and claims: the
        /// memory and SQLite stores answer alike, no one-time prekey is
        /// handed out twice, and every key handed out was uploaded.
        #[test]
        fn both_stores_agree_and_never_hand_out_a_key_twice(ops in proptest::collection::vec(op(), 1..30)) {
            let device = Address::new("bob", 1).unwrap();
            let memory = Directory::new(MemoryDirectory::new());
            let sqlite = Directory::new(SqliteDirectory::open_in_memory().unwrap());
            let mut account = Account::new();
            let mut at = NOW;
            let first = account.identity_upload(at).encode();
            memory.publish_identity(&device, &first).unwrap();
            sqlite.publish_identity(&device, &first).unwrap();
            let (mut batches, mut identities) = (Vec::new(), vec![first]);
            let (mut uploaded, mut claimed) = (BTreeSet::new(), BTreeSet::new());
            for op in ops {
                match op {
                    Op::Upload(n) => {
                        let batch = account.publish_prekeys(n, 0).unwrap();
                        let bytes = batch.encode();
                        let (a, b) = (memory.publish_prekeys(&device, &bytes), sqlite.publish_prekeys(&device, &bytes));
                        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
                        if a.is_ok() {
                            uploaded.extend(batch.one_time_prekeys().iter().map(|k| k.id()));
                        }
                        batches.push(bytes);
                    }
                    Op::Replay(i) if !batches.is_empty() => {
                        let bytes = &batches[i % batches.len()];
                        let (a, b) = (memory.publish_prekeys(&device, bytes), sqlite.publish_prekeys(&device, bytes));
                        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
                    }
                    Op::Claim => {
                        let (a, b) = (memory.claim_bundle(&device).unwrap(), sqlite.claim_bundle(&device).unwrap());
                        prop_assert_eq!(&a.bundle, &b.bundle);
                        prop_assert_eq!(a.left, b.left);
                        if let Some(k) = a.bundle.one_time_prekey() {
                            prop_assert!(claimed.insert(k.id()), "key {} handed out twice", k.id());
                            prop_assert!(uploaded.contains(&k.id()));
                        }
                        prop_assert_eq!(a.bundle.signed_prekey(), &account.signed_prekey());
                    }
                    Op::Rotate => {
                        at += 60;
                        account.rotate_signed_prekey(at, 60).unwrap();
                        let bytes = account.identity_upload(at).encode();
                        memory.publish_identity(&device, &bytes).unwrap();
                        sqlite.publish_identity(&device, &bytes).unwrap();
                        identities.push(bytes);
                    }
                    Op::OldIdentity(i) => {
                        let bytes = &identities[i % identities.len()];
                        let (a, b) = (memory.publish_identity(&device, bytes), sqlite.publish_identity(&device, bytes));
                        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
                        // Only the newest upload is accepted again.
                        prop_assert_eq!(a.is_ok(), Some(bytes) == identities.last());
                    }
                    Op::Replay(_) => {}
                }
                prop_assert_eq!(memory.counts(&device).unwrap(), sqlite.counts(&device).unwrap());
            }
        }
    }
}
