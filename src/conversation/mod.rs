//! Conversations between people with several devices: addresses, device
//! lists, session selection, trust and contact policy, over a persistent
//! [`Store`] (docs/PROTOCOL.md §13).
//!
//! [`Conversations`] is one device's view: it holds that device's
//! [`Account`], reads and writes everything else through its store, and
//! commits each operation as one [`ChangeSet`]. It is still sans-I/O as far
//! as the network goes: the application moves message bytes, fetches
//! prekey bundles, and says which devices each user has.

mod error;
mod groups;
mod record;
mod user;

use std::collections::{BTreeMap, HashMap};

use rand_core::{CryptoRng, Rng};
use zeroize::Zeroizing;

pub use self::error::{ConversationError, ReceiveError, SendError};
pub use self::groups::GroupSend;
pub use self::record::MAX_PREVIOUS_SESSIONS;
use self::record::{SessionRecord, SessionRecordPickle};
pub use self::user::{DeviceInfo, DeviceStatus, MAX_DEVICES_PER_USER};
use self::user::{DeviceRecord, DeviceRecordPickle, UserRecord, UserRecordPickle};
use crate::account::Account;
use crate::address::{Address, check_user_id};
use crate::bundle::PreKeyBundle;
use crate::group::Group;
use crate::identity::PublicIdentity;
use crate::message::{Envelope, PreKeyMessage};
use crate::pickle;
use crate::primitives::rng::os_rng;
use crate::session::Session;
use crate::store::{AppWrite, ChangeSet, Store};

/// libsignal's limit on how long an unanswered outgoing session is used:
/// 30 days.
pub const DEFAULT_MAX_UNACKNOWLEDGED_AGE: u64 = 30 * 24 * 60 * 60;

/// How many session and user records a [`Conversations`] keeps decoded in
/// memory, so that a message to or from a recent peer does not reopen its
/// records from the store (about 100 µs each: decryption and the identity
/// checks). Past it the cache is emptied and refills with use. The cache
/// holds only what this instance committed or read; a commit by another
/// writer (the store generation moving) empties it.
pub const MAX_CACHED_RECORDS: usize = 4096;

/// Who may start a conversation with this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ContactPolicy {
    /// Anyone with this device's bundle.
    #[default]
    Anyone,
    /// Only known contacts ([`Conversations::add_contact`], or users this
    /// device has sent to): a first message from anyone else is refused
    /// unread ([`ReceiveError::NotAContact`]) and changes nothing.
    KnownContactsOnly,
    /// First messages from unknown users are decrypted into **message
    /// requests**, held apart from conversations until the person accepts
    /// ([`Conversations::accept_request`]) or declines
    /// ([`Conversations::decline_request`]). Declining deletes the session
    /// but the account keeps the first message's replay record, so the
    /// same request replayed is refused.
    MessageRequests,
}

/// Settings of a [`Conversations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationConfig {
    /// Who may start a conversation.
    pub contact_policy: ContactPolicy,
    /// How long, in seconds, an outgoing session that the peer never
    /// answered is used. Past it, sending asks for a fresh bundle
    /// ([`SendError::NeedBundles`]). Default
    /// [`DEFAULT_MAX_UNACKNOWLEDGED_AGE`] (30 days).
    pub max_unacknowledged_age: u64,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        Self { contact_policy: ContactPolicy::default(), max_unacknowledged_age: DEFAULT_MAX_UNACKNOWLEDGED_AGE }
    }
}

/// Something the application must know about, reported by the operation
/// that noticed it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A device dmseal had not seen for this user. With the status
    /// [`DeviceStatus::AwaitingApproval`] (the user is verified), nothing
    /// is sent to the user until the application approves it.
    NewDevice {
        /// The device.
        address: Address,
        /// Its status now.
        status: DeviceStatus,
    },
    /// The device's identity is not the one seen before: the device was
    /// reinstalled, or someone is impersonating it. Sending to its user
    /// is blocked until the application acknowledges it.
    IdentityChanged {
        /// The device.
        address: Address,
    },
    /// A first message from someone who is not a contact, held as a
    /// message request.
    MessageRequest {
        /// The device it came from.
        address: Address,
    },
}

/// What [`Conversations::send`] produced: one ciphertext per device,
/// already committed.
#[derive(Debug)]
pub struct Outgoing {
    /// The bytes to deliver to each device.
    pub messages: Vec<(Address, Vec<u8>)>,
    /// The store generation after the commit.
    pub generation: u64,
    /// What the application must know about: devices learned while
    /// sending (a group member no device list named).
    pub events: Vec<Event>,
}

/// Whether a received message belongs to a conversation or to a message
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivedKind {
    /// A message of an accepted conversation.
    Message,
    /// A message of a request not accepted yet ([`ContactPolicy::MessageRequests`]).
    Request,
    /// A group message ([`Conversations::receive_group`]);
    /// [`Received::group_id`] names the group.
    GroupMessage,
    /// A sender-key distribution for the group [`Received::group_id`],
    /// carried over the 1:1 session: no plaintext for the user, but commit
    /// it like any message so the group can read the sender's messages.
    GroupKeys,
    /// A 1:1 message whose content could not be used
    /// ([`Received::content_error`]): a content type from a newer version,
    /// group keys for a group this device does not have (create groups
    /// before their keys arrive) or from a device that is not trusted. No
    /// plaintext; commit it anyway, so the session stays in step.
    Unreadable,
}

/// A decrypted message, not yet committed: show it to the user only after
/// [`Conversations::commit_received`] (with the application's own inbox
/// row in the same transaction). Dropping it changes nothing, and the
/// message decrypts again when offered again.
pub struct Received {
    /// The [`Conversations`] instance that made it.
    instance: u64,
    from: Address,
    plaintext: Zeroizing<Vec<u8>>,
    kind: ReceivedKind,
    events: Vec<Event>,
    changes: ChangeSet,
    account: Option<Account>,
    generation: u64,
    /// The records as committed, for the cache.
    record: Option<SessionRecord>,
    /// Whether `record` changed (set while the record is still borrowed).
    record_changed: bool,
    /// The message request record as committed, for the cache.
    request: Option<SessionRecord>,
    /// Whether the pending request changed.
    request_changed: bool,
    /// A request this message created.
    new_request: Option<SessionRecord>,
    user: Option<UserRecord>,
    group_id: Option<Vec<u8>>,
    group: Option<Group>,
    /// Why the content of a [`ReceivedKind::Unreadable`] message could not
    /// be used.
    content_error: Option<ReceiveError>,
    /// Part of a [`ReceivedBatch`]: committed with the batch only.
    batched: bool,
}

