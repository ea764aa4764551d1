//! `tests/vectors/kem_ratchet.json` (docs/PROTOCOL.md §6.9, §11): the
//! erasure code on a fixed payload, and a PQXDH session that runs the KEM
//! ratchet through three epochs with lost and reordered messages, with
//! every draw the KEM ratchet made and the epochs each side had mixed
//! after each delivery.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use super::erasure::{CHUNK_LEN, Decoder, chunk};
use super::kem::EK_CHUNKS;
use crate::session::Session;
use crate::vectors::{Log, check, encrypt_logged, h};
use crate::{Account, PreKeyMessage};

fn erasure_case() -> Value {
    let payload: Vec<u8> = (0..usize::from(EK_CHUNKS) * CHUNK_LEN).map(|i| ((i * 7 + 3) % 256) as u8).collect();
    let indices = [0u8, 1, 18, 19, 20, 100, 200, 254];
    let chunks: Vec<Value> = indices.iter().map(|&i| json!({ "index": i, "bytes": h(&chunk(&payload, i)) })).collect();
    // Rebuilt from the 19 highest indices, all parity.
    let mut d = Decoder::new(EK_CHUNKS);
    let mut rebuilt = None;
    for i in (236..=254u8).rev() {
        rebuilt = d.add(i, &chunk(&payload, i));
    }
    assert_eq!(rebuilt.as_deref(), Some(payload.as_slice()));
    json!({
        "k": EK_CHUNKS,
        "payload": h(&payload),
        "chunks": chunks,
        "rebuilt_from_indices": (236..=254u8).rev().collect::<Vec<_>>(),
    })
}

fn session_case() -> Value {
    let mut rng = ChaCha20Rng::from_seed([21; 32]);
    let context = b"user:alice/device:1|user:bob/device:7";
    let mut bob = Account::new_with_rng(&mut rng);
    let alice = Account::new_with_rng(&mut rng);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let mut log = Log::default();
    let mut a = alice.begin_session_with_rng(&mut rng, &bundle, context).unwrap();
    let initial = json!({
        "root_key": h(&a.ratchet.root_key.0),
        "chain_key": h(&a.ratchet.sending.as_ref().unwrap().key),
        "alice_first_ratchet_private": h(a.ratchet.our_ratchet.as_ref().unwrap().secret_bytes().as_slice()),
        "session_ad": h(&a.session_ad),
    });
    let (first, draws) = encrypt_logged(&mut a, &mut rng, b"message 0");
    log.sent("alice", &a, &first, b"message 0", draws);
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), context, 0).unwrap();
    log.deliver("bob", 0, pending.plaintext());
    let mut b = bob.accept(pending).unwrap();
    let mut mixed = vec![json!({ "delivery": 0, "alice": 0, "bob": 0 })];

    // Each round: Alice sends two, Bob one. Alice's every fifth message is
    // lost; Bob's arrive in pairs, the later one first.
    let mut held: Option<(usize, Vec<u8>, Vec<u8>)> = None;
    let mut round = 0;
    while a.kem_epochs() < 3 || b.kem_epochs() < 3 {
        assert!(round < 200, "three epochs not done");
        round += 1;
        for _ in 0..2 {
            let index = log.messages.len();
            let text = format!("message {index}").into_bytes();
            let (m, draws) = encrypt_logged(&mut a, &mut rng, &text);
            log.sent("alice", &a, &m, &text, draws);
            if index % 5 != 4 {
                log.deliver("bob", index, &b.decrypt(&m).unwrap());
                record(&mut mixed, &log, &a, &b);
            }
        }
        let index = log.messages.len();
        let text = format!("message {index}").into_bytes();
        let (m, draws) = encrypt_logged(&mut b, &mut rng, &text);
        log.sent("bob", &b, &m, &text, draws);
        match held.take() {
            None => held = Some((index, m, text)),
            Some((earlier, em, etext)) => {
                log.deliver("alice", index, &a.decrypt(&m).unwrap());
                record(&mut mixed, &log, &a, &b);
                assert_eq!(a.decrypt(&em).unwrap(), etext);
                log.deliver("alice", earlier, &etext);
                record(&mut mixed, &log, &a, &b);
            }
        }
    }
    json!({
        "initial": initial,
        "messages": log.messages,
        "deliveries": log.deliveries,
        "epochs_mixed": mixed,
    })
}

/// The epochs each side has mixed, when they changed.
fn record(mixed: &mut Vec<Value>, log: &Log, a: &Session, b: &Session) {
    let last = mixed.last().cloned().unwrap_or(Value::Null);
    if last["alice"] != json!(a.kem_epochs()) || last["bob"] != json!(b.kem_epochs()) {
        mixed.push(json!({
            "delivery": log.deliveries.len() - 1,
            "alice": a.kem_epochs(),
            "bob": b.kem_epochs(),
        }));
    }
}

#[test]
fn vector_kem_ratchet() {
    check(
        "kem_ratchet.json",
        json!({
            "description": "The KEM ratchet (docs/PROTOCOL.md §6.9). erasure: chunks of a 19-chunk payload and the \
                            indices it is rebuilt from. session: a PQXDH session (no one-time prekeys) in which \
                            both run the KEM ratchet, through three epochs; kem_draws gives what each send drew \
                            for it (a key pair's seed d, z; or the encapsulation randomness m, with the epoch's \
                            key, ciphertext, epoch key and tag); deliveries are listed in the order they happen, \
                            lost messages never delivered; epochs_mixed gives each side's mixed count after the delivery \
                            where it changed. Setup is checked by the PQXDH transcripts; this file starts from \
                            its output (initial: RK0, CK0, Alice's first ratchet key R_A0 and session_ad, \
                            docs/PROTOCOL.md §5.4 steps 7 and 8). Message 0 is a prekey message: its associated \
                            data includes its prefix (§6.4). Ratchet private keys, as in the other transcripts, \
                            are in sender_ratchet_private. All bytes are lowercase hex.",
            "wire_version": crate::WIRE_VERSION,
            "erasure": erasure_case(),
            "session": session_case(),
        }),
    );
}
