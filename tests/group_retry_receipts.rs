//! Retry receipts for group messages (docs/PROTOCOL.md §13.10): a group
//! message that was lost, or whose keys never came, is asked for again,
//! sent again over the 1:1 session from the sender's bounded group
//! outbox, and read exactly once; never to a device that was not a
//! member when it was sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use dmseal::limits::MAX_RESENDS_PER_MESSAGE;
use dmseal::store::Store;
use dmseal::{
    Address, BundleSourceError, ConversationConfig, GROUP_OUTBOX_NAMESPACE, GroupError, PreKeyBundle, ReceiveError,
    ReceivedKind,
};

use self::common::world::*;

const G: &[u8] = b"team";

fn no_bundles(_: &[Address]) -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
    Ok(Vec::new())
}

/// Three devices in one group, each with the others' sender keys.
fn trio() -> (World, Address, Address, Address) {
    let (a, b, c) = (addr("alice", 1), addr("bob", 1), addr("carol", 1));
    let (mut w, members) = group_world(G, &[a.clone(), b.clone(), c.clone()]);
    for m in &members {
        let sent = send_group(&mut w, m, G, b"hello");
        let others: Vec<Address> = members.iter().filter(|o| *o != m).cloned().collect();
        assert!(deliver_group(&mut w, m, G, &sent, &others).iter().all(Result::is_ok));
    }
    (w, a, b, c)
}

/// Reads a 1:1 message and commits it: its kind, group and plaintext.
fn read(
    w: &mut World,
    at: &Address,
    from: &Address,
    bytes: &[u8],
    now: u64,
) -> (ReceivedKind, Option<Vec<u8>>, Vec<u8>) {
    let r = w.get(at).receive(from, bytes, now).unwrap();
    let out = (r.kind(), r.group_id().map(<[u8]>::to_vec), r.plaintext().to_vec());
    w.get(at).commit_received(r, vec![]).unwrap();
    out
}

fn read_group(
    w: &mut World,
    at: &Address,
    from: &Address,
    message: &[u8],
) -> Result<(ReceivedKind, Vec<u8>), ReceiveError> {
    let r = w.get(at).receive_group(G, from, message, NOW)?;
    let out = (r.kind(), r.plaintext().to_vec());
    w.get(at).commit_received(r, vec![]).unwrap();
    Ok(out)
}

/// `at` sends `owner` a group receipt for `failed`, which the owner reads.
fn receipt(w: &mut World, at: &Address, owner: &Address, failed: &[u8], now: u64) -> ReceivedKind {
    // A session with the owner is started from its bundle if there is none.
    let offered = bundle(w.get(owner));
    let mut source = |_: &[Address]| Ok::<_, BundleSourceError>(vec![(owner.clone(), offered.clone())]);
    let out = w.get(at).send_group_retry_receipt(G, owner, failed, &mut source, now).unwrap();
    assert_eq!(out.messages.len(), 1);
    read(w, owner, at, &out.messages[0].1, now).0
}

/// What `owner` sends `to` again at `now`.
fn resend(w: &mut World, owner: &Address, to: &Address, now: u64) -> Vec<Vec<u8>> {
    w.get(owner).resend(to, &mut no_bundles, now).unwrap().messages.into_iter().map(|(_, m)| m).collect()
}

#[test]
fn a_lost_group_message_is_asked_for_and_read_exactly_once() {
    let (mut w, a, b, c) = trio();
    let lost = send_group(&mut w, &a, G, b"lost on the way to bob");
    assert!(deliver_group(&mut w, &a, G, &lost, std::slice::from_ref(&c))[0].is_ok());
    let next = send_group(&mut w, &a, G, b"after it");
    assert!(deliver_group(&mut w, &a, G, &next, std::slice::from_ref(&b))[0].is_ok());
    // Bob sees the gap and asks for what it skipped.
    let ask = w.get(&b).request_missing_group(G, &a, &mut no_bundles, NOW).unwrap();
    assert_eq!(ask.messages.len(), 1);
    assert_eq!(read(&mut w, &a, &b, &ask.messages[0].1, NOW).0, ReceivedKind::RetryRequested);
    let again = resend(&mut w, &a, &b, NOW);
    assert_eq!(again.len(), 1);
    assert_eq!(
        read(&mut w, &b, &a, &again[0], NOW),
        (ReceivedKind::GroupMessage, Some(G.to_vec()), b"lost on the way to bob".to_vec())
    );
    // The original arriving late is not read a second time, nor a copy
    // of the re-send.
    assert!(matches!(read_group(&mut w, &b, &a, &lost.message), Err(ReceiveError::Group(GroupError::Duplicate))));
    assert!(w.get(&b).receive(&a, &again[0], NOW).is_err(), "a replayed 1:1 message");
    // Nothing is missing any more.
    assert!(w.get(&b).request_missing_group(G, &a, &mut no_bundles, NOW).unwrap().messages.is_empty());
}

