//! Deterministic test vectors for other implementations
//! (`tests/vectors/*.json`, described in docs/PROTOCOL.md §11).
//!
//! Each test rebuilds its transcript from a fixed seed and compares it
//! with the committed file byte for byte. To regenerate after an
//! intentional change to the wire format or a derivation, run
//! `DMSEAL_REGENERATE_VECTORS=1 cargo test --lib vectors` and say so in
//! the commit.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use crate::primitives::dh::X25519KeyPair;
use crate::session::Session;
use crate::{Account, PreKeyMessage, SafetyNumber, x3dh};

fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The messages sent and the deliveries made, in order.
#[derive(Default)]
struct Log {
    messages: Vec<Value>,
    deliveries: Vec<Value>,
}

impl Log {
    /// A sent message, with the sender's ratchet key and how many
    /// deliveries had happened when it was sent.
    fn sent(&mut self, from: &str, session: &Session, bytes: &[u8], plaintext: &[u8]) {
        let ratchet = session
            .ratchet
            .our_ratchet
            .as_ref()
            .map(|k| h(k.secret_bytes().as_slice()));
        self.messages.push(json!({
            "from": from,
            "plaintext": h(plaintext),
            "bytes": h(bytes),
            "sender_ratchet_private": ratchet,
            "sent_after_deliveries": self.deliveries.len(),
        }));
    }

    fn deliver(&mut self, to: &str, index: usize, plaintext: &[u8]) {
        self.deliveries
            .push(json!({ "to": to, "message": index, "plaintext": h(plaintext) }));
    }
}

