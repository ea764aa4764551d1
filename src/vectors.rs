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
use crate::ratchet::kem::KemState;
use crate::session::Session;
use crate::{Account, PreKeyMessage, SafetyNumber, x3dh};

pub(crate) fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The messages sent and the deliveries made, in order.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) messages: Vec<Value>,
    pub(crate) deliveries: Vec<Value>,
}

impl Log {
    /// A sent message, with the sender's ratchet key, what the KEM ratchet
    /// drew for it (see [`encrypt_logged`]) and how many deliveries had
    /// happened when it was sent.
    pub(crate) fn sent(&mut self, from: &str, session: &Session, bytes: &[u8], plaintext: &[u8], kem_draws: Value) {
        let ratchet = session.ratchet.our_ratchet.as_ref().map(|k| h(k.secret_bytes().as_slice()));
        self.messages.push(json!({
            "from": from,
            "plaintext": h(plaintext),
            "bytes": h(bytes),
            "sender_ratchet_private": ratchet,
            "kem_draws": kem_draws,
            "sent_after_deliveries": self.deliveries.len(),
        }));
    }

    pub(crate) fn deliver(&mut self, to: &str, index: usize, plaintext: &[u8]) {
        self.deliveries.push(json!({ "to": to, "message": index, "plaintext": h(plaintext) }));
    }
}

/// What the KEM ratchet drew for a key pair it just made (in state
/// `SendingEk` with its first chunk sent): the ML-KEM seed `d`, `z`.
fn key_pair_draws(session: &Session) -> Value {
    match session.ratchet.kem.as_ref().map(|k| &k.state) {
        Some(KemState::SendingEk { seed, .. }) => json!({
            "seed_d": h(&seed[..32]),
            "seed_z": h(&seed[32..]),
        }),
        _ => Value::Null,
    }
}

/// Encrypts `plaintext` and says what the KEM ratchet drew from `rng` on
/// the way (docs/PROTOCOL.md §6.9.6): the seed of a key pair it made, or
/// the encapsulation randomness `m` with the epoch it encapsulated for
/// (and the resulting key, ciphertext, epoch key and tag); `null` when it
/// drew nothing.
pub(crate) fn encrypt_logged(session: &mut Session, rng: &mut ChaCha20Rng, plaintext: &[u8]) -> (Vec<u8>, Value) {
    let before = session.ratchet.kem.clone();
    let key_before = session.ratchet.our_ratchet.as_ref().map(|k| k.public());
    let mut peek = rng.clone();
    let bytes = session.encrypt_with_rng(rng, plaintext).unwrap();
    let stepped = session.ratchet.our_ratchet.as_ref().map(|k| k.public()) != key_before;
    let after = session.ratchet.kem.as_ref();
    let draws = match (before.as_ref().map(|k| &k.state), after.map(|k| &k.state)) {
        (Some(KemState::EkPending), Some(KemState::SendingEk { .. })) => key_pair_draws(session),
        (Some(KemState::EkReceived { ek }), Some(KemState::SendingCt { payload, key, .. })) => {
            let mut m = [0u8; 32];
            if stepped {
                rand_core::Rng::fill_bytes(&mut peek, &mut m);
            }
            rand_core::Rng::fill_bytes(&mut peek, &mut m);
            json!({
                "encapsulation_m": h(&m),
                "epoch": after.map(|k| k.mixed + 1),
                "encapsulation_key": h(ek.as_bytes()),
                "ciphertext": h(&payload[..crate::ML_KEM_768_CIPHERTEXT_LEN]),
                "epoch_key": h(key.as_slice()),
                "tag": h(&payload[crate::ML_KEM_768_CIPHERTEXT_LEN..][..32]),
            })
        }
        _ => Value::Null,
    };
    (bytes, draws)
}

/// Which setup a transcript uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// PQXDH with a one-time X25519 prekey and a one-time PQ prekey.
    PqxdhOneTime,
    /// PQXDH with no one-time X25519 prekey and the last-resort PQ prekey.
    PqxdhLastResort,
    /// Classic X3DH (Bob a peer without PQ support, Alice starting classic
    /// setups), with or without a one-time prekey.
    Classic { with_otk: bool },
}

