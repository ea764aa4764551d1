//! Limits of the ratchet, shown by counting work and stored keys.

use super::*;
use crate::message::NormalMessage;
use crate::session::Session;
use crate::testing::{established, rng};
use crate::work::measure;

fn send_many(s: &mut Session, n: u32) -> Vec<Vec<u8>> {
    let mut r = rng(90);
    (0..n).map(|i| s.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).collect()
}

/// A normal message with its counter (and previous-chain length) replaced.
fn with_counters(bytes: &[u8], previous: u32, counter: u32) -> Vec<u8> {
    NormalMessage::forge_counters(bytes, previous, counter)
}

#[test]
fn a_counter_past_the_jump_limit_fails_before_any_chain_work() {
    let (mut a, mut b) = established(60);
    let m = send_many(&mut a, 1).remove(0);
    let forged = with_counters(&m, 0, MAX_CHAIN_JUMP + 1);
    let (result, work) = measure(|| b.decrypt(&forged));
    assert_eq!(result, Err(DecryptError::TooFarAhead { got: MAX_CHAIN_JUMP + 1, max: MAX_CHAIN_JUMP }));
    assert_eq!((work.hmac, work.dh, work.aead_opens), (0, 0, 0));
    assert_eq!(b.decrypt(&m).unwrap(), 0u32.to_be_bytes());
}

#[test]
fn a_forged_message_costs_at_most_the_documented_bound() {
    let (mut a, mut b) = established(61);
    let mut msgs = send_many(&mut a, 2);
    let m = msgs.remove(1);
    b.decrypt(&msgs[0]).unwrap(); // B now holds A's current chain
    // Same chain, counter at the limit, ciphertext forged.
    let mut forged = with_counters(&m, 0, MAX_CHAIN_JUMP);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let before = b.ratchet.skipped_keys();
    let (result, work) = measure(|| b.decrypt(&forged));
    assert_eq!(result, Err(DecryptError::AuthenticationFailed));
    let bound = u64::from(MAX_CHAIN_JUMP) + MAX_SKIPPED_KEYS_PER_CHAIN as u64 + 2;
    assert!(work.hmac <= bound, "{} HMACs > {bound}", work.hmac);
    assert_eq!(work.dh, 0);
    assert_eq!(b.ratchet.skipped_keys(), before, "a failed decrypt stored keys");
    // A forged new ratchet key: one DH more, same chain bound.
    let mut forged = with_counters(&m, 0, MAX_CHAIN_JUMP);
    forged[2] ^= 0x02; // a different (still canonical) ratchet key
    let (result, work) = measure(|| b.decrypt(&forged));
    assert!(result.is_err());
    assert!(work.dh <= 1 && work.hmac <= bound);
    assert_eq!(b.decrypt(&m).unwrap(), 1u32.to_be_bytes());
}

#[test]
fn skipped_keys_per_chain_never_exceed_the_cap_and_the_oldest_go_first() {
    let (mut a, mut b) = established(62);
    let n = MAX_SKIPPED_KEYS_PER_CHAIN as u32 + 10;
    let msgs = send_many(&mut a, n + 1);
    b.decrypt(&msgs[n as usize]).unwrap();
    let chain = b.ratchet.receiving.front().unwrap();
    assert_eq!(chain.skipped.len(), MAX_SKIPPED_KEYS_PER_CHAIN);
    assert_eq!(*chain.skipped.keys().next().unwrap(), 10);
    // The ten oldest were never stored (only the chain key moved past them).
    for m in &msgs[..10] {
        assert_eq!(b.decrypt(m), Err(DecryptError::DuplicateOrExpired));
    }
    assert_eq!(b.decrypt(&msgs[10]).unwrap(), 10u32.to_be_bytes());
}

