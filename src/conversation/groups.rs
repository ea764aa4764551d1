//! Group chats through [`Conversations`]: group states kept in the store,
//! sender-key distributions carried over the 1:1 sessions with each member
//! device, all committed together (docs/PROTOCOL.md §13.6).
//!
//! A group's members are devices, named by their encoded [`Address`]. The
//! application decides membership (`create_group`, `add_group_member`,
//! `remove_group_member`) on every member device, as it does device lists.

use super::framing::{Content as Framed, frame_group_keys, frame_message, unframe};
use super::group_resend::was_resent;
use super::receive::{Received, ReceivedKind};
use super::send::{FanOut, Outbound, Outgoing, app_rows};
use super::trust::Event;
use super::work::Work;
use super::{ConversationError, Conversations, ReceiveError, SendError};
use crate::address::Address;
use crate::bundle::PreKeyBundle;
use crate::content::{Content, Destination, MessageId, unpad};
use crate::group::Group;
use crate::store::{AppWrite, Store};

/// What [`Conversations::send_group`] produced, committed.
#[derive(Debug)]
#[must_use = "the group message and distributions are committed: deliver them, or the members miss this message"]
#[non_exhaustive]
pub struct GroupSend {
    /// The group message: the same bytes for every member.
    pub message: Vec<u8>,
    /// The id of the message (docs/PROTOCOL.md §13.12), for edits,
    /// reactions and receipts that refer to it.
    pub message_id: MessageId,
    /// When the sender's own copy expires under the group's
    /// disappearing-message timer (`now` plus the timer), or `None`.
    pub expires_at: Option<u64>,
    /// Sender-key distributions, each encrypted over the 1:1 session with
    /// its device (empty unless this sender state is new to someone):
    /// deliver them before, or with, the group message.
    pub distributions: Outgoing,
}

impl GroupSend {
    /// What the send noticed (devices seen for the first time), as every
    /// operation reports it: in its result, like [`crate::Received::events`],
    /// [`Outgoing::events`] and the list [`Conversations::set_devices`]
    /// returns. Show them to the user.
    pub fn events(&self) -> &[Event] {
        &self.distributions.events
    }
}

impl<S: Store> Conversations<S> {
    /// Creates the group `group_id` on this device with the given member
    /// devices (this device is a member implicitly, and skipped if listed).
    /// Every member device creates the group with the same id and members.
    /// Sender keys the members sent before the group existed here (kept
    /// pending, [`crate::ReceivedKind::GroupKeys`]) are applied now.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// // Every member device gives the same list: this device is skipped in it.
    /// alice.create_group(b"team", &[a, b.clone()])?;
    /// assert_eq!(alice.group_members(b"team")?, [b]);
    /// // Group ids are unique on a device.
    /// assert!(alice.create_group(b"team", &[]).is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::GroupExists`], a [`crate::GroupError`] (id too
    /// long, too many members), or a store failure.
    pub fn create_group(&mut self, group_id: &[u8], members: &[Address]) -> Result<(), ConversationError> {
        let me = self.me.clone();
        self.operate(|this, work| {
            let mut group = Group::new(group_id, &me.encode())?;
            for member in members.iter().filter(|m| **m != me) {
                group.add_member(&member.encode())?;
            }
            this.insert_group(work, group)?;
            // Keys that came before the group did.
            for member in members.iter().filter(|m| **m != me) {
                this.apply_pending_keys(work, group_id, member)?;
            }
            Ok(())
        })
    }

    /// Adds a member device: it receives this device's sender state with the
    /// next group message, and the sender keys it sent before it was a
    /// member here (kept pending) are applied now.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// let (b, c) = (Address::new("bob", 1)?, Address::new("carol", 1)?);
    /// alice.create_group(b"team", &[b.clone()])?;
    /// // Every member device adds Carol; she reads from the next message on.
    /// alice.add_group_member(b"team", &c)?;
    /// assert_eq!(alice.group_members(b"team")?, [b, c]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::UnknownGroup`],
    /// [`ConversationError::OwnAddress`] for this device itself, a
    /// [`crate::GroupError`], or a store failure.
    pub fn add_group_member(&mut self, group_id: &[u8], member: &Address) -> Result<(), ConversationError> {
        if *member == self.me {
            return Err(ConversationError::OwnAddress);
        }
        self.operate(|this, work| {
            this.try_group(work, group_id, |g| Ok::<_, ConversationError>(g.add_member(&member.encode())?))?;
            // Keys it sent before it was a member here.
            this.apply_pending_keys(work, group_id, member)
        })
    }

    /// Removes a member device: its messages are refused from now on, and
    /// this device's next group message rotates to a new sender state that
    /// the removed device never receives. Returns whether it was a member.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// let c = Address::new("carol", 1)?;
    /// alice.create_group(b"team", &[b.clone(), c.clone()])?;
    /// assert!(alice.remove_group_member(b"team", &c)?);
    /// // The next message starts a new sender state, distributed to Bob only.
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send_group(b"team", b"carol left", &[(b.clone(), bundle)], now)?;
    /// let to: Vec<&Address> = sent.distributions.messages.iter().map(|(to, _)| to).collect();
    /// assert_eq!(to, [&b]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::UnknownGroup`] or a store failure.
    pub fn remove_group_member(&mut self, group_id: &[u8], member: &Address) -> Result<bool, ConversationError> {
        self.operate(|this, work| Ok(this.group_mut(work, group_id)?.remove_member(&member.encode())))
    }

