//! Healing a broken 1:1 conversation with a new session
//! (docs/PROTOCOL.md §13.8): after a restore from an old backup on either
//! side, and after a gap over the chain-jump limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::cell::Cell;

use dmseal::limits::{MAX_CHAIN_JUMP, MIN_HEAL_INTERVAL_SECS};
use dmseal::store::Store;
use dmseal::{
    Address, BundleSourceError, ConversationConfig, ConversationError, Conversations, DecryptError, Event,
    PreKeyBundle, ReceiveError, ReceivedKind, SendError,
};

use self::common::world::*;

/// `at` heals its conversation with `peer`, and `peer` reads the heal.
fn heal(w: &mut World, at: &Address, peer: &Address, now: u64) {
    let b = bundle(w.get(peer));
    let mut directory = |_: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
        Ok(vec![(peer.clone(), b.clone())])
    };
    let out = w.get(at).heal(peer, &mut directory, now).unwrap();
    assert_eq!(out.messages.len(), 1);
    let r = w.get(peer).receive(at, &out.messages[0].1, now).unwrap();
    assert_eq!(r.kind(), ReceivedKind::SessionHealed);
    assert!(r.plaintext().is_empty());
    // The heal, and (when the peer had sent on the session it replaces)
    // that the peer's last messages on it are due to be sent again.
    let due = Event::ResendDue { address: at.clone() };
    assert!(r.events().ends_with(&[Event::SessionHealed { address: at.clone() }]), "{:?}", r.events());
    assert!(r.events().iter().all(|e| *e == due || *e == Event::SessionHealed { address: at.clone() }));
    w.get(peer).commit_received(r, vec![]).unwrap();
}

/// Alice and Bob talk; Bob's store is backed up; they talk three more
/// rounds; Bob's device is restored from the backup.
fn bob_restored_from_a_backup() -> (World, Address, Address) {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    let backup = w.get(&b).store().snapshot();
    for round in 1..4 {
        exchange(&mut w, &a, &b, round);
    }
    w.add(Conversations::open(backup, [7; 32], b.clone(), ConversationConfig::default()).unwrap());
    (w, a, b)
}

#[test]
fn a_device_restored_from_an_old_backup_heals_its_conversation() {
    let (mut w, a, b) = bob_restored_from_a_backup();
    // Alice writes on chains Bob's old state never saw.
    let m = w.send(&a, "bob", b"are you there?", NOW);
    let failed = w.deliver(&a, &b, &m[0].1).unwrap_err();
    assert!(failed.suggests_healing(), "{failed:?}");
    heal(&mut w, &b, &a, NOW);
    assert!(w.converged(&a, &b));
    exchange(&mut w, &a, &b, 9);
}

#[test]
fn a_peer_restored_from_an_old_backup_cannot_write_on_its_old_chain_and_is_healed() {
    let (mut w, a, b) = bob_restored_from_a_backup();
    // Bob's restored state writes on a chain Alice has read past: refused,
    // and nothing changes on Alice's side.
    let stale = w.send(&b, "alice", b"from the past", NOW);
    let generation = w.get(&a).store().generation().unwrap();
    let failed = w.deliver(&b, &a, &stale[0].1).unwrap_err();
    assert!(failed.suggests_healing(), "{failed:?}");
    assert_eq!(w.get(&a).store().generation().unwrap(), generation);
    heal(&mut w, &a, &b, NOW);
    exchange(&mut w, &a, &b, 9);
    assert!(w.converged(&a, &b));
    // The rolled-back chain is never accepted, healed or not.
    assert!(w.deliver(&b, &a, &stale[0].1).is_err());
}

#[test]
fn a_gap_over_the_chain_jump_limit_is_healed() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    // Alice's messages are lost, more than the limit of them.
    let mut last = Vec::new();
    for _ in 0..=MAX_CHAIN_JUMP + 1 {
        last = w.get(&a).send("bob", b"lost", &[], NOW).unwrap().messages.remove(0).1;
    }
    let failed = w.deliver(&a, &b, &last).unwrap_err();
    assert!(matches!(failed, ReceiveError::Decrypt(DecryptError::TooFarAhead { .. })));
    assert!(failed.suggests_healing());
    heal(&mut w, &b, &a, NOW);
    exchange(&mut w, &a, &b, 1);
    assert!(w.converged(&a, &b));
}

#[test]
fn heals_of_one_conversation_are_spaced_out_by_the_minimum_interval() {
    let (mut w, a, b) = alice_and_bob();
    exchange(&mut w, &a, &b, 0);
    heal(&mut w, &a, &b, NOW);
    // One second short of the interval: refused before the directory is
    // asked (no one-time prekey claimed), nothing committed.
    let asked = Cell::new(0);
    let mut directory = |_: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
        asked.set(asked.get() + 1);
        Ok(Vec::new())
    };
    let generation = w.get(&a).store().generation().unwrap();
    let early = w.get(&a).heal(&b, &mut directory, NOW + MIN_HEAL_INTERVAL_SECS - 1).unwrap_err();
    assert!(
        matches!(early, SendError::HealedRecently { ref address, retry_at } if *address == b && retry_at == NOW + MIN_HEAL_INTERVAL_SECS)
    );
    assert!(early.is_transient());
    assert_eq!(asked.get(), 0);
    assert_eq!(w.get(&a).store().generation().unwrap(), generation);
    // At the interval: allowed again.
    heal(&mut w, &a, &b, NOW + MIN_HEAL_INTERVAL_SECS);
    exchange(&mut w, &a, &b, 1);
}

#[test]
fn a_heal_needs_a_bundle_and_never_goes_to_this_device_itself() {
    let (mut w, a, b) = alice_and_bob();
    let mut empty = |_: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> { Ok(Vec::new()) };
    assert!(matches!(w.get(&a).heal(&b, &mut empty, NOW), Err(SendError::NeedBundles(ref d)) if *d == vec![b.clone()]));
    assert!(matches!(w.get(&a).heal(&a, &mut empty, NOW), Err(SendError::Conversation(ConversationError::OwnAddress))));
}
