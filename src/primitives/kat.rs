//! Known-answer tests from the RFCs, run through our wrappers wherever
//! they touch the primitive. The vectors are data files under
//! `tests/vectors/rfc/`, each naming its source.

use serde_json::Value;

use super::aead::AeadKey;
use super::dh::{X25519KeyPair, X25519PublicKey};
use super::kdf::{hkdf_sha256, hmac_sha256};
use super::signature::Ed25519KeyPair;
use crate::error::KeyError;

fn cases(json: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(json).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    bytes(v).try_into().unwrap()
}

#[test]
fn rfc7748_x25519() {
    let all = cases(include_str!("../../tests/vectors/rfc/rfc7748_x25519.json"));
    // §5.2 vector 1: through the wrapper (its u is canonical).
    let v = &all[0];
    let ours = X25519KeyPair::from_secret_bytes(arr(&v["scalar"]));
    let theirs = X25519PublicKey::from_bytes(arr(&v["u"])).unwrap();
    assert_eq!(ours.diffie_hellman(&theirs).unwrap().as_bytes(), &arr::<32>(&v["output"]));
    // §5.2 vector 2 sets bit 255 of u on purpose: the raw primitive masks
    // it, our wrapper refuses the key.
    let v = &all[1];
    assert_eq!(x25519_dalek::x25519(arr(&v["scalar"]), arr(&v["u"])), arr::<32>(&v["output"]));
    assert_eq!(X25519PublicKey::from_bytes(arr(&v["u"])), Err(KeyError::NonCanonical));
    // §5.2 iterations, raw primitive.
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    let mut done = 0;
    for v in &all[2..4] {
        let target = v["iterations"].as_u64().unwrap();
        while done < target {
            let next = x25519_dalek::x25519(k, u);
            u = k;
            k = next;
            done += 1;
        }
        assert_eq!(k, arr::<32>(&v["output"]), "{}", v["name"]);
    }
    // §6.1: both key pairs and the shared secret through the wrapper.
    let v = &all[4];
    let alice = X25519KeyPair::from_secret_bytes(arr(&v["alice_private"]));
    let bob = X25519KeyPair::from_secret_bytes(arr(&v["bob_private"]));
    assert_eq!(alice.public().as_bytes(), &arr::<32>(&v["alice_public"]));
    assert_eq!(bob.public().as_bytes(), &arr::<32>(&v["bob_public"]));
    assert_eq!(alice.diffie_hellman(&bob.public()).unwrap().as_bytes(), &arr::<32>(&v["shared"]));
    assert_eq!(bob.diffie_hellman(&alice.public()).unwrap().as_bytes(), &arr::<32>(&v["shared"]));
}

#[test]
fn rfc8032_ed25519() {
    for v in cases(include_str!("../../tests/vectors/rfc/rfc8032_ed25519.json")) {
        let pair = Ed25519KeyPair::from_secret_bytes(&arr(&v["secret_key"]));
        assert_eq!(pair.public().as_bytes(), &arr::<32>(&v["public_key"]), "{}", v["name"]);
        let message = bytes(&v["message"]);
        let signature: [u8; 64] = arr(&v["signature"]);
        assert_eq!(pair.sign(&message), signature, "{}", v["name"]);
        assert!(pair.public().verify(&message, &signature).is_ok(), "{}", v["name"]);
    }
}

#[test]
fn rfc8439_chacha20_poly1305() {
    for v in cases(include_str!("../../tests/vectors/rfc/rfc8439_chacha20poly1305.json")) {
        let key = AeadKey::from_parts(arr(&v["key"]), arr(&v["nonce"]));
        let aad = bytes(&v["aad"]);
        let mut expected = bytes(&v["ciphertext"]);
        expected.extend_from_slice(&bytes(&v["tag"]));
        let plaintext = bytes(&v["plaintext"]);
        assert_eq!(key.seal(&aad, &plaintext), expected, "{}", v["name"]);
        assert_eq!(key.open(&aad, &expected).unwrap(), plaintext, "{}", v["name"]);
        let mut forged = expected.clone();
        forged[0] ^= 1;
        assert!(key.open(&aad, &forged).is_err());
    }
}

#[test]
fn rfc5869_hkdf_sha256() {
    for v in cases(include_str!("../../tests/vectors/rfc/rfc5869_hkdf_sha256.json")) {
        let (ikm, salt, info) = (bytes(&v["ikm"]), bytes(&v["salt"]), bytes(&v["info"]));
        let okm = bytes(&v["okm"]);
        let got: Vec<u8> = match v["l"].as_u64().unwrap() {
            42 => hkdf_sha256::<42>(&salt, &ikm, &[&info]).to_vec(),
            82 => hkdf_sha256::<82>(&salt, &ikm, &[&info]).to_vec(),
            other => panic!("unexpected length {other}"),
        };
        assert_eq!(got, okm, "{}", v["name"]);
        // The info parts are concatenated: split anywhere, same output.
        if info.len() > 3 {
            let (x, y) = info.split_at(3);
            assert_eq!(hkdf_sha256::<42>(&salt, &ikm, &[x, y]).to_vec(), okm[..42].to_vec());
        }
    }
}

#[test]
fn rfc4231_hmac_sha256() {
    for v in cases(include_str!("../../tests/vectors/rfc/rfc4231_hmac_sha256.json")) {
        // Our wrapper takes 32-byte keys. HMAC pads shorter keys with zeros
        // to the block size, so a key padded to 32 bytes is the same key.
        let key = bytes(&v["key"]);
        assert!(key.len() <= 32);
        let mut padded = [0u8; 32];
        padded[..key.len()].copy_from_slice(&key);
        let mac = hmac_sha256(&padded, &bytes(&v["data"]));
        assert_eq!(mac.to_vec(), bytes(&v["hmac_sha256"]), "{}", v["name"]);
    }
}
