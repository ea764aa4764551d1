//! Primitive timings, measured in this run with the same crates and
//! versions dmseal uses, and the "floors" composed from them: the
//! primitive work an operation of dmseal's protocol cannot avoid.
//!
//! Each primitive is measured at the input sizes the protocol actually
//! feeds it (read off real messages by the caller), and only once per run:
//! [`Primitives`] caches by name.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use ml_kem::kem::{Decapsulate, Encapsulate, KeyExport};
use ml_kem::{DecapsulationKey768, EncapsulationKey768};
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

use crate::harness::Harness;

/// One measured primitive: what it is and its median time.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub us: f64,
}

/// A floor: primitive components with counts.
#[derive(Debug, Clone, Default)]
pub struct Floor {
    parts: Vec<(u32, Component)>,
}

impl Floor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `count` times `component`.
    pub fn add(mut self, count: u32, component: Component) -> Self {
        if count > 0 {
            self.parts.push((count, component));
        }
        self
    }

    /// Total time, in microseconds.
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|(n, c)| f64::from(*n) * c.us).sum()
    }

    /// "2 × X25519 DH (40.1 µs) + ..." with each component's unit time.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, (n, c)) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push_str(" + ");
            }
            let _ = write!(out, "{n} × {} ({} µs)", c.name, crate::fmt_us(c.us));
        }
        let _ = write!(out, " = **{} µs**", crate::fmt_us(self.total()));
        out
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Primitive timings, measured on first use and cached.
pub struct Primitives {
    harness: Harness,
    cache: BTreeMap<String, f64>,
}

impl Primitives {
    pub fn new(harness: Harness) -> Self {
        Self { harness, cache: BTreeMap::new() }
    }

    fn get(&mut self, name: String, measure: impl FnOnce(&Harness) -> f64) -> Component {
        let harness = self.harness;
        let us = *self.cache.entry(name.clone()).or_insert_with(|| {
            eprintln!("  floor: {name}");
            measure(&harness)
        });
        Component { name, us }
    }

