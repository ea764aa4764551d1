//! The content envelope of conversations (docs/PROTOCOL.md §13.12,
//! §13.13): ids, timestamps, typed content, sync transcripts, receipts,
//! disappearing-message timers, padding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use dmseal::content::{Padding, ReceiptKind};
use dmseal::store::Store;
use dmseal::{Address, Content, ConversationConfig, Destination, Event, NormalMessage, ReceivedKind, SendError};

use self::common::world::*;

/// Alice with two devices, Bob with one; every device lists the others.
fn alice_twice_and_bob() -> (World, Address, Address, Address) {
    let mut w = World::default();
    let (a1, a2, b) = (addr("alice", 1), addr("alice", 2), addr("bob", 1));
    for (me, lists) in [(&a1, [("alice", &[1, 2][..]), ("bob", &[1][..])]), (&a2, [("alice", &[1, 2]), ("bob", &[1])])]
    {
        let mut d = device(me.user(), me.device());
        for (user, devices) in lists {
            d.set_devices(user, devices).unwrap();
        }
        w.add(d);
    }
    let mut bob = device("bob", 1);
    bob.set_devices("alice", &[1, 2]).unwrap();
    w.add(bob);
    (w, a1, a2, b)
}

/// Reads and commits; returns the received message's parts.
fn read_at(w: &mut World, at: &Address, from: &Address, bytes: &[u8], now: u64) -> dmseal::Received {
    w.get(at).receive(from, bytes, now).unwrap()
}

fn bytes_for<'a>(sent: &'a [(Address, Vec<u8>)], to: &Address) -> &'a [u8] {
    &sent.iter().find(|(a, _)| a == to).unwrap().1
}

#[test]
fn a_sync_transcript_names_its_destination_in_one_to_one_and_group() {
    let (mut w, a1, a2, b) = alice_twice_and_bob();
    let sent = w.send(&a1, "bob", "hi Bob", NOW);
    // Bob reads a message from Alice, in his conversation with her.
    let at_bob = read_at(&mut w, &b, &a1, bytes_for(&sent, &b), NOW);
    assert_eq!(at_bob.content(), Some(&Content::Text("hi Bob".into())));
    assert_eq!(at_bob.conversation(), Some(&Destination::User("alice".into())));
    assert_eq!(at_bob.sent_to(), None, "not sent by Bob");
    let id = at_bob.message_id().unwrap();
    w.get(&b).commit_received(at_bob, vec![]).unwrap();
    // Alice's laptop reads the same message as sent by her, to Bob.
    let at_laptop = read_at(&mut w, &a2, &a1, bytes_for(&sent, &a2), NOW);
    assert_eq!(at_laptop.kind(), ReceivedKind::Message);
    assert_eq!(at_laptop.sent_to(), Some(&Destination::User("bob".into())));
    assert_eq!(at_laptop.conversation(), Some(&Destination::User("bob".into())));
    assert_eq!(at_laptop.message_id(), Some(id), "one id on every copy");
    assert_eq!(at_laptop.sent_at(), Some(NOW));
    assert_eq!(at_laptop.plaintext(), b"hi Bob");
    w.get(&a2).commit_received(at_laptop, vec![]).unwrap();

    // In a group, the copy is the group message itself.
    let group = b"family";
    let members = [a1.clone(), a2.clone(), b.clone()];
    for m in &members {
        w.get(m).create_group(group, &members).unwrap();
    }
    let sent = send_group(&mut w, &a1, group, "dinner at 8");
    for (device, bytes) in &sent.distributions.messages {
        let r = w.get(device).receive(&a1, bytes, NOW).unwrap();
        w.get(device).commit_received(r, vec![]).unwrap();
    }
    let at_laptop = w.get(&a2).receive_group(group, &a1, &sent.message, NOW).unwrap();
    assert_eq!(at_laptop.sent_to(), Some(&Destination::Group(group.to_vec())));
    assert_eq!(at_laptop.message_id(), Some(sent.message_id));
    assert_eq!(at_laptop.content().and_then(Content::text), Some("dinner at 8"));
    let at_bob = w.get(&b).receive_group(group, &a1, &sent.message, NOW).unwrap();
    assert_eq!((at_bob.sent_to(), at_bob.conversation()), (None, Some(&Destination::Group(group.to_vec()))));
}

