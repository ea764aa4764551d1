//! ChaCha20-Poly1305 (RFC 8439) with keys that are used once.

use chacha20poly1305::aead::AeadInOut;
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
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        self.seal_in_place(ad, &mut out, 0);
        out
    }

    /// Encrypts `buf[start..]` in place and appends the tag: the caller
    /// writes a header and the plaintext into one buffer, and no copy of
    /// the ciphertext is made.
    pub(crate) fn seal_in_place(&self, ad: &[u8], buf: &mut Vec<u8>, start: usize) {
        let cipher = ChaCha20Poly1305::new(&self.key.into());
        let body = buf.get_mut(start..).unwrap_or_default();
        // ChaCha20-Poly1305 only fails past 2^38 bytes of plaintext, which
        // no `&[u8]` handed to a messaging library reaches on 64-bit and
        // which cannot exist on 32-bit.
        if let Ok(tag) = cipher.encrypt_inout_detached(&self.nonce.into(), ad, body.into()) {
            buf.extend_from_slice(&tag);
        }
    }

    /// Decrypts and authenticates `ciphertext` (with its tag) under `ad`.
    /// The tag is checked before anything is decrypted.
    pub(crate) fn open(&self, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, AeadFailure> {
        #[cfg(test)]
        crate::work::count_aead();
        let split = ciphertext.len().checked_sub(TAG_LEN).ok_or(AeadFailure)?;
        let (body, tag) = ciphertext.split_at(split);
        let tag = <&[u8; TAG_LEN]>::try_from(tag).map_err(|_| AeadFailure)?;
        let mut out = body.to_vec();
        let cipher = ChaCha20Poly1305::new(&self.key.into());
        cipher
            .decrypt_inout_detached(&self.nonce.into(), ad, out.as_mut_slice().into(), &(*tag).into())
            .map_err(|_| AeadFailure)?;
        Ok(out)
    }
}

#[cfg(test)]
impl AeadKey {
    pub(crate) fn from_parts(key: [u8; 32], nonce: [u8; 12]) -> Self {
        Self { key, nonce }
    }
}

/// A ChaCha20-Poly1305 key used under many nonces that its owner never
/// repeats: an attachment's chunk key (docs/PROTOCOL.md §14), one nonce
/// per chunk. Zeroized on drop, no `Debug`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct StreamKey {
    key: [u8; 32],
}

impl StreamKey {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Encrypts `buf` in place under `nonce` (no associated data) and
    /// returns the tag.
    pub(crate) fn seal_in_place(&self, nonce: &[u8; 12], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let cipher = ChaCha20Poly1305::new(&self.key.into());
        // Only fails past 2^38 bytes; a chunk is at most 64 KiB.
        cipher.encrypt_inout_detached(&(*nonce).into(), &[], buf.into()).map(Into::into).unwrap_or([0; TAG_LEN])
    }

    /// Checks `tag` over `buf` under `nonce`, then decrypts `buf` in
    /// place. On failure `buf` is left as it was.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; 12],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadFailure> {
        #[cfg(test)]
        crate::work::count_aead();
        let cipher = ChaCha20Poly1305::new(&self.key.into());
        cipher.decrypt_inout_detached(&(*nonce).into(), &[], buf.into(), &(*tag).into()).map_err(|_| AeadFailure)
    }
}
