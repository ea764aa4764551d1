//! Unit tests of what group retry receipts use (docs/PROTOCOL.md §13.10):
//! taking a message that arrived by a re-send, the keys a device lacks,
//! and the messages known to be missing.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::tests::{alice_and_carol_to_bob, messages_at, pair, sent_on_one_state, state_of};
use super::*;
use crate::testing::rng;

#[test]
fn a_resent_message_with_a_key_here_deletes_it_so_the_original_reads_as_a_duplicate() {
    let (mut bob, sent) = messages_at(500, &[500, 501, 502, 503, 3_000]);
    let state = state_of(&sent[&500]);
    assert_eq!(bob.take_resent(b"alice", &state, 501), Ok(true));
    assert_eq!(bob.decrypt(&sent[&501]), Err(GroupError::Duplicate));
    // Taken or read already: Duplicate, and nothing changes.
    bob.decrypt(&sent[&500]).unwrap();
    let before = bob.pickle().to_bytes();
    assert_eq!(bob.take_resent(b"alice", &state, 501), Err(GroupError::Duplicate));
    assert_eq!(bob.take_resent(b"alice", &state, 500), Err(GroupError::Duplicate), "the state's start, read");
    // Below the state's start this device never had a key: the caller
    // remembers the message.
    for index in [0, 499] {
        assert_eq!(bob.take_resent(b"alice", &state, index), Ok(false));
    }
    assert_eq!(bob.pickle().to_bytes(), before);
    // Only the index taken loses its key.
    assert_eq!(bob.take_resent(b"alice", &state, 502), Ok(true));
    assert_eq!(bob.decrypt(&sent[&503]).unwrap().index, 503);
    // Past the window, as for decrypt.
    bob.decrypt(&sent[&3_000]).unwrap();
    assert_eq!(bob.take_resent(b"alice", &state, 999), Err(GroupError::OutsideWindow { index: 999, oldest: 1_000 }));
}

#[test]
fn a_resent_message_is_taken_only_from_a_member_for_its_own_states_still_open() {
    let (mut alice, mut carol, mut bob) = alice_and_carol_to_bob();
    let mut r = rng(60);
    let (distribution, old) = sent_on_one_state(&mut alice, &mut r, 4);
    let from_carol = carol.encrypt_with_rng(&mut r, b"carol's", 0).unwrap();
    bob.receive_distribution(b"alice", &distribution).unwrap();
    bob.receive_distribution(b"carol", &from_carol.distributions[0].bytes).unwrap();
    alice.rotate();
    let next = alice.encrypt_with_rng(&mut r, b"next", 0).unwrap();
    bob.receive_distribution(b"alice", &next.distributions[0].bytes).unwrap();
    let (old_state, carols) = (state_of(&old[0]), state_of(&from_carol.message));

    let before = bob.pickle().to_bytes();
    assert_eq!(bob.take_resent(b"mallory", &old_state, 1), Err(GroupError::NotAMember));
    assert_eq!(bob.take_resent(b"carol", &old_state, 1), Err(GroupError::UnexpectedSender));
    assert_eq!(bob.take_resent(b"alice", &carols, 0), Err(GroupError::UnexpectedSender));
    // The next state closed the old one at index 3.
    assert_eq!(bob.take_resent(b"alice", &old_state, 4), Err(GroupError::StateClosed { index: 4, last: 3 }));
    // A state not here (its distribution lost, or not yet come).
    assert_eq!(bob.take_resent(b"alice", &[9; STATE_ID_LEN], 0), Ok(false));
    assert_eq!(bob.pickle().to_bytes(), before);
    assert_eq!(bob.take_resent(b"alice", &old_state, 3), Ok(true));
    assert_eq!(bob.take_resent(b"carol", &carols, 0), Ok(true));
    // A revoked state.
    assert!(bob.reset_member(b"alice"));
    assert_eq!(bob.take_resent(b"alice", &old_state, 1), Err(GroupError::SenderRemoved));
}

