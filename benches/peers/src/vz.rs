//! vodozemac 0.11 scenarios (Olm 1:1 sessions, Megolm groups), mirroring
//! the dmseal ones in `dm`.
//!
//! vodozemac's API works on message structs; dmseal's works on bytes. So
//! that both sides do the same job (what an app sends and receives), the
//! vodozemac paths here include encoding to bytes (`OlmMessage::to_parts`,
//! `MegolmMessage::to_bytes`) and decoding from them (`from_parts`,
//! `from_bytes`).

use vodozemac::Curve25519PublicKey;
use vodozemac::megolm::{self, GroupSession, InboundGroupSession, MegolmMessage};
use vodozemac::olm::{Account, OlmMessage, Session, SessionConfig};

/// The Olm configuration vodozemac offers without experimental features:
/// version 1, AES-256-CBC with HMAC-SHA-256 truncated to 8 bytes.
fn olm_config() -> SessionConfig {
    SessionConfig::version_1()
}

/// Megolm version 1 (AES-256-CBC, truncated HMAC, Ed25519 signature).
fn megolm_config() -> megolm::SessionConfig {
    megolm::SessionConfig::version_1()
}

/// Encodes a message as it goes on the wire: type and bytes.
pub fn to_wire(message: &OlmMessage) -> (usize, Vec<u8>) {
    message.to_parts()
}

/// Decodes a message off the wire.
pub fn from_wire(wire: &(usize, Vec<u8>)) -> OlmMessage {
    OlmMessage::from_parts(wire.0, &wire.1).unwrap()
}

/// A fresh Bob with `n` published one-time keys.
pub fn responder_with_one_time_keys(n: usize) -> (Account, Vec<Curve25519PublicKey>) {
    let mut bob = Account::new();
    bob.generate_one_time_keys(n);
    let keys: Vec<Curve25519PublicKey> = bob.one_time_keys().into_values().collect();
    bob.mark_keys_as_published();
    assert_eq!(keys.len(), n);
    (bob, keys)
}

/// Olm session setup to first plaintext: Alice creates the outbound
/// session from Bob's identity key and a one-time key and encrypts
/// `plaintext`; Bob decodes the pre-key message and creates the inbound
/// session, which decrypts it.
pub fn set_up(
    alice: &Account,
    bob: &mut Account,
    one_time_key: Curve25519PublicKey,
    plaintext: &[u8],
) -> (Session, Session) {
    let mut alice_session = alice.create_outbound_session(olm_config(), bob.curve25519_key(), one_time_key).unwrap();
    let wire = to_wire(&alice_session.encrypt(plaintext).unwrap());
    let OlmMessage::PreKey(first) = from_wire(&wire) else { panic!("the first Olm message is not a pre-key message") };
    let inbound = bob.create_inbound_session(olm_config(), alice.curve25519_key(), &first).unwrap();
    assert_eq!(inbound.plaintext, plaintext);
    (alice_session, inbound.session)
}

/// Alice's first (pre-key) message carrying `plaintext`, encoded.
pub fn first_message(plaintext: &[u8]) -> Vec<u8> {
    let alice = Account::new();
    let (bob, keys) = responder_with_one_time_keys(1);
    let mut session = alice.create_outbound_session(olm_config(), bob.curve25519_key(), keys[0]).unwrap();
    let message = session.encrypt(plaintext).unwrap();
    assert!(matches!(message, OlmMessage::PreKey(_)));
    to_wire(&message).1
}

/// A session pair after a reply, with Alice's next sending chain open
/// (Olm ratchets when the direction changes): Alice's messages are normal
/// messages on an established chain.
pub fn established() -> (Session, Session) {
    let alice = Account::new();
    let (mut bob, keys) = responder_with_one_time_keys(1);
    let (mut a, mut b) = set_up(&alice, &mut bob, keys[0], b"hi");
    a.decrypt(&from_wire(&to_wire(&b.encrypt(b"reply").unwrap()))).unwrap();
    b.decrypt(&from_wire(&to_wire(&a.encrypt(b"warm").unwrap()))).unwrap();
    assert!(matches!(a.encrypt(b"check").unwrap(), OlmMessage::Normal(_)));
    (a, b)
}

/// The same traffic as `dm::after_traffic`.
pub fn after_traffic() -> (Session, Session) {
    let message = [0x5au8; 100];
    let alice = Account::new();
    let (mut bob, keys) = responder_with_one_time_keys(1);
    let (mut a, mut b) = set_up(&alice, &mut bob, keys[0], &message);
    a.decrypt(&b.encrypt(message).unwrap()).unwrap();
    for _ in 0..3 {
        b.decrypt(&a.encrypt(message).unwrap()).unwrap();
        a.decrypt(&b.encrypt(message).unwrap()).unwrap();
    }
    (a, b)
}

/// An outbound Megolm session and an inbound one that has read its first
/// message (index 0).
pub fn megolm_pair() -> (GroupSession, InboundGroupSession) {
    let mut outbound = GroupSession::new(megolm_config());
    let mut inbound = InboundGroupSession::new(&outbound.session_key(), megolm_config());
    let first = outbound.encrypt(b"warm up").to_bytes();
    let read = inbound.decrypt(&MegolmMessage::from_bytes(&first).unwrap()).unwrap();
    assert_eq!(read.plaintext, b"warm up");
    (outbound, inbound)
}

/// An independent copy of an inbound session, through its pickle
/// (`InboundGroupSession` is not `Clone`). The copy starts from the
/// session's first known index, as the original does after reading it.
pub fn copy(inbound: &InboundGroupSession) -> InboundGroupSession {
    InboundGroupSession::from_pickle(inbound.pickle())
}

/// Decodes and decrypts a Megolm message.
pub fn megolm_decrypt(inbound: &mut InboundGroupSession, bytes: &[u8]) -> Vec<u8> {
    inbound.decrypt(&MegolmMessage::from_bytes(bytes).unwrap()).unwrap().plaintext
}

/// `n` established Olm sessions of one Alice with one Bob, each with
/// Alice's sending chain open.
pub fn established_many(n: usize) -> Vec<Session> {
    let alice = Account::new();
    let (mut bob, keys) = responder_with_one_time_keys(n);
    keys.into_iter()
        .map(|key| {
            let (mut a, mut b) = set_up(&alice, &mut bob, key, b"hi");
            a.decrypt(&from_wire(&to_wire(&b.encrypt(b"reply").unwrap()))).unwrap();
            b.decrypt(&from_wire(&to_wire(&a.encrypt(b"warm").unwrap()))).unwrap();
            a
        })
        .collect()
}

/// A Megolm rotation as a Matrix client does it: a new outbound session,
/// and its session key sent over each Olm session. Returns the bytes sent.
pub fn megolm_rotate(olm: &mut [Session]) -> usize {
    let outbound = GroupSession::new(megolm_config());
    let key = outbound.session_key().to_bytes();
    olm.iter_mut().map(|s| to_wire(&s.encrypt(&key).unwrap()).1.len()).sum()
}
