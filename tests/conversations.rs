//! Multi-device conversations over a store: session selection
//! (simultaneous initiation, promotion, expiry), trust (identity changes,
//! verified users, new devices), contact policies, fan-out, and the
//! commit discipline. Ported in spirit from libsignal's session tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use dmseal::store::{
    AppWrite, ChangeSet, GroupStore, IdentityStore, MemoryStore, PreKeyStore, SessionStore, Store, StoreError,
};
use dmseal::{
    Address, ContactPolicy, ConversationConfig, ConversationError, Conversations, DeviceStatus, Event, PickleError,
    ReceiveError, ReceivedKind, SendError,
};

use self::common::world::*;

#[test]
fn simultaneous_initiation_converges_to_one_session() {
    let (mut w, a, b) = alice_and_bob();
    let from_alice = w.send(&a, "bob", b"hi bob", NOW);
    let from_bob = w.send(&b, "alice", b"hi alice", NOW);
    assert!(!w.converged(&a, &b));
    assert_eq!(w.deliver(&a, &b, &from_alice[0].1).unwrap(), b"hi bob");
    assert_eq!(w.deliver(&b, &a, &from_bob[0].1).unwrap(), b"hi alice");
    exchange(&mut w, &a, &b, 0);
    assert!(w.converged(&a, &b));
    exchange(&mut w, &a, &b, 1);
    assert!(w.converged(&a, &b));
}

#[test]
fn simultaneous_initiation_with_a_lost_first_message_converges() {
    let (mut w, a, b) = alice_and_bob();
    let _lost = w.send(&a, "bob", b"hi bob", NOW);
    let from_bob = w.send(&b, "alice", b"hi alice", NOW);
    assert_eq!(w.deliver(&b, &a, &from_bob[0].1).unwrap(), b"hi alice");
    exchange(&mut w, &a, &b, 0);
    assert!(w.converged(&a, &b));
}

#[test]
fn simultaneous_initiation_with_a_lost_reply_converges() {
    let (mut w, a, b) = alice_and_bob();
    let from_alice = w.send(&a, "bob", b"hi bob", NOW);
    let from_bob = w.send(&b, "alice", b"hi alice", NOW);
    w.deliver(&a, &b, &from_alice[0].1).unwrap();
    w.deliver(&b, &a, &from_bob[0].1).unwrap();
    // Alice's answer is lost; Bob's gets through; then they talk.
    let _lost = w.send(&a, "bob", b"lost", NOW);
    let r = w.send(&b, "alice", b"still there?", NOW);
    assert_eq!(w.deliver(&b, &a, &r[0].1).unwrap(), b"still there?");
    exchange(&mut w, &a, &b, 0);
    assert!(w.converged(&a, &b));
}

#[test]
fn repeated_simultaneous_initiation_fifteen_rounds_converges_every_round() {
    let (mut w, a, b) = alice_and_bob();
    for round in 0..15 {
        // Both sides start over at once (a lost database, say): each passes
        // a fresh bundle of the other.
        let bob_bundle = bundle(w.get(&b));
        let alice_bundle = bundle(w.get(&a));
        let from_alice = w.get(&a).send("bob", b"restart a", &[(b.clone(), bob_bundle)], NOW).unwrap().messages;
        let from_bob = w.get(&b).send("alice", b"restart b", &[(a.clone(), alice_bundle)], NOW).unwrap().messages;
        assert_eq!(w.deliver(&a, &b, &from_alice[0].1).unwrap(), b"restart a");
        assert_eq!(w.deliver(&b, &a, &from_bob[0].1).unwrap(), b"restart b");
        exchange(&mut w, &a, &b, round);
        assert!(w.converged(&a, &b), "round {round}");
        assert!(w.get(&a).previous_sessions(&b).unwrap() <= dmseal::limits::MAX_PREVIOUS_SESSIONS);
    }
}

#[test]
fn a_previous_session_that_reads_a_message_is_promoted() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let old = w.get(&a).current_session_base_key(&b).unwrap();
    // Bob's message on the established session is delayed; meanwhile
    // Alice starts over with a fresh bundle.
    let delayed = w.send(&b, "alice", b"from the old session", NOW);
    let fresh = bundle(w.get(&b));
    let _ = w.get(&a).send("bob", b"new session", &[(b.clone(), fresh)], NOW).unwrap();
    assert_ne!(w.get(&a).current_session_base_key(&b).unwrap(), old);
    assert_eq!(w.get(&a).previous_sessions(&b).unwrap(), 1);
    // The old session reads the delayed message and becomes current again.
    assert_eq!(w.deliver(&b, &a, &delayed[0].1).unwrap(), b"from the old session");
    assert_eq!(w.get(&a).current_session_base_key(&b).unwrap(), old);
}

#[test]
fn a_stale_previous_session_reads_but_is_not_promoted() {
    let max = ConversationConfig::default().max_promotion_age;
    assert_eq!(max, dmseal::limits::DEFAULT_MAX_PROMOTION_AGE);
    for (age, promoted) in [(max, true), (max + 1, false)] {
        let (mut w, a, b) = alice_and_bob();
        exchange(&mut w, &a, &b, 0);
        let old = w.get(&a).current_session_base_key(&b).unwrap().unwrap();
        // Bob writes on the established session; before it arrives, Alice
        // starts over with a fresh bundle, so that session is replaced now.
        let delayed = w.send(&b, "alice", b"from the old session", NOW);
        let fresh = bundle(w.get(&b));
        let _ = w.get(&a).send("bob", b"new session", &[(b.clone(), fresh)], NOW).unwrap();
        let new = w.get(&a).current_session_base_key(&b).unwrap().unwrap();
        // The old session reads the message `age` seconds after it was
        // replaced: the message is delivered either way ...
        let later = NOW + age;
        let r = w.get(&a).receive(&b, &delayed[0].1, later).unwrap();
        assert_eq!(r.plaintext(), b"from the old session");
        w.get(&a).commit_received(r, vec![]).unwrap();
        assert!(w.get(&a).receive(&b, &delayed[0].1, later).is_err(), "read once, state kept (age {age})");
        // ... but the old session becomes current again only at the limit.
        let current = if promoted { old } else { new };
        assert_eq!(w.get(&a).current_session_base_key(&b).unwrap(), Some(current), "age {age}");
        assert_eq!(w.get(&a).previous_sessions(&b).unwrap(), 1);
        // Alice's reply goes over the current session, and Bob follows.
        let reply = w.send(&a, "bob", b"reply", later);
        assert_eq!(w.deliver(&a, &b, &reply[0].1).unwrap(), b"reply");
        assert_eq!(w.get(&b).current_session_base_key(&a).unwrap(), Some(current), "age {age}");
    }
}

