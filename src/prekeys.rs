//! Prekeys (X3DH §3.2, §4.6; PQXDH §3.2): signed X25519 prekeys,
//! one-time X25519 prekeys, and ML-KEM-768 PQ prekeys of two kinds
//! (one-time, and a last-resort key reused when those run out).
//!
//! Each record is addressable by its id so that a store can persist one
//! change (a consumed one-time prekey, a new replay record) without
//! rewriting the whole account. Every key is signed over a typed encoding
//! (`KEY_TYPE_X25519` or `KEY_TYPE_ML_KEM_768`) under its own label.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRng;

use crate::error::DecodeError;
use crate::error::PreKeyError;
use crate::identity::{IdentityKeyPair, PublicIdentity};
use crate::labels;
use crate::primitives::dh::{X25519KeyPair, X25519PublicKey};
use crate::primitives::kem::{MlKemKeyPair, MlKemPublicKey};
use crate::primitives::signature::SIGNATURE_LEN;
use crate::wire::{KEY_TYPE_ML_KEM_768, KEY_TYPE_X25519, Reader, Writer};

/// Length of a signed prekey field on the wire: id, key, signature,
/// capabilities (docs/PROTOCOL.md §4.2).
pub(crate) const SIGNED_PREKEY_FIELD_LEN: usize = 4 + 32 + SIGNATURE_LEN + 1;
/// Length of a PQ prekey field on the wire: kind, id, key type, key,
/// signature (docs/PROTOCOL.md §4.2).
pub(crate) const PQ_PREKEY_FIELD_LEN: usize = 1 + 4 + 1 + crate::ML_KEM_768_PUBLIC_KEY_LEN + SIGNATURE_LEN;

/// The most one-time X25519 prekeys an account stores (published or not).
/// Generating more is refused with [`PreKeyError::TooManyOneTimePreKeys`];
/// nothing is evicted, because a published key may still be in flight.
pub const MAX_ONE_TIME_PREKEYS: usize = 1_000;

/// The most one-time PQ prekeys an account stores. Each costs 1.3 KB in
/// memory (seed, public key, signature); past the cap generating is
/// refused, as for [`MAX_ONE_TIME_PREKEYS`].
pub const MAX_PQ_ONE_TIME_PREKEYS: usize = 200;

/// The longest grace period a retired signed prekey (or last-resort PQ
/// prekey) may stay usable: 30 days. Longer periods widen the window for
/// key-compromise impersonation (X3DH §4.6) and for replays of first
/// messages.
pub const MAX_SIGNED_PREKEY_GRACE_SECS: u64 = 30 * 24 * 60 * 60;

/// A sensible grace period for [`crate::Account::rotate_signed_prekey`]:
/// 7 days, enough for a bundle fetched just before a rotation to be used.
pub const DEFAULT_SIGNED_PREKEY_GRACE_SECS: u64 = 7 * 24 * 60 * 60;

/// The most retired signed prekeys (and, separately, retired last-resort
/// PQ prekeys) kept inside their grace period. A rotation past this drops
/// the oldest retired key at once (its first messages then fail with
/// `UnknownSignedPreKey` or `UnknownPqPreKey`).
pub const MAX_RETIRED_SIGNED_PREKEYS: usize = 8;

/// The most first messages without a one-time prekey of either kind
/// recorded per signed prekey (the X3DH §4.2 replay record). When it is
/// full, such messages to that signed prekey are refused with
/// `ReplayRecordFull` until the app rotates it: a replay is never
/// accepted silently.
pub const MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY: usize = 4_096;

/// Capability bit of a signed prekey: its owner publishes PQ prekeys, so
/// a bundle of it without one was stripped (docs/PROTOCOL.md §3.3).
pub(crate) const CAPABILITY_PQ_PREKEYS: u8 = 0x01;
/// Capability bit of a signed prekey: its owner runs the KEM ratchet
/// (docs/PROTOCOL.md §6.9), so sessions started from it do too.
pub(crate) const CAPABILITY_KEM_RATCHET: u8 = 0x02;