#[test]
fn edits_deletes_reactions_and_receipts_refer_to_message_ids() {
    let (mut w, a1, _a2, b) = alice_twice_and_bob();
    let sent = w.send(&a1, "bob", "see you at 7", NOW);
    let first = read_at(&mut w, &b, &a1, bytes_for(&sent, &b), NOW);
    let id = first.message_id().unwrap();
    w.get(&b).commit_received(first, vec![]).unwrap();
    let contents = [
        Content::Edit { target: id, content: Box::new(Content::Text("see you at 8".into())) },
        Content::Reaction { target: id, emoji: "👍".into(), remove: false },
        Content::Delete { target: id },
        Content::Payload { kind: "com.example.poll".into(), bytes: vec![1, 2, 3] },
    ];
    for content in contents {
        let sent = w.send(&a1, "bob", &content, NOW);
        let r = read_at(&mut w, &b, &a1, bytes_for(&sent, &b), NOW);
        assert_eq!(r.content(), Some(&content));
        w.get(&b).commit_received(r, vec![]).unwrap();
    }
    // Bob's device acknowledges; a receipt is content like any other.
    let receipt = Content::Receipt { kind: ReceiptKind::Read, ids: vec![id] };
    let sent = w.send(&b, "alice", &receipt, NOW);
    let r = read_at(&mut w, &a1, &b, bytes_for(&sent, &a1), NOW);
    assert_eq!(r.content(), Some(&receipt));
    assert_eq!(r.plaintext(), b"", "no plaintext for control content");
    // Content past a limit is refused before anything is committed.
    let too_many =
        Content::Receipt { kind: ReceiptKind::Read, ids: vec![id; dmseal::limits::MAX_RECEIPT_MESSAGES + 1] };
    let generation = w.get(&b).store().generation().unwrap();
    assert!(matches!(w.get(&b).send("alice", &too_many, &[], NOW), Err(SendError::InvalidContent)));
    assert_eq!(w.get(&b).store().generation().unwrap(), generation);
}

#[test]
fn an_unknown_content_kind_from_a_newer_version_is_delivered_as_such() {
    let (mut w, a1, _a2, b) = alice_twice_and_bob();
    // A newer version's kind 0x42: this version delivers it untouched.
    let newer = Content::Unknown { kind: 0x42, body: b"a poll, say".to_vec() };
    let sent = w.send(&a1, "bob", &newer, NOW);
    let r = read_at(&mut w, &b, &a1, bytes_for(&sent, &b), NOW);
    assert_eq!(r.kind(), ReceivedKind::Message);
    assert!(r.content_error().is_none(), "not an error");
    assert_eq!(r.content(), Some(&newer));
    assert!(r.message_id().is_some());
    w.get(&b).commit_received(r, vec![]).unwrap();
    // A kind this version knows cannot be sent as unknown.
    let fake = Content::Unknown { kind: 0x01, body: b"text".to_vec() };
    assert!(matches!(w.get(&a1).send("bob", &fake, &[], NOW), Err(SendError::InvalidContent)));
}

/// Alice's phone sets a one-minute timer, then a one-hour one; the second
/// reaches Bob and Alice's laptop first.
#[test]
fn a_late_old_timer_change_is_ignored() {
    let (mut w, a1, a2, b) = alice_twice_and_bob();
    let bob_chat = Destination::User("bob".into());
    let alice_chat = Destination::User("alice".into());
    let minute = w.send(&a1, "bob", Content::Timer { seconds: 60 }, NOW);
    let hour = w.send(&a1, "bob", Content::Timer { seconds: 3600 }, NOW + 1);
    assert_eq!(w.get(&a1).timer(&bob_chat).unwrap(), 3600);
    for (at, chat) in [(&b, &alice_chat), (&a2, &bob_chat)] {
        // The newer change first: applied, and reported.
        let r = read_at(&mut w, at, &a1, bytes_for(&hour, at), NOW + 2);
        let changed = Event::TimerChanged { conversation: chat.clone(), seconds: 3600, by: a1.clone() };
        assert_eq!(r.events(), [changed]);
        assert_eq!(r.expires_at(), Some(NOW + 2 + 3600), "the change itself disappears under its timer");
        w.get(at).commit_received(r, vec![]).unwrap();
        // The older one late: read, but it changes nothing.
        let r = read_at(&mut w, at, &a1, bytes_for(&minute, at), NOW + 3);
        assert_eq!(r.content(), Some(&Content::Timer { seconds: 60 }));
        assert!(r.events().is_empty(), "{:?}", r.events());
        w.get(at).commit_received(r, vec![]).unwrap();
        assert_eq!(w.get(at).timer(chat).unwrap(), 3600);
    }
    // Bob's messages now carry the hour; Alice's devices read them so.
    let reply = w.send(&b, "alice", "ok", NOW + 10);
    let r = read_at(&mut w, &a2, &b, bytes_for(&reply, &a2), NOW + 20);
    assert_eq!(r.expires_at(), Some(NOW + 20 + 3600));
    // Bob turns it off: a newer change from the other side wins.
    let off = w.send(&b, "alice", Content::Timer { seconds: 0 }, NOW + 30);
    let r = read_at(&mut w, &a1, &b, bytes_for(&off, &a1), NOW + 40);
    assert_eq!(r.expires_at(), None);
    w.get(&a1).commit_received(r, vec![]).unwrap();
    assert_eq!(w.get(&a1).timer(&bob_chat).unwrap(), 0);
}

