//! State saved by the version of dmseal before the KEM ratchet (pickle
//! version 1, `tests/fixtures/pickle_v1/`) restores, keeps working with
//! the messages in flight when it was saved, and upgrades.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::PathBuf;

use dmseal::{Account, AccountPickle, MIN_PICKLE_VERSION, PICKLE_VERSION, PreKeyMessage, Session, SessionPickle};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const KEY: [u8; 32] = [7; 32];
const NOW: u64 = 1_800_000_000;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pickle_v1").join(name)).unwrap()
}

/// The version in a pickle's header (docs/PROTOCOL.md §8.1).
fn header_version(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes[5..9].try_into().unwrap())
}

#[test]
fn version_1_sessions_restore_read_what_was_in_flight_and_upgrade() {
    assert_eq!((MIN_PICKLE_VERSION, PICKLE_VERSION), (1, 2));
    let (sealed, plain) = (fixture("alice.session"), fixture("bob.session"));
    assert_eq!((header_version(&sealed), header_version(&plain)), (1, 1));
    let mut a = Session::from_pickle(&SessionPickle::from_encrypted(&sealed, &KEY).unwrap()).unwrap();
    let mut b = Session::from_pickle(&SessionPickle::from_bytes(&plain).unwrap()).unwrap();
    assert!(!a.kem_ratchet() && !b.kem_ratchet());
    assert_eq!(a.decrypt(&fixture("bob_to_alice.msg")).unwrap(), b"sent before the upgrade, to alice");
    assert_eq!(b.decrypt(&fixture("alice_to_bob.msg")).unwrap(), b"sent before the upgrade, to bob");
    let mut r = ChaCha20Rng::seed_from_u64(1);
    for i in 0..3u32 {
        assert_eq!(b.decrypt(&a.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap(), i.to_be_bytes());
        assert_eq!(a.decrypt(&b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap(), i.to_be_bytes());
    }
    // Saved again, they are version 2 and still without the KEM ratchet.
    let again = a.pickle().encrypt_with_rng(&mut r, &KEY);
    assert_eq!(header_version(&again), PICKLE_VERSION);
    a = Session::from_pickle(&SessionPickle::from_encrypted(&again, &KEY).unwrap()).unwrap();
    assert!(!a.kem_ratchet());
    // Both run the new version: one side upgrades the session.
    assert!(b.upgrade_kem_ratchet());
    for i in 0..60u32 {
        a.decrypt(&b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap();
        b.decrypt(&a.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap();
    }
    assert!(a.kem_ratchet() && a.kem_epochs() >= 1 && b.kem_epochs() >= 1);
    let a = Session::from_pickle(&SessionPickle::from_bytes(&a.pickle().to_bytes()).unwrap()).unwrap();
    assert!(a.kem_ratchet() && a.kem_epochs() >= 1);
}

#[test]
fn version_1_accounts_restore_and_gain_the_kem_ratchet_at_their_next_rotation() {
    let mut alice =
        Account::from_pickle(&AccountPickle::from_encrypted(&fixture("alice.account"), &KEY).unwrap()).unwrap();
    let mut bob = Account::from_pickle(&AccountPickle::from_encrypted(&fixture("bob.account"), &KEY).unwrap()).unwrap();
    assert!(alice.publishes_pq_prekeys() && !alice.runs_kem_ratchet() && !bob.runs_kem_ratchet());
    let mut r = ChaCha20Rng::seed_from_u64(2);
    let start = |alice: &Account, bob: &mut Account, r: &mut ChaCha20Rng| {
        let bundle = bob.prekey_bundle(None, None).unwrap();
        let (a, first) = alice.start_session_with_rng(r, &bundle, b"ctx", b"hi").unwrap();
        let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), b"ctx", NOW).unwrap();
        (a, bob.accept(pending).unwrap())
    };
    let (a, b) = start(&alice, &mut bob, &mut r);
    assert!(!a.kem_ratchet() && !b.kem_ratchet());
    bob.rotate_signed_prekey_with_rng(&mut r, NOW, 0).unwrap();
    // Bob's bundle signs the capability now, but Alice's account does not
    // run it before its own rotation.
    let (a, _) = start(&alice, &mut bob, &mut r);
    assert!(!a.kem_ratchet());
    alice.rotate_signed_prekey_with_rng(&mut r, NOW, 0).unwrap();
    let (a, b) = start(&alice, &mut bob, &mut r);
    assert!(a.kem_ratchet() && b.kem_ratchet());
}

#[cfg(feature = "sqlite")]
#[test]
fn version_1_sqlite_stores_open_read_what_was_queued_and_upgrade() {
    use dmseal::store::SqliteStore;
    use dmseal::{Address, BundleSourceError, ConversationConfig, Conversations, PreKeyBundle};

    let dir = std::env::temp_dir().join(format!("dmseal-migration-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["alice.sqlite", "bob.sqlite"] {
        std::fs::write(dir.join(name), fixture(name)).unwrap();
    }
    let (aa, ba) = (Address::new("alice", 1).unwrap(), Address::new("bob", 1).unwrap());
    let open = |name: &str, me: &Address| {
        let store = SqliteStore::open(dir.join(name)).unwrap();
        Conversations::open_with_rng(
            ChaCha20Rng::seed_from_u64(3),
            store,
            KEY,
            me.clone(),
            ConversationConfig::default(),
        )
        .unwrap()
    };
    let mut alice = open("alice.sqlite", &aa);
    let mut bob = open("bob.sqlite", &ba);
    let r = alice.receive(&ba, &fixture("conv_bob_to_alice.msg"), NOW).unwrap();
    assert_eq!(r.plaintext(), b"queued before the upgrade, to alice");
    alice.commit_received(r, vec![]).unwrap();
    let r = bob.receive(&aa, &fixture("conv_alice_to_bob.msg"), NOW).unwrap();
    assert_eq!(r.plaintext(), b"queued before the upgrade, to bob");
    bob.commit_received(r, vec![]).unwrap();
    assert_eq!(alice.current_session_kem_epochs(&ba).unwrap(), None);

    let mut none = |_: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> { Ok(vec![]) };
    assert!(alice.upgrade_kem_ratchet(&ba).unwrap());
    for i in 0..60 {
        let m = alice.send_fetching("bob", format!("ping {i}").as_bytes(), &mut none, NOW).unwrap().messages;
        let r = bob.receive(&aa, &m[0].1, NOW).unwrap();
        assert_eq!(r.plaintext(), format!("ping {i}").as_bytes());
        bob.commit_received(r, vec![]).unwrap();
        let m = bob.send_fetching("alice", format!("pong {i}").as_bytes(), &mut none, NOW).unwrap().messages;
        let r = alice.receive(&ba, &m[0].1, NOW).unwrap();
        assert_eq!(r.plaintext(), format!("pong {i}").as_bytes());
        alice.commit_received(r, vec![]).unwrap();
    }
    assert!(alice.current_session_kem_epochs(&ba).unwrap().is_some_and(|e| e >= 1));
    assert!(bob.current_session_kem_epochs(&aa).unwrap().is_some_and(|e| e >= 1));
    // Reopened from the file, the upgraded session is still there.
    drop(bob);
    let bob = open("bob.sqlite", &ba);
    assert!(bob.current_session_kem_epochs(&aa).unwrap().is_some_and(|e| e >= 1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_version_1_session_pickle_saved_again_without_restoring_reads_back() {
    // Read and written again as a pickle (say, to re-key a store): the
    // result is a version-2 pickle of the same session.
    let p = SessionPickle::from_bytes(&fixture("bob.session")).unwrap();
    let again = p.to_bytes();
    assert_eq!(header_version(&again), PICKLE_VERSION);
    let back = SessionPickle::from_bytes(&again).unwrap();
    let sealed = SessionPickle::from_encrypted(&fixture("alice.session"), &KEY).unwrap().encrypt(&[8; 32]);
    let mut a = Session::from_pickle(&SessionPickle::from_encrypted(&sealed, &[8; 32]).unwrap()).unwrap();
    let mut b = Session::from_pickle(&back).unwrap();
    assert_eq!(b.decrypt(&fixture("alice_to_bob.msg")).unwrap(), b"sent before the upgrade, to bob");
    assert_eq!(a.decrypt(&fixture("bob_to_alice.msg")).unwrap(), b"sent before the upgrade, to alice");
    assert!(!a.kem_ratchet() && !b.kem_ratchet());
}
