//! The KEM ratchet through the public API: negotiation at setup, no
//! downgrade, loss and reordering of the messages that carry its chunks,
//! one-sided conversations, and upgrading a session set up without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use dmseal::{Account, DecryptError, NormalMessage, PreKeyBundle, PreKeyMessage, Session, StartError};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const CONTEXT: &[u8] = b"alice|bob";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Alice starts a session from Bob's bundle; Bob accepts and replies.
fn pair(alice: &Account, bob: &mut Account, r: &mut ChaCha20Rng) -> (Session, Session) {
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (mut a, first) = alice.start_session_with_rng(r, &bundle, CONTEXT, b"first").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let mut b = bob.accept(pending).unwrap();
    assert_eq!(a.decrypt(&b.encrypt_with_rng(r, b"reply").unwrap()).unwrap(), b"reply");
    (a, b)
}

fn kem_sessions(seed: u64) -> (Session, Session, ChaCha20Rng) {
    let mut r = rng(seed);
    let alice = Account::new_with_rng(&mut r);
    let mut bob = Account::new_with_rng(&mut r);
    let (a, b) = pair(&alice, &mut bob, &mut r);
    (a, b, r)
}

#[test]
fn new_accounts_negotiate_the_kem_ratchet_and_older_ones_do_not() {
    let mut r = rng(1);
    let new = || Account::new_with_rng(&mut rng(2));
    let alice = new();
    let mut bob = Account::new_with_rng(&mut r);
    assert!(alice.runs_kem_ratchet() && bob.signed_prekey().runs_kem_ratchet());
    let (a, b) = pair(&alice, &mut bob, &mut r);
    assert!(a.kem_ratchet() && b.kem_ratchet());

    // Either side from before the KEM ratchet: none.
    let mut old = Account::new_without_kem_ratchet_with_rng(&mut r);
    assert!(!old.runs_kem_ratchet() && !old.signed_prekey().runs_kem_ratchet());
    let (a, b) = pair(&alice, &mut old, &mut r);
    assert!(!a.kem_ratchet() && !b.kem_ratchet());
    let old_alice = Account::new_without_kem_ratchet_with_rng(&mut r);
    let (a, b) = pair(&old_alice, &mut bob, &mut r);
    assert!(!a.kem_ratchet() && !b.kem_ratchet());

    // A rotation signs the capability, as an upgrade would.
    old.rotate_signed_prekey_with_rng(&mut r, 10, 0).unwrap();
    assert!(old.runs_kem_ratchet());
    let (a, b) = pair(&alice, &mut old, &mut r);
    assert!(a.kem_ratchet() && b.kem_ratchet());
}

#[test]
fn a_bundle_whose_kem_capability_was_cleared_is_refused() {
    let mut r = rng(3);
    let alice = Account::new_with_rng(&mut r);
    let bob = Account::new_with_rng(&mut r);
    let mut bytes = bob.prekey_bundle(None, None).unwrap().encode();
    // The capabilities byte (docs/PROTOCOL.md §4.2, offset 231).
    assert_eq!(bytes[231], 0x03);
    bytes[231] = 0x01;
    let stripped = PreKeyBundle::decode(&bytes).unwrap();
    assert_eq!(alice.start_session(&stripped, CONTEXT, b"x").err(), Some(StartError::BadSignedPreKeySignature));
}

