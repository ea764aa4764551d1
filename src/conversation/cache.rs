//! Decoded records in memory: the bounded cache of committed records, and
//! [`Pending`], the records an operation (or a batch) changed and has not
//! committed yet.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use rand_core::CryptoRng;

use super::config::ConversationConfig;
use super::record::{SessionRecord, SessionRecordPickle};
use super::resend::{OUTBOX_NAMESPACE, OutboxRowPickle, row_key};
use super::user::{DeviceRecordPickle, UserRecord, UserRecordPickle};
use super::{ConversationError, Conversations};
use crate::account::Account;
use crate::address::{Address, check_user_id};
use crate::group::{Group, GroupPickle};
use crate::pickle;
use crate::store::{AppWrite, ChangeSet, Store};

/// How many records of each kind (sessions, message requests, users,
/// groups) a [`crate::Conversations`] keeps decoded in memory, so that a
/// message to or from a recent peer does not reopen its records from the
/// store (each reopening costs a decryption and the identity checks,
/// BENCHMARKS.md). Past it
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
    /// Whether nothing changed.
    pub(super) fn is_empty(&self) -> bool {
        self.account.is_none()
            && self.sessions.is_empty()
            && self.requests.is_empty()
            && self.users.is_empty()
            && self.groups.is_empty()
    }

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

    /// The store rows of these records, each sealed under `key`: the
    /// device record as it is (it names `me` inside), every other record
    /// bound to `me` as well (docs/PROTOCOL.md §13.2), so that two devices
    /// sharing a storage key cannot swap records.
    pub(super) fn seal<R: CryptoRng + ?Sized>(
        &self,
        me: &Address,
        config: &ConversationConfig,
        key: &[u8; 32],
        rng: &mut R,
    ) -> ChangeSet {
        let owner = me.encode();
        let mut changes = ChangeSet::default();
        if let Some(account) = &self.account {
            changes.account = Some(pickle::encrypt(&DeviceRecordPickle::new(me, account, config), key, &[], rng));
        }
        let mut rows = Vec::new();
        for (address, record) in &self.sessions {
            changes.set_session(address, Some(pickle::encrypt(&record.pickle(), key, &owner, rng)));
            // Outbox contents live in rows of their own (§13.9).
            let (added, dropped) = record.outbox.rows();
            for (id, content, expires_at) in added {
                let row = pickle::encrypt(&OutboxRowPickle::new(address, id, content), key, &owner, rng);
                let row = AppWrite::put(OUTBOX_NAMESPACE, row_key(address, id), row);
                // Purged with the message's other copies (§13.12).
                rows.push(match expires_at {
                    Some(at) => row.expires_at(*at),
                    None => row,
                });
            }
            rows.extend(dropped.iter().map(|id| AppWrite::delete(OUTBOX_NAMESPACE, row_key(address, id))));
        }
        changes = changes.with_app_writes(rows);
        for (address, record) in &self.requests {
            changes.set_request(address, record.as_ref().map(|r| pickle::encrypt(&r.pickle(), key, &owner, rng)));
        }
        for (user, record) in &self.users {
            changes.set_user(user, Some(pickle::encrypt(&record.pickle(), key, &owner, rng)));
        }
        for (id, group) in &self.groups {
            changes.set_group(id, Some(pickle::encrypt(&group.pickle(), key, &owner, rng)));
        }
        changes
    }

    /// Moves committed records into `cache`; returns the new account.
    pub(super) fn into_cache(self, cache: &mut RecordCache) -> Option<Box<Account>> {
        let Pending { account, sessions, requests, users, groups } = self;
        for (address, mut record) in sessions {
            record.outbox.settle();
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

/// Reading records from the store, and read-only looks at committed state
/// (which cannot `sync`, so they check the generation themselves).
impl<S: Store> Conversations<S> {
    /// Opens a record sealed by [`Pending::seal`] for this device: under
    /// this storage key and bound to this device's address. A record of
    /// another device sharing the key fails like one under another key.
    fn unseal<P: pickle::PickleKind>(&self, sealed: &[u8]) -> Result<P, ConversationError> {
        Ok(pickle::decrypt(sealed, &self.key, &self.me.encode())?)
    }

    /// Decodes a sealed session record of `address` (an empty record if
    /// there is none).
    pub(super) fn open_sessions(
        &self,
        sealed: Option<Vec<u8>>,
        address: &Address,
    ) -> Result<SessionRecord, ConversationError> {
        match sealed {
            Some(sealed) => {
                let pickle: SessionRecordPickle = self.unseal(&sealed)?;
                Ok(SessionRecord::from_pickle(&pickle, address, false)?)
            }
            None => Ok(SessionRecord::new(address.clone())),
        }
    }

    pub(super) fn open_request(&self, address: &Address) -> Result<Option<SessionRecord>, ConversationError> {
        match self.store.load_request(address)? {
            Some(sealed) => {
                let pickle: SessionRecordPickle = self.unseal(&sealed)?;
                Ok(Some(SessionRecord::from_pickle(&pickle, address, true)?))
            }
            None => Ok(None),
        }
    }

    /// Decodes the user record of `user` from the store (an empty record
    /// if there is none).
    pub(super) fn open_user(&self, user: &str) -> Result<UserRecord, ConversationError> {
        match self.store.load_user(user)? {
            Some(sealed) => {
                let pickle: UserRecordPickle = self.unseal(&sealed)?;
                Ok(UserRecord::from_pickle(&pickle, user)?)
            }
            None => Ok(UserRecord::new(user)),
        }
    }

    pub(super) fn open_group(&self, id: &[u8]) -> Result<Option<Group>, ConversationError> {
        let Some(sealed) = self.store.load_group(id)? else { return Ok(None) };
        let group = Group::from_pickle(&self.unseal::<GroupPickle>(&sealed)?)?;
        // The record names its group inside the encryption.
        if group.id() != id {
            return Err(ConversationError::Record(crate::PickleError::Invalid));
        }
        Ok(Some(group))
    }

    /// The cache, if it is as current as the store (no other writer has
    /// committed since this instance last did). Read-only methods check it,
    /// since they cannot `sync`.
    fn current_cache(&self) -> Result<Option<&RecordCache>, ConversationError> {
        Ok((self.store.generation()? == self.generation).then_some(&self.cache))
    }

    /// Reads the committed session record of `address` without taking it.
    pub(super) fn peek_sessions<R>(
        &self,
        address: &Address,
        f: impl FnOnce(&SessionRecord) -> R,
    ) -> Result<R, ConversationError> {
        match self.current_cache()?.and_then(|c| c.sessions.get(address)) {
            Some(record) => Ok(f(record)),
            None => Ok(f(&self.open_sessions(self.store.load_sessions(address)?, address)?)),
        }
    }

    /// Reads the committed user record of `user` without taking it.
    pub(super) fn peek_user(&self, user: &str) -> Result<UserRecord, ConversationError> {
        check_user_id(user)?;
        match self.current_cache()?.and_then(|c| c.users.get(user)) {
            Some(record) => Ok(record.clone()),
            None => self.open_user(user),
        }
    }

    /// Reads the committed group `id`, if this device has it.
    pub(super) fn peek_group<R>(&self, id: &[u8], f: impl FnOnce(&Group) -> R) -> Result<Option<R>, ConversationError> {
        match self.current_cache()?.and_then(|c| c.groups.get(id)) {
            Some(group) => Ok(Some(f(group))),
            None => Ok(self.open_group(id)?.as_ref().map(f)),
        }
    }
}

/// Opens this device's row: its account and config, if the row is `me`'s.
pub(super) fn open_device(
    sealed: &[u8],
    key: &[u8; 32],
    me: &Address,
) -> Result<(Account, ConversationConfig), ConversationError> {
    let record: DeviceRecordPickle = pickle::decrypt(sealed, key, &[])?;
    record.open(me)?.map_err(|stored| ConversationError::WrongDevice { stored })
}
