//! How an operation reads and changes records: one explicit [`SyncState`],
//! a working set per operation, and one commit path.
//!
//! Reads go to the staged overlay (while a batch is staged), then to the
//! cache of committed records, then to the store. An operation takes the
//! records it needs into its [`Work`]; [`Conversations::run`] ends every
//! operation in one place: records it changed come out as a [`Pending`]
//! (to commit, to stage, or to carry in a [`crate::Received`]), and the
//! others go back where they came from. A record changed by an operation
//! that then failed is dropped (the next read goes to the store), so
//! memory never holds state that neither the store nor a pending commit
//! has.

use rand_core::CryptoRng;

use super::cache::{Pending, open_device};
use super::record::SessionRecord;
use super::user::UserRecord;
use super::work::{Ends, Groups, Kind, Origin, Requests, Sessions, Slot, Users, Work, slot};
use super::{ConversationError, Conversations};
use crate::account::Account;
use crate::address::{Address, check_user_id};
use crate::group::Group;
use crate::store::{AppWrite, Store};

/// Whether memory agrees with the store.
pub(super) enum SyncState {
    /// The cache and the account are as committed at the generation this
    /// instance last saw.
    Current,
    /// A batch is staged ([`crate::Conversations::receive_batch`]): its
    /// records live in `overlay` only, read before the cache and never
    /// evicted, until `commit_batch` commits them or any other operation
    /// drops them.
    Staged {
        /// Which batch: only the latest can commit.
        epoch: u64,
        /// The batch's records, not committed.
        overlay: Pending,
    },
    /// Memory may disagree with the store (a commit failed, or a staged
    /// batch lost a record): the next operation reloads.
    Stale,
}

impl<S: Store> Conversations<S> {
    /// Starts an operation: drops a staged batch (its records were never
    /// committed), and reloads if another writer committed or memory is
    /// stale.
    pub(super) fn sync(&mut self) -> Result<(), ConversationError> {
        if let SyncState::Staged { .. } = self.state {
            self.state = SyncState::Current;
        }
        let generation = self.store.generation()?;
        if matches!(self.state, SyncState::Stale) || generation != self.generation {
            self.cache.clear();
            if let Some(sealed) = self.store.load_account()? {
                // Another writer may have changed the config too.
                (self.account, self.config) = open_device(&sealed, &self.key, &self.me)?;
            }
            self.generation = generation;
            self.state = SyncState::Current;
        }
        Ok(())
    }

    /// Runs one operation on a fresh working set and ends it: on success
    /// the changed records come back as a [`Pending`], on failure they are
    /// dropped; unchanged records go back where they came from either way.
    pub(super) fn run<T, E>(
        &mut self,
        op: impl FnOnce(&mut Self, &mut Work) -> Result<T, E>,
    ) -> Result<(T, Pending), E> {
        let mut work = Work::default();
        let result = op(self, &mut work);
        let pending = self.end(work, result.is_ok());
        result.map(|value| (value, pending))
    }

    /// [`Conversations::sync`], then [`Conversations::run`], then commits
    /// what changed: the shape of every operation that commits at once.
    pub(super) fn operate<T, E: From<ConversationError>>(
        &mut self,
        op: impl FnOnce(&mut Self, &mut Work) -> Result<T, E>,
    ) -> Result<T, E> {
        self.operate_with(Vec::new(), op)
    }

    /// [`Conversations::operate`], committing the application rows `app`
    /// in the same transaction.
    pub(super) fn operate_with<T, E: From<ConversationError>>(
        &mut self,
        app: Vec<AppWrite>,
        op: impl FnOnce(&mut Self, &mut Work) -> Result<T, E>,
    ) -> Result<T, E> {
        self.sync()?;
        let (value, pending) = self.run(op)?;
        self.commit(pending, app)?;
        Ok(value)
    }

    fn end(&mut self, work: Work, succeeded: bool) -> Pending {
        let Work { sessions, requests, users, groups, account } = work;
        let mut ends = Ends { succeeded, ..Ends::default() };
        ends.sort(sessions, |p| &mut p.sessions);
        ends.sort(requests, |p| &mut p.requests);
        ends.sort(users, |p| &mut p.users);
        // An absent group that stayed absent has nowhere to go.
        let groups = groups
            .into_iter()
            .filter_map(|(k, s)| Some((k, Slot { value: s.value?, origin: s.origin, changed: s.changed })))
            .collect();
        ends.sort(groups, |p| &mut p.groups);
        let Ends { mut changed, committed, overlay, lost_staged, .. } = ends;
        if succeeded {
            changed.account = account;
        }
        let _ = committed.into_cache(&mut self.cache);
        match &mut self.state {
            SyncState::Staged { .. } if lost_staged => self.state = SyncState::Stale,
            SyncState::Staged { overlay: staged, .. } => staged.merge(overlay),
            _ => {}
        }
        changed
    }

