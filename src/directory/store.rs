//! Where a [`super::Directory`] keeps its rows: the [`DirectoryStore`]
//! trait. The rules (what is accepted) are the directory's; a store keeps
//! rows, writes them only if nobody wrote in between, and claims one-time
//! prekeys atomically.

use super::PreKeyCounts;
use crate::address::Address;
use crate::store::StoreError;

/// What a directory keeps per device, besides its one-time prekeys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs, reason = "a plain row that store implementations build and read")]
pub struct DeviceRow {
    /// The identity upload's bytes (docs/PROTOCOL.md §4.6), verified when
    /// stored.
    pub upload: Vec<u8>,
    /// The highest one-time X25519 prekey id ever stored (0 for none).
    pub one_time_mark: u32,
    /// The highest one-time PQ prekey id ever stored (0 for none).
    pub pq_mark: u32,
    /// SHA-256 of the last batch stored (zeros for none).
    pub last_batch: [u8; 32],
    /// Counts up by one with every save; set by the store.
    pub version: u64,
    /// The one-time prekeys held now; set by the store when loading.
    pub counts: PreKeyCounts,
}

impl DeviceRow {
    /// The row of a device's first identity upload.
    pub fn new(upload: Vec<u8>) -> Self {
        Self { upload, one_time_mark: 0, pq_mark: 0, last_batch: [0; 32], version: 0, counts: PreKeyCounts::default() }
    }
}

/// What [`DirectoryStore::claim`] took for a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs, reason = "a plain row that store implementations build and read")]
pub struct Claim {
    /// The device's identity upload bytes.
    pub upload: Vec<u8>,
    /// The lowest-id one-time X25519 prekey (id, key), now deleted.
    pub one_time: Option<(u32, [u8; 32])>,
    /// The lowest-id one-time PQ prekey's 1,254-byte field (§4.2), now
    /// deleted.
    pub pq_one_time: Option<Vec<u8>>,
    /// The one-time prekeys left after this claim.
    pub left: PreKeyCounts,
}

/// Storage for a [`super::Directory`]: [`super::MemoryDirectory`],
/// [`super::SqliteDirectory`], or the server's own database. Every method
/// is one transaction; several processes may share one store.
pub trait DirectoryStore {
    /// The device's row with its counts, if it has one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the storage fails.
    fn load(&self, device: &Address) -> Result<Option<DeviceRow>, StoreError>;

    /// Writes `row` (its `upload`, marks and `last_batch`) for the device
    /// and adds the one-time prekeys (`(id, key)` and `(id, PQ prekey
    /// field)`), in one transaction, if the stored row's version is still
    /// `expected` (`None`: no row yet); the stored version becomes one
    /// more.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] if the row changed (nothing written), or
    /// [`StoreError::Backend`].
    fn save(
        &self,
        device: &Address,
        expected: Option<u64>,
        row: &DeviceRow,
        one_time: &[(u32, [u8; 32])],
        pq_one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError>;

    /// In one transaction: deletes and returns the device's lowest-id
    /// one-time prekey of each kind (if any), with its identity upload
    /// and the counts left. `None` if the device has no row. Two claims
    /// never return the same key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn claim(&self, device: &Address) -> Result<Option<Claim>, StoreError>;

    /// Deletes the device's row and one-time prekeys; whether it had a row.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn remove(&self, device: &Address) -> Result<bool, StoreError>;
}

impl<T: DirectoryStore + ?Sized> DirectoryStore for std::sync::Arc<T> {
    fn load(&self, device: &Address) -> Result<Option<DeviceRow>, StoreError> {
        (**self).load(device)
    }
    fn save(
        &self,
        device: &Address,
        expected: Option<u64>,
        row: &DeviceRow,
        one_time: &[(u32, [u8; 32])],
        pq_one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        (**self).save(device, expected, row, one_time, pq_one_time)
    }
    fn claim(&self, device: &Address) -> Result<Option<Claim>, StoreError> {
        (**self).claim(device)
    }
    fn remove(&self, device: &Address) -> Result<bool, StoreError> {
        (**self).remove(device)
    }
}
