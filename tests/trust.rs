//! Trust through the conversation layer: what happens to everything of a
//! device's old identity when a new one appears (on every path), pinned
//! identities and the device caps, approvals of what was compared, group
//! membership and requests, and the send discipline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use dmseal::limits::MAX_UNLISTED_DEVICES_PER_USER;
use dmseal::store::{AppWrite, MemoryStore, SessionStore, Store};
use dmseal::{
    Address, ContactPolicy, ConversationConfig, ConversationError, Conversations, DeviceStatus, Event, GroupError,
    ReceiveError, ReceivedKind, SendError,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use self::common::world::*;

const REQUESTS: ConversationConfig = ConversationConfig::new()
    .with_contact_policy(ContactPolicy::MessageRequests)
    .with_max_unacknowledged_age(30 * DAY)
    .with_max_promotion_age(dmseal::limits::DEFAULT_MAX_PROMOTION_AGE);

/// The same device reopened on a copy of its store, its settings then
/// changed to `config` (they are stored: reopening under others is refused).
fn reopen(d: &Device, config: ConversationConfig) -> Device {
    let mut again = Conversations::open(d.store().snapshot(), [7; 32], d.me().clone(), *d.config()).unwrap();
    again.set_config(config).unwrap();
    again
}

#[test]
fn a_request_under_a_new_identity_deletes_every_session_of_the_old_one() {
    let mut w = World::default();
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    let mut alice = device("alice", 1);
    alice.set_devices("bob", &[1]).unwrap();
    w.add(alice);
    w.add(device("bob", 1));
    // Bob (anyone may write) reads Alice's first message: a session.
    let m = w.send(&a, "bob", b"hello", NOW);
    w.deliver(&a, &b, &m[0].1).unwrap();
    // Bob now holds strangers' first messages as requests. Alice
    // reinstalls; a thief keeps her old device and its session.
    let bob = reopen(w.get(&b), REQUESTS);
    w.add(bob);
    let mut thief = w.devices.remove(&a).unwrap();
    let mut reinstalled = device("alice", 1);
    reinstalled.set_devices("bob", &[1]).unwrap();
    w.add(reinstalled);
    let m = w.send(&a, "bob", b"new phone", NOW);
    let r = w.get(&b).receive(&a, &m[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Request);
    assert!(r.events().contains(&Event::IdentityChanged { address: a.clone() }));
    assert!(r.events().contains(&Event::MessageRequest { address: a.clone() }));
    w.get(&b).commit_received(r, vec![]).unwrap();
    assert_eq!(w.get(&b).current_session_base_key(&a).unwrap(), None, "the old identity's session is gone");
    // The thief's message on the old session is not read.
    let stolen = thief.send("bob", b"it's me", &[], NOW).unwrap().messages.remove(0).1;
    assert!(w.get(&b).receive(&a, &stolen, NOW).is_err());
    // Accepting the request brings nothing of the old identity back.
    w.get(&b).accept_request(&a).unwrap();
    assert_eq!(w.get(&b).previous_sessions(&a).unwrap(), 0);
    let stolen = thief.send("bob", b"still me", &[], NOW).unwrap().messages.remove(0).1;
    assert!(w.get(&b).receive(&a, &stolen, NOW).is_err());
    let m = w.send(&a, "bob", b"the real alice", NOW);
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"the real alice");
}

/// Alice and Bob in a group, Bob having read one message of Alice's; then
/// Alice reinstalls and a thief keeps her old device.
fn group_then_reinstall() -> (World, Address, Address, Device) {
    let (mut w, a, b) = alice_and_bob();
    let members = [a.clone(), b.clone()];
    w.get(&a).create_group(b"g", &members).unwrap();
    w.get(&b).create_group(b"g", &members).unwrap();
    let sent = send_group(&mut w, &a, b"g", b"before");
    assert_eq!(deliver_group(&mut w, &a, b"g", &sent, std::slice::from_ref(&b)).remove(0).unwrap(), b"before");
    let thief = w.devices.remove(&a).unwrap();
    let mut reinstalled = device("alice", 1);
    reinstalled.set_devices("bob", &[1]).unwrap();
    reinstalled.create_group(b"g", &members).unwrap();
    w.add(reinstalled);
    (w, a, b, thief)
}

fn thief_posts(w: &mut World, thief: &mut Device, b: &Address) -> Result<Vec<u8>, ReceiveError> {
    let sent = thief.send_group(b"g", b"send money", &[], NOW).unwrap();
    let from = thief.me().clone();
    w.get(b).receive_group(b"g", &from, &sent.message, NOW).map(|r| r.plaintext().to_vec())
}

#[test]
fn an_identity_change_seen_in_a_first_message_revokes_the_old_identitys_group_keys() {
    let (mut w, a, b, mut thief) = group_then_reinstall();
    let m = w.send(&a, "bob", b"new phone", NOW);
    w.deliver(&a, &b, &m[0].1).unwrap();
    // Not approved yet: the old state is already revoked.
    assert!(matches!(thief_posts(&mut w, &mut thief, &b), Err(ReceiveError::Group(GroupError::SenderRemoved))));
    w.approve(&b, &a);
    assert!(matches!(thief_posts(&mut w, &mut thief, &b), Err(ReceiveError::Group(GroupError::SenderRemoved))));
    // The new identity's keys are welcome once approved; Bob's own state
    // rotated, so the new device gets it and the thief does not.
    let sent = send_group(&mut w, &a, b"g", b"after");
    assert_eq!(deliver_group(&mut w, &a, b"g", &sent, std::slice::from_ref(&b)).remove(0).unwrap(), b"after");
    let from_bob = send_group(&mut w, &b, b"g", b"hi both");
    assert_eq!(from_bob.distributions.messages.len(), 1, "a fresh state for the new identity");
    assert!(thief.receive_group(b"g", &b, &from_bob.message, NOW).is_err());
}

#[test]
fn an_identity_change_seen_in_a_bundle_revokes_the_old_identitys_group_keys_and_sessions() {
    let (mut w, a, b, mut thief) = group_then_reinstall();
    // Bob fetches Alice's bundle (her old session expired, say): the new
    // identity blocks sending, and everything of the old one goes now.
    let fresh = bundle(w.get(&a));
    match w.get(&b).send("alice", b"hi", &[(a.clone(), fresh)], NOW) {
        Err(SendError::Blocked(blocked)) => assert_eq!(blocked, vec![(a.clone(), DeviceStatus::IdentityChanged)]),
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert_eq!(w.get(&b).current_session_base_key(&a).unwrap(), None);
    assert!(matches!(thief_posts(&mut w, &mut thief, &b), Err(ReceiveError::Group(GroupError::SenderRemoved))));
    let stolen = thief.send("bob", b"it's me", &[], NOW).unwrap().messages.remove(0).1;
    assert!(w.get(&b).receive(&a, &stolen, NOW).is_err());
}

#[test]
fn a_pinned_identity_is_never_forgotten_to_make_room() {
    let (mut w, _a, b) = alice_and_bob();
    // alice.5 writes first: unlisted, its identity pinned.
    let five = addr("alice", 5);
    let mut d = device("alice", 5);
    d.set_devices("bob", &[1]).unwrap();
    w.add(d);
    let m = w.send(&five, "bob", b"from the tablet", NOW);
    w.deliver(&five, &b, &m[0].1).unwrap();
    // Throwaway devices fill the unlisted slots; the next is refused.
    for id in 100..100 + MAX_UNLISTED_DEVICES_PER_USER as u32 {
        let ghost = addr("alice", id);
        let mut g = device("alice", id);
        g.set_devices("bob", &[1]).unwrap();
        w.add(g);
        let m = w.send(&ghost, "bob", b"boo", NOW);
        let result = w.deliver(&ghost, &b, &m[0].1);
        if id < 100 + MAX_UNLISTED_DEVICES_PER_USER as u32 - 1 {
            result.unwrap();
        } else {
            assert!(matches!(result, Err(ReceiveError::TooManyDevices)), "{result:?}");
        }
    }
    // alice.5 under another identity is a change, not a new device.
    let mut impostor = device("alice", 5);
    impostor.set_devices("bob", &[1]).unwrap();
    w.add(impostor);
    let m = w.send(&five, "bob", b"same tablet, honest", NOW);
    let r = w.get(&b).receive(&five, &m[0].1, NOW).unwrap();
    assert_eq!(r.events(), [Event::IdentityChanged { address: five.clone() }]);
}

#[test]
fn an_approval_counts_only_for_the_identity_that_was_compared() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    w.get(&a).set_verified("bob", true).unwrap();
    // Bob reinstalls; Alice is shown the new identity and compares it...
    let mut reinstalled = device("bob", 1);
    reinstalled.set_devices("alice", &[1]).unwrap();
    w.add(reinstalled);
    let m = w.send(&b, "alice", b"new phone", NOW);
    w.deliver(&b, &a, &m[0].1).unwrap();
    let compared = w.get(&a).devices("bob").unwrap()[0].identity.clone().unwrap();
    // ...but before she taps, the key is swapped again.
    let mut swapped = device("bob", 1);
    swapped.set_devices("alice", &[1]).unwrap();
    w.add(swapped);
    let m = w.send(&b, "alice", b"trust me", NOW);
    w.deliver(&b, &a, &m[0].1).unwrap();
    match w.get(&a).approve_device(&b, &compared) {
        Err(ConversationError::IdentityMismatch(address)) => assert_eq!(address, b),
        other => panic!("expected IdentityMismatch, got {other:?}"),
    }
    assert!(matches!(w.get(&a).send("bob", b"x", &[], NOW), Err(SendError::Blocked(_))));
    assert!(w.get(&a).is_verified("bob").unwrap(), "nothing changed");
    match w.get(&a).approve_device(&addr("bob", 9), &compared) {
        Err(ConversationError::UnknownDevice(_)) => {}
        other => panic!("expected UnknownDevice, got {other:?}"),
    }
}

#[test]
fn sending_to_a_group_does_not_accept_a_members_pending_request() {
    let (mut w, a, b) = alice_and_bob();
    w.add(device_with("bob", 1, REQUESTS));
    let m = w.send(&a, "bob", b"hello?", NOW);
    w.deliver(&a, &b, &m[0].1).unwrap();
    assert_eq!(w.get(&b).requests().unwrap(), vec![a.clone()]);
    let members = [a.clone(), b.clone()];
    w.get(&a).create_group(b"g", &members).unwrap();
    w.get(&b).create_group(b"g", &members).unwrap();
    // Bob's group keys go to Alice over a new session, not the request's.
    match w.get(&b).send_group(b"g", b"hi group", &[], NOW) {
        Err(SendError::NeedBundles(need)) => assert_eq!(need, vec![a.clone()]),
        other => panic!("expected NeedBundles, got {other:?}"),
    }
    let fresh = bundle(w.get(&a));
    let sent = w.get(&b).send_group(b"g", b"hi group", &[(a.clone(), fresh)], NOW).unwrap();
    assert_eq!(w.get(&b).requests().unwrap(), vec![a.clone()], "the request is still pending");
    let r = w.get(&a).receive(&b, &sent.distributions.messages[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::GroupKeys);
}

#[test]
fn a_device_cannot_add_itself_to_its_group() {
    let (mut w, a, b) = alice_and_bob();
    w.get(&a).create_group(b"g", &[a.clone(), b.clone()]).unwrap();
    assert!(matches!(w.get(&a).add_group_member(b"g", &a), Err(ConversationError::OwnAddress)));
    assert_eq!(w.get(&a).group_members(b"g").unwrap(), vec![b]);
}

#[test]
fn ciphertexts_reach_the_outbox_only_through_the_commit() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let mut seen = None;
    let out = w
        .get(&a)
        .send_with("bob", b"kept", &[], NOW, |sent| {
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].to(), Some(&b));
            let row = sent[0].store_at("outbox", b"1".to_vec());
            // The closure sees no bytes: there is nothing to transmit yet.
            assert_eq!(row.value(), None);
            seen = Some(row.clone());
            vec![row]
        })
        .unwrap();
    assert_eq!(w.get(&a).store().app_row("outbox", b"1").unwrap().as_deref(), Some(&out.messages[0].1[..]));
    // A row smuggled out of one send is refused by the next.
    let smuggled = seen.unwrap();
    match w.get(&a).send_with("bob", b"again", &[], NOW, move |_| vec![smuggled]) {
        Err(SendError::Conversation(ConversationError::ForeignOutboxRow)) => {}
        other => panic!("expected ForeignOutboxRow, got {other:?}"),
    }
    // Group sends: the group message first, then the distributions.
    let members = [a.clone(), b.clone()];
    w.get(&a).create_group(b"g", &members).unwrap();
    let sent = w
        .get(&a)
        .send_group_with(b"g", b"to all", &[], NOW, |sent| {
            assert_eq!(sent.iter().map(|o| o.to().cloned()).collect::<Vec<_>>(), vec![None, Some(b.clone())]);
            vec![sent[0].store_at("gout", b"1".to_vec()), AppWrite::put("meta", b"n".to_vec(), b"1".to_vec())]
        })
        .unwrap();
    assert_eq!(w.get(&a).store().app_row("gout", b"1").unwrap(), Some(sent.message));
}