#[test]
fn keys_before_an_index_are_lacking_when_the_state_is_not_here_or_was_received_from_that_index_on() {
    let (bob, sent) = messages_at(500, &[500]);
    let state = state_of(&sent[&500]);
    assert!(bob.lacks_keys_before(&[9; STATE_ID_LEN], 10), "a state not here");
    for index in [0, 499, 500] {
        assert!(bob.lacks_keys_before(&state, index), "index {index}");
    }
    for index in [501, 502, u32::MAX] {
        assert!(!bob.lacks_keys_before(&state, index), "index {index}");
    }
    let (bob, sent) = messages_at(0, &[0]);
    let state = state_of(&sent[&0]);
    assert!(bob.lacks_keys_before(&state, 0));
    assert!(!bob.lacks_keys_before(&state, 1));
}

#[test]
fn missing_messages_are_the_unread_indices_with_keys_below_the_newest_read() {
    let (mut bob, sent) = messages_at(0, &[0, 1, 2, 3, 4, 5, 6]);
    let state = state_of(&sent[&0]);
    assert!(bob.missing_from(b"alice", 32).is_empty(), "nothing read: none known sent");
    bob.decrypt(&sent[&0]).unwrap();
    assert!(bob.missing_from(b"alice", 32).is_empty());
    bob.decrypt(&sent[&5]).unwrap();
    bob.decrypt(&sent[&2]).unwrap();
    // 6 was not seen to be sent yet.
    assert_eq!(bob.missing_from(b"alice", 32), [(state, 1), (state, 3), (state, 4)]);
    assert_eq!(bob.missing_from(b"alice", 2), [(state, 1), (state, 3)]);
    assert!(bob.missing_from(b"alice", 0).is_empty());
    assert!(bob.missing_from(b"carol", 32).is_empty(), "not a member");
    // Taken by a re-send: no longer missing.
    assert_eq!(bob.take_resent(b"alice", &state, 3), Ok(true));
    assert_eq!(bob.missing_from(b"alice", 32), [(state, 1), (state, 4)]);

    // A state received from a later index: nothing before its start.
    let (mut bob, sent) = messages_at(500, &[500, 503]);
    let state = state_of(&sent[&500]);
    bob.decrypt(&sent[&503]).unwrap();
    assert_eq!(bob.missing_from(b"alice", 32), [(state, 500), (state, 501), (state, 502)]);
}

#[test]
fn missing_messages_of_a_closed_state_run_to_its_last_index_newest_state_first() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(61);
    let (old_distribution, old) = sent_on_one_state(&mut alice, &mut r, 6);
    bob.receive_distribution(b"alice", &old_distribution).unwrap();
    bob.decrypt(&old[0]).unwrap();
    bob.decrypt(&old[2]).unwrap();
    let a = state_of(&old[0]);
    assert_eq!(bob.missing_from(b"alice", 32), [(a, 1)]);
    alice.rotate();
    let (next_distribution, next) = sent_on_one_state(&mut alice, &mut r, 3);
    bob.receive_distribution(b"alice", &next_distribution).unwrap();
    bob.decrypt(&next[2]).unwrap();
    let b = state_of(&next[0]);
    assert_eq!(bob.missing_from(b"alice", 32), [(b, 0), (b, 1), (a, 1), (a, 3), (a, 4), (a, 5)]);
    assert_eq!(bob.missing_from(b"alice", 3), [(b, 0), (b, 1), (a, 1)]);
}

#[test]
fn missing_messages_include_the_last_32_of_a_closed_state_never_received_unless_revoked() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(62);
    // Bob never gets the first state's distribution.
    let (_, old) = sent_on_one_state(&mut alice, &mut r, 40);
    alice.rotate();
    let next = alice.encrypt_with_rng(&mut r, b"next", 0).unwrap();
    bob.receive_distribution(b"alice", &next.distributions[0].bytes).unwrap();
    let a = state_of(&old[0]);
    let last_32: Vec<(StateId, u32)> = (8..=39).map(|i| (a, i)).collect();
    assert_eq!(bob.missing_from(b"alice", 40), last_32);
    assert_eq!(bob.missing_from(b"alice", 2), last_32[..2]);
    // Bob resets Alice (her identity changed); her device rotates again,
    // closing a state that is revoked here.
    assert!(bob.reset_member(b"alice"));
    alice.rotate();
    let after = alice.encrypt_with_rng(&mut r, b"after", 0).unwrap();
    bob.receive_distribution(b"alice", &after.distributions[0].bytes).unwrap();
    assert!(bob.missing_from(b"alice", 40).is_empty());
}