/// The public half of a signed prekey, as published in a bundle, with the
/// capabilities its owner signed with it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPreKeyPublic {
    id: u32,
    key: X25519PublicKey,
    signature: [u8; SIGNATURE_LEN],
    capabilities: u8,
}

impl SignedPreKeyPublic {
    pub(crate) fn new(id: u32, key: X25519PublicKey, signature: [u8; SIGNATURE_LEN], capabilities: u8) -> Self {
        Self { id, key, signature, capabilities }
    }

    /// Whether the owner signed, with this prekey, that it publishes PQ
    /// prekeys: then a bundle without a PQ prekey was stripped on the way,
    /// and [`crate::Account::start_session`] refuses it
    /// ([`crate::StartError::PqPreKeyStripped`]).
    pub fn publishes_pq_prekeys(&self) -> bool {
        self.capabilities & CAPABILITY_PQ_PREKEYS != 0
    }

    /// Whether the owner signed, with this prekey, that it runs the KEM
    /// ratchet: sessions started from it then run it too
    /// ([`crate::Session::kem_ratchet`]).
    pub fn runs_kem_ratchet(&self) -> bool {
        self.capabilities & CAPABILITY_KEM_RATCHET != 0
    }

    /// Writes the signed prekey field (docs/PROTOCOL.md §4.2).
    pub(crate) fn write(&self, w: &mut Writer) {
        w.u32(self.id).bytes(self.key.as_bytes()).bytes(&self.signature).u8(self.capabilities);
    }

    /// Reads a signed prekey field; the signature is not checked here.
    /// Capability bits this version does not know are kept (the signature
    /// covers them) and ignored, so a later capability reaches this
    /// version without breaking it (docs/PROTOCOL.md §3.3).
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::new(r.u32()?, r.x25519()?, r.array()?, r.u8()?))
    }

    /// Whether the signature would verify had the owner signed the PQ
    /// capability: a bundle whose capability bit was cleared to pass off a
    /// stripped PQ prekey as a classic peer's.
    pub(crate) fn verifies_with_pq_capability(&self, identity: &PublicIdentity) -> bool {
        let claimed = self.capabilities | CAPABILITY_PQ_PREKEYS;
        claimed != self.capabilities
            && identity.signing_key().verify(&signed_message(self.id, &self.key, claimed), &self.signature).is_ok()
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
    /// `SIG_SIGNED_PREKEY || id || 0x01 || key || capabilities`.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Checks the signature under `identity`.
    pub fn verify(&self, identity: &PublicIdentity) -> bool {
        identity.signing_key().verify(&signed_message(self.id, &self.key, self.capabilities), &self.signature).is_ok()
    }
}

impl core::fmt::Debug for SignedPreKeyPublic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedPreKeyPublic")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("publishes_pq_prekeys", &self.publishes_pq_prekeys())
            .finish_non_exhaustive()
    }
}

fn signed_message(id: u32, key: &X25519PublicKey, capabilities: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(labels::SIG_SIGNED_PREKEY.len() + 38);
    m.extend_from_slice(labels::SIG_SIGNED_PREKEY);
    m.extend_from_slice(&id.to_be_bytes());
    m.push(KEY_TYPE_X25519);
    m.extend_from_slice(key.as_bytes());
    m.push(capabilities);
    m
}

/// The public half of a one-time X25519 prekey.
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

/// The two kinds of PQ prekey (PQXDH §3.2). The kind is signed with the
/// key, so a one-time key cannot be passed off as a last-resort one or
/// the reverse.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PqPreKeyKind {
    /// Deleted after its first use.
    OneTime,
    /// Kept and reused when no one-time PQ prekey is left; rotated like
    /// a signed prekey.
    LastResort,
}

