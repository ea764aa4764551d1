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

/// Sends raw framed content to `to` over a 1:1 session, as a sender's
/// library would (only a test can frame content by hand).
fn send_content(
    from: &mut Conversations<MemoryStore>,
    to: &Address,
    content: zeroize::Zeroizing<Vec<u8>>,
    bundles: &[(Address, crate::PreKeyBundle)],
) -> Vec<u8> {
    from.sync().unwrap();
    let (fan, pending) =
        from.run(|this, work| this.fan_out(work, vec![(to.clone(), content.clone())], bundles, 0, false)).unwrap();
    from.release(fan, pending, |_| Ok(Vec::new())).unwrap().messages.remove(0).1
}

/// A group message's plaintext (§13.12): a text in an envelope, framed.
fn group_plaintext(text: &str) -> Vec<u8> {
    let envelope = crate::content::ContentEnvelope {
        id: crate::MessageId::from_bytes([1; 16]),
        sent_at: 0,
        timer: 0,
        timer_version: 0,
        content: crate::Content::Text(text.into()),
    };
    let mut bytes = Vec::new();
    envelope.encode(&mut bytes);
    super::framing::frame_message(&bytes).to_vec()
}

#[test]
fn a_group_resend_is_taken_only_from_a_trusted_device() {
    use super::framing::frame_group_resend;
    use super::group_resend::GroupMessageId;
    let mut alice = open(MemoryStore::new(), "alice", 1, ContactPolicy::Anyone);
    alice.set_devices("bob", &[1]).unwrap();
    let mut bob = open(MemoryStore::new(), "bob", 2, ContactPolicy::Anyone);
    bob.set_devices("alice", &[1]).unwrap();
    assert_eq!(first_message(&mut alice, &mut bob), ReceivedKind::Message);
    bob.create_group(b"g", &[addr("alice")]).unwrap();
    let id = GroupMessageId { state_id: [9; 16], index: 0 };
    // From the trusted device: delivered as its group message.
    let resend =
        send_content(&mut alice, &addr("bob"), frame_group_resend(b"g", &id, &group_plaintext("hello group")), &[]);
    let read = bob.receive(&addr("alice"), &resend, 0).unwrap();
    assert_eq!((read.kind(), read.plaintext()), (ReceivedKind::GroupMessage, &b"hello group"[..]));
    bob.commit_received(read, vec![]).unwrap();
    // Alice's address under a new identity (a reinstall, or a server
    // faking one) is still a member, but not trusted: refused.
    let mut other = open(MemoryStore::new(), "alice", 4, ContactPolicy::Anyone);
    other.set_devices("bob", &[1]).unwrap();
    let bundle = bob.account().prekey_bundle(None, None).unwrap();
    let id = GroupMessageId { state_id: [9; 16], index: 1 };
    let forged = send_content(
        &mut other,
        &addr("bob"),
        frame_group_resend(b"g", &id, &group_plaintext("send money")),
        &[(addr("bob"), bundle)],
    );
    let read = bob.receive(&addr("alice"), &forged, 0).unwrap();
    assert_eq!(read.kind(), ReceivedKind::Unreadable);
    assert!(matches!(read.content_error(), Some(super::ReceiveError::UntrustedSender)), "{:?}", read.content_error());
    assert!(read.plaintext().is_empty());
}

/// A sync transcript says "sent by me": only a device of this device's
/// own user may send one. From anyone else it is unreadable content.
#[test]
fn a_transcript_is_read_only_from_a_device_of_ones_own_user() {
    let mut alice = open(MemoryStore::new(), "alice", 1, ContactPolicy::Anyone);
    alice.set_devices("bob", &[1]).unwrap();
    let mut bob = open(MemoryStore::new(), "bob", 2, ContactPolicy::Anyone);
    bob.set_devices("alice", &[1]).unwrap();
    assert_eq!(first_message(&mut alice, &mut bob), ReceivedKind::Message);
    let envelope = &group_plaintext("I owe Carol nothing")[1..];
    let forged = send_content(&mut alice, &addr("bob"), super::framing::frame_transcript("carol", envelope), &[]);
    let read = bob.receive(&addr("alice"), &forged, 0).unwrap();
    assert_eq!(read.kind(), ReceivedKind::Unreadable);
    assert!(matches!(read.content_error(), Some(super::ReceiveError::UnknownContent { content_type: Some(0x09) })));
    assert_eq!((read.sent_to(), read.content()), (None, None));
    bob.commit_received(read, vec![]).unwrap();
    // A message of Alice's own framing is hers, in her conversation.
    let plain = send_content(&mut alice, &addr("bob"), super::framing::frame_message(envelope), &[]);
    let read = bob.receive(&addr("alice"), &plain, 0).unwrap();
    assert_eq!(read.conversation(), Some(&crate::Destination::User("alice".into())));
    assert_eq!(read.plaintext(), b"I owe Carol nothing");
}

/// A re-send (0x05) whose content does not decode is unreadable and uses
/// nothing up: the original still reads when it arrives.
#[test]
fn a_malformed_resend_does_not_use_up_its_original() {
    use super::framing::{frame_message, frame_resend};
    use super::resend::MessageId;
    let mut alice = open(MemoryStore::new(), "alice", 1, ContactPolicy::Anyone);
    alice.set_devices("bob", &[1]).unwrap();
    let mut bob = open(MemoryStore::new(), "bob", 2, ContactPolicy::Anyone);
    bob.set_devices("alice", &[1]).unwrap();
    assert_eq!(first_message(&mut alice, &mut bob), ReceivedKind::Message);
    let lost = alice.send("bob", b"late", &[], 0).unwrap().messages.remove(0).1;
    let id = MessageId::of(&crate::Envelope::decode(&lost).unwrap());
    let forged = send_content(&mut alice, &addr("bob"), frame_resend(&id, &frame_message(b"not an envelope")), &[]);
    let read = bob.receive(&addr("alice"), &forged, 0).unwrap();
    assert_eq!(read.kind(), ReceivedKind::Unreadable);
    assert!(matches!(read.content_error(), Some(super::ReceiveError::MalformedContent)));
    bob.commit_received(read, vec![]).unwrap();
    let read = bob.receive(&addr("alice"), &lost, 0).unwrap();
    assert_eq!(read.plaintext(), b"late");
}
