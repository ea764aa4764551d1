//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
#![allow(dead_code, unreachable_pub)]

pub mod world;

use dmseal::{Account, PreKeyBundle, PreKeyMessage, Session};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const CONTEXT: &[u8] = b"alice:phone|bob:laptop";

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Bob with published one-time prekeys, and his bundle with the first one.
pub fn bob_with_bundle(rng: &mut ChaCha20Rng, with_otk: bool) -> (Account, PreKeyBundle) {
    let mut bob = Account::new_with_rng(rng);
    let otks = bob.generate_one_time_prekeys_with_rng(rng, 4).unwrap();
    let ids: Vec<u32> = otks.iter().map(|k| k.id()).collect();
    bob.mark_one_time_prekeys_published(&ids).unwrap();
    let bundle = bob.prekey_bundle(with_otk.then_some(ids[0]), None).unwrap();
    (bob, bundle)
}

/// Alice's session and first message, Bob's accepted session.
pub fn pair(seed: u64, with_otk: bool) -> (Account, Session, Account, Session) {
    let mut r = rng(seed);
    let (mut bob, bundle) = bob_with_bundle(&mut r, with_otk);
    let alice = Account::new_with_rng(&mut r);
    let (a, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"first").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let b = bob.accept(pending).unwrap();
    (alice, a, bob, b)
}

/// As `pair`, with one reply read so both sides send normal messages.
pub fn established(seed: u64) -> (Session, Session) {
    let (_, mut a, _, mut b) = pair(seed, true);
    let reply = b.encrypt(b"reply").unwrap();
    assert_eq!(a.decrypt(&reply).unwrap(), b"reply");
    (a, b)
}

pub fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[bit / 8] ^= 1 << (bit % 8);
    b
}