    /// Seals `pending`, commits it with the application's rows, and moves
    /// its records into the cache. On failure nothing is kept in memory
    /// and the next operation reloads.
    pub(super) fn commit(&mut self, pending: Pending, app: Vec<AppWrite>) -> Result<u64, ConversationError> {
        // A ciphertext row is filled in by its own send only; unresolved,
        // a store would read it as a deletion.
        if app.iter().any(AppWrite::is_unresolved) {
            return Err(ConversationError::ForeignOutboxRow);
        }
        // Nothing changed: no transaction, and the generation stays (so a
        // `Received` computed before stays committable).
        if pending.is_empty() && app.is_empty() {
            return Ok(self.generation);
        }
        let changes = pending.seal(&self.me, &self.config, &self.key, &mut *self.rng).with_app_writes(app);
        match self.store.commit(self.generation, &changes) {
            Ok(generation) => {
                debug_event!(generation, "committed");
                self.generation = generation;
                if let Some(account) = pending.into_cache(&mut self.cache) {
                    self.account = *account;
                }
                Ok(generation)
            }
            Err(e) => {
                debug_event!(error = %e, "commit failed");
                self.state = SyncState::Stale;
                Err(e.into())
            }
        }
    }

    /// The account before this operation: staged or committed.
    fn base_account(&self) -> &Account {
        staged_or(&self.state, &self.account)
    }

    /// The account as this operation sees it.
    pub(super) fn account_in<'a>(&'a self, work: &'a Work) -> &'a Account {
        work.account.as_deref().unwrap_or_else(|| self.base_account())
    }