    /// The member devices of a group (this device excluded).
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// let (b, c) = (Address::new("bob", 1)?, Address::new("carol", 1)?);
    /// alice.create_group(b"team", &[b.clone(), c.clone()])?;
    /// assert_eq!(alice.group_members(b"team")?, [b, c]);
    /// assert!(alice.group_members(b"no such group").is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::UnknownGroup`] or a store failure.
    pub fn group_members(&self, group_id: &[u8]) -> Result<Vec<Address>, ConversationError> {
        self.peek_group(group_id, |group| group.members().filter_map(|m| Address::decode(m).ok()).collect())?
            .ok_or(ConversationError::UnknownGroup)
    }

    /// Encrypts `content` (any [`Content`]; plain bytes are a payload, a
    /// string is text) to the group, padded (§13.13), and the sender-key distributions
    /// it needs to the member devices that lack this device's current
    /// sender state (each over its 1:1 session), then commits the group
    /// state and the sessions together. Bundles work as in
    /// [`Conversations::send`]; a member's pending message request is not
    /// accepted by this (a session is started from a bundle instead).
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// // Every member device creates the group with the same members.
    /// alice.create_group(b"team", &[b.clone()])?;
    /// bob.create_group(b"team", &[a.clone()])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send_group(b"team", b"hello team", &[(b.clone(), bundle)], now)?;
    /// // Bob's sender keys come over the 1:1 session, then the message.
    /// let keys = bob.receive(&a, &sent.distributions.messages[0].1, now)?;
    /// bob.commit_received(keys, vec![])?;
    /// let read = bob.receive_group(b"team", &a, &sent.message, now)?;
    /// assert_eq!(read.plaintext(), b"hello team");
    /// bob.commit_received(read, vec![])?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`SendError`]: bundles needed, a member device blocked, a group
    /// error, or a failure. Nothing is committed (but see
    /// [`SendError::Blocked`]).
    pub fn send_group(
        &mut self,
        group_id: &[u8],
        content: impl Into<Content>,
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
    ) -> Result<GroupSend, SendError> {
        self.send_group_with(group_id, content, bundles, now, |_| Vec::new())
    }