#[test]
fn a_prekey_message_matching_a_previous_session_goes_to_it() {
    let (mut w, a, b) = alice_and_bob();
    // Alice's first message, and a second one still carrying the prefix.
    let first = w.send(&a, "bob", b"one", NOW);
    let second = w.send(&a, "bob", b"two", NOW);
    w.deliver(&a, &b, &first[0].1).unwrap();
    let alice_session = w.get(&b).current_session_base_key(&a).unwrap();
    // Bob starts a new session with Alice: Alice's session is now previous.
    let fresh = bundle(w.get(&a));
    let _ = w.get(&b).send("alice", b"fresh", &[(a.clone(), fresh)], NOW).unwrap();
    assert_eq!(w.get(&b).previous_sessions(&a).unwrap(), 1);
    // The second prekey message names the previous session: it goes there
    // (no new session, no replay error) and promotes it.
    assert_eq!(w.deliver(&a, &b, &second[0].1).unwrap(), b"two");
    assert_eq!(w.get(&b).current_session_base_key(&a).unwrap(), alice_session);
}

#[test]
fn an_unacknowledged_session_expires_and_asks_for_a_fresh_bundle() {
    let (mut w, a, b) = alice_and_bob();
    let config = *w.get(&a).config();
    w.send(&a, "bob", b"anyone there?", NOW);
    // Within the age, the session is used.
    let at_limit = NOW + config.max_unacknowledged_age;
    let _ = w.get(&a).send("bob", b"still trying", &[], at_limit).unwrap();
    // Past it, the caller is told to fetch a fresh bundle.
    match w.get(&a).send("bob", b"hello?", &[], at_limit + 1) {
        Err(SendError::NeedBundles(need)) => assert_eq!(need, vec![b.clone()]),
        other => panic!("expected NeedBundles, got {other:?}"),
    }
    // An answered session never expires.
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let _ = w.get(&a).send("bob", b"a year later", &[], NOW + 365 * DAY).unwrap();
}

#[test]
fn a_changed_identity_is_reported_and_blocks_sending_until_acknowledged() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    // Bob reinstalls: a new account at the same address.
    let mut reinstalled = device("bob", 1);
    reinstalled.set_devices("alice", &[1]).unwrap();
    w.add(reinstalled);
    let m = w.send(&b, "alice", b"new phone, who dis", NOW);
    let d = w.get(&a);
    let r = d.receive(&b, &m[0].1, NOW).unwrap();
    assert_eq!(r.events(), [Event::IdentityChanged { address: b.clone() }]);
    assert_eq!(r.plaintext(), b"new phone, who dis");
    d.commit_received(r, vec![]).unwrap();
    match d.send("bob", b"hi", &[], NOW) {
        Err(SendError::Blocked(blocked)) => assert_eq!(blocked, vec![(b.clone(), DeviceStatus::IdentityChanged)]),
        other => panic!("expected Blocked, got {other:?}"),
    }
    let shown = d.devices("bob").unwrap()[0].identity.clone().unwrap();
    d.approve_device(&b, &shown).unwrap();
    let m = w.send(&a, "bob", b"welcome back", NOW);
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"welcome back");
}

#[test]
fn a_verified_identity_that_changes_blocks_sending_and_drops_the_mark() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    w.get(&a).set_verified("bob", true).unwrap();
    // A new identity learned from a bundle (the server hands out another
    // key for Bob's device) blocks the send and is remembered.
    let mut impostor = device("bob", 1);
    let forged = bundle(&mut impostor);
    match w.get(&a).send("bob", b"secret", &[(b.clone(), forged)], NOW) {
        Err(SendError::Blocked(blocked)) => assert_eq!(blocked, vec![(b.clone(), DeviceStatus::IdentityChanged)]),
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert!(matches!(w.get(&a).send("bob", b"secret", &[], NOW), Err(SendError::Blocked(_))));
    assert!(w.get(&a).is_verified("bob").unwrap());
    w.approve(&a, &b);
    assert!(!w.get(&a).is_verified("bob").unwrap(), "the safety numbers changed: verify again");
}

#[test]
fn a_new_device_is_reported_and_for_a_verified_user_blocks_until_approved() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    // Unverified: the new device is reported and receives messages.
    let events = w.get(&a).set_devices("bob", &[1, 2]).unwrap();
    assert_eq!(events, vec![Event::NewDevice { address: addr("bob", 2), status: DeviceStatus::Trusted }]);
    let mut laptop = device("bob", 2);
    laptop.set_devices("alice", &[1]).unwrap();
    w.add(laptop);
    let out = w.send(&a, "bob", b"to both", NOW);
    assert_eq!(out.len(), 2);
    // Verified: a third device awaits approval, and blocks sending. Its
    // identity is needed first (its bundle), so that there is something
    // to compare before approving.
    w.get(&a).set_verified("bob", true).unwrap();
    let events = w.get(&a).set_devices("bob", &[1, 2, 3]).unwrap();
    assert_eq!(events, vec![Event::NewDevice { address: addr("bob", 3), status: DeviceStatus::AwaitingApproval }]);
    w.add(device("bob", 3));
    match w.get(&a).send("bob", b"hello", &[], NOW) {
        Err(SendError::NeedBundles(need)) => assert_eq!(need, vec![addr("bob", 3)]),
        other => panic!("expected NeedBundles, got {other:?}"),
    }
    let fresh = bundle(w.get(&addr("bob", 3)));
    match w.get(&a).send("bob", b"hello", &[(addr("bob", 3), fresh)], NOW) {
        Err(SendError::Blocked(blocked)) => {
            assert_eq!(blocked, vec![(addr("bob", 3), DeviceStatus::AwaitingApproval)])
        }
        other => panic!("expected Blocked, got {other:?}"),
    }
    w.approve(&a, &addr("bob", 3));
    assert!(w.get(&a).is_verified("bob").unwrap(), "approving a new device keeps the mark");
    assert_eq!(w.send(&a, "bob", b"to all three", NOW).len(), 3);
}

#[test]
fn a_message_fans_out_to_every_device_including_the_senders_own() {
    let mut w = World::default();
    let alice_devices = [1, 2];
    let bob_devices = [1, 2, 3, 4, 5];
    for id in alice_devices {
        let mut d = device("alice", id);
        d.set_devices("alice", &alice_devices).unwrap();
        d.set_devices("bob", &bob_devices).unwrap();
        w.add(d);
    }
    for id in bob_devices {
        w.add(device("bob", id));
    }
    let phone = addr("alice", 1);
    let out = w.send(&phone, "bob", b"hello everyone", NOW);
    let mut to: Vec<Address> = out.iter().map(|(a, _)| a.clone()).collect();
    to.sort();
    let mut expected: Vec<Address> = bob_devices.iter().map(|&i| addr("bob", i)).collect();
    expected.push(addr("alice", 2));
    expected.sort();
    assert_eq!(to, expected, "every device of Bob's and Alice's own laptop, not the phone itself");
    for (address, bytes) in &out {
        assert_eq!(w.deliver(&phone, address, bytes).unwrap(), b"hello everyone");
    }
}

