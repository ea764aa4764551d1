//! Signed prekeys and one-time prekeys (X3DH §3.2, §4.6).
//!
//! Each record is addressable by its id so that a store can persist one
//! change (a consumed one-time prekey, a new replay record) without
//! rewriting the whole account.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRng;

use crate::error::PreKeyError;
use crate::identity::{IdentityKeyPair, PublicIdentity};
use crate::labels;
use crate::primitives::dh::{X25519KeyPair, X25519PublicKey};
use crate::primitives::signature::SIGNATURE_LEN;

/// The most one-time prekeys an account stores (published or not).
/// Generating more is refused with [`PreKeyError::TooManyOneTimePreKeys`];
/// nothing is evicted, because a published key may still be in flight.
pub const MAX_ONE_TIME_PREKEYS: usize = 1_000;

/// The longest grace period a retired signed prekey may stay usable: 30
/// days. Longer periods widen the window for key-compromise impersonation
/// (X3DH §4.6) and for replays of first messages.
pub const MAX_SIGNED_PREKEY_GRACE_SECS: u64 = 30 * 24 * 60 * 60;

/// A sensible grace period for [`crate::Account::rotate_signed_prekey`]:
/// 7 days, enough for a bundle fetched just before a rotation to be used.
pub const DEFAULT_SIGNED_PREKEY_GRACE_SECS: u64 = 7 * 24 * 60 * 60;

/// The most retired signed prekeys kept inside their grace period. A
/// rotation past this drops the oldest retired key at once (its first
/// messages then fail with `UnknownSignedPreKey`).
pub const MAX_RETIRED_SIGNED_PREKEYS: usize = 8;

/// The most first messages without a one-time prekey recorded per signed
/// prekey (the X3DH §4.2 replay record). When it is full, such messages
/// to that signed prekey are refused with `ReplayRecordFull` until the
/// app rotates it: a replay is never accepted silently.
pub const MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY: usize = 4_096;

/// The public half of a signed prekey, as published in a bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPreKeyPublic {
    id: u32,
    key: X25519PublicKey,
    signature: [u8; SIGNATURE_LEN],
}

impl SignedPreKeyPublic {
    pub(crate) fn new(id: u32, key: X25519PublicKey, signature: [u8; SIGNATURE_LEN]) -> Self {
        Self { id, key, signature }
    }

    /// The signed prekey's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The X25519 key.
    pub fn key(&self) -> X25519PublicKey {
        self.key
    }

    /// The identity's Ed25519 signature over
    /// `SIG_SIGNED_PREKEY || id || key`.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Checks the signature under `identity`.
    pub fn verify(&self, identity: &PublicIdentity) -> bool {
        identity
            .signing_key()
            .verify(&signed_message(self.id, &self.key), &self.signature)
            .is_ok()
    }
}

impl core::fmt::Debug for SignedPreKeyPublic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedPreKeyPublic")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn signed_message(id: u32, key: &X25519PublicKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(labels::SIG_SIGNED_PREKEY.len() + 36);
    m.extend_from_slice(labels::SIG_SIGNED_PREKEY);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(key.as_bytes());
    m
}

/// The public half of a one-time prekey.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OneTimePreKeyPublic {
    id: u32,
    key: X25519PublicKey,
}

impl OneTimePreKeyPublic {
    pub(crate) fn new(id: u32, key: X25519PublicKey) -> Self {
        Self { id, key }
    }

    /// The one-time prekey's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The X25519 key.
    pub fn key(&self) -> X25519PublicKey {
        self.key
    }
}

/// A signed prekey with its private key and its replay record.
#[derive(Clone)]
pub(crate) struct SignedPreKey {
    pub(crate) id: u32,
    pub(crate) pair: X25519KeyPair,
    pub(crate) signature: [u8; SIGNATURE_LEN],
    /// `None` for the current signed prekey; the end of the grace period
    /// for a retired one.
    pub(crate) expires_at: Option<u64>,
    /// Base keys of accepted or declined first messages that used this
    /// signed prekey and no one-time prekey (X3DH §4.2).
    pub(crate) replay_record: BTreeSet<[u8; 32]>,
}

impl SignedPreKey {
    fn generate<R: CryptoRng + ?Sized>(identity: &IdentityKeyPair, id: u32, rng: &mut R) -> Self {
        let pair = X25519KeyPair::generate(rng);
        let signature = identity.signing().sign(&signed_message(id, &pair.public()));
        Self {
            id,
            pair,
            signature,
            expires_at: None,
            replay_record: BTreeSet::new(),
        }
    }

    pub(crate) fn public(&self) -> SignedPreKeyPublic {
        SignedPreKeyPublic {
            id: self.id,
            key: self.pair.public(),
            signature: self.signature,
        }
    }
}

/// The current signed prekey and the retired ones still in their grace
/// period.
#[derive(Clone)]
pub(crate) struct SignedPreKeys {
    pub(crate) current: SignedPreKey,
    /// Oldest first.
    pub(crate) retired: Vec<SignedPreKey>,
    pub(crate) next_id: u32,
}

