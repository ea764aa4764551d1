//! Restoring a device from a backup (docs/PROTOCOL.md §13.11): the
//! restored device never encrypts under a key it used after the backup
//! was taken, and gets back, exactly once, what it had read since.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use dmseal::store::MemoryStore;
use dmseal::{
    Address, BundleSourceError, ContactPolicy, ConversationConfig, Conversations, NormalMessage, ReceivedKind,
    SendError,
};

use self::common::world::*;

/// Puts `at` back to `snapshot`, as an app restoring a backup would, and
/// tells it so.
fn restore(w: &mut World, at: &Address, snapshot: MemoryStore) {
    restore_with(w, at, snapshot, ConversationConfig::default());
}

fn restore_with(w: &mut World, at: &Address, snapshot: MemoryStore, config: ConversationConfig) {
    let mut d = Conversations::open(snapshot, [7; 32], at.clone(), config).unwrap();
    let _ = d.restored_from_backup(NOW).unwrap();
    w.add(d);
}

/// The (ratchet key, counter) of a 1:1 message, of the embedded message
/// for a first one.
fn message_id(bytes: &[u8]) -> ([u8; 32], u32) {
    match NormalMessage::decode(bytes) {
        Ok(m) => (*m.ratchet_key().as_bytes(), m.counter()),
        Err(_) => {
            let p = dmseal::PreKeyMessage::decode(bytes).unwrap();
            (*p.message().ratchet_key().as_bytes(), p.message().counter())
        }
    }
}

#[test]
fn a_restored_device_never_reuses_a_key_and_reads_again_exactly_once_what_it_lost() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let backup = w.get(&b).store().snapshot();
    // After the backup: Bob reads two messages and sends one.
    let mut used = BTreeSet::new();
    for text in [&b"after backup 1"[..], b"after backup 2"] {
        let m = w.send(&a, "bob", text, NOW).remove(0).1;
        assert_eq!(w.deliver(&a, &b, &m).unwrap(), text);
    }
    let sent = w.send(&b, "alice", b"bob before the restore", NOW).remove(0).1;
    used.insert(message_id(&sent));
    assert_eq!(w.deliver(&b, &a, &sent).unwrap(), b"bob before the restore");

    restore(&mut w, &b, backup);
    // No session sends again: the next message needs a bundle.
    assert!(matches!(w.get(&b).send("alice", b"x", &[], NOW), Err(SendError::NeedBundles(_))));
    // Bob asks Alice to send again what she keeps, over a new session.
    let offered = bundle(w.get(&a));
    let mut source = |_: &[Address]| Ok::<_, BundleSourceError>(vec![(a.clone(), offered.clone())]);
    let ask = w.get(&b).request_resync(&a, &mut source, NOW).unwrap();
    assert_eq!(ask.messages.len(), 1);
    used.insert(message_id(&ask.messages[0].1));
    assert_eq!(w.read(&a, &b, &ask.messages[0].1).0, ReceivedKind::RetryRequested);
    let again = w.get(&a).resend(&b, &mut |_: &[Address]| Ok(Vec::new()), NOW).unwrap();
    let mut read_again = Vec::new();
    for (_, m) in &again.messages {
        let (kind, text) = w.read(&b, &a, m);
        if kind == ReceivedKind::Message {
            read_again.push(text);
        }
    }
    // What Bob read before the backup is not read twice; what it read
    // after is read again, once.
    assert_eq!(read_again, vec![b"after backup 1".to_vec(), b"after backup 2".to_vec()]);
    // Both ways go on over the new session, with keys never used before.
    for round in 1..4 {
        let m = w.send(&b, "alice", format!("bob {round}").as_bytes(), NOW).remove(0).1;
        assert!(used.insert(message_id(&m)), "a message key used twice");
        assert_eq!(w.deliver(&b, &a, &m).unwrap(), format!("bob {round}").as_bytes());
        exchange(&mut w, &a, &b, round);
    }
}

#[test]
fn a_restored_device_starts_a_new_sender_state_in_every_group() {
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    let (mut w, members) = group_world(b"g", &[a.clone(), b.clone()]);
    let first = send_group(&mut w, &b, b"g", b"one");
    assert!(deliver_group(&mut w, &b, b"g", &first, &members[..1])[0].is_ok());
    let backup = w.get(&b).store().snapshot();
    let second = send_group(&mut w, &b, b"g", b"two");
    assert!(deliver_group(&mut w, &b, b"g", &second, &members[..1])[0].is_ok());
    restore(&mut w, &b, backup);
    let third = send_group(&mut w, &b, b"g", b"three");
    // A new state (its id differs), distributed again to Alice.
    assert_ne!(third.message[2..18], second.message[2..18]);
    assert_eq!(third.distributions.messages.len(), 1);
    assert_eq!(deliver_group(&mut w, &b, b"g", &third, &members[..1])[0].as_deref().unwrap(), b"three");
}

#[test]
fn a_restore_drops_held_message_requests() {
    let config = ConversationConfig::default().with_contact_policy(ContactPolicy::MessageRequests);
    let (b, c) = (addr("bob", 1), addr("carol", 1));
    let mut w = World::default();
    w.add(device_with("bob", 1, config));
    let mut carol = device("carol", 1);
    carol.set_devices("bob", &[1]).unwrap();
    let bob_bundle = bundle(w.get(&b));
    let first = carol.send("bob", b"hello stranger", &[(b.clone(), bob_bundle)], NOW).unwrap();
    w.add(carol);
    let r = w.get(&b).receive(&c, &first.messages[0].1, NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Request);
    w.get(&b).commit_received(r, vec![]).unwrap();
    assert_eq!(w.get(&b).requests().unwrap(), std::slice::from_ref(&c));
    let backup = w.get(&b).store().snapshot();
    restore_with(&mut w, &b, backup, config);
    assert!(w.get(&b).requests().unwrap().is_empty());
}
