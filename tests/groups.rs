//! Group chats: sender keys, membership, replay, ordering, signatures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use dmseal::limits::MAX_GROUP_WINDOW;
use dmseal::{Group, GroupError, GroupOutgoing};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;

const GID: &[u8] = b"family";

/// Groups for the given members, everyone knowing everyone.
fn groups(names: &[&str]) -> Vec<Group> {
    names
        .iter()
        .map(|me| {
            let mut g = Group::new(GID, me.as_bytes()).unwrap();
            for other in names.iter().filter(|o| *o != me) {
                g.add_member(other.as_bytes()).unwrap();
            }
            g
        })
        .collect()
}

/// Delivers the distributions in `out` (as if over 1:1 sessions from `from`).
fn deliver(groups: &mut [Group], names: &[&str], from: &str, out: &GroupOutgoing) {
    for d in &out.distributions {
        let to = names.iter().position(|n| n.as_bytes() == d.to.as_slice()).unwrap();
        groups[to].receive_distribution(from.as_bytes(), &d.bytes).unwrap();
    }
}

/// An independent copy of a group's state (for comparing code paths), made
/// through a pickle: `Group` is deliberately not `Clone`.
fn copy(g: &Group) -> Group {
    Group::from_pickle(&g.pickle()).unwrap()
}

fn snapshot(g: &Group) -> Vec<u8> {
    g.pickle().to_bytes().to_vec()
}

#[test]
fn members_read_each_other_in_any_order_and_only_once() {
    let names = ["alice", "bob", "carol"];
    let mut g = groups(&names);
    let mut r = rng(1);
    let mut sent = Vec::new();
    for i in 0..5u8 {
        let out = g[0].encrypt_with_rng(&mut r, &[i], 0).unwrap();
        deliver(&mut g, &names, "alice", &out);
        sent.push(out.message);
    }
    for m in sent.iter().rev() {
        let p = g[1].decrypt(m).unwrap();
        assert_eq!(p.sender, b"alice");
        assert!(p.verified);
    }
    for (i, m) in sent.iter().enumerate() {
        assert_eq!(g[2].decrypt(m).unwrap().plaintext, [i as u8]);
        assert_eq!(g[2].decrypt(m), Err(GroupError::Duplicate));
    }
}

#[test]
fn every_bit_flip_of_a_group_message_is_rejected_and_changes_nothing() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let out = g[0].encrypt_with_rng(&mut rng(2), b"flip me", 0).unwrap();
    deliver(&mut g, &names, "alice", &out);
    let before = snapshot(&g[1]);
    for bit in 0..out.message.len() * 8 {
        assert!(g[1].decrypt(&flip(&out.message, bit)).is_err(), "bit {bit}");
        assert_eq!(snapshot(&g[1]), before);
    }
    assert_eq!(g[1].decrypt(&out.message).unwrap().plaintext, b"flip me");
}

#[test]
fn a_message_ten_thousand_indices_ahead_decrypts() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    g[0].set_rotation_policy(dmseal::RotationPolicy::new(20_000, dmseal::limits::DEFAULT_ROTATION_SECS)).unwrap();
    let mut r = rng(3);
    let first = g[0].encrypt_with_rng(&mut r, b"0", 0).unwrap();
    deliver(&mut g, &names, "alice", &first);
    let mut sent = vec![first.message];
    for _ in 0..10_000 {
        sent.push(g[0].encrypt_with_rng(&mut r, b"n", 0).unwrap().message);
    }
    g[1].decrypt(&sent[0]).unwrap();
    assert_eq!(g[1].decrypt(&sent[10_000]).unwrap().index, 10_000);
    // Within the window behind it, late messages still decrypt; before it
    // they fail with a typed error.
    let inside = 10_000 - MAX_GROUP_WINDOW as usize;
    assert!(g[1].decrypt(&sent[inside]).is_ok());
    assert!(matches!(g[1].decrypt(&sent[inside - 10]), Err(GroupError::OutsideWindow { .. })));
}

