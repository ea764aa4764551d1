//! Root, chain and message keys of the Double Ratchet (Signal's Double
//! Ratchet spec §2.2, §2.3, §5.2).

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::KeyError;
use crate::labels;
use crate::primitives::dh::{X25519KeyPair, X25519PublicKey};
use crate::primitives::kdf::{hkdf_expand, hkdf_sha256, hmac_sha256, hmac_sha256_pair};
use crate::primitives::siv::{SIV_KEY_MATERIAL_LEN, SivKey};

/// The root key. `KDF_RK(rk, dh) = HKDF(salt = rk, ikm = dh, info =
/// KDF_ROOT)`, 64 bytes: the next root key, then a chain key. A step that
/// mixes a KEM epoch key `K` uses `HKDF(salt = rk, ikm = dh || K, info =
/// KDF_KEM_ROOT)` instead.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RootKey(pub(crate) [u8; 32]);

impl RootKey {
    pub(crate) fn advance(
        &self,
        ours: &X25519KeyPair,
        theirs: &X25519PublicKey,
        kem: Option<&[u8; 32]>,
    ) -> Result<(RootKey, ChainKey), KeyError> {
        let dh = ours.diffie_hellman(theirs)?;
        let okm = match kem {
            None => hkdf_sha256::<64>(&self.0, dh.as_bytes(), &[labels::KDF_ROOT]),
            Some(k) => {
                let mut ikm = zeroize::Zeroizing::new([0u8; 64]);
                let (d, e) = ikm.split_at_mut(32);
                d.copy_from_slice(dh.as_bytes());
                e.copy_from_slice(k);
                hkdf_sha256::<64>(&self.0, ikm.as_slice(), &[labels::KDF_KEM_ROOT])
            }
        };
        Ok(split_root_and_chain(&okm))
    }
}

/// Splits 64 bytes of KDF output into a root key and a chain key at index 0.
pub(crate) fn split_root_and_chain(okm: &[u8; 64]) -> (RootKey, ChainKey) {
    let mut root = [0u8; 32];
    let mut chain = [0u8; 32];
    let (r, c) = okm.split_at(32);
    root.copy_from_slice(r);
    chain.copy_from_slice(c);
    (RootKey(root), ChainKey { key: chain, index: 0 })
}

/// A chain key and the index of the next message key it yields.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainKey {
    pub(crate) key: [u8; 32],
    pub(crate) index: u32,
}

/// What advancing a receiving chain to a counter yields: the keys skipped
/// on the way that are kept, the message key for the counter, and the next
/// chain key.
pub(crate) struct Advance {
    /// Boxed so that moving them into the skipped store moves a pointer,
    /// not the key bytes (which would leave unwiped copies behind).
    #[allow(clippy::vec_box, reason = "moving a box moves a pointer, not the key bytes")]
    pub(crate) skipped: Vec<Box<MessageKey>>,
    pub(crate) message_key: MessageKey,
    pub(crate) next: ChainKey,
}

impl ChainKey {
    /// The message key for `self.index` and the chain key after it. `None`
    /// when the index is `u32::MAX`: no counter past it exists.
    pub(crate) fn step(&self) -> Option<(MessageKey, ChainKey)> {
        let next_index = self.index.checked_add(1)?;
        let (seed, next) = hmac_sha256_pair(&self.key, labels::CHAIN_MESSAGE, labels::CHAIN_NEXT);
        Some((MessageKey { seed: *seed, index: self.index }, ChainKey { key: *next, index: next_index }))
    }

    /// The chain key after this one, without deriving the message key.
    fn skip(&self) -> Option<ChainKey> {
        let next_index = self.index.checked_add(1)?;
        let next = hmac_sha256(&self.key, labels::CHAIN_NEXT);
        Some(ChainKey { key: *next, index: next_index })
    }

    /// Advances to `counter` (>= `self.index`, < `u32::MAX`), deriving
    /// message keys only for the skipped indices at or after `keep_from`:
    /// earlier ones would be evicted at once, so only the chain key moves
    /// past them. Costs `counter - index` chain steps.
    pub(crate) fn advance_to(&self, counter: u32, keep_from: u32) -> Option<Advance> {
        let mut chain = self.clone();
        let mut skipped = Vec::new();
        while chain.index < counter {
            if chain.index >= keep_from {
                let (mk, next) = chain.step()?;
                skipped.push(Box::new(mk));
                chain = next;
            } else {
                chain = chain.skip()?;
            }
        }
        let (message_key, next) = chain.step()?;
        Some(Advance { skipped, message_key, next })
    }
}

/// A message-key seed and its index. Expanded into the message cipher's
/// two keys only when used: `HKDF-Expand(seed, KDF_MESSAGE_KEYS, 64)`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey {
    pub(crate) seed: [u8; 32],
    pub(crate) index: u32,
}

impl MessageKey {
    pub(crate) fn cipher_key(&self) -> SivKey {
        SivKey::from_okm(&hkdf_expand::<SIV_KEY_MATERIAL_LEN>(&self.seed, labels::KDF_MESSAGE_KEYS))
    }
}