/// Alice and Bob on seeded generators: one first message and a reply,
/// and Bob's stored record of the session.
fn seeded_run() -> Vec<Vec<u8>> {
    let open = |user: &str, seed: u8| {
        let rng = ChaCha20Rng::from_seed([seed; 32]);
        Conversations::open_with_rng(rng, MemoryStore::new(), [7; 32], addr(user, 1), ConversationConfig::default())
            .unwrap()
    };
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    let (mut alice, mut bob) = (open("alice", 1), open("bob", 2));
    alice.set_devices("bob", &[1]).unwrap();
    bob.set_devices("alice", &[1]).unwrap();
    let id = bob
        .update_account(|account| {
            let mut rng = ChaCha20Rng::from_seed([3; 32]);
            let id = account.generate_one_time_prekeys_with_rng(&mut rng, 1).unwrap()[0].id();
            account.mark_one_time_prekeys_published(&[id]).unwrap();
            id
        })
        .unwrap();
    let fresh = bob.account().prekey_bundle(Some(id), None).unwrap();
    let first = alice.send("bob", b"hi", &[(b.clone(), fresh)], NOW).unwrap().messages.remove(0).1;
    let r = bob.receive(&a, &first, NOW).unwrap();
    bob.commit_received(r, vec![]).unwrap();
    let reply = bob.send("alice", b"hello", &[], NOW).unwrap().messages.remove(0).1;
    let sealed = bob.store().load_sessions(&a).unwrap().unwrap();
    vec![first, reply, sealed]
}