    /// The account, to change in this operation.
    pub(super) fn account_mut<'w>(&self, work: &'w mut Work) -> &'w mut Account {
        work.account.get_or_insert_with(|| Box::new(self.base_account().duplicate()))
    }

    /// Takes a record into the working set (overlay, then cache, then
    /// store) and returns its slot.
    fn slot<'w, K: Kind>(
        &mut self,
        work: &'w mut Work,
        key: &K::Lookup,
    ) -> Result<&'w mut Slot<K::Value>, ConversationError> {
        slot(K::slots(work), key, || {
            if let SyncState::Staged { overlay, .. } = &mut self.state
                && let Some(value) = K::staged(overlay, key)
            {
                return Ok((value, Origin::Overlay));
            }
            if let Some(value) = K::cached(&mut self.cache, key) {
                return Ok((value, Origin::Committed));
            }
            Ok((K::stored(self, key)?, Origin::Committed))
        })
    }

    /// A record, read only.
    fn read<'w, K: Kind>(&mut self, work: &'w mut Work, key: &K::Lookup) -> Result<&'w K::Value, ConversationError> {
        Ok(&self.slot::<K>(work, key)?.value)
    }

    /// A record, to change: marked changed now.
    fn write<'w, K: Kind>(
        &mut self,
        work: &'w mut Work,
        key: &K::Lookup,
    ) -> Result<&'w mut K::Value, ConversationError> {
        let slot = self.slot::<K>(work, key)?;
        slot.changed = true;
        Ok(&mut slot.value)
    }

    /// A transactional change to a record (it must leave the record as it
    /// was when it fails): marked changed only when it succeeds.
    fn change<K: Kind, T, E: From<ConversationError>>(
        &mut self,
        work: &mut Work,
        key: &K::Lookup,
        f: impl FnOnce(&mut K::Value, &mut dyn CryptoRng) -> Result<T, E>,
    ) -> Result<T, E> {
        let slot = self.slot::<K>(work, key)?;
        let out = f(&mut slot.value, &mut *self.rng)?;
        slot.changed = true;
        Ok(out)
    }

    /// The session record of `address`, read only.
    pub(super) fn sessions<'w>(
        &mut self,
        work: &'w mut Work,
        address: &Address,
    ) -> Result<&'w SessionRecord, ConversationError> {
        self.read::<Sessions>(work, address)
    }

    /// The session record of `address`, to change.
    pub(super) fn sessions_mut<'w>(
        &mut self,
        work: &'w mut Work,
        address: &Address,
    ) -> Result<&'w mut SessionRecord, ConversationError> {
        self.write::<Sessions>(work, address)
    }

    /// A transactional change to the session record of `address`.
    pub(super) fn try_sessions<T, E: From<ConversationError>>(
        &mut self,
        work: &mut Work,
        address: &Address,
        f: impl FnOnce(&mut SessionRecord) -> Result<T, E>,
    ) -> Result<T, E> {
        self.change::<Sessions, _, _>(work, address, |record, _| f(record))
    }

    /// [`Conversations::try_sessions`] with this instance's generator.
    pub(super) fn try_sessions_with_rng<T, E: From<ConversationError>>(
        &mut self,
        work: &mut Work,
        address: &Address,
        f: impl FnOnce(&mut SessionRecord, &mut dyn CryptoRng) -> Result<T, E>,
    ) -> Result<T, E> {
        self.change::<Sessions, _, _>(work, address, f)
    }

    /// The message request from `address`, if one is held, read only.
    pub(super) fn request<'w>(
        &mut self,
        work: &'w mut Work,
        address: &Address,
    ) -> Result<Option<&'w SessionRecord>, ConversationError> {
        Ok(self.read::<Requests>(work, address)?.as_ref())
    }

    /// The message request from `address`, to change or delete (`take`).
    pub(super) fn request_mut<'w>(
        &mut self,
        work: &'w mut Work,
        address: &Address,
    ) -> Result<&'w mut Option<SessionRecord>, ConversationError> {
        self.write::<Requests>(work, address)
    }

    /// A transactional change to the request from `address`.
    pub(super) fn try_request<T, E: From<ConversationError>>(
        &mut self,
        work: &mut Work,
        address: &Address,
        f: impl FnOnce(&mut Option<SessionRecord>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.change::<Requests, _, _>(work, address, |request, _| f(request))
    }

    /// The user record of `user`, read only.
    pub(super) fn user<'w>(&mut self, work: &'w mut Work, user: &str) -> Result<&'w UserRecord, ConversationError> {
        check_user_id(user)?;
        self.read::<Users>(work, user)
    }

    /// The user record of `user`, to change.
    pub(super) fn user_mut<'w>(
        &mut self,
        work: &'w mut Work,
        user: &str,
    ) -> Result<&'w mut UserRecord, ConversationError> {
        check_user_id(user)?;
        self.write::<Users>(work, user)
    }

    /// A transactional change to the user record of `user`.
    pub(super) fn try_user<T, E: From<ConversationError>>(
        &mut self,
        work: &mut Work,
        user: &str,
        f: impl FnOnce(&mut UserRecord) -> Result<T, E>,
    ) -> Result<T, E> {
        check_user_id(user).map_err(ConversationError::from)?;
        self.change::<Users, _, _>(work, user, |record, _| f(record))
    }

    /// The group `id`, if this device has it, read only.
    pub(super) fn group<'w>(&mut self, work: &'w mut Work, id: &[u8]) -> Result<Option<&'w Group>, ConversationError> {
        Ok(self.read::<Groups>(work, id)?.as_ref())
    }

    /// The group `id`, to change; [`ConversationError::UnknownGroup`] if
    /// this device does not have it.
    pub(super) fn group_mut<'w>(&mut self, work: &'w mut Work, id: &[u8]) -> Result<&'w mut Group, ConversationError> {
        let slot = self.slot::<Groups>(work, id)?;
        let group = slot.value.as_mut().ok_or(ConversationError::UnknownGroup)?;
        slot.changed = true;
        Ok(group)
    }

    /// A transactional change to the group `id`.
    pub(super) fn try_group<T, E: From<ConversationError>>(
        &mut self,
        work: &mut Work,
        id: &[u8],
        f: impl FnOnce(&mut Group) -> Result<T, E>,
    ) -> Result<T, E> {
        self.change::<Groups, _, _>(work, id, |group, _| f(group.as_mut().ok_or(ConversationError::UnknownGroup)?))
    }

    /// The group `id`, to change with this instance's generator: marked
    /// changed first, so `f` need not be transactional (a failure drops
    /// the group with the operation).
    pub(super) fn group_mut_with_rng<T, E: From<ConversationError>>(
        &mut self,
        work: &mut Work,
        id: &[u8],
        f: impl FnOnce(&mut Group, &mut dyn CryptoRng) -> Result<T, E>,
    ) -> Result<T, E> {
        let slot = self.slot::<Groups>(work, id)?;
        let group = slot.value.as_mut().ok_or(ConversationError::UnknownGroup)?;
        slot.changed = true;
        f(group, &mut *self.rng)
    }

    /// Adds a new group to the working set (it must not exist).
    pub(super) fn insert_group(&mut self, work: &mut Work, group: Group) -> Result<(), ConversationError> {
        if self.group(work, group.id())?.is_some() {
            return Err(ConversationError::GroupExists);
        }
        let id = group.id().to_vec();
        *self.write::<Groups>(work, &id)? = Some(group);
        Ok(())
    }

    /// The account as this operation sees it, and this instance's
    /// generator.
    pub(super) fn account_and_rng<'a>(&'a mut self, work: &'a Work) -> (&'a Account, &'a mut dyn CryptoRng) {
        let account = work.account.as_deref().unwrap_or_else(|| staged_or(&self.state, &self.account));
        (account, &mut *self.rng)
    }
}

/// The staged account while a batch that changed it is staged, else the
/// committed one.
fn staged_or<'a>(state: &'a SyncState, committed: &'a Account) -> &'a Account {
    match state {
        SyncState::Staged { overlay: Pending { account: Some(account), .. }, .. } => account,
        _ => committed,
    }
}
