//! HKDF-SHA256, HMAC-SHA256 and SHA-256, always under a label from
//! [`crate::labels`].

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// HKDF-SHA256 (RFC 5869): extract with `salt` over `ikm`, then expand
/// with `info` (the concatenation of `info` parts) into `out`.
///
/// `out` is at most 64 bytes everywhere in dmseal, far below HKDF's limit
/// of 255 * 32 bytes, so the expand step cannot fail.
pub(crate) fn hkdf_sha256<const N: usize>(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * 32) };
    #[cfg(test)]
    crate::work::count_kdf();
    let mut out = Zeroizing::new([0u8; N]);
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    // Cannot fail: N is checked against HKDF's limit at compile time.
    let _ = hk.expand_multi_info(info, out.as_mut());
    out
}

/// HKDF-SHA256 expand only, from a uniformly random 32-byte key.
pub(crate) fn hkdf_expand<const N: usize>(prk: &[u8; 32], info: &[u8]) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * 32) };
    #[cfg(test)]
    crate::work::count_kdf();
    let mut out = Zeroizing::new([0u8; N]);
    // A 32-byte PRK is exactly SHA-256's output length, so `from_prk`
    // accepts it, and N is within HKDF's limit: neither call can fail.
    if let Ok(hk) = Hkdf::<Sha256>::from_prk(prk) {
        let _ = hk.expand(info, out.as_mut());
    }
    out
}

/// Two HMAC-SHA256 outputs under one key, sharing its key schedule:
/// `(HMAC(key, a), HMAC(key, b))`. This is the chain-key step.
pub(crate) fn hmac_sha256_pair(key: &[u8; 32], a: &[u8], b: &[u8]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let keyed = keyed_hmac(key);
    (finish(keyed.clone(), a), finish(keyed, b))
}

/// One HMAC-SHA256 output: `HMAC(key, data)`.
pub(crate) fn hmac_sha256(key: &[u8; 32], data: &[u8]) -> Zeroizing<[u8; 32]> {
    finish(keyed_hmac(key), data)
}

/// HMAC-SHA256 keyed with `key`, ready for data (not counted as chain or
/// tree work: the message cipher's MAC uses it directly).
pub(crate) fn keyed_hmac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC takes keys of any length; a 32-byte key cannot be refused.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    }
}

#[allow(clippy::panic, reason = "HMAC accepts every key length; this is unreachable")]
fn unreachable_hmac() -> ! {
    panic!("HMAC-SHA256 refused a 32-byte key")
}

fn finish(mut mac: HmacSha256, data: &[u8]) -> Zeroizing<[u8; 32]> {
    #[cfg(test)]
    crate::work::count_hmac();
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// SHA-256 over the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-512 over the concatenation of `parts`.
pub(crate) fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}