#[test]
fn one_seeded_generator_makes_conversations_deterministic() {
    assert_eq!(seeded_run(), seeded_run());
}

#[test]
fn a_blocked_group_send_still_revokes_the_old_identity_in_that_group() {
    let (mut w, a, b, mut thief) = group_then_reinstall();
    // Bob has not sent in the group yet, so the group owes Alice his keys;
    // the bundle he fetches for her reveals her new identity.
    let fresh = bundle(w.get(&a));
    match w.get(&b).send_group(b"g", b"hi", &[(a.clone(), fresh)], NOW) {
        Err(SendError::Blocked(blocked)) => assert_eq!(blocked, vec![(a.clone(), DeviceStatus::IdentityChanged)]),
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert!(matches!(thief_posts(&mut w, &mut thief, &b), Err(ReceiveError::Group(GroupError::SenderRemoved))));
    w.approve(&b, &a);
    assert!(matches!(thief_posts(&mut w, &mut thief, &b), Err(ReceiveError::Group(GroupError::SenderRemoved))));
    // The distribution the blocked send did not deliver is still owed.
    let sent = send_group(&mut w, &b, b"g", b"hi again");
    assert_eq!(sent.distributions.messages.len(), 1);
    assert_eq!(deliver_group(&mut w, &b, b"g", &sent, std::slice::from_ref(&a)).remove(0).unwrap(), b"hi again");
}

#[test]
fn an_identity_change_from_a_bundle_is_kept_when_another_device_still_needs_its_bundle() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    w.get(&b).set_verified("alice", true).unwrap();
    w.get(&b).set_devices("alice", &[1, 2]).unwrap(); // alice.2: awaiting approval, identity unknown
    let mut reinstalled = device("alice", 1);
    reinstalled.set_devices("bob", &[1]).unwrap();
    w.add(reinstalled);
    let fresh = bundle(w.get(&a));
    match w.get(&b).send("alice", b"hi", &[(a.clone(), fresh)], NOW) {
        Err(SendError::Blocked(blocked)) => assert_eq!(
            blocked,
            vec![(a.clone(), DeviceStatus::IdentityChanged), (addr("alice", 2), DeviceStatus::AwaitingApproval)]
        ),
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert_eq!(w.get(&b).current_session_base_key(&a).unwrap(), None, "the old identity's session is gone");
}

#[test]
fn reads_and_repeated_blocked_sends_leave_a_received_message_committable() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let members = [a.clone(), b.clone()];
    w.get(&b).create_group(b"g", &members).unwrap();
    w.get(&b).set_verified("alice", true).unwrap();
    w.get(&b).set_devices("alice", &[1, 2]).unwrap();
    let m = w.send(&a, "bob", b"hello", NOW);
    let r = w.get(&b).receive(&a, &m[0].1, NOW).unwrap();
    let generation = w.get(&b).store().generation().unwrap();
    assert_eq!(w.get(&b).group_members(b"g").unwrap(), vec![a.clone()]);
    let mut alice2 = device("alice", 2);
    let fresh2 = bundle(&mut alice2);
    // The first blocked send learns alice.2's identity (a commit)...
    let bundles = [(addr("alice", 2), fresh2)];
    assert!(matches!(w.get(&b).send("alice", b"x", &bundles, NOW), Err(SendError::Blocked(_))));
    // ...a second one learns nothing new and commits nothing.
    let after_first = w.get(&b).store().generation().unwrap();
    assert_eq!(after_first, generation + 1);
    assert!(matches!(w.get(&b).send("alice", b"x", &bundles, NOW), Err(SendError::Blocked(_))));
    assert_eq!(w.get(&b).store().generation().unwrap(), after_first);
    // The message received before is stale only because of the real commit.
    assert!(w.get(&b).commit_received(r, vec![]).is_err());
    let r = w.get(&b).receive(&a, &m[0].1, NOW).unwrap();
    assert_eq!(w.get(&b).group_members(b"g").unwrap(), vec![a.clone()]);
    w.get(&b).commit_received(r, vec![]).unwrap();
}

