//! Persistent stores for [`crate::Conversations`]: small traits, one atomic
//! commit per operation, and two implementations ([`MemoryStore`], and
//! `SqliteStore` behind the `sqlite` feature).
//!
//! # What a store holds
//!
//! Every value a store keeps is a **sealed record**: an encrypted pickle
//! made by dmseal under the storage key the application gives
//! [`crate::Conversations::open`], bound to the device that owns the store
//! and naming the row it belongs to inside the encryption (a record moved
//! to another row, or into another device's store under the same key,
//! fails to open). A store never
//! sees a key or a plaintext, only opaque bytes and the row names (user
//! ids, device ids, group ids), and needs no cryptography of its own.
//!
//! | table | row | value |
//! |---|---|---|
//! | account | one | this device's [`crate::Account`] (identity, prekeys, replay records) |
//! | users | user id | the devices dmseal knows for a user, their identities and trust |
//! | sessions | (user id, device id) | the current and previous sessions with that device |
//! | requests | (user id, device id) | a message request held apart until accepted or declined |
//! | groups | group id | a [`crate::Group`] |
//! | app rows | (namespace, key) | the application's own rows, written in the same transaction |
//!
//! # Atomicity and ordering
//!
//! Each operation of [`crate::Conversations`] reads what it needs, computes
//! the new state in memory, and hands the store one [`ChangeSet`]: every
//! row it changes, plus any rows the application adds (its inbox insert).
//! The store applies it all or nothing ([`Store::commit`]). Ciphertext is
//! returned to the caller only after the commit that advanced its session,
//! and a decrypted message is reported as received only by the commit that
//! stores its session's new state: a crash at any point leaves either the
//! old state (the message can be decrypted again) or the new one (the
//! inbox row is there), never a message key used twice.
//!
//! # Generations
//!
//! A store numbers its commits: [`Store::generation`] starts at 0 and each
//! successful commit adds one. A commit names the generation it was
//! computed against and is refused with [`StoreError::Conflict`] if another
//! commit came first (another thread, or another process on the same
//! database), so two writers can never both advance the same session from
//! the same state. The generation is also what an application can anchor
//! outside the store (in a keychain, or on its server) to notice a
//! database restored from a backup: see SECURITY.md, "Restoring old
//! state".

mod memory;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use core::fmt;

pub use self::memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use self::sqlite::{SCHEMA_VERSION, SqliteStore};

use crate::address::Address;

/// A write of the application's own, in the same transaction as a
/// [`ChangeSet`]: put a value, delete a row, or (made only by
/// [`crate::Outbound::store_at`]) put a ciphertext of the operation that
/// commits it, whose bytes dmseal fills in at the commit.
#[derive(Clone, PartialEq, Eq)]
pub struct AppWrite {
    namespace: String,
    key: Vec<u8>,
    value: AppValue,
    /// When the row expires ([`AppWrite::expires_at`]).
    expires_at: Option<u64>,
}

/// What an [`AppWrite`] writes.
#[derive(Clone, PartialEq, Eq)]
enum AppValue {
    Put(Vec<u8>),
    Delete,
    /// Ciphertext `index` of the send numbered `send`, not yet known to
    /// the application (it sees ciphertexts only after their commit).
    Sent {
        send: u64,
        index: usize,
    },
}

impl AppWrite {
    /// Writes `value` at (`namespace`, `key`).
    pub fn put(namespace: impl Into<String>, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self { namespace: namespace.into(), key: key.into(), value: AppValue::Put(value.into()), expires_at: None }
    }

    /// Deletes the row at (`namespace`, `key`).
    pub fn delete(namespace: impl Into<String>, key: impl Into<Vec<u8>>) -> Self {
        Self { namespace: namespace.into(), key: key.into(), value: AppValue::Delete, expires_at: None }
    }

    /// This write, with the row deleted by [`Store::purge_expired`] once
    /// `at` (seconds since the Unix epoch) is reached: a message row of a
    /// disappearing conversation ([`crate::Received::expires_at`],
    /// [`crate::Outgoing::expires_at`]). Writing the row again without an
    /// expiry clears it.
    ///
    /// ```
    /// use dmseal::store::AppWrite;
    /// let row = AppWrite::put("inbox", b"msg-1".to_vec(), b"see you at 8".to_vec()).expires_at(1_800_000_060);
    /// assert_eq!(row.expiry(), Some(1_800_000_060));
    /// // Commit it like any row (`commit_received`, `send_with`); see
    /// // `Conversations::purge_expired` for the whole round.
    /// ```
    #[must_use]
    pub fn expires_at(mut self, at: u64) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// When the row expires, if it does.
    pub fn expiry(&self) -> Option<u64> {
        match self.value {
            AppValue::Delete => None,
            _ => self.expires_at,
        }
    }

    /// Writes ciphertext `index` of the send numbered `send`, once known.
    pub(crate) fn sent(namespace: String, key: Vec<u8>, send: u64, index: usize) -> Self {
        Self { namespace, key, value: AppValue::Sent { send, index }, expires_at: None }
    }