#[test]
fn a_first_message_presented_under_another_address_is_refused() {
    let (mut w, a, b) = alice_and_bob();
    let m = w.send(&a, "bob", b"hi", NOW);
    // The server claims the message came from Carol (or another of
    // Alice's devices): the addresses are bound into the session.
    for claimed in [addr("carol", 1), addr("alice", 2)] {
        assert!(matches!(w.get(&b).receive(&claimed, &m[0].1, NOW), Err(ReceiveError::FirstMessage(_))));
    }
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"hi");
}

#[test]
fn known_contacts_only_refuses_strangers_unread() {
    let config = ConversationConfig::new().with_contact_policy(ContactPolicy::KnownContactsOnly);
    let (mut w, a, b) = alice_and_bob();
    w.add(device_with("bob", 1, config));
    let m = w.send(&a, "bob", b"hi stranger", NOW);
    let generation = w.get(&b).store().generation().unwrap();
    assert!(matches!(w.get(&b).receive(&a, &m[0].1, NOW), Err(ReceiveError::NotAContact)));
    assert_eq!(w.get(&b).store().generation().unwrap(), generation, "nothing changed");
    // A device the app lists is not a stranger's, and neither is a
    // contact's: once Alice is either, the same message is read.
    w.get(&b).add_contact("alice").unwrap();
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"hi stranger");
}