#[test]
fn a_distribution_with_a_small_order_or_twisted_signing_key_cannot_make_messages_pass() {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let mut r = rng(13);
    let out = g[0].encrypt_with_rng(&mut r, b"x", 0).unwrap();
    let bytes = out.distributions[0].bytes.clone();
    // Signing key after version, type, group id length and id, state id.
    let key_at = 3 + GID.len() + 16;
    let _ = key_at;
    let mut small = bytes.to_vec();
    small[key_at..key_at + 32].copy_from_slice(&curve25519_dalek::constants::EIGHT_TORSION[1].compress().to_bytes());
    assert!(matches!(g[1].receive_distribution(b"alice", &small), Err(GroupError::Decode(_))));
    // A non-canonical encoding of a key (y >= p) is refused the same way.
    let mut non_canonical = bytes.to_vec();
    non_canonical[key_at..key_at + 32].copy_from_slice(&{
        let mut y = [0xffu8; 32];
        y[0] = 0xee;
        y[31] = 0x7f;
        y
    });
    assert!(matches!(g[1].receive_distribution(b"alice", &non_canonical), Err(GroupError::Decode(_))));
    // A + (a point of order 8): a valid point, but not the key the state id
    // was derived from; and with the id derived from it, the owner
    // signature made by A does not verify under it. Never installed.
    let a = CompressedEdwardsY(bytes[key_at..key_at + 32].try_into().unwrap()).decompress().unwrap();
    let twisted_key = (a + curve25519_dalek::constants::EIGHT_TORSION[1]).compress().to_bytes();
    let mut twisted = bytes.to_vec();
    twisted[key_at..key_at + 32].copy_from_slice(&twisted_key);
    assert_eq!(
        g[1].receive_distribution(b"alice", &twisted),
        Err(GroupError::Decode(dmseal::DecodeError::InvalidStateId))
    );
    let derived = {
        use sha2::Digest;
        sha2::Sha256::new().chain_update(b"dmseal:v1:hash:group-state-id").chain_update(twisted_key).finalize()
    };
    twisted[key_at - 16..key_at].copy_from_slice(&derived[..16]);
    assert_eq!(g[1].receive_distribution(b"alice", &twisted), Err(GroupError::StateOwnedByAnotherMember));
    g[1].receive_distribution(b"alice", &bytes).unwrap();
    let mut batch = copy(&g[1]);
    assert!(g[1].decrypt(&out.message).is_ok());
    assert!(batch.decrypt_batch_with_rng(&mut r, &[&out.message])[0].is_ok());
}

#[test]
fn a_removed_member_can_neither_read_after_the_rotation_nor_post() {
    let names = ["alice", "bob", "mallory"];
    let mut g = groups(&names);
    let mut r = rng(4);
    for who in 0..3 {
        let out = g[who].encrypt_with_rng(&mut r, b"hello", 0).unwrap();
        deliver(&mut g, &names, names[who], &out);
    }
    let from_mallory = g[2].encrypt_with_rng(&mut r, b"still here", 0).unwrap().message;
    // Alice and Bob remove Mallory.
    assert!(g[0].remove_member(b"mallory"));
    assert!(g[1].remove_member(b"mallory"));
    assert_eq!(g[0].decrypt(&from_mallory), Err(GroupError::SenderRemoved));
    // Alice's next message rotates and goes to Bob only.
    let out = g[0].encrypt_with_rng(&mut r, b"secret plans", 0).unwrap();
    assert_eq!(out.distributions.len(), 1);
    assert_eq!(out.distributions[0].to, b"bob");
    deliver(&mut g, &names, "alice", &out);
    assert_eq!(g[1].decrypt(&out.message).unwrap().plaintext, b"secret plans");
    assert_eq!(g[2].decrypt(&out.message), Err(GroupError::UnknownSenderState));
    // Mallory cannot slip a distribution in either.
    let fresh = g[2].encrypt_with_rng(&mut r, b"x", 1).unwrap();
    assert!(fresh.distributions.is_empty(), "mallory's old state was already distributed");
    assert_eq!(g[1].decrypt(&fresh.message), Err(GroupError::SenderRemoved));
}

#[test]
fn a_new_member_cannot_decrypt_earlier_messages() {
    let names = ["alice", "bob", "dave"];
    let mut g = groups(&names[..2]);
    let mut r = rng(5);
    let before = g[0].encrypt_with_rng(&mut r, b"before dave", 0).unwrap();
    deliver(&mut g, &names, "alice", &before);
    let mut dave = Group::new(GID, b"dave").unwrap();
    dave.add_member(b"alice").unwrap();
    g[0].add_member(b"dave").unwrap();
    let after = g[0].encrypt_with_rng(&mut r, b"welcome dave", 0).unwrap();
    assert_eq!(after.distributions.len(), 1);
    dave.receive_distribution(b"alice", &after.distributions[0].bytes).unwrap();
    assert_eq!(dave.decrypt(&after.message).unwrap().plaintext, b"welcome dave");
    assert_eq!(dave.decrypt(&before.message), Err(GroupError::BeforeStateStart { index: 0, start: 1 }));
}