    /// Fills in the ciphertexts of the send numbered `send`: `None` if the
    /// write names a ciphertext of another send.
    pub(crate) fn resolve(self, send: u64, ciphertexts: &[&[u8]]) -> Option<Self> {
        match self.value {
            AppValue::Sent { send: s, index } => {
                let bytes = ciphertexts.get(index).filter(|_| s == send)?;
                Some(Self { value: AppValue::Put(bytes.to_vec()), ..self })
            }
            _ => Some(self),
        }
    }

    /// Whether this is a ciphertext row whose bytes were never filled in.
    pub(crate) fn is_unresolved(&self) -> bool {
        matches!(self.value, AppValue::Sent { .. })
    }

    /// The application's table or kind of row.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The row's key within the namespace.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The new value, or `None` to delete the row. (A store never sees a
    /// ciphertext write unresolved: dmseal fills its bytes in before the
    /// commit.)
    pub fn value(&self) -> Option<&[u8]> {
        match &self.value {
            AppValue::Put(v) => Some(v),
            AppValue::Delete | AppValue::Sent { .. } => None,
        }
    }
}

impl fmt::Debug for AppWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // App values may be plaintexts: shown by length only.
        f.debug_struct("AppWrite")
            .field("namespace", &self.namespace)
            .field("key_len", &self.key.len())
            .field("value_len", &self.value().map(<[u8]>::len))
            .finish()
    }
}

/// Everything one operation changes, committed at once by
/// [`Store::commit`]. Values are sealed records (`None` deletes the row).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub(crate) account: Option<Vec<u8>>,
    pub(crate) users: Vec<(String, Option<Vec<u8>>)>,
    pub(crate) sessions: Vec<(Address, Option<Vec<u8>>)>,
    pub(crate) requests: Vec<(Address, Option<Vec<u8>>)>,
    pub(crate) groups: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub(crate) app: Vec<AppWrite>,
}

impl ChangeSet {
    /// The new account record, if the account changed.
    pub fn account(&self) -> Option<&[u8]> {
        self.account.as_deref()
    }

