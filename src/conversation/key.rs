//! The storage key: what every record a [`crate::Conversations`] stores is
//! sealed under.

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::primitives::rng::os_rng;

/// The 32-byte key every record of a [`crate::Conversations`] is sealed
/// under (docs/PROTOCOL.md §8.2, §13.2). Keep it in the platform's
/// keychain or keystore, not beside the database. Zeroized on drop; its
/// `Debug` shows nothing of it.
///
/// ```
/// use dmseal::StorageKey;
/// let key = StorageKey::generate();
/// // Store `key.as_bytes()` in the keychain; on the next start:
/// let again = StorageKey::from_bytes(*key.as_bytes());
/// assert_eq!(format!("{again:?}"), "StorageKey(..)");
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StorageKey([u8; 32]);

impl StorageKey {
    /// A fresh key from the operating system's random number generator.
    ///
    /// ```
    /// use dmseal::StorageKey;
    /// let key = StorageKey::generate();
    /// // Put `key.as_bytes()` in the platform's keychain; every key is new.
    /// assert_ne!(key.as_bytes(), StorageKey::generate().as_bytes());
    /// ```
    pub fn generate() -> Self {
        Self::generate_with_rng(&mut os_rng())
    }

    /// A fresh key from `rng`.
    pub fn generate_with_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Self([0u8; 32]);
        rng.fill_bytes(&mut key.0);
        key
    }

    /// The key stored earlier (see [`StorageKey::as_bytes`]).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, to put in a keychain.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The key from its bytes, so [`crate::Conversations::open`] also takes a
/// plain `[u8; 32]`.
impl From<[u8; 32]> for StorageKey {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl core::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StorageKey(..)")
    }
}
