//! Thin wrappers over the cryptographic primitives.
//!
//! Everything above this layer reaches X25519, Ed25519, HKDF, HMAC and
//! ChaCha20-Poly1305 only through these functions, so each rule (canonical
//! keys, contributory results, one signature rule, labelled derivations)
//! is enforced in exactly one place.

pub(crate) mod aead;
pub(crate) mod dh;
pub(crate) mod kdf;
pub(crate) mod rng;
pub(crate) mod signature;

#[cfg(test)]
mod kat;