#[test]
fn a_distribution_delivered_by_one_member_for_another_members_state_is_refused() {
    let names = ["alice", "bob", "carol"];
    let mut g = groups(&names);
    let mut r = rng(6);
    let out = g[0].encrypt_with_rng(&mut r, b"x", 0).unwrap();
    deliver(&mut g, &names, "alice", &out);
    // Carol re-sends Alice's distribution to Bob as if it were hers.
    let alices = out.distributions.iter().find(|d| d.to == b"bob").unwrap();
    assert_eq!(g[1].receive_distribution(b"carol", &alices.bytes), Err(GroupError::StateOwnedByAnotherMember));
    // And a stranger's distribution is refused outright.
    assert_eq!(g[1].receive_distribution(b"eve", &alices.bytes), Err(GroupError::NotAMember));
}

#[test]
fn a_message_signed_with_another_members_key_is_rejected() {
    let names = ["alice", "bob", "carol"];
    let mut g = groups(&names);
    let mut r = rng(7);
    let from_alice = g[0].encrypt_with_rng(&mut r, b"alice", 0).unwrap();
    deliver(&mut g, &names, "alice", &from_alice);
    let from_carol = g[2].encrypt_with_rng(&mut r, b"carol", 0).unwrap();
    deliver(&mut g, &names, "carol", &from_carol);
    // Carol's signature on Alice's message.
    let mut forged = from_alice.message.clone();
    let n = forged.len();
    forged[n - 64..].copy_from_slice(&from_carol.message[from_carol.message.len() - 64..]);
    let before = snapshot(&g[1]);
    assert_eq!(g[1].decrypt(&forged), Err(GroupError::BadSignature));
    assert_eq!(snapshot(&g[1]), before);
}

#[test]
fn a_group_survives_a_pickle_round_trip_mid_conversation() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let mut r = rng(8);
    let mut sent = Vec::new();
    for i in 0..6u8 {
        let out = g[0].encrypt_with_rng(&mut r, &[i], 0).unwrap();
        deliver(&mut g, &names, "alice", &out);
        sent.push(out.message);
    }
    g[1].decrypt(&sent[5]).unwrap();
    let key = [9u8; 32];
    let restored_bob =
        Group::from_pickle(&dmseal::GroupPickle::from_encrypted(&g[1].pickle().encrypt(&key), &key).unwrap());
    let mut bob = restored_bob.unwrap();
    for (i, m) in sent[..5].iter().enumerate() {
        assert_eq!(bob.decrypt(m).unwrap().plaintext, [i as u8]);
    }
    assert_eq!(bob.decrypt(&sent[5]), Err(GroupError::Duplicate));
    let mut alice = Group::from_pickle(&g[0].pickle()).unwrap();
    let next = alice.encrypt_with_rng(&mut r, b"after", 0).unwrap();
    assert!(next.distributions.is_empty());
    assert_eq!(bob.decrypt(&next.message).unwrap().plaintext, b"after");
}

#[test]
fn exports_give_unverified_history_from_an_index() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let mut r = rng(9);
    let mut sent = Vec::new();
    for i in 0..4u8 {
        let out = g[0].encrypt_with_rng(&mut r, &[i], 0).unwrap();
        deliver(&mut g, &names, "alice", &out);
        sent.push(out.message);
    }
    let export = g[1].export_sender_state(b"alice", 2).unwrap();
    let mut bobs_laptop = Group::new(GID, b"bob").unwrap();
    bobs_laptop.add_member(b"alice").unwrap();
    bobs_laptop.import_sender_state(b"alice", &export).unwrap();
    assert_eq!(bobs_laptop.decrypt(&sent[1]), Err(GroupError::BeforeStateStart { index: 1, start: 2 }));
    let p = bobs_laptop.decrypt(&sent[3]).unwrap();
    assert!(!p.verified);
    // A later distribution of the same state changes nothing.
    assert_eq!(bobs_laptop.decrypt(&sent[3]), Err(GroupError::Duplicate));
}

