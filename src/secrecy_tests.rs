//! Forward secrecy and post-compromise security, shown on key material
//! rather than through duplicate detection: we enumerate every secret in a
//! captured state and every key the protocol derives from those secrets
//! (up to the jump limit) and try each against the target message.

use crate::message::NormalMessage;
use crate::primitives::dh::{X25519KeyPair, X25519PublicKey};
use crate::ratchet::{ChainKey, DoubleRatchet, MAX_CHAIN_JUMP, MessageKey, RootKey};
use crate::session::Session;
use crate::testing::{established, rng};

/// Every message key derivable from `chain` within the jump limit.
fn chain_keys(chain: &ChainKey, steps: u32) -> Vec<MessageKey> {
    let mut out = Vec::new();
    let mut ck = chain.clone();
    for _ in 0..=steps {
        let Some((mk, next)) = ck.step() else { break };
        out.push(mk);
        ck = next;
    }
    out
}

/// Every chain key an attacker holding `state` can reach: the chains it
/// stores, and a root step with each private ratchet key it holds against
/// each public ratchet key seen on the wire (twice, to follow a second
/// step as well).
fn reachable_chains(state: &DoubleRatchet, seen: &[X25519PublicKey]) -> Vec<ChainKey> {
    let mut chains: Vec<ChainKey> = state.sending.iter().cloned().collect();
    chains.extend(state.receiving.iter().filter_map(|c| c.chain_key.clone()));
    let privates: Vec<&X25519KeyPair> = state.our_ratchet.iter().collect();
    let mut roots: Vec<RootKey> = vec![state.root_key.clone()];
    for _round in 0..2 {
        let mut next_roots = Vec::new();
        for root in &roots {
            for ours in &privates {
                for theirs in seen {
                    if let Ok((r, c)) = root.advance(ours, theirs, None) {
                        chains.push(c);
                        next_roots.push(r);
                    }
                }
            }
        }
        roots = next_roots;
    }
    chains
}

/// Tries every stored skipped key and every reachable message key on
/// `message` (under its real associated data). Returns how many opened it.
fn keys_that_open(state: &DoubleRatchet, seen: &[X25519PublicKey], session: &Session, bytes: &[u8]) -> usize {
    let message = NormalMessage::decode(bytes).unwrap();
    let mut ad = session.session_ad.to_vec();
    ad.extend_from_slice(message.header());
    let mut candidates: Vec<MessageKey> =
        state.receiving.iter().flat_map(|c| c.skipped.values().map(|k| (*k.key).clone())).collect();
    for chain in reachable_chains(state, seen) {
        candidates.extend(chain_keys(&chain, MAX_CHAIN_JUMP));
    }
    assert!(candidates.len() > MAX_CHAIN_JUMP as usize, "the search must cover the jump limit");
    candidates.iter().filter(|mk| mk.cipher_key().open(&ad, message.ciphertext()).is_ok()).count()
}

#[test]
fn state_captured_after_reading_a_message_cannot_open_it() {
    let (mut a, mut b) = established(40);
    let mut r = rng(41);
    // A few messages so that chains, skipped keys and old chains exist.
    let early = a.encrypt_with_rng(&mut r, b"early").unwrap();
    let target = a.encrypt_with_rng(&mut r, b"target").unwrap();
    let later = a.encrypt_with_rng(&mut r, b"later").unwrap();
    b.decrypt(&later).unwrap(); // leaves keys for early and target skipped
    b.decrypt(&target).unwrap();
    let captured = b.ratchet.clone();
    let seen: Vec<X25519PublicKey> =
        [&early, &target, &later].iter().map(|m| NormalMessage::decode(m).unwrap().ratchet_key()).collect();
    assert_eq!(keys_that_open(&captured, &seen, &b, &target), 0);
    // Control: the same search does find the still-unread message.
    assert_eq!(keys_that_open(&captured, &seen, &b, &early), 1);
}

#[test]
fn state_captured_after_sending_a_message_cannot_open_it() {
    let (mut a, b) = established(42);
    let mut r = rng(43);
    let target = a.encrypt_with_rng(&mut r, b"sent").unwrap();
    let captured = a.ratchet.clone();
    let seen = vec![NormalMessage::decode(&target).unwrap().ratchet_key()];
    assert_eq!(keys_that_open(&captured, &seen, &b, &target), 0);
}

#[test]
fn old_state_cannot_open_messages_after_a_ratchet_round_trip() {
    let (mut a, mut b) = established(44);
    let mut r = rng(45);
    let old = b.ratchet.clone();
    // A -> B, B -> A, A -> B: fresh DH keys on both sides.
    let m1 = a.encrypt_with_rng(&mut r, b"1").unwrap();
    b.decrypt(&m1).unwrap();
    let m2 = b.encrypt_with_rng(&mut r, b"2").unwrap();
    a.decrypt(&m2).unwrap();
    let m3 = a.encrypt_with_rng(&mut r, b"3").unwrap();
    let seen: Vec<X25519PublicKey> =
        [&m1, &m2, &m3].iter().map(|m| NormalMessage::decode(m).unwrap().ratchet_key()).collect();
    assert_eq!(keys_that_open(&old, &seen, &b, &m3), 0);
    // Control: before the round trip completed, the old state could read.
    assert_eq!(keys_that_open(&old, &seen, &b, &m1), 1);
}