#[test]
fn a_first_message_whose_kem_flag_was_cleared_does_not_decrypt() {
    let mut r = rng(4);
    let alice = Account::new_with_rng(&mut r);
    let bob = Account::new_with_rng(&mut r);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (_, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"first").unwrap();
    let m = PreKeyMessage::decode(&first).unwrap();
    assert!(m.kem_ratchet());
    // Clear flag bit 0x04 (offset 2) and rewrite the inner message as a
    // message without the KEM fields: decoding refuses the mismatch, and
    // a consistent rewrite fails authentication.
    let mut cleared = first.clone();
    cleared[2] &= !0x04;
    assert!(PreKeyMessage::decode(&cleared).is_err());
    let inner = m.message().as_bytes();
    let inner_at = first.len() - inner.len();
    // Inner header: version, type, ratchet key, PN = 0, N = 0 (36 bytes),
    // then epoch 0, the chunk byte and a 64-byte chunk.
    assert_eq!((m.message().kem_epoch(), m.message().kem_chunk_index()), (Some(0), Some(0)));
    let mut rewritten = cleared[..inner_at].to_vec();
    rewritten.extend_from_slice(&[0x01, 0x03]);
    rewritten.extend_from_slice(&inner[2..36]);
    rewritten.extend_from_slice(&inner[36 + 2 + 64..]);
    let decoded = PreKeyMessage::decode(&rewritten).unwrap();
    assert!(!decoded.kem_ratchet());
    assert!(bob.open_first_message(&decoded, CONTEXT, 0).is_err());
    assert!(bob.open_first_message(&m, CONTEXT, 0).is_ok());
}

/// Messages in flight between two sessions, delivered by a schedule.
struct Link {
    sessions: [Session; 2],
    flight: Vec<(usize, Vec<u8>, Vec<u8>)>,
    sent: usize,
    read: usize,
}

impl Link {
    fn send(&mut self, from: usize, r: &mut ChaCha20Rng) {
        let text = format!("{} #{}", from, self.sent).into_bytes();
        let bytes = self.sessions[from].encrypt_with_rng(r, &text).unwrap();
        self.flight.push((1 - from, bytes, text));
        self.sent += 1;
    }

    fn deliver(&mut self, pick: usize) {
        let (to, bytes, text) = self.flight.remove(pick % self.flight.len());
        assert_eq!(self.sessions[to].decrypt(&bytes).unwrap(), text);
        self.read += 1;
    }
}

/// Runs `steps` of a conversation where each message is lost with
/// probability `loss` and delivered out of order within blocks; returns
/// the number of messages sent until epoch `epochs` was mixed on both
/// sides, if it was.
fn run(seed: u64, steps: usize, loss: f64, skew: u32, epochs: u32) -> (Link, Option<usize>) {
    let (a, b, mut r) = kem_sessions(seed);
    let mut link = Link { sessions: [a, b], flight: Vec::new(), sent: 0, read: 0 };
    let mut done = None;
    for _ in 0..steps {
        // `skew` messages from Alice for each of Bob's.
        let from = if r.next_u32() % (skew + 1) == 0 { 1 } else { 0 };
        link.send(from, &mut r);
        if (f64::from(r.next_u32()) / f64::from(u32::MAX)) < loss {
            link.flight.pop();
        }
        // Reordered within blocks of four: a message waits for at most
        // three others, so no chain it belongs to is evicted (more than
        // MAX_RECEIVING_CHAINS newer chains would make it expire, by
        // design, with or without the KEM ratchet).
        if link.flight.len() == 4 {
            while !link.flight.is_empty() {
                let pick = r.next_u32() as usize;
                link.deliver(pick);
            }
        }
        if done.is_none() && link.sessions.iter().all(|s| s.kem_epochs() >= epochs) {
            done = Some(link.sent);
        }
    }
    (link, done)
}

#[test]
fn epochs_complete_through_loss_and_reordering() {
    for (loss, budget) in [(0.0, 200), (0.1, 250), (0.3, 400)] {
        let (link, done) = run(10, 800, loss, 1, 2);
        let sent = done.unwrap_or_else(|| panic!("two epochs not done at {loss} loss"));
        assert!(sent <= budget, "{sent} messages for two epochs at {loss} loss");
        assert!(link.read > 0);
    }
}

