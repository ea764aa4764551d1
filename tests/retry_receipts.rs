//! Retry receipts (docs/PROTOCOL.md §13.9): a message that could not be
//! read is asked for again, sent again from the sender's bounded outbox,
//! and read exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use dmseal::limits::{DEFAULT_RESEND_MAX_AGE, MAX_RESENDS_PER_MESSAGE};
use dmseal::store::Store;
use dmseal::{
    Address, BundleSourceError, ConversationConfig, Conversations, DecryptError, NormalMessage, OUTBOX_NAMESPACE,
    PreKeyBundle, ReceiveError, ReceivedKind, SendError,
};

use self::common::flip;
use self::common::world::*;

/// The outbox row that keeps `message` for `to` on its sender's device
/// (docs/PROTOCOL.md §13.2), if there is one.
fn outbox_row(w: &mut World, sender: &Address, to: &Address, message: &[u8]) -> Option<Vec<u8>> {
    let m = NormalMessage::decode(message).unwrap();
    let mut key = to.encode();
    key.extend_from_slice(m.ratchet_key().as_bytes());
    key.extend_from_slice(&m.counter().to_be_bytes());
    w.get(sender).store().app_row(OUTBOX_NAMESPACE, &key).unwrap()
}

fn no_bundles(_: &[Address]) -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
    Ok(Vec::new())
}

/// `at` tells `sender` it could not read `failed`; the sender reads the
/// receipt at `now`.
fn receipt(w: &mut World, at: &Address, sender: &Address, failed: &[u8], now: u64) -> ReceivedKind {
    let out = w.get(at).send_retry_receipt(sender, failed, &mut no_bundles, now).unwrap();
    let r = w.get(sender).receive(at, &out.messages[0].1, now).unwrap();
    let kind = r.kind();
    assert!(r.plaintext().is_empty());
    w.get(sender).commit_received(r, vec![]).unwrap();
    kind
}

/// What `sender` sends `to` again at `now`.
fn resend(w: &mut World, sender: &Address, to: &Address, now: u64) -> Vec<Vec<u8>> {
    let out = w.get(sender).resend(to, &mut no_bundles, now).unwrap();
    out.messages
        .into_iter()
        .map(|(a, m)| {
            assert_eq!(&a, to);
            m
        })
        .collect()
}

#[test]
fn a_message_that_failed_is_sent_again_after_a_receipt_and_read_exactly_once() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let m = w.send(&a, "bob", b"the lost one", NOW).remove(0).1;
    // The server corrupts it on the way: Bob cannot read it.
    let corrupted = flip(&m, m.len() * 8 - 1);
    assert!(matches!(w.deliver(&a, &b, &corrupted), Err(ReceiveError::Decrypt(DecryptError::AuthenticationFailed))));
    assert_eq!(receipt(&mut w, &b, &a, &corrupted, NOW), ReceivedKind::RetryRequested);
    let again = resend(&mut w, &a, &b, NOW);
    assert_eq!(again.len(), 1);
    assert_eq!(w.read(&b, &a, &again[0]), (ReceivedKind::Message, b"the lost one".to_vec()));
    // The intact original arriving late no longer reads: its key went
    // with the re-send, so it is not delivered twice.
    assert!(matches!(w.deliver(&a, &b, &m), Err(ReceiveError::Decrypt(DecryptError::DuplicateOrExpired))));
    // And the conversation goes on.
    exchange(&mut w, &a, &b, 1);
}

#[test]
fn a_message_sent_again_after_its_original_was_read_is_not_delivered_twice() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let m = w.send(&a, "bob", b"only once", NOW).remove(0).1;
    let corrupted = flip(&m, m.len() * 8 - 1);
    assert!(w.deliver(&a, &b, &corrupted).is_err());
    // The receipt goes out, then the intact copy arrives and is read.
    receipt(&mut w, &b, &a, &corrupted, NOW);
    assert_eq!(w.deliver(&a, &b, &m).unwrap(), b"only once");
    let again = resend(&mut w, &a, &b, NOW);
    let r = w.get(&b).receive(&a, &again[0], NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Unreadable);
    assert!(matches!(r.content_error(), Some(ReceiveError::Decrypt(DecryptError::DuplicateOrExpired))));
}

#[test]
fn a_flood_of_receipts_sends_a_message_again_at_most_the_limit() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let m = w.send(&a, "bob", b"popular", NOW).remove(0).1;
    for round in 0..=MAX_RESENDS_PER_MESSAGE {
        for _ in 0..10 {
            receipt(&mut w, &b, &a, &m, NOW);
        }
        let expected = usize::from(round < MAX_RESENDS_PER_MESSAGE);
        assert_eq!(resend(&mut w, &a, &b, NOW).len(), expected, "round {round}");
    }
}

#[test]
fn the_outbox_forgets_a_message_past_its_age() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let old = w.send(&a, "bob", b"old", NOW).remove(0).1;
    // At the age it is still kept; a second past it, it is gone.
    receipt(&mut w, &b, &a, &old, NOW + DEFAULT_RESEND_MAX_AGE);
    assert_eq!(resend(&mut w, &a, &b, NOW + DEFAULT_RESEND_MAX_AGE).len(), 1);
    let older = w.send(&a, "bob", b"older", NOW).remove(0).1;
    receipt(&mut w, &b, &a, &older, NOW + DEFAULT_RESEND_MAX_AGE + 1);
    assert!(resend(&mut w, &a, &b, NOW + DEFAULT_RESEND_MAX_AGE + 1).is_empty());
    assert_eq!(outbox_row(&mut w, &a, &b, &older), None, "its row went with it");
    // An outbox of age 0 keeps nothing.
    let mut quiet = device_with("carol", 1, ConversationConfig::new().with_resend_max_age(0));
    quiet.set_devices("bob", &[1]).unwrap();
    let c = quiet.me().clone();
    w.add(quiet);
    let m = w.send(&c, "bob", b"not kept", NOW).remove(0).1;
    w.deliver(&c, &b, &m).unwrap();
    receipt(&mut w, &b, &c, &m, NOW);
    assert!(resend(&mut w, &c, &b, NOW).is_empty());
}