#[test]
fn a_ciphertext_row_leaked_into_another_commit_is_refused() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let mut leaked = Vec::new();
    let out = w
        .get(&a)
        .send_with("bob", b"kept", &[], NOW, |sent| {
            leaked.push(sent[0].store_at("outbox", b"1".to_vec()));
            vec![sent[0].store_at("outbox", b"1".to_vec())]
        })
        .unwrap();
    let m = w.send(&b, "alice", b"reply", NOW);
    let r = w.get(&a).receive(&b, &m[0].1, NOW).unwrap();
    match w.get(&a).commit_received(r, leaked) {
        Err(ReceiveError::Conversation(ConversationError::ForeignOutboxRow)) => {}
        other => panic!("expected ForeignOutboxRow, got {other:?}"),
    }
    assert_eq!(w.get(&a).store().app_row("outbox", b"1").unwrap(), Some(out.messages[0].1.clone()));
}

#[test]
fn a_message_claiming_to_come_from_this_device_is_refused() {
    let (mut w, a, b) = alice_and_bob();
    // A genuine first message, presented as coming from Bob's own address:
    // refused before anything is read, whatever the bytes.
    let m = w.send(&a, "bob", b"hi", NOW);
    match w.get(&b).receive(&b, &m[0].1, NOW) {
        Err(ReceiveError::Conversation(ConversationError::OwnAddress)) => {}
        other => panic!("expected OwnAddress, got {other:?}"),
    }
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"hi", "nothing changed");
}

