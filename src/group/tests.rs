//! Group unit tests that need the key material: forward secrecy of the
//! sender-key tree for both sides, shown by trying every key a captured
//! state holds or derives on the message it already read or sent.

use std::collections::BTreeMap;

use super::message::{GroupMessage, SenderKeyRecord, bound_header};
use super::sender_key::message_keys;
use super::tree::{Cover, Node};
use super::*;
use crate::testing::rng;

const GROUP: &[u8] = b"group";

/// Every leaf a cover derives for indices within `radius` of `k`, plus
/// every node key itself taken as a leaf.
fn derivable_leaves(cover: &Cover, k: u32, radius: u32) -> Vec<Node> {
    let mut out: Vec<Node> = cover
        .nodes()
        .cloned()
        .map(|mut n| {
            n.depth = 32;
            n
        })
        .collect();
    for i in k.saturating_sub(radius)..=k.saturating_add(radius) {
        if let Some(d) = cover.descend(i) {
            out.push((*d.leaf).clone());
        }
    }
    out
}

fn opens(leaves: &[Node], state_id: &StateId, bytes: &[u8]) -> usize {
    let m = GroupMessage::decode(bytes).unwrap();
    // Try each leaf under every index label nearby, not only its own.
    let mut count = 0;
    for leaf in leaves {
        for index in m.index.saturating_sub(2)..=m.index.saturating_add(2) {
            if message_keys(leaf, GROUP, state_id, index)
                .cipher
                .open(&bound_header(GROUP, m.header), m.ciphertext)
                .is_ok()
            {
                count += 1;
            }
        }
    }
    count
}

pub(super) fn pair() -> (Group, Group) {
    let mut alice = Group::new(GROUP, b"alice").unwrap();
    let mut bob = Group::new(GROUP, b"bob").unwrap();
    alice.add_member(b"bob").unwrap();
    bob.add_member(b"alice").unwrap();
    (alice, bob)
}

#[test]
fn a_sender_state_captured_after_sending_index_k_cannot_open_message_k() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(1);
    let first = alice.encrypt_with_rng(&mut r, b"m0", 0).unwrap();
    bob.receive_distribution(b"alice", &first.distributions[0].bytes).unwrap();
    let mut sent = vec![first.message];
    for i in 1..40u8 {
        sent.push(alice.encrypt_with_rng(&mut r, &[i], 0).unwrap().message);
    }
    let outbound = alice.outbound.as_ref().unwrap();
    let leaves = derivable_leaves(&outbound.cover, 20, 300);
    assert!(leaves.len() > 300);
    for k in [0usize, 1, 20, 39] {
        assert_eq!(opens(&leaves, &outbound.state_id, &sent[k]), 0, "message {k}");
    }
    // Control: the receiver's fresh state does open them.
    let inbound = bob.members[&b"alice".to_vec()].states[0].clone();
    assert_eq!(opens(&derivable_leaves(&inbound.cover, 20, 300), &inbound.state_id, &sent[20]), 1);
}

#[test]
fn a_receiver_state_captured_after_reading_index_k_cannot_open_message_k() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(2);
    let first = alice.encrypt_with_rng(&mut r, b"m0", 0).unwrap();
    bob.receive_distribution(b"alice", &first.distributions[0].bytes).unwrap();
    let mut sent = vec![first.message];
    for i in 1..30u8 {
        sent.push(alice.encrypt_with_rng(&mut r, &[i], 0).unwrap().message);
    }
    // Read out of order: 25, then 3, then 10.
    for k in [25usize, 3, 10] {
        bob.decrypt(&sent[k]).unwrap();
    }
    let state = bob.members[&b"alice".to_vec()].states[0].clone();
    let leaves = derivable_leaves(&state.cover, 10, 300);
    for k in [25usize, 3, 10] {
        assert_eq!(opens(&leaves, &state.state_id, &sent[k]), 0, "message {k}");
    }
    // Control: unread messages are still open to the same search.
    assert_eq!(opens(&leaves, &state.state_id, &sent[4]), 1);
}

#[test]
fn a_message_ten_thousand_indices_ahead_costs_a_few_dozen_hmacs() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(3);
    let first = alice.encrypt_with_rng(&mut r, b"m0", 0).unwrap();
    bob.receive_distribution(b"alice", &first.distributions[0].bytes).unwrap();
    bob.decrypt(&first.message).unwrap();
    // Skip ahead on the sender without encrypting 10,000 messages: the
    // sender's cover from index 10,001 is what it would hold then.
    let out = alice.outbound.as_mut().unwrap();
    out.cover = out.cover.suffix_from(10_001);
    let far = alice.encrypt_with_rng(&mut r, b"far", 0).unwrap().message;
    let (result, work) = crate::work::measure(|| bob.decrypt(&far));
    assert_eq!(result.unwrap().index, 10_001);
    assert!(work.hmac <= 2 * 32 + 2, "{} HMACs", work.hmac);
    assert_eq!(work.signature_checks, 1);
}