#[test]
fn a_receipt_from_a_device_no_longer_listed_is_refused() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let m = w.send(&a, "bob", b"for bob.1", NOW).remove(0).1;
    // Bob's device 1 is no longer one of his devices on Alice's side.
    w.get(&a).set_devices("bob", &[]).unwrap();
    let out = w.get(&b).send_retry_receipt(&a, &m, &mut no_bundles, NOW).unwrap();
    let r = w.get(&a).receive(&b, &out.messages[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Unreadable);
    assert!(matches!(r.content_error(), Some(ReceiveError::UntrustedSender)));
    w.get(&a).commit_received(r, vec![]).unwrap();
    assert!(resend(&mut w, &a, &b, NOW).is_empty());
}

#[test]
fn a_device_restored_from_a_backup_heals_asks_and_reads_what_it_missed() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let backup = w.get(&b).store().snapshot();
    exchange(&mut w, &a, &b, 1);
    w.add(Conversations::open(backup, [7; 32], b.clone(), ConversationConfig::default()).unwrap());
    let m = w.send(&a, "bob", b"sent while you were away", NOW).remove(0).1;
    let failed = w.deliver(&a, &b, &m).unwrap_err();
    assert!(failed.suggests_healing() && !failed.is_transient());
    // Heal first, so that the receipt goes over a session Alice reads.
    let fresh = bundle(w.get(&a));
    let mut directory = |_: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
        Ok(vec![(a.clone(), fresh.clone())])
    };
    let heal = w.get(&b).heal(&a, &mut directory, NOW).unwrap();
    assert_eq!(w.read(&a, &b, &heal.messages[0].1).0, ReceivedKind::SessionHealed);
    assert_eq!(receipt(&mut w, &b, &a, &m, NOW), ReceivedKind::RetryRequested);
    // Alice sends again what Bob asked for, and (its session having been
    // replaced by the heal) what she had sent on it: Bob reads once what
    // his restored store lacks ("ping 1" came after the backup); copies of
    // what it holds are refused.
    let again = resend(&mut w, &a, &b, NOW);
    let read: Vec<Vec<u8>> = again
        .iter()
        .map(|m| w.read(&b, &a, m))
        .filter(|(kind, _)| *kind == ReceivedKind::Message)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(read, [b"ping 1".to_vec(), b"sent while you were away".to_vec()]);
    exchange(&mut w, &a, &b, 2);
    assert!(w.converged(&a, &b));
}

#[test]
fn messages_sent_to_an_old_identity_are_never_sent_to_a_new_one() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let m = w.send(&a, "bob", b"for the old phone", NOW).remove(0).1;
    let row = outbox_row(&mut w, &a, &b, &m).expect("kept in a row of its own");
    assert!(!row.windows(b"for the old phone".len()).any(|x| x == b"for the old phone"), "sealed");
    // Bob's device is reinstalled (or taken over) under a new identity,
    // and Alice approves it.
    let mut new_bob = device("bob", 1);
    new_bob.set_devices("alice", &[1]).unwrap();
    w.add(new_bob);
    let hello = w.send(&b, "alice", b"new phone", NOW);
    w.deliver(&b, &a, &hello[0].1).unwrap();
    w.approve(&a, &b);
    assert_eq!(outbox_row(&mut w, &a, &b, &m), None, "deleted with the old identity");
    // It names the old message (the server kept its bytes): nothing is sent.
    assert_eq!(receipt(&mut w, &b, &a, &m, NOW), ReceivedKind::RetryRequested);
    assert!(resend(&mut w, &a, &b, NOW).is_empty());
}

#[test]
fn a_blocked_device_gets_nothing_sent_again_until_approved_and_then_gets_it() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let m = w.send(&a, "bob", b"wait for it", NOW).remove(0).1;
    receipt(&mut w, &b, &a, &m, NOW);
    // Alice marks Bob verified, and his device leaves and rejoins her
    // list: it awaits approval again, so nothing goes to it.
    w.get(&a).set_verified("bob", true).unwrap();
    w.get(&a).set_devices("bob", &[]).unwrap();
    w.get(&a).set_devices("bob", &[1]).unwrap();
    assert!(matches!(w.get(&a).resend(&b, &mut no_bundles, NOW), Err(SendError::Blocked(_))));
    // Still owed once approved.
    w.approve(&a, &b);
    let again = resend(&mut w, &a, &b, NOW);
    assert_eq!(again.len(), 1);
    assert_eq!(w.read(&b, &a, &again[0]), (ReceivedKind::Message, b"wait for it".to_vec()));
}

#[test]
fn a_receipt_needs_a_message_to_name() {
    let (mut w, a, b) = alice_and_bob();
    assert!(matches!(w.get(&b).send_retry_receipt(&a, b"junk", &mut no_bundles, NOW), Err(SendError::NotAMessage)));
}