    /// X25519 Diffie-Hellman with a static secret.
    pub fn x25519_dh(&mut self) -> Component {
        self.get("X25519 DH".into(), |h| {
            let secret = x25519_dalek::StaticSecret::from([7u8; 32]);
            let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([9u8; 32]));
            h.iter(|| secret.diffie_hellman(std::hint::black_box(&public)))
        })
    }

    /// X25519 key generation from 32 given bytes (no RNG cost).
    pub fn x25519_keygen(&mut self) -> Component {
        self.get("X25519 keygen".into(), |h| {
            h.iter(|| x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(std::hint::black_box([3u8; 32]))))
        })
    }

    /// Ed25519 verification as dmseal checks: ed25519-zebra, key parsed
    /// from its 32 bytes every time, over a `len`-byte message.
    pub fn ed25519_verify(&mut self, len: usize) -> Component {
        self.get(format!("Ed25519 verify ({len} B msg)"), |h| {
            let sk = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
            let msg = vec![0x11u8; len];
            let sig = ed25519_dalek::Signer::sign(&sk, &msg).to_bytes();
            let vk = sk.verifying_key().to_bytes();
            h.iter(|| {
                let vk = ed25519_zebra::VerificationKey::try_from(std::hint::black_box(vk)).unwrap();
                vk.verify(&ed25519_zebra::Signature::from_bytes(&sig), &msg).unwrap()
            })
        })
    }

    /// Ed25519 signing with ed25519-dalek over a `len`-byte message.
    pub fn ed25519_sign(&mut self, len: usize) -> Component {
        self.get(format!("Ed25519 sign ({len} B msg)"), |h| {
            let sk = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
            let msg = vec![0x11u8; len];
            h.iter(|| ed25519_dalek::Signer::sign(&sk, std::hint::black_box(&msg)))
        })
    }

    /// HKDF-SHA256 (extract with a 32-byte salt, then expand) to 64 bytes.
    pub fn hkdf64(&mut self, ikm_len: usize, info_len: usize) -> Component {
        self.get(format!("HKDF-SHA256 → 64 B (ikm {ikm_len} B)"), |h| {
            let ikm = vec![0x22u8; ikm_len];
            let info = vec![0x33u8; info_len];
            h.iter(|| {
                let mut out = [0u8; 64];
                Hkdf::<Sha256>::new(Some(&[0u8; 32]), std::hint::black_box(&ikm)).expand(&info, &mut out).unwrap();
                out
            })
        })
    }

    /// HKDF-Expand from a 32-byte PRK to 44 bytes (key and nonce).
    pub fn hkdf_expand<const N: usize>(&mut self, info_len: usize) -> Component {
        self.get(format!("HKDF-Expand → {N} B (info {info_len} B)"), |h| {
            let info = vec![0x33u8; info_len];
            h.iter(|| {
                let mut out = [0u8; N];
                Hkdf::<Sha256>::from_prk(std::hint::black_box(&[1u8; 32])).unwrap().expand(&info, &mut out).unwrap();
                out
            })
        })
    }

    /// One chain step: two HMAC-SHA256 under one key (the key schedule
    /// shared), as dmseal's chain keys and group tree nodes derive.
    pub fn chain_step(&mut self) -> Component {
        self.get("chain step (2 HMAC-SHA256)".into(), |h| {
            let key = [1u8; 32];
            h.iter(|| {
                let mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(std::hint::black_box(&key)).unwrap();
                let mut m1 = mac.clone();
                m1.update(b"dmseal:v1:chain:message");
                let mut m2 = mac;
                m2.update(b"dmseal:v1:chain:next");
                (m1.finalize(), m2.finalize())
            })
        })
    }

    /// SHA-256 over `len` bytes.
    pub fn sha256(&mut self, len: usize) -> Component {
        self.get(format!("SHA-256 ({len} B)"), |h| {
            let data = vec![0x44u8; len];
            h.iter(|| Sha256::digest(std::hint::black_box(&data)))
        })
    }

    /// dmseal's message cipher (docs/PROTOCOL.md §6.1) sealing `len` bytes
    /// with `aad` bytes of associated data: HMAC-SHA256 over the length of
    /// the associated data, the associated data and the plaintext, then
    /// ChaCha20 under the first 12 bytes of it, key setups included.
    pub fn siv_seal(&mut self, len: usize, aad: usize) -> Component {
        self.get(format!("SIV seal (HMAC-SHA256 + ChaCha20) {} (AAD {aad} B)", size(len)), |h| {
            let pt = vec![0x55u8; len];
            let aad = vec![0x66u8; aad];
            h.iter(|| {
                let iv = siv(std::hint::black_box(&[2u8; 32]), &aad, &pt);
                let mut out = pt.clone();
                chacha(std::hint::black_box(&[1u8; 32]), &iv, &mut out);
                out.extend_from_slice(&iv);
                out
            })
        })
    }

    /// The same cipher opening: ChaCha20, then the HMAC check.
    pub fn siv_open(&mut self, len: usize, aad: usize) -> Component {
        self.get(format!("SIV open (ChaCha20 + HMAC-SHA256) {} (AAD {aad} B)", size(len)), |h| {
            let aad = vec![0x66u8; aad];
            let pt = vec![0x55u8; len];
            let iv = siv(&[2u8; 32], &aad, &pt);
            let mut ct = pt.clone();
            chacha(&[1u8; 32], &iv, &mut ct);
            h.iter(|| {
                let mut out = ct.clone();
                chacha(std::hint::black_box(&[1u8; 32]), &iv, &mut out);
                assert_eq!(siv(std::hint::black_box(&[2u8; 32]), &aad, &out), iv);
                out
            })
        })
    }

    /// ChaCha20-Poly1305 seal of `len` bytes with `aad` bytes of associated
    /// data, including the key setup (what dmseal's messages used before
    /// the SIV cipher; pickles still use it).
    pub fn seal(&mut self, len: usize, aad: usize) -> Component {
        self.get(format!("ChaCha20-Poly1305 seal {} (AAD {aad} B)", size(len)), |h| {
            let pt = vec![0x55u8; len];
            let aad = vec![0x66u8; aad];
            h.iter(|| {
                let cipher = ChaCha20Poly1305::new(&std::hint::black_box([1u8; 32]).into());
                cipher.encrypt(&[0u8; 12].into(), Payload { msg: &pt, aad: &aad }).unwrap()
            })
        })
    }

    /// ML-KEM-768 encapsulation to a key received as bytes: the FIPS 203
    /// input check (parsing the key) and the encapsulation.
    pub fn ml_kem_encapsulate(&mut self) -> Component {
        self.get("ML-KEM-768 encapsulate (from key bytes)".into(), |h| {
            let dk = DecapsulationKey768::from_seed([4u8; 64].into());
            let ek_bytes = dk.encapsulation_key().to_bytes();
            let mut rng = rand_chacha::ChaCha20Rng::from_seed([6u8; 32]);
            h.iter(|| {
                let ek = EncapsulationKey768::new(std::hint::black_box(&ek_bytes)).unwrap();
                ek.encapsulate_with_rng(&mut rng)
            })
        })
    }

    /// ML-KEM-768 decapsulation with an already expanded key.
    pub fn ml_kem_decapsulate(&mut self) -> Component {
        self.get("ML-KEM-768 decapsulate (expanded key)".into(), |h| {
            let dk = DecapsulationKey768::from_seed([4u8; 64].into());
            let mut rng = rand_chacha::ChaCha20Rng::from_seed([6u8; 32]);
            let (ct, _) = dk.encapsulation_key().encapsulate_with_rng(&mut rng);
            h.iter(|| dk.decapsulate(std::hint::black_box(&ct)))
        })
    }
}

/// "64 B", "1 KiB", "16 KiB".
pub fn size(len: usize) -> String {
    if len >= 1024 && len.is_multiple_of(1024) { format!("{} KiB", len / 1024) } else { format!("{len} B") }
}

/// The synthetic IV of dmseal's message cipher.
fn siv(key: &[u8; 32], aad: &[u8], pt: &[u8]) -> [u8; 16] {
    let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(key).unwrap();
    mac.update(&(aad.len() as u64).to_be_bytes());
    mac.update(aad);
    mac.update(pt);
    let full = mac.finalize().into_bytes();
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&full[..16]);
    iv
}

/// ChaCha20 from block 0 under the IV's first 12 bytes.
fn chacha(key: &[u8; 32], iv: &[u8; 16], buf: &mut [u8]) {
    let nonce: [u8; 12] = iv[..12].try_into().unwrap();
    ChaCha20::new(&(*key).into(), &nonce.into()).apply_keystream(buf);
}
