//! A prekey directory, for servers: it keeps what devices upload and
//! hands out prekey bundles (docs/PROTOCOL.md §4.6–§4.8).
//!
//! It holds no secret. Devices upload an [`IdentityUpload`] (identity,
//! signed prekey, last-resort PQ prekey; again after each rotation) and
//! [`PreKeyBatch`]es of one-time prekeys; [`Directory`] checks each
//! against the identity's signatures before anything is stored, keeps the
//! newest identity upload, refuses batches sent again, and hands out
//! bundles that each claim one one-time prekey of each kind, never the
//! same one twice (also under concurrent claims: the claim is one
//! transaction of the [`DirectoryStore`]). When one-time prekeys run out a
//! bundle carries the signed prekey and the last-resort PQ prekey only,
//! which still starts a PQXDH session. [`PreKeyCounts`] report what is
//! left so the server can ask the device to top up.
//!
//! Which address a device may upload for is the server's business (its
//! own login); the directory only makes sure an address keeps one
//! identity until the server removes the device
//! ([`Directory::remove_device`], for a reinstall).
//!
//! ```
//! use dmseal::directory::{Directory, MemoryDirectory};
//! use dmseal::{Account, Address};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let directory = Directory::new(MemoryDirectory::new());
//! let bob = Address::new("bob", 1)?;
//!
//! // Bob's device uploads its identity and a batch of one-time prekeys.
//! let mut account = Account::new();
//! directory.publish_identity(&bob, &account.identity_upload(1_700_000_000).encode())?;
//! let counts = directory.publish_prekeys(&bob, &account.publish_prekeys(2, 1)?.encode())?;
//! assert_eq!((counts.one_time, counts.pq_one_time), (2, 1));
//!
//! // Each claim takes one one-time prekey of each kind while they last.
//! let first = directory.claim_bundle(&bob)?;
//! assert!(first.bundle.one_time_prekey().is_some() && first.bundle.pq_prekey().is_some());
//! let second = directory.claim_bundle(&bob)?;
//! assert!(second.low); // below the low-water mark: ask Bob to top up
//! let third = directory.claim_bundle(&bob)?;
//! assert!(third.bundle.one_time_prekey().is_none()); // the last-resort keys only
//! assert_eq!(third.left.one_time, 0);
//! # Ok(()) }
//! ```

mod error;
mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
#[cfg(test)]
mod tests;
mod upload;

use sha2::{Digest, Sha256};

pub use self::error::DirectoryError;
pub use self::memory::MemoryDirectory;
#[cfg(feature = "sqlite")]
pub use self::sqlite::{DIRECTORY_SCHEMA_VERSION, SqliteDirectory};
pub use self::store::{Claim, DeviceRow, DirectoryStore};
pub use self::upload::{IdentityUpload, PreKeyBatch};
use crate::address::Address;
use crate::bundle::PreKeyBundle;
use crate::prekeys::{MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS, OneTimePreKeyPublic, PqPreKeyPublic};
use crate::wire::Reader;

/// The default low-water mark of one-time X25519 prekeys: a claim that
/// leaves fewer than 20 sets [`ClaimedBundle::low`].
pub const DEFAULT_LOW_WATER_ONE_TIME: u32 = 20;

/// The default low-water mark of one-time PQ prekeys: 10.
pub const DEFAULT_LOW_WATER_PQ_ONE_TIME: u32 = 10;

/// How many one-time prekeys of each kind a directory holds for a device.
/// At most [`MAX_ONE_TIME_PREKEYS`] and [`MAX_PQ_ONE_TIME_PREKEYS`]: the
/// directory refuses batches past that, as the device's own account does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PreKeyCounts {
    /// One-time X25519 prekeys.
    pub one_time: u32,
    /// One-time PQ (ML-KEM-768) prekeys.
    pub pq_one_time: u32,
}

impl PreKeyCounts {
    /// Counts of each kind.
    pub fn new(one_time: u32, pq_one_time: u32) -> Self {
        Self { one_time, pq_one_time }
    }
}

/// A bundle handed out by [`Directory::claim_bundle`], with what is left.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimedBundle {
    /// The bundle to give the initiator.
    pub bundle: PreKeyBundle,
    /// One-time prekeys left for the device after this claim.
    pub left: PreKeyCounts,
    /// Whether either count is below the directory's low-water mark (the
    /// PQ count only for a device that publishes PQ prekeys): time to ask
    /// the device to upload a batch.
    pub low: bool,
}

/// A prekey directory over a [`DirectoryStore`]: the rules of
/// docs/PROTOCOL.md §4.8 (what is accepted, what is handed out), the
/// store only keeps rows.
#[derive(Debug)]
pub struct Directory<S> {
    store: S,
    low_water: PreKeyCounts,
}

