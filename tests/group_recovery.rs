//! Group keys that arrive early or get lost (docs/PROTOCOL.md §13.7):
//! pending distributions, telling final group errors from transient ones,
//! and sender-key requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use dmseal::limits::MAX_PENDING_GROUP_KEYS_PER_DEVICE;
use dmseal::store::Store;
use dmseal::{Address, ConversationConfig, ConversationError, Conversations, GroupError, ReceiveError, ReceivedKind};

use self::common::world::*;

/// Delivers the distributions of a group send and commits each; returns
/// their kinds.
fn take_keys(w: &mut World, from: &Address, sent: &dmseal::GroupSend) -> Vec<ReceivedKind> {
    sent.distributions
        .messages
        .iter()
        .map(|(to, bytes)| {
            let d = w.get(to);
            let r = d.receive(from, bytes, NOW).unwrap();
            let kind = r.kind();
            d.commit_received(r, vec![]).unwrap();
            kind
        })
        .collect()
}

fn read_group(
    w: &mut World,
    at: &Address,
    group: &[u8],
    from: &Address,
    message: &[u8],
) -> Result<Vec<u8>, ReceiveError> {
    let d = w.get(at);
    let r = d.receive_group(group, from, message, NOW)?;
    let plaintext = r.plaintext().to_vec();
    d.commit_received(r, vec![]).unwrap();
    Ok(plaintext)
}

/// Alice and Bob with sessions both ways; Alice has `groups`, Bob none.
fn alice_ahead(groups: &[&[u8]]) -> (World, Address, Address) {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    for g in groups {
        w.get(&a).create_group(g, std::slice::from_ref(&b)).unwrap();
    }
    (w, a, b)
}

#[test]
fn group_keys_that_arrive_before_the_group_are_applied_when_it_is_created() {
    let (mut w, a, b) = alice_ahead(&[b"g"]);
    let sent = send_group(&mut w, &a, b"g", b"early bird");
    assert_eq!(take_keys(&mut w, &a, &sent), vec![ReceivedKind::GroupKeys]);
    // No group yet: the message waits (transient), the keys are kept.
    let early = read_group(&mut w, &b, b"g", &a, &sent.message).unwrap_err();
    assert!(matches!(early, ReceiveError::Conversation(ConversationError::UnknownGroup)));
    assert!(early.is_transient());
    w.get(&b).create_group(b"g", std::slice::from_ref(&a)).unwrap();
    assert_eq!(read_group(&mut w, &b, b"g", &a, &sent.message).unwrap(), b"early bird");
}

#[test]
fn group_keys_from_a_device_not_yet_a_member_are_applied_when_it_is_added() {
    let (mut w, a, b) = alice_ahead(&[b"g"]);
    w.get(&b).create_group(b"g", &[]).unwrap();
    let sent = send_group(&mut w, &a, b"g", b"let me in");
    assert_eq!(take_keys(&mut w, &a, &sent), vec![ReceivedKind::GroupKeys]);
    // Not a member here: final for this message as things stand.
    let refused = read_group(&mut w, &b, b"g", &a, &sent.message).unwrap_err();
    assert!(matches!(refused, ReceiveError::Group(GroupError::NotAMember)));
    assert!(!refused.is_transient());
    w.get(&b).add_group_member(b"g", &a).unwrap();
    assert_eq!(read_group(&mut w, &b, b"g", &a, &sent.message).unwrap(), b"let me in");
}

