//! ML-KEM-768 (FIPS 203) for PQXDH.
//!
//! Decapsulation keys are kept as their 64-byte FIPS 203 seed `d || z`
//! (the form FIPS 203 and the `ml-kem` crate recommend): 64 bytes stored
//! instead of 2,400, at the cost of re-expanding the key (one ML-KEM key
//! generation) when it is restored. A key that is used
//! many times (the last-resort PQ prekey) also keeps its expanded form in
//! memory, so each first message does not pay the expansion again; a
//! one-time key is expanded when it is used, once.

use core::fmt;

use ml_kem::kem::{Decapsulate, Encapsulate, KeyExport};
use ml_kem::{DecapsulationKey768, EncapsulationKey768, MlKem768};
use rand_core::CryptoRng;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::error::KeyError;

/// Length of an ML-KEM-768 encapsulation (public) key.
pub const ML_KEM_768_PUBLIC_KEY_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext.
pub const ML_KEM_768_CIPHERTEXT_LEN: usize = 1088;
/// Length of an ML-KEM decapsulation-key seed `d || z`.
pub(crate) const SEED_LEN: usize = 64;

/// An ML-KEM-768 encapsulation key that passed FIPS 203's input check
/// (every coefficient reduced modulo q).
#[derive(Clone, PartialEq, Eq)]
pub struct MlKemPublicKey(Box<[u8; ML_KEM_768_PUBLIC_KEY_LEN]>);

impl MlKemPublicKey {
    /// Checks and wraps an encoding.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKemKey`] for a wrong length or an encoding FIPS
    /// 203 §7.2 refuses.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; ML_KEM_768_PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| KeyError::InvalidKemKey)?;
        EncapsulationKey768::new(&array.into()).map_err(|_| KeyError::InvalidKemKey)?;
        Ok(Self(Box::new(array)))
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8; ML_KEM_768_PUBLIC_KEY_LEN] {
        &self.0
    }

    /// Encapsulates a fresh shared secret to this key: `(ciphertext, secret)`.
    pub(crate) fn encapsulate<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> (Box<[u8; ML_KEM_768_CIPHERTEXT_LEN]>, Zeroizing<[u8; 32]>) {
        // The key was checked when it was made, so this cannot fail; an
        // all-zero result would fail decryption rather than leak anything.
        let Ok(ek) = EncapsulationKey768::new(&(*self.0).into()) else {
            return (Box::new([0; ML_KEM_768_CIPHERTEXT_LEN]), Zeroizing::new([0; 32]));
        };
        let (ct, shared) = ek.encapsulate_with_rng(rng);
        (Box::new(ct.into()), Zeroizing::new(shared.into()))
    }
}

impl fmt::Debug for MlKemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MlKemPublicKey(")?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// An ML-KEM-768 key pair kept as its seed. Zeroized on drop; `Debug`
/// shows only the start of the public key.
#[derive(Clone)]
pub(crate) struct MlKemKeyPair {
    seed: Zeroizing<[u8; SEED_LEN]>,
    public: MlKemPublicKey,
    /// The expanded decapsulation key (zeroized on drop by `ml-kem`), kept
    /// for keys used many times; never pickled.
    expanded: Option<Box<DecapsulationKey768>>,
}

impl ZeroizeOnDrop for MlKemKeyPair {}

impl MlKemKeyPair {
    /// A fresh key pair; `keep_expanded` for a key that will be used many
    /// times.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R, keep_expanded: bool) -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed, keep_expanded)
    }

    /// The key pair of a seed (one key expansion); `keep_expanded` keeps
    /// the expanded key for later decapsulations.
    pub(crate) fn from_seed(seed: &[u8; SEED_LEN], keep_expanded: bool) -> Self {
        let dk = DecapsulationKey768::from_seed((*seed).into());
        let public: [u8; ML_KEM_768_PUBLIC_KEY_LEN] = dk.encapsulation_key().to_bytes().into();
        Self {
            seed: Zeroizing::new(*seed),
            public: MlKemPublicKey(Box::new(public)),
            expanded: keep_expanded.then(|| Box::new(dk)),
        }
    }

    pub(crate) fn seed(&self) -> &[u8; SEED_LEN] {
        &self.seed
    }

    pub(crate) fn public(&self) -> &MlKemPublicKey {
        &self.public
    }

    /// Decapsulates. A wrong or mangled ciphertext yields an unrelated
    /// secret (FIPS 203 implicit rejection), so the first message then
    /// fails to decrypt.
    pub(crate) fn decapsulate(&self, ciphertext: &[u8; ML_KEM_768_CIPHERTEXT_LEN]) -> Zeroizing<[u8; 32]> {
        let ct: ml_kem::Ciphertext<MlKem768> = (*ciphertext).into();
        match &self.expanded {
            Some(dk) => Zeroizing::new(dk.decapsulate(&ct).into()),
            None => Zeroizing::new(DecapsulationKey768::from_seed((*self.seed).into()).decapsulate(&ct).into()),
        }
    }
}

impl fmt::Debug for MlKemKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlKemKeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::rng;

    #[test]
    fn debug_shows_a_public_key_prefix_and_no_seed() {
        let pair = MlKemKeyPair::generate(&mut rng(3), false);
        let public = format!("{:?}", pair.public());
        assert!(public.starts_with("MlKemPublicKey(") && public.len() > "MlKemPublicKey()".len());
        let shown = format!("{pair:?}");
        assert!(shown.starts_with("MlKemKeyPair {") && shown.contains(&public));
        assert!(!shown.contains(&hex::encode(&pair.seed()[..16])));
    }

    #[test]
    fn encapsulate_then_decapsulate_agree_and_a_mangled_ciphertext_does_not() {
        for keep_expanded in [false, true] {
            let pair = MlKemKeyPair::generate(&mut rng(1), keep_expanded);
            let (mut ct, shared) = pair.public().encapsulate(&mut rng(2));
            assert_eq!(*pair.decapsulate(&ct), *shared);
            let other = MlKemKeyPair::from_seed(pair.seed(), !keep_expanded);
            assert_eq!(other.public(), pair.public());
            assert_eq!(*other.decapsulate(&ct), *shared);
            ct[100] ^= 1;
            assert_ne!(*pair.decapsulate(&ct), *shared);
            assert_eq!(*pair.decapsulate(&ct), *other.decapsulate(&ct), "implicit rejection differs");
        }
    }

    #[test]
    fn an_unreduced_encapsulation_key_is_refused() {
        let pair = MlKemKeyPair::generate(&mut rng(3), false);
        let mut bytes = *pair.public().as_bytes();
        // Set the first 12-bit coefficient to 4095 >= q = 3329.
        bytes[0] = 0xff;
        bytes[1] |= 0x0f;
        assert_eq!(MlKemPublicKey::from_bytes(&bytes), Err(KeyError::InvalidKemKey));
        assert_eq!(MlKemPublicKey::from_bytes(&bytes[1..]), Err(KeyError::InvalidKemKey));
    }
}