#[test]
fn message_requests_are_held_apart_until_accepted() {
    let config = ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    let (mut w, a, b) = alice_and_bob();
    w.add(device_with("bob", 1, config));
    let m = w.send(&a, "bob", b"may I?", NOW);
    let d = w.get(&b);
    let r = d.receive(&a, &m[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Request);
    assert!(r.events().contains(&Event::MessageRequest { address: a.clone() }));
    d.commit_received(r, vec![]).unwrap();
    assert_eq!(d.requests().unwrap(), vec![a.clone()]);
    assert_eq!(d.current_session_base_key(&a).unwrap(), None, "held apart from conversations");
    // A second message of the request is a request message too.
    let m2 = w.send(&a, "bob", b"please?", NOW);
    let r = w.get(&b).receive(&a, &m2[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Request);
    w.get(&b).commit_received(r, vec![]).unwrap();
    w.get(&b).accept_request(&a).unwrap();
    // Listing a device makes its user known: Bob's app lists Alice's.
    w.get(&b).set_devices("alice", &[1]).unwrap();
    assert!(w.get(&b).requests().unwrap().is_empty());
    let reply = w.send(&b, "alice", b"sure", NOW);
    assert_eq!(w.deliver(&b, &a, &reply[0].1).unwrap(), b"sure");
    assert!(w.converged(&a, &b));
}

#[test]
fn a_declined_request_replayed_is_refused() {
    let config = ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    let (mut w, a, b) = alice_and_bob();
    w.add(device_with("bob", 1, config));
    let m = w.send(&a, "bob", b"buy my stuff", NOW);
    w.deliver(&a, &b, &m[0].1).unwrap();
    w.get(&b).decline_request(&a).unwrap();
    assert!(w.get(&b).requests().unwrap().is_empty());
    // The same bytes again: the prekey was consumed, nothing comes back.
    assert!(matches!(w.get(&b).receive(&a, &m[0].1, NOW), Err(ReceiveError::FirstMessage(_))));
    assert!(w.get(&b).requests().unwrap().is_empty());
    assert!(matches!(w.get(&b).decline_request(&a), Err(ConversationError::NoRequest(_))));
}

#[test]
fn a_received_message_commits_with_the_apps_inbox_row_and_dropping_it_changes_nothing() {
    let (mut w, a, b) = alice_and_bob();
    let m = w.send(&a, "bob", b"hello", NOW);
    let d = w.get(&b);
    let generation = d.store().generation().unwrap();
    // Received but dropped (a crash before the commit): nothing changed.
    drop(d.receive(&a, &m[0].1, NOW).unwrap());
    assert_eq!(d.store().generation().unwrap(), generation);
    let r = d.receive(&a, &m[0].1, NOW).unwrap();
    let row = AppWrite::put("inbox", b"msg-1".to_vec(), r.plaintext().to_vec());
    d.commit_received(r, vec![row]).unwrap();
    assert_eq!(d.store().app_row("inbox", b"msg-1").unwrap().as_deref(), Some(&b"hello"[..]));
    // The message cannot be received twice.
    assert!(d.receive(&a, &m[0].1, NOW).is_err());
}

#[test]
fn a_receive_computed_before_another_commit_is_refused() {
    let (mut w, a, b) = alice_and_bob();
    let m1 = w.send(&a, "bob", b"one", NOW);
    let d = w.get(&b);
    let stale = d.receive(&a, &m1[0].1, NOW).unwrap();
    let fresh = d.receive(&a, &m1[0].1, NOW).unwrap();
    d.commit_received(fresh, vec![]).unwrap();
    match d.commit_received(stale, vec![]) {
        Err(ReceiveError::Conversation(ConversationError::Store(StoreError::Conflict { .. }))) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn records_do_not_open_under_another_storage_key() {
    let store = MemoryStore::new();
    let d = Conversations::open(store, [1; 32], addr("alice", 1), ConversationConfig::default()).unwrap();
    let store = d.store().snapshot();
    match Conversations::open(store, [2; 32], addr("alice", 1), ConversationConfig::default()) {
        Err(ConversationError::Record(_)) => {}
        other => panic!("expected a record error, got {other:?}"),
    }
}

#[test]
fn a_device_that_writes_first_gets_nothing_until_the_app_lists_it() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    // Someone (a server inventing a ghost device) writes to Bob as
    // "alice.7", and as "bob.9", a device of Bob's own user.
    for ghost in [addr("alice", 7), addr("bob", 9)] {
        let mut g = device(ghost.user(), ghost.device());
        g.set_devices("bob", &[1]).unwrap();
        w.add(g);
        let m = w.send(&ghost, "bob", b"let me in", NOW);
        let target = m.iter().find(|(to, _)| *to == b).unwrap().1.clone();
        let r = w.get(&b).receive(&ghost, &target, NOW).unwrap();
        assert!(r.events().iter().any(|e| matches!(e, Event::NewDevice { address, .. } if *address == ghost)));
        w.get(&b).commit_received(r, vec![]).unwrap();
    }
    // Bob's messages still go only where his app's device lists say.
    let out = w.send(&b, "alice", b"just us", NOW);
    assert_eq!(out.iter().map(|(to, _)| to.clone()).collect::<Vec<_>>(), vec![a.clone()]);
    let listed: Vec<_> = w.get(&b).devices("alice").unwrap().into_iter().filter(|d| d.listed).collect();
    assert_eq!(listed.len(), 1);
}

#[test]
fn group_keys_travel_over_sessions_and_every_member_device_reads_the_group() {
    let (mut w, members) =
        group_world(b"team", &[addr("alice", 1), addr("alice", 2), addr("bob", 1), addr("carol", 1)]);
    assert!(matches!(w.get(&members[0]).create_group(b"team", &members), Err(ConversationError::GroupExists)));
    let phone = members[0].clone();
    let sent = send_group(&mut w, &phone, b"team", b"hello team");
    assert_eq!(sent.distributions.messages.len(), 3, "one distribution per other device");
    let others = &members[1..];
    for got in deliver_group(&mut w, &phone, b"team", &sent, others) {
        assert_eq!(got.unwrap(), b"hello team");
    }
    // The next message needs no distribution.
    let sent = send_group(&mut w, &phone, b"team", b"second");
    assert!(sent.distributions.messages.is_empty());
    for got in deliver_group(&mut w, &phone, b"team", &sent, others) {
        assert_eq!(got.unwrap(), b"second");
    }
    // Bob answers: his own sender state reaches everyone.
    let bob = members[2].clone();
    let sent = send_group(&mut w, &bob, b"team", b"hi from bob");
    let readers: Vec<Address> = members.iter().filter(|m| **m != bob).cloned().collect();
    for got in deliver_group(&mut w, &bob, b"team", &sent, &readers) {
        assert_eq!(got.unwrap(), b"hi from bob");
    }
}

#[test]
fn a_group_message_before_its_keys_fails_unchanged_and_reads_after_them() {
    let (mut w, members) = group_world(b"g", &[addr("alice", 1), addr("bob", 1)]);
    let (a, b) = (members[0].clone(), members[1].clone());
    let sent = send_group(&mut w, &a, b"g", b"early");
    let generation = w.get(&b).store().generation().unwrap();
    assert!(matches!(w.get(&b).receive_group(b"g", &a, &sent.message, NOW), Err(ReceiveError::Group(_))));
    assert_eq!(w.get(&b).store().generation().unwrap(), generation);
    let got = deliver_group(&mut w, &a, b"g", &sent, &[b]);
    assert_eq!(got[0].as_ref().unwrap(), b"early");
}

#[test]
fn a_removed_member_device_gets_no_new_keys_and_cannot_read_on() {
    let (mut w, members) = group_world(b"g", &[addr("alice", 1), addr("bob", 1), addr("mallory", 1)]);
    let (a, b, m) = (members[0].clone(), members[1].clone(), members[2].clone());
    let sent = send_group(&mut w, &a, b"g", b"before");
    deliver_group(&mut w, &a, b"g", &sent, &[b.clone(), m.clone()]);
    assert!(w.get(&a).remove_group_member(b"g", &m).unwrap());
    let sent = send_group(&mut w, &a, b"g", b"after");
    let to: Vec<&Address> = sent.distributions.messages.iter().map(|(to, _)| to).collect();
    assert_eq!(to, vec![&b], "the new sender state goes to Bob only");
    deliver_group(&mut w, &a, b"g", &sent, std::slice::from_ref(&b));
    assert!(matches!(w.get(&m).receive_group(b"g", &a, &sent.message, NOW), Err(ReceiveError::Group(_))));
    assert_eq!(w.get(&a).group_members(b"g").unwrap(), vec![b]);
}

#[test]
fn anyone_may_start_a_conversation_under_the_default_policy() {
    let (mut w, a, b) = alice_and_bob();
    assert_eq!(w.get(&b).config().contact_policy, ContactPolicy::Anyone);
    w.add(device("bob", 1)); // knows nothing about Alice
    let m = w.send(&a, "bob", b"hello, stranger", NOW);
    let r = w.get(&b).receive(&a, &m[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Message);
    assert_eq!(r.events(), [Event::NewDevice { address: a.clone(), status: DeviceStatus::Trusted }]);
    w.get(&b).commit_received(r, vec![]).unwrap();
    assert!(w.get(&b).current_session_base_key(&a).unwrap().is_some());
    assert!(w.get(&b).requests().unwrap().is_empty());
}

#[test]
fn a_session_under_an_old_identity_never_reads_or_sends_again() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    // Bob's phone is stolen; he reinstalls. The thief keeps the old state.
    let mut thief = w.devices.remove(&b).unwrap();
    let mut reinstalled = device("bob", 1);
    reinstalled.set_devices("alice", &[1]).unwrap();
    w.add(reinstalled);
    let m = w.send(&b, "alice", b"new phone", NOW);
    w.deliver(&b, &a, &m[0].1).unwrap();
    w.approve(&a, &b);
    assert_eq!(w.get(&a).previous_sessions(&b).unwrap(), 0, "the old identity's sessions are gone");
    // The thief writes on the old session: it is not read, and does not
    // take over Alice's sending.
    let stolen = thief.send("alice", b"it's me, send money", &[], NOW).unwrap().messages.remove(0).1;
    assert!(w.get(&a).receive(&b, &stolen, NOW).is_err());
    let m = w.send(&a, "bob", b"for the real bob", NOW);
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"for the real bob");
    assert!(thief.receive(&a, &m[0].1, NOW).is_err());
}

#[test]
fn group_keys_from_a_device_that_is_not_trusted_are_refused() {
    let (mut w, a, b) = alice_and_bob();
    let members = [a.clone(), b.clone()];
    w.get(&a).create_group(b"g", &members).unwrap();
    w.get(&b).create_group(b"g", &members).unwrap();
    exchange(&mut w, &a, &b, 0);
    // A forger (the server) writes as alice.1 under its own identity and
    // sends sender keys for the group.
    let mut forger = device("alice", 1);
    forger.create_group(b"g", &members).unwrap();
    let fresh = bundle(w.get(&b));
    let sent = forger.send_group(b"g", b"I am alice", &[(b.clone(), fresh)], NOW).unwrap();
    let keys = &sent.distributions.messages[0].1;
    let r = w.get(&b).receive(&a, keys, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Unreadable);
    assert!(matches!(r.content_error(), Some(ReceiveError::UntrustedSender)));
    assert!(r.events().contains(&Event::IdentityChanged { address: a.clone() }));
    w.get(&b).commit_received(r, vec![]).unwrap();
    assert!(matches!(w.get(&b).receive_group(b"g", &a, &sent.message, NOW), Err(ReceiveError::Group(_))));
}

#[test]
fn a_devices_own_siblings_are_never_strangers() {
    let config = ConversationConfig::new().with_contact_policy(ContactPolicy::KnownContactsOnly);
    let mut w = World::default();
    let (phone, laptop) = (addr("alice", 1), addr("alice", 2));
    let mut p = device_with("alice", 1, config);
    p.set_devices("bob", &[1]).unwrap();
    w.add(p);
    let mut l = device_with("alice", 2, config);
    l.set_devices("alice", &[1, 2]).unwrap();
    l.set_devices("bob", &[1]).unwrap();
    w.add(l);
    w.add(device("bob", 1));
    // The laptop's copy of a message to Bob reaches the phone, which has
    // never heard of the laptop.
    let out = w.send(&laptop, "bob", b"hi bob", NOW);
    let copy = out.iter().find(|(to, _)| *to == phone).unwrap().1.clone();
    assert_eq!(w.deliver(&laptop, &phone, &copy).unwrap(), b"hi bob");
}

#[test]
fn writing_to_someone_whose_request_is_pending_accepts_it() {
    let config = ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    let (mut w, a, b) = alice_and_bob();
    w.add(device_with("bob", 1, config));
    let m = w.send(&a, "bob", b"hello?", NOW);
    w.deliver(&a, &b, &m[0].1).unwrap();
    assert_eq!(w.get(&b).requests().unwrap(), vec![a.clone()]);
    // Bob answers without accepting first: that accepts the request.
    w.get(&b).set_devices("alice", &[1]).unwrap();
    let reply = w.send(&b, "alice", b"hi!", NOW);
    assert!(w.get(&b).requests().unwrap().is_empty());
    assert_eq!(w.deliver(&b, &a, &reply[0].1).unwrap(), b"hi!");
    let m = w.send(&a, "bob", b"great", NOW);
    let r = w.get(&b).receive(&a, &m[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Message);
    assert_eq!(r.plaintext(), b"great");
}

#[test]
fn content_that_cannot_be_used_still_advances_the_session() {
    let (mut w, a, b) = alice_and_bob();
    // Alice's first words to Bob are sender keys, but Bob takes first
    // messages from strangers as requests, and keys are never taken from
    // a request.
    let config = ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    w.add(device_with("bob", 1, config));
    let members = [a.clone(), b.clone()];
    w.get(&a).create_group(b"g", &members).unwrap();
    w.get(&b).create_group(b"g", &members).unwrap();
    let fresh = bundle(w.get(&b));
    let sent = w.get(&a).send_group(b"g", b"x", &[(b.clone(), fresh)], NOW).unwrap();
    let r = w.get(&b).receive(&a, &sent.distributions.messages[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Unreadable);
    assert!(matches!(r.content_error(), Some(ReceiveError::UnknownContent { content_type: Some(1) })));
    w.get(&b).commit_received(r, vec![]).unwrap();
    // The session was set up all the same: the conversation goes on.
    let m = w.send(&a, "bob", b"still here", NOW);
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"still here");
}

#[test]
fn devices_that_only_wrote_cannot_fill_a_users_device_cap() {
    let (mut w, _a, b) = alice_and_bob();
    for id in 100..100 + dmseal::limits::MAX_DEVICES_PER_USER as u32 {
        let ghost = addr("alice", id);
        let mut g = device("alice", id);
        g.set_devices("bob", &[1]).unwrap();
        w.add(g);
        let m = w.send(&ghost, "bob", b"boo", NOW);
        w.deliver(&ghost, &b, &m[0].1).unwrap();
    }
    assert_eq!(w.get(&b).devices("alice").unwrap().len(), 1 + dmseal::limits::MAX_UNLISTED_DEVICES_PER_USER);
    // One more is refused, changing nothing: no pinned identity is
    // forgotten to make room.
    let ghost = addr("alice", 999);
    let mut g = device("alice", 999);
    g.set_devices("bob", &[1]).unwrap();
    w.add(g);
    let m = w.send(&ghost, "bob", b"boo", NOW);
    assert!(matches!(w.deliver(&ghost, &b, &m[0].1), Err(ReceiveError::TooManyDevices)));
    // Alice's real new device still gets in: listed devices have their own
    // cap.
    let events = w.get(&b).set_devices("alice", &[1, 2]).unwrap();
    assert_eq!(events, vec![Event::NewDevice { address: addr("alice", 2), status: DeviceStatus::Trusted }]);
    // At the cap with every device listed, more are refused.
    let all: Vec<u32> = (1..=dmseal::limits::MAX_DEVICES_PER_USER as u32).collect();
    w.get(&b).set_devices("alice", &all).unwrap();
    let too_many: Vec<u32> = (1..=dmseal::limits::MAX_DEVICES_PER_USER as u32 + 1).collect();
    assert!(matches!(w.get(&b).set_devices("alice", &too_many), Err(ConversationError::TooManyDevices { .. })));
}

#[test]
fn a_device_listed_after_it_wrote_is_reported_and_waits_for_approval_if_verified() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let ghost = addr("alice", 7);
    let mut g = device("alice", 7);
    g.set_devices("bob", &[1]).unwrap();
    w.add(g);
    let m = w.send(&ghost, "bob", b"hi", NOW);
    w.deliver(&ghost, &b, &m[0].1).unwrap();
    w.get(&b).set_verified("alice", true).unwrap();
    let events = w.get(&b).set_devices("alice", &[1, 7]).unwrap();
    assert_eq!(events, vec![Event::NewDevice { address: ghost.clone(), status: DeviceStatus::AwaitingApproval }]);
    assert!(matches!(w.get(&b).send("alice", b"x", &[], NOW), Err(SendError::Blocked(_))));
}

#[cfg(feature = "sqlite")]
#[test]
fn two_instances_on_one_database_never_both_advance_a_session() {
    use dmseal::store::SqliteStore;
    let path = std::env::temp_dir().join(format!("dmseal-two-writers-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let open = || {
        Conversations::open(SqliteStore::open(&path).unwrap(), [3; 32], addr("alice", 1), ConversationConfig::default())
            .unwrap()
    };
    let mut first = open();
    first.set_devices("bob", &[1]).unwrap();
    let mut second = open();
    let mut bob = device("bob", 1);
    let bob_address = bob.me().clone();
    let fresh = bundle(&mut bob);
    let m1 = first.send("bob", b"one", &[(bob_address.clone(), fresh)], NOW).unwrap().messages.remove(0).1;
    // The second instance sees the first's commit and carries on from it.
    let m2 = second.send("bob", b"two", &[], NOW).unwrap().messages.remove(0).1;
    // The first, now behind, also reloads; its stale copy is never used.
    let m3 = first.send("bob", b"three", &[], NOW).unwrap().messages.remove(0).1;
    for (m, text) in [(m1, &b"one"[..]), (m2, b"two"), (m3, b"three")] {
        let r = bob.receive(&addr("alice", 1), &m, NOW).unwrap();
        assert_eq!(r.plaintext(), text);
        bob.commit_received(r, vec![]).unwrap();
    }
    drop((first, second));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_store_opens_only_under_the_address_it_was_created_with() {
    let d = Conversations::open(MemoryStore::new(), [1; 32], addr("alice", 1), ConversationConfig::default()).unwrap();
    for other in [addr("alice", 2), addr("mallory", 1)] {
        match Conversations::open(d.store().snapshot(), [1; 32], other, ConversationConfig::default()) {
            Err(ConversationError::WrongDevice { stored }) => assert_eq!(stored, addr("alice", 1)),
            other => panic!("expected WrongDevice, got {other:?}"),
        }
    }
    assert!(
        Conversations::open(d.store().snapshot(), [1; 32], addr("alice", 1), ConversationConfig::default()).is_ok()
    );
}

#[test]
fn a_received_message_commits_only_in_the_instance_that_made_it() {
    let (mut w, a, b) = alice_and_bob();
    let m = w.send(&a, "bob", b"hello", NOW);
    let r = w.get(&b).receive(&a, &m[0].1, NOW).unwrap();
    let mut other = device("carol", 1);
    assert!(matches!(other.commit_received(r, vec![]), Err(ReceiveError::OtherInstance)));
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"hello");
}

fn receive_batch(w: &mut World, to: &Address, items: &[(Address, Vec<u8>)]) -> dmseal::ReceivedBatch {
    let incoming: Vec<dmseal::Incoming<'_>> =
        items.iter().map(|(from, bytes)| dmseal::Incoming::Direct { from, bytes }).collect();
    w.get(to).receive_batch(&incoming, NOW).unwrap()
}

#[test]
fn a_batch_of_queued_messages_reads_in_order_and_commits_once() {
    let (mut w, a, b) = alice_and_bob();
    let mut carol = device("carol", 1);
    carol.set_devices("bob", &[1]).unwrap();
    w.add(carol);
    let c = addr("carol", 1);
    let mut queued = Vec::new();
    for i in 0..5 {
        queued.push((a.clone(), w.send(&a, "bob", format!("alice {i}").as_bytes(), NOW).remove(0).1));
        if i < 2 {
            queued.push((c.clone(), w.send(&c, "bob", format!("carol {i}").as_bytes(), NOW).remove(0).1));
        }
    }
    let generation = w.get(&b).store().generation().unwrap();
    let batch = receive_batch(&mut w, &b, &queued);
    let texts: Vec<Vec<u8>> = batch.results().iter().map(|r| r.as_ref().unwrap().plaintext().to_vec()).collect();
    assert_eq!(texts[0], b"alice 0");
    assert_eq!(texts[1], b"carol 0");
    assert_eq!(texts[6], b"alice 4");
    // A message of the batch cannot be committed on its own.
    let rows: Vec<AppWrite> =
        texts.iter().enumerate().map(|(i, t)| AppWrite::put("inbox", vec![i as u8], t.clone())).collect();
    assert_eq!(w.get(&b).commit_batch(batch, rows).unwrap(), generation + 1, "one commit for the batch");
    assert_eq!(w.get(&b).store().app_row("inbox", &[6]).unwrap().as_deref(), Some(&b"alice 4"[..]));
    // Nothing reads twice, and the conversation goes on.
    assert!(w.get(&b).receive(&a, &queued[0].1, NOW).is_err());
    let m = w.send(&a, "bob", b"after the batch", NOW);
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"after the batch");
}

#[test]
fn a_batch_not_committed_is_dropped_by_the_next_operation() {
    let (mut w, a, b) = alice_and_bob();
    let queued: Vec<(Address, Vec<u8>)> =
        (0..3).map(|i| (a.clone(), w.send(&a, "bob", &[i], NOW).remove(0).1)).collect();
    let batch = receive_batch(&mut w, &b, &queued);
    assert!(batch.results().iter().all(Result::is_ok));
    let generation = w.get(&b).store().generation().unwrap();
    // Another operation runs first: the batch's state is dropped.
    w.get(&b).add_contact("carol").unwrap();
    assert!(matches!(w.get(&b).commit_batch(batch, vec![]), Err(ReceiveError::StaleBatch)));
    assert_eq!(w.get(&b).store().generation().unwrap(), generation + 1, "only add_contact committed");
    // The messages read again, one by one.
    for (i, (from, bytes)) in queued.iter().enumerate() {
        assert_eq!(w.deliver(from, &b, bytes).unwrap(), [i as u8]);
    }
}

#[test]
fn a_failed_message_in_a_batch_changes_nothing_and_the_others_read() {
    let (mut w, a, b) = alice_and_bob();
    let m0 = w.send(&a, "bob", b"zero", NOW).remove(0).1;
    let m1 = w.send(&a, "bob", b"one", NOW).remove(0).1;
    let mut tampered = m1.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let items = vec![(a.clone(), m0.clone()), (a.clone(), tampered), (a.clone(), m0), (a.clone(), m1.clone())];
    let batch = receive_batch(&mut w, &b, &items);
    let r = batch.results();
    assert_eq!(r[0].as_ref().unwrap().plaintext(), b"zero");
    assert!(r[1].is_err(), "tampered");
    assert!(r[2].is_err(), "duplicate within the batch");
    assert_eq!(r[3].as_ref().unwrap().plaintext(), b"one");
    w.get(&b).commit_batch(batch, vec![]).unwrap();
    assert!(w.get(&b).receive(&a, &m1, NOW).is_err(), "committed");
}

#[test]
fn group_keys_and_the_group_message_can_arrive_in_one_batch() {
    let (mut w, members) = group_world(b"g", &[addr("alice", 1), addr("bob", 1)]);
    let (a, b) = (members[0].clone(), members[1].clone());
    let sent = send_group(&mut w, &a, b"g", b"batched group hello");
    let keys = sent.distributions.messages[0].1.clone();
    let incoming = [
        dmseal::Incoming::Direct { from: &a, bytes: &keys },
        dmseal::Incoming::Group { group_id: b"g", from: &a, bytes: &sent.message },
    ];
    let batch = w.get(&b).receive_batch(&incoming, NOW).unwrap();
    assert_eq!(batch.results()[0].as_ref().unwrap().kind(), ReceivedKind::GroupKeys);
    assert_eq!(batch.results()[1].as_ref().unwrap().plaintext(), b"batched group hello");
    w.get(&b).commit_batch(batch, vec![]).unwrap();
    assert!(matches!(w.get(&b).receive_group(b"g", &a, &sent.message, NOW), Err(ReceiveError::Group(_))), "read once");
}

#[test]
fn request_messages_in_one_batch_read_once_each() {
    let config = ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    let (mut w, a, b) = alice_and_bob();
    w.add(device_with("bob", 1, config));
    let items: Vec<(Address, Vec<u8>)> =
        (0..3).map(|i| (a.clone(), w.send(&a, "bob", &[i], NOW).remove(0).1)).collect();
    let batch = receive_batch(&mut w, &b, &items);
    for (i, r) in batch.results().iter().enumerate() {
        let r = r.as_ref().unwrap();
        assert_eq!((r.kind(), r.plaintext()), (ReceivedKind::Request, &[i as u8][..]));
    }
    w.get(&b).commit_batch(batch, vec![]).unwrap();
    for (from, bytes) in &items {
        assert!(w.get(&b).receive(from, bytes, NOW).is_err(), "a request message read twice");
    }
    let m = w.send(&a, "bob", b"still waiting", NOW);
    let r = w.get(&b).receive(&a, &m[0].1, NOW).unwrap();
    assert_eq!((r.kind(), r.plaintext()), (ReceivedKind::Request, &b"still waiting"[..]));
}

/// A memory store whose session, user and group rows the test can
/// overwrite with raw bytes, as anyone who can write to the database can.
#[derive(Default)]
struct Writable {
    inner: MemoryStore,
    sessions: Mutex<BTreeMap<Address, Vec<u8>>>,
    users: Mutex<BTreeMap<String, Vec<u8>>>,
    groups: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl PreKeyStore for Writable {
    fn load_account(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.load_account()
    }
}

impl IdentityStore for Writable {
    fn load_user(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.users.lock().unwrap().get(user) {
            Some(row) => Ok(Some(row.clone())),
            None => self.inner.load_user(user),
        }
    }

    fn user_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = self.inner.user_ids()?;
        ids.extend(self.users.lock().unwrap().keys().cloned());
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

impl SessionStore for Writable {
    fn load_sessions(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        match self.sessions.lock().unwrap().get(address) {
            Some(row) => Ok(Some(row.clone())),
            None => self.inner.load_sessions(address),
        }
    }

    fn load_request(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.load_request(address)
    }

    fn request_addresses(&self) -> Result<Vec<Address>, StoreError> {
        self.inner.request_addresses()
    }

    fn session_addresses(&self) -> Result<Vec<Address>, StoreError> {
        self.inner.session_addresses()
    }
}

impl GroupStore for Writable {
    fn load_group(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.groups.lock().unwrap().get(group_id) {
            Some(row) => Ok(Some(row.clone())),
            None => self.inner.load_group(group_id),
        }
    }

    fn group_ids(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.group_ids()
    }
}

impl Store for Writable {
    fn generation(&self) -> Result<u64, StoreError> {
        self.inner.generation()
    }

    fn commit(&self, expected: u64, changes: &ChangeSet) -> Result<u64, StoreError> {
        self.inner.commit(expected, changes)
    }

    fn app_row(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.app_row(namespace, key)
    }

    fn purge_expired(&self, now: u64) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.purge_expired(now)
    }
}

fn is_foreign_record(e: &ConversationError) -> bool {
    matches!(e, ConversationError::Record(PickleError::WrongKeyOrCorrupted))
        && e.to_string().contains("does not open under this device's storage key")
}

#[test]
fn records_swapped_between_devices_sharing_a_storage_key_are_refused() {
    // Alice's two devices keep their stores under one storage key; each
    // has a session with Bob.
    let (mut w, a1, b) = alice_and_bob();
    exchange(&mut w, &a1, &b, 0);
    let a2 = addr("alice", 2);
    let store = Arc::new(Writable::default());
    let open = || Conversations::open(store.clone(), [7; 32], a2.clone(), ConversationConfig::default()).unwrap();
    let mut alice2 = open();
    alice2.set_devices("bob", &[1]).unwrap();
    let fresh = bundle(w.get(&b));
    let first = alice2.send("bob", b"from alice.2", &[(b.clone(), fresh)], NOW).unwrap().messages.remove(0).1;
    let r = w.get(&b).receive(&a2, &first, NOW).unwrap();
    w.get(&b).commit_received(r, vec![]).unwrap();
    w.get(&b).set_devices("alice", &[1, 2]).unwrap();
    let for_alice2 =
        |w: &mut World, text: &[u8]| w.send(&b, "alice", text, NOW).into_iter().find(|(to, _)| *to == a2).unwrap().1;
    let m = for_alice2(&mut w, b"to both");
    let r = alice2.receive(&b, &m, NOW).unwrap();
    alice2.commit_received(r, vec![]).unwrap();
    drop(alice2);
    let (own_row, generation) = (store.inner.load_sessions(&b).unwrap(), store.generation().unwrap());

    // Alice.1's session row for Bob is copied into alice.2's store: alice.2
    // neither reads nor sends with it, and nothing changes.
    let copied = w.get(&a1).store().load_sessions(&b).unwrap().unwrap();
    store.sessions.lock().unwrap().insert(b.clone(), copied);
    let mut swapped = open();
    let m = for_alice2(&mut w, b"after the swap");
    match swapped.receive(&b, &m, NOW) {
        Err(ReceiveError::Conversation(e)) => assert!(is_foreign_record(&e), "{e}"),
        other => panic!("expected a record error, got {other:?}"),
    }
    match swapped.send("bob", b"on a copied session", &[], NOW) {
        Err(SendError::Conversation(e)) => assert!(is_foreign_record(&e), "{e}"),
        other => panic!("expected a record error, got {other:?}"),
    }
    assert_eq!(store.generation().unwrap(), generation);
    assert_eq!(store.inner.load_sessions(&b).unwrap(), own_row);
    drop(swapped);
    store.sessions.lock().unwrap().clear();

    // The same for alice.1's user record of Bob.
    let copied = w.get(&a1).store().load_user("bob").unwrap().unwrap();
    store.users.lock().unwrap().insert("bob".to_owned(), copied);
    let swapped = open();
    match swapped.devices("bob") {
        Err(e) => assert!(is_foreign_record(&e), "{e}"),
        Ok(devices) => panic!("a copied user record opened: {devices:?}"),
    }
    drop(swapped);
    store.users.lock().unwrap().clear();

    // And for a group both devices hold under one id.
    let members = [b.clone()];
    w.get(&a1).create_group(b"g", &members).unwrap();
    open().create_group(b"g", &members).unwrap();
    let copied = w.get(&a1).store().load_group(b"g").unwrap().unwrap();
    store.groups.lock().unwrap().insert(b"g".to_vec(), copied);
    match open().group_members(b"g") {
        Err(e) => assert!(is_foreign_record(&e), "{e}"),
        Ok(members) => panic!("a copied group record opened: {members:?}"),
    }
    store.groups.lock().unwrap().clear();

    // With its own rows back, alice.2 reads on its own session.
    let mut alice2 = open();
    let r = alice2.receive(&b, &m, NOW).unwrap();
    assert_eq!(r.plaintext(), b"after the swap");
    alice2.commit_received(r, vec![]).unwrap();
}

#[test]
fn a_reply_to_an_accepted_request_needs_no_device_list() {
    let config = ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    let (mut w, a, b) = alice_and_bob();
    w.add(device_with("bob", 1, config));
    let m = w.send(&a, "bob", b"may I?", NOW);
    let r = w.get(&b).receive(&a, &m[0].1, NOW).unwrap();
    w.get(&b).commit_received(r, vec![]).unwrap();
    // Before accepting, alice.1 only wrote first: nothing fans out to it.
    assert!(
        matches!(w.get(&b).send("alice", b"x", &[], NOW), Err(SendError::NoDevices { ref user }) if user == "alice")
    );
    w.get(&b).accept_request(&a).unwrap();
    // Accepting lists the device whose request it was: Bob replies at once.
    let info = w.get(&b).devices("alice").unwrap();
    assert!(info.iter().any(|d| d.address == a && d.listed));
    let reply = w.send(&b, "alice", b"sure", NOW);
    assert_eq!(reply.len(), 1);
    assert_eq!(w.deliver(&b, &a, &reply[0].1).unwrap(), b"sure");
}

#[test]
fn a_bundle_source_is_asked_only_for_the_devices_that_need_bundles() {
    let (mut w, a, b) = alice_and_bob();
    let bobs = bundle(w.get(&b));
    let mut asked = Vec::new();
    let mut source = |need: &[Address]| -> Result<Vec<(Address, dmseal::PreKeyBundle)>, dmseal::BundleSourceError> {
        asked.push(need.to_vec());
        Ok(vec![(need[0].clone(), bobs.clone())])
    };
    let sent = w.get(&a).send_fetching("bob", b"hi", &mut source, NOW).unwrap();
    assert_eq!(asked, vec![vec![b.clone()]]);
    assert_eq!(w.deliver(&a, &b, &sent.messages[0].1).unwrap(), b"hi");
    // With a session, the source is not asked again.
    let mut never = |_: &[Address]| -> Result<Vec<(Address, dmseal::PreKeyBundle)>, dmseal::BundleSourceError> {
        panic!("asked although no bundle is needed")
    };
    let _ = w.get(&a).send_fetching("bob", b"again", &mut never, NOW).unwrap();
}

#[test]
fn a_failing_or_silent_bundle_source_fails_the_send_and_commits_nothing() {
    let (mut w, a, _b) = alice_and_bob();
    let generation = w.get(&a).store().generation().unwrap();
    let mut down = |_: &[Address]| -> Result<Vec<(Address, dmseal::PreKeyBundle)>, dmseal::BundleSourceError> {
        Err("directory unreachable".into())
    };
    let err = w.get(&a).send_fetching("bob", b"x", &mut down, NOW).unwrap_err();
    assert!(matches!(err, SendError::BundleSource(_)) && err.is_transient(), "{err:?}");
    let mut silent =
        |_: &[Address]| -> Result<Vec<(Address, dmseal::PreKeyBundle)>, dmseal::BundleSourceError> { Ok(Vec::new()) };
    let err = w.get(&a).send_fetching("bob", b"x", &mut silent, NOW).unwrap_err();
    assert!(matches!(err, SendError::NeedBundles(_)), "{err:?}");
    assert_eq!(w.get(&a).store().generation().unwrap(), generation);
}

#[test]
fn reopening_under_other_settings_is_refused_and_set_config_changes_them() {
    let requests = ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    let d = device_with("bob", 1, requests);
    let store = d.store().snapshot();
    // Reopened with the defaults (a forgotten config), the store refuses:
    // the contact policy would switch to Anyone without anyone asking.
    let err =
        Conversations::open(store.snapshot(), [7; 32], addr("bob", 1), ConversationConfig::default()).unwrap_err();
    assert!(matches!(err, ConversationError::ConfigChanged { stored } if stored == requests), "{err:?}");
    // With the stored settings it opens, and set_config changes them for
    // good: the next open must give the new ones.
    let mut d = Conversations::open(store.snapshot(), [7; 32], addr("bob", 1), requests).unwrap();
    let generation = d.store().generation().unwrap();
    d.set_config(ConversationConfig::default()).unwrap();
    assert_eq!(d.config(), &ConversationConfig::default());
    assert_eq!(d.store().generation().unwrap(), generation + 1);
    let snapshot = d.store().snapshot();
    assert!(Conversations::open(snapshot.snapshot(), [7; 32], addr("bob", 1), requests).is_err());
    assert!(Conversations::open(snapshot, [7; 32], addr("bob", 1), ConversationConfig::default()).is_ok());
}

#[test]
fn a_bundle_source_is_asked_at_most_twice_per_send() {
    let (mut w, a, b) = alice_and_bob();
    let bobs = bundle(w.get(&b));
    // Answers only when asked for the n-th time.
    let source = |answer_on: usize| {
        let mut calls = 0;
        let bobs = bobs.clone();
        move |need: &[Address]| -> Result<Vec<(Address, dmseal::PreKeyBundle)>, dmseal::BundleSourceError> {
            calls += 1;
            Ok(if calls == answer_on { vec![(need[0].clone(), bobs.clone())] } else { Vec::new() })
        }
    };
    // At the limit: the second answer is used.
    let mut d =
        Conversations::open(w.get(&a).store().snapshot(), [7; 32], a.clone(), ConversationConfig::default()).unwrap();
    assert_eq!(d.send_fetching("bob", b"x", &mut source(2), NOW).unwrap().messages.len(), 1);
    // Past it: a third ask never happens, and the send says what it needs.
    let err = w.get(&a).send_fetching("bob", b"x", &mut source(3), NOW).unwrap_err();
    assert!(matches!(err, SendError::NeedBundles(ref need) if need == std::slice::from_ref(&b)), "{err:?}");
}