#[test]
fn accepting_one_request_accepts_the_users_other_pending_requests() {
    let mut w = World::default();
    let b = addr("bob", 1);
    w.add(device_with("bob", 1, REQUESTS));
    for id in [1, 2] {
        let mut m = device("mallory", id);
        m.set_devices("bob", &[1]).unwrap();
        w.add(m);
        let sent = w.send(&addr("mallory", id), "bob", b"hi", NOW);
        w.deliver(&addr("mallory", id), &b, &sent[0].1).unwrap();
    }
    assert_eq!(w.get(&b).requests().unwrap().len(), 2);
    w.get(&b).accept_request(&addr("mallory", 1)).unwrap();
    assert!(w.get(&b).requests().unwrap().is_empty());
    let sent = w.send(&addr("mallory", 2), "bob", b"me too", NOW);
    let r = w.get(&b).receive(&addr("mallory", 2), &sent[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Message);
}

#[test]
fn forgetting_a_device_revokes_its_group_keys() {
    let (mut w, a, b) = alice_and_bob();
    let members = [a.clone(), b.clone()];
    w.get(&a).create_group(b"g", &members).unwrap();
    w.get(&b).create_group(b"g", &members).unwrap();
    let sent = send_group(&mut w, &a, b"g", b"before");
    deliver_group(&mut w, &a, b"g", &sent, std::slice::from_ref(&b)).remove(0).unwrap();
    assert!(matches!(w.get(&b).forget_device(&a), Err(ConversationError::DeviceListed(_))));
    w.get(&b).set_devices("alice", &[]).unwrap();
    assert!(w.get(&b).forget_device(&a).unwrap());
    let later = w.get(&a).send_group(b"g", b"after", &[], NOW).unwrap();
    assert!(matches!(
        w.get(&b).receive_group(b"g", &a, &later.message, NOW),
        Err(ReceiveError::Group(GroupError::SenderRemoved))
    ));
    assert_eq!(w.get(&b).current_session_base_key(&a).unwrap(), None);
}

/// A device whose account behaves as a peer without PQ support (its
/// bundles carry no PQ prekey; it accepts and starts classic X3DH).
fn classic_device(user: &str, id: u32, seed: u8) -> Device {
    let mut d = device(user, id);
    d.update_account(|a| *a = dmseal::Account::new_classic_only_with_rng(&mut ChaCha20Rng::from_seed([seed; 32])))
        .unwrap();
    d
}

#[test]
fn a_device_that_used_pqxdh_is_never_taken_back_to_classic_x3dh() {
    let mut w = World::default();
    let (a, b, c) = (addr("alice", 1), addr("bob", 1), addr("carol", 1));
    // Alice accepts classic setups (she talks to legacy peers) but Bob's
    // device set up its session with her over PQXDH.
    let mut alice = classic_device("alice", 1, 70);
    alice.set_devices("bob", &[1]).unwrap();
    w.add(alice);
    w.add(device("bob", 1));
    let mut carol = classic_device("carol", 1, 71);
    carol.set_devices("alice", &[1]).unwrap();
    w.add(carol);
    let m = w.send(&a, "bob", b"hi bob", NOW);
    assert_eq!(w.deliver(&a, &b, &m[0].1).unwrap(), b"hi bob");
    // A legacy device writing as bob.1 with a classic first message is
    // refused before any decryption, and nothing changes.
    let mut mallory = classic_device("bob", 1, 72);
    mallory.set_devices("alice", &[1]).unwrap();
    let alices_bundle = bundle(w.get(&a));
    let forged = mallory.send("alice", b"it's bob, new phone", &[(a.clone(), alices_bundle)], NOW).unwrap();
    let generation = w.get(&a).store().generation().unwrap();
    let err = w.get(&a).receive(&b, &forged.messages[0].1, NOW).unwrap_err();
    assert!(matches!(err, ReceiveError::FirstMessage(dmseal::FirstMessageError::ClassicSetupRefused)), "{err:?}");
    assert_eq!(w.get(&a).store().generation().unwrap(), generation);
    // Nor does a classic bundle for bob.1 start a session, even one its
    // holder signed as classic.
    let classic = bundle(&mut mallory);
    assert!(classic.pq_prekey().is_none());
    let err = w.get(&a).send("bob", b"x", &[(b.clone(), classic)], NOW).unwrap_err();
    assert!(matches!(err, SendError::Bundle { error: dmseal::StartError::PqPreKeyStripped, .. }), "{err:?}");
    // A legacy device that never used PQXDH is still accepted.
    let m = w.send(&c, "alice", b"hello from carol", NOW);
    assert_eq!(w.deliver(&c, &a, &m[0].1).unwrap(), b"hello from carol");
}

#[test]
fn a_classic_bundle_for_a_post_quantum_device_is_refused_as_stripped_under_the_default_setting() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    // A bundle signed as classic (a legacy account at bob.1): the default
    // account would say MissingPqPreKey; for a device known to use PQXDH
    // it is a downgrade, whatever the setting.
    let mut legacy = classic_device("bob", 1, 73);
    let classic = bundle(&mut legacy);
    let err = w.get(&a).send("bob", b"x", &[(b.clone(), classic)], NOW).unwrap_err();
    assert!(matches!(err, SendError::Bundle { error: dmseal::StartError::PqPreKeyStripped, .. }), "{err:?}");
}

