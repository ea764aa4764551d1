//! Account pickles (docs/PROTOCOL.md §8.3).

use std::collections::{BTreeMap, BTreeSet};

use super::Account;
use crate::error::PickleError;
use crate::identity::IdentityKeyPair;
use crate::pickle::{
    AccountPickle, OneTimePreKeyPickle, PICKLE_VERSION, PqPreKeyPickle, ReplayEntryPickle, SignedPreKeyPickle,
};
use crate::prekeys::{
    MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS, MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY, MAX_RETIRED_SIGNED_PREKEYS,
    OneTimePreKey, OneTimeStore, PqPreKey, PqPreKeyKind, PreKeys, Retirable, Rotation, SignedPreKey,
};
use crate::primitives::dh::X25519KeyPair;
use crate::primitives::kem::MlKemKeyPair;
use crate::primitives::signature::Ed25519KeyPair;
use crate::x3dh::ClassicX3dh;

fn spk_to(k: &SignedPreKey) -> SignedPreKeyPickle {
    SignedPreKeyPickle {
        id: k.id,
        secret: *k.pair.secret_bytes(),
        signature: k.signature.to_vec(),
        capabilities: k.capabilities,
        expires_at: k.expires_at,
        replay_record: k
            .replay_record
            .iter()
            .map(|(pq, base)| ReplayEntryPickle { pq_prekey_id: *pq, base_key: *base })
            .collect(),
    }
}

fn spk_from(identity: &IdentityKeyPair, p: &SignedPreKeyPickle) -> Result<SignedPreKey, PickleError> {
    if p.replay_record.len() > MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY {
        return Err(PickleError::Invalid);
    }
    let key = SignedPreKey {
        id: p.id,
        pair: X25519KeyPair::from_secret_bytes(p.secret),
        signature: p.signature.as_slice().try_into().map_err(|_| PickleError::Invalid)?,
        capabilities: p.capabilities,
        expires_at: p.expires_at,
        replay_record: p.replay_record.iter().map(|e| (e.pq_prekey_id, e.base_key)).collect(),
    };
    // Ed25519 signing is deterministic: the stored signature must be the
    // one this identity makes for this id and key.
    if !key.public().verify(identity.public()) {
        return Err(PickleError::Invalid);
    }
    Ok(key)
}

fn pq_to(k: &PqPreKey) -> PqPreKeyPickle {
    PqPreKeyPickle {
        id: k.id,
        seed: k.pair.seed().to_vec(),
        signature: k.signature.to_vec(),
        published: k.published,
        expires_at: k.expires_at,
    }
}

fn pq_from(identity: &IdentityKeyPair, kind: PqPreKeyKind, p: &PqPreKeyPickle) -> Result<PqPreKey, PickleError> {
    let seed: &[u8; 64] = p.seed.as_slice().try_into().map_err(|_| PickleError::Invalid)?;
    let key = PqPreKey {
        kind,
        id: p.id,
        pair: MlKemKeyPair::from_seed(seed, kind == PqPreKeyKind::LastResort),
        signature: p.signature.as_slice().try_into().map_err(|_| PickleError::Invalid)?,
        published: p.published,
        expires_at: p.expires_at,
    };
    if !key.public().verify(identity.public()) || (kind == PqPreKeyKind::OneTime && p.expires_at.is_some()) {
        return Err(PickleError::Invalid);
    }
    Ok(key)
}

/// Restores a rotation (current first, then retired), checking the
/// retired cap, expiries, unique ids and the id counter.
fn rotation_from<K: Retirable>(items: Vec<K>, next_id: u32) -> Result<Rotation<K>, PickleError> {
    let mut items = items.into_iter();
    let current = items.next().ok_or(PickleError::Invalid)?;
    let retired: Vec<K> = items.collect();
    let mut ids = BTreeSet::new();
    let ok = retired.len() <= MAX_RETIRED_SIGNED_PREKEYS
        && current.expires_at().is_none()
        && retired.iter().all(|k| k.expires_at().is_some())
        && core::iter::once(&current).chain(retired.iter()).all(|k| ids.insert(k.id()) && k.id() < next_id);
    if !ok {
        return Err(PickleError::Invalid);
    }
    Ok(Rotation { current, retired, next_id })
}

fn store_from<K>(items: Vec<(u32, K)>, next_id: u32, max: usize) -> Result<OneTimeStore<K>, PickleError> {
    if items.len() > max {
        return Err(PickleError::Invalid);
    }
    let mut keys = BTreeMap::new();
    for (id, k) in items {
        if id >= next_id || keys.insert(id, k).is_some() {
            return Err(PickleError::Invalid);
        }
    }
    Ok(OneTimeStore { keys, next_id })
}