impl PqPreKeyKind {
    /// The kind's byte on the wire and in signatures.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::OneTime => 0x01,
            Self::LastResort => 0x02,
        }
    }

    /// The kind for a byte, if it names one.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::OneTime),
            0x02 => Some(Self::LastResort),
            _ => None,
        }
    }
}

/// The public half of a PQ prekey, as published in a bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct PqPreKeyPublic {
    kind: PqPreKeyKind,
    id: u32,
    key: MlKemPublicKey,
    signature: [u8; SIGNATURE_LEN],
}

impl PqPreKeyPublic {
    pub(crate) fn new(kind: PqPreKeyKind, id: u32, key: MlKemPublicKey, signature: [u8; SIGNATURE_LEN]) -> Self {
        Self { kind, id, key, signature }
    }

    /// Writes the PQ prekey field (docs/PROTOCOL.md §4.2).
    pub(crate) fn write(&self, w: &mut Writer) {
        w.u8(self.kind.to_byte())
            .u32(self.id)
            .u8(KEY_TYPE_ML_KEM_768)
            .bytes(self.key.as_bytes())
            .bytes(&self.signature);
    }

    /// Reads a PQ prekey field; the signature is not checked here.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::new(r.pq_kind()?, r.u32()?, r.ml_kem_key()?, r.array()?))
    }

    /// One-time or last-resort.
    pub fn kind(&self) -> PqPreKeyKind {
        self.kind
    }

    /// The PQ prekey's id (ids are counted per kind).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The ML-KEM-768 encapsulation key.
    pub fn key(&self) -> &MlKemPublicKey {
        &self.key
    }

    /// The identity's Ed25519 signature over
    /// `SIG_PQ_PREKEY || kind || id || 0x02 || key`.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Checks the signature under `identity`.
    pub fn verify(&self, identity: &PublicIdentity) -> bool {
        identity.signing_key().verify(&pq_signed_message(self.kind, self.id, &self.key), &self.signature).is_ok()
    }
}

impl core::fmt::Debug for PqPreKeyPublic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PqPreKeyPublic")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn pq_signed_message(kind: PqPreKeyKind, id: u32, key: &MlKemPublicKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(labels::SIG_PQ_PREKEY.len() + 6 + key.as_bytes().len());
    m.extend_from_slice(labels::SIG_PQ_PREKEY);
    m.push(kind.to_byte());
    m.extend_from_slice(&id.to_be_bytes());
    m.push(KEY_TYPE_ML_KEM_768);
    m.extend_from_slice(key.as_bytes());
    m
}

/// What a retired key needs for rotation: an id and an expiry.
pub(crate) trait Retirable {
    fn id(&self) -> u32;
    fn expires_at(&self) -> Option<u64>;
    fn retire(&mut self, expires_at: u64);
}

/// A current key and the retired ones still in their grace period.
#[derive(Clone)]
pub(crate) struct Rotation<K> {
    pub(crate) current: K,
    /// Oldest first.
    pub(crate) retired: Vec<K>,
    pub(crate) next_id: u32,
}

impl<K: Retirable> Rotation<K> {
    pub(crate) fn get(&self, id: u32) -> Option<&K> {
        core::iter::once(&self.current).chain(self.retired.iter()).find(|k| k.id() == id)
    }

