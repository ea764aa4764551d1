//! Decoded records in memory: the bounded cache of committed records, and
//! [`Pending`], the records an operation (or a batch) changed and has not
//! committed yet.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use rand_core::CryptoRng;

use super::record::SessionRecord;
use super::user::{DeviceRecordPickle, UserRecord};
use crate::account::Account;
use crate::address::Address;
use crate::group::Group;
use crate::pickle;
use crate::store::ChangeSet;

/// How many records of each kind (sessions, message requests, users,
/// groups) a [`crate::Conversations`] keeps decoded in memory, so that a
/// message to or from a recent peer does not reopen its records from the
/// store (about 100 µs each: decryption and the identity checks). Past it
/// that kind's cache is emptied and refills with use. The cache holds only
/// committed records; a commit by another writer (the store generation
/// moving) empties it.
pub const MAX_CACHED_RECORDS: usize = 4096;

/// Committed records, valid at `Conversations::generation`. Records are
/// taken out for an operation and come back when it ends (see `sync`).
#[derive(Default)]
pub(super) struct RecordCache {
    pub(super) sessions: HashMap<Address, SessionRecord>,
    /// `None` remembers that an address has no message request (most
    /// have none), so a receive need not ask the store.
    pub(super) requests: HashMap<Address, Option<SessionRecord>>,
    pub(super) users: HashMap<String, UserRecord>,
    pub(super) groups: HashMap<Vec<u8>, Group>,
}

/// Inserts into a bounded map: a full map is emptied first.
fn keep<K: Eq + Hash, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_CACHED_RECORDS && !map.contains_key(&key) {
        map.clear();
    }
    map.insert(key, value);
}

impl RecordCache {
    pub(super) fn clear(&mut self) {
        self.sessions.clear();
        self.requests.clear();
        self.users.clear();
        self.groups.clear();
    }

    pub(super) fn keep_session(&mut self, address: Address, record: SessionRecord) {
        keep(&mut self.sessions, address, record);
    }

    pub(super) fn keep_request(&mut self, address: Address, record: Option<SessionRecord>) {
        keep(&mut self.requests, address, record);
    }

    pub(super) fn keep_user(&mut self, user: String, record: UserRecord) {
        keep(&mut self.users, user, record);
    }

    pub(super) fn keep_group(&mut self, id: Vec<u8>, group: Group) {
        keep(&mut self.groups, id, group);
    }
}

/// Records changed and not committed: what one operation computed, what a
/// [`crate::Received`] carries to its commit, or a staged batch (the
/// overlay, which no cache bound ever evicts). Sealed only when committed.
#[derive(Default)]
pub(super) struct Pending {
    /// Boxed: an account is large, and most operations do not change it.
    pub(super) account: Option<Box<Account>>,
    pub(super) sessions: BTreeMap<Address, SessionRecord>,
    /// `None` deletes the request.
    pub(super) requests: BTreeMap<Address, Option<SessionRecord>>,
    pub(super) users: BTreeMap<String, UserRecord>,
    pub(super) groups: BTreeMap<Vec<u8>, Group>,
}

impl Pending {
    /// Adds `later`'s records; a record in both ends as `later` has it.
    pub(super) fn merge(&mut self, later: Pending) {
        let Pending { account, sessions, requests, users, groups } = later;
        if account.is_some() {
            self.account = account;
        }
        self.sessions.extend(sessions);
        self.requests.extend(requests);
        self.users.extend(users);
        self.groups.extend(groups);
    }

    /// The store rows of these records, each sealed under `key`.
    pub(super) fn seal<R: CryptoRng + ?Sized>(&self, me: &Address, key: &[u8; 32], rng: &mut R) -> ChangeSet {
        let mut changes = ChangeSet::default();
        if let Some(account) = &self.account {
            changes.account = Some(pickle::encrypt(&DeviceRecordPickle::new(me, account), key, rng));
        }
        for (address, record) in &self.sessions {
            changes.set_session(address, Some(pickle::encrypt(&record.pickle(), key, rng)));
        }
        for (address, record) in &self.requests {
            changes.set_request(address, record.as_ref().map(|r| pickle::encrypt(&r.pickle(), key, rng)));
        }
        for (user, record) in &self.users {
            changes.set_user(user, Some(pickle::encrypt(&record.pickle(), key, rng)));
        }
        for (id, group) in &self.groups {
            changes.set_group(id, Some(group.pickle().encrypt_with_rng(rng, key)));
        }
        changes
    }

    /// Moves committed records into `cache`; returns the new account.
    pub(super) fn into_cache(self, cache: &mut RecordCache) -> Option<Box<Account>> {
        let Pending { account, sessions, requests, users, groups } = self;
        for (address, record) in sessions {
            cache.keep_session(address, record);
        }
        for (address, record) in requests {
            cache.keep_request(address, record);
        }
        for (user, record) in users {
            cache.keep_user(user, record);
        }
        for (id, group) in groups {
            cache.keep_group(id, group);
        }
        account
    }
}
