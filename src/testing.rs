//! Shared helpers for the crate's unit tests.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::{Account, PreKeyMessage, Session};

pub(crate) const CONTEXT: &[u8] = b"alice/1|bob/1";

pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Alice (initiator) and Bob (responder) right after Bob accepted.
pub(crate) fn established_unacknowledged(seed: u8) -> (Session, Session) {
    let mut rng = rng(seed);
    let mut bob = Account::new_with_rng(&mut rng);
    let otk = bob.generate_one_time_prekeys_with_rng(&mut rng, 1).unwrap()[0];
    let bundle = bob.prekey_bundle(Some(otk.id()), None).unwrap();
    let alice = Account::new_with_rng(&mut rng);
    let (a, first) = alice.start_session_with_rng(&mut rng, &bundle, CONTEXT, b"first").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    (a, bob.accept(pending).unwrap())
}

/// Alice (initiator) and Bob (responder) with an acknowledged session.
pub(crate) fn established(seed: u8) -> (Session, Session) {
    let mut rng = rng(seed.wrapping_add(100));
    let (mut a, mut b) = established_unacknowledged(seed);
    let reply = b.encrypt_with_rng(&mut rng, b"reply").unwrap();
    assert_eq!(a.decrypt(&reply).unwrap(), b"reply");
    (a, b)
}

/// Alice and Bob, accounts from before the KEM ratchet, with an
/// acknowledged session that runs without it.
pub(crate) fn established_without_kem_ratchet(seed: u8) -> (Session, Session) {
    let mut r = rng(seed);
    let mut bob = Account::new_without_kem_ratchet_with_rng(&mut r);
    let alice = Account::new_without_kem_ratchet_with_rng(&mut r);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (mut a, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"first").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let mut b = bob.accept(pending).unwrap();
    a.decrypt(&b.encrypt_with_rng(&mut r, b"reply").unwrap()).unwrap();
    (a, b)
}
