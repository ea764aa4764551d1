//! An in-memory [`Store`]: for tests, for bots that keep state elsewhere,
//! and as the reference the SQLite store is checked against.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{ChangeSet, GroupStore, IdentityStore, PreKeyStore, SessionStore, Store, StoreError};
use crate::address::Address;

/// A [`Store`] in memory, behind one mutex. Commits are atomic (applied
/// under the lock) and numbered like any store's. Nothing survives the
/// process.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default, Clone)]
struct Inner {
    generation: u64,
    account: Option<Vec<u8>>,
    users: BTreeMap<String, Vec<u8>>,
    sessions: BTreeMap<Address, Vec<u8>>,
    requests: BTreeMap<Address, Vec<u8>>,
    groups: BTreeMap<Vec<u8>, Vec<u8>>,
    app: BTreeMap<(String, Vec<u8>), Vec<u8>>,
    /// The expiry of each application row that has one.
    expiries: BTreeMap<(String, Vec<u8>), u64>,
}

impl MemoryStore {
    /// An empty store at generation 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A commit cannot panic halfway (it only inserts into and removes
        // from maps), so the data behind a poisoned lock is consistent.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of this store's contents: what a backup taken now would
    /// restore (for tests of rollback detection).
    ///
    /// ```
    /// use dmseal::store::{MemoryStore, Store};
    /// use dmseal::{Address, ConversationConfig, Conversations};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (me, config) = (Address::new("alice", 1)?, ConversationConfig::new());
    /// let mut alice = Conversations::open(MemoryStore::new(), [7; 32], me.clone(), config)?;
    /// let backup = alice.store().snapshot();
    /// alice.set_devices("bob", &[1])?;
    /// // The backup is the store as it was: one commit behind, no Bob.
    /// assert_eq!((backup.generation()?, alice.store().generation()?), (1, 2));
    /// let restored = Conversations::open(backup, [7; 32], me, config)?;
    /// assert!(restored.devices("bob")?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn snapshot(&self) -> MemoryStore {
        MemoryStore { inner: Mutex::new(self.lock().clone()) }
    }
}

impl core::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryStore")
            .field("generation", &inner.generation)
            .field("users", &inner.users.len())
            .field("sessions", &inner.sessions.len())
            .field("requests", &inner.requests.len())
            .field("groups", &inner.groups.len())
            .field("app_rows", &inner.app.len())
            .finish_non_exhaustive()
    }
}

fn apply<K: Ord + Clone>(map: &mut BTreeMap<K, Vec<u8>>, key: &K, value: Option<&[u8]>) {
    match value {
        Some(v) => {
            map.insert(key.clone(), v.to_vec());
        }
        None => {
            map.remove(key);
        }
    }
}

impl PreKeyStore for MemoryStore {
    fn load_account(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().account.clone())
    }
}

impl IdentityStore for MemoryStore {
    fn load_user(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().users.get(user).cloned())
    }

    fn user_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().users.keys().cloned().collect())
    }
}

impl SessionStore for MemoryStore {
    fn load_sessions(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().sessions.get(address).cloned())
    }

    fn load_request(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().requests.get(address).cloned())
    }

    fn request_addresses(&self) -> Result<Vec<Address>, StoreError> {
        Ok(self.lock().requests.keys().cloned().collect())
    }

    fn session_addresses(&self) -> Result<Vec<Address>, StoreError> {
        Ok(self.lock().sessions.keys().cloned().collect())
    }
}

impl GroupStore for MemoryStore {
    fn load_group(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().groups.get(group_id).cloned())
    }

    fn group_ids(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.lock().groups.keys().cloned().collect())
    }
}

impl Store for MemoryStore {
    fn generation(&self) -> Result<u64, StoreError> {
        Ok(self.lock().generation)
    }

    fn commit(&self, expected: u64, changes: &ChangeSet) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        if inner.generation != expected {
            return Err(StoreError::Conflict { expected, found: inner.generation });
        }
        // Nothing below can fail, so applying in place under the lock is
        // all or nothing (and costs only the rows changed, not a copy of
        // the store).
        let next = &mut *inner;
        if let Some(account) = &changes.account {
            next.account = Some(account.clone());
        }
        for (user, value) in &changes.users {
            apply(&mut next.users, user, value.as_deref());
        }
        for (address, value) in &changes.sessions {
            apply(&mut next.sessions, address, value.as_deref());
        }
        for (address, value) in &changes.requests {
            apply(&mut next.requests, address, value.as_deref());
        }
        for (group, value) in &changes.groups {
            apply(&mut next.groups, group, value.as_deref());
        }
        for w in &changes.app {
            let name = (w.namespace().to_owned(), w.key().to_vec());
            match w.expiry() {
                Some(at) => next.expiries.insert(name.clone(), at),
                None => next.expiries.remove(&name),
            };
            apply(&mut next.app, &name, w.value());
        }
        next.generation = expected.saturating_add(1);
        Ok(next.generation)
    }

    fn app_row(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().app.get(&(namespace.to_owned(), key.to_vec())).cloned())
    }

    fn purge_expired(&self, now: u64) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let expired: Vec<(String, Vec<u8>)> =
            inner.expiries.iter().filter(|(_, at)| **at <= now).map(|(name, _)| name.clone()).collect();
        for name in &expired {
            inner.expiries.remove(name);
            if let Some(mut value) = inner.app.remove(name) {
                zeroize::Zeroize::zeroize(&mut value);
            }
        }
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_memory_store_passes_the_store_conformance_checks() {
        super::super::conformance::check(super::MemoryStore::new);
    }
}