impl<S: DirectoryStore> Directory<S> {
    /// A directory over `store`, with the default low-water marks
    /// ([`DEFAULT_LOW_WATER_ONE_TIME`], [`DEFAULT_LOW_WATER_PQ_ONE_TIME`]).
    pub fn new(store: S) -> Self {
        Self { store, low_water: PreKeyCounts::new(DEFAULT_LOW_WATER_ONE_TIME, DEFAULT_LOW_WATER_PQ_ONE_TIME) }
    }

    /// The same directory, reporting [`ClaimedBundle::low`] below these
    /// counts instead.
    #[must_use]
    pub fn with_low_water(mut self, low_water: PreKeyCounts) -> Self {
        self.low_water = low_water;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Checks and stores a device's [`IdentityUpload`] (its bytes). The
    /// first upload for an address binds the address to the identity. A
    /// later one replaces it only if it has the same identity, and its
    /// signed prekey id, last-resort PQ prekey id and date are each at
    /// least the stored one's (rotation only moves forward); the same
    /// bytes again are accepted and change nothing.
    ///
    /// # Errors
    ///
    /// [`DirectoryError::Malformed`], [`DirectoryError::BadSignature`],
    /// [`DirectoryError::MissingPqPreKey`],
    /// [`DirectoryError::UnexpectedPqPreKey`],
    /// [`DirectoryError::IdentityChanged`], [`DirectoryError::StaleUpload`],
    /// or [`DirectoryError::Store`]; nothing is stored then.
    pub fn publish_identity(&self, device: &Address, upload: &[u8]) -> Result<(), DirectoryError> {
        let new = IdentityUpload::decode(upload)?;
        new.verify()?;
        // A link statement names the device it is about.
        if new.device_link().is_some_and(|l| l.device() != device) {
            return Err(DirectoryError::Malformed(crate::DecodeError::LinkMismatch));
        }
        let Some(row) = self.store.load(device)? else {
            let row = DeviceRow::new(upload.to_vec());
            return Ok(self.store.save(device, None, &row, &[], &[])?);
        };
        let old = stored_upload(&row)?;
        if old.identity() != new.identity() {
            return Err(DirectoryError::IdentityChanged);
        }
        if row.upload == upload {
            return Ok(());
        }
        if ordering_key(&new).iter().zip(ordering_key(&old)).any(|(n, o)| *n < o) {
            return Err(DirectoryError::StaleUpload);
        }
        let mut next = row.clone();
        next.upload = upload.to_vec();
        Ok(self.store.save(device, Some(row.version), &next, &[], &[])?)
    }

    /// Checks and stores a device's [`PreKeyBatch`] (its bytes), after
    /// its identity upload. Its ids must be above every id the directory
    /// has taken for the device before (so a batch sent again by someone
    /// else, whose keys may have been claimed, is refused); the device's
    /// last batch sent again is accepted and changes nothing (a retry).
    /// Returns the counts now held.
    ///
    /// # Errors
    ///
    /// [`DirectoryError::Malformed`], [`DirectoryError::BadSignature`],
    /// [`DirectoryError::UnknownDevice`], [`DirectoryError::IdentityChanged`],
    /// [`DirectoryError::StaleUpload`], [`DirectoryError::Full`] or
    /// [`DirectoryError::Store`]; nothing is stored then.
    pub fn publish_prekeys(&self, device: &Address, batch: &[u8]) -> Result<PreKeyCounts, DirectoryError> {
        let parsed = PreKeyBatch::decode(batch)?;
        parsed.verify()?;
        let row = self.store.load(device)?.ok_or(DirectoryError::UnknownDevice)?;
        if stored_upload(&row)?.identity() != parsed.identity() {
            return Err(DirectoryError::IdentityChanged);
        }
        let digest: [u8; 32] = Sha256::digest(batch).into();
        if row.last_batch == digest {
            return Ok(row.counts);
        }
        let one_time = parsed.one_time_prekeys();
        let pq = parsed.pq_one_time_prekeys();
        if one_time.first().is_some_and(|k| k.id() <= row.one_time_mark)
            || pq.first().is_some_and(|k| k.id() <= row.pq_mark)
        {
            return Err(DirectoryError::StaleUpload);
        }
        check_room("one-time prekeys", row.counts.one_time, one_time.len(), MAX_ONE_TIME_PREKEYS)?;
        check_room("one-time PQ prekeys", row.counts.pq_one_time, pq.len(), MAX_PQ_ONE_TIME_PREKEYS)?;
        let mut next = row.clone();
        next.one_time_mark = one_time.last().map_or(row.one_time_mark, OneTimePreKeyPublic::id);
        next.pq_mark = pq.last().map_or(row.pq_mark, PqPreKeyPublic::id);
        next.last_batch = digest;
        let one_time: Vec<(u32, [u8; 32])> = one_time.iter().map(|k| (k.id(), *k.key().as_bytes())).collect();
        let pq: Vec<(u32, Vec<u8>)> = pq.iter().map(|k| (k.id(), pq_field(k))).collect();
        self.store.save(device, Some(row.version), &next, &one_time, &pq)?;
        // Counts as of the save; concurrent claims may have lowered them.
        let added = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(PreKeyCounts::new(
            row.counts.one_time.saturating_add(added(one_time.len())),
            row.counts.pq_one_time.saturating_add(added(pq.len())),
        ))
    }

    /// Hands out a bundle of the device: its signed prekey, its lowest-id
    /// one-time X25519 prekey if any is left, and its lowest-id one-time
    /// PQ prekey if any is left, else its last-resort PQ prekey. The
    /// one-time keys it carries are deleted in the same transaction, so
    /// no two claims get the same one.
    ///
    /// # Errors
    ///
    /// [`DirectoryError::UnknownDevice`] or [`DirectoryError::Store`].
    pub fn claim_bundle(&self, device: &Address) -> Result<ClaimedBundle, DirectoryError> {
        let claim = self.store.claim(device)?.ok_or(DirectoryError::UnknownDevice)?;
        let upload = IdentityUpload::decode(&claim.upload).map_err(corrupt)?;
        let one_time = match claim.one_time {
            Some((id, key)) => {
                let key = crate::X25519PublicKey::from_bytes(key).map_err(|e| corrupt(e.into()))?;
                Some(OneTimePreKeyPublic::new(id, key))
            }
            None => None,
        };
        let pq = match &claim.pq_one_time {
            Some(field) => Some(read_pq_field(field)?),
            None => upload.last_resort_pq_prekey().cloned(),
        };
        let bundle = PreKeyBundle::new(upload.identity().clone(), upload.signed_prekey().clone(), one_time, pq)
            .with_device_link(upload.device_link().cloned());
        // A classic-only device has no PQ prekeys to run low on.
        let pq_low = upload.last_resort_pq_prekey().is_some() && claim.left.pq_one_time < self.low_water.pq_one_time;
        let low = claim.left.one_time < self.low_water.one_time || pq_low;
        Ok(ClaimedBundle { bundle, left: claim.left, low })
    }

    /// The one-time prekey counts held for the device.
    ///
    /// # Errors
    ///
    /// [`DirectoryError::UnknownDevice`] or [`DirectoryError::Store`].
    pub fn counts(&self, device: &Address) -> Result<PreKeyCounts, DirectoryError> {
        Ok(self.store.load(device)?.ok_or(DirectoryError::UnknownDevice)?.counts)
    }

    /// The device's identity upload, as stored (its identity and current
    /// keys).
    ///
    /// # Errors
    ///
    /// [`DirectoryError::Store`].
    pub fn identity_upload(&self, device: &Address) -> Result<Option<IdentityUpload>, DirectoryError> {
        match self.store.load(device)? {
            Some(row) => Ok(Some(stored_upload(&row)?)),
            None => Ok(None),
        }
    }

    /// Deletes everything held for the device (a reinstall with a new
    /// identity starts over with a new identity upload). Returns whether
    /// there was anything.
    ///
    /// # Errors
    ///
    /// [`DirectoryError::Store`].
    pub fn remove_device(&self, device: &Address) -> Result<bool, DirectoryError> {
        Ok(self.store.remove(device)?)
    }
}

/// The stored identity upload of a row; it was verified when stored.
fn stored_upload(row: &DeviceRow) -> Result<IdentityUpload, DirectoryError> {
    IdentityUpload::decode(&row.upload).map_err(corrupt)
}

fn corrupt(_: crate::DecodeError) -> DirectoryError {
    DirectoryError::Store(crate::store::StoreError::Backend("a stored identity upload does not decode".into()))
}

/// Signed prekey id, last-resort PQ prekey id (0 without one) and date:
/// each may only grow from one stored upload to the next.
fn ordering_key(upload: &IdentityUpload) -> [u64; 3] {
    [
        u64::from(upload.signed_prekey().id()),
        upload.last_resort_pq_prekey().map_or(0, |k| u64::from(k.id())),
        upload.uploaded_at(),
    ]
}

fn check_room(what: &'static str, held: u32, adding: usize, max: usize) -> Result<(), DirectoryError> {
    let held = usize::try_from(held).unwrap_or(usize::MAX);
    if held.saturating_add(adding) > max {
        return Err(DirectoryError::Full { what, held, adding, max });
    }
    Ok(())
}

/// The 1,254-byte PQ prekey field (§4.2) a store keeps per PQ prekey.
fn pq_field(key: &PqPreKeyPublic) -> Vec<u8> {
    let mut w = crate::wire::Writer::default();
    key.write(&mut w);
    w.finish()
}

fn read_pq_field(field: &[u8]) -> Result<PqPreKeyPublic, DirectoryError> {
    let mut r = Reader::new(field);
    let key = PqPreKeyPublic::read(&mut r).map_err(corrupt)?;
    r.finish().map_err(corrupt)?;
    Ok(key)
}

#[cfg(test)]
mod vectors;