#[test]
fn epochs_progress_in_one_sided_conversations() {
    // Twenty messages from Alice for each of Bob's, then the reverse.
    let (link, done) = run(11, 3000, 0.1, 20, 1);
    let sent = done.expect("no epoch in a one-sided conversation");
    assert!(link.sessions[0].kem_epochs() >= 1 && sent < 3000);
    // Bob alone, for a long time: nothing breaks, and the epoch in
    // progress waits for Alice.
    let (mut a, mut b, mut r) = kem_sessions(12);
    for i in 0..600u32 {
        let m = b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap();
        assert_eq!(a.decrypt(&m).unwrap(), i.to_be_bytes());
    }
    assert_eq!(a.kem_epochs(), 0);
    for i in 0..40u32 {
        b.decrypt(&a.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap();
        a.decrypt(&b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap();
    }
    assert!(a.kem_epochs() >= 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_delivery_order_and_loss_keeps_every_message_readable(
        seed in any::<u64>(),
        loss in 0.0f64..0.5,
        skew in 0u32..6,
    ) {
        // `run` asserts that every delivered message decrypts.
        let (link, _) = run(seed, 300, loss, skew, 1);
        prop_assert!(link.read > 0);
    }
}

#[test]
fn a_session_set_up_without_it_upgrades_and_keeps_old_messages_readable() {
    let mut r = rng(20);
    let alice = Account::new_without_kem_ratchet_with_rng(&mut r);
    let mut bob = Account::new_without_kem_ratchet_with_rng(&mut r);
    let (mut a, mut b) = pair(&alice, &mut bob, &mut r);
    assert!(!a.kem_ratchet());
    // Bob sends before anyone upgrades; Alice upgrades, then reads it.
    let old = b.encrypt_with_rng(&mut r, b"old").unwrap();
    assert!(a.upgrade_kem_ratchet());
    assert!(!a.upgrade_kem_ratchet());
    let first = a.encrypt_with_rng(&mut r, b"upgraded").unwrap();
    assert_eq!(NormalMessage::decode(&first).unwrap().kem_epoch(), Some(0));
    // A message of Bob's new chain, sent before he saw the upgrade.
    let older = {
        let m = b.encrypt_with_rng(&mut r, b"older").unwrap();
        assert_eq!(a.decrypt(&old).unwrap(), b"old");
        m
    };
    assert_eq!(a.decrypt(&older).unwrap(), b"older");
    assert!(!b.kem_ratchet());
    assert_eq!(b.decrypt(&first).unwrap(), b"upgraded");
    assert!(b.kem_ratchet());
    for i in 0..60u32 {
        a.decrypt(&b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap();
        b.decrypt(&a.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap();
    }
    assert!(a.kem_epochs() >= 1 && b.kem_epochs() >= 1);
}

#[test]
fn an_unanswered_initiator_session_does_not_upgrade() {
    let mut r = rng(21);
    let alice = Account::new_without_kem_ratchet_with_rng(&mut r);
    let bob = Account::new_without_kem_ratchet_with_rng(&mut r);
    let mut a = alice.begin_session_with_rng(&mut r, &bob.prekey_bundle(None, None).unwrap(), CONTEXT).unwrap();
    assert!(!a.upgrade_kem_ratchet());
    assert!(!a.kem_ratchet());
}

#[test]
fn a_forged_upgrade_changes_nothing() {
    let mut r = rng(22);
    let alice = Account::new_without_kem_ratchet_with_rng(&mut r);
    let mut bob = Account::new_without_kem_ratchet_with_rng(&mut r);
    let (mut a, mut b) = pair(&alice, &mut bob, &mut r);
    a.upgrade_kem_ratchet();
    let mut m = a.encrypt_with_rng(&mut r, b"x").unwrap();
    let last = m.len() - 1;
    m[last] ^= 1;
    let before = b.pickle().to_bytes();
    assert_eq!(b.decrypt(&m), Err(DecryptError::AuthenticationFailed));
    assert!(!b.kem_ratchet());
    assert_eq!(b.pickle().to_bytes(), before);
}
