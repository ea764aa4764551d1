//! [`MemoryDirectory`]: a [`DirectoryStore`] in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::PreKeyCounts;
use super::store::{Claim, DeviceRow, DirectoryStore};
use crate::address::Address;
use crate::store::StoreError;

/// One device's row and one-time prekeys.
#[derive(Default)]
struct Device {
    row: Option<DeviceRow>,
    one_time: BTreeMap<u32, [u8; 32]>,
    pq_one_time: BTreeMap<u32, Vec<u8>>,
}

impl Device {
    fn counts(&self) -> PreKeyCounts {
        let n = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
        PreKeyCounts::new(n(self.one_time.len()), n(self.pq_one_time.len()))
    }
}

/// A [`DirectoryStore`] in memory, behind one lock: for tests, and for a
/// server that keeps its directory elsewhere and rebuilds it.
#[derive(Default)]
pub struct MemoryDirectory {
    devices: Mutex<HashMap<Address, Device>>,
}

impl core::fmt::Debug for MemoryDirectory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryDirectory").field("devices", &self.lock().len()).finish()
    }
}

impl MemoryDirectory {
    /// An empty directory store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Address, Device>> {
        // Every change below is applied after its checks, in one step per
        // map, so a panic cannot leave a half-applied change behind.
        self.devices.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DirectoryStore for MemoryDirectory {
    fn load(&self, device: &Address) -> Result<Option<DeviceRow>, StoreError> {
        let devices = self.lock();
        Ok(devices.get(device).and_then(|d| {
            let mut row = d.row.clone()?;
            row.counts = d.counts();
            Some(row)
        }))
    }

    fn save(
        &self,
        device: &Address,
        expected: Option<u64>,
        row: &DeviceRow,
        one_time: &[(u32, [u8; 32])],
        pq_one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut devices = self.lock();
        let found = devices.get(device).and_then(|d| d.row.as_ref()).map(|r| r.version);
        if found != expected {
            return Err(StoreError::Conflict { expected: expected.unwrap_or(0), found: found.unwrap_or(0) });
        }
        let entry = devices.entry(device.clone()).or_default();
        let mut stored = row.clone();
        stored.version = found.map_or(1, |v| v.saturating_add(1));
        entry.row = Some(stored);
        entry.one_time.extend(one_time.iter().copied());
        entry.pq_one_time.extend(pq_one_time.iter().cloned());
        Ok(())
    }

    fn claim(&self, device: &Address) -> Result<Option<Claim>, StoreError> {
        let mut devices = self.lock();
        let Some(entry) = devices.get_mut(device) else { return Ok(None) };
        let Some(row) = &entry.row else { return Ok(None) };
        let upload = row.upload.clone();
        let one_time = entry.one_time.pop_first();
        let pq_one_time = entry.pq_one_time.pop_first().map(|(_, field)| field);
        Ok(Some(Claim { upload, one_time, pq_one_time, left: entry.counts() }))
    }

    fn remove(&self, device: &Address) -> Result<bool, StoreError> {
        Ok(self.lock().remove(device).is_some_and(|d| d.row.is_some()))
    }
}
