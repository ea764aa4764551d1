//! X25519 with canonical-key and contributory-result checks.

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::KeyError;

/// Canonical encodings of the X25519 points of small order (on the curve
/// and its twist). A DH with any of them gives an all-zero result; we
/// refuse them already when a key is decoded. Non-canonical encodings
/// (u >= p or bit 255 set) are refused by the canonical check first.
const LOW_ORDER: [[u8; 32]; 5] = [
    // u = 0
    [0; 32],
    // u = 1
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    // order 8
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09,
        0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
    ],
    // order 8
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44,
        0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57,
    ],
    // u = p - 1 (a twist point of order 4)
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
];

/// True when the 255-bit little-endian number (bit 255 clear) is at least
/// p = 2^255 - 19.
pub(crate) fn field_element_at_least_p(bytes: &[u8; 32]) -> bool {
    let [first, middle @ .., last] = bytes;
    (*last & 0x7f) == 0x7f && middle.iter().all(|b| *b == 0xff) && *first >= 0xed
}

/// An X25519 public key that has passed the canonical and low-order checks.
///
/// Every X25519 key dmseal reads from the wire (identity, signed prekey,
/// one-time prekey, base key, ratchet key) is one of these, so no DH ever
/// runs on an unchecked encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct X25519PublicKey([u8; 32]);

impl X25519PublicKey {
    /// Checks and wraps a 32-byte encoding.
    ///
    /// # Errors
    ///
    /// [`KeyError::NonCanonical`] when bit 255 is set or u >= p, and
    /// [`KeyError::LowOrder`] for a point of small order.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        if bytes[31] & 0x80 != 0 || field_element_at_least_p(&bytes) {
            return Err(KeyError::NonCanonical);
        }
        let mut low = subtle::Choice::from(0);
        for bad in &LOW_ORDER {
            low |= bytes.ct_eq(bad);
        }
        if bool::from(low) {
            return Err(KeyError::LowOrder);
        }
        Ok(Self(bytes))
    }

    /// The 32-byte encoding.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The 32-byte encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn dalek(&self) -> PublicKey {
        PublicKey::from(self.0)
    }
}

impl fmt::Debug for X25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X25519PublicKey(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// An X25519 private key with its public key. Zeroized on drop; its
/// `Debug` shows only the public key.
#[derive(Clone)]
pub(crate) struct X25519KeyPair {
    /// `StaticSecret` zeroizes itself on drop.
    secret: StaticSecret,
    public: X25519PublicKey,
}

impl ZeroizeOnDrop for X25519KeyPair {}

impl X25519KeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_secret_bytes(random_secret(rng))
    }

    /// Rebuilds a key pair from its 32 secret bytes (pickles, vectors).
    pub(crate) fn from_secret_bytes(mut bytes: [u8; 32]) -> Self {
        let secret = StaticSecret::from(bytes);
        bytes.zeroize();
        let public = X25519PublicKey(PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    pub(crate) fn public(&self) -> X25519PublicKey {
        self.public
    }

    /// The secret bytes, for pickling only. The caller zeroizes them.
    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// X25519 with a checked public key; refuses a non-contributory result.
    pub(crate) fn diffie_hellman(&self, theirs: &X25519PublicKey) -> Result<SharedSecret, KeyError> {
        #[cfg(test)]
        crate::work::count_dh();
        let shared = self.secret.diffie_hellman(&theirs.dalek());
        if !shared.was_contributory() {
            return Err(KeyError::NonContributory);
        }
        Ok(SharedSecret(Zeroizing::new(shared.to_bytes())))
    }
}

impl fmt::Debug for X25519KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X25519KeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

/// A DH output; zeroized on drop.
pub(crate) struct SharedSecret(Zeroizing<[u8; 32]>);

impl SharedSecret {
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn random_secret<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_is_the_first_field_element_refused() {
        let mut p_minus_one = [0xffu8; 32];
        p_minus_one[0] = 0xec;
        p_minus_one[31] = 0x7f;
        assert!(!field_element_at_least_p(&p_minus_one));
        let mut p = p_minus_one;
        p[0] = 0xed;
        assert!(field_element_at_least_p(&p));
        // The same low byte with a lower top byte is far below p.
        let mut below = p;
        below[31] = 0x3f;
        assert!(!field_element_at_least_p(&below));
    }

    #[test]
    fn debug_shows_public_keys_and_no_secret() {
        let pair = X25519KeyPair::generate(&mut crate::testing::rng(12));
        let public = format!("{:?}", pair.public());
        assert_eq!(public, format!("X25519PublicKey({})", hex::encode(pair.public().as_bytes())));
        let shown = format!("{pair:?}");
        assert!(shown.starts_with("X25519KeyPair {") && shown.contains(&public));
        assert!(!shown.contains(&hex::encode(pair.secret_bytes().as_slice())));
    }

    #[test]
    fn low_order_list_is_exactly_the_torsion_images() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        for p in EIGHT_TORSION.iter() {
            let u = p.to_montgomery().to_bytes();
            assert!(LOW_ORDER.contains(&u));
        }
    }

    #[test]
    fn every_low_order_key_is_refused_and_non_contributory() {
        let pair = X25519KeyPair::from_secret_bytes([7; 32]);
        for bad in LOW_ORDER {
            assert_eq!(X25519PublicKey::from_bytes(bad), Err(KeyError::LowOrder));
            // Bypassing the decode check, the DH itself refuses the result.
            assert_eq!(pair.diffie_hellman(&X25519PublicKey(bad)).err(), Some(KeyError::NonContributory));
        }
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        let ok = *X25519KeyPair::from_secret_bytes([9; 32]).public().as_bytes();
        let mut high = ok;
        high[31] |= 0x80;
        assert_eq!(X25519PublicKey::from_bytes(high), Err(KeyError::NonCanonical));
        // Every u in [p, 2^255 - 1].
        for low in 0xedu8..=0xff {
            let mut u = [0xff; 32];
            u[0] = low;
            u[31] = 0x7f;
            assert_eq!(X25519PublicKey::from_bytes(u), Err(KeyError::NonCanonical));
            // And the non-canonical forms of the low-order points, bit 255 set.
        }
        for bad in LOW_ORDER {
            let mut u = bad;
            u[31] |= 0x80;
            assert_eq!(X25519PublicKey::from_bytes(u), Err(KeyError::NonCanonical));
        }
        // p - 1 + 1 = p is the largest "u = 0" alias; p + 1 aliases u = 1.
        let mut p_plus_1 = [0xff; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        assert_eq!(X25519PublicKey::from_bytes(p_plus_1), Err(KeyError::NonCanonical));
    }
}