#[test]
fn rotation_policy_rotates_by_count_and_by_age() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    g[0].set_rotation_policy(dmseal::RotationPolicy::new(3, 100)).unwrap();
    let mut r = rng(10);
    let counts: Vec<usize> =
        (0..7u64).map(|i| g[0].encrypt_with_rng(&mut r, b"x", i).unwrap().distributions.len()).collect();
    assert_eq!(counts, [1, 0, 0, 1, 0, 0, 1]);
    assert!(!g[0].needs_rotation(50));
    assert!(g[0].needs_rotation(1_000));
    assert!(
        g[0].set_rotation_policy(dmseal::RotationPolicy::new(dmseal::limits::MAX_ROTATION_MESSAGES + 1, 1)).is_err()
    );
}

/// A named way to corrupt a message's signature.
type Craft = (&'static str, fn(&mut [u8]));

fn crafted_signatures() -> Vec<Craft> {
    fn set_r(m: &mut [u8], r: [u8; 32]) {
        let n = m.len();
        m[n - 64..n - 32].copy_from_slice(&r);
    }
    vec![
        ("non-canonical S (S + l)", |m| {
            let n = m.len();
            // Adding l to S keeps the equation but breaks canonicity; set
            // the top bits, which makes S >= l.
            m[n - 1] |= 0xf0;
        }),
        ("small-order R (identity)", |m| {
            let mut r = [0u8; 32];
            r[0] = 1;
            set_r(m, r);
        }),
        ("R of order 8", |m| set_r(m, curve25519_dalek::constants::EIGHT_TORSION[1].compress().to_bytes())),
        ("non-canonical R (y = p)", |m| {
            let mut r = [0xffu8; 32];
            r[0] = 0xed;
            r[31] = 0x7f;
            set_r(m, r);
        }),
        ("R with a torsion component", |m| {
            use curve25519_dalek::edwards::CompressedEdwardsY;
            let n = m.len();
            let r = CompressedEdwardsY(m[n - 64..n - 32].try_into().unwrap()).decompress().unwrap();
            let shifted = r + curve25519_dalek::constants::EIGHT_TORSION[2];
            set_r(m, shifted.compress().to_bytes());
        }),
    ]
}

#[test]
fn crafted_signatures_get_the_same_verdict_from_single_and_batch_verification() {
    let names = ["alice", "bob"];
    for (what, craft) in crafted_signatures() {
        let mut g = groups(&names);
        let mut r = rng(11);
        let out = g[0].encrypt_with_rng(&mut r, b"crafted", 0).unwrap();
        deliver(&mut g, &names, "alice", &out);
        let good = g[0].encrypt_with_rng(&mut r, b"good", 0).unwrap().message;
        let mut bad = out.message.clone();
        craft(&mut bad);
        let mut single = copy(&g[1]);
        let mut batch = copy(&g[1]);
        let one_by_one = vec![single.decrypt(&bad), single.decrypt(&good)];
        let batched = batch.decrypt_batch_with_rng(&mut r, &[&bad, &good]);
        assert_eq!(one_by_one, batched, "{what}");
        assert!(batched[0].is_err(), "{what} accepted");
        assert!(batched[1].is_ok(), "{what} spoiled the good message");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batch_decryption_equals_one_by_one_decryption(
        picks in proptest::collection::vec((0usize..12, 0u8..4, any::<usize>()), 1..24)
    ) {
        let names = ["alice", "bob", "carol"];
        let mut g = groups(&names);
        let mut r = rng(12);
        let mut pool = Vec::new();
        for who in [0usize, 2] {
            for i in 0..6u8 {
                let out = g[who].encrypt_with_rng(&mut r, &[i], 0).unwrap();
                deliver(&mut g, &names, names[who], &out);
                pool.push(out.message);
            }
        }
        // Choose messages (with repeats), some tampered or truncated.
        let batch: Vec<Vec<u8>> = picks.iter().map(|(i, how, bit)| {
            let m = pool[*i].clone();
            match how {
                0 | 1 => m,
                2 => flip(&m, bit % (m.len() * 8)),
                _ => m[..bit % m.len()].to_vec(),
            }
        }).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let mut single = copy(&g[1]);
        let one_by_one: Vec<_> = refs.iter().map(|m| single.decrypt(m)).collect();
        let batched = g[1].decrypt_batch_with_rng(&mut r, &refs);
        prop_assert_eq!(one_by_one, batched);
        prop_assert_eq!(snapshot(&single), snapshot(&g[1]));
    }
}

/// Alice rotates on every send and Bob reads each message, so Bob ends up
/// holding her newest `MAX_SENDER_STATES_PER_MEMBER` states and the first
/// ones are retired.
fn rotate_past_the_state_cap(g: &mut [Group], names: &[&str], r: &mut ChaCha20Rng) -> Vec<GroupOutgoing> {
    g[0].set_rotation_policy(dmseal::RotationPolicy::new(1, dmseal::limits::DEFAULT_ROTATION_SECS)).unwrap();
    let mut outs = Vec::new();
    for i in 0..(dmseal::limits::MAX_SENDER_STATES_PER_MEMBER + 2) {
        let out = g[0].encrypt_with_rng(r, &[i as u8], 0).unwrap();
        deliver(g, names, "alice", &out);
        assert_eq!(g[1].decrypt(&out.message).unwrap().plaintext, [i as u8]);
        outs.push(out);
    }
    outs
}

#[test]
fn a_redelivered_distribution_never_restores_read_or_evicted_indices() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let outs = rotate_past_the_state_cap(&mut g, &names, &mut rng(14));
    let before = snapshot(&g[1]);
    // The first state was evicted; its distribution comes again.
    g[1].receive_distribution(b"alice", &outs[0].distributions[0].bytes).unwrap();
    assert_eq!(snapshot(&g[1]), before, "an evicted state was recreated");
    assert_eq!(g[1].decrypt(&outs[0].message), Err(GroupError::UnknownSenderState));
    // A held state's distribution again: its read index stays read.
    let last = outs.last().unwrap();
    g[1].receive_distribution(b"alice", &last.distributions[0].bytes).unwrap();
    assert_eq!(g[1].decrypt(&last.message), Err(GroupError::Duplicate));
}

#[test]
fn a_distribution_without_keys_is_refused() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let out = g[0].encrypt_with_rng(&mut rng(15), b"x", 0).unwrap();
    let mut empty = out.distributions[0].bytes.to_vec();
    // Drop the one node and set the count to zero.
    let len = empty.len();
    empty.truncate(len - 37);
    let n = empty.len();
    empty[n - 2..].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(
        g[1].receive_distribution(b"alice", &empty),
        Err(GroupError::Decode(dmseal::DecodeError::InvalidKeyTree))
    );
}