#[test]
fn pending_group_keys_are_kept_up_to_the_limit_per_device_and_the_oldest_go_first() {
    let groups: Vec<Vec<u8>> = (0..=MAX_PENDING_GROUP_KEYS_PER_DEVICE).map(|i| format!("g{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = groups.iter().map(Vec::as_slice).collect();
    let (mut w, a, b) = alice_ahead(&refs);
    let sent: Vec<_> = groups.iter().map(|g| send_group(&mut w, &a, g, g)).collect();
    for s in &sent {
        assert_eq!(take_keys(&mut w, &a, s), vec![ReceivedKind::GroupKeys]);
    }
    for g in &groups {
        w.get(&b).create_group(g, std::slice::from_ref(&a)).unwrap();
    }
    // One past the limit: the oldest was dropped; the limit's worth read.
    let oldest = read_group(&mut w, &b, &groups[0], &a, &sent[0].message).unwrap_err();
    assert!(matches!(oldest, ReceiveError::Group(GroupError::UnknownSenderState)));
    for (g, s) in groups.iter().zip(&sent).skip(1) {
        assert_eq!(read_group(&mut w, &b, g, &a, &s.message).unwrap(), *g);
    }
}

#[test]
fn pending_group_keys_of_an_identity_that_changed_are_never_applied() {
    let (mut w, a, b) = alice_ahead(&[b"g"]);
    let sent = send_group(&mut w, &a, b"g", b"from the old phone");
    take_keys(&mut w, &a, &sent);
    // Alice's device is reinstalled (or impersonated) under a new identity.
    let mut reinstalled = device("alice", 1);
    reinstalled.set_devices("bob", &[1]).unwrap();
    w.add(reinstalled);
    let m = w.send(&a, "bob", b"new phone", NOW);
    w.deliver(&a, &b, &m[0].1).unwrap();
    w.approve(&b, &a);
    w.get(&b).create_group(b"g", std::slice::from_ref(&a)).unwrap();
    let old = read_group(&mut w, &b, b"g", &a, &sent.message).unwrap_err();
    assert!(matches!(old, ReceiveError::Group(GroupError::UnknownSenderState)));
}

#[test]
fn receive_group_tells_missing_keys_from_a_non_member_and_a_removed_sender() {
    let members = [addr("alice", 1), addr("bob", 1), addr("carol", 1)];
    let (mut w, m) = group_world(b"g", &members);
    let (a, b, c) = (m[0].clone(), m[1].clone(), m[2].clone());
    let sent = send_group(&mut w, &a, b"g", b"one");
    // Before the keys: transient, and nothing changed.
    let generation = w.get(&b).store().generation().unwrap();
    let missing = read_group(&mut w, &b, b"g", &a, &sent.message).unwrap_err();
    assert!(matches!(missing, ReceiveError::Group(GroupError::UnknownSenderState)) && missing.is_transient());
    assert_eq!(w.get(&b).store().generation().unwrap(), generation);
    deliver_group(&mut w, &a, b"g", &sent, &[b.clone(), c.clone()]);
    // Carol removes Alice: Alice's messages are final failures there.
    w.get(&c).remove_group_member(b"g", &a).unwrap();
    let later = w.get(&a).send_group(b"g", b"two", &[], NOW).unwrap();
    let removed = read_group(&mut w, &c, b"g", &a, &later.message).unwrap_err();
    assert!(matches!(removed, ReceiveError::Group(GroupError::SenderRemoved)) && !removed.is_transient());
    // A device that is no member at all, with a state nobody knows.
    let mut stranger = device("mallory", 1);
    stranger.create_group(b"g", std::slice::from_ref(&b)).unwrap();
    let s = stranger.send_group(b"g", b"hi", &[(b.clone(), bundle(w.get(&b)))], NOW).unwrap();
    let outsider = read_group(&mut w, &b, b"g", stranger.me(), &s.message).unwrap_err();
    assert!(matches!(outsider, ReceiveError::Group(GroupError::NotAMember)) && !outsider.is_transient());
    // A member's message presented as another member's is refused.
    let forged = read_group(&mut w, &b, b"g", &c, &later.message).unwrap_err();
    assert!(matches!(forged, ReceiveError::Group(GroupError::UnexpectedSender)));
    assert_eq!(read_group(&mut w, &b, b"g", &a, &later.message).unwrap(), b"two");
}

#[test]
fn a_member_restored_from_an_old_backup_gets_sender_keys_back_by_asking() {
    let (mut w, m) = group_world(b"g", &[addr("alice", 1), addr("bob", 1)]);
    let (a, b) = (m[0].clone(), m[1].clone());
    let backup = w.get(&b).store().snapshot();
    let sent = send_group(&mut w, &a, b"g", b"before the crash");
    assert_eq!(
        deliver_group(&mut w, &a, b"g", &sent, std::slice::from_ref(&b)).remove(0).unwrap(),
        b"before the crash"
    );
    // Bob's phone is restored from the backup: Alice's keys are gone.
    w.add(Conversations::open(backup, [7; 32], b.clone(), ConversationConfig::default()).unwrap());
    let lost = w.get(&a).send_group(b"g", b"lost", &[], NOW).unwrap();
    let err = read_group(&mut w, &b, b"g", &a, &lost.message).unwrap_err();
    assert!(err.is_transient());
    // Bob asks (over a new session: his old one is gone too)...
    let alice_bundle = bundle(w.get(&a));
    let request = w.get(&b).request_group_keys(b"g", &a, &[(a.clone(), alice_bundle)], NOW).unwrap();
    let asked = w.get(&a).receive(&b, &request.messages[0].1, NOW).unwrap();
    assert_eq!((asked.kind(), asked.group_id()), (ReceivedKind::GroupKeysRequested, Some(&b"g"[..])));
    w.get(&a).commit_received(asked, vec![]).unwrap();
    // ...and Alice answers from her next message on.
    let keys = w.get(&a).send_group_keys(b"g", &[], NOW).unwrap();
    assert_eq!(keys.messages.len(), 1);
    assert_eq!(w.deliver(&a, &b, &keys.messages[0].1).unwrap(), b"");
    let after = w.get(&a).send_group(b"g", b"after", &[], NOW).unwrap();
    assert!(after.distributions.messages.is_empty(), "nothing more is owed");
    assert_eq!(read_group(&mut w, &b, b"g", &a, &after.message).unwrap(), b"after");
    // The message sent before the answer stays unreadable here.
    assert!(read_group(&mut w, &b, b"g", &a, &lost.message).is_err());
}

#[test]
fn a_flood_of_key_requests_costs_one_distribution() {
    let (mut w, m) = group_world(b"g", &[addr("alice", 1), addr("bob", 1)]);
    let (a, b) = (m[0].clone(), m[1].clone());
    let sent = send_group(&mut w, &a, b"g", b"hello");
    deliver_group(&mut w, &a, b"g", &sent, std::slice::from_ref(&b));
    for _ in 0..20 {
        let request = w.get(&b).request_group_keys(b"g", &a, &[], NOW).unwrap();
        let r = w.get(&a).receive(&b, &request.messages[0].1, NOW).unwrap();
        assert_eq!(r.kind(), ReceivedKind::GroupKeysRequested);
        w.get(&a).commit_received(r, vec![]).unwrap();
    }
    assert_eq!(w.get(&a).send_group_keys(b"g", &[], NOW).unwrap().messages.len(), 1);
    assert!(w.get(&a).send_group_keys(b"g", &[], NOW).unwrap().messages.is_empty());
}

#[test]
fn a_key_request_from_a_device_that_is_not_a_member_is_refused_and_owes_nothing() {
    let (mut w, m) = group_world(b"g", &[addr("alice", 1), addr("bob", 1)]);
    let (a, b) = (m[0].clone(), m[1].clone());
    let sent = send_group(&mut w, &a, b"g", b"hello");
    deliver_group(&mut w, &a, b"g", &sent, std::slice::from_ref(&b));
    // Carol knows Alice, and has a group of the same id with Alice in it.
    let mut carol = device("carol", 1);
    carol.create_group(b"g", std::slice::from_ref(&a)).unwrap();
    let c = carol.me().clone();
    w.add(carol);
    let alice_bundle = bundle(w.get(&a));
    let request = w.get(&c).request_group_keys(b"g", &a, &[(a.clone(), alice_bundle)], NOW).unwrap();
    let r = w.get(&a).receive(&c, &request.messages[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Unreadable);
    assert!(matches!(r.content_error(), Some(ReceiveError::Group(GroupError::NotAMember))));
    w.get(&a).commit_received(r, vec![]).unwrap();
    assert!(w.get(&a).send_group_keys(b"g", &[], NOW).unwrap().messages.is_empty());
    // And a removed member's request is refused the same way.
    w.get(&a).remove_group_member(b"g", &b).unwrap();
    let request = w.get(&b).request_group_keys(b"g", &a, &[], NOW).unwrap();
    let r = w.get(&a).receive(&b, &request.messages[0].1, NOW).unwrap();
    assert!(matches!(r.content_error(), Some(ReceiveError::Group(GroupError::NotAMember))));
}
