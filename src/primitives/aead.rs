//! ChaCha20-Poly1305 (RFC 8439) with keys that are used once.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of the Poly1305 tag appended to every ciphertext.
pub(crate) const TAG_LEN: usize = 16;

/// An AEAD key and nonce. Every dmseal key is derived for exactly one
/// plaintext, so the pair never repeats. Zeroized on drop, no `Debug`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct AeadKey {
    key: [u8; 32],
    nonce: [u8; 12],
}

/// The AEAD refused a ciphertext: wrong key, wrong associated data, or
/// tampering. It cannot tell which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailure;

impl AeadKey {
    /// Splits 44 bytes of KDF output into a key and a nonce.
    pub(crate) fn from_okm(okm: &[u8; 44]) -> Self {
        let mut key = [0u8; 32];
        let mut nonce = [0u8; 12];
        let (k, n) = okm.split_at(32);
        key.copy_from_slice(k);
        nonce.copy_from_slice(n);
        Self { key, nonce }
    }

    /// Encrypts; the output is the ciphertext followed by the tag.
    pub(crate) fn seal(&self, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(&self.key.into());
        // ChaCha20-Poly1305 only fails past 2^38 bytes of plaintext, which
        // no `&[u8]` handed to a messaging library reaches on 64-bit and
        // which cannot exist on 32-bit.
        cipher.encrypt(&self.nonce.into(), Payload { msg: plaintext, aad: ad }).unwrap_or_default()
    }

    /// Decrypts and authenticates `ciphertext` (with its tag) under `ad`.
    pub(crate) fn open(&self, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, AeadFailure> {
        #[cfg(test)]
        crate::work::count_aead();
        let cipher = ChaCha20Poly1305::new(&self.key.into());
        cipher.decrypt(&self.nonce.into(), Payload { msg: ciphertext, aad: ad }).map_err(|_| AeadFailure)
    }
}

#[cfg(test)]
impl AeadKey {
    pub(crate) fn from_parts(key: [u8; 32], nonce: [u8; 12]) -> Self {
        Self { key, nonce }
    }
}
