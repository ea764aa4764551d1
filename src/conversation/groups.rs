//! Group chats through [`Conversations`]: group states kept in the store,
//! sender-key distributions carried over the 1:1 sessions with each member
//! device, all committed together (docs/PROTOCOL.md §13.6).
//!
//! A group's members are devices, named by their encoded [`Address`]. The
//! application decides membership (`create_group`, `add_group_member`,
//! `remove_group_member`) on every member device, as it does device lists.

use zeroize::Zeroizing;

use super::{
    ConversationError, Conversations, FRAME_GROUP_KEYS, Outgoing, ReceiveError, Received, ReceivedKind, SendError,
    frame,
};
use crate::address::Address;
use crate::bundle::PreKeyBundle;
use crate::group::{Group, GroupPickle};
use crate::store::{AppWrite, ChangeSet, Store};

/// What [`Conversations::send_group`] produced, committed.
#[derive(Debug)]
pub struct GroupSend {
    /// The group message: the same bytes for every member.
    pub message: Vec<u8>,
    /// Sender-key distributions, each encrypted over the 1:1 session with
    /// its device (empty unless this sender state is new to someone):
    /// deliver them before, or with, the group message.
    pub distributions: Outgoing,
}

impl<S: Store> Conversations<S> {
    /// The group `group_id`, taken out of the cache (see `take_sessions`).
    fn take_group(&mut self, group_id: &[u8]) -> Result<Option<Group>, ConversationError> {
        if let Some(group) = self.cache.groups.remove(group_id) {
            return Ok(Some(group));
        }
        let Some(sealed) = self.store.load_group(group_id)? else { return Ok(None) };
        let group = Group::from_pickle(&GroupPickle::from_encrypted(&sealed, &self.key)?)?;
        // The record names its group inside the encryption.
        if group.id() != group_id {
            return Err(ConversationError::Record(crate::PickleError::Invalid));
        }
        Ok(Some(group))
    }

    fn seal_group(&self, group: &Group) -> Vec<u8> {
        group.pickle().encrypt(&self.key)
    }

    fn commit_group(&mut self, group: Group) -> Result<u64, ConversationError> {
        let mut changes = ChangeSet::default();
        changes.set_group(group.id(), Some(self.seal_group(&group)));
        let generation = self.commit(&changes)?;
        self.cache.keep_group(group);
        Ok(generation)
    }

    /// Creates the group `group_id` on this device with the given member
    /// devices (this device is a member implicitly). Every member device
    /// creates the group with the same id and members.
    ///
    /// # Errors
    ///
    /// [`ConversationError::GroupExists`], a [`crate::GroupError`] (id too
    /// long, too many members), or a store failure.
    pub fn create_group(&mut self, group_id: &[u8], members: &[Address]) -> Result<(), ConversationError> {
        self.sync()?;
        if self.take_group(group_id)?.is_some() {
            return Err(ConversationError::GroupExists);
        }
        let mut group = Group::new(group_id, &self.me.encode())?;
        for member in members.iter().filter(|m| **m != self.me) {
            group.add_member(&member.encode())?;
        }
        self.commit_group(group)?;
        Ok(())
    }

    /// Adds a member device: it receives this device's sender state with the
    /// next group message.
    ///
    /// # Errors
    ///
    /// [`ConversationError::UnknownGroup`], a [`crate::GroupError`], or a
    /// store failure.
    pub fn add_group_member(&mut self, group_id: &[u8], member: &Address) -> Result<(), ConversationError> {
        self.sync()?;
        let mut group = self.take_group(group_id)?.ok_or(ConversationError::UnknownGroup)?;
        group.add_member(&member.encode())?;
        self.commit_group(group)?;
        Ok(())
    }

    /// Removes a member device: its messages are refused from now on, and
    /// this device's next group message rotates to a new sender state that
    /// the removed device never receives.
    ///
    /// # Errors
    ///
    /// [`ConversationError::UnknownGroup`] or a store failure.
    pub fn remove_group_member(&mut self, group_id: &[u8], member: &Address) -> Result<bool, ConversationError> {
        self.sync()?;
        let mut group = self.take_group(group_id)?.ok_or(ConversationError::UnknownGroup)?;
        let removed = group.remove_member(&member.encode());
        self.commit_group(group)?;
        Ok(removed)
    }

    /// The member devices of a group (this device excluded).
    ///
    /// # Errors
    ///
    /// [`ConversationError::UnknownGroup`] or a store failure.
    pub fn group_members(&mut self, group_id: &[u8]) -> Result<Vec<Address>, ConversationError> {
        self.sync()?;
        let group = self.take_group(group_id)?.ok_or(ConversationError::UnknownGroup)?;
        let members = group.members().filter_map(|m| Address::decode(m).ok()).collect();
        self.cache.keep_group(group);
        Ok(members)
    }