    /// The key with this id if it is current, or retired and still inside
    /// its grace period at `now`.
    pub(crate) fn get_usable(&self, id: u32, now: u64) -> Option<&K> {
        self.get(id).filter(|k| k.expires_at().is_none_or(|t| now < t))
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut K> {
        core::iter::once(&mut self.current).chain(self.retired.iter_mut()).find(|k| k.id() == id)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &K> {
        core::iter::once(&self.current).chain(self.retired.iter())
    }

    /// Makes `make(id)` current; the previous key stays usable for
    /// `grace_secs` after `now`. Returns the ids dropped (expired, or past
    /// the retired cap).
    pub(crate) fn rotate(
        &mut self,
        now: u64,
        grace_secs: u64,
        make: impl FnOnce(u32) -> K,
    ) -> Result<Vec<u32>, PreKeyError> {
        if grace_secs > MAX_SIGNED_PREKEY_GRACE_SECS {
            return Err(PreKeyError::GracePeriodTooLong { got: grace_secs, max: MAX_SIGNED_PREKEY_GRACE_SECS });
        }
        let id = self.next_id;
        let next_id = id.checked_add(1).ok_or(PreKeyError::IdsExhausted)?;
        let mut old = core::mem::replace(&mut self.current, make(id));
        old.retire(now.saturating_add(grace_secs));
        self.retired.push(old);
        self.next_id = next_id;
        let mut dropped = self.expire(now);
        while self.retired.len() > MAX_RETIRED_SIGNED_PREKEYS {
            dropped.push(self.retired.remove(0).id());
        }
        Ok(dropped)
    }

    /// Drops (and so zeroizes) retired keys whose grace period is over.
    /// Returns their ids.
    pub(crate) fn expire(&mut self, now: u64) -> Vec<u32> {
        let (keep, gone): (Vec<K>, Vec<K>) =
            core::mem::take(&mut self.retired).into_iter().partition(|k| k.expires_at().is_some_and(|t| now < t));
        self.retired = keep;
        gone.iter().map(Retirable::id).collect()
    }
}

/// A key that can be published once: one-time prekeys of either kind.
pub(crate) trait OneTimeKey {
    fn is_published(&self) -> bool;
    fn publish(&mut self);
}

/// Stored one-time keys by id, with the next id to hand out.
#[derive(Clone)]
pub(crate) struct OneTimeStore<K> {
    pub(crate) keys: BTreeMap<u32, K>,
    pub(crate) next_id: u32,
}

impl<K> Default for OneTimeStore<K> {
    fn default() -> Self {
        Self { keys: BTreeMap::new(), next_id: 1 }
    }
}

impl<K: OneTimeKey> OneTimeStore<K> {
    /// Whether `count` more keys fit under `max` and within the ids left:
    /// the id after the last of them, or the refusal [`Self::generate`]
    /// would give.
    pub(crate) fn check_room(&self, count: usize, max: usize) -> Result<u32, PreKeyError> {
        let stored = self.keys.len();
        if stored.saturating_add(count) > max {
            return Err(PreKeyError::TooManyOneTimePreKeys { stored, requested: count, max });
        }
        let count_u32 = u32::try_from(count).map_err(|_| PreKeyError::IdsExhausted)?;
        self.next_id.checked_add(count_u32).ok_or(PreKeyError::IdsExhausted)
    }

    /// Deletes the oldest published keys, never one of the newest
    /// `keep_newest` published ones, so that `adding` more keys fit under
    /// `max` (as far as that allows). Returns how many were deleted and
    /// how many keys fit now, at most `adding`.
    pub(crate) fn make_room(&mut self, adding: usize, keep_newest: usize, max: usize) -> (usize, usize) {
        let published = self.published_ids();
        let excess = self.keys.len().saturating_add(adding).saturating_sub(max);
        let deletable = published.len().saturating_sub(keep_newest);
        let doomed: Vec<u32> = published.into_iter().take(excess.min(deletable)).collect();
        let removed = self.remove(&doomed);
        (removed, adding.min(max.saturating_sub(self.keys.len())))
    }

    /// Adds `count` keys made by `make(id)`, refusing to pass `max`.
    /// Returns the new ids.
    pub(crate) fn generate(
        &mut self,
        count: usize,
        max: usize,
        mut make: impl FnMut(u32) -> K,
    ) -> Result<Vec<u32>, PreKeyError> {
        let end = self.check_room(count, max)?;
        let ids: Vec<u32> = (self.next_id..end).collect();
        for id in &ids {
            self.keys.insert(*id, make(*id));
        }
        self.next_id = end;
        Ok(ids)
    }

    pub(crate) fn unpublished(&self) -> impl Iterator<Item = (u32, &K)> {
        self.keys.iter().filter(|(_, k)| !k.is_published()).map(|(id, k)| (*id, k))
    }

    pub(crate) fn published_ids(&self) -> Vec<u32> {
        self.keys.iter().filter(|(_, k)| k.is_published()).map(|(id, _)| *id).collect()
    }

    /// Marks keys published; refuses (marking none) if any id is unknown.
    pub(crate) fn mark_published(&mut self, ids: &[u32]) -> Result<(), PreKeyError> {
        if let Some(id) = ids.iter().find(|id| !self.keys.contains_key(id)) {
            return Err(PreKeyError::UnknownOneTimePreKey { id: *id });
        }
        for id in ids {
            if let Some(k) = self.keys.get_mut(id) {
                k.publish();
            }
        }
        Ok(())
    }

    pub(crate) fn unused_published(&self) -> usize {
        self.keys.values().filter(|k| k.is_published()).count()
    }

    pub(crate) fn remove(&mut self, ids: &[u32]) -> usize {
        ids.iter().filter(|id| self.keys.remove(id).is_some()).count()
    }
}

/// An entry of a replay record: the last-resort PQ prekey used (none for
/// classic X3DH) and the initiator's base key.
pub(crate) type ReplayEntry = (Option<u32>, [u8; 32]);

/// A signed prekey with its private key and its replay record.
#[derive(Clone)]
pub(crate) struct SignedPreKey {
    pub(crate) id: u32,
    pub(crate) pair: X25519KeyPair,
    pub(crate) signature: [u8; SIGNATURE_LEN],
    /// The capability bits signed with it.
    pub(crate) capabilities: u8,
    /// `None` for the current signed prekey; the end of the grace period
    /// for a retired one.
    pub(crate) expires_at: Option<u64>,
    /// First messages accepted or declined that used this signed prekey
    /// and no one-time prekey of either kind (X3DH §4.2), keyed as
    /// (last-resort PQ prekey id, base key).
    pub(crate) replay_record: BTreeSet<ReplayEntry>,
}

impl SignedPreKey {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(
        identity: &IdentityKeyPair,
        id: u32,
        capabilities: u8,
        rng: &mut R,
    ) -> Self {
        let pair = X25519KeyPair::generate(rng);
        let signature = identity.signing().sign(&signed_message(id, &pair.public(), capabilities));
        Self { id, pair, signature, capabilities, expires_at: None, replay_record: BTreeSet::new() }
    }

    pub(crate) fn public(&self) -> SignedPreKeyPublic {
        SignedPreKeyPublic {
            id: self.id,
            key: self.pair.public(),
            signature: self.signature,
            capabilities: self.capabilities,
        }
    }
}

/// One one-time X25519 prekey.
#[derive(Clone)]
pub(crate) struct OneTimePreKey {
    pub(crate) pair: X25519KeyPair,
    pub(crate) published: bool,
}

/// A PQ prekey of either kind with its private seed.
#[derive(Clone)]
pub(crate) struct PqPreKey {
    pub(crate) kind: PqPreKeyKind,
    pub(crate) id: u32,
    pub(crate) pair: MlKemKeyPair,
    pub(crate) signature: [u8; SIGNATURE_LEN],
    /// One-time keys: whether uploaded. Last-resort keys: unused.
    pub(crate) published: bool,
    /// Last-resort keys: `None` while current, the end of the grace
    /// period once retired. One-time keys: `None`.
    pub(crate) expires_at: Option<u64>,
}

impl PqPreKey {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(
        identity: &IdentityKeyPair,
        kind: PqPreKeyKind,
        id: u32,
        rng: &mut R,
    ) -> Self {
        // The last-resort key serves many first messages: keep it expanded.
        let pair = MlKemKeyPair::generate(rng, kind == PqPreKeyKind::LastResort);
        let signature = identity.signing().sign(&pq_signed_message(kind, id, pair.public()));
        Self { kind, id, pair, signature, published: false, expires_at: None }
    }

    pub(crate) fn public(&self) -> PqPreKeyPublic {
        PqPreKeyPublic { kind: self.kind, id: self.id, key: self.pair.public().clone(), signature: self.signature }
    }
}

/// Implements [`Retirable`] for a key type with `id` and `expires_at`
/// fields.
macro_rules! retirable {
    ($ty:ty) => {
        impl Retirable for $ty {
            fn id(&self) -> u32 {
                self.id
            }
            fn expires_at(&self) -> Option<u64> {
                self.expires_at
            }
            fn retire(&mut self, expires_at: u64) {
                self.expires_at = Some(expires_at);
            }
        }
    };
}

/// Implements [`OneTimeKey`] for a key type with a `published` field.
macro_rules! one_time_key {
    ($ty:ty) => {
        impl OneTimeKey for $ty {
            fn is_published(&self) -> bool {
                self.published
            }
            fn publish(&mut self) {
                self.published = true;
            }
        }
    };
}

retirable!(SignedPreKey);
retirable!(PqPreKey);
one_time_key!(OneTimePreKey);
one_time_key!(PqPreKey);

/// All of an account's prekeys.
#[derive(Clone)]
pub(crate) struct PreKeys {
    pub(crate) signed: Rotation<SignedPreKey>,
    pub(crate) one_time: OneTimeStore<OneTimePreKey>,
    pub(crate) last_resort_pq: Rotation<PqPreKey>,
    pub(crate) one_time_pq: OneTimeStore<PqPreKey>,
    /// When the current signed prekey became current (the `now` of its
    /// rotation), if known: `None` for an account's first signed prekey
    /// until prekey maintenance dates it.
    pub(crate) signed_since: Option<u64>,
}

impl PreKeys {
    /// A new account's prekeys; its signed prekey signs `capabilities`.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(identity: &IdentityKeyPair, capabilities: u8, rng: &mut R) -> Self {
        Self {
            signed: Rotation {
                current: SignedPreKey::generate(identity, 1, capabilities, rng),
                retired: Vec::new(),
                next_id: 2,
            },
            one_time: OneTimeStore::default(),
            last_resort_pq: Rotation {
                current: PqPreKey::generate(identity, PqPreKeyKind::LastResort, 1, rng),
                retired: Vec::new(),
                next_id: 2,
            },
            one_time_pq: OneTimeStore::default(),
            signed_since: None,
        }
    }

    /// The PQ prekey of this kind and id, if usable at `now`.
    pub(crate) fn pq_usable(&self, kind: PqPreKeyKind, id: u32, now: u64) -> Option<&PqPreKey> {
        match kind {
            PqPreKeyKind::OneTime => self.one_time_pq.keys.get(&id),
            PqPreKeyKind::LastResort => self.last_resort_pq.get_usable(id, now),
        }
    }

    /// Drops expired retired keys of both rotations, and with a
    /// last-resort PQ prekey, the replay entries that name it.
    pub(crate) fn expire(&mut self, now: u64) -> usize {
        let signed = self.signed.expire(now).len();
        let pq = self.last_resort_pq.expire(now);
        self.forget_pq_replays(&pq);
        signed.saturating_add(pq.len())
    }

    pub(crate) fn forget_pq_replays(&mut self, pq_ids: &[u32]) {
        if pq_ids.is_empty() {
            return;
        }
        for spk in core::iter::once(&mut self.signed.current).chain(self.signed.retired.iter_mut()) {
            spk.replay_record.retain(|(pq, _)| pq.is_none_or(|id| !pq_ids.contains(&id)));
        }
    }
}
