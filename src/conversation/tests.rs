//! Unit tests that need the crate's work counters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use super::{
    ContactPolicy, ConversationConfig, Conversations, MAX_PREVIOUS_SESSIONS, MAX_SESSIONS_TRIED, ReceivedKind,
};
use crate::address::Address;
use crate::store::MemoryStore;
use crate::testing::{established, rng};

fn addr(user: &str) -> Address {
    Address::new(user, 1).unwrap()
}

fn open(store: MemoryStore, user: &str, seed: u8, policy: ContactPolicy) -> Conversations<MemoryStore> {
    let config = ConversationConfig::new().with_contact_policy(policy);
    Conversations::open_with_rng(rng(seed), store, [7; 32], addr(user), config).unwrap()
}

/// A first message from Alice on a new session, read by Bob.
fn first_message(alice: &mut Conversations<MemoryStore>, bob: &mut Conversations<MemoryStore>) -> ReceivedKind {
    let id = bob
        .update_account(|a| {
            let id = a.generate_one_time_prekeys_with_rng(&mut rng(9), 1).unwrap()[0].id();
            a.mark_one_time_prekeys_published(&[id]).unwrap();
            id
        })
        .unwrap();
    let bundle = bob.account().prekey_bundle(Some(id), None).unwrap();
    let first = alice.send("bob", b"hi", &[(addr("bob"), bundle)], 0).unwrap().messages.remove(0).1;
    let received = bob.receive(&addr("alice"), &first, 0).unwrap();
    let kind = received.kind();
    bob.commit_received(received, vec![]).unwrap();
    kind
}

#[test]
fn a_forged_message_is_tried_on_at_most_max_sessions_tried_sessions() {
    let mut alice = open(MemoryStore::new(), "alice", 1, ContactPolicy::Anyone);
    alice.set_devices("bob", &[1]).unwrap();
    let mut bob = open(MemoryStore::new(), "bob", 2, ContactPolicy::Anyone);
    // A full record: the current session and MAX_PREVIOUS_SESSIONS more.
    for _ in 0..=MAX_PREVIOUS_SESSIONS {
        assert_eq!(first_message(&mut alice, &mut bob), ReceivedKind::Message);
    }
    assert_eq!(bob.previous_sessions(&addr("alice")).unwrap(), MAX_PREVIOUS_SESSIONS);
    // Then Bob holds strangers apart, and Alice (never listed, never a
    // contact) starts once more: a pending request from the same device.
    let mut bob = open(bob.store().snapshot(), "bob", 3, ContactPolicy::Anyone);
    bob.set_config(ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests)).unwrap();
    assert_eq!(first_message(&mut alice, &mut bob), ReceivedKind::Request);
    // A normal message none of them can read is tried on every one.
    let (mut x, _) = established(5);
    let forged = x.encrypt_with_rng(&mut rng(6), b"forged").unwrap();
    let generation = bob.generation;
    let (result, work) = crate::work::measure(|| bob.receive(&addr("alice"), &forged, 0));
    assert!(result.is_err());
    assert_eq!(work.sessions_tried, MAX_SESSIONS_TRIED as u64);
    assert_eq!(bob.generation, generation, "nothing was committed");
    assert_eq!(bob.previous_sessions(&addr("alice")).unwrap(), MAX_PREVIOUS_SESSIONS);
}
