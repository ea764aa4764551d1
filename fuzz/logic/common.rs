// Shared by the fuzz logic files: deterministic parties and sessions.
// Included (not a module of its own) so each logic file stays standalone.

use dmseal::{Account, PreKeyMessage, Session};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub(crate) const CONTEXT: &[u8] = b"fuzz:alice|fuzz:bob";

pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Bob's account, Alice's and Bob's acknowledged sessions (fixed seeds).
pub(crate) fn pair() -> (Account, Session, Session) {
    let mut r = rng(1);
    let mut bob = Account::new_with_rng(&mut r);
    let bundle = bob.prekey_bundle(None, None).expect("bundle");
    let alice = Account::new_with_rng(&mut r);
    let (mut a, first) = alice.start_session_with_rng(&mut r, &bundle, CONTEXT, b"first").expect("start");
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).expect("decode"), CONTEXT, 0).expect("open");
    let mut b = bob.accept(pending).expect("accept");
    a.decrypt(&b.encrypt_with_rng(&mut r, b"reply").expect("encrypt")).expect("decrypt");
    (bob, a, b)
}