fn transcript(seed: u8, mode: Mode) -> Value {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let context = b"user:alice/device:1|user:bob/device:7";
    // A classic transcript's Bob is a peer without PQ support: the same
    // keys from the same draws, but his signed prekey does not sign the
    // "publishes PQ prekeys" capability and his bundle has no PQ prekey.
    let mut bob = match mode {
        Mode::Classic { .. } => Account::new_classic_only_with_rng(&mut rng),
        _ => Account::new_with_rng(&mut rng),
    };
    let otks = bob.generate_one_time_prekeys_with_rng(&mut rng, 2).unwrap();
    let pq_otks = bob.generate_pq_one_time_prekeys_with_rng(&mut rng, 1).unwrap();
    let mut alice = Account::new_with_rng(&mut rng);
    let with_otk = matches!(mode, Mode::PqxdhOneTime | Mode::Classic { with_otk: true });
    let otk_id = with_otk.then(|| otks[0].id());
    let bundle = match mode {
        Mode::PqxdhOneTime => bob.prekey_bundle(otk_id, Some(pq_otks[0].id())).unwrap(),
        Mode::PqxdhLastResort => bob.prekey_bundle(otk_id, None).unwrap(),
        Mode::Classic { .. } => {
            alice.set_classic_x3dh(crate::ClassicX3dh::AcceptAndInitiate);
            bob.prekey_bundle(otk_id, None).unwrap()
        }
    };
    let pq_public = bundle.pq_prekey().cloned();
    let pq_pair = pq_public.as_ref().map(|p| match p.kind() {
        crate::PqPreKeyKind::OneTime => bob.prekeys.one_time_pq.keys[&p.id()].pair.clone(),
        crate::PqPreKeyKind::LastResort => bob.prekeys.last_resort_pq.current.pair.clone(),
    });

    // start_session draws the base key, then the first ratchet key, then
    // (PQXDH) the 32-byte ML-KEM encapsulation randomness m.
    let mut peek = rng.clone();
    let base = X25519KeyPair::generate(&mut peek);
    let first_ratchet = X25519KeyPair::generate(&mut peek);
    let mut m = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut peek, &mut m);
    let (mut a, m0) = alice.start_session_with_rng(&mut rng, &bundle, context, b"Hi Bob, it's Alice.").unwrap();
    assert_eq!(a.base_key, base.public());
    let m0_dec = PreKeyMessage::decode(&m0).unwrap();
    let spk = bob.prekeys.signed.current.clone();
    let otk = otk_id.map(|id| bob.prekeys.one_time.keys[&id].pair.clone());
    let kem = m0_dec
        .pq_fields()
        .zip(pq_pair.as_ref())
        .map(|(f, pair)| (f.ciphertext.clone(), pair.decapsulate(&f.ciphertext)));
    let transcript = x3dh::transcript_hash(
        m0_dec.prefix_bytes(),
        bob.identity(),
        &spk.pair.public(),
        otk.as_ref().map(|k| k.public()).as_ref(),
        pq_public.as_ref().map(|p| p.key()),
        context,
    );
    let (root, chain) = x3dh::initiator(
        &alice.identity,
        &base,
        bob.identity(),
        &spk.pair.public(),
        otk.as_ref().map(|k| k.public()).as_ref(),
        kem.as_ref().map(|(_, ss)| &**ss),
        &transcript,
    )
    .unwrap();

    let mut log = Log::default();
    log.sent("alice", &a, &m0, b"Hi Bob, it's Alice.", key_pair_draws(&a));
    let (m1, draws) = encrypt_logged(&mut a, &mut rng, b"Are you there?");
    log.sent("alice", &a, &m1, b"Are you there?", draws);

    // Bob reads the second prekey message first: it creates the session.
    let pending = bob.open_first_message(&PreKeyMessage::decode(&m1).unwrap(), context, 0).unwrap();
    log.deliver("bob", 1, pending.plaintext());
    let mut b = bob.accept(pending).unwrap();
    log.deliver("bob", 0, &b.decrypt(&m0).unwrap());

    // Bob replies three times; Alice reads them out of order.
    let texts: [&[u8]; 3] = [b"Yes!", b"Hello Alice.", b"How are you?"];
    let mut bob_msgs = Vec::new();
    for t in texts {
        let (m, draws) = encrypt_logged(&mut b, &mut rng, t);
        log.sent("bob", &b, &m, t, draws);
        bob_msgs.push(m);
    }
    for i in [2usize, 0, 1] {
        log.deliver("alice", 2 + i, &a.decrypt(&bob_msgs[i]).unwrap());
    }

    // Alice answers under a new ratchet key; Bob reads them reversed.
    let (a2, draws) = encrypt_logged(&mut a, &mut rng, b"Fine, thanks.");
    log.sent("alice", &a, &a2, b"Fine, thanks.", draws);
    let (a3, draws) = encrypt_logged(&mut a, &mut rng, b"And you?");
    log.sent("alice", &a, &a3, b"And you?", draws);
    log.deliver("bob", 6, &b.decrypt(&a3).unwrap());
    log.deliver("bob", 5, &b.decrypt(&a2).unwrap());

    // One more step each way.
    let (b3, draws) = encrypt_logged(&mut b, &mut rng, b"Good.");
    log.sent("bob", &b, &b3, b"Good.", draws);
    log.deliver("alice", 7, &a.decrypt(&b3).unwrap());
    let (a4, draws) = encrypt_logged(&mut a, &mut rng, b"Bye!");
    log.sent("alice", &a, &a4, b"Bye!", draws);
    log.deliver("bob", 8, &b.decrypt(&a4).unwrap());

    let bob_spk = bob.prekeys.signed.current.clone();
    json!({
        "description": "Session setup (PQXDH or classic X3DH) and a Double Ratchet conversation with \
                        out-of-order delivery. Private keys are X25519 scalars before clamping, Ed25519 seeds \
                        (RFC 8032) and ML-KEM-768 seeds d and z (FIPS 203). With PQXDH both accounts run the \
                        KEM ratchet (docs/PROTOCOL.md §6.9): kem_draws gives what each send drew for it. All \
                        bytes are lowercase hex. See docs/PROTOCOL.md §11.",
        "setup_mode": if kem.is_some() { "pqxdh" } else { "x3dh" },
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
                "capabilities": bob_spk.capabilities,
            },
            "one_time_prekey": otk.as_ref().map(|k| json!({
                "id": otk_id,
                "private": h(k.secret_bytes().as_slice()),
                "public": h(k.public().as_bytes()),
            })),
            "pq_prekey": pq_public.as_ref().zip(pq_pair.as_ref()).map(|(p, pair)| json!({
                "kind": p.kind().to_byte(),
                "id": p.id(),
                "seed_d": h(&pair.seed()[..32]),
                "seed_z": h(&pair.seed()[32..]),
                "public": h(p.key().as_bytes()),
                "signature": h(p.signature()),
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
            "kem_encapsulation_m": kem.as_ref().map(|_| h(&m)),
            "kem_ciphertext": kem.as_ref().map(|(ct, _)| h(ct.as_slice())),
            "kem_shared_secret": kem.as_ref().map(|(_, ss)| h(ss.as_slice())),
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

pub(crate) fn check(name: &str, value: Value) {
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
fn vector_pqxdh_with_one_time_prekeys() {
    check("pqxdh_with_one_time_prekeys.json", transcript(3, Mode::PqxdhOneTime));
}

#[test]
fn vector_pqxdh_with_last_resort_prekey() {
    check("pqxdh_with_last_resort_prekey.json", transcript(4, Mode::PqxdhLastResort));
}

#[test]
fn vector_x3dh_with_one_time_prekey() {
    check("x3dh_with_one_time_prekey.json", transcript(1, Mode::Classic { with_otk: true }));
}

#[test]
fn vector_x3dh_without_one_time_prekey() {
    check("x3dh_without_one_time_prekey.json", transcript(2, Mode::Classic { with_otk: false }));
}

/// A group transcript: Alice's sender state from its root, a distribution,
/// messages and the order Bob read them in.
fn group_transcript(seed: u8) -> Value {
    use crate::{Group, GroupError};
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let group_id = b"group:vectors";
    let mut alice = Group::new(group_id, b"alice").unwrap();
    alice.add_member(b"bob").unwrap();
    let mut bob = Group::new(group_id, b"bob").unwrap();
    bob.add_member(b"alice").unwrap();
    let first = alice.encrypt_with_rng(&mut rng, b"message 0", 1_800_000_000).unwrap();
    // The state was created by that call; read its root from a pickle-free
    // rebuild: the distribution carries the single root node.
    let distribution = first.distributions[0].bytes.clone();
    bob.receive_distribution(b"alice", &distribution).unwrap();
    let outbound = alice.outbound.as_ref().unwrap();
    let state_id = outbound.state_id;
    let signing_seed = outbound.signing.secret_bytes();
    let signing_public = outbound.signing.public();
    let root = crate::group::distribution_root_key(&distribution);
    let commitment = |i: u32| h(&crate::group::commitment_from_root(&root, group_id, &state_id, i));
    let mut messages = vec![json!({
        "index": 0, "plaintext": h(b"message 0"), "commitment": commitment(0), "bytes": h(&first.message)
    })];
    for i in 1..6u32 {
        let text = format!("message {i}");
        let out = alice.encrypt_with_rng(&mut rng, text.as_bytes(), 1_800_000_000).unwrap();
        messages.push(json!({
            "index": i, "plaintext": h(text.as_bytes()), "commitment": commitment(i), "bytes": h(&out.message)
        }));
    }
    // A copy of Alice's state as it is now (a thief's), and her rotation
    // to a new state whose distribution closes this one at index 5.
    let mut copy = Group::from_pickle(&alice.pickle()).unwrap();
    alice.set_rotation_policy(crate::RotationPolicy::new(6, crate::limits::DEFAULT_ROTATION_SECS)).unwrap();
    let rotated = alice.encrypt_with_rng(&mut rng, b"message on the new state", 1_800_000_000).unwrap();
    let new_state = alice.outbound.as_ref().unwrap();
    let (new_state_id, new_public, new_seed) =
        (new_state.state_id, new_state.signing.public(), *new_state.signing.secret_bytes());
    let after_close = copy.encrypt_with_rng(&mut rng, b"posted with a copy", 1_800_000_000).unwrap();
    let order = [5usize, 0, 3, 1, 2, 4];
    let mut reads = Vec::new();
    for i in order {
        let bytes = hex::decode(messages[i]["bytes"].as_str().unwrap()).unwrap();
        let p = bob.decrypt(&bytes).unwrap();
        reads.push(json!({ "message": i, "plaintext": h(&p.plaintext) }));
    }
    let export = bob.export_sender_state(b"alice", 3);
    let export = export.as_deref().map(Vec::as_slice);
    bob.receive_distribution(b"alice", &rotated.distributions[0].bytes).unwrap();
    assert_eq!(bob.decrypt(&rotated.message).unwrap().plaintext, b"message on the new state");
    assert_eq!(bob.decrypt(&after_close.message).err(), Some(GroupError::StateClosed { index: 6, last: 5 }));
    json!({
        "description": "Group sender keys: a distribution (at index 0, so the one root node), six messages, \
                        the order another member read them in, and an export of the remaining history from \
                        index 3 (taken after those reads, so it holds no key at all for read indices). The state \
                        id is the first 16 bytes of SHA-256(\"dmseal:v1:hash:group-state-id\" || the signing \
                        public key); each message lists the key commitment its signature covers. Then Alice \
                        rotates: the new state's distribution closes the old one at index 5, and a message made \
                        at index 6 with a copy of the old state is refused (StateClosed). All bytes are \
                        lowercase hex. See docs/PROTOCOL.md §12.",
        "wire_version": crate::WIRE_VERSION,
        "group_id": h(group_id),
        "state_id": h(&state_id),
        "signing_key_seed": h(signing_seed.as_slice()),
        "signing_key_public": h(signing_public.as_bytes()),
        "distribution": h(distribution.as_slice()),
        "messages": messages,
        "reads": reads,
        "export_from_3_after_reads": export.map(h),
        "rotation": {
            "state_id": h(&new_state_id),
            "signing_key_seed": h(new_seed.as_slice()),
            "signing_key_public": h(new_public.as_bytes()),
            "distribution": h(&rotated.distributions[0].bytes),
            "message": h(&rotated.message),
            "plaintext": h(b"message on the new state"),
            "old_state_message_after_close": h(&after_close.message),
            "old_state_plaintext_after_close": h(b"posted with a copy"),
        },
    })
}

#[test]
fn vector_group_sender_keys() {
    check("group_sender_keys.json", group_transcript(5));
}