#[test]
fn a_member_forwarding_anothers_distribution_cannot_claim_its_state() {
    // Mallory forwards Alice's distribution to Dave before Alice's own copy
    // arrives: Dave refuses it (the state's key signed Alice as its owner),
    // then accepts Alice's copy, and Alice's messages are credited to her.
    let names = ["alice", "dave", "mallory"];
    let mut g = groups(&names);
    let mut r = rng(16);
    let out = g[0].encrypt_with_rng(&mut r, b"for dave", 0).unwrap();
    let to_dave = out.distributions.iter().find(|d| d.to == b"dave").unwrap();
    assert_eq!(g[1].receive_distribution(b"mallory", &to_dave.bytes), Err(GroupError::StateOwnedByAnotherMember));
    g[1].receive_distribution(b"alice", &to_dave.bytes).unwrap();
    assert_eq!(g[1].decrypt(&out.message).unwrap().sender, b"alice");
}

#[test]
fn a_removed_and_re_added_member_cannot_bring_back_a_retired_state() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let mut r = rng(17);
    let outs = rotate_past_the_state_cap(&mut g, &names, &mut r);
    // Bob removes Alice, then adds her again.
    assert!(g[1].remove_member(b"alice"));
    g[1].add_member(b"alice").unwrap();
    // Round trip through a pickle: what removal kept is kept there too.
    g[1] = copy(&g[1]);
    let before = snapshot(&g[1]);
    // Neither a retired state's distribution nor a live one's comes back,
    // and the messages already read do not decrypt again.
    for out in [&outs[0], &outs[1], outs.last().unwrap()] {
        assert_eq!(g[1].receive_distribution(b"alice", &out.distributions[0].bytes), Err(GroupError::SenderRemoved));
        assert_eq!(g[1].decrypt(&out.message), Err(GroupError::SenderRemoved));
        assert_eq!(snapshot(&g[1]), before);
    }
    // Alice's next state (after her own rotation) is taken in as usual.
    let fresh = g[0].encrypt_with_rng(&mut r, b"back", 0).unwrap();
    deliver(&mut g, &names, "alice", &fresh);
    assert_eq!(g[1].decrypt(&fresh.message).unwrap().plaintext, b"back");
}