#[test]
fn the_window_cap_holds_under_scattered_reads() {
    let (mut alice, mut bob) = pair();
    alice
        .set_rotation_policy(RotationPolicy { max_messages: MAX_ROTATION_MESSAGES, ..RotationPolicy::default() })
        .unwrap();
    let mut r = rng(4);
    let first = alice.encrypt_with_rng(&mut r, b"m0", 0).unwrap();
    bob.receive_distribution(b"alice", &first.distributions[0].bytes).unwrap();
    let mut sent = vec![first.message];
    for _ in 1..(2 * MAX_GROUP_WINDOW as usize + 100) {
        sent.push(alice.encrypt_with_rng(&mut r, b"x", 0).unwrap().message);
    }
    // Read every other message: maximal scattering of holes.
    for m in sent.iter().step_by(2) {
        bob.decrypt(m).unwrap();
        let nodes = bob.members[&b"alice".to_vec()].states[0].cover.len();
        assert!(nodes <= MAX_GROUP_STATE_NODES, "{nodes} nodes");
    }
    let last = sent.len() - 1;
    let newest = if last % 2 == 0 { last } else { last - 1 } as u32;
    // An odd index just inside the window still decrypts; one outside
    // fails with OutsideWindow.
    let inside = (newest - MAX_GROUP_WINDOW + 1) | 1;
    assert!(bob.decrypt(&sent[inside as usize]).is_ok());
    let outside = (newest - MAX_GROUP_WINDOW - 3) | 1;
    assert!(matches!(bob.decrypt(&sent[outside as usize]), Err(GroupError::OutsideWindow { .. })));
}

#[test]
fn the_last_index_is_used_once_and_the_next_send_starts_a_new_state() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(5);
    let first = alice.encrypt_with_rng(&mut r, b"0", 0).unwrap();
    bob.receive_distribution(b"alice", &first.distributions[0].bytes).unwrap();
    let out = alice.outbound.as_mut().unwrap();
    let old_id = out.state_id;
    out.cover = out.cover.suffix_from(u32::MAX);
    let last = alice.encrypt_with_rng(&mut r, b"last", 0).unwrap();
    assert!(last.distributions.is_empty());
    assert_eq!(bob.decrypt(&last.message).unwrap().index, u32::MAX);
    assert!(alice.outbound.as_ref().unwrap().next_index().is_none());
    assert!(alice.needs_rotation(0));
    let next = alice.encrypt_with_rng(&mut r, b"next", 0).unwrap();
    assert_eq!(next.distributions.len(), 1, "exhaustion rotates and redistributes");
    assert_ne!(alice.outbound.as_ref().unwrap().state_id, old_id);
}

/// A group whose revoked list holds `n` made-up ids (0, 1, … as the first
/// bytes).
fn with_revoked(n: usize) -> Group {
    let mut g = Group::new(GROUP, b"alice").unwrap();
    g.revoked = (0..n)
        .map(|i| {
            let mut id = StateId::default();
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            id
        })
        .collect();
    g
}

#[test]
fn a_group_pickle_keeps_max_revoked_sender_states_and_refuses_one_more() {
    let full = with_revoked(MAX_REVOKED_SENDER_STATES);
    let restored = Group::from_pickle(&full.pickle()).unwrap();
    assert_eq!(restored.revoked, full.revoked);
    let over = with_revoked(MAX_REVOKED_SENDER_STATES + 1);
    assert!(matches!(Group::from_pickle(&over.pickle()), Err(crate::PickleError::Invalid)));
}

#[test]
fn a_removal_past_max_revoked_sender_states_forgets_the_oldest_ids_first() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(6);
    alice.set_rotation_policy(RotationPolicy { max_messages: 1, ..RotationPolicy::default() }).unwrap();
    for _ in 0..(MAX_SENDER_STATES_PER_MEMBER + 2) {
        let out = alice.encrypt_with_rng(&mut r, b"x", 0).unwrap();
        bob.receive_distribution(b"alice", &out.distributions[0].bytes).unwrap();
    }
    let member = &bob.members[&b"alice".to_vec()];
    let mut alices: Vec<StateId> = member.retired.iter().copied().collect();
    alices.extend(member.states.iter().rev().map(|s| s.state_id));
    assert_eq!(alices.len(), MAX_SENDER_STATES_PER_MEMBER + 2);
    // Bob's list is full of older ids: exactly as many of them as Alice has
    // states are forgotten, and every one of hers is kept, oldest first.
    let filler = with_revoked(MAX_REVOKED_SENDER_STATES).revoked;
    bob.revoked = filler.clone();
    assert!(bob.remove_member(b"alice"));
    assert_eq!(bob.revoked.len(), MAX_REVOKED_SENDER_STATES);
    let kept: Vec<StateId> = bob.revoked.iter().copied().collect();
    let newest_filler: Vec<StateId> = filler.iter().skip(alices.len()).copied().collect();
    assert_eq!(kept[..MAX_REVOKED_SENDER_STATES - alices.len()], newest_filler[..]);
    assert_eq!(kept[MAX_REVOKED_SENDER_STATES - alices.len()..], alices[..]);
    assert!(bob.owners.is_empty());
}

#[test]
fn a_group_pickle_with_a_revoked_id_that_is_also_held_is_refused() {
    let (mut alice, mut bob) = pair();
    let out = alice.encrypt_with_rng(&mut rng(7), b"x", 0).unwrap();
    bob.receive_distribution(b"alice", &out.distributions[0].bytes).unwrap();
    let held = alice.outbound.as_ref().unwrap().state_id;
    bob.revoked.push_back(held);
    assert!(matches!(Group::from_pickle(&bob.pickle()), Err(crate::PickleError::Invalid)));
}

