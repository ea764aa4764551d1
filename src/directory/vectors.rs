//! `tests/vectors/prekey_uploads.json` (docs/PROTOCOL.md §4.6, §4.7,
//! §11): identity uploads and a prekey batch from seeded accounts, with
//! their secrets so an independent implementation rebuilds every byte,
//! plus malformed and wrongly signed uploads.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Value, json};

use super::{IdentityUpload, PreKeyBatch};
use crate::Account;
use crate::prekeys::PqPreKey;
use crate::vectors::{check, h};

const AT: u64 = 1_800_000_000;

fn pq_secret(k: &PqPreKey) -> Value {
    json!({ "id": k.id, "seed_d": h(&k.pair.seed()[..32]), "seed_z": h(&k.pair.seed()[32..]) })
}

fn secrets(a: &Account) -> Value {
    let spk = &a.prekeys.signed.current;
    json!({
        "identity_ed25519_private": h(a.identity.signing().secret_bytes().as_slice()),
        "identity_x25519_private": h(a.identity.agreement().secret_bytes().as_slice()),
        "signed_prekey": { "id": spk.id, "private": h(spk.pair.secret_bytes().as_slice()), "capabilities": spk.capabilities },
        "last_resort_pq_prekey": a.publishes_pq_prekeys().then(|| pq_secret(&a.prekeys.last_resort_pq.current)),
        "one_time_prekeys": a.prekeys.one_time.keys.iter()
            .map(|(id, k)| json!({ "id": id, "private": h(k.pair.secret_bytes().as_slice()) }))
            .collect::<Vec<_>>(),
        "pq_one_time_prekeys": a.prekeys.one_time_pq.keys.values().map(pq_secret).collect::<Vec<_>>(),
    })
}

fn flipped(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if let Some(x) = b.get_mut(offset) {
        *x ^= 0x01;
    }
    b
}

fn uploads() -> Value {
    let mut rng = ChaCha20Rng::from_seed([11; 32]);
    let mut account = Account::new_with_rng(&mut rng);
    // Rotate once so ids are not all 1.
    account.rotate_signed_prekey_with_rng(&mut rng, AT - 100, 60).unwrap();
    account.rotate_last_resort_pq_prekey_with_rng(&mut rng, AT - 100, 60).unwrap();
    account.expire_prekeys(AT);
    let upload = account.identity_upload(AT).encode();
    let batch = account.publish_prekeys_with_rng(&mut rng, 2, 1).unwrap().encode();
    let classic = Account::new_classic_only_with_rng(&mut rng);
    let classic_upload = classic.identity_upload(AT + 1).encode();
    assert_eq!((upload.len(), classic_upload.len(), batch.len()), (1558, 304, 198 + 72 + 1254));

    let with = |bytes: &[u8], at: usize, value: &[u8]| {
        let mut b = bytes.to_vec();
        b.splice(at..at + value.len(), value.iter().copied());
        b
    };
    let swapped = {
        let mut b = batch.clone();
        b[132..168].copy_from_slice(&batch[168..204]);
        b[168..204].copy_from_slice(&batch[132..168]);
        b
    };
    let empty = Account::new_with_rng(&mut rng).publish_prekeys_with_rng(&mut rng, 0, 0).unwrap().encode();
    let malformed = [
        ("identity_upload", with(&upload, 2, &[0x05]), "UnknownFlags"),
        ("identity_upload", with(&upload, 240, &[0x01]), "UnexpectedPqPreKeyKind"),
        ("identity_upload", upload[..upload.len() - 1].to_vec(), "Truncated"),
        ("identity_upload", [upload.as_slice(), &[0]].concat(), "TrailingBytes"),
        ("prekey_batch", with(&empty, 130, &1001u16.to_be_bytes()), "TooLong"),
        ("prekey_batch", with(&empty, 132, &201u16.to_be_bytes()), "TooLong"),
        ("prekey_batch", swapped, "PreKeysOutOfOrder"),
        ("prekey_batch", with(&batch, 132 + 36, &batch[132..168]), "PreKeysOutOfOrder"),
        ("prekey_batch", with(&batch, 206, &[0x02]), "UnexpectedPqPreKeyKind"),
        ("prekey_batch", [batch.as_slice(), &[0]].concat(), "TrailingBytes"),
    ];
    let malformed: Vec<Value> = malformed
        .into_iter()
        .map(|(kind, bytes, error)| {
            let refused = match kind {
                "identity_upload" => IdentityUpload::decode(&bytes).err(),
                _ => PreKeyBatch::decode(&bytes).err(),
            };
            let debug = format!("{refused:?}");
            assert!(debug.starts_with(&format!("Some({error}")), "{kind} {error}: {debug}");
            json!({ "type": kind, "bytes": h(&bytes), "error": error })
        })
        .collect();
    let bad = [
        ("identity_upload", flipped(&upload, 175), "signed prekey"),
        ("identity_upload", flipped(&upload, 240 + 1190), "last-resort PQ prekey"),
        ("identity_upload", flipped(&upload, 131), "identity upload"),
        ("identity_upload", flipped(&upload, upload.len() - 1), "identity upload"),
        ("prekey_batch", flipped(&batch, 206 + 1190), "one-time PQ prekey"),
        ("prekey_batch", flipped(&batch, 136), "prekey batch"),
        ("prekey_batch", flipped(&batch, batch.len() - 1), "prekey batch"),
    ];
    let bad: Vec<Value> = bad
        .into_iter()
        .map(|(kind, bytes, what)| {
            let found = match kind {
                "identity_upload" => IdentityUpload::decode(&bytes).unwrap().verify(),
                _ => PreKeyBatch::decode(&bytes).unwrap().verify(),
            };
            assert!(matches!(found, Err(super::DirectoryError::BadSignature { what: w }) if w == what), "{what}");
            json!({ "type": kind, "bytes": h(&bytes), "what": what })
        })
        .collect();
    json!({
        "description": "Identity uploads (§4.6) and a prekey batch (§4.7), each with the secrets of the \
                        account that made it, so that every byte (keys, signatures, layout) can be rebuilt; \
                        then malformed encodings with the error of the first failing field, and encodings \
                        with one flipped bit whose decoding succeeds but whose named signature fails. \
                        All bytes are lowercase hex. See docs/PROTOCOL.md §11.",
        "account": secrets(&account),
        "identity_upload": { "uploaded_at": AT, "bytes": h(&upload) },
        "prekey_batch": { "bytes": h(&batch) },
        "classic_account": secrets(&classic),
        "classic_identity_upload": { "uploaded_at": AT + 1, "bytes": h(&classic_upload) },
        "malformed": malformed,
        "bad_signatures": bad,
    })
}

#[test]
fn vector_prekey_uploads() {
    check("prekey_uploads.json", uploads());
}