impl Account {
    /// A versioned snapshot of this account, to persist. See
    /// [`AccountPickle::encrypt`].
    ///
    /// ```
    /// use dmseal::{Account, AccountPickle};
    /// let key = [7u8; 32]; // the app's storage key, from the keychain
    /// let mut bob = Account::new();
    /// let keys = bob.generate_one_time_prekeys(5)?;
    /// // The account changed: persist it before uploading `keys`.
    /// let stored = bob.pickle().encrypt(&key);
    /// let restored = Account::from_pickle(&AccountPickle::from_encrypted(&stored, &key)?)?;
    /// assert_eq!(restored.unpublished_one_time_prekeys(), keys);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pickle(&self) -> AccountPickle {
        let p = &self.prekeys;
        AccountPickle {
            version: PICKLE_VERSION,
            signing_key: *self.identity.signing().secret_bytes(),
            agreement_key: *self.identity.agreement().secret_bytes(),
            signed_prekeys: p.signed.all().map(spk_to).collect(),
            next_signed_prekey_id: p.signed.next_id,
            one_time_prekeys: p
                .one_time
                .keys
                .iter()
                .map(|(id, k)| OneTimePreKeyPickle { id: *id, secret: *k.pair.secret_bytes(), published: k.published })
                .collect(),
            next_one_time_prekey_id: p.one_time.next_id,
            last_resort_pq_prekeys: p.last_resort_pq.all().map(pq_to).collect(),
            next_last_resort_pq_prekey_id: p.last_resort_pq.next_id,
            one_time_pq_prekeys: p.one_time_pq.keys.values().map(pq_to).collect(),
            next_one_time_pq_prekey_id: p.one_time_pq.next_id,
            classic_x3dh: self.classic_x3dh.to_byte(),
            signed_prekey_since: p.signed_since,
            device_link: self.device_link.as_ref().map(crate::link::DeviceLink::encode),
        }
    }

    /// Restores an account from a snapshot, checking every limit and
    /// every prekey signature, and re-expanding each PQ prekey from its
    /// seed (one ML-KEM-768 key generation each).
    ///
    /// Restoring an older snapshot than the account's latest state is
    /// unsafe: consumed one-time prekeys and replay records come back.
    ///
    /// ```
    /// use dmseal::Account;
    /// let mut bob = Account::new();
    /// let otk = bob.generate_one_time_prekeys(1)?[0].id();
    /// let older = bob.pickle();
    /// bob.remove_one_time_prekeys(&[otk]); // used up since
    /// let restored = Account::from_pickle(&bob.pickle())?;
    /// assert!(restored.one_time_prekey(otk).is_none());
    /// // An older snapshot brings the key back: never restore one.
    /// assert!(Account::from_pickle(&older)?.one_time_prekey(otk).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PickleError::UnsupportedVersion`] or [`PickleError::Invalid`].
    pub fn from_pickle(pickle: &AccountPickle) -> Result<Self, PickleError> {
        crate::pickle::check_version(pickle.version)?;
        let identity = IdentityKeyPair::from_parts(
            Ed25519KeyPair::from_secret_bytes(&pickle.signing_key),
            X25519KeyPair::from_secret_bytes(pickle.agreement_key),
        );
        if pickle.signed_prekeys.len() > MAX_RETIRED_SIGNED_PREKEYS + 1
            || pickle.last_resort_pq_prekeys.len() > MAX_RETIRED_SIGNED_PREKEYS + 1
        {
            return Err(PickleError::Invalid);
        }
        let signed = pickle.signed_prekeys.iter().map(|p| spk_from(&identity, p)).collect::<Result<_, _>>()?;
        let last_resort = pickle
            .last_resort_pq_prekeys
            .iter()
            .map(|p| pq_from(&identity, PqPreKeyKind::LastResort, p))
            .collect::<Result<_, _>>()?;
        if pickle.one_time_prekeys.len() > MAX_ONE_TIME_PREKEYS
            || pickle.one_time_pq_prekeys.len() > MAX_PQ_ONE_TIME_PREKEYS
        {
            return Err(PickleError::Invalid);
        }
        let one_time = pickle
            .one_time_prekeys
            .iter()
            .map(|p| (p.id, OneTimePreKey { pair: X25519KeyPair::from_secret_bytes(p.secret), published: p.published }))
            .collect();
        let one_time_pq = pickle
            .one_time_pq_prekeys
            .iter()
            .map(|p| pq_from(&identity, PqPreKeyKind::OneTime, p).map(|k| (p.id, k)))
            .collect::<Result<_, _>>()?;
        let prekeys = PreKeys {
            signed: rotation_from(signed, pickle.next_signed_prekey_id)?,
            one_time: store_from(one_time, pickle.next_one_time_prekey_id, MAX_ONE_TIME_PREKEYS)?,
            last_resort_pq: rotation_from(last_resort, pickle.next_last_resort_pq_prekey_id)?,
            one_time_pq: store_from(one_time_pq, pickle.next_one_time_pq_prekey_id, MAX_PQ_ONE_TIME_PREKEYS)?,
            signed_since: pickle.signed_prekey_since,
        };
        let classic_x3dh = ClassicX3dh::from_byte(pickle.classic_x3dh).ok_or(PickleError::Invalid)?;
        // A link statement must be about this account's identity.
        let device_link = match &pickle.device_link {
            Some(bytes) => {
                let link = crate::link::DeviceLink::decode(bytes).map_err(|_| PickleError::Invalid)?;
                if link.identity() != identity.public() {
                    return Err(PickleError::Invalid);
                }
                Some(link)
            }
            None => None,
        };
        Ok(Self { identity, prekeys, classic_x3dh, device_link })
    }
}