#[test]
fn resetting_a_member_revokes_its_states_keeps_it_a_member_and_rotates_our_state() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(8);
    alice.set_rotation_policy(RotationPolicy { max_messages: 1, ..RotationPolicy::default() }).unwrap();
    // Alice's states: live ones and retired ones at Bob.
    let mut outs = Vec::new();
    for i in 0..(MAX_SENDER_STATES_PER_MEMBER + 2) {
        let out = alice.encrypt_with_rng(&mut r, &[i as u8], 0).unwrap();
        bob.receive_distribution(b"alice", &out.distributions[0].bytes).unwrap();
        outs.push(out);
    }
    bob.decrypt(&outs[MAX_SENDER_STATES_PER_MEMBER + 1].message).unwrap();
    let bobs = bob.encrypt_with_rng(&mut r, b"from bob", 0).unwrap();
    assert_eq!(bobs.distributions.len(), 1);
    let old_state = bob.outbound.as_ref().unwrap().state_id;
    assert!(!bob.needs_rotation(0));
    let member = &bob.members[&b"alice".to_vec()];
    let mut alices: Vec<StateId> = member.retired.iter().copied().collect();
    alices.extend(member.states.iter().rev().map(|s| s.state_id));

    assert!(!bob.reset_member(b"carol"), "not a member: nothing to reset");
    assert!(bob.reset_member(b"alice"));

    // Still a member, with an empty record; every old id is revoked.
    assert_eq!(bob.members().collect::<Vec<_>>(), [b"alice".as_slice()]);
    let member = &bob.members[&b"alice".to_vec()];
    assert!(member.states.is_empty() && member.retired.is_empty());
    assert!(bob.owners.is_empty());
    assert_eq!(bob.revoked.iter().copied().collect::<Vec<_>>(), alices);
    // Its messages and old distributions are refused, read or not.
    for out in [&outs[0], &outs[MAX_SENDER_STATES_PER_MEMBER], &outs[MAX_SENDER_STATES_PER_MEMBER + 1]] {
        assert_eq!(bob.decrypt(&out.message), Err(GroupError::SenderRemoved));
        assert_eq!(bob.receive_distribution(b"alice", &out.distributions[0].bytes), Err(GroupError::SenderRemoved));
    }
    // Bob's own state is stale and owed to Alice (also after a pickle).
    let mut bob = Group::from_pickle(&bob.pickle()).unwrap();
    assert!(bob.needs_rotation(0));
    let next = bob.encrypt_with_rng(&mut r, b"after the reset", 0).unwrap();
    assert_eq!(next.distributions.len(), 1);
    assert_eq!(next.distributions[0].to, b"alice");
    assert_ne!(bob.outbound.as_ref().unwrap().state_id, old_state);

    // Alice's new identity (a fresh device at the same member id) is
    // taken in as usual, and gets Bob's new state.
    let mut new_alice = Group::new(GROUP, b"alice").unwrap();
    new_alice.add_member(b"bob").unwrap();
    new_alice.receive_distribution(b"bob", &next.distributions[0].bytes).unwrap();
    assert_eq!(new_alice.decrypt(&next.message).unwrap().plaintext, b"after the reset");
    let hello = new_alice.encrypt_with_rng(&mut r, b"new device", 0).unwrap();
    bob.receive_distribution(b"alice", &hello.distributions[0].bytes).unwrap();
    let read = bob.decrypt(&hello.message).unwrap();
    assert_eq!((read.sender.as_slice(), read.plaintext.as_slice()), (b"alice".as_slice(), b"new device".as_slice()));
}

/// Alice's messages at the given indices (ascending), made by skipping her
/// sender state ahead between them, and Bob holding her state from index
/// `start` (her message at `start` carries Bob's distribution; with
/// `start` > 0 her state begins with a message at index 0 made before Bob
/// was a member), having read nothing.
pub(super) fn messages_at(start: u32, indices: &[u32]) -> (Group, BTreeMap<u32, Vec<u8>>) {
    let mut alice = Group::new(GROUP, b"alice").unwrap();
    alice
        .set_rotation_policy(RotationPolicy { max_messages: MAX_ROTATION_MESSAGES, ..RotationPolicy::default() })
        .unwrap();
    let mut bob = Group::new(GROUP, b"bob").unwrap();
    bob.add_member(b"alice").unwrap();
    let mut r = rng(9);
    let mut sent = BTreeMap::new();
    let mut send = |alice: &mut Group, index: u32| {
        if let Some(out) = alice.outbound.as_mut() {
            out.cover = out.cover.suffix_from(index);
        }
        let m = alice.encrypt_with_rng(&mut r, &index.to_be_bytes(), 0).unwrap();
        assert_eq!(GroupMessage::decode(&m.message).unwrap().index, index);
        sent.insert(index, m.message);
        m.distributions
    };
    if start > 0 {
        assert!(send(&mut alice, 0).is_empty());
    }
    alice.add_member(b"bob").unwrap();
    let distributions = send(&mut alice, start);
    bob.receive_distribution(b"alice", &distributions[0].bytes).unwrap();
    for &i in indices.iter().filter(|&&i| i > start) {
        assert!(send(&mut alice, i).is_empty());
    }
    (bob, sent)
}