#[test]
fn a_group_timer_applies_on_every_member_device() {
    let members = [addr("alice", 1), addr("bob", 1), addr("carol", 1)];
    let (mut w, _) = group_world(b"g", &members);
    let chat = Destination::Group(b"g".to_vec());
    let on = send_group(&mut w, &members[1], b"g", Content::Timer { seconds: 600 });
    assert_eq!(on.expires_at, Some(NOW + 600));
    let read = deliver_group(&mut w, &members[1], b"g", &on, &[members[0].clone(), members[2].clone()]);
    assert!(read.iter().all(Result::is_ok));
    for m in &members {
        assert_eq!(w.get(m).timer(&chat).unwrap(), 600, "{m}");
    }
    let sent = send_group(&mut w, &members[0], b"g", "brb");
    assert_eq!(sent.expires_at, Some(NOW + 600));
    for (device, bytes) in &sent.distributions.messages {
        let r = w.get(device).receive(&members[0], bytes, NOW).unwrap();
        w.get(device).commit_received(r, vec![]).unwrap();
    }
    let r = w.get(&members[2]).receive_group(b"g", &members[0], &sent.message, NOW + 5).unwrap();
    assert_eq!(r.expires_at(), Some(NOW + 5 + 600));
}

/// A temporary SQLite database file, removed with its WAL files.
#[cfg(feature = "sqlite")]
struct TempDb(std::path::PathBuf);

#[cfg(feature = "sqlite")]
impl TempDb {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("dmseal-{name}-{}.db", std::process::id()));
        let db = Self(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = self.0.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }

    /// Every byte of the database and its logs.
    fn bytes(&self) -> Vec<u8> {
        ["", "-wal", "-journal"]
            .iter()
            .flat_map(|suffix| {
                let mut name = self.0.clone().into_os_string();
                name.push(suffix);
                std::fs::read(name).unwrap_or_default()
            })
            .collect()
    }
}

