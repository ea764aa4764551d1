//! Ed25519: signing with ed25519-dalek, every check under one rule.
//!
//! The rule (docs/PROTOCOL.md §3): the cofactored ZIP-215 equation as
//! ed25519-zebra implements it, after cheap pre-checks that refuse a
//! non-canonical S, a non-canonical encoding of A or R, and an A or R of
//! small order. Single and batch verification run the same pre-checks and
//! the same equation, so they accept exactly the same signatures.

use core::fmt;

use ed25519_dalek::Signer;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::dh::field_element_at_least_p;
use crate::error::KeyError;

/// Encodings of the Edwards points of small order: the eight canonical
/// ones and the two "negative zero" aliases of (0, 1) and (0, -1). Any
/// other non-canonical encoding fails the y < p check first.
const SMALL_ORDER: [[u8; 32]; 10] = {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut identity_neg = identity;
    identity_neg[31] = 0x80;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let mut minus_one_neg = minus_one;
    minus_one_neg[31] = 0xff;
    let zero = [0u8; 32];
    let mut zero_neg = zero;
    zero_neg[31] = 0x80;
    let order8_a: [u8; 32] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
        0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ];
    let mut order8_a_neg = order8_a;
    order8_a_neg[31] = 0xfa;
    let order8_b: [u8; 32] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
        0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
    ];
    let mut order8_b_neg = order8_b;
    order8_b_neg[31] = 0x85;
    [identity, identity_neg, minus_one, minus_one_neg, zero, zero_neg, order8_a, order8_a_neg, order8_b, order8_b_neg]
};

/// The group order l = 2^252 + 27742317777372353535851937790883648493,
/// little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Length of an Ed25519 signature.
pub(crate) const SIGNATURE_LEN: usize = 64;

fn is_small_order(point: &[u8; 32]) -> bool {
    let mut hit = subtle::Choice::from(0);
    for bad in &SMALL_ORDER {
        hit |= point.ct_eq(bad);
    }
    bool::from(hit)
}

/// Canonical point encoding and not of small order.
fn point_ok(point: &[u8; 32]) -> bool {
    !field_element_at_least_p(point) && !is_small_order(point)
}

/// S < l, compared from the most significant byte down.
fn scalar_is_canonical(s: &[u8; 32]) -> bool {
    for (byte, order) in s.iter().rev().zip(GROUP_ORDER.iter().rev()) {
        if byte != order {
            return byte < order;
        }
    }
    false
}

/// An Ed25519 public key with a canonical encoding, not of small order.
///
/// It keeps the decompressed point beside the encoding, so the point is
/// decompressed once, when the key is decoded, and not again for each
/// signature it verifies. Equality and hashing are by the encoding.
#[derive(Clone, Copy)]
pub struct Ed25519PublicKey {
    bytes: [u8; 32],
    point: ed25519_zebra::VerificationKey,
}

impl PartialEq for Ed25519PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Ed25519PublicKey {}