/// Asserts that Bob's state of Alice holds no key below the window.
fn assert_nothing_below_the_window(bob: &Group) {
    let state = &bob.members[&b"alice".to_vec()].states[0];
    let oldest = state.newest.unwrap().saturating_sub(MAX_GROUP_WINDOW);
    assert!(state.cover.nodes().all(|n| n.first() >= u64::from(oldest)), "a key below {oldest} is left");
}

#[test]
fn the_window_deletes_every_key_older_than_max_group_window_whatever_the_read_order() {
    // The boundary: after reading index 3000, index 1000 (3000 −
    // MAX_GROUP_WINDOW) is the oldest readable and 999 is outside.
    assert_eq!(MAX_GROUP_WINDOW, 2_000);
    let window = |index| Err(GroupError::OutsideWindow { index, oldest: 1_000 });
    let all: Vec<u32> = (0..=3_000).collect();

    // Newest first, from a fresh state: the node holding 999 and 1000
    // straddles the boundary and is split.
    let (mut bob, sent) = messages_at(0, &[999, 1_000, 3_000]);
    let (read, work) = crate::work::measure(|| bob.decrypt(&sent[&3_000]));
    assert_eq!(read.unwrap().index, 3_000);
    assert!(work.hmac <= 2 * (32 + 32), "{} HMACs", work.hmac);
    assert_nothing_below_the_window(&bob);
    assert_eq!(bob.decrypt(&sent[&999]), window(999));
    assert_eq!(bob.decrypt(&sent[&1_000]).unwrap().index, 1_000);
    assert_eq!(bob.decrypt(&sent[&1_000]), Err(GroupError::Duplicate));

    // In order, leaving 999 and 1000 unread.
    let (mut bob, sent) = messages_at(0, &all);
    for i in all.iter().filter(|&&i| i != 999 && i != 1_000) {
        bob.decrypt(&sent[i]).unwrap();
        assert_nothing_below_the_window(&bob);
    }
    assert_eq!(bob.decrypt(&sent[&999]), window(999));
    assert_eq!(bob.decrypt(&sent[&1_000]).unwrap().index, 1_000);

    // Scattered, with the boundary reached one index at a time.
    let (mut bob, sent) = messages_at(0, &[10, 998, 999, 1_000, 1_001, 1_500, 2_000, 2_999, 3_000]);
    for i in [1_500, 10, 2_999] {
        bob.decrypt(&sent[&i]).unwrap();
        assert_nothing_below_the_window(&bob);
    }
    assert_eq!(bob.decrypt(&sent[&998]), Err(GroupError::OutsideWindow { index: 998, oldest: 999 }));
    assert_eq!(bob.decrypt(&sent[&999]).unwrap().index, 999, "at the boundary");
    bob.decrypt(&sent[&3_000]).unwrap();
    assert_nothing_below_the_window(&bob);
    // Below the window, read or not: OutsideWindow; inside, read: Duplicate.
    assert_eq!(bob.decrypt(&sent[&999]), window(999));
    assert_eq!(bob.decrypt(&sent[&10]), window(10));
    assert_eq!(bob.decrypt(&sent[&1_500]), Err(GroupError::Duplicate));
    assert_eq!(bob.decrypt(&sent[&2_000]).unwrap().index, 2_000);
    assert_eq!(bob.decrypt(&sent[&1_000]).unwrap().index, 1_000);
    assert_eq!(bob.decrypt(&sent[&1_001]).unwrap().index, 1_001);
}

#[test]
fn an_index_before_the_state_start_reports_before_state_start_even_outside_the_window() {
    let (mut bob, sent) = messages_at(500, &[500, 999, 1_000, 3_000]);
    bob.decrypt(&sent[&3_000]).unwrap();
    assert_nothing_below_the_window(&bob);
    assert_eq!(bob.decrypt(&sent[&999]), Err(GroupError::OutsideWindow { index: 999, oldest: 1_000 }));
    assert_eq!(bob.decrypt(&sent[&500]), Err(GroupError::OutsideWindow { index: 500, oldest: 1_000 }));
    assert_eq!(bob.decrypt(&sent[&0]), Err(GroupError::BeforeStateStart { index: 0, start: 500 }));
    assert_eq!(bob.decrypt(&sent[&1_000]).unwrap().index, 1_000);
}

#[test]
fn a_sender_state_id_is_the_hash_of_its_signing_key() {
    let (mut alice, _) = pair();
    let _ = alice.encrypt_with_rng(&mut rng(10), b"x", 0).unwrap();
    let outbound = alice.outbound.as_ref().unwrap();
    let digest =
        crate::primitives::kdf::sha256(&[b"dmseal:v1:hash:group-state-id", outbound.signing.public().as_bytes()]);
    assert_eq!(outbound.state_id[..], digest[..STATE_ID_LEN]);
}