    /// Encrypts `plaintext` to the group, and the sender-key distributions
    /// it needs to the member devices that lack this device's current
    /// sender state (each over its 1:1 session), then commits the group
    /// state and the sessions together. Bundles work as in
    /// [`Conversations::send`].
    ///
    /// # Errors
    ///
    /// A [`SendError`]: bundles needed, a member device blocked, a group
    /// error, or a failure. Nothing is committed (but see
    /// [`SendError::Blocked`]).
    pub fn send_group(
        &mut self,
        group_id: &[u8],
        plaintext: &[u8],
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
    ) -> Result<GroupSend, SendError> {
        self.send_group_with(group_id, plaintext, bundles, now, |_, _| Vec::new())
    }

    /// [`Conversations::send_group`] with rows of the application's own
    /// committed in the same transaction; `app` sees the group message and
    /// the encrypted distributions first.
    ///
    /// # Errors
    ///
    /// As [`Conversations::send_group`].
    pub fn send_group_with(
        &mut self,
        group_id: &[u8],
        plaintext: &[u8],
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
        app: impl FnOnce(&[u8], &[(Address, Vec<u8>)]) -> Vec<AppWrite>,
    ) -> Result<GroupSend, SendError> {
        self.sync()?;
        let mut group = self.take_group(group_id)?.ok_or(ConversationError::UnknownGroup)?;
        let out = group.encrypt(plaintext, now).map_err(SendError::Group)?;
        let mut items = Vec::with_capacity(out.distributions.len());
        for d in &out.distributions {
            let address = Address::decode(&d.to).map_err(|_| SendError::Group(crate::GroupError::NotAMember))?;
            items.push((address, Zeroizing::new(frame(FRAME_GROUP_KEYS, &d.bytes))));
        }
        let fan = self.fan_out(items, bundles, now)?;
        let mut changes = ChangeSet::default();
        changes.set_group(group.id(), Some(self.seal_group(&group)));
        let message = out.message;
        let distributions = self.commit_fan_out(fan, changes, |sent| app(&message, sent))?;
        self.cache.keep_group(group);
        Ok(GroupSend { message, distributions })
    }

    /// Decrypts a group message of `group_id`. The sender is the device
    /// whose sender state reads it ([`Received::from`]). Nothing is
    /// committed until [`Conversations::commit_received`].
    ///
    /// # Errors
    ///
    /// [`ReceiveError::Group`] (including a sender state not received yet:
    /// keep the message and retry after the distribution arrives),
    /// [`ReceiveError::Conversation`] for an unknown group or a store
    /// failure.
    pub fn receive_group(&mut self, group_id: &[u8], bytes: &[u8]) -> Result<Received, ReceiveError> {
        self.sync()?;
        self.receive_group_staged(group_id, bytes)
    }

    /// [`Conversations::receive_group`] on the state as it is (cached or
    /// staged), without syncing.
    pub(super) fn receive_group_staged(&mut self, group_id: &[u8], bytes: &[u8]) -> Result<Received, ReceiveError> {
        let mut group = self.take_group(group_id)?.ok_or(ConversationError::UnknownGroup)?;
        // Decryption is transactional: on failure the group goes back as
        // it was.
        let read = match group.decrypt(bytes) {
            Ok(read) => read,
            Err(e) => {
                self.cache.keep_group(group);
                return Err(ReceiveError::Group(e));
            }
        };
        let Ok(from) = Address::decode(&read.sender) else {
            // A member id that is not an address: none of ours is (every
            // member id is an encoded address). Drop the advanced copy and
            // anything staged; the store's state is unchanged.
            self.discard_staged();
            return Err(ReceiveError::Decode(crate::DecodeError::InvalidText));
        };
        let mut received = Received::new(from, self.generation, self.instance);
        received.plaintext = Zeroizing::new(read.plaintext);
        received.kind = ReceivedKind::GroupMessage;
        received.group_id = Some(group_id.to_vec());
        received.changes.set_group(group_id, Some(self.seal_group(&group)));
        received.group = Some(group);
        Ok(received)
    }

    /// Applies a sender-key distribution that arrived in a 1:1 message from
    /// `received.from` (already decrypted): the group takes the sender
    /// state, and the change joins the message's change set.
    pub(super) fn take_distribution(&mut self, received: &mut Received, body: &[u8]) -> Result<(), ReceiveError> {
        let group_id = crate::group::distribution_group_id(body).map_err(ReceiveError::Decode)?;
        let mut group = self.take_group(&group_id)?.ok_or(ConversationError::UnknownGroup)?;
        if let Err(e) = group.receive_distribution(&received.from.encode(), body) {
            // Refused without change: back to the cache.
            self.cache.keep_group(group);
            return Err(ReceiveError::Group(e));
        }
        received.changes.set_group(&group_id, Some(self.seal_group(&group)));
        received.kind = ReceivedKind::GroupKeys;
        received.group_id = Some(group_id);
        received.plaintext = Zeroizing::new(Vec::new());
        received.group = Some(group);
        Ok(())
    }
}
