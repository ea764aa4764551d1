//! Properties of the public types: thread safety and what `Debug` shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use dmseal::{Account, PendingSession, PreKeyMessage, SafetyNumber, Session, SessionPickle};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn account_and_session_are_send_and_sync() {
    assert_send_sync::<Account>();
    assert_send_sync::<Session>();
    assert_send_sync::<PendingSession>();
    assert_send_sync::<SessionPickle>();
}

#[test]
fn conversations_and_stores_are_send_and_sync() {
    use dmseal::store::{ChangeSet, MemoryStore};
    assert_send_sync::<MemoryStore>();
    assert_send_sync::<ChangeSet>();
    assert_send_sync::<dmseal::Conversations<MemoryStore>>();
    assert_send_sync::<dmseal::Received>();
    assert_send_sync::<dmseal::store::StoreError>();
    #[cfg(feature = "sqlite")]
    {
        assert_send_sync::<dmseal::store::SqliteStore>();
        assert_send_sync::<dmseal::Conversations<dmseal::store::SqliteStore>>();
    }
    // A store is usable as a trait object shared across threads.
    let store: std::sync::Arc<dyn dmseal::store::Store> = std::sync::Arc::new(MemoryStore::new());
    let other = std::sync::Arc::clone(&store);
    std::thread::spawn(move || other.generation().unwrap()).join().unwrap();
    assert_eq!(store.generation().unwrap(), 0);
}