#[test]
fn a_squatters_distribution_naming_anothers_state_id_is_refused_and_the_owners_is_then_taken() {
    use super::message::{SenderKeyRecord, owner_message};
    use crate::wire::{TYPE_GROUP_DISTRIBUTION, TYPE_GROUP_EXPORT};
    let names: [&[u8]; 3] = [b"alice", b"dave", b"mallory"];
    let mut g: Vec<Group> = names
        .iter()
        .map(|me| {
            let mut g = Group::new(GROUP, me).unwrap();
            for other in names.iter().filter(|o| *o != me) {
                g.add_member(other).unwrap();
            }
            g
        })
        .collect();
    let mut r = rng(11);
    // Alice's first message names her state id in the clear; Mallory sees
    // it before Alice's distribution reaches Dave.
    let from_alice = g[0].encrypt_with_rng(&mut r, b"for dave", 0).unwrap();
    let victim = GroupMessage::decode(&from_alice.message).unwrap().state_id;
    let _ = g[2].encrypt_with_rng(&mut r, b"mallory", 0).unwrap();
    let mallory = g[2].outbound.as_ref().unwrap();
    // Her own key and cover, the victim's id, and a valid owner signature
    // by her key over (group, victim's id, mallory).
    let squat = SenderKeyRecord {
        group_id: GROUP.to_vec(),
        state_id: victim,
        signing_key: mallory.signing.public(),
        owner: b"mallory".to_vec(),
        owner_signature: mallory.signing.sign(&owner_message(GROUP, &victim, b"mallory")),
        nodes: mallory.cover.boxed_nodes(),
        closes: None,
    };
    assert!(squat.owned_by(b"mallory"), "the owner signature itself is valid");
    let before = g[1].pickle().to_bytes();
    assert_eq!(
        g[1].receive_distribution(b"mallory", &squat.encode(TYPE_GROUP_DISTRIBUTION)),
        Err(GroupError::Decode(crate::DecodeError::InvalidStateId))
    );
    assert_eq!(
        g[1].import_sender_state(b"mallory", &squat.encode(TYPE_GROUP_EXPORT)),
        Err(GroupError::Decode(crate::DecodeError::InvalidStateId))
    );
    assert_eq!(g[1].pickle().to_bytes(), before, "a refused record changed the group");
    // Alice's real distribution is taken, and her messages read as hers.
    let to_dave = from_alice.distributions.iter().find(|d| d.to == b"dave").unwrap();
    g[1].receive_distribution(b"alice", &to_dave.bytes).unwrap();
    let read = g[1].decrypt(&from_alice.message).unwrap();
    assert_eq!((read.sender.as_slice(), read.plaintext.as_slice()), (b"alice".as_slice(), b"for dave".as_slice()));
    let next = g[0].encrypt_with_rng(&mut r, b"again", 0).unwrap();
    assert_eq!(g[1].decrypt(&next.message).unwrap().sender, b"alice");
}

#[test]
fn a_group_pickle_with_a_state_id_not_derived_from_its_key_is_refused() {
    let (mut alice, mut bob) = pair();
    let out = alice.encrypt_with_rng(&mut rng(12), b"x", 0).unwrap();
    bob.receive_distribution(b"alice", &out.distributions[0].bytes).unwrap();
    assert!(Group::from_pickle(&alice.pickle()).is_ok());
    assert!(Group::from_pickle(&bob.pickle()).is_ok());
    alice.outbound.as_mut().unwrap().state_id[0] ^= 1;
    assert!(matches!(Group::from_pickle(&alice.pickle()), Err(crate::PickleError::Invalid)));
    let state = &mut bob.members.get_mut(b"alice".as_slice()).unwrap().states[0];
    state.state_id[0] ^= 1;
    assert!(matches!(Group::from_pickle(&bob.pickle()), Err(crate::PickleError::Invalid)));
}

#[test]
fn a_crafted_two_key_group_ciphertext_is_refused() {
    // A malicious sender hands Bob and Carol distributions of one state
    // (same id, signing key and owner signature) with different root keys,
    // then signs one message. Without a key commitment the signature would
    // pass for both and each could read a different plaintext; with it, at
    // most the member holding the signed leaf reads it.
    let mut alice = Group::new(GROUP, b"alice").unwrap();
    alice.add_member(b"bob").unwrap();
    alice.add_member(b"carol").unwrap();
    let mut r = rng(50);
    let out = alice.encrypt_with_rng(&mut r, b"pay bob", 0).unwrap();
    let genuine = SenderKeyRecord::decode(&out.distributions[0].bytes, TYPE_GROUP_DISTRIBUTION).unwrap();
    let mut other = SenderKeyRecord::decode(&out.distributions[0].bytes, TYPE_GROUP_DISTRIBUTION).unwrap();
    other.nodes = vec![Box::new(Node::root([0x42; 32]))];
    let mut bob = Group::new(GROUP, b"bob").unwrap();
    bob.add_member(b"alice").unwrap();
    let mut carol = Group::new(GROUP, b"carol").unwrap();
    carol.add_member(b"alice").unwrap();
    bob.receive_distribution(b"alice", &genuine.encode(TYPE_GROUP_DISTRIBUTION)).unwrap();
    carol.receive_distribution(b"alice", &other.encode(TYPE_GROUP_DISTRIBUTION)).unwrap();
    // The sender builds index 0 so that Carol's key opens it too: the
    // ciphertext sealed under Carol's key, signed as usual (the signature
    // is valid, the state's key made it) but over Bob's commitment.
    let state = alice.outbound.as_ref().unwrap();
    let message = GroupMessage::decode(&out.message).unwrap();
    let carols_leaf = Cover::from_root([0x42; 32]).descend(0).unwrap().leaf;
    let carols = message_keys(&carols_leaf, GROUP, &state.state_id, 0);
    let mut crafted = message.header.to_vec();
    let body = crafted.len();
    crafted.extend_from_slice(b"pay carol");
    carols.cipher.seal_in_place(&bound_header(GROUP, message.header), &mut crafted, body);
    let bobs_leaf = Cover::from_root(genuine.nodes[0].key).descend(0).unwrap().leaf;
    let bobs = message_keys(&bobs_leaf, GROUP, &state.state_id, 0);
    let signature = state.signing.sign(&super::message::signed_message(GROUP, &crafted, &bobs.commitment));
    crafted.extend_from_slice(&signature);
    let before = carol.pickle().to_bytes();
    assert_eq!(carol.decrypt(&crafted), Err(GroupError::BadSignature));
    assert_eq!(carol.pickle().to_bytes(), before);
    // Bob's key does not open Carol's ciphertext either.
    assert_eq!(bob.decrypt(&crafted), Err(GroupError::AuthenticationFailed));
    // Signed over Carol's commitment instead, Bob refuses it.
    crafted.truncate(crafted.len() - 64);
    let signature = state.signing.sign(&super::message::signed_message(GROUP, &crafted, &carols.commitment));
    crafted.extend_from_slice(&signature);
    assert_eq!(bob.decrypt(&crafted), Err(GroupError::BadSignature));
    assert_eq!(carol.decrypt(&crafted).unwrap().plaintext, b"pay carol");
}

