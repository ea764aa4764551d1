//! The message cipher: ChaCha20 (RFC 8439 §2.4) under a synthetic IV
//! computed with HMAC-SHA256 over the associated data and the plaintext
//! (the SIV construction of Rogaway and Shrimpton, "Deterministic
//! Authenticated-Encryption", EUROCRYPT 2006), docs/PROTOCOL.md §6.1.
//!
//! Why not ChaCha20-Poly1305 here: message keys are a pure function of the
//! chain position, so a device restored from an old backup encrypts new
//! plaintexts at positions it already used. ChaCha20-Poly1305 under a
//! repeated key and nonce leaks the XOR of the two plaintexts and its
//! one-time Poly1305 key (which forges). Under this construction the IV is
//! a PRF of the plaintext, so a repeated key reveals only whether two
//! plaintexts (with their associated data) were equal. It costs no bytes:
//! the 16-byte IV is the tag.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use hmac::Mac;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::aead::AeadFailure;
use super::kdf::keyed_hmac;

/// Length of the synthetic IV, which is also the authentication tag.
pub(crate) const SIV_LEN: usize = 16;
/// Bytes of key material a [`SivKey`] is made from: the ChaCha20 key,
/// then the HMAC key.
pub(crate) const SIV_KEY_MATERIAL_LEN: usize = 64;

/// A ChaCha20 key and an HMAC-SHA256 key for one message. Zeroized on
/// drop, no `Debug`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SivKey {
    cipher: [u8; 32],
    mac: [u8; 32],
}

impl SivKey {
    /// Splits 64 bytes of KDF output: the ChaCha20 key, then the HMAC key.
    pub(crate) fn from_okm(okm: &[u8; SIV_KEY_MATERIAL_LEN]) -> Self {
        // Filled in place: no copy of the keys is left behind.
        let mut key = Self { cipher: [0u8; 32], mac: [0u8; 32] };
        let (c, m) = okm.split_at(32);
        key.cipher.copy_from_slice(c);
        key.mac.copy_from_slice(m);
        key
    }

    /// `HMAC(mac key, u64(len(ad)) || ad || plaintext)`, first 16 bytes.
    fn siv(&self, ad: &[u8], plaintext: &[u8]) -> [u8; SIV_LEN] {
        let mut mac = keyed_hmac(&self.mac);
        mac.update(&u64::try_from(ad.len()).unwrap_or(u64::MAX).to_be_bytes());
        mac.update(ad);
        mac.update(plaintext);
        let full = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        let mut siv = [0u8; SIV_LEN];
        siv.iter_mut().zip(full.iter()).for_each(|(s, f)| *s = *f);
        siv
    }

    /// XORs `buf` with the ChaCha20 keystream of the IV's first 12 bytes,
    /// block counter from 0. Fails only past 256 GiB (2^32 blocks).
    fn apply_keystream(&self, siv: &[u8; SIV_LEN], buf: &mut [u8]) -> Result<(), AeadFailure> {
        let mut nonce = [0u8; 12];
        nonce.iter_mut().zip(siv.iter()).for_each(|(n, s)| *n = *s);
        // The key is passed by reference: no copy of it is made.
        let mut cipher = ChaCha20::new((&self.cipher).into(), &nonce.into());
        cipher.try_apply_keystream(buf).map_err(|_| AeadFailure)
    }

    /// Encrypts `buf[start..]` in place and appends the 16-byte IV: the
    /// caller writes a header and the plaintext into one buffer.
    pub(crate) fn seal_in_place(&self, ad: &[u8], buf: &mut Vec<u8>, start: usize) {
        let siv = self.siv(ad, buf.get(start..).unwrap_or_default());
        let body = buf.get_mut(start..).unwrap_or_default();
        // No message handed to a messaging library reaches 256 GiB; a body
        // that did would be left unencrypted, so it is cleared instead.
        if self.apply_keystream(&siv, body).is_err() {
            body.zeroize();
        }
        buf.extend_from_slice(&siv);
    }

    /// Encrypts `plaintext`; the output is the ciphertext followed by the IV.
    #[cfg(test)]
    pub(crate) fn seal(&self, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + SIV_LEN);
        out.extend_from_slice(plaintext);
        self.seal_in_place(ad, &mut out, 0);
        out
    }

    /// Decrypts `ciphertext` (with its IV) and checks the IV against the
    /// plaintext and `ad` in constant time. A failed check wipes the
    /// decrypted bytes before returning.
    pub(crate) fn open(&self, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, AeadFailure> {
        #[cfg(test)]
        crate::work::count_aead();
        let split = ciphertext.len().checked_sub(SIV_LEN).ok_or(AeadFailure)?;
        let (body, siv) = ciphertext.split_at(split);
        let siv = <[u8; SIV_LEN]>::try_from(siv).map_err(|_| AeadFailure)?;
        let mut out = Zeroizing::new(body.to_vec());
        self.apply_keystream(&siv, &mut out)?;
        if !bool::from(self.siv(ad, &out).ct_eq(&siv)) {
            return Err(AeadFailure);
        }
        Ok(core::mem::take(&mut *out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SivKey {
        let mut okm = [0u8; SIV_KEY_MATERIAL_LEN];
        okm.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        SivKey::from_okm(&okm)
    }

    #[test]
    fn round_trip_and_every_tampering_fails() {
        let k = key();
        let sealed = k.seal(b"ad", b"hello world");
        assert_eq!(sealed.len(), 11 + SIV_LEN);
        assert_eq!(k.open(b"ad", &sealed).unwrap(), b"hello world");
        assert!(k.open(b"ae", &sealed).is_err());
        assert!(k.open(b"ad", &sealed[..sealed.len() - 1]).is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(k.open(b"ad", &bad).is_err(), "byte {i}");
        }
        // Moving bytes between the associated data and the plaintext is a
        // different input (the length of ad is hashed first).
        let a = k.seal(b"adx", b"y");
        let b = k.seal(b"ad", b"xy");
        assert_ne!(a[1..], b[2..]);
        assert!(k.open(b"", &[0u8; SIV_LEN - 1]).is_err());
        assert_eq!(k.open(b"", &k.seal(b"", b"")).unwrap(), b"");
    }

    #[test]
    fn a_reused_key_reveals_only_equality() {
        let k = key();
        let one = k.seal(b"ad", b"attack at dawn!!");
        let two = k.seal(b"ad", b"attack at dusk!!");
        // Different plaintexts get different IVs, so different keystreams:
        // the XOR of the ciphertexts is not the XOR of the plaintexts.
        assert_ne!(one[16..], two[16..]);
        let xor_ct: Vec<u8> = one[..16].iter().zip(&two[..16]).map(|(a, b)| a ^ b).collect();
        let xor_pt: Vec<u8> = b"attack at dawn!!".iter().zip(b"attack at dusk!!").map(|(a, b)| a ^ b).collect();
        assert_ne!(xor_ct, xor_pt);
        // The same plaintext gives the same bytes (deterministic).
        assert_eq!(k.seal(b"ad", b"attack at dawn!!"), one);
    }
}