impl core::hash::Hash for Ed25519PublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl Ed25519PublicKey {
    /// Checks and wraps a 32-byte encoding.
    ///
    /// # Errors
    ///
    /// [`KeyError::NonCanonical`] for y >= p, [`KeyError::LowOrder`] for a
    /// point of small order, [`KeyError::NotOnCurve`] when no point has
    /// this encoding.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        if field_element_at_least_p(&bytes) {
            return Err(KeyError::NonCanonical);
        }
        if is_small_order(&bytes) {
            return Err(KeyError::LowOrder);
        }
        let point = ed25519_zebra::VerificationKey::try_from(bytes).map_err(|_| KeyError::NotOnCurve)?;
        Ok(Self { bytes, point })
    }

    /// The 32-byte encoding.
    pub fn to_bytes(self) -> [u8; 32] {
        self.bytes
    }

    /// The 32-byte encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Verifies `signature` over `message` under dmseal's one rule.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> Result<(), BadSignature> {
        #[cfg(test)]
        crate::work::count_signature_check();
        let checked = precheck(&self.bytes, signature)?;
        self.point.verify(&checked, message).map_err(|_| BadSignature)
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey(")?;
        for b in &self.bytes {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A signature failed the pre-checks or the verification equation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadSignature;

/// The pre-checks shared by single and batch verification.
fn precheck(public: &[u8; 32], signature: &[u8; SIGNATURE_LEN]) -> Result<ed25519_zebra::Signature, BadSignature> {
    let (r, s) = signature.split_at(32);
    let r: &[u8; 32] = r.try_into().map_err(|_| BadSignature)?;
    let s: &[u8; 32] = s.try_into().map_err(|_| BadSignature)?;
    if !scalar_is_canonical(s) || !point_ok(r) || !point_ok(public) {
        return Err(BadSignature);
    }
    Ok(ed25519_zebra::Signature::from_bytes(signature))
}

/// Verifies many signatures at once under the same rule as
/// [`Ed25519PublicKey::verify`]: it accepts the batch exactly when every
/// single check would.
pub(crate) fn verify_batch<R: CryptoRng + ?Sized>(
    items: &[(Ed25519PublicKey, &[u8], &[u8; SIGNATURE_LEN])],
    rng: &mut R,
) -> Result<(), BadSignature> {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for (public, message, signature) in items {
        let checked = precheck(&public.bytes, signature)?;
        batch.queue((ed25519_zebra::VerificationKeyBytes::from(public.bytes), checked, *message));
    }
    batch.verify(rng).map_err(|_| BadSignature)
}

/// An Ed25519 signing key. Zeroized on drop; `Debug` shows the public key.
#[derive(Clone)]
pub(crate) struct Ed25519KeyPair {
    /// `SigningKey` zeroizes itself on drop.
    secret: ed25519_dalek::SigningKey,
    public: Ed25519PublicKey,
}

impl ZeroizeOnDrop for Ed25519KeyPair {}

impl Ed25519KeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_secret_bytes(&seed)
    }

    pub(crate) fn from_secret_bytes(seed: &[u8; 32]) -> Self {
        let secret = ed25519_dalek::SigningKey::from_bytes(seed);
        // The same RFC 8032 public key, computed by ed25519-zebra so that
        // the decompressed point comes with it (no fallible decoding).
        let zebra = Zeroizing::new(ed25519_zebra::SigningKey::from(*seed));
        let point = ed25519_zebra::VerificationKey::from(&*zebra);
        let public = Ed25519PublicKey { bytes: secret.verifying_key().to_bytes(), point };
        debug_assert_eq!(public.bytes, <[u8; 32]>::from(point));
        Self { secret, public }
    }

    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    pub(crate) fn public(&self) -> Ed25519PublicKey {
        self.public
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.secret.sign(message).to_bytes()
    }
}