    /// Changed user records, by user id.
    pub fn users(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.users.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// Changed session records, by address.
    pub fn sessions(&self) -> impl Iterator<Item = (&Address, Option<&[u8]>)> {
        self.sessions.iter().map(|(k, v)| (k, v.as_deref()))
    }

    /// Changed message requests, by address.
    pub fn requests(&self) -> impl Iterator<Item = (&Address, Option<&[u8]>)> {
        self.requests.iter().map(|(k, v)| (k, v.as_deref()))
    }

    /// Changed group records, by group id.
    pub fn groups(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.groups.iter().map(|(k, v)| (k.as_slice(), v.as_deref()))
    }

    /// The application's own writes.
    pub fn app_writes(&self) -> &[AppWrite] {
        &self.app
    }

    /// Adds writes of the application's own (already resolved).
    pub(crate) fn with_app_writes(mut self, writes: impl IntoIterator<Item = AppWrite>) -> Self {
        self.app.extend(writes);
        self
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.account.is_none()
            && self.users.is_empty()
            && self.sessions.is_empty()
            && self.requests.is_empty()
            && self.groups.is_empty()
            && self.app.is_empty()
    }

    pub(crate) fn set_user(&mut self, user: &str, value: Option<Vec<u8>>) {
        replace_or_push(&mut self.users, user.to_owned(), value);
    }

    pub(crate) fn set_session(&mut self, address: &Address, value: Option<Vec<u8>>) {
        replace_or_push(&mut self.sessions, address.clone(), value);
    }

    pub(crate) fn set_request(&mut self, address: &Address, value: Option<Vec<u8>>) {
        replace_or_push(&mut self.requests, address.clone(), value);
    }

    pub(crate) fn set_group(&mut self, group_id: &[u8], value: Option<Vec<u8>>) {
        replace_or_push(&mut self.groups, group_id.to_vec(), value);
    }
}

/// Sets the value of `key`, replacing an earlier write of the same key in
/// this change set.
fn replace_or_push<K: PartialEq>(rows: &mut Vec<(K, Option<Vec<u8>>)>, key: K, value: Option<Vec<u8>>) {
    match rows.iter_mut().find(|(k, _)| *k == key) {
        Some(row) => row.1 = value,
        None => rows.push((key, value)),
    }
}

impl fmt::Debug for ChangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeSet")
            .field("account", &self.account.is_some())
            .field("users", &self.users.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("sessions", &self.sessions.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("requests", &self.requests.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("groups", &self.groups.len())
            .field("app", &self.app)
            .finish()
    }
}

/// A store failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Another commit came first: the store is at generation `found`, the
    /// change set was computed at `expected`. Nothing was written; the
    /// operation can be retried on the new state.
    Conflict {
        /// The generation the change set was computed against.
        expected: u64,
        /// The store's generation now.
        found: u64,
    },
    /// The database was written by a different schema version than this
    /// build reads, and no migration applies. Nothing was changed.
    SchemaVersion {
        /// The version found in the database.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The underlying storage failed (I/O, a corrupt database).
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Whether the same commit or read can succeed later:
    /// [`StoreError::Conflict`] (another writer committed first; compute
    /// the change again on the new state, which every
    /// [`crate::Conversations`] operation does when called again) and
    /// [`StoreError::Backend`] (the storage failed, perhaps only for now:
    /// busy, full, unreachable). A schema version this build cannot read
    /// is final.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Conflict { .. } | Self::Backend(_))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflict { expected, found } => {
                write!(f, "store changed underneath (generation {found}, expected {expected})")
            }
            Self::SchemaVersion { found, supported } => {
                write!(f, "database schema version {found} is not readable by this build (reads up to {supported})")
            }
            Self::Backend(_) => f.write_str("the store backend failed"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Backend(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Where this device's account (identity and prekeys) is kept.
pub trait PreKeyStore {
    /// The sealed account record, if one was committed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn load_account(&self) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Where the devices, identities and trust of other users are kept.
pub trait IdentityStore {
    /// The sealed user record of `user`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn load_user(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The ids of every user with a record, in byte order. Read when this
    /// device links a new device of its user
    /// ([`crate::Conversations::link_device`]), to hand over contacts.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn user_ids(&self) -> Result<Vec<String>, StoreError>;
}

/// Where sessions and message requests are kept, per address.
pub trait SessionStore {
    /// The sealed session record of `address`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn load_sessions(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError>;

    /// The sealed message request from `address`, if one is held.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn load_request(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError>;

    /// The addresses with a message request held, in address order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn request_addresses(&self) -> Result<Vec<Address>, StoreError>;

    /// The addresses with a session record held, in address order. Read
    /// only after a restore from a backup
    /// ([`crate::Conversations::restored_from_backup`]), to retire every
    /// session.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn session_addresses(&self) -> Result<Vec<Address>, StoreError>;
}

/// Where group states are kept.
pub trait GroupStore {
    /// The sealed group record of `group_id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn load_group(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The ids of every group held, in byte order. Read when a device's
    /// identity changes, to revoke its sender keys in every group.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn group_ids(&self) -> Result<Vec<Vec<u8>>, StoreError>;
}

/// A complete store: the four kinds of state, the application's rows, and
/// one atomic commit. Implementations are shared across threads (`Send +
/// Sync`, methods take `&self`) and do no cryptography.
pub trait Store: PreKeyStore + IdentityStore + SessionStore + GroupStore + Send + Sync {
    /// The number of commits so far.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn generation(&self) -> Result<u64, StoreError>;

    /// Applies every change in `changes` at once, if the store is still at
    /// generation `expected`, and returns the new generation (`expected +
    /// 1`). On any error nothing is written.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] if another commit came first;
    /// [`StoreError::Backend`] when the storage fails.
    fn commit(&self, expected: u64, changes: &ChangeSet) -> Result<u64, StoreError>;

    /// One of the application's own rows.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails.
    fn app_row(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Deletes, in one transaction, every application row whose expiry
    /// ([`AppWrite::expires_at`]) is at or before `now`, and returns their
    /// names (namespace, key), in order. The store makes their bytes
    /// unrecoverable where it can (`SqliteStore`
    /// overwrites them). It does not change the generation: dmseal's
    /// records are untouched.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the storage fails; then nothing is
    /// deleted.
    fn purge_expired(&self, now: u64) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;

/// A shared store is a store: several [`crate::Conversations`] (one after
/// another, or one per device in a test) can use one `Arc`.
impl<S: PreKeyStore + ?Sized> PreKeyStore for std::sync::Arc<S> {
    fn load_account(&self) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).load_account()
    }
}

impl<S: IdentityStore + ?Sized> IdentityStore for std::sync::Arc<S> {
    fn load_user(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).load_user(user)
    }

    fn user_ids(&self) -> Result<Vec<String>, StoreError> {
        (**self).user_ids()
    }
}

impl<S: SessionStore + ?Sized> SessionStore for std::sync::Arc<S> {
    fn load_sessions(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).load_sessions(address)
    }

    fn load_request(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).load_request(address)
    }

    fn request_addresses(&self) -> Result<Vec<Address>, StoreError> {
        (**self).request_addresses()
    }

    fn session_addresses(&self) -> Result<Vec<Address>, StoreError> {
        (**self).session_addresses()
    }
}

impl<S: GroupStore + ?Sized> GroupStore for std::sync::Arc<S> {
    fn load_group(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).load_group(group_id)
    }

    fn group_ids(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        (**self).group_ids()
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn generation(&self) -> Result<u64, StoreError> {
        (**self).generation()
    }

    fn commit(&self, expected: u64, changes: &ChangeSet) -> Result<u64, StoreError> {
        (**self).commit(expected, changes)
    }

    fn app_row(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).app_row(namespace, key)
    }

    fn purge_expired(&self, now: u64) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        (**self).purge_expired(now)
    }
}
