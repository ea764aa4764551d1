//! Thin wrappers over the cryptographic primitives.
//!
//! Everything above this layer reaches X25519, Ed25519, ML-KEM-768, HKDF,
//! HMAC and ChaCha20-Poly1305 only through these functions, so each rule (canonical
//! keys, contributory results, one signature rule, labelled derivations)
//! is enforced in exactly one place.

pub(crate) mod aead;
pub(crate) mod dh;
pub(crate) mod kdf;
pub(crate) mod kem;
pub(crate) mod rng;
pub(crate) mod signature;
pub(crate) mod siv;

#[cfg(test)]
mod kat;

#[cfg(test)]
mod tests {
    use zeroize::ZeroizeOnDrop;

    fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}

    /// Every type holding secret bytes wipes them when dropped.
    #[test]
    fn secret_types_zeroize_on_drop() {
        zeroizes_on_drop::<super::dh::X25519KeyPair>();
        zeroizes_on_drop::<super::signature::Ed25519KeyPair>();
        zeroizes_on_drop::<super::aead::AeadKey>();
        zeroizes_on_drop::<super::aead::StreamKey>();
        zeroizes_on_drop::<super::siv::SivKey>();
        zeroizes_on_drop::<super::kem::MlKemKeyPair>();
        zeroizes_on_drop::<crate::ratchet::RootKey>();
        zeroizes_on_drop::<crate::ratchet::ChainKey>();
        zeroizes_on_drop::<crate::ratchet::MessageKey>();
        zeroizes_on_drop::<crate::SessionPickle>();
        zeroizes_on_drop::<crate::AccountPickle>();
        zeroizes_on_drop::<zeroize::Zeroizing<[u8; 32]>>();
    }
}
