//! The working set of one operation: the records it took, each with where
//! it came from and whether the operation changed it, and where each kind
//! of record is found (overlay, cache, store).

use std::collections::BTreeMap;

use super::cache::{Pending, RecordCache};
use super::record::SessionRecord;
use super::user::UserRecord;
use super::{ConversationError, Conversations};
use crate::account::Account;
use crate::address::Address;
use crate::group::Group;
use crate::store::Store;

/// Where a record in a working set came from, and so where it goes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// The staged overlay.
    Overlay,
    /// The cache or the store: committed state.
    Committed,
}

pub(super) struct Slot<T> {
    pub(super) value: T,
    pub(super) origin: Origin,
    pub(super) changed: bool,
}

/// The records one operation has taken, keyed like the store.
#[derive(Default)]
pub(super) struct Work {
    pub(super) sessions: BTreeMap<Address, Slot<SessionRecord>>,
    pub(super) requests: BTreeMap<Address, Slot<Option<SessionRecord>>>,
    pub(super) users: BTreeMap<String, Slot<UserRecord>>,
    pub(super) groups: BTreeMap<Vec<u8>, Slot<Option<Group>>>,
    /// The account, once the operation changes it.
    pub(super) account: Option<Box<Account>>,
}

/// Where the records of an ended operation go.
#[derive(Default)]
pub(super) struct Ends {
    pub(super) succeeded: bool,
    /// Changed by a successful operation.
    pub(super) changed: Pending,
    /// Unchanged, back to the cache.
    pub(super) committed: Pending,
    /// Unchanged, back to the staged overlay.
    pub(super) overlay: Pending,
    /// A staged record was changed by an operation that failed: the
    /// staged batch cannot be trusted any more.
    pub(super) lost_staged: bool,
}

impl Ends {
    pub(super) fn sort<K: Ord, T>(
        &mut self,
        slots: BTreeMap<K, Slot<T>>,
        kind: impl Fn(&mut Pending) -> &mut BTreeMap<K, T>,
    ) {
        for (key, slot) in slots {
            let to = match (slot.changed, self.succeeded, slot.origin) {
                (true, true, _) => &mut self.changed,
                (true, false, origin) => {
                    self.lost_staged |= origin == Origin::Overlay;
                    continue;
                }
                (false, _, Origin::Overlay) => &mut self.overlay,
                (false, _, Origin::Committed) => &mut self.committed,
            };
            kind(to).insert(key, slot.value);
        }
    }
}

/// Finds `key`'s slot, loading it with `load` the first time (looked up
/// by reference: no key is allocated once the slot is there).
pub(super) fn slot<'w, Q, K, T>(
    map: &'w mut BTreeMap<K, Slot<T>>,
    key: &Q,
    load: impl FnOnce() -> Result<(T, Origin), ConversationError>,
) -> Result<&'w mut Slot<T>, ConversationError>
where
    Q: Ord + ToOwned<Owned = K> + ?Sized,
    K: Ord + core::borrow::Borrow<Q>,
{
    if !map.contains_key(key) {
        let (value, origin) = load()?;
        map.insert(key.to_owned(), Slot { value, origin, changed: false });
    }
    // Inserted just above if it was missing.
    map.get_mut(key).ok_or(ConversationError::Record(crate::PickleError::Invalid))
}

/// One kind of record a working set holds, and where it is found.
pub(super) trait Kind {
    /// How the key is looked up.
    type Lookup: Ord + ToOwned<Owned = Self::Key> + ?Sized + 'static;
    type Key: Ord + core::borrow::Borrow<Self::Lookup> + 'static;
    type Value: 'static;
    fn slots(work: &mut Work) -> &mut BTreeMap<Self::Key, Slot<Self::Value>>;
    fn staged(overlay: &mut Pending, key: &Self::Lookup) -> Option<Self::Value>;
    fn cached(cache: &mut RecordCache, key: &Self::Lookup) -> Option<Self::Value>;
    fn stored<S: Store>(from: &Conversations<S>, key: &Self::Lookup) -> Result<Self::Value, ConversationError>;
}

/// Session records, by address.
pub(super) enum Sessions {}
/// Message requests, by address (`None`: there is none).
pub(super) enum Requests {}
/// User records, by user id.
pub(super) enum Users {}
/// Groups, by group id (`None`: this device has no such group).
pub(super) enum Groups {}

impl Kind for Sessions {
    type Lookup = Address;
    type Key = Address;
    type Value = SessionRecord;
    fn slots(work: &mut Work) -> &mut BTreeMap<Address, Slot<SessionRecord>> {
        &mut work.sessions
    }
    fn staged(overlay: &mut Pending, key: &Address) -> Option<SessionRecord> {
        overlay.sessions.remove(key)
    }
    fn cached(cache: &mut RecordCache, key: &Address) -> Option<SessionRecord> {
        cache.sessions.remove(key)
    }
    fn stored<S: Store>(from: &Conversations<S>, key: &Address) -> Result<SessionRecord, ConversationError> {
        from.open_sessions(from.store.load_sessions(key)?, key)
    }
}

impl Kind for Requests {
    type Lookup = Address;
    type Key = Address;
    type Value = Option<SessionRecord>;
    fn slots(work: &mut Work) -> &mut BTreeMap<Address, Slot<Option<SessionRecord>>> {
        &mut work.requests
    }
    fn staged(overlay: &mut Pending, key: &Address) -> Option<Option<SessionRecord>> {
        overlay.requests.remove(key)
    }
    fn cached(cache: &mut RecordCache, key: &Address) -> Option<Option<SessionRecord>> {
        cache.requests.remove(key)
    }
    fn stored<S: Store>(from: &Conversations<S>, key: &Address) -> Result<Option<SessionRecord>, ConversationError> {
        from.open_request(key)
    }
}

impl Kind for Users {
    type Lookup = str;
    type Key = String;
    type Value = UserRecord;
    fn slots(work: &mut Work) -> &mut BTreeMap<String, Slot<UserRecord>> {
        &mut work.users
    }
    fn staged(overlay: &mut Pending, key: &str) -> Option<UserRecord> {
        overlay.users.remove(key)
    }
    fn cached(cache: &mut RecordCache, key: &str) -> Option<UserRecord> {
        cache.users.remove(key)
    }
    fn stored<S: Store>(from: &Conversations<S>, key: &str) -> Result<UserRecord, ConversationError> {
        from.open_user(key)
    }
}

impl Kind for Groups {
    type Lookup = [u8];
    type Key = Vec<u8>;
    type Value = Option<Group>;
    fn slots(work: &mut Work) -> &mut BTreeMap<Vec<u8>, Slot<Option<Group>>> {
        &mut work.groups
    }
    fn staged(overlay: &mut Pending, key: &[u8]) -> Option<Option<Group>> {
        overlay.groups.remove(key).map(Some)
    }
    fn cached(cache: &mut RecordCache, key: &[u8]) -> Option<Option<Group>> {
        cache.groups.remove(key).map(Some)
    }
    fn stored<S: Store>(from: &Conversations<S>, key: &[u8]) -> Result<Option<Group>, ConversationError> {
        from.open_group(key)
    }
}