#[test]
fn a_message_just_past_the_window_fails_even_when_the_newest_was_read_first() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    g[0].set_rotation_policy(dmseal::RotationPolicy::new(20_000, dmseal::limits::DEFAULT_ROTATION_SECS)).unwrap();
    let mut r = rng(18);
    let first = g[0].encrypt_with_rng(&mut r, b"0", 0).unwrap();
    deliver(&mut g, &names, "alice", &first);
    let mut sent = vec![first.message];
    let newest = 3_000usize;
    for _ in 0..newest {
        sent.push(g[0].encrypt_with_rng(&mut r, b"n", 0).unwrap().message);
    }
    // Nothing inside the window was read before the newest message.
    assert_eq!(g[1].decrypt(&sent[newest]).unwrap().index, newest as u32);
    let oldest = newest - MAX_GROUP_WINDOW as usize;
    let before = snapshot(&g[1]);
    assert_eq!(
        g[1].decrypt(&sent[oldest - 1]),
        Err(GroupError::OutsideWindow { index: oldest as u32 - 1, oldest: oldest as u32 })
    );
    assert_eq!(g[1].decrypt(&sent[0]), Err(GroupError::OutsideWindow { index: 0, oldest: oldest as u32 }));
    assert_eq!(snapshot(&g[1]), before);
    assert_eq!(g[1].decrypt(&sent[oldest]).unwrap().index, oldest as u32);
    assert_eq!(g[1].decrypt(&sent[oldest]), Err(GroupError::Duplicate));
}

#[test]
fn a_distribution_naming_a_state_id_not_derived_from_its_signing_key_is_refused() {
    let names = ["alice", "bob", "carol"];
    let mut g = groups(&names);
    let mut r = rng(19);
    let from_carol = g[2].encrypt_with_rng(&mut r, b"carol", 0).unwrap();
    let out = g[0].encrypt_with_rng(&mut r, b"alice", 0).unwrap();
    let to_bob = out.distributions.iter().find(|d| d.to == b"bob").unwrap();
    // The state id sits after version, type, group id length and id.
    let id_at = 3 + GID.len();
    let before = snapshot(&g[1]);
    // Carol's id (public in her message, after version and type), and a
    // single flipped bit of Alice's own.
    let mut carols_id = to_bob.bytes.to_vec();
    carols_id[id_at..id_at + 16].copy_from_slice(&from_carol.message[2..18]);
    let mut flipped = to_bob.bytes.to_vec();
    flipped[id_at] ^= 1;
    for bad in [carols_id, flipped] {
        let refused = Err(GroupError::Decode(dmseal::DecodeError::InvalidStateId));
        assert_eq!(g[1].receive_distribution(b"alice", &bad), refused);
        assert_eq!(snapshot(&g[1]), before);
    }
    g[1].receive_distribution(b"alice", &to_bob.bytes).unwrap();
    assert_eq!(g[1].decrypt(&out.message).unwrap().plaintext, b"alice");
}