#[test]
fn receiving_chains_are_capped_and_close_at_the_announced_length() {
    let (mut a, mut b) = established(63);
    let mut r = rng(64);
    let mut unread = Vec::new();
    let rounds = MAX_RECEIVING_CHAINS + 2;
    for round in 0..rounds {
        let m1 = a.encrypt_with_rng(&mut r, b"x").unwrap();
        let m2 = a.encrypt_with_rng(&mut r, b"y").unwrap();
        b.decrypt(&m2).unwrap();
        unread.push((round, m1));
        let reply = b.encrypt_with_rng(&mut r, b"r").unwrap();
        a.decrypt(&reply).unwrap();
    }
    assert!(b.ratchet.receiving.len() <= MAX_RECEIVING_CHAINS);
    // Only the newest chain is open; closed ones keep their skipped keys.
    assert!(b.ratchet.receiving.iter().skip(1).all(|c| c.chain_key.is_none()));
    for (round, m) in unread {
        let result = b.decrypt(&m);
        // Each round made one chain; the newest MAX_RECEIVING_CHAINS remain.
        if round >= rounds - MAX_RECEIVING_CHAINS {
            assert!(result.is_ok(), "round {round}");
        } else {
            assert!(result.is_err(), "round {round}: evicted chain still readable");
        }
    }
}

#[test]
fn counter_max_is_never_valid() {
    let (mut a, mut b) = established(65);
    let m = send_many(&mut a, 1).remove(0);
    let (result, work) = measure(|| b.decrypt(&with_counters(&m, 0, u32::MAX)));
    assert_eq!(result, Err(DecryptError::AuthenticationFailed));
    assert_eq!(work.hmac, 0);
}

#[test]
fn an_exhausted_sending_chain_refuses_until_the_peer_ratchets() {
    let (mut a, mut b) = established(66);
    b.decrypt(&a.encrypt(b"open a sending chain").unwrap()).unwrap();
    // Jump both ends of the chain to its last counter (same key, relabelled).
    a.ratchet.sending.as_mut().unwrap().index = MAX_COUNTER;
    b.ratchet.receiving.front_mut().unwrap().chain_key.as_mut().unwrap().index = MAX_COUNTER;
    let last = a.encrypt(b"last").unwrap();
    assert_eq!(NormalMessage::decode(&last).unwrap().counter(), MAX_COUNTER);
    assert_eq!(a.encrypt(b"one too many"), Err(EncryptError::ChainExhausted));
    // Bob reads the last message and replies under a new ratchet key; Alice
    // then starts a new chain, announcing the full length of the old one.
    b.ratchet.receiving.front_mut().unwrap().chain_key.as_mut().unwrap().index = MAX_COUNTER;
    b.decrypt(&last).unwrap();
    a.decrypt(&b.encrypt(b"reply").unwrap()).unwrap();
    let next = NormalMessage::decode(&a.encrypt(b"next").unwrap()).unwrap();
    assert_eq!((next.counter(), next.previous_counter()), (0, u32::MAX));
}

#[test]
fn an_unexpected_new_ratchet_key_is_refused_without_a_dh() {
    let (mut a, mut b) = established(67);
    // Bob has read Alice's chain and not sent since: he expects no new key.
    let m = a.encrypt(b"x").unwrap();
    b.decrypt(&m).unwrap();
    let mut forged = m.clone();
    forged[2] ^= 0x02;
    let (result, work) = measure(|| b.decrypt(&forged));
    assert_eq!(result, Err(DecryptError::DuplicateOrExpired));
    assert_eq!((work.dh, work.hmac), (0, 0));
}

#[test]
fn a_message_from_an_evicted_chain_is_duplicate_or_expired() {
    let (mut a, mut b) = established(68);
    let old = a.encrypt(b"old").unwrap();
    b.decrypt(&a.encrypt(b"read").unwrap()).unwrap();
    for _ in 0..MAX_RECEIVING_CHAINS {
        a.decrypt(&b.encrypt(b"r").unwrap()).unwrap();
        b.decrypt(&a.encrypt(b"s").unwrap()).unwrap();
    }
    // Bob now expects a new chain (he just replied), yet the old key is
    // recognised as evicted: no DH.
    a.decrypt(&b.encrypt(b"r").unwrap()).unwrap();
    let (result, work) = measure(|| b.decrypt(&old));
    assert_eq!(result, Err(DecryptError::DuplicateOrExpired));
    assert_eq!(work.dh, 0);
}