impl Received {
    /// Marks the content unusable: nothing of it is applied, but the
    /// session still advances when committed.
    fn unreadable(&mut self, error: ReceiveError) {
        self.kind = ReceivedKind::Unreadable;
        self.plaintext = Zeroizing::new(Vec::new());
        self.group_id = None;
        self.group = None;
        self.changes.groups.clear();
        self.content_error = Some(error);
    }

    /// For a [`ReceivedKind::Unreadable`] message, why its content could
    /// not be used.
    pub fn content_error(&self) -> Option<&ReceiveError> {
        self.content_error.as_ref()
    }

    fn new(from: Address, generation: u64, instance: u64) -> Self {
        Self {
            instance,
            from,
            plaintext: Zeroizing::new(Vec::new()),
            kind: ReceivedKind::Message,
            events: Vec::new(),
            changes: ChangeSet::default(),
            account: None,
            generation,
            record: None,
            record_changed: false,
            request: None,
            request_changed: false,
            new_request: None,
            user: None,
            group_id: None,
            group: None,
            content_error: None,
            batched: false,
        }
    }

    /// The group of a [`ReceivedKind::GroupMessage`] or
    /// [`ReceivedKind::GroupKeys`].
    pub fn group_id(&self) -> Option<&[u8]> {
        self.group_id.as_deref()
    }

    /// The sending device.
    pub fn from(&self) -> &Address {
        &self.from
    }

    /// The plaintext (authenticated: it decrypted under a session with
    /// `from`).
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// A conversation message or a message request.
    pub fn kind(&self) -> ReceivedKind {
        self.kind
    }

    /// What the application must know about (a new device, a changed
    /// identity, a new request).
    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

impl core::fmt::Debug for Received {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Received")
            .field("from", &self.from)
            .field("plaintext_len", &self.plaintext.len())
            .field("kind", &self.kind)
            .field("events", &self.events)
            .field("content_error", &self.content_error)
            .finish_non_exhaustive()
    }
}

/// One device's conversations: its account, the devices and trust of the
/// users it talks to, and the sessions with each device, kept in a
/// [`Store`] under a storage key.
///
/// Every operation reads what it needs from the store and commits what it
/// changes as one [`ChangeSet`]; sending returns ciphertext only after
/// that commit. If another writer committed in between (another process
/// on the same database), the commit fails with
/// [`crate::store::StoreError::Conflict`] and nothing changes: retry.
pub struct Conversations<S: Store> {
    store: S,
    key: Zeroizing<[u8; 32]>,
    me: Address,
    account: Account,
    /// The store generation `account` (and every cached record) was read
    /// or written at.
    generation: u64,
    config: ConversationConfig,
    cache: RecordCache,
    /// A random number naming this instance, so a [`Received`] is
    /// committed only by the instance that made it.
    instance: u64,
    /// A batch's uncommitted state is in the cache and `account`.
    staging: bool,
    /// Counts batches, so only the latest can commit.
    epoch: u64,
    /// The cache and account may hold state the store does not: reload.
    stale: bool,
}

/// A message to receive in a batch ([`Conversations::receive_batch`]).
#[derive(Debug, Clone, Copy)]
pub enum Incoming<'a> {
    /// A 1:1 message from a device, as for [`Conversations::receive`].
    Direct {
        /// The sending device, as the transport reports it.
        from: &'a Address,
        /// The message bytes.
        bytes: &'a [u8],
    },
    /// A group message, as for [`Conversations::receive_group`].
    Group {
        /// The group.
        group_id: &'a [u8],
        /// The message bytes.
        bytes: &'a [u8],
    },
}

/// Messages received together, not yet committed
/// ([`Conversations::commit_batch`]).
pub struct ReceivedBatch {
    instance: u64,
    epoch: u64,
    generation: u64,
    results: Vec<Result<Received, ReceiveError>>,
    changes: ChangeSet,
}

impl ReceivedBatch {
    /// Each message's result, in input order. The `Received` values are
    /// for reading only: commit the batch, not them.
    pub fn results(&self) -> &[Result<Received, ReceiveError>] {
        &self.results
    }
}

impl core::fmt::Debug for ReceivedBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReceivedBatch").field("results", &self.results).finish_non_exhaustive()
    }
}

/// Decoded records, valid at `Conversations::generation`.
#[derive(Default)]
struct RecordCache {
    sessions: HashMap<Address, SessionRecord>,
    users: HashMap<String, UserRecord>,
    groups: HashMap<Vec<u8>, Group>,
    /// Message requests by address; `None` remembers that there is none
    /// (most addresses), so a receive need not ask the store.
    requests: HashMap<Address, Option<SessionRecord>>,
    /// While a batch is staged the cache holds its only copy of new state:
    /// it must not be emptied to make room.
    pinned: bool,
}

impl RecordCache {
    fn clear(&mut self) {
        self.sessions.clear();
        self.users.clear();
        self.groups.clear();
        self.requests.clear();
    }

    fn keep_request(&mut self, record: SessionRecord) {
        let address = record.address().clone();
        self.keep_request_at(address, Some(record));
    }

    /// Remembers the request of `address`, or that it has none.
    fn keep_request_at(&mut self, address: Address, record: Option<SessionRecord>) {
        if !self.pinned && self.requests.len() >= MAX_CACHED_RECORDS {
            self.requests.clear();
        }
        self.requests.insert(address, record);
    }

    fn keep_group(&mut self, group: Group) {
        if !self.pinned && self.groups.len() >= MAX_CACHED_RECORDS {
            self.groups.clear();
        }
        self.groups.insert(group.id().to_vec(), group);
    }

    fn keep_sessions(&mut self, record: SessionRecord) {
        if !self.pinned && self.sessions.len() >= MAX_CACHED_RECORDS {
            self.sessions.clear();
        }
        self.sessions.insert(record.address().clone(), record);
    }