#[test]
fn a_copied_old_sender_state_cannot_post_after_the_owner_rotates() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let mut r = rng(40);
    // Alice sends indices 0..=4; Bob reads 0, 1 and 2 now, 3 and 4 late.
    let mut sent = Vec::new();
    for i in 0..5u8 {
        let out = g[0].encrypt_with_rng(&mut r, &[i], 0).unwrap();
        deliver(&mut g, &names, "alice", &out);
        sent.push(out.message);
    }
    for m in &sent[..3] {
        g[1].decrypt(m).unwrap();
    }
    // A thief copies Alice's state; Alice rotates (a removal, a policy, a
    // reset: any rotation) and her next distribution closes the old state
    // at index 4, the last one she used.
    let mut thief = copy(&g[0]);
    g[0].set_rotation_policy(dmseal::RotationPolicy::new(5, 100)).unwrap();
    let rotated = g[0].encrypt_with_rng(&mut r, b"new state", 0).unwrap();
    assert_eq!(rotated.distributions.len(), 1);
    deliver(&mut g, &names, "alice", &rotated);
    assert_eq!(g[1].decrypt(&rotated.message).unwrap().plaintext, b"new state");
    // The copy can still make messages at 5, 6, ... but none reads.
    for _ in 0..3 {
        let forged = thief.encrypt_with_rng(&mut r, b"posing as alice", 0).unwrap();
        let before = snapshot(&g[1]);
        let err = g[1].decrypt(&forged.message).unwrap_err();
        assert!(matches!(err, GroupError::StateClosed { last: 4, .. }), "{err:?}");
        assert_eq!(snapshot(&g[1]), before, "a refused message changes nothing");
    }
    // Late honest messages up to the last index still read, once.
    assert_eq!(g[1].decrypt(&sent[4]).unwrap().plaintext, [4]);
    assert_eq!(g[1].decrypt(&sent[3]).unwrap().plaintext, [3]);
    assert_eq!(g[1].decrypt(&sent[4]), Err(GroupError::Duplicate));
    // The closure survives a pickle round trip.
    let mut restored = copy(&g[1]);
    let forged = thief.encrypt_with_rng(&mut r, b"again", 0).unwrap();
    assert!(matches!(restored.decrypt(&forged.message), Err(GroupError::StateClosed { .. })));
}

#[test]
fn a_state_whose_successor_arrived_first_is_closed_on_arrival() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let mut r = rng(41);
    let first = g[0].encrypt_with_rng(&mut r, b"0", 0).unwrap();
    let second = g[0].encrypt_with_rng(&mut r, b"1", 0).unwrap();
    let mut thief = copy(&g[0]);
    g[0].set_rotation_policy(dmseal::RotationPolicy::new(2, 100)).unwrap();
    let rotated = g[0].encrypt_with_rng(&mut r, b"new", 0).unwrap();
    // The 1:1 channel reordered the distributions: the new state's first.
    deliver(&mut g, &names, "alice", &rotated);
    deliver(&mut g, &names, "alice", &first);
    assert_eq!(g[1].decrypt(&second.message).unwrap().plaintext, b"1");
    assert_eq!(g[1].decrypt(&first.message).unwrap().plaintext, b"0");
    let forged = thief.encrypt_with_rng(&mut r, b"late thief", 0).unwrap();
    assert_eq!(g[1].decrypt(&forged.message), Err(GroupError::StateClosed { index: 2, last: 1 }));
}

#[test]
fn a_verified_distribution_replaces_an_unverified_import() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let mut r = rng(42);
    let mut sent = Vec::new();
    let mut distribution = None;
    for i in 0..4u8 {
        let out = g[0].encrypt_with_rng(&mut r, &[i], 0).unwrap();
        if let Some(d) = out.distributions.first() {
            distribution = Some(d.bytes.clone());
        }
        deliver(&mut g, &names, "alice", &out);
        sent.push(out.message);
    }
    let distribution = distribution.unwrap();
    let genuine = g[1].export_sender_state(b"alice", 0).unwrap();
    // An exporter hands Bob's laptop the genuine state id, key and owner
    // signature, but wrong tree keys (they are not signed).
    let mut bad = genuine.to_vec();
    let last_key_byte = bad.len() - 2;
    bad[last_key_byte] ^= 0x55;
    let mut laptop = Group::new(GID, b"bob").unwrap();
    laptop.add_member(b"alice").unwrap();
    laptop.import_sender_state(b"alice", &bad).unwrap();
    assert_eq!(laptop.decrypt(&sent[0]), Err(GroupError::BadSignature), "the commitment does not match");
    // The genuine distribution over the 1:1 session replaces the keys.
    laptop.receive_distribution(b"alice", &distribution).unwrap();
    for (i, m) in sent.iter().enumerate() {
        let p = laptop.decrypt(m).unwrap();
        assert_eq!(p.plaintext, [i as u8]);
        assert!(p.verified);
    }
    // A genuine import that already read some messages: the distribution
    // makes the state verified but never brings back what was read.
    let mut tablet = Group::new(GID, b"bob").unwrap();
    tablet.add_member(b"alice").unwrap();
    tablet.import_sender_state(b"alice", &genuine).unwrap();
    assert!(!tablet.decrypt(&sent[1]).unwrap().verified);
    tablet.receive_distribution(b"alice", &distribution).unwrap();
    assert_eq!(tablet.decrypt(&sent[1]), Err(GroupError::Duplicate));
    assert!(tablet.decrypt(&sent[2]).unwrap().verified);
    assert!(tablet.decrypt(&sent[0]).unwrap().verified);
    // A second distribution changes nothing more.
    tablet.receive_distribution(b"alice", &distribution).unwrap();
    assert_eq!(tablet.decrypt(&sent[2]), Err(GroupError::Duplicate));
}