#[test]
fn a_distribution_closing_its_own_state_is_ignored_and_the_group_still_reloads() {
    let mut alice = Group::new(GROUP, b"alice").unwrap();
    alice.add_member(b"bob").unwrap();
    let mut bob = Group::new(GROUP, b"bob").unwrap();
    bob.add_member(b"alice").unwrap();
    let mut r = rng(51);
    let out = alice.encrypt_with_rng(&mut r, b"m0", 0).unwrap();
    let mut record = SenderKeyRecord::decode(&out.distributions[0].bytes, TYPE_GROUP_DISTRIBUTION).unwrap();
    record.closes = Some(super::message::Closure { state_id: record.state_id, last: 0 });
    bob.receive_distribution(b"alice", &record.encode(TYPE_GROUP_DISTRIBUTION)).unwrap();
    let mut restored = Group::from_pickle(&bob.pickle()).unwrap();
    assert_eq!(restored.decrypt(&out.message).unwrap().plaintext, b"m0");
    let next = alice.encrypt_with_rng(&mut r, b"m1", 0).unwrap();
    assert_eq!(restored.decrypt(&next.message).unwrap().plaintext, b"m1", "not closed at 0");
}

/// Alice's messages 0 to `n` - 1 on one state; the first carries the
/// distribution for Bob, who has not received it.
pub(super) fn sent_on_one_state(alice: &mut Group, r: &mut rand_chacha::ChaCha20Rng, n: u8) -> (Vec<u8>, Vec<Vec<u8>>) {
    let first = alice.encrypt_with_rng(r, &[0], 0).unwrap();
    let distribution = first.distributions[0].bytes.to_vec();
    let mut sent = vec![first.message];
    for i in 1..n {
        let out = alice.encrypt_with_rng(r, &[i], 0).unwrap();
        assert!(out.distributions.is_empty());
        sent.push(out.message);
    }
    (distribution, sent)
}

pub(super) fn state_of(message: &[u8]) -> StateId {
    GroupMessage::decode(message).unwrap().state_id
}

#[test]
fn a_distribution_of_a_state_already_held_changes_nothing() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(52);
    let (distribution, sent) = sent_on_one_state(&mut alice, &mut r, 4);
    bob.receive_distribution(b"alice", &distribution).unwrap();
    bob.decrypt(&sent[2]).unwrap();
    let before = bob.pickle().to_bytes();
    // The same distribution again, and a later one (from index 4 on, as
    // for a device that lost the state).
    let later = alice.distribution(b"bob", 0).unwrap();
    bob.receive_distribution(b"alice", &distribution).unwrap();
    bob.receive_distribution(b"alice", &later.bytes).unwrap();
    assert_eq!(bob.pickle().to_bytes(), before);
    assert_eq!(bob.decrypt(&sent[2]), Err(GroupError::Duplicate), "a read index stays read");
    for i in [0u8, 1, 3] {
        let read = bob.decrypt(&sent[usize::from(i)]).unwrap();
        assert_eq!((read.plaintext, read.verified), (vec![i], true), "earlier unread indices stay readable");
    }
}

#[test]
fn a_held_state_delivered_by_another_member_is_refused_even_with_an_owner_signature_for_it() {
    use super::message::owner_message;
    let (mut alice, mut bob) = pair();
    bob.add_member(b"dave").unwrap();
    let mut r = rng(53);
    let (distribution, sent) = sent_on_one_state(&mut alice, &mut r, 1);
    bob.receive_distribution(b"alice", &distribution).unwrap();
    // Alice's state key also signs Dave as its owner (she gave him the
    // record, or the key): Bob holds the state as Alice's already.
    let mut record = SenderKeyRecord::decode(&distribution, TYPE_GROUP_DISTRIBUTION).unwrap();
    record.owner = b"dave".to_vec();
    record.owner_signature =
        alice.outbound.as_ref().unwrap().signing.sign(&owner_message(GROUP, &record.state_id, b"dave"));
    assert!(record.owned_by(b"dave"));
    let before = bob.pickle().to_bytes();
    assert_eq!(
        bob.receive_distribution(b"dave", &record.encode(TYPE_GROUP_DISTRIBUTION)),
        Err(GroupError::StateOwnedByAnotherMember)
    );
    assert_eq!(bob.pickle().to_bytes(), before);
    assert_eq!(bob.decrypt(&sent[0]).unwrap().sender, b"alice");
}