#[test]
fn once_a_device_uses_pqxdh_its_older_classic_sessions_are_gone() {
    let mut w = World::default();
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    // Alice publishes classic bundles; Bob starts a classic session to her.
    let mut alice = classic_device("alice", 1, 74);
    alice.set_devices("bob", &[1]).unwrap();
    let mut bob = device("bob", 1);
    bob.set_devices("alice", &[1]).unwrap();
    bob.update_account(|acc| acc.set_classic_x3dh(dmseal::ClassicX3dh::AcceptAndInitiate)).unwrap();
    w.add(alice);
    w.add(bob);
    let m = w.send(&b, "alice", b"classic hello", NOW);
    assert_eq!(w.deliver(&b, &a, &m[0].1).unwrap(), b"classic hello");
    // Alice then starts a PQXDH session from Bob's bundle: bob.1 is now a
    // post-quantum device, and the classic session is dropped at once.
    let pq_bundle = bundle(w.get(&b));
    let sent = w.get(&a).send("bob", b"pq hello", &[(b.clone(), pq_bundle)], NOW).unwrap();
    assert_eq!(w.get(&a).previous_sessions(&b).unwrap(), 0);
    // Bob still writes on the classic session: it no longer reads (it
    // could otherwise have been promoted back to current).
    let late = w.send(&b, "alice", b"on the classic session", NOW);
    assert!(w.deliver(&b, &a, &late[0].1).is_err());
    // The PQXDH session works both ways.
    assert_eq!(w.deliver(&a, &b, &sent.messages[0].1).unwrap(), b"pq hello");
    let reply = w.send(&b, "alice", b"pq reply", NOW);
    assert_eq!(w.deliver(&b, &a, &reply[0].1).unwrap(), b"pq reply");
}