#[cfg(feature = "sqlite")]
impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(feature = "sqlite")]
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(feature = "sqlite")]
#[test]
fn expired_app_rows_are_gone_after_purge_expired_and_the_file_no_longer_holds_their_bytes() {
    use dmseal::Conversations;
    use dmseal::store::{AppWrite, SqliteStore};
    let db = TempDb::new("purge");
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    let mut alice = device("alice", 1);
    alice.set_devices("bob", &[1]).unwrap();
    let mut bob =
        Conversations::open(SqliteStore::open(&db.0).unwrap(), [7; 32], b.clone(), ConversationConfig::default())
            .unwrap();
    bob.set_devices("alice", &[1]).unwrap();
    let bundle = bundle(&mut bob);
    let on = alice.send("bob", Content::Timer { seconds: 60 }, &[(b.clone(), bundle)], NOW).unwrap();
    let r = bob.receive(&a, &on.messages[0].1, NOW).unwrap();
    bob.commit_received(r, vec![]).unwrap();
    // Two secrets under the timer, one note kept for good.
    let secrets: [&[u8]; 2] = [b"SECRET-one-5f1e2d3c4b5a6978", b"SECRET-two-0a1b2c3d4e5f6071"];
    for (i, secret) in secrets.iter().enumerate() {
        let sent = alice.send("bob", *secret, &[], NOW).unwrap();
        let r = bob.receive(&a, &sent.messages[0].1, NOW + i as u64).unwrap();
        let at = r.expires_at().unwrap();
        assert_eq!(at, NOW + i as u64 + 60);
        let row = AppWrite::put("inbox", vec![i as u8], r.plaintext()).expires_at(at);
        bob.commit_received(r, vec![row]).unwrap();
    }
    let sent = alice.send("bob", "a note", &[], NOW).unwrap();
    let r = bob.receive(&a, &sent.messages[0].1, NOW).unwrap();
    let keep = AppWrite::put("notes", b"k".to_vec(), b"KEPT-note-8c7b6a59".to_vec());
    bob.commit_received(r, vec![keep]).unwrap();
    assert!(secrets.iter().all(|s| contains(&db.bytes(), s)), "written to the file first");

    assert_eq!(bob.purge_expired(NOW + 59).unwrap(), Vec::<(String, Vec<u8>)>::new());
    assert_eq!(bob.purge_expired(NOW + 60).unwrap(), [("inbox".to_owned(), vec![0])], "the first, at its expiry");
    assert_eq!(bob.purge_expired(NOW + 61).unwrap(), [("inbox".to_owned(), vec![1])]);
    assert_eq!(bob.store().app_row("inbox", &[0]).unwrap(), None);
    assert_eq!(bob.store().app_row("inbox", &[1]).unwrap(), None);
    let bytes = db.bytes();
    for secret in secrets {
        assert!(!contains(&bytes, secret), "{} still in the database file", String::from_utf8_lossy(secret));
    }
    assert!(contains(&bytes, b"KEPT-note-8c7b6a59"), "rows without an expiry stay");
    assert_eq!(bob.store().app_row("notes", b"k").unwrap().as_deref(), Some(&b"KEPT-note-8c7b6a59"[..]));
}

/// The length of the plaintext inside a 1:1 normal message: the message
/// less its header (36 bytes while both counters are below 128,
/// docs/PROTOCOL.md §4.3) and the 16-byte synthetic IV.
fn inner_len(bytes: &[u8]) -> usize {
    let message = NormalMessage::decode(bytes).unwrap();
    assert!(message.counter() < 128 && message.previous_counter() < 128);
    // The KEM ratchet's epoch (one byte while below 128) and chunk byte,
    // and the chunk when there is one (docs/PROTOCOL.md §4.3).
    let kem = match (message.kem_epoch(), message.kem_chunk_index()) {
        (None, _) => 0,
        (Some(e), chunk) => {
            assert!(e < 128);
            2 + if chunk.is_some() { 64 } else { 0 }
        }
    };
    bytes.len() - 36 - kem - 16
}

#[test]
fn padded_sizes_fall_in_the_documented_buckets() {
    for padding in [Padding::Padme, Padding::PowerOfTwo { cap: 1024 }, Padding::Off] {
        let config = ConversationConfig::default().with_padding(padding);
        let (a, b) = (addr("alice", 1), addr("bob", 1));
        let mut alice = device_with("alice", 1, config);
        alice.set_devices("bob", &[1]).unwrap();
        let mut bob = device("bob", 1);
        bob.set_devices("alice", &[1]).unwrap();
        let bundle = bundle(&mut bob);
        let first = alice.send("bob", "hi", &[(b.clone(), bundle)], NOW).unwrap();
        let r = bob.receive(&a, &first.messages[0].1, NOW).unwrap();
        bob.commit_received(r, vec![]).unwrap();
        let reply = bob.send("alice", "hi", &[], NOW).unwrap();
        let r = alice.receive(&b, &reply.messages[0].1, NOW).unwrap();
        alice.commit_received(r, vec![]).unwrap();
        for len in [0usize, 1, 20, 33, 34, 100, 500, 1000, 1024, 3000, 10_000] {
            let payload = vec![0x5a; len];
            let sent = alice.send("bob", &payload, &[], NOW).unwrap();
            // Type byte, envelope header (28), kind, payload-kind length.
            let framed = 1 + 28 + 1 + 1 + len;
            let inner = inner_len(&sent.messages[0].1);
            assert_eq!(inner, padding.padded_len(framed), "{padding:?}, {len} bytes");
            match padding {
                Padding::Off => assert_eq!(inner, framed + 1),
                _ => assert!(inner >= dmseal::limits::MIN_PADDED_LEN),
            }
            let r = bob.receive(&a, &sent.messages[0].1, NOW).unwrap();
            assert_eq!(r.plaintext(), &payload[..], "the padding comes off");
            bob.commit_received(r, vec![]).unwrap();
        }
    }
    // Short messages of different lengths look alike to the server.
    let (mut w, a, b) = alice_and_bob();
    let short = w.send(&a, "bob", "ok", NOW);
    let longer = w.send(&a, "bob", "see you at the station at eight", NOW);
    assert_eq!(short[0].1.len(), longer[0].1.len());
    assert_eq!(w.deliver(&a, &b, &short[0].1).unwrap(), b"ok");
    assert_eq!(w.deliver(&a, &b, &longer[0].1).unwrap(), b"see you at the station at eight");
}

