//! Conversations between people with several devices: addresses, device
//! lists, session selection, trust and contact policy, over a persistent
//! [`Store`] (docs/PROTOCOL.md §13).
//!
//! [`Conversations`] is one device's view: it holds that device's
//! [`Account`], reads and writes everything else through its store, and
//! commits each operation as one [`crate::store::ChangeSet`]. It is still
//! sans-I/O as far as the network goes: the application moves message
//! bytes, fetches prekey bundles, and says which devices each user has.
//!
//! The layer is split by operation: `send` (fan-out), `receive` (session
//! choice, first messages, content), `batch` (many messages, one commit),
//! `groups`, `contacts` (device lists, trust, requests); the decisions
//! are plain functions in `trust`, and `sync` is the one place that reads
//! records (overlay, cache, store) and commits them.

mod batch;
mod bundles;
mod cache;
mod config;
mod contacts;
mod envelope;
mod error;
mod framing;
mod group_resend;
mod groups;
mod key;
mod link;
mod prekeys;
mod receive;
mod record;
mod recovery;
mod resend;
mod restore;
mod send;
mod sync;
#[cfg(test)]
mod tests;
mod trust;
mod user;
mod work;

use core::sync::atomic::{AtomicU64, Ordering};

use rand_core::CryptoRng;
use zeroize::Zeroizing;

pub use self::batch::{Incoming, ReceivedBatch};
pub use self::bundles::{BundleSource, BundleSourceError};
pub use self::cache::MAX_CACHED_RECORDS;
use self::cache::RecordCache;
use self::cache::open_device;
pub use self::config::{
    ContactPolicy, ConversationConfig, DEFAULT_MAX_PROMOTION_AGE, DEFAULT_MAX_UNACKNOWLEDGED_AGE,
    DEFAULT_SKIPPED_KEY_MAX_AGE,
};
pub use self::error::{ConversationError, ReceiveError, SendError};
pub use self::group_resend::{
    GROUP_OUTBOX_NAMESPACE, MAX_GROUP_OWED_PER_DEVICE, MAX_GROUP_RESEND_BYTES, MAX_GROUP_RESEND_MESSAGES,
    MAX_GROUP_RESENT_RECORDS,
};
pub use self::groups::GroupSend;
pub use self::key::StorageKey;
pub use self::link::{LinkCompleted, LinkError, MAX_LINK_HANDOVER_LEN, MAX_LINK_HISTORY_BYTES, MAX_LINK_OFFER_AGE};
pub use self::prekeys::{
    DEFAULT_ONE_TIME_PREKEY_TARGET, DEFAULT_PQ_ONE_TIME_PREKEY_TARGET, DEFAULT_PREKEY_ROTATION_SECS, PreKeyPolicy,
    PreKeyUploads,
};
pub use self::receive::{Received, ReceivedKind};
pub use self::record::{MAX_PREVIOUS_SESSIONS, MAX_SESSIONS_TRIED};
pub use self::recovery::MIN_HEAL_INTERVAL_SECS;
pub use self::resend::{
    DEFAULT_RESEND_MAX_AGE, MAX_RESEND_BYTES_PER_DEVICE, MAX_RESEND_MESSAGES_PER_DEVICE, MAX_RESENDS_PER_MESSAGE,
    MAX_RESENT_RECORDS_PER_DEVICE, OUTBOX_NAMESPACE,
};
pub use self::send::{Outbound, Outgoing};
use self::sync::SyncState;
pub use self::trust::Event;
use self::user::DeviceRecordPickle;
pub use self::user::{
    DeviceInfo, DeviceStatus, MAX_DEVICES_PER_USER, MAX_PENDING_GROUP_KEYS_PER_DEVICE, MAX_UNLISTED_DEVICES_PER_USER,
};
use crate::account::Account;
use crate::address::Address;
use crate::pickle;
use crate::primitives::rng::os_rng;
use crate::store::Store;