#[test]
fn the_jump_and_first_counter_checks_hold_at_their_limits() {
    assert!(check_jump(MAX_CHAIN_JUMP).is_ok());
    assert_eq!(
        check_jump(MAX_CHAIN_JUMP + 1),
        Err(DecryptError::TooFarAhead { got: MAX_CHAIN_JUMP + 1, max: MAX_CHAIN_JUMP })
    );
    assert!(check_first_counter(MAX_CHAIN_JUMP).is_ok());
    // The highest counter a chain uses is legal, only too far for a first
    // message; one past it is no counter at all.
    assert!(matches!(check_first_counter(MAX_COUNTER), Err(DecryptError::TooFarAhead { .. })));
    assert_eq!(check_first_counter(MAX_COUNTER + 1), Err(DecryptError::AuthenticationFailed));
}

#[test]
fn skipped_keys_are_counted_per_message_skipped() {
    let (mut a, mut b) = established(91);
    let ms = send_many(&mut a, 4);
    b.decrypt(&ms[3]).unwrap();
    assert_eq!(b.skipped_message_keys(), 3);
    assert_eq!(b.ratchet.receiving[0].skipped_len(), 3);
    b.decrypt(&ms[1]).unwrap();
    assert_eq!(b.ratchet.skipped_keys(), 2);
}

#[test]
fn the_unread_end_of_a_closed_chain_still_reads() {
    let (mut a, mut b) = established(92);
    let mut r = rng(93);
    let ms = send_many(&mut a, 2);
    b.decrypt(&ms[0]).unwrap();
    // Bob answers, Alice ratchets: her next chain says the old one had 2.
    let reply = b.encrypt_with_rng(&mut r, b"reply").unwrap();
    a.decrypt(&reply).unwrap();
    let next = a.encrypt_with_rng(&mut r, b"next").unwrap();
    assert_eq!(b.decrypt(&next).unwrap(), b"next");
    // The old chain is closed; its unread message 1 was kept.
    assert!(b.ratchet.receiving.iter().any(|c| c.chain_key.is_none()));
    assert_eq!(b.decrypt(&ms[1]).unwrap(), 1u32.to_be_bytes());
    assert_eq!(b.skipped_message_keys(), 0);
}

/// Decrypts a message recording `now` as the time of the keys it skips.
fn decrypt_at(s: &mut Session, bytes: &[u8], now: u64) -> Result<Vec<u8>, DecryptError> {
    s.decrypt_envelope_at(&crate::message::Envelope::decode(bytes).unwrap(), now)
}

/// Skipped keys remember when they were skipped; expiring deletes those
/// stored at or before a time and keeps the later ones, and survives a
/// pickle.
#[test]
fn skipped_keys_expire_by_the_time_they_were_skipped() {
    let (mut a, mut b) = established(63);
    let msgs = send_many(&mut a, 6);
    // Messages 0 and 1 skipped at 100, 3 at 200 (after 2 and 4 read).
    decrypt_at(&mut b, &msgs[2], 100).unwrap();
    decrypt_at(&mut b, &msgs[4], 200).unwrap();
    assert_eq!(b.skipped_message_keys(), 3);
    let mut b = Session::from_pickle(&b.pickle()).unwrap();
    assert!(!b.has_skipped_before(99));
    assert!(b.has_skipped_before(100), "at the limit");
    assert_eq!(b.expire_skipped(99), 0, "one second before the limit: nothing");
    assert_eq!(b.expire_skipped(100), 2, "at it: the two skipped at 100");
    assert_eq!(b.skipped_message_keys(), 1);
    assert_eq!(decrypt_at(&mut b, &msgs[0], 300), Err(DecryptError::DuplicateOrExpired), "given up on");
    assert_eq!(decrypt_at(&mut b, &msgs[3], 300).unwrap(), 3u32.to_be_bytes(), "skipped later: kept");
    assert_eq!(b.expire_skipped(u64::MAX), 0);
    // The closing of a chain stamps the keys it stores too.
    let (mut a, mut b) = established(64);
    let first = send_many(&mut a, 3);
    decrypt_at(&mut b, &first[0], 10).unwrap();
    let reply = b.encrypt_with_rng(&mut rng(1), b"r").unwrap();
    a.decrypt(&reply).unwrap();
    // A new ratchet key (send_many's generator would make the same one).
    let next = a.encrypt_with_rng(&mut rng(91), b"next").unwrap();
    // Reading the next chain closes the first at length 3: keys 1 and 2.
    decrypt_at(&mut b, &next, 20).unwrap();
    assert_eq!(b.skipped_message_keys(), 2);
    assert_eq!(b.expire_skipped(19), 0);
    assert_eq!(b.expire_skipped(20), 2);
}

