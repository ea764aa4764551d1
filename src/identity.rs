//! Identity keys: an Ed25519 key for signatures and an X25519 key for key
//! agreement, bound together (docs/PROTOCOL.md §3.1).
//!
//! The Ed25519 key signs `SIG_IDENTITY_BINDING || 0x01 || x25519_key`
//! (`0x01` is the X25519 key-type byte). Every
//! [`PublicIdentity`] value in this crate has passed that check: decoding
//! refuses an identity whose binding fails.

use core::fmt;

use rand_core::CryptoRng;

use crate::error::DecodeError;
use crate::labels;
use crate::primitives::dh::{X25519KeyPair, X25519PublicKey};
use crate::primitives::signature::{Ed25519KeyPair, Ed25519PublicKey, SIGNATURE_LEN};
use crate::wire::Reader;

/// Length of a [`PublicIdentity`] encoding: Ed25519 key, X25519 key,
/// binding signature.
pub const PUBLIC_IDENTITY_LEN: usize = 32 + 32 + SIGNATURE_LEN;

/// Someone's public identity: both public keys and the signature binding
/// them. Two identities are equal when both keys are equal.
#[derive(Clone)]
pub struct PublicIdentity {
    signing: Ed25519PublicKey,
    agreement: X25519PublicKey,
    binding: [u8; SIGNATURE_LEN],
}

impl PublicIdentity {
    /// The fixed 128-byte encoding: Ed25519 key, X25519 key, signature.
    pub fn encode(&self) -> [u8; PUBLIC_IDENTITY_LEN] {
        let mut out = [0u8; PUBLIC_IDENTITY_LEN];
        let (keys, sig) = out.split_at_mut(64);
        let (ed, x) = keys.split_at_mut(32);
        ed.copy_from_slice(self.signing.as_bytes());
        x.copy_from_slice(self.agreement.as_bytes());
        sig.copy_from_slice(&self.binding);
        out
    }

    /// Decodes and verifies an identity.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for a wrong length, an invalid key, or a binding
    /// signature that fails.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let identity = Self::read(&mut reader)?;
        reader.finish()?;
        Ok(identity)
    }

    pub(crate) fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let signing = Ed25519PublicKey::from_bytes(reader.array()?)?;
        let agreement = reader.x25519()?;
        let binding = reader.array()?;
        signing.verify(&binding_message(&agreement), &binding).map_err(|_| DecodeError::BadIdentityBinding)?;
        Ok(Self { signing, agreement, binding })
    }

    /// The Ed25519 key that signs for this identity.
    pub fn signing_key(&self) -> Ed25519PublicKey {
        self.signing
    }

    /// The X25519 key used in session setup.
    pub fn agreement_key(&self) -> X25519PublicKey {
        self.agreement
    }

    /// The 64 bytes that name this identity: Ed25519 key then X25519 key.
    /// This is what the setup transcript hash, associated data and safety
    /// numbers cover, so two identities that share an X25519 key but not
    /// an Ed25519 key cannot stand in for each other (the binding alone
    /// would not stop that: anyone can sign someone else's X25519 key).
    pub fn key_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        let (ed, x) = out.split_at_mut(32);
        ed.copy_from_slice(self.signing.as_bytes());
        x.copy_from_slice(self.agreement.as_bytes());
        out
    }
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.signing == other.signing && self.agreement == other.agreement
    }
}

impl Eq for PublicIdentity {}

impl core::hash::Hash for PublicIdentity {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.key_bytes().hash(state);
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicIdentity")
            .field("signing", &self.signing)
            .field("agreement", &self.agreement)
            .finish_non_exhaustive()
    }
}

fn binding_message(agreement: &X25519PublicKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(labels::SIG_IDENTITY_BINDING.len() + 33);
    m.extend_from_slice(labels::SIG_IDENTITY_BINDING);
    m.push(crate::wire::KEY_TYPE_X25519);
    m.extend_from_slice(agreement.as_bytes());
    m
}

/// An identity's private keys. Zeroized on drop; `Debug` shows only the
/// public identity.
#[derive(Clone)]
pub(crate) struct IdentityKeyPair {
    signing: Ed25519KeyPair,
    agreement: X25519KeyPair,
    public: PublicIdentity,
}

impl IdentityKeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let signing = Ed25519KeyPair::generate(rng);
        let agreement = X25519KeyPair::generate(rng);
        Self::from_parts(signing, agreement)
    }

    pub(crate) fn from_parts(signing: Ed25519KeyPair, agreement: X25519KeyPair) -> Self {
        let binding = signing.sign(&binding_message(&agreement.public()));
        let public = PublicIdentity { signing: signing.public(), agreement: agreement.public(), binding };
        Self { signing, agreement, public }
    }

    pub(crate) fn public(&self) -> &PublicIdentity {
        &self.public
    }

    pub(crate) fn signing(&self) -> &Ed25519KeyPair {
        &self.signing
    }

    pub(crate) fn agreement(&self) -> &X25519KeyPair {
        &self.agreement
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

/// With the `serde` feature, an identity is its 128-byte encoding
/// (docs/PROTOCOL.md §4.1), decoded and its binding checked when read back.
#[cfg(feature = "serde")]
impl serde::Serialize for PublicIdentity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.encode())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for PublicIdentity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = <Vec<u8>>::deserialize(deserializer)?;
        Self::decode(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn identity_round_trips_and_every_bit_flip_is_refused() {
        let pair = IdentityKeyPair::generate(&mut ChaCha20Rng::from_seed([5; 32]));
        let bytes = pair.public().encode();
        assert_eq!(&PublicIdentity::decode(&bytes).unwrap(), pair.public());
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes;
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(PublicIdentity::decode(&b).is_err(), "bit {bit} flip accepted");
        }
    }

    #[test]
    fn binding_made_by_another_key_is_refused() {
        let mut rng = ChaCha20Rng::from_seed([6; 32]);
        let a = IdentityKeyPair::generate(&mut rng);
        let b = IdentityKeyPair::generate(&mut rng);
        // A's signing key with B's X25519 key and A's binding: refused.
        let mut bytes = a.public().encode();
        bytes[32..64].copy_from_slice(b.public().agreement_key().as_bytes());
        assert_eq!(PublicIdentity::decode(&bytes), Err(DecodeError::BadIdentityBinding));
    }
}