/// A lost message does not keep its key forever: `purge_expired` deletes
/// skipped keys stored at least `skipped_key_max_age` ago; one stored
/// later is kept and still reads.
#[test]
fn skipped_keys_older_than_the_configured_age_are_deleted_by_purge_expired() {
    let age = 7 * DAY;
    let config = ConversationConfig::default().with_skipped_key_max_age(age);
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    let mut alice = device("alice", 1);
    alice.set_devices("bob", &[1]).unwrap();
    let mut bob = device_with("bob", 1, config);
    bob.set_devices("alice", &[1]).unwrap();
    let bundle = bundle(&mut bob);
    let first = alice.send("bob", "hi", &[(b.clone(), bundle)], NOW).unwrap();
    let r = bob.receive(&a, &first.messages[0].1, NOW).unwrap();
    bob.commit_received(r, vec![]).unwrap();
    // Two messages are lost on the way (for now); the third arrives.
    let lost: Vec<Vec<u8>> =
        (0..2).map(|i| alice.send("bob", format!("lost {i}"), &[], NOW).unwrap().messages.remove(0).1).collect();
    let third = alice.send("bob", "third", &[], NOW).unwrap();
    let r = bob.receive(&a, &third.messages[0].1, NOW).unwrap();
    bob.commit_received(r, vec![]).unwrap();
    // One second short of the age: kept, and the first late one reads.
    bob.purge_expired(NOW + age - 1).unwrap();
    let r = bob.receive(&a, &lost[0], NOW + age - 1).unwrap();
    assert_eq!(r.plaintext(), b"lost 0");
    bob.commit_received(r, vec![]).unwrap();
    // At the age: the other key is gone, and its message is given up on.
    let generation = bob.store().generation().unwrap();
    bob.purge_expired(NOW + age).unwrap();
    assert_eq!(bob.store().generation().unwrap(), generation + 1, "one commit");
    let late = bob.receive(&a, &lost[1], NOW + age);
    assert!(matches!(late, Err(dmseal::ReceiveError::Decrypt(dmseal::DecryptError::DuplicateOrExpired))), "{late:?}");
    // Nothing left to delete: no commit.
    bob.purge_expired(NOW + 2 * age).unwrap();
    assert_eq!(bob.store().generation().unwrap(), generation + 1);
}

/// The copy a sender keeps to send again (docs/PROTOCOL.md §13.9) of a
/// disappearing message goes at the message's expiry: asked for later,
/// it is not sent again.
#[test]
fn a_disappearing_message_is_not_kept_to_send_again_past_its_expiry() {
    let (mut w, a, b) = alice_and_bob();
    let no_bundles = &mut |_: &[dmseal::Address]| Ok(Vec::new());
    for (timer, purge_at, resent) in [(0, NOW + 60, 1), (60, NOW + 59, 1), (60, NOW + 60, 0)] {
        let on = w.send(&a, "bob", Content::Timer { seconds: timer }, NOW);
        w.deliver(&a, &b, &on[0].1).unwrap();
        let lost = w.send(&a, "bob", "lost on the way", NOW);
        // Bob asks for it; Alice purges before she answers.
        let receipt = w.get(&b).send_retry_receipt(&a, &lost[0].1, no_bundles, NOW).unwrap();
        let r = w.get(&a).receive(&b, &receipt.messages[0].1, NOW).unwrap();
        w.get(&a).commit_received(r, vec![]).unwrap();
        assert!(w.get(&a).purge_expired(purge_at).unwrap().is_empty(), "dmseal's own rows are not the app's");
        let again = w.get(&a).resend(&b, no_bundles, NOW).unwrap();
        assert_eq!(again.messages.len(), resent, "timer {timer}, purged at {purge_at}");
        for (_, bytes) in &again.messages {
            assert_eq!(w.deliver(&a, &b, bytes).unwrap(), b"lost on the way");
        }
    }
}