/// The `0x0a` framing of a linked device's message, for the test vectors.
#[cfg(test)]
pub(crate) fn frame_linked_for_vectors(link: &[u8], inner: &[u8]) -> Vec<u8> {
    self::framing::frame_linked(link, inner).to_vec()
}

/// Numbers [`Conversations`] instances within the process, so a
/// [`Received`] is committed only by the instance that made it.
static INSTANCES: AtomicU64 = AtomicU64::new(1);

/// One device's conversations: its account, the devices and trust of the
/// users it talks to, and the sessions with each device, kept in a
/// [`Store`] under a storage key.
///
/// Every operation reads what it needs from the store and commits what it
/// changes at once; sending returns ciphertext only after that commit. If
/// another writer committed in between (another process on the same
/// database), the commit fails with
/// [`crate::store::StoreError::Conflict`] and nothing changes: retry.
///
/// Every random choice (new sessions, ratchet keys, group sender states,
/// the nonces that seal stored records) comes from the one generator given
/// to [`Conversations::open_with_rng`], or the operating system's.
pub struct Conversations<S: Store> {
    store: S,
    key: Zeroizing<[u8; 32]>,
    me: Address,
    /// The account as committed.
    account: Account,
    /// The store generation the account and the cache were read or written
    /// at.
    generation: u64,
    config: ConversationConfig,
    cache: RecordCache,
    state: SyncState,
    /// Names this instance: see [`INSTANCES`].
    instance: u64,
    /// Counts batches, so only the latest can commit.
    batches: u64,
    /// The link offer this device showed, until it is answered.
    pending_link: Option<crate::link::LinkOffer>,
    rng: Box<dyn CryptoRng + Send + Sync>,
}