impl fmt::Debug for Ed25519KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519KeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn small_order_list_covers_every_torsion_point() {
        for p in curve25519_dalek::constants::EIGHT_TORSION.iter() {
            assert!(is_small_order(&p.compress().to_bytes()));
        }
    }

    #[test]
    fn group_order_is_l() {
        assert!(!scalar_is_canonical(&GROUP_ORDER));
        let mut below = GROUP_ORDER;
        below[0] -= 1;
        assert!(scalar_is_canonical(&below));
        assert!(scalar_is_canonical(&[0; 32]));
        assert!(!scalar_is_canonical(&[0xff; 32]));
    }

    #[test]
    fn sign_then_verify_and_refuse_changes() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let pair = Ed25519KeyPair::generate(&mut rng);
        let sig = pair.sign(b"message");
        assert!(pair.public().verify(b"message", &sig).is_ok());
        assert!(pair.public().verify(b"messagf", &sig).is_err());
        // S + l is a valid-equation but non-canonical S: refused.
        let mut high_s = sig;
        high_s[63] |= 0xe0;
        assert!(pair.public().verify(b"message", &high_s).is_err());
    }

    #[test]
    fn small_order_keys_and_r_are_refused() {
        for bad in SMALL_ORDER {
            assert!(Ed25519PublicKey::from_bytes(bad).is_err());
        }
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let pair = Ed25519KeyPair::generate(&mut rng);
        let mut sig = pair.sign(b"m");
        sig[..32].copy_from_slice(&SMALL_ORDER[0]);
        assert!(pair.public().verify(b"m", &sig).is_err());
    }

    /// Signatures crafted with a torsion component in A or R: valid under
    /// the cofactored equation (and refused by RFC 8032 strict checking).
    /// Single and batch verification must give the same verdict.
    #[test]
    fn torsion_in_a_or_r_gets_the_same_verdict_single_and_batch() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::scalar::Scalar;
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let sk = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let a_scalar = sk.to_scalar();
        let a_point = ED25519_BASEPOINT_POINT * a_scalar;
        let message = b"crafted";
        let craft = |public: curve25519_dalek::EdwardsPoint, torsion_in_r: bool| {
            let r = Scalar::from_bytes_mod_order([7; 32]);
            let mut big_r = ED25519_BASEPOINT_POINT * r;
            if torsion_in_r {
                big_r += EIGHT_TORSION[3];
            }
            let (rb, ab) = (big_r.compress().to_bytes(), public.compress().to_bytes());
            let k = Scalar::from_bytes_mod_order_wide(&super::super::kdf::sha512(&[&rb, &ab, message]));
            let s = r + k * a_scalar;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&rb);
            sig[32..].copy_from_slice(s.as_bytes());
            (Ed25519PublicKey::from_bytes(ab).unwrap(), sig)
        };
        for (public, torsion_in_r) in
            [(a_point + EIGHT_TORSION[1], false), (a_point, true), (a_point + EIGHT_TORSION[5], true)]
        {
            let (key, sig) = craft(public, torsion_in_r);
            let single = key.verify(message, &sig).is_ok();
            let batch = verify_batch(&[(key, message.as_slice(), &sig)], &mut rng).is_ok();
            assert_eq!(single, batch);
            assert!(single, "the cofactored rule accepts torsion components");
        }
    }

    /// R the identity (small order), canonically encoded or as y = p + 1
    /// (non-canonical), with S = k·a: the cofactored equation holds, so
    /// only the pre-checks refuse them, single and batch alike.
    #[test]
    fn an_r_of_small_order_or_non_canonical_is_refused_although_the_equation_holds() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        use curve25519_dalek::scalar::Scalar;
        let mut rng = ChaCha20Rng::from_seed([10; 32]);
        let sk = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let a = sk.to_scalar();
        let ab = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
        let key = Ed25519PublicKey::from_bytes(ab).unwrap();
        let message = b"crafted";
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut p_plus_one = [0xffu8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        for rb in [identity, p_plus_one] {
            let k = Scalar::from_bytes_mod_order_wide(&super::super::kdf::sha512(&[&rb, &ab, message]));
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&rb);
            sig[32..].copy_from_slice((k * a).as_bytes());
            assert!(key.verify(message, &sig).is_err());
            assert!(verify_batch(&[(key, message.as_slice(), &sig)], &mut rng).is_err());
        }
    }

    #[test]
    fn public_keys_are_equal_and_hash_by_their_encoding_and_debug_shows_no_secret() {
        let mut rng = ChaCha20Rng::from_seed([11; 32]);
        let (one, two) = (Ed25519KeyPair::generate(&mut rng), Ed25519KeyPair::generate(&mut rng));
        assert_eq!(one.public(), one.public());
        assert_ne!(one.public(), two.public());
        let set: std::collections::HashSet<Ed25519PublicKey> = [one.public(), two.public(), one.public()].into();
        assert_eq!(set.len(), 2);
        let shown = format!("{:?}", one.public());
        assert_eq!(shown, format!("Ed25519PublicKey({})", hex::encode(one.public().as_bytes())));
        let pair = format!("{one:?}");
        assert!(pair.starts_with("Ed25519KeyPair {") && pair.contains(&shown));
        assert!(!pair.contains(&hex::encode(one.secret_bytes().as_slice())));
    }

    #[test]
    fn single_and_batch_agree() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let pairs: Vec<_> = (0..8).map(|_| Ed25519KeyPair::generate(&mut rng)).collect();
        let msgs: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 40]).collect();
        let mut sigs: Vec<[u8; 64]> = pairs.iter().zip(&msgs).map(|(p, m)| p.sign(m)).collect();
        let items = |sigs: &[[u8; 64]]| -> Vec<(Ed25519PublicKey, Vec<u8>, [u8; 64])> {
            pairs.iter().zip(&msgs).zip(sigs).map(|((p, m), s)| (p.public(), m.clone(), *s)).collect()
        };
        let check = |sigs: &[[u8; 64]], rng: &mut ChaCha20Rng| {
            let owned = items(sigs);
            let refs: Vec<_> = owned.iter().map(|(p, m, s)| (*p, m.as_slice(), s)).collect();
            let batch = verify_batch(&refs, rng).is_ok();
            let single = owned.iter().all(|(p, m, s)| p.verify(m, s).is_ok());
            assert_eq!(batch, single);
            batch
        };
        assert!(check(&sigs, &mut rng));
        sigs[3][0] ^= 1;
        assert!(!check(&sigs, &mut rng));
        sigs[3][0] ^= 1;
        sigs[5][63] |= 0xe0;
        assert!(!check(&sigs, &mut rng));
    }
}