    fn keep_user(&mut self, record: UserRecord) {
        if !self.pinned && self.users.len() >= MAX_CACHED_RECORDS {
            self.users.clear();
        }
        self.users.insert(record.user.clone(), record);
    }
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

/// Opens this device's row: its account, if the row is `me`'s.
fn open_device(sealed: &[u8], key: &[u8; 32], me: &Address) -> Result<Account, ConversationError> {
    let record: DeviceRecordPickle = pickle::decrypt(sealed, key)?;
    record.open(me)?.map_err(|stored| ConversationError::WrongDevice { stored })
}

/// Seals a record under the storage key (an encrypted pickle).
fn seal<P: pickle::PickleKind>(record: &P, key: &[u8; 32]) -> Vec<u8> {
    pickle::encrypt(record, key, &mut os_rng())
}

impl<S: Store> Conversations<S> {
    /// Opens this device's conversations in `store`, creating its account
    /// (and committing it) if the store has none. `key` is the storage
    /// key every record is sealed under: keep it in the platform's
    /// keychain, not beside the database.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`]: the store failed, or its account record
    /// does not open under `key`.
    pub fn open(store: S, key: [u8; 32], me: Address, config: ConversationConfig) -> Result<Self, ConversationError> {
        Self::open_with_rng(&mut os_rng(), store, key, me, config)
    }

    /// [`Conversations::open`] with a caller-supplied RNG for a new
    /// account.
    ///
    /// # Errors
    ///
    /// As [`Conversations::open`].
    pub fn open_with_rng<R: CryptoRng + ?Sized>(
        rng: &mut R,
        store: S,
        key: [u8; 32],
        me: Address,
        config: ConversationConfig,
    ) -> Result<Self, ConversationError> {
        let key = Zeroizing::new(key);
        let generation = store.generation()?;
        let (account, generation) = match store.load_account()? {
            Some(sealed) => (open_device(&sealed, &key, &me)?, generation),
            None => {
                let account = Account::new_with_rng(rng);
                let sealed = seal(&DeviceRecordPickle::new(&me, &account), &key);
                let changes = ChangeSet { account: Some(sealed), ..Default::default() };
                let generation = store.commit(generation, &changes)?;
                (account, generation)
            }
        };
        let instance = os_rng().next_u64();
        Ok(Self {
            store,
            key,
            me,
            account,
            generation,
            config,
            cache: RecordCache::default(),
            instance,
            staging: false,
            epoch: 0,
            stale: false,
        })
    }

    /// This device's address.
    pub fn me(&self) -> &Address {
        &self.me
    }

    /// This device's account: its identity, and the prekeys to publish.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &ConversationConfig {
        &self.config
    }