impl<S: Store> core::fmt::Debug for Conversations<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Conversations")
            .field("me", &self.me)
            .field("generation", &self.generation)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Conversations<S> {
    /// Opens this device's conversations in `store`, creating its account
    /// (and committing it) if the store has none. `key` is the storage
    /// key every record is sealed under: keep it in the platform's
    /// keychain, not beside the database.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dmseal::store::MemoryStore;
    /// use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (key, config) = (StorageKey::generate(), ConversationConfig::new());
    /// let (me, store) = (Address::new("alice", 1)?, Arc::new(MemoryStore::new()));
    /// let alice = Conversations::open(store.clone(), key.clone(), me.clone(), config)?;
    /// let identity = alice.account().identity().clone(); // a new account
    /// drop(alice);
    /// // The next start opens the same store under the same key: the same account.
    /// let alice = Conversations::open(store, key, me, config)?;
    /// assert_eq!(alice.account().identity(), &identity);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`]: the store failed, or its account record
    /// does not open under `key`.
    pub fn open(
        store: S,
        key: impl Into<StorageKey>,
        me: Address,
        config: ConversationConfig,
    ) -> Result<Self, ConversationError> {
        Self::open_with_rng(os_rng(), store, key, me, config)
    }

    /// [`Conversations::open`] with the random number generator every
    /// operation will use (a seeded one makes tests and fuzzers
    /// deterministic; production code wants the operating system's, which
    /// [`Conversations::open`] uses).
    ///
    /// ```
    /// use dmseal::store::MemoryStore;
    /// use dmseal::{Address, ConversationConfig, Conversations};
    /// use rand_chacha::ChaCha20Rng;
    /// use rand_chacha::rand_core::SeedableRng;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (me, config) = (Address::new("alice", 1)?, ConversationConfig::new());
    /// let open = |seed| {
    ///     let rng = ChaCha20Rng::seed_from_u64(seed);
    ///     Conversations::open_with_rng(rng, MemoryStore::new(), [7; 32], me.clone(), config)
    /// };
    /// // The same seed makes the same keys: a test can replay a run exactly.
    /// assert_eq!(open(1)?.account().identity(), open(1)?.account().identity());
    /// assert_ne!(open(1)?.account().identity(), open(2)?.account().identity());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Conversations::open`].
    pub fn open_with_rng(
        rng: impl CryptoRng + Send + Sync + 'static,
        store: S,
        key: impl Into<StorageKey>,
        me: Address,
        config: ConversationConfig,
    ) -> Result<Self, ConversationError> {
        let mut rng: Box<dyn CryptoRng + Send + Sync> = Box::new(rng);
        let key = Zeroizing::new(*key.into().as_bytes());
        let generation = store.generation()?;
        let (account, generation) = match store.load_account()? {
            Some(sealed) => {
                let (account, stored) = open_device(&sealed, &key, &me)?;
                // Reopening under other settings would switch them
                // silently (a contact policy, say): refused.
                if stored != config {
                    return Err(ConversationError::ConfigChanged { stored });
                }
                (account, generation)
            }
            None => {
                let account = Account::new_with_rng(&mut *rng);
                let sealed = pickle::encrypt(&DeviceRecordPickle::new(&me, &account, &config), &key, &[], &mut *rng);
                let changes = crate::store::ChangeSet { account: Some(sealed), ..Default::default() };
                let generation = store.commit(generation, &changes)?;
                (account, generation)
            }
        };
        Ok(Self {
            store,
            key,
            me,
            account,
            generation,
            config,
            cache: RecordCache::default(),
            state: SyncState::Current,
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            batches: 0,
            pending_link: None,
            rng,
        })
    }

    /// This device's address.
    pub fn me(&self) -> &Address {
        &self.me
    }

    /// This device's account as committed: its identity, and the prekeys
    /// to publish.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The settings, as stored (see [`Conversations::set_config`]).
    pub fn config(&self) -> &ConversationConfig {
        &self.config
    }

    /// Changes the settings and commits them with this device's record,
    /// so that every later [`Conversations::open`] of this store must
    /// give the same ones ([`ConversationError::ConfigChanged`]
    /// otherwise). If the commit fails the settings are as before.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dmseal::store::MemoryStore;
    /// use dmseal::{Address, ContactPolicy, ConversationConfig, ConversationError, Conversations};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (store, me) = (Arc::new(MemoryStore::new()), Address::new("alice", 1)?);
    /// let mut alice = Conversations::open(store.clone(), [7; 32], me.clone(), ConversationConfig::new())?;
    /// let strict = ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    /// alice.set_config(strict)?;
    /// assert_eq!(alice.config(), &strict);
    /// // Reopening with the old settings is refused: they would switch silently.
    /// let reopened = Conversations::open(store.clone(), [7; 32], me.clone(), ConversationConfig::new());
    /// assert!(matches!(reopened, Err(ConversationError::ConfigChanged { .. })));
    /// Conversations::open(store, [7; 32], me, strict)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn set_config(&mut self, config: ConversationConfig) -> Result<(), ConversationError> {
        let old = core::mem::replace(&mut self.config, config);
        // Writing the device record (the account, unchanged) writes the
        // new settings with it.
        let result = self.operate(|this, work| {
            let _ = this.account_mut(work);
            Ok::<_, ConversationError>(())
        });
        if result.is_err() {
            self.config = old;
        }
        result
    }

    /// Changes the account (generate or rotate prekeys, mark them
    /// published) and commits it. If the commit fails the account is as
    /// before.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// // Generate one-time prekeys and mark them published, in one commit.
    /// let keys = alice.update_account(|account| {
    ///     let keys = account.generate_one_time_prekeys(10)?;
    ///     let ids: Vec<u32> = keys.iter().map(|k| k.id()).collect();
    ///     account.mark_one_time_prekeys_published(&ids)?;
    ///     Ok::<_, dmseal::PreKeyError>(keys)
    /// })??;
    /// // Upload `keys` to the server now that they are stored.
    /// assert_eq!(keys.len(), 10);
    /// assert_eq!(alice.account().unused_published_one_time_prekeys(), 10);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn update_account<R>(&mut self, f: impl FnOnce(&mut Account) -> R) -> Result<R, ConversationError> {
        self.operate(|this, work| Ok::<_, ConversationError>(f(this.account_mut(work))))
    }
}