#[test]
fn received_messages_do_not_show_their_plaintext() {
    use dmseal::store::MemoryStore;
    use dmseal::{Address, ConversationConfig, Conversations};
    let config = ConversationConfig::default();
    let mut alice =
        Conversations::open(MemoryStore::new(), [1; 32], Address::new("alice", 1).unwrap(), config).unwrap();
    let mut bob = Conversations::open(MemoryStore::new(), [2; 32], Address::new("bob", 1).unwrap(), config).unwrap();
    alice.set_devices("bob", &[1]).unwrap();
    let id = bob
        .update_account(|a| {
            let id = a.generate_one_time_prekeys(1).unwrap()[0].id();
            a.mark_one_time_prekeys_published(&[id]).unwrap();
            id
        })
        .unwrap();
    let bundle = bob.account().prekey_bundle(Some(id), None).unwrap();
    let bob_address = bob.me().clone();
    let sent = alice.send("bob", b"top secret words", &[(bob_address, bundle)], 0).unwrap();
    let received = bob.receive(alice.me(), &sent.messages[0].1, 0).unwrap();
    for shown in [format!("{received:?}"), format!("{alice:?}"), format!("{:?}", bob.store())] {
        assert!(!shown.contains("top secret"), "{shown}");
    }
    let changes = dmseal::store::AppWrite::put("inbox", b"1".to_vec(), b"top secret words".to_vec());
    assert!(!format!("{changes:?}").contains("top secret"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn debug_output_never_shows_private_keys_or_plaintext() {
    let mut r = rng(60);
    let (mut bob, bundle) = bob_with_bundle(&mut r, true);
    let alice = Account::new_with_rng(&mut r);
    let (a, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"top secret words").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let pending_debug = format!("{pending:?}");
    assert!(!pending_debug.contains("top secret"));
    let b = bob.accept(pending).unwrap();
    // Every 32-byte window of every pickle holds secrets; none may appear.
    let secrets: Vec<Vec<u8>> =
        [alice.pickle().to_bytes(), bob.pickle().to_bytes(), a.pickle().to_bytes(), b.pickle().to_bytes()]
            .iter()
            .map(|p| p.to_vec())
            .collect();
    let debugs = [
        format!("{alice:?}"),
        format!("{bob:?}"),
        format!("{a:?}"),
        format!("{b:?}"),
        format!("{:?}", a.pickle()),
        format!("{:?}", bob.pickle()),
    ];
    for d in &debugs {
        assert!(d.contains("..") || d.contains("version"), "Debug should be non-exhaustive: {d}");
        for s in &secrets {
            for w in s.windows(16).step_by(4) {
                let h = hex(w);
                // Public keys appear in Debug on purpose; they are also in
                // the pickles, so only flag windows absent from public output.
                if d.contains(&h) && !hex(&bundle.encode()).contains(&h) && !hex(&first).contains(&h) {
                    let public_parts = [hex(&alice.identity().encode()), hex(&b.base_key().to_bytes())];
                    assert!(public_parts.iter().any(|p| p.contains(&h)), "secret-looking bytes in Debug: {d}");
                }
            }
        }
    }
}

#[test]
fn session_debug_output_is_pinned() {
    let (a, _b) = established(61);
    let d = format!("{a:?}");
    assert!(d.starts_with(
        "Session { role: Initiator, setup: Pqxdh, peer_identity: PublicIdentity { signing: Ed25519PublicKey("
    ));
    assert!(d.ends_with(", acknowledged: true, .. }"));
    assert_eq!(format!("{:?}", a.pickle()), "SessionPickle { version: 2, .. }");
}

#[test]
fn safety_numbers_agree_on_both_sides_and_scan() {
    let (alice, a, bob, b) = pair(62, true);
    let on_alice = SafetyNumber::new(alice.identity(), a.peer_identity());
    let on_bob = SafetyNumber::new(bob.identity(), b.peer_identity());
    assert_eq!(on_alice.digits(), on_bob.digits());
    assert_eq!(on_alice.digits().len(), 60);
    assert!(on_alice.digits().bytes().all(|c| c.is_ascii_digit()));
    assert!(on_bob.matches_scanned(&on_alice.scannable()));
    assert!(on_alice.matches_scanned(&on_bob.scannable()));
    assert!(!on_alice.matches_scanned(&on_alice.scannable()));
    let carol = Account::new();
    assert_ne!(SafetyNumber::new(alice.identity(), carol.identity()).digits(), on_alice.digits());
}

#[test]
fn per_message_overhead_is_as_documented() {
    // PQXDH adds 1,093 bytes: PQ prekey kind (1), id (4), ML-KEM-768 ciphertext (1,088).
    // A normal message: 52 bytes while both counters are below 128; the
    // KEM ratchet adds 2 bytes (epoch, chunk byte), and 64 with a chunk.
    const KEM: usize = 2;
    const CHUNK: usize = 64;
    for (with_otk, prekey_overhead) in [(true, 223 + 1093), (false, 219 + 1093)] {
        let (_alice, mut a, _bob, mut b) = pair(63, with_otk);
        let plaintext = [0u8; 100];
        // Alice sends the first epoch's key, a chunk per message.
        assert_eq!(a.encrypt(&plaintext).unwrap().len(), 100 + prekey_overhead + KEM + CHUNK);
        let reply = b.encrypt(&plaintext).unwrap();
        assert_eq!(reply.len(), 100 + 52 + KEM);
        a.decrypt(&reply).unwrap();
        assert_eq!(a.encrypt(&plaintext).unwrap().len(), 100 + 52 + KEM + CHUNK);
        // Counter 127 is the last with a one-byte varint; 128 takes two.
        for _ in 1..127 {
            a.encrypt(&plaintext).unwrap();
        }
        assert_eq!(a.encrypt(&plaintext).unwrap().len(), 100 + 52 + KEM + CHUNK, "counter 127");
        assert_eq!(a.encrypt(&plaintext).unwrap().len(), 100 + 53 + KEM + CHUNK, "counter 128");
    }
}

#[test]
fn group_message_overhead_is_as_documented() {
    let mut group = dmseal::Group::new(b"a group id that is not sent", b"alice").unwrap();
    let plaintext = [0u8; 100];
    // Index 0..127: 99 bytes; from index 128 on the varint takes two bytes.
    for index in 0..=128 {
        let overhead = group.encrypt(&plaintext, 0).unwrap().message.len() - 100;
        assert_eq!(overhead, if index < 128 { 99 } else { 100 }, "index {index}");
    }
}

#[test]
fn idle_session_state_is_small() {
    let (a, b) = established(64);
    let sizes = [a.pickle().to_bytes().len(), b.pickle().to_bytes().len()];
    println!("plain pickle of an idle session: initiator {} B, responder {} B", sizes[0], sizes[1]);
    assert!(sizes.iter().all(|s| *s < 512), "{sizes:?}");
}

/// Replaces every hex run of 16+ characters (public keys) by `<hex>`.
fn redact_hex(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in s.chars().chain(core::iter::once(' ')) {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
        } else {
            if run.len() >= 16 {
                out.push_str("<hex>");
            } else {
                out.push_str(&run);
            }
            run.clear();
            out.push(c);
        }
    }
    out.pop();
    out
}

#[test]
fn the_debug_output_of_every_stateful_type_is_pinned() {
    let mut r = rng(65);
    let (mut bob, bundle) = bob_with_bundle(&mut r, true);
    let alice = Account::new_with_rng(&mut r);
    let (a, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"secret words").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let pinned = [
        (
            format!("{alice:?}"),
            "Account { identity: PublicIdentity { signing: Ed25519PublicKey(<hex>), agreement: X25519PublicKey(<hex>), .. }, signed_prekey_id: 1, one_time_prekeys: 0, pq_one_time_prekeys: 0, classic_x3dh: Refuse, .. }",
        ),
        (
            format!("{pending:?}"),
            "PendingSession { peer_identity: PublicIdentity { signing: Ed25519PublicKey(<hex>), agreement: X25519PublicKey(<hex>), .. }, setup: Pqxdh, plaintext_len: 12, .. }",
        ),
        (
            format!("{a:?}"),
            "Session { role: Initiator, setup: Pqxdh, peer_identity: PublicIdentity { signing: Ed25519PublicKey(<hex>), agreement: X25519PublicKey(<hex>), .. }, base_key: X25519PublicKey(<hex>), kem_ratchet: true, acknowledged: false, .. }",
        ),
        (format!("{:?}", a.pickle()), "SessionPickle { version: 2, .. }"),
        (format!("{:?}", alice.pickle()), "AccountPickle { version: 2, .. }"),
    ];
    for (got, want) in pinned {
        assert_eq!(redact_hex(&got), want);
    }
    let mut group = dmseal::Group::new(b"g", b"alice").unwrap();
    group.add_member(b"bob").unwrap();
    let out = group.encrypt(b"group secret", 0).unwrap();
    assert_eq!(format!("{group:?}"), "Group { id_len: 1, me_len: 5, members: 1, stale: false, .. }");
    assert_eq!(format!("{:?}", group.pickle()), "GroupPickle { version: 2, .. }");
    // The group message is public ciphertext; the distribution (keys) is
    // shown only by length.
    assert_eq!(
        format!("{out:?}"),
        format!(
            "GroupOutgoing {{ distributions: [Distribution {{ to_len: 3, bytes_len: 163 }}], message: {:?} }}",
            out.message
        )
    );
    let _ = bob.accept(pending).unwrap();
}

/// An error that wraps another returns it as its `source()` and does not
/// repeat its text, so a reporter that prints the chain shows each cause
/// once.
#[test]
fn errors_give_their_cause_as_source_and_do_not_repeat_it() {
    use std::error::Error;
    let cases: Vec<Box<dyn Error>> = vec![
        Box::new(dmseal::DecodeError::InvalidKey(dmseal::KeyError::NonCanonical)),
        Box::new(dmseal::StartError::InvalidKey(dmseal::KeyError::NonContributory)),
        Box::new(dmseal::FirstMessageError::Message(dmseal::DecryptError::AuthenticationFailed)),
        Box::new(dmseal::DecryptError::Decode(dmseal::DecodeError::Truncated)),
        Box::new(dmseal::GroupError::Decode(dmseal::DecodeError::TrailingBytes)),
        Box::new(dmseal::ReceiveError::Decrypt(dmseal::DecryptError::DuplicateOrExpired)),
        Box::new(dmseal::ReceiveError::Group(dmseal::GroupError::BadSignature)),
        Box::new(dmseal::SendError::Bundle {
            address: dmseal::Address::new("bob", 1).unwrap(),
            error: dmseal::StartError::PqPreKeyStripped,
        }),
        Box::new(dmseal::ConversationError::Group(dmseal::GroupError::TooManyMembers { max: 1 })),
    ];
    for e in cases {
        let source = e.source().unwrap_or_else(|| panic!("{e:?} has no source"));
        assert!(!e.to_string().contains(&source.to_string()), "{e} repeats {source}");
    }
    // A transparent wrapper shows its inner error and passes its source on.
    let inner = dmseal::ConversationError::Group(dmseal::GroupError::NotAMember);
    let outer = dmseal::ReceiveError::Conversation(inner);
    assert_eq!(outer.to_string(), "the group layer refused");
    assert_eq!(outer.source().unwrap().to_string(), "not a member of this group");
}

/// Which errors are worth retrying with the same input: a busy or
/// changed store, a stale batch, a message ahead of its session or keys.
#[test]
fn errors_say_whether_retrying_the_same_call_can_succeed() {
    use dmseal::store::StoreError;
    use dmseal::{ConversationError, GroupError, ReceiveError, SendError};
    let conflict = || ConversationError::Store(StoreError::Conflict { expected: 1, found: 2 });
    assert!(conflict().is_transient());
    assert!(SendError::Conversation(conflict()).is_transient());
    assert!(ReceiveError::Conversation(conflict()).is_transient());
    assert!(ReceiveError::StaleBatch.is_transient());
    assert!(ReceiveError::NoSession.is_transient());
    assert!(ReceiveError::Group(GroupError::UnknownSenderState).is_transient());
    assert!(!ReceiveError::Group(GroupError::SenderRemoved).is_transient());
    assert!(!ReceiveError::NotAContact.is_transient());
    assert!(!SendError::NeedBundles(vec![]).is_transient());
    assert!(!SendError::NoDevices { user: "bob".into() }.is_transient());
    assert!(!StoreError::SchemaVersion { found: 9, supported: 1 }.is_transient());
    assert!(!ConversationError::UnknownGroup.is_transient());
}