#[test]
fn a_group_message_whose_keys_never_came_is_sent_again_and_its_original_not_read_twice() {
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    let (mut w, _) = group_world(G, &[a.clone(), b.clone()]);
    let first = send_group(&mut w, &a, G, b"keys lost");
    // The distribution to Bob is held back; the message fails, transient.
    let early = read_group(&mut w, &b, &a, &first.message).unwrap_err();
    assert!(early.is_transient());
    assert_eq!(receipt(&mut w, &b, &a, &first.message, NOW), ReceivedKind::RetryRequested);
    let again = resend(&mut w, &a, &b, NOW);
    assert_eq!(again.len(), 1);
    assert_eq!(read(&mut w, &b, &a, &again[0], NOW).2, b"keys lost");
    // The keys come after all: the original decrypts, but is not read again.
    for (to, bytes) in &first.distributions.messages {
        assert_eq!(read(&mut w, to, &a, bytes, NOW).0, ReceivedKind::GroupKeys);
    }
    let late = read_group(&mut w, &b, &a, &first.message).unwrap();
    assert_eq!(late, (ReceivedKind::Unreadable, Vec::new()));
    // Later messages read as usual.
    let more = send_group(&mut w, &a, G, b"and on");
    assert_eq!(read_group(&mut w, &b, &a, &more.message).unwrap().1, b"and on");
}

#[test]
fn a_member_added_later_is_never_sent_a_message_from_before_it_joined() {
    let (a, b, c) = (addr("alice", 1), addr("bob", 1), addr("carol", 1));
    let (mut w, _) = group_world(G, &[a.clone(), b.clone()]);
    let before = send_group(&mut w, &a, G, b"before carol");
    let mut carol = device("carol", 1);
    carol.create_group(G, &[a.clone(), b.clone()]).unwrap();
    w.add(carol);
    w.get(&a).add_group_member(G, &c).unwrap();
    let after = send_group(&mut w, &a, G, b"with carol");
    // Carol got the group messages' bytes from the server and asks for both.
    let _ = w.get(&c).receive(&a, &after.distributions.messages.iter().find(|(to, _)| *to == c).unwrap().1, NOW);
    assert_eq!(receipt(&mut w, &c, &a, &before.message, NOW), ReceivedKind::RetryRequested);
    assert!(resend(&mut w, &a, &c, NOW).is_empty(), "nothing from before Carol joined");
    assert_eq!(receipt(&mut w, &c, &a, &after.message, NOW), ReceivedKind::RetryRequested);
    let again = resend(&mut w, &a, &c, NOW);
    assert_eq!(again.len(), 1);
    assert_eq!(read(&mut w, &c, &a, &again[0], NOW).2, b"with carol");
}

#[test]
fn a_removed_members_group_receipt_is_refused() {
    let (mut w, a, b, _c) = trio();
    let sent = send_group(&mut w, &a, G, b"bob is leaving");
    w.get(&a).remove_group_member(G, &b).unwrap();
    let out = w.get(&b).send_group_retry_receipt(G, &a, &sent.message, &mut no_bundles, NOW).unwrap();
    let r = w.get(&a).receive(&b, &out.messages[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Unreadable);
    assert!(matches!(r.content_error(), Some(ReceiveError::Group(GroupError::NotAMember))));
    w.get(&a).commit_received(r, vec![]).unwrap();
    assert!(resend(&mut w, &a, &b, NOW).is_empty());
}

#[test]
fn a_flood_of_group_receipts_sends_a_message_again_at_most_the_limit() {
    let (mut w, a, b, c) = trio();
    let sent = send_group(&mut w, &a, G, b"once more");
    assert!(deliver_group(&mut w, &a, G, &sent, std::slice::from_ref(&c))[0].is_ok());
    let mut total = 0;
    for _ in 0..5 {
        for _ in 0..3 {
            assert_eq!(receipt(&mut w, &b, &a, &sent.message, NOW), ReceivedKind::RetryRequested);
        }
        total += resend(&mut w, &a, &b, NOW).len();
    }
    assert_eq!(total, usize::from(MAX_RESENDS_PER_MESSAGE));
}

#[test]
fn kept_group_messages_expire_with_their_age_and_their_rows_go() {
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    let max_age = 600;
    let mut w = World::default();
    let mut alice = device_with("alice", 1, ConversationConfig::new().with_resend_max_age(max_age));
    alice.create_group(G, std::slice::from_ref(&b)).unwrap();
    w.add(alice);
    let mut bob = device("bob", 1);
    bob.create_group(G, std::slice::from_ref(&a)).unwrap();
    w.add(bob);
    let old = send_group(&mut w, &a, G, b"short-lived");
    let mut key = vec![G.len() as u8];
    key.extend_from_slice(G);
    key.extend_from_slice(&old.message[2..18]);
    key.extend_from_slice(&0u32.to_be_bytes());
    assert!(w.get(&a).store().app_row(GROUP_OUTBOX_NAMESPACE, &key).unwrap().is_some(), "kept in a row of its own");
    // Past its age it is not sent again, and the next send deletes its row.
    assert_eq!(receipt(&mut w, &b, &a, &old.message, NOW + max_age + 1), ReceivedKind::RetryRequested);
    assert!(resend(&mut w, &a, &b, NOW + max_age + 1).is_empty());
    let _ = w.get(&a).send_group(G, b"later", &[], NOW + max_age + 1).unwrap();
    assert!(w.get(&a).store().app_row(GROUP_OUTBOX_NAMESPACE, &key).unwrap().is_none());
}