/// A timer change that cannot go out (a device awaits approval) changes
/// nothing here either, so this device never disagrees with the others.
#[test]
fn a_blocked_timer_change_does_not_change_the_timer() {
    let (mut w, a, b) = alice_and_bob();
    let m = w.send(&a, "bob", "hi", NOW);
    w.deliver(&a, &b, &m[0].1).unwrap();
    let laptop = bundle(&mut device("bob", 2));
    let alice = w.get(&a);
    alice.set_verified("bob", true).unwrap();
    alice.set_devices("bob", &[1, 2]).unwrap();
    let chat = Destination::User("bob".into());
    let blocked = alice.send("bob", Content::Timer { seconds: 60 }, &[(addr("bob", 2), laptop)], NOW);
    assert!(matches!(blocked, Err(SendError::Blocked(_))), "{blocked:?}");
    assert_eq!(alice.timer(&chat).unwrap(), 0);
    alice.set_devices("bob", &[1]).unwrap();
    let on = alice.send("bob", Content::Timer { seconds: 60 }, &[], NOW).unwrap();
    assert_eq!((alice.timer(&chat).unwrap(), on.expires_at), (60, Some(NOW + 60)));
}

/// A device awaiting approval (here a new device of a verified user, as a
/// server could add one) can neither change a conversation's timer nor
/// pass for one's own device with a transcript.
#[test]
fn a_device_awaiting_approval_cannot_change_timers_or_send_transcripts() {
    let (mut w, a, b) = alice_and_bob();
    let m = w.send(&a, "bob", "hi", NOW);
    w.deliver(&a, &b, &m[0].1).unwrap();
    w.get(&b).set_verified("alice", true).unwrap();
    // Alice's phone treats her own user as verified too: new devices of
    // hers wait for approval there.
    w.get(&a).set_verified("alice", true).unwrap();
    // "alice.9", written in by a server: Bob's device has not approved it.
    let ghost_address = addr("alice", 9);
    let mut ghost = device("alice", 9);
    ghost.set_devices("bob", &[1]).unwrap();
    ghost.set_devices("alice", &[1, 9]).unwrap();
    w.add(ghost);
    let chat = Destination::User("alice".into());
    let off = w.send(&ghost_address, "bob", Content::Timer { seconds: 60 }, NOW);
    let r = w.get(&b).receive(&ghost_address, bytes_for(&off, &b), NOW).unwrap();
    assert!(!r.events().iter().any(|e| matches!(e, Event::TimerChanged { .. })), "{:?}", r.events());
    w.get(&b).commit_received(r, vec![]).unwrap();
    assert_eq!(w.get(&b).timer(&chat).unwrap(), 0, "not applied");
    // Alice's real device reads the ghost's transcript as untrusted.
    let copy = w.send(&ghost_address, "bob", "sent by Alice, honest", NOW);
    let r = w.get(&a).receive(&ghost_address, bytes_for(&copy, &a), NOW).unwrap();
    assert_eq!(r.kind(), ReceivedKind::Unreadable);
    assert!(matches!(r.content_error(), Some(dmseal::ReceiveError::UntrustedSender)), "{r:?}");
    assert_eq!(r.sent_to(), None);
    w.get(&a).commit_received(r, vec![]).unwrap();
    // Once Bob approves the device, its timer changes apply.
    w.approve(&b, &ghost_address);
    let on = w.send(&ghost_address, "bob", Content::Timer { seconds: 600 }, NOW + 1);
    let r = w.get(&b).receive(&ghost_address, bytes_for(&on, &b), NOW + 1).unwrap();
    w.get(&b).commit_received(r, vec![]).unwrap();
    assert_eq!(w.get(&b).timer(&chat).unwrap(), 600);
}