fn transcript(seed: u8, with_otk: bool) -> Value {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let context = b"user:alice/device:1|user:bob/device:7";
    let mut bob = Account::new_with_rng(&mut rng);
    let otks = bob.generate_one_time_prekeys_with_rng(&mut rng, 2).unwrap();
    let bundle = bob.prekey_bundle(with_otk.then(|| otks[0].id())).unwrap();
    let alice = Account::new_with_rng(&mut rng);

    // start_session draws the base key, then the first ratchet key.
    let mut peek = rng.clone();
    let base = X25519KeyPair::generate(&mut peek);
    let first_ratchet = X25519KeyPair::generate(&mut peek);
    let (mut a, m0) = alice
        .start_session_with_rng(&mut rng, &bundle, context, b"Hi Bob, it's Alice.")
        .unwrap();
    assert_eq!(a.base_key, base.public());
    let m0_dec = PreKeyMessage::decode(&m0).unwrap();
    let spk = bob.signed_prekeys.current.clone();
    let otk = with_otk.then(|| bob.one_time_prekeys.keys[&otks[0].id()].pair.clone());
    let transcript = x3dh::transcript_hash(
        m0_dec.prefix_bytes(),
        bob.identity(),
        &spk.pair.public(),
        otk.as_ref().map(|k| k.public()).as_ref(),
        context,
    );
    let (root, chain) = x3dh::initiator(
        &alice.identity,
        &base,
        bob.identity(),
        &spk.pair.public(),
        otk.as_ref().map(|k| k.public()).as_ref(),
        &transcript,
    )
    .unwrap();

    let mut log = Log::default();
    log.sent("alice", &a, &m0, b"Hi Bob, it's Alice.");
    let m1 = a.encrypt_with_rng(&mut rng, b"Are you there?").unwrap();
    log.sent("alice", &a, &m1, b"Are you there?");

    // Bob reads the second prekey message first: it creates the session.
    let pending = bob
        .open_first_message(&PreKeyMessage::decode(&m1).unwrap(), context, 0)
        .unwrap();
    log.deliver("bob", 1, pending.plaintext());
    let mut b = bob.accept(pending).unwrap();
    log.deliver("bob", 0, &b.decrypt(&m0).unwrap());

    // Bob replies three times; Alice reads them out of order.
    let texts: [&[u8]; 3] = [b"Yes!", b"Hello Alice.", b"How are you?"];
    let mut bob_msgs = Vec::new();
    for t in texts {
        let m = b.encrypt_with_rng(&mut rng, t).unwrap();
        log.sent("bob", &b, &m, t);
        bob_msgs.push(m);
    }
    for i in [2usize, 0, 1] {
        log.deliver("alice", 2 + i, &a.decrypt(&bob_msgs[i]).unwrap());
    }

    // Alice answers under a new ratchet key; Bob reads them reversed.
    let a2 = a.encrypt_with_rng(&mut rng, b"Fine, thanks.").unwrap();
    log.sent("alice", &a, &a2, b"Fine, thanks.");
    let a3 = a.encrypt_with_rng(&mut rng, b"And you?").unwrap();
    log.sent("alice", &a, &a3, b"And you?");
    log.deliver("bob", 6, &b.decrypt(&a3).unwrap());
    log.deliver("bob", 5, &b.decrypt(&a2).unwrap());

    // One more step each way.
    let b3 = b.encrypt_with_rng(&mut rng, b"Good.").unwrap();
    log.sent("bob", &b, &b3, b"Good.");
    log.deliver("alice", 7, &a.decrypt(&b3).unwrap());
    let a4 = a.encrypt_with_rng(&mut rng, b"Bye!").unwrap();
    log.sent("alice", &a, &a4, b"Bye!");
    log.deliver("bob", 8, &b.decrypt(&a4).unwrap());

    let bob_spk = bob.signed_prekeys.current.clone();
    json!({
        "description": "X3DH session setup and a Double Ratchet conversation with out-of-order delivery. \
                        Private keys are X25519 scalars before clamping and Ed25519 seeds (RFC 8032). \
                        All bytes are lowercase hex. See docs/PROTOCOL.md §11.",
        "wire_version": crate::WIRE_VERSION,
        "seed": h(&[seed; 32]),
        "context": h(context),
        "bob": {
            "identity_ed25519_private": h(bob.identity.signing().secret_bytes().as_slice()),
            "identity_x25519_private": h(bob.identity.agreement().secret_bytes().as_slice()),
            "public_identity": h(&bob.identity().encode()),
            "signed_prekey": {
                "id": bob_spk.id,
                "private": h(bob_spk.pair.secret_bytes().as_slice()),
                "public": h(bob_spk.pair.public().as_bytes()),
                "signature": h(&bob_spk.signature),
            },
            "one_time_prekey": otk.as_ref().map(|k| json!({
                "id": otks[0].id(),
                "private": h(k.secret_bytes().as_slice()),
                "public": h(k.public().as_bytes()),
            })),
        },
        "alice": {
            "identity_ed25519_private": h(alice.identity.signing().secret_bytes().as_slice()),
            "identity_x25519_private": h(alice.identity.agreement().secret_bytes().as_slice()),
            "public_identity": h(&alice.identity().encode()),
        },
        "bundle": h(&bundle.encode()),
        "setup": {
            "base_key_private": h(base.secret_bytes().as_slice()),
            "base_key_public": h(base.public().as_bytes()),
            "first_ratchet_key_private": h(first_ratchet.secret_bytes().as_slice()),
            "transcript_hash": h(&transcript),
            "root_key": h(&root.0),
            "chain_key": h(&chain.key),
            "session_ad": h(&a.session_ad),
        },
        "messages": log.messages,
        "deliveries": log.deliveries,
        "safety_number": SafetyNumber::new(alice.identity(), bob.identity()).digits(),
    })
}

fn check(name: &str, value: Value) {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = serde_json::to_string_pretty(&value).unwrap();
    text.push('\n');
    if std::env::var_os("DMSEAL_REGENERATE_VECTORS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{path} is missing; run with DMSEAL_REGENERATE_VECTORS=1"));
    assert!(
        committed == text,
        "{name} differs from what this build produces: the wire format or a derivation changed. \
         If intended, regenerate with DMSEAL_REGENERATE_VECTORS=1 and update docs/PROTOCOL.md."
    );
}

#[test]
fn vector_x3dh_with_one_time_prekey() {
    check("x3dh_with_one_time_prekey.json", transcript(1, true));
}

#[test]
fn vector_x3dh_without_one_time_prekey() {
    check("x3dh_without_one_time_prekey.json", transcript(2, false));
}