    /// Changes the account (generate or rotate prekeys, mark them
    /// published) and commits it. If the commit fails the account is as
    /// before.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn update_account<R>(&mut self, f: impl FnOnce(&mut Account) -> R) -> Result<R, ConversationError> {
        self.sync()?;
        let mut account = self.account.duplicate();
        let result = f(&mut account);
        let changes = ChangeSet { account: Some(self.seal_account(&account)), ..Default::default() };
        self.generation = self.store.commit(self.generation, &changes)?;
        self.account = account;
        Ok(result)
    }

    /// Reloads the account if another writer committed since it was read.
    fn sync(&mut self) -> Result<(), ConversationError> {
        // A batch received but not committed leaves state in memory that
        // the store does not have: drop it.
        if self.staging {
            self.discard_staged();
        }
        let generation = self.store.generation()?;
        if self.stale || generation != self.generation {
            self.cache.clear();
            if let Some(sealed) = self.store.load_account()? {
                self.account = open_device(&sealed, &self.key, &self.me)?;
            }
            self.generation = generation;
            self.stale = false;
        }
        Ok(())
    }

    /// Forgets every state not committed (a batch's staged records and
    /// account): the next operation reloads from the store.
    pub(crate) fn discard_staged(&mut self) {
        self.staging = false;
        self.cache.pinned = false;
        self.cache.clear();
        self.stale = true;
    }

    /// Decrypts several messages in order, each seeing the state the ones
    /// before it left (a second message of a session reads after the
    /// first), and returns them with one change set: commit it with
    /// [`Conversations::commit_batch`], one transaction (one fsync with
    /// SQLite) instead of one per message. A message that fails is
    /// reported in its place and changes nothing. Until the batch is
    /// committed its state lives only in memory: any other operation
    /// first drops it (then `commit_batch` refuses the batch and the
    /// messages can be received again).
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] if the store fails before any message is
    /// read; per-message errors are in [`ReceivedBatch::results`].
    pub fn receive_batch(&mut self, incoming: &[Incoming<'_>], now: u64) -> Result<ReceivedBatch, ConversationError> {
        self.sync()?;
        self.epoch = self.epoch.wrapping_add(1);
        self.staging = true;
        self.cache.pinned = true;
        let mut changes = ChangeSet::default();
        let mut results = Vec::with_capacity(incoming.len());
        for item in incoming {
            let result = match item {
                Incoming::Direct { from, bytes } => self.receive_staged(from, bytes, now),
                Incoming::Group { group_id, bytes } => self.receive_group_staged(group_id, bytes),
            };
            if !self.staging {
                // The staged state was lost (an inconsistency the group
                // layer cannot undo): the batch can no longer commit.
                results.push(Err(ReceiveError::StaleBatch));
                break;
            }
            results.push(result.map(|mut received| {
                self.stage(&mut received, &mut changes);
                received
            }));
        }
        Ok(ReceivedBatch { instance: self.instance, epoch: self.epoch, generation: self.generation, results, changes })
    }

    /// Moves a received message's new state into the batch: its rows into
    /// `changes`, its records into the (pinned) cache and its account in
    /// place, where the next message of the batch finds them.
    fn stage(&mut self, received: &mut Received, changes: &mut ChangeSet) {
        changes.merge(core::mem::take(&mut received.changes));
        if let Some(account) = received.account.take() {
            self.account = account;
        }
        if let Some(record) = received.record.take() {
            self.cache.keep_sessions(record);
        }
        if let Some(user) = received.user.take() {
            self.cache.keep_user(user);
        }
        if let Some(group) = received.group.take() {
            self.cache.keep_group(group);
        }
        for request in [received.request.take(), received.new_request.take()].into_iter().flatten() {
            self.cache.keep_request(request);
        }
        received.batched = true;
    }

    /// Commits a batch from [`Conversations::receive_batch`] with the
    /// application's rows (its inbox entries), in one transaction.
    ///
    /// # Errors
    ///
    /// [`ReceiveError::OtherInstance`]; [`ReceiveError::StaleBatch`] if any
    /// other operation ran since the batch was received (receive the
    /// messages again); a store failure (then the batch's state is
    /// dropped as well).
    pub fn commit_batch(&mut self, batch: ReceivedBatch, app: Vec<AppWrite>) -> Result<u64, ReceiveError> {
        if batch.instance != self.instance {
            return Err(ReceiveError::OtherInstance);
        }
        if !self.staging || self.stale || batch.epoch != self.epoch || batch.generation != self.generation {
            return Err(ReceiveError::StaleBatch);
        }
        let changes = batch.changes.with_app_writes(app);
        match self.commit(&changes) {
            Ok(generation) => {
                self.staging = false;
                self.cache.pinned = false;
                Ok(generation)
            }
            Err(e) => {
                self.discard_staged();
                Err(e.into())
            }
        }
    }

    fn commit(&mut self, changes: &ChangeSet) -> Result<u64, ConversationError> {
        self.generation = self.store.commit(self.generation, changes)?;
        Ok(self.generation)
    }

    fn seal_account(&self, account: &Account) -> Vec<u8> {
        seal(&DeviceRecordPickle::new(&self.me, account), &self.key)
    }

    fn load_user(&self, user: &str) -> Result<UserRecord, ConversationError> {
        self.load_user_from(user, true)
    }

    /// Whether the cache is as current as the store (no other writer has
    /// committed since this instance last did). Read-only methods check it,
    /// since they cannot `sync`.
    fn cache_is_current(&self) -> Result<bool, ConversationError> {
        Ok(self.store.generation()? == self.generation)
    }

    fn load_user_from(&self, user: &str, use_cache: bool) -> Result<UserRecord, ConversationError> {
        check_user_id(user)?;
        if use_cache && let Some(record) = self.cache.users.get(user) {
            return Ok(record.clone());
        }
        match self.store.load_user(user)? {
            Some(sealed) => {
                let pickle: UserRecordPickle = pickle::decrypt(&sealed, &self.key)?;
                Ok(UserRecord::from_pickle(&pickle, user)?)
            }
            None => Ok(UserRecord::new(user)),
        }
    }

    fn seal_user(&self, record: &UserRecord) -> Vec<u8> {
        seal(&record.pickle(), &self.key)
    }

    /// The session record of `address`, taken out of the cache (a failed
    /// operation drops it, and the next one reads the store's).
    fn take_sessions(&mut self, address: &Address) -> Result<SessionRecord, ConversationError> {
        match self.cache.sessions.remove(address) {
            Some(record) => Ok(record),
            None => self.open_record(self.store.load_sessions(address)?, address),
        }
    }

    /// Reads the session record of `address` without taking it.
    fn with_sessions<R>(&self, address: &Address, f: impl FnOnce(&SessionRecord) -> R) -> Result<R, ConversationError> {
        match self.cache.sessions.get(address).filter(|_| self.cache_is_current().unwrap_or(false)) {
            Some(record) => Ok(f(record)),
            None => Ok(f(&self.open_record(self.store.load_sessions(address)?, address)?)),
        }
    }

    /// The message request from `address`, taken out of the cache like
    /// a session record.
    fn take_request(&mut self, address: &Address) -> Result<Option<SessionRecord>, ConversationError> {
        if let Some(entry) = self.cache.requests.remove(address) {
            return Ok(entry);
        }
        self.load_request(address)
    }

    fn load_request(&self, address: &Address) -> Result<Option<SessionRecord>, ConversationError> {
        match self.store.load_request(address)? {
            Some(sealed) => {
                let pickle: SessionRecordPickle = pickle::decrypt(&sealed, &self.key)?;
                Ok(Some(SessionRecord::from_pickle(&pickle, address, true)?))
            }
            None => Ok(None),
        }
    }

    fn open_record(&self, sealed: Option<Vec<u8>>, address: &Address) -> Result<SessionRecord, ConversationError> {
        match sealed {
            Some(sealed) => {
                let pickle: SessionRecordPickle = pickle::decrypt(&sealed, &self.key)?;
                Ok(SessionRecord::from_pickle(&pickle, address, false)?)
            }
            None => Ok(SessionRecord::new(address.clone())),
        }
    }

    fn seal_sessions(&self, record: &SessionRecord) -> Vec<u8> {
        seal(&record.pickle(), &self.key)
    }

    /// Commits one changed user record.
    fn commit_user(&mut self, record: UserRecord) -> Result<u64, ConversationError> {
        let mut changes = ChangeSet::default();
        changes.set_user(&record.user, Some(self.seal_user(&record)));
        let generation = self.commit(&changes)?;
        self.cache.keep_user(record);
        Ok(generation)
    }

    /// Sets the application's device list of `user` (its own user too:
    /// messages are copied to this device's other devices). Devices not
    /// seen before are reported as [`Event::NewDevice`]; for a verified
    /// user they await approval. Devices no longer listed stop receiving
    /// messages; what is known about them is kept.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`]: too many devices, or the store failed.
    pub fn set_devices(&mut self, user: &str, devices: &[u32]) -> Result<Vec<Event>, ConversationError> {
        self.sync()?;
        let mut record = self.load_user(user)?;
        let mut events = Vec::new();
        let too_many = || ConversationError::TooManyDevices { user: user.to_owned(), max: MAX_DEVICES_PER_USER };
        if devices.len() > MAX_DEVICES_PER_USER {
            return Err(too_many());
        }
        let was_listed: Vec<u32> = record.listed().collect();
        for d in record.devices.values_mut() {
            d.listed = false;
        }
        let verified = record.verified;
        for &device in devices {
            if user == self.me.user() && device == self.me.device() {
                continue;
            }
            match record.devices.get_mut(&device) {
                Some(d) => {
                    d.listed = true;
                    if !was_listed.contains(&device) {
                        // A device that wrote first and is listed only now is
                        // new to the fan-out: report it, and for a verified
                        // user make it wait for approval like any new device.
                        if verified && d.status == DeviceStatus::Trusted {
                            d.status = DeviceStatus::AwaitingApproval;
                        }
                        events.push(Event::NewDevice { address: Address::new(user, device)?, status: d.status });
                    }
                }
                None => {
                    let status = record.add_device(device, None, true).ok_or_else(too_many)?;
                    events.push(Event::NewDevice { address: Address::new(user, device)?, status });
                }
            }
        }
        self.commit_user(record)?;
        Ok(events)
    }

    /// What is known about `user`'s devices.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn devices(&self, user: &str) -> Result<Vec<DeviceInfo>, ConversationError> {
        let record = self.load_user_from(user, self.cache_is_current()?)?;
        record
            .devices
            .iter()
            .map(|(id, d)| {
                Ok(DeviceInfo {
                    address: Address::new(user, *id)?,
                    identity: d.identity.clone(),
                    status: d.status,
                    listed: d.listed,
                })
            })
            .collect()
    }

    /// Marks `user` a known contact (see [`ContactPolicy`]).
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn add_contact(&mut self, user: &str) -> Result<(), ConversationError> {
        self.sync()?;
        let mut record = self.load_user(user)?;
        record.contact = true;
        let mut changes = ChangeSet::default();
        changes.set_user(user, Some(self.seal_user(&record)));
        // Pending requests from this user become conversations.
        let mut absorbed = Vec::new();
        for address in self.store.request_addresses()?.iter().filter(|a| a.user() == user) {
            absorbed.extend(self.absorb_request(address, &mut changes)?);
        }
        self.commit(&changes)?;
        self.cache.keep_user(record);
        for r in absorbed {
            self.cache.keep_sessions(r);
        }
        Ok(())
    }

    /// Whether `user` is marked verified.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn is_verified(&self, user: &str) -> Result<bool, ConversationError> {
        Ok(self.load_user_from(user, self.cache_is_current()?)?.verified)
    }

    /// Marks `user` verified (after the people compared safety numbers of
    /// each device) or not. While verified, a new device of theirs awaits
    /// approval, and a changed identity drops the mark when acknowledged.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn set_verified(&mut self, user: &str, verified: bool) -> Result<(), ConversationError> {
        self.sync()?;
        let mut record = self.load_user(user)?;
        record.verified = verified;
        self.commit_user(record)?;
        Ok(())
    }

    /// Approves a device awaiting approval, or acknowledges a device's
    /// changed identity (which drops its user's verified mark: the safety
    /// numbers changed). Sending to its user resumes.
    ///
    /// # Errors
    ///
    /// [`ConversationError::UnknownDevice`], or a store failure.
    pub fn approve_device(&mut self, address: &Address) -> Result<(), ConversationError> {
        self.sync()?;
        let mut record = self.load_user(address.user())?;
        let device = record
            .devices
            .get_mut(&address.device())
            .ok_or_else(|| ConversationError::UnknownDevice(address.clone()))?;
        let was = device.status;
        device.status = DeviceStatus::Trusted;
        let identity = device.identity.clone();
        if was == DeviceStatus::IdentityChanged {
            record.verified = false;
        }
        let mut changes = ChangeSet::default();
        changes.set_user(&record.user, Some(self.seal_user(&record)));
        // Sessions under any other identity are gone for good.
        let mut sessions = self.take_sessions(address)?;
        if let Some(identity) = &identity {
            sessions.retain_identity(identity);
        }
        changes.set_session(address, Some(self.seal_sessions(&sessions)));
        self.commit(&changes)?;
        self.cache.keep_user(record);
        self.cache.keep_sessions(sessions);
        Ok(())
    }

    /// Moves a pending message request from `address` into its session
    /// record, if there is one (the user became a contact). Returns the
    /// record to commit and cache.
    fn absorb_request(
        &mut self,
        address: &Address,
        changes: &mut ChangeSet,
    ) -> Result<Option<SessionRecord>, ConversationError> {
        let Some(request) = self.take_request(address)? else { return Ok(None) };
        let mut record = self.take_sessions(address)?;
        record.take_over(request);
        changes.set_request(address, None);
        changes.set_session(address, Some(self.seal_sessions(&record)));
        Ok(Some(record))
    }

    /// Encrypts `plaintext` to every listed device of `user` and to this
    /// device's own other listed devices, commits, and returns the
    /// ciphertexts. Devices without a session that can send need a
    /// bundle: pass the ones fetched after [`SendError::NeedBundles`] in
    /// `bundles`.
    ///
    /// # Errors
    ///
    /// A [`SendError`]: bundles needed, devices blocked, or a failure.
    pub fn send(
        &mut self,
        user: &str,
        plaintext: &[u8],
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
    ) -> Result<Outgoing, SendError> {
        self.send_with(user, plaintext, bundles, now, |_| Vec::new())
    }

    /// [`Conversations::send`] with rows of the application's own
    /// committed in the same transaction. `app` sees the ciphertexts before
    /// the commit, so the application can put them in its outbox
    /// atomically with the session state that made them: after a crash,
    /// either both are stored or neither is.
    ///
    /// # Errors
    ///
    /// As [`Conversations::send`].
    pub fn send_with(
        &mut self,
        user: &str,
        plaintext: &[u8],
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
        app: impl FnOnce(&[(Address, Vec<u8>)]) -> Vec<AppWrite>,
    ) -> Result<Outgoing, SendError> {
        self.sync()?;
        // The recipients: the user's listed devices and our own others.
        let mut targets = Vec::new();
        let mut owners = vec![self.load_user(user)?];
        if user != self.me.user() {
            owners.push(self.load_user(self.me.user())?);
        }
        for record in &owners {
            for device in record.listed() {
                if record.user == self.me.user() && device == self.me.device() {
                    continue;
                }
                targets.push(Address::new(record.user.clone(), device).map_err(ConversationError::from)?);
            }
        }
        if targets.is_empty() {
            return Err(SendError::NoDevices);
        }
        let framed = Zeroizing::new(frame(FRAME_MESSAGE, plaintext));
        let items = targets.into_iter().map(|a| (a, framed.clone())).collect();
        let mut fan = self.fan_out(items, bundles, now)?;
        // Sending to someone makes them a contact.
        if let Some(record) = fan.users.get_mut(user)
            && !record.contact
        {
            record.contact = true;
            fan.users_changed = true;
        }
        self.commit_fan_out(fan, ChangeSet::default(), app)
    }

    /// Encrypts each plaintext to its device over the current session (or
    /// one started from a given bundle), checking that every device may be
    /// sent to. Nothing is committed unless a bundle revealed a changed
    /// identity and the send is blocked (then only the user records are).
    fn fan_out(
        &mut self,
        items: Vec<(Address, Zeroizing<Vec<u8>>)>,
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
    ) -> Result<FanOut, SendError> {
        let mut users: BTreeMap<String, UserRecord> = BTreeMap::new();
        for (address, _) in &items {
            if !users.contains_key(address.user()) {
                users.insert(address.user().to_owned(), self.load_user(address.user())?);
            }
        }
        // Identities learned from bundles (trust on first use; a changed
        // identity blocks).
        let mut users_changed = false;
        let mut events = Vec::new();
        // A device never seen (a group member the device lists do not
        // name) is learned now, as a new device of its user.
        for (address, _) in &items {
            if let Some(record) = users.get_mut(address.user())
                && !record.devices.contains_key(&address.device())
            {
                let status = record.add_device(address.device(), None, false).ok_or_else(|| {
                    ConversationError::TooManyDevices { user: record.user.clone(), max: MAX_DEVICES_PER_USER }
                })?;
                events.push(Event::NewDevice { address: address.clone(), status });
                users_changed = true;
            }
        }
        for (address, bundle) in bundles {
            // Only a bundle whose signatures hold may teach an identity.
            self.account.check_bundle(bundle).map_err(|error| SendError::Bundle { address: address.clone(), error })?;
            let device = items
                .iter()
                .any(|(a, _)| a == address)
                .then(|| users.get_mut(address.user()))
                .flatten()
                .and_then(|r| r.devices.get_mut(&address.device()))
                .ok_or_else(|| SendError::UnexpectedBundle(address.clone()))?;
            users_changed |= learn_identity(device, bundle.identity());
        }
        let blocked: Vec<(Address, DeviceStatus)> = items
            .iter()
            .filter_map(|(a, _)| {
                let status = users.get(a.user())?.devices.get(&a.device())?.status;
                (status != DeviceStatus::Trusted).then(|| (a.clone(), status))
            })
            .collect();
        if !blocked.is_empty() {
            if users_changed {
                let mut changes = ChangeSet::default();
                for record in users.values() {
                    changes.set_user(&record.user, Some(self.seal_user(record)));
                }
                self.commit(&changes)?;
                for (_, record) in users {
                    self.cache.keep_user(record);
                }
            }
            return Err(SendError::Blocked(blocked));
        }
        // A session per device: the current one, or a new one from a bundle.
        let mut records = Vec::with_capacity(items.len());
        let mut need = Vec::new();
        let max_age = self.config.max_unacknowledged_age;
        let mut messages = Vec::with_capacity(items.len());
        let mut absorbed = Vec::new();
        for (address, plaintext) in &items {
            let mut record = self.take_sessions(address)?;
            // Writing to someone whose message request is pending accepts
            // it: its session joins the record.
            if users.get(address.user()).is_some_and(|u| !u.contact)
                && let Some(request) = self.take_request(address)?
            {
                record.take_over(request);
                absorbed.push(address.clone());
            }
            let identity = users.get(address.user()).and_then(|u| u.devices.get(&address.device())?.identity.clone());
            let bundle = bundles.iter().find(|(a, _)| a == address).map(|(_, b)| b);
            match bundle {
                // A given bundle starts a new session even where one could
                // send: the caller asked for it.
                Some(bundle) => {
                    let context = self.me.context_as_initiator(address);
                    let (session, first) = self
                        .account
                        .start_session(bundle, &context, plaintext)
                        .map_err(|error| SendError::Bundle { address: address.clone(), error })?;
                    record.install(session, now);
                    // Sessions of any other identity go (the bundle's
                    // identity is the device's now: it passed the checks
                    // above).
                    record.retain_identity(bundle.identity());
                    messages.push((address.clone(), first));
                }
                None => match record.sendable(now, max_age) {
                    // Only a session with the device's recorded identity.
                    Some(session) if identity.as_ref().is_none_or(|i| i == session.peer_identity()) => {
                        let bytes = session
                            .encrypt(plaintext)
                            .map_err(|error| SendError::Encrypt { address: address.clone(), error })?;
                        messages.push((address.clone(), bytes));
                    }
                    // None, expired, or of an identity the device no longer
                    // has: a fresh bundle is needed.
                    _ => need.push(address.clone()),
                },
            }
            records.push(record);
        }
        if !need.is_empty() {
            return Err(SendError::NeedBundles(need));
        }
        Ok(FanOut { messages, records, users, users_changed, events, absorbed })
    }

    /// Commits a fan-out with `changes` (a group state, say) and the
    /// application's rows, then releases the ciphertexts.
    fn commit_fan_out(
        &mut self,
        fan: FanOut,
        mut changes: ChangeSet,
        app: impl FnOnce(&[(Address, Vec<u8>)]) -> Vec<AppWrite>,
    ) -> Result<Outgoing, SendError> {
        let FanOut { messages, records, users, users_changed, events, absorbed } = fan;
        for address in &absorbed {
            changes.set_request(address, None);
        }
        for record in &records {
            changes.set_session(record.address(), Some(self.seal_sessions(record)));
        }
        if users_changed {
            for record in users.values() {
                changes.set_user(&record.user, Some(self.seal_user(record)));
            }
        }
        let changes = changes.with_app_writes(app(&messages));
        let generation = self.commit(&changes)?;
        for record in records {
            self.cache.keep_sessions(record);
        }
        if users_changed {
            for (_, record) in users {
                self.cache.keep_user(record);
            }
        }
        Ok(Outgoing { messages, generation, events })
    }

    /// Decrypts a message from `from` (the device the transport says sent
    /// it; a first message presented under another address fails, because
    /// both addresses are bound into the session). Nothing is committed:
    /// pass the result to [`Conversations::commit_received`], with the
    /// application's inbox row, before showing it.
    ///
    /// # Errors
    ///
    /// A [`ReceiveError`]; nothing changed.
    pub fn receive(&mut self, from: &Address, bytes: &[u8], now: u64) -> Result<Received, ReceiveError> {
        self.sync()?;
        self.receive_staged(from, bytes, now)
    }

    /// [`Conversations::receive`] on the state as it is (cached or staged),
    /// without syncing. The session record taken for it goes back to the
    /// cache on error (it is unchanged then: decryption is transactional).
    fn receive_staged(&mut self, from: &Address, bytes: &[u8], now: u64) -> Result<Received, ReceiveError> {
        let envelope = Envelope::decode(bytes).map_err(ReceiveError::Decode)?;
        let mut record = self.take_sessions(from)?;
        match self.receive_with(from, &envelope, &mut record, now) {
            Ok(mut received) => {
                if received.record_changed {
                    received.record = Some(record);
                } else {
                    self.cache.keep_sessions(record);
                }
                self.unframe(&mut received);
                Ok(received)
            }
            Err(e) => {
                self.cache.keep_sessions(record);
                Err(e)
            }
        }
    }

    fn receive_with(
        &mut self,
        from: &Address,
        envelope: &Envelope,
        record: &mut SessionRecord,
        now: u64,
    ) -> Result<Received, ReceiveError> {
        let mut request = self.take_request(from)?;
        let result = self.receive_with_request(from, envelope, record, &mut request, now);
        // The request record goes back to the cache unless this message
        // changed it (then it travels with the result).
        match (result, request) {
            (Ok(mut received), Some(request)) if received.request_changed => {
                received.request = Some(request);
                Ok(received)
            }
            (result, request) => {
                self.cache.keep_request_at(from.clone(), request);
                result
            }
        }
    }

    fn receive_with_request(
        &mut self,
        from: &Address,
        envelope: &Envelope,
        record: &mut SessionRecord,
        request: &mut Option<SessionRecord>,
        now: u64,
    ) -> Result<Received, ReceiveError> {
        let mut received = Received::new(from.clone(), self.generation, self.instance);
        let first = match envelope {
            Envelope::PreKey(m) if !record.holds(m) && !request.as_ref().is_some_and(|r| r.holds(m)) => Some(m),
            _ => None,
        };
        if let Some(message) = first {
            return self.receive_first(from, message, record, now, received);
        }
        // A message of an existing session (or a repeated first message):
        // the conversation's sessions first, then a pending request's.
        let via_record = record.has_current().then(|| record.decrypt(envelope));
        match (via_record, request) {
            (Some(Ok((plaintext, _))), _) => {
                received.plaintext = Zeroizing::new(plaintext);
                received.changes.set_session(from, Some(self.seal_sessions(record)));
                received.record_changed = true;
            }
            (via_record, Some(request)) => match request.decrypt(envelope) {
                Ok((plaintext, _)) => {
                    received.plaintext = Zeroizing::new(plaintext);
                    received.kind = ReceivedKind::Request;
                    received.changes.set_request(from, Some(self.seal_sessions(request)));
                    received.request_changed = true;
                }
                Err(e) => {
                    let first_error = match via_record {
                        Some(Err(first)) => first,
                        _ => e,
                    };
                    return Err(ReceiveError::Decrypt(first_error));
                }
            },
            (Some(Err(e)), None) => return Err(ReceiveError::Decrypt(e)),
            (None, None) => return Err(ReceiveError::NoSession),
        }
        Ok(received)
    }

    /// Reads the content type of a decrypted 1:1 plaintext. An application
    /// message keeps its body. A group distribution is applied to its
    /// group, only from a trusted device under its recorded identity and
    /// not from a message request. Content that cannot be used leaves the
    /// message [`ReceivedKind::Unreadable`], with the reason: the session
    /// still advances when it is committed, so the conversation stays in
    /// step.
    fn unframe(&mut self, received: &mut Received) {
        let Some((&kind, body)) = received.plaintext.split_first() else {
            return received.unreadable(ReceiveError::UnknownContent { content_type: None });
        };
        match kind {
            FRAME_MESSAGE => received.plaintext = Zeroizing::new(body.to_vec()),
            FRAME_GROUP_KEYS if received.kind == ReceivedKind::Message => {
                let body = Zeroizing::new(body.to_vec());
                let result = self.sender_is_trusted(received).and_then(|()| self.take_distribution(received, &body));
                if let Err(e) = result {
                    received.unreadable(e);
                }
            }
            other => received.unreadable(ReceiveError::UnknownContent { content_type: Some(other) }),
        }
    }

    /// Whether the device a message came from is trusted, under the
    /// identity of the session that read it.
    fn sender_is_trusted(&self, received: &Received) -> Result<(), ReceiveError> {
        let user = match &received.user {
            Some(user) => user.clone(),
            None => self.load_user(received.from.user())?,
        };
        let device = user.devices.get(&received.from.device()).ok_or(ReceiveError::UntrustedSender)?;
        let session_identity = received.record.as_ref().and_then(|r| r.current()).map(Session::peer_identity);
        let same_identity = matches!((&device.identity, session_identity), (Some(a), Some(b)) if a == b);
        if device.status != DeviceStatus::Trusted || !same_identity {
            return Err(ReceiveError::UntrustedSender);
        }
        Ok(())
    }

    /// A first message that starts a new session.
    fn receive_first(
        &mut self,
        from: &Address,
        message: &PreKeyMessage,
        record: &mut SessionRecord,
        now: u64,
        mut received: Received,
    ) -> Result<Received, ReceiveError> {
        let mut user = self.load_user(from.user())?;
        // A contact, this device's own user, or a device the application
        // listed for its user: never a stranger.
        let known =
            user.contact || from.user() == self.me.user() || user.devices.get(&from.device()).is_some_and(|d| d.listed);
        let as_request = match self.config.contact_policy {
            _ if known => false,
            ContactPolicy::Anyone => false,
            ContactPolicy::KnownContactsOnly => return Err(ReceiveError::NotAContact),
            ContactPolicy::MessageRequests => true,
        };
        let context = self.me.context_as_responder(from);
        let pending = self.account.open_first_message(message, &context, now).map_err(ReceiveError::FirstMessage)?;
        // The sender's identity, authenticated by the decryption.
        let identity = pending.peer_identity().clone();
        match user.devices.get_mut(&from.device()) {
            Some(device) => {
                if learn_identity(device, &identity) && device.status == DeviceStatus::IdentityChanged {
                    received.events.push(Event::IdentityChanged { address: from.clone() });
                }
            }
            None => {
                // Not listed: only the application's device list decides
                // where messages fan out, so a device that merely wrote
                // first (a ghost the server invented, say) receives nothing
                // until the application lists it.
                let status = user
                    .add_device(from.device(), Some(identity.clone()), false)
                    .ok_or(ReceiveError::TooManyDevices)?;
                received.events.push(Event::NewDevice { address: from.clone(), status });
            }
        }
        received.plaintext = Zeroizing::new(pending.plaintext().to_vec());
        let mut account = self.account.duplicate();
        let session = account.accept(pending).map_err(ReceiveError::Accept)?;
        received.changes.account = Some(self.seal_account(&account));
        received.account = Some(account);
        if as_request {
            let mut request = SessionRecord::new_request(from.clone());
            request.install(session, now);
            received.changes.set_request(from, Some(self.seal_sessions(&request)));
            received.new_request = Some(request);
            received.kind = ReceivedKind::Request;
            received.events.push(Event::MessageRequest { address: from.clone() });
        } else {
            record.install(session, now);
            // Sessions of an identity the device no longer has are gone.
            record.retain_identity(&identity);
            received.changes.set_session(from, Some(self.seal_sessions(record)));
            received.record_changed = true;
        }
        received.changes.set_user(from.user(), Some(self.seal_user(&user)));
        received.user = Some(user);
        Ok(received)
    }

    /// Commits a received message's changes, with the application's own
    /// rows (its inbox entry) in the same transaction, and returns the new
    /// store generation. Show the message only after this succeeds.
    ///
    /// # Errors
    ///
    /// A [`ReceiveError::Conversation`] if the store failed or changed
    /// since the message was received (then receive it again).
    pub fn commit_received(&mut self, received: Received, app: Vec<AppWrite>) -> Result<u64, ReceiveError> {
        if received.instance != self.instance {
            return Err(ReceiveError::OtherInstance);
        }
        if received.batched {
            return Err(ReceiveError::StaleBatch);
        }
        if received.generation != self.generation {
            let found = self.store.generation()?;
            return Err(crate::store::StoreError::Conflict { expected: received.generation, found }.into());
        }
        let Received { changes, account, record, user, group, request, new_request, .. } = received;
        let changes = changes.with_app_writes(app);
        let generation = self.commit(&changes)?;
        if let Some(account) = account {
            self.account = account;
        }
        if let Some(record) = record {
            self.cache.keep_sessions(record);
        }
        if let Some(user) = user {
            self.cache.keep_user(user);
        }
        if let Some(group) = group {
            self.cache.keep_group(group);
        }
        for request in [request, new_request].into_iter().flatten() {
            self.cache.keep_request(request);
        }
        Ok(generation)
    }

    /// The addresses with a message request held.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn requests(&self) -> Result<Vec<Address>, ConversationError> {
        Ok(self.store.request_addresses()?)
    }

    /// Accepts the message request from `address`: its session becomes the
    /// current session with that device, and its user a known contact.
    ///
    /// # Errors
    ///
    /// [`ConversationError::NoRequest`], or a store failure.
    pub fn accept_request(&mut self, address: &Address) -> Result<(), ConversationError> {
        self.sync()?;
        let mut changes = ChangeSet::default();
        let record =
            self.absorb_request(address, &mut changes)?.ok_or_else(|| ConversationError::NoRequest(address.clone()))?;
        let mut user = self.load_user(address.user())?;
        user.contact = true;
        changes.set_user(address.user(), Some(self.seal_user(&user)));
        self.commit(&changes)?;
        self.cache.keep_sessions(record);
        self.cache.keep_user(user);
        Ok(())
    }

    /// Declines the message request from `address`: its session is
    /// deleted. The account already holds the first message's replay
    /// record (or its consumed one-time prekey), so the same request
    /// replayed is refused.
    ///
    /// # Errors
    ///
    /// [`ConversationError::NoRequest`], or a store failure.
    pub fn decline_request(&mut self, address: &Address) -> Result<(), ConversationError> {
        self.sync()?;
        if self.take_request(address)?.is_none() {
            return Err(ConversationError::NoRequest(address.clone()));
        }
        let mut changes = ChangeSet::default();
        changes.set_request(address, None);
        self.commit(&changes)?;
        Ok(())
    }

    /// How many previous sessions are kept with `address` (for tests and
    /// diagnostics).
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn previous_sessions(&self, address: &Address) -> Result<usize, ConversationError> {
        self.with_sessions(address, SessionRecord::previous_len)
    }

    /// The base key of the current session with `address`, if any. Both
    /// sides of a session hold the same base key (the initiator's
    /// ephemeral key), so two devices are on the same session exactly when
    /// these are equal.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn current_session_base_key(
        &self,
        address: &Address,
    ) -> Result<Option<crate::X25519PublicKey>, ConversationError> {
        self.with_sessions(address, |r| r.current().map(Session::base_key))
    }
}

/// What a fan-out computed, not committed yet.
struct FanOut {
    messages: Vec<(Address, Vec<u8>)>,
    records: Vec<SessionRecord>,
    users: BTreeMap<String, UserRecord>,
    users_changed: bool,
    events: Vec<Event>,
    /// Addresses whose pending message request joined their record.
    absorbed: Vec<Address>,
}

/// Content type of a 1:1 plaintext sent through [`Conversations`]: an
/// application message.
const FRAME_MESSAGE: u8 = 0x00;
/// Content type: a group sender-key distribution (docs/PROTOCOL.md §13.6).
const FRAME_GROUP_KEYS: u8 = 0x01;

/// `content type || body`.
fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

/// Records `identity` for a device: trust on first use; a different one
/// than before marks the device changed. Returns whether anything changed.
fn learn_identity(device: &mut DeviceRecord, identity: &PublicIdentity) -> bool {
    match &device.identity {
        None => {
            device.identity = Some(identity.clone());
            true
        }
        Some(known) if known == identity => false,
        Some(_) => {
            device.identity = Some(identity.clone());
            device.status = DeviceStatus::IdentityChanged;
            true
        }
    }
}