#[test]
fn a_verified_distribution_replaces_an_imported_copy_and_keeps_what_the_copy_read() {
    let mut alice = Group::new(GROUP, b"alice").unwrap();
    alice.add_member(b"bob.1").unwrap();
    alice.add_member(b"bob.2").unwrap();
    let mut bob1 = Group::new(GROUP, b"bob.1").unwrap();
    bob1.add_member(b"alice").unwrap();
    let mut bob2 = Group::new(GROUP, b"bob.2").unwrap();
    bob2.add_member(b"alice").unwrap();
    let mut r = rng(54);
    let first = alice.encrypt_with_rng(&mut r, &[0], 0).unwrap();
    let to = |who: &[u8]| first.distributions.iter().find(|d| d.to == who).unwrap().bytes.clone();
    let mut sent = vec![first.message.clone()];
    for i in 1..8u8 {
        sent.push(alice.encrypt_with_rng(&mut r, &[i], 0).unwrap().message);
    }
    bob1.receive_distribution(b"alice", &to(b"bob.1")).unwrap();
    // Bob's second device imports the state from index 2 on and reads 5,
    // then 3, unverified.
    let export = bob1.export_sender_state(b"alice", 2).unwrap();
    bob2.import_sender_state(b"alice", &export).unwrap();
    for i in [5usize, 3] {
        assert!(!bob2.decrypt(&sent[i]).unwrap().verified);
    }
    // Alice's own distribution (from index 0) arrives: its keys replace
    // the imported ones, less the indices read.
    bob2.receive_distribution(b"alice", &to(b"bob.2")).unwrap();
    for i in [0usize, 1, 2, 4, 6, 7] {
        let read = bob2.decrypt(&sent[i]).unwrap();
        assert_eq!((read.index, read.verified), (i as u32, true));
    }
    for i in [3usize, 5] {
        assert_eq!(bob2.decrypt(&sent[i]), Err(GroupError::Duplicate), "index {i} was read");
    }
}

#[test]
fn a_state_arriving_after_its_successor_is_closed_at_the_last_index_the_successor_named() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(55);
    let (old_distribution, old) = sent_on_one_state(&mut alice, &mut r, 4);
    // A copy of the old state (say, stolen) that posts on after the
    // rotation.
    let mut copy = alice.outbound.clone().unwrap();
    alice.rotate();
    let next = alice.encrypt_with_rng(&mut r, b"next", 0).unwrap();
    let forged = copy.encrypt(GROUP, b"forged").unwrap();
    // The successor's distribution comes first.
    bob.receive_distribution(b"alice", &next.distributions[0].bytes).unwrap();
    bob.receive_distribution(b"alice", &old_distribution).unwrap();
    assert_eq!(bob.decrypt(&forged), Err(GroupError::StateClosed { index: 4, last: 3 }));
    assert_eq!(bob.decrypt(&old[3]).unwrap().index, 3);
    // The last index read again is a duplicate, like any other.
    assert_eq!(bob.decrypt(&old[3]), Err(GroupError::Duplicate));
    assert_eq!(bob.decrypt(&old[0]).unwrap().index, 0);
    assert_eq!(bob.decrypt(&next.message).unwrap().plaintext, b"next");
}

/// Alice sending one message on each of `n` states, every distribution
/// delivered to Bob in order.
fn one_message_per_state(seed: u8, n: usize) -> (Group, Vec<GroupOutgoing>) {
    let (mut alice, mut bob) = pair();
    alice.set_rotation_policy(RotationPolicy { max_messages: 1, ..RotationPolicy::default() }).unwrap();
    let mut r = rng(seed);
    let outs: Vec<GroupOutgoing> = (0..n)
        .map(|i| {
            let out = alice.encrypt_with_rng(&mut r, &i.to_be_bytes(), 0).unwrap();
            bob.receive_distribution(b"alice", &out.distributions[0].bytes).unwrap();
            out
        })
        .collect();
    (bob, outs)
}

#[test]
fn the_newest_max_sender_states_per_member_states_stay_readable() {
    let (mut bob, outs) = one_message_per_state(56, MAX_SENDER_STATES_PER_MEMBER + 1);
    // Messages in flight across the rotations still read; the oldest
    // state was evicted.
    assert_eq!(bob.decrypt(&outs[0].message), Err(GroupError::UnknownSenderState));
    for out in &outs[1..] {
        assert!(bob.decrypt(&out.message).is_ok());
    }
}

#[test]
fn a_redelivered_distribution_of_any_remembered_retired_state_brings_nothing_back() {
    let (mut bob, outs) = one_message_per_state(57, MAX_SENDER_STATES_PER_MEMBER + MAX_RETIRED_STATES_PER_MEMBER);
    // The first state is the oldest retired one still remembered, the one
    // before the live states the newest.
    for out in [&outs[0], &outs[MAX_RETIRED_STATES_PER_MEMBER - 1]] {
        bob.receive_distribution(b"alice", &out.distributions[0].bytes).unwrap();
        assert_eq!(bob.decrypt(&out.message), Err(GroupError::UnknownSenderState));
    }
}