    /// [`Conversations::send_group`] with rows of the application's own
    /// committed in the same transaction. `app` sees one [`Outbound`] for
    /// the group message (whose [`Outbound::to`] is `None`), then one per
    /// distribution, but no bytes: store them with [`Outbound::store_at`].
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::store::Store;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// alice.create_group(b"team", &[b.clone()])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send_group_with(b"team", b"hello team", &[(b.clone(), bundle)], now, |outbound| {
    ///     // One outbox row per ciphertext: the group message, then Bob's keys.
    ///     outbound.iter().enumerate().map(|(i, o)| o.store_at("outbox", vec![i as u8])).collect()
    /// })?;
    /// // Committed with the group state: after a crash, deliver from the outbox.
    /// assert_eq!(alice.store().app_row("outbox", &[0])?, Some(sent.message.clone()));
    /// assert_eq!(alice.store().app_row("outbox", &[1])?, Some(sent.distributions.messages[0].1.clone()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Conversations::send_group`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "send_group", skip_all, fields(group_id_len = group_id.len(), bundles = bundles.len())))]
    pub fn send_group_with(
        &mut self,
        group_id: &[u8],
        content: impl Into<Content>,
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
        app: impl FnOnce(&[Outbound<'_>]) -> Vec<AppWrite>,
    ) -> Result<GroupSend, SendError> {
        let content = content.into();
        self.sync()?;
        let padding = self.config.padding;
        let ((message, fan, kept, letter), mut pending) = self.run(|this, work| {
            let conversation = Destination::Group(group_id.to_vec());
            let letter = this.new_letter(work, &conversation, content, now)?;
            let plaintext = frame_message(&letter.bytes);
            let (out, seq) = this.group_mut_with_rng(work, group_id, |group, rng| {
                let seq = group.sends();
                let padded = padding.pad(&plaintext);
                Ok::<_, SendError>((group.encrypt_with_rng(rng, &padded, now).map_err(SendError::Group)?, seq))
            })?;
            // A blocked send drops the group's changes, this one with them.
            this.apply_own_timer(work, &conversation, &letter, now)?;
            // Kept to send again if a member asks (§13.10).
            let kept = this.keep_group_message(work, group_id, seq, &out.message, &plaintext, now)?;
            let mut items = Vec::with_capacity(out.distributions.len());
            for d in &out.distributions {
                let address = Address::decode(&d.to).map_err(|_| SendError::Group(crate::GroupError::NotAMember))?;
                items.push((address, frame_group_keys(&d.bytes)));
            }
            let fan = this.fan_out(work, items, bundles, now, false)?;
            Ok::<_, SendError>((out.message, fan, kept, letter))
        })?;
        if let FanOut::Blocked { changed, .. } = &fan {
            // Nothing is sent, so the group must still owe the distributions
            // this message would have carried: keep its committed state,
            // with only what the bundles revealed applied to it (a changed
            // identity's sender states revoked, as in every other group).
            pending.groups.remove(group_id);
            if let Some(mut group) = self.open_group(group_id)? {
                let mut reset = false;
                for address in changed {
                    reset |= group.reset_member(&address.encode());
                }
                if reset {
                    pending.groups.insert(group_id.to_vec(), group);
                }
            }
        }
        let distributions = self.release(fan, pending, |sent| {
            let targets = core::iter::once(None).chain(sent.iter().map(|(a, _)| Some(a)));
            let ciphertexts: Vec<&[u8]> =
                core::iter::once(&message[..]).chain(sent.iter().map(|(_, m)| &m[..])).collect();
            let mut rows = app_rows(targets, &ciphertexts, app)?;
            rows.extend(kept);
            Ok(rows)
        })?;
        Ok(GroupSend { message, message_id: letter.id, expires_at: letter.expires_at, distributions })
    }

    /// Decrypts a group message of `group_id` that the transport says
    /// `from` sent. A message under another member's sender state is
    /// refused ([`crate::GroupError::UnexpectedSender`]) before any key
    /// derivation; nothing is committed until
    /// [`Conversations::commit_received`]. `now` (seconds since the Unix
    /// epoch) is the time of reception.
    ///
    /// When it fails, [`ReceiveError::is_transient`] tells keeping the
    /// message from dropping it: the sender's keys not here yet
    /// ([`crate::GroupError::UnknownSenderState`] from a member, or the
    /// group not created here yet) is transient: keep the message and
    /// offer it again after the keys or the group arrive, or ask for the
    /// keys ([`Conversations::request_group_keys`]); a sender that is not a
    /// member ([`crate::GroupError::NotAMember`]) or was removed
    /// ([`crate::GroupError::SenderRemoved`]) is final.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// alice.create_group(b"team", &[b.clone()])?;
    /// bob.create_group(b"team", &[a.clone()])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send_group(b"team", b"hi all", &[(b.clone(), bundle)], now)?;
    /// // The group message overtook its keys: keep it and retry.
    /// let early = bob.receive_group(b"team", &a, &sent.message, now);
    /// assert!(matches!(early, Err(ref e) if e.is_transient()));
    /// let keys = bob.receive(&a, &sent.distributions.messages[0].1, now)?;
    /// bob.commit_received(keys, vec![])?;
    /// let read = bob.receive_group(b"team", &a, &sent.message, now)?;
    /// assert_eq!(read.plaintext(), b"hi all");
    /// bob.commit_received(read, vec![])?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ReceiveError::Group`], [`ReceiveError::Conversation`] for an
    /// unknown group or a store failure.
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "receive_group", skip_all, fields(from = %from, group_id_len = group_id.len(), bytes = bytes.len())))]
    pub fn receive_group(
        &mut self,
        group_id: &[u8],
        from: &Address,
        bytes: &[u8],
        now: u64,
    ) -> Result<Received, ReceiveError> {
        self.sync()?;
        let read = self.run(|this, work| this.read_group(work, group_id, from, bytes, now));
        let (received, records) = super::receive::traced(read)?;
        Ok(self.alone(received, records))
    }

    /// Reads a group message from `from` into the working set.
    pub(super) fn read_group(
        &mut self,
        work: &mut Work,
        group_id: &[u8],
        from: &Address,
        bytes: &[u8],
        now: u64,
    ) -> Result<Received, ReceiveError> {
        // Decryption is transactional: on failure the group is as it was.
        let member = from.encode();
        let (read, resent) = self.try_group(work, group_id, |group| {
            let read = group.decrypt_from(&member, bytes).map_err(ReceiveError::Group)?;
            Ok::<_, ReceiveError>((read, was_resent(group, bytes)))
        })?;
        let mut received = Received::new(from.clone(), ReceivedKind::GroupMessage, Vec::new());
        received.set_group(ReceivedKind::GroupMessage, group_id);
        if resent {
            // Read already, by a re-send (§13.10): its key is used up now.
            received.unreadable(ReceiveError::Group(crate::GroupError::Duplicate));
            return Ok(received);
        }
        match unpad(&read.plaintext) {
            Some(plaintext) => self.take_group_letter(work, &mut received, group_id, plaintext, now)?,
            None => received.unreadable(ReceiveError::MalformedContent),
        }
        Ok(received)
    }

    /// Reads a group message's plaintext (framed, unpadded): only an
    /// application message (§13.12).
    pub(super) fn take_group_letter(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        group_id: &[u8],
        framed: &[u8],
        now: u64,
    ) -> Result<(), ReceiveError> {
        match unframe(framed) {
            Framed::Message(envelope) => {
                self.take_letter(work, received, envelope, Destination::Group(group_id.to_vec()), now)
            }
            _ => {
                received.unreadable(ReceiveError::UnknownContent { content_type: framed.first().copied() });
                Ok(())
            }
        }
    }
}