#[test]
fn a_batch_with_closed_duplicate_and_forged_messages_reads_as_one_by_one() {
    let names = ["alice", "bob"];
    let mut g = groups(&names);
    let mut r = rng(43);
    let mut sent = Vec::new();
    for i in 0..3u8 {
        let out = g[0].encrypt_with_rng(&mut r, &[i], 0).unwrap();
        deliver(&mut g, &names, "alice", &out);
        sent.push(out.message);
    }
    let mut thief = copy(&g[0]);
    g[0].set_rotation_policy(dmseal::RotationPolicy::new(3, 100)).unwrap();
    let rotated = g[0].encrypt_with_rng(&mut r, b"new", 0).unwrap();
    deliver(&mut g, &names, "alice", &rotated);
    let closed = thief.encrypt_with_rng(&mut r, b"thief", 0).unwrap().message;
    let mut forged = sent[2].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let batch: Vec<&[u8]> =
        vec![&sent[1], &closed, &forged, &sent[1], &rotated.message, &sent[0], &sent[2], b"\x01\x04junk"];
    let mut one_by_one = copy(&g[1]);
    let expected: Vec<_> = batch.iter().map(|m| one_by_one.decrypt(m)).collect();
    let got = g[1].decrypt_batch_with_rng(&mut r, &batch);
    assert_eq!(got, expected);
    assert!(matches!(got[1], Err(GroupError::StateClosed { index: 3, last: 2 })));
    assert_eq!(got[2], Err(GroupError::BadSignature));
    assert_eq!(got[3], Err(GroupError::Duplicate));
    assert_eq!(snapshot(&g[1]), snapshot(&one_by_one));
}

#[test]
fn explicit_rotation_distribution_and_expected_sender() {
    let names = ["alice", "bob", "carol"];
    let mut g = groups(&names);
    let mut r = rng(44);
    assert!(g[0].distribution(b"bob", 0).is_none(), "nothing before the first send");
    let first = g[0].encrypt_with_rng(&mut r, b"0", 0).unwrap();
    deliver(&mut g, &names, "alice", &first);
    // A distribution on demand, from the next index on: Carol's laptop
    // (a fresh group) takes it and reads the next message only.
    let again = g[0].distribution(b"carol", 0).unwrap();
    assert_eq!(again.to, b"carol");
    assert!(g[0].distribution(b"mallory", 0).is_none());
    let mut laptop = Group::new(GID, b"carol").unwrap();
    laptop.add_member(b"alice").unwrap();
    laptop.receive_distribution(b"alice", &again.bytes).unwrap();
    let second = g[0].encrypt_with_rng(&mut r, b"1", 0).unwrap();
    assert!(second.distributions.is_empty());
    assert_eq!(laptop.decrypt(&second.message).unwrap().plaintext, b"1");
    assert_eq!(laptop.decrypt(&first.message), Err(GroupError::BeforeStateStart { index: 0, start: 1 }));
    // The transport says who sent it: another member is refused, unchanged.
    let before = snapshot(&g[1]);
    assert_eq!(g[1].decrypt_from(b"carol", &second.message), Err(GroupError::UnexpectedSender));
    assert_eq!(snapshot(&g[1]), before);
    assert_eq!(g[1].decrypt_from(b"alice", &second.message).unwrap().plaintext, b"1");
    // An explicit rotation: the next send starts a new state for everyone
    // and closes the old one.
    g[0].rotate();
    assert!(g[0].needs_rotation(0));
    assert!(g[0].distribution(b"bob", 0).is_none(), "the next send rotates anyway");
    let rotated = g[0].encrypt_with_rng(&mut r, b"2", 0).unwrap();
    assert_eq!(rotated.distributions.len(), 2);
}