#[test]
fn decrypt_from_reads_only_its_senders_states_and_tells_a_stranger_from_keys_not_here_yet() {
    let (mut alice, mut carol, mut bob) = alice_and_carol_to_bob();
    let mut r = rng(58);
    let from_alice = alice.encrypt_with_rng(&mut r, b"alice's", 0).unwrap();
    let from_carol = carol.encrypt_with_rng(&mut r, b"carol's", 0).unwrap();
    bob.receive_distribution(b"alice", &from_alice.distributions[0].bytes).unwrap();
    let before = bob.pickle().to_bytes();
    assert_eq!(bob.decrypt_from(b"carol", &from_alice.message), Err(GroupError::UnexpectedSender));
    // Carol's keys have not arrived: keep her message. From a stranger,
    // it will never read here.
    assert_eq!(bob.decrypt_from(b"carol", &from_carol.message), Err(GroupError::UnknownSenderState));
    assert_eq!(bob.decrypt(&from_carol.message), Err(GroupError::UnknownSenderState));
    assert_eq!(bob.decrypt_from(b"mallory", &from_carol.message), Err(GroupError::NotAMember));
    assert_eq!(bob.pickle().to_bytes(), before);
    assert_eq!(bob.decrypt_from(b"alice", &from_alice.message).unwrap().plaintext, b"alice's");
    bob.receive_distribution(b"carol", &from_carol.distributions[0].bytes).unwrap();
    let read = bob.decrypt_from(b"carol", &from_carol.message).unwrap();
    assert_eq!((read.sender.as_slice(), read.plaintext.as_slice()), (b"carol".as_slice(), b"carol's".as_slice()));
}

#[test]
fn a_batch_reads_as_one_by_one_checking_signatures_together_and_a_bad_one_fails_alone() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(59);
    let (distribution, sent) = sent_on_one_state(&mut alice, &mut r, 5);
    bob.receive_distribution(b"alice", &distribution).unwrap();
    let (results, work) = crate::work::measure(|| bob.decrypt_batch(&[&sent[2], &sent[0], &sent[1], &sent[1]]));
    let read: Vec<_> = results.iter().map(|r| r.as_ref().map(|p| p.plaintext.clone())).collect();
    assert_eq!(read, [Ok(vec![2]), Ok(vec![0]), Ok(vec![1]), Err(&GroupError::Duplicate)]);
    assert_eq!(work.signature_checks, 0, "one batch verification, no message checked alone");
    // A bad signature fails only its own message, and uses nothing up.
    let mut bad = sent[3].clone();
    *bad.last_mut().unwrap() ^= 1;
    let results = bob.decrypt_batch_with_rng(&mut r, &[&bad, &sent[4]]);
    assert_eq!(results[0], Err(GroupError::BadSignature));
    assert_eq!(results[1].as_ref().unwrap().plaintext, [4]);
    assert_eq!(bob.decrypt(&sent[3]).unwrap().plaintext, [3]);
}

#[test]
fn past_max_group_state_nodes_the_nodes_of_the_oldest_indices_are_evicted() {
    let (mut alice, mut bob) = pair();
    let mut r = rng(63);
    let (distribution, sent) = sent_on_one_state(&mut alice, &mut r, 2);
    let out = alice.outbound.as_mut().unwrap();
    out.cover = out.cover.suffix_from(16);
    let sixteen = alice.encrypt_with_rng(&mut r, b"16", 0).unwrap().message;
    // A distribution with as many nodes as a state may hold: Alice's keys
    // of indices 0 to 31 in one node, then single indices 32, 34, ...
    let mut record = SenderKeyRecord::decode(&distribution, TYPE_GROUP_DISTRIBUTION).unwrap();
    let root = Cover::from_root(record.nodes[0].key);
    let mut nodes = root.within(0, 31).boxed_nodes();
    assert_eq!(nodes.len(), 1);
    for k in 0..(MAX_GROUP_STATE_NODES as u32 - 1) {
        nodes.push(root.descend(32 + 2 * k).unwrap().leaf);
    }
    record.nodes = nodes;
    bob.receive_distribution(b"alice", &record.encode(TYPE_GROUP_DISTRIBUTION)).unwrap();
    // Reading 0 splits the first node into five: the four covering the
    // oldest indices (1 to 15) are evicted.
    bob.decrypt(&sent[0]).unwrap();
    assert_eq!(bob.decrypt(&sent[1]), Err(GroupError::Duplicate));
    assert_eq!(bob.decrypt(&sixteen).unwrap().index, 16);
    // The state still fits a pickle.
    let mut restored = Group::from_pickle(&bob.pickle()).unwrap();
    let out = alice.outbound.as_mut().unwrap();
    out.cover = out.cover.suffix_from(32);
    let far = alice.encrypt_with_rng(&mut r, b"32", 0).unwrap().message;
    assert_eq!(restored.decrypt(&far).unwrap().index, 32);
}

/// Alice and Carol, each with Bob as a member, and Bob with both.
pub(super) fn alice_and_carol_to_bob() -> (Group, Group, Group) {
    let mut alice = Group::new(GROUP, b"alice").unwrap();
    alice.add_member(b"bob").unwrap();
    let mut carol = Group::new(GROUP, b"carol").unwrap();
    carol.add_member(b"bob").unwrap();
    let mut bob = Group::new(GROUP, b"bob").unwrap();
    bob.add_member(b"alice").unwrap();
    bob.add_member(b"carol").unwrap();
    (alice, carol, bob)
}