impl SignedPreKeys {
    pub(crate) fn new<R: CryptoRng + ?Sized>(identity: &IdentityKeyPair, rng: &mut R) -> Self {
        Self {
            current: SignedPreKey::generate(identity, 1, rng),
            retired: Vec::new(),
            next_id: 2,
        }
    }

    pub(crate) fn get(&self, id: u32) -> Option<&SignedPreKey> {
        core::iter::once(&self.current)
            .chain(self.retired.iter())
            .find(|k| k.id == id)
    }

    /// The signed prekey with this id if it is current, or retired and
    /// still inside its grace period at `now`.
    pub(crate) fn get_usable(&self, id: u32, now: u64) -> Option<&SignedPreKey> {
        self.get(id).filter(|k| k.expires_at.is_none_or(|t| now < t))
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut SignedPreKey> {
        core::iter::once(&mut self.current)
            .chain(self.retired.iter_mut())
            .find(|k| k.id == id)
    }

    pub(crate) fn rotate<R: CryptoRng + ?Sized>(
        &mut self,
        identity: &IdentityKeyPair,
        now: u64,
        grace_secs: u64,
        rng: &mut R,
    ) -> Result<u32, PreKeyError> {
        if grace_secs > MAX_SIGNED_PREKEY_GRACE_SECS {
            return Err(PreKeyError::GracePeriodTooLong {
                got: grace_secs,
                max: MAX_SIGNED_PREKEY_GRACE_SECS,
            });
        }
        let id = self.next_id;
        let next_id = id.checked_add(1).ok_or(PreKeyError::IdsExhausted)?;
        let fresh = SignedPreKey::generate(identity, id, rng);
        let mut old = core::mem::replace(&mut self.current, fresh);
        old.expires_at = Some(now.saturating_add(grace_secs));
        self.retired.push(old);
        self.next_id = next_id;
        self.expire(now);
        while self.retired.len() > MAX_RETIRED_SIGNED_PREKEYS {
            self.retired.remove(0);
        }
        Ok(id)
    }

    /// Drops (and so zeroizes) retired keys whose grace period is over,
    /// with their replay records. Returns how many were dropped.
    pub(crate) fn expire(&mut self, now: u64) -> usize {
        let before = self.retired.len();
        self.retired.retain(|k| k.expires_at.is_some_and(|t| now < t));
        before.saturating_sub(self.retired.len())
    }
}

/// One one-time prekey.
#[derive(Clone)]
pub(crate) struct OneTimePreKey {
    pub(crate) pair: X25519KeyPair,
    pub(crate) published: bool,
}

/// The stored one-time prekeys, by id.
#[derive(Clone, Default)]
pub(crate) struct OneTimePreKeys {
    pub(crate) keys: BTreeMap<u32, OneTimePreKey>,
    pub(crate) next_id: u32,
}

impl OneTimePreKeys {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(
        &mut self,
        count: usize,
        rng: &mut R,
    ) -> Result<Vec<OneTimePreKeyPublic>, PreKeyError> {
        let stored = self.keys.len();
        if stored.saturating_add(count) > MAX_ONE_TIME_PREKEYS {
            return Err(PreKeyError::TooManyOneTimePreKeys {
                stored,
                requested: count,
                max: MAX_ONE_TIME_PREKEYS,
            });
        }
        let count_u32 = u32::try_from(count).map_err(|_| PreKeyError::IdsExhausted)?;
        let end = self.next_id.checked_add(count_u32).ok_or(PreKeyError::IdsExhausted)?;
        let mut out = Vec::with_capacity(count);
        for id in self.next_id..end {
            let pair = X25519KeyPair::generate(rng);
            out.push(OneTimePreKeyPublic { id, key: pair.public() });
            self.keys.insert(id, OneTimePreKey { pair, published: false });
        }
        self.next_id = end;
        Ok(out)
    }

    pub(crate) fn unpublished(&self) -> Vec<OneTimePreKeyPublic> {
        self.keys
            .iter()
            .filter(|(_, k)| !k.published)
            .map(|(id, k)| OneTimePreKeyPublic {
                id: *id,
                key: k.pair.public(),
            })
            .collect()
    }

    pub(crate) fn mark_published(&mut self, ids: &[u32]) -> Result<(), PreKeyError> {
        if let Some(id) = ids.iter().find(|id| !self.keys.contains_key(id)) {
            return Err(PreKeyError::UnknownOneTimePreKey { id: *id });
        }
        for id in ids {
            if let Some(k) = self.keys.get_mut(id) {
                k.published = true;
            }
        }
        Ok(())
    }

    pub(crate) fn unused_published(&self) -> usize {
        self.keys.values().filter(|k| k.published).count()
    }

    pub(crate) fn public(&self, id: u32) -> Option<OneTimePreKeyPublic> {
        self.keys.get(&id).map(|k| OneTimePreKeyPublic {
            id,
            key: k.pair.public(),
        })
    }
}