/// The ratchet key bytes a message was sent under.
fn chain_of(bytes: &[u8]) -> [u8; 32] {
    NormalMessage::decode(bytes).unwrap().ratchet_key().to_bytes()
}

#[test]
fn a_message_is_unread_while_it_can_still_read_and_read_once_its_chain_is_past_it() {
    let (mut a, mut b) = established(94);
    let ms = send_many(&mut a, 4);
    let chain = chain_of(&ms[0]);
    b.decrypt(&ms[2]).unwrap();
    // 0 and 1 skipped (their keys kept), 2 read, 3 ahead of the chain.
    assert_eq!(b.read_state(&chain, 0), ReadState::Unread);
    assert_eq!(b.read_state(&chain, 1), ReadState::Unread);
    assert_eq!(b.read_state(&chain, 2), ReadState::Read);
    assert_eq!(b.read_state(&chain, 3), ReadState::Unread);
    b.decrypt(&ms[0]).unwrap();
    assert_eq!(b.read_state(&chain, 0), ReadState::Read);
    assert_eq!(b.read_state(&chain, 1), ReadState::Unread);
    // A chain this session never held.
    assert_eq!(b.read_state(&[7; 32], 0), ReadState::Unknown);
}

/// Bob with two of Alice's chains, each with its messages 0 and 1 skipped
/// (their keys kept) and 2 read; the messages of the older chain, then
/// of the newer.
fn two_chains_with_gaps(seed: u8) -> (Session, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut a, mut b) = established(seed);
    let mut r = rng(seed.wrapping_add(1));
    let old: Vec<_> = (0..3u8).map(|i| a.encrypt_with_rng(&mut r, &[i]).unwrap()).collect();
    b.decrypt(&old[2]).unwrap();
    a.decrypt(&b.encrypt_with_rng(&mut r, b"reply").unwrap()).unwrap();
    let new: Vec<_> = (0..3u8).map(|i| a.encrypt_with_rng(&mut r, &[i]).unwrap()).collect();
    b.decrypt(&new[2]).unwrap();
    assert_ne!(chain_of(&old[0]), chain_of(&new[0]));
    (b, old, new)
}

#[test]
fn missing_lists_the_kept_keys_newest_chain_first_and_lowest_counter_first_up_to_the_limit() {
    let (b, old, new) = two_chains_with_gaps(95);
    let (older, newer) = (chain_of(&old[0]), chain_of(&new[0]));
    assert_eq!(b.missing(10), vec![(newer, 0), (newer, 1), (older, 0), (older, 1)]);
    assert_eq!(b.missing(3), vec![(newer, 0), (newer, 1), (older, 0)]);
    assert_eq!(b.missing(0), vec![]);
    let (_, nothing_skipped) = established(97);
    assert_eq!(nothing_skipped.missing(10), vec![]);
}

#[test]
fn a_forgotten_skipped_message_no_longer_reads_and_the_others_still_do() {
    let (mut b, old, new) = two_chains_with_gaps(98);
    let (older, newer) = (chain_of(&old[0]), chain_of(&new[0]));
    assert!(b.forget_skipped(&older, 1));
    assert!(!b.forget_skipped(&older, 1), "already forgotten");
    assert!(!b.forget_skipped(&older, 2), "read: no key kept");
    assert!(!b.forget_skipped(&[7; 32], 0), "a chain this session never held");
    assert_eq!(b.missing(10), vec![(newer, 0), (newer, 1), (older, 0)]);
    assert_eq!(b.decrypt(&old[1]), Err(DecryptError::DuplicateOrExpired));
    assert_eq!(b.read_state(&older, 1), ReadState::Read);
    // The same counter on the other chain, and the rest, are untouched.
    assert_eq!(b.decrypt(&new[1]).unwrap(), [1]);
    assert_eq!(b.decrypt(&new[0]).unwrap(), [0]);
    assert_eq!(b.decrypt(&old[0]).unwrap(), [0]);
    assert_eq!(b.skipped_message_keys(), 0);
}
