//! Receiving 1:1 messages: choosing the session (docs/PROTOCOL.md §13.3),
//! first messages under the contact policy and trust rules (§13.4), and
//! the content type (§13.6). Nothing is committed until
//! [`Conversations::commit_received`].

use zeroize::Zeroizing;

use super::cache::Pending;
use super::envelope::{expiry, transcript_user};
use super::framing::{Content as Framed, split_link, unframe};
use super::record::{Reader, SessionRecord};
use super::resend::MessageId as SentId;
use super::sync::SyncState;
use super::trust::{DeviceCap, Event, FirstMessageRoute, IdentityChange, route_first_message};
use super::work::Work;
use super::{ConversationError, Conversations, ReceiveError};
use crate::address::Address;
use crate::content::{Content, ContentEnvelope, Destination, MessageId, unpad};
use crate::error::DecryptError;
use crate::error::FirstMessageError;
use crate::message::{Envelope, PreKeyMessage};
use crate::store::{AppWrite, Store, StoreError};
use crate::x3dh::SessionSetup;

/// Whether a received message belongs to a conversation or to a message
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReceivedKind {
    /// A message of an accepted conversation.
    Message,
    /// A message of a request not accepted yet
    /// ([`crate::ContactPolicy::MessageRequests`]).
    Request,
    /// A group message ([`Conversations::receive_group`]);
    /// [`Received::group_id`] names the group.
    GroupMessage,
    /// A sender-key distribution for the group [`Received::group_id`],
    /// carried over the 1:1 session: no plaintext for the user, but commit
    /// it like any message so the group can read the sender's messages.
    /// Keys for a group this device does not have yet, or from a device
    /// not yet a member of it, are kept (sealed, at most
    /// [`crate::limits::MAX_PENDING_GROUP_KEYS_PER_DEVICE`] per device) and
    /// applied when the group is created or the device added.
    GroupKeys,
    /// A member device asked for this device's sender keys of the group
    /// [`Received::group_id`] ([`Conversations::request_group_keys`]): no
    /// plaintext; commit it, then send them with
    /// [`Conversations::send_group_keys`] (or let the next group message
    /// carry them).
    GroupKeysRequested,
    /// The sender started a new session because its old one broke
    /// ([`Conversations::heal`]; reported as [`crate::Event::SessionHealed`]
    /// too): no plaintext; commit it, so the new session is kept.
    SessionHealed,
    /// The sender could not read a message this device sent it, and asks
    /// for it again ([`Conversations::send_retry_receipt`]): no plaintext;
    /// commit it, then call [`Conversations::resend`] for the sender (a
    /// message no longer kept, or sent again too often, is not sent).
    RetryRequested,
    /// A message whose content could not be used
    /// ([`Received::content_error`]): a 1:1 content type from a newer
    /// version, group keys or a transcript from a device that is not
    /// trusted, content that does not decode
    /// ([`ReceiveError::MalformedContent`]), in 1:1 or group messages. No
    /// plaintext; commit it anyway, so the session (or the group state)
    /// stays in step. (An unknown *kind* of envelope content is not
    /// unreadable: it arrives as [`Content::Unknown`].)
    Unreadable,
}

/// How a [`Received`] commits.
pub(super) enum Commit {
    /// By [`Conversations::commit_received`] on the instance that made it,
    /// if the store is still at the generation it was read at.
    Alone { instance: u64, generation: u64, records: Pending },
    /// With its batch only ([`Conversations::commit_batch`]).
    InBatch,
}

/// A decrypted message, not yet committed: show it to the user only after
/// [`Conversations::commit_received`] (with the application's own inbox
/// row in the same transaction). Dropping it changes nothing, and the
/// message decrypts again when offered again.
#[must_use = "nothing is stored until commit_received: the message decrypts again if offered again"]
pub struct Received {
    from: Address,
    /// The decrypted plaintext, until its content is read
    /// (`read_content` takes it).
    raw: Zeroizing<Vec<u8>>,
    kind: ReceivedKind,
    group_id: Option<Vec<u8>>,
    /// The envelope of an application message.
    letter: Option<Letter>,
    events: Vec<Event>,
    /// Why the content of a [`ReceivedKind::Unreadable`] message could not
    /// be used.
    content_error: Option<ReceiveError>,
    pub(super) commit: Commit,
}

/// What an application message's envelope said (docs/PROTOCOL.md
/// §13.12).
struct Letter {
    id: MessageId,
    sent_at: u64,
    expires_at: Option<u64>,
    content: Zeroizing<Content>,
    conversation: Destination,
    sent_by_me: bool,
}

impl Received {
    pub(super) fn new(from: Address, kind: ReceivedKind, plaintext: Vec<u8>) -> Self {
        Self {
            from,
            raw: Zeroizing::new(plaintext),
            kind,
            group_id: None,
            letter: None,
            events: Vec::new(),
            content_error: None,
            commit: Commit::InBatch,
        }
    }

    /// Marks the content unusable: nothing of it is applied, but the
    /// session still advances when committed.
    pub(super) fn unreadable(&mut self, error: ReceiveError) {
        self.kind = ReceivedKind::Unreadable;
        self.raw = Zeroizing::new(Vec::new());
        self.group_id = None;
        self.letter = None;
        self.content_error = Some(error);
    }

    /// How taking control content ended: a store failure or a record
    /// that does not open is no verdict on the content (the message is not
    /// read); any other error makes the message unreadable, with it.
    fn settle(&mut self, taken: Result<(), ReceiveError>) -> Result<(), ReceiveError> {
        match taken {
            Err(e @ ReceiveError::Conversation(ConversationError::Store(_) | ConversationError::Record(_))) => Err(e),
            Err(e) => {
                self.unreadable(e);
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    pub(super) fn set_kind(&mut self, kind: ReceivedKind) {
        self.kind = kind;
    }

    pub(super) fn set_group(&mut self, kind: ReceivedKind, group_id: &[u8]) {
        self.kind = kind;
        self.group_id = Some(group_id.to_vec());
    }

    pub(super) fn push_event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Sets what an application message's envelope carried, read at `now`.
    pub(super) fn set_letter(
        &mut self,
        envelope: &mut ContentEnvelope,
        conversation: Destination,
        sent_by_me: bool,
        now: u64,
    ) {
        let (id, sent_at, timer) = (envelope.id, envelope.sent_at, envelope.timer);
        let content = core::mem::replace(&mut envelope.content, Content::Text(String::new()));
        self.letter = Some(Letter {
            id,
            sent_at,
            expires_at: expiry(now, timer),
            content: Zeroizing::new(content),
            conversation,
            sent_by_me,
        });
    }

    /// The id its sender gave the message; `None` for a message that is
    /// not an application message (group keys, a heal, unreadable
    /// content...).
    pub fn message_id(&self) -> Option<MessageId> {
        self.letter.as_ref().map(|l| l.id)
    }

    /// The message's content; `None` for a message that is not an
    /// application message.
    pub fn content(&self) -> Option<&Content> {
        self.letter.as_ref().map(|l| &*l.content)
    }

    /// When its sender sent it, by the sender's clock (seconds since the
    /// Unix epoch; a sender's clock can be wrong, so order a conversation
    /// by arrival and show this as information).
    pub fn sent_at(&self) -> Option<u64> {
        self.letter.as_ref().map(|l| l.sent_at)
    }

    /// When the message disappears: `now` (of the call that read it) plus
    /// the sender's disappearing-message timer, or `None` without a timer.
    /// Write the application's row of it with this expiry
    /// ([`crate::store::AppWrite::expires_at`]), so
    /// [`crate::store::Store::purge_expired`] deletes it.
    pub fn expires_at(&self) -> Option<u64> {
        self.letter.as_ref().and_then(|l| l.expires_at)
    }

    /// The conversation the message belongs to: the 1:1 conversation with
    /// the sender's user, the group, or, for a copy of a message this
    /// device's user sent from another device, the conversation it was
    /// sent to.
    pub fn conversation(&self) -> Option<&Destination> {
        self.letter.as_ref().map(|l| &l.conversation)
    }

    /// For a message this device's user sent from another of their
    /// devices (a sync transcript, or their own group message): the
    /// conversation it was sent to ("sent by me, to X"). `None` for a
    /// message of someone else.
    pub fn sent_to(&self) -> Option<&Destination> {
        self.letter.as_ref().filter(|l| l.sent_by_me).map(|l| &l.conversation)
    }

    /// For a [`ReceivedKind::Unreadable`] message, why its content could
    /// not be used.
    pub fn content_error(&self) -> Option<&ReceiveError> {
        self.content_error.as_ref()
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

    /// The bytes of a text ([`Content::Text`], UTF-8) or a payload
    /// ([`Content::Payload`]); empty for any other content and for
    /// control messages. Authenticated: it decrypted under a session with
    /// `from`, or under `from`'s group sender state. [`Received::content`]
    /// gives the typed content.
    pub fn plaintext(&self) -> &[u8] {
        self.letter.as_ref().map_or(&[], |l| l.content.plain_bytes())
    }

    /// A conversation message, a message request, group traffic, or
    /// unreadable content.
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
            .field("plaintext_len", &self.plaintext().len())
            .field("kind", &self.kind)
            .field("message_id", &self.message_id())
            .field("conversation", &self.conversation())
            .field("expires_at", &self.expires_at())
            .field("events", &self.events)
            .field("content_error", &self.content_error)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Conversations<S> {
    /// Decrypts a message from `from` (the device the transport says sent
    /// it; a first message presented under another address fails, because
    /// both addresses are bound into the session). Nothing is committed:
    /// pass the result to [`Conversations::commit_received`], with the
    /// application's inbox row, before showing it.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// alice.set_devices("bob", &[1])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send("bob", b"hi Bob", &[(b.clone(), bundle)], now)?;
    /// // Bob reads it, then commits it with his own inbox row.
    /// let received = bob.receive(&a, &sent.messages[0].1, now)?;
    /// assert_eq!(received.plaintext(), b"hi Bob");
    /// bob.commit_received(received, vec![])?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ReceiveError`]; nothing changed.
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "receive", skip_all, fields(from = %from, bytes = bytes.len())))]
    pub fn receive(&mut self, from: &Address, bytes: &[u8], now: u64) -> Result<Received, ReceiveError> {
        self.sync()?;
        let read = self.run(|this, work| this.read_direct(work, from, bytes, now));
        let (received, records) = traced(read)?;
        Ok(self.alone(received, records))
    }

    /// Makes `received` commit on its own.
    pub(super) fn alone(&self, mut received: Received, records: Pending) -> Received {
        received.commit = Commit::Alone { instance: self.instance, generation: self.generation, records };
        received
    }

    /// Reads a 1:1 message into the working set.
    pub(super) fn read_direct(
        &mut self,
        work: &mut Work,
        from: &Address,
        bytes: &[u8],
        now: u64,
    ) -> Result<Received, ReceiveError> {
        if *from == self.me {
            return Err(ConversationError::OwnAddress.into());
        }
        let envelope = Envelope::decode(bytes).map_err(ReceiveError::Decode)?;
        let mut received = match &envelope {
            Envelope::PreKey(m) if !self.is_held(work, from, m)? => self.read_first(work, from, m, now)?,
            _ => self.read_in_session(work, from, &envelope, now)?,
        };
        // Its content already arrived by a re-send (§13.9): read, but not
        // delivered twice.
        if received.kind == ReceivedKind::Message && self.sessions(work, from)?.resent.contains(&SentId::of(&envelope))
        {
            received.unreadable(ReceiveError::Decrypt(DecryptError::DuplicateOrExpired));
            return Ok(received);
        }
        self.read_content(work, &mut received, now)?;
        Ok(received)
    }

    /// Whether a session of `from` (in the record or a pending request)
    /// is the one `message` belongs to.
    fn is_held(&mut self, work: &mut Work, from: &Address, message: &PreKeyMessage) -> Result<bool, ReceiveError> {
        Ok(self.sessions(work, from)?.holds(message) || self.request(work, from)?.is_some_and(|r| r.holds(message)))
    }

    /// A message of an existing session (or a repeated first message): the
    /// conversation's sessions first, then a pending request's. On failure
    /// the error is the current session's.
    fn read_in_session(
        &mut self,
        work: &mut Work,
        from: &Address,
        envelope: &Envelope,
        now: u64,
    ) -> Result<Received, ReceiveError> {
        let max_age = self.config.max_promotion_age;
        let first_error = if self.sessions(work, from)?.has_current() {
            let replaced = self.sessions(work, from)?.current().map(|s| *s.base_key().as_bytes());
            match self.try_sessions(work, from, |r| r.decrypt(envelope, now, max_age).map_err(ReceiveError::Decrypt)) {
                Ok((plaintext, reader)) => {
                    let mut received = Received::new(from.clone(), ReceivedKind::Message, plaintext);
                    // The peer went back to an older session: what the
                    // replaced one sent last may never have arrived.
                    if reader == Reader::Promoted
                        && let Some(key) = replaced
                        && self.sessions_mut(work, from)?.outbox.mark_session_owed(
                            &key,
                            now,
                            self.config.resend_max_age,
                        )
                    {
                        received.events.push(Event::ResendDue { address: from.clone() });
                    }
                    return Ok(received);
                }
                Err(e) => Some(e),
            }
        } else {
            None
        };
        if self.request(work, from)?.is_none() {
            return Err(first_error.unwrap_or(ReceiveError::NoSession));
        }
        let read = self.try_request(work, from, |request| match request {
            Some(r) => r.decrypt(envelope, now, max_age).map_err(ReceiveError::Decrypt),
            None => Err(ReceiveError::Decrypt(DecryptError::NotForThisSession)),
        });
        match read {
            Ok((plaintext, _)) => Ok(Received::new(from.clone(), ReceivedKind::Request, plaintext)),
            Err(e) => Err(first_error.unwrap_or(e)),
        }
    }

    /// A first message that starts a new session.
    fn read_first(
        &mut self,
        work: &mut Work,
        from: &Address,
        message: &PreKeyMessage,
        now: u64,
    ) -> Result<Received, ReceiveError> {
        let (policy, me) = (self.config.contact_policy, self.me.clone());
        let route = route_first_message(policy, &me, from, self.user(work, from.user())?);
        if route == FirstMessageRoute::Refused {
            return Err(ReceiveError::NotAContact);
        }
        // A device that used PQXDH before is never taken back to classic
        // X3DH, whatever the account accepts from strangers.
        let known_pq = self.user(work, from.user())?.devices.get(&from.device()).is_some_and(|d| d.post_quantum);
        if known_pq && message.pq_fields().is_none() {
            return Err(ReceiveError::FirstMessage(FirstMessageError::ClassicSetupRefused));
        }
        let context = self.me.context_as_responder(from);
        let pending =
            self.account_in(work).open_first_message(message, &context, now).map_err(ReceiveError::FirstMessage)?;
        // The sender's identity, authenticated by the decryption.
        let identity = pending.peer_identity().clone();
        let kind = match route {
            FirstMessageRoute::Request => ReceivedKind::Request,
            _ => ReceivedKind::Message,
        };
        let mut received = Received::new(from.clone(), kind, pending.plaintext().to_vec());
        // Decided on a copy, written only once the account took the
        // message: a refused message changes no record.
        let mut user = self.user(work, from.user())?.clone();
        let change = match user.devices.get_mut(&from.device()) {
            Some(device) => device.see_identity(&identity),
            None => {
                // Not listed: only the application's device list decides
                // where messages fan out, so a device that merely wrote
                // first (a ghost the server invented, say) receives nothing
                // until the application lists it.
                let status = user
                    .add_unlisted(from.device(), Some(identity.clone()))
                    .map_err(|DeviceCap { .. }| ReceiveError::TooManyDevices)?;
                received.events.push(Event::NewDevice { address: from.clone(), status });
                IdentityChange::Learned
            }
        };
        let newly_post_quantum = user
            .devices
            .get_mut(&from.device())
            .is_some_and(|d| d.mark_post_quantum(pending.setup() == SessionSetup::Pqxdh));
        let session = self.account_mut(work).accept(pending).map_err(ReceiveError::Accept)?;
        if change != IdentityChange::Same || newly_post_quantum {
            *self.user_mut(work, from.user())? = user;
        }
        if change == IdentityChange::Changed {
            received.events.push(Event::IdentityChanged { address: from.clone() });
            self.drop_old_identity(work, from, &identity)?;
        }
        if newly_post_quantum {
            self.drop_classic_sessions(work, from)?;
        }
        if route == FirstMessageRoute::Request {
            let mut request = SessionRecord::new_request(from.clone());
            request.install(session, now);
            *self.request_mut(work, from)? = Some(request);
            received.events.push(Event::MessageRequest { address: from.clone() });
        } else {
            let max_age = self.config.resend_max_age;
            let record = self.sessions_mut(work, from)?;
            // A session of ours the peer never answered is replaced: what
            // we sent on it may never have arrived (§13.9).
            if record.owe_session(now, max_age) {
                received.events.push(Event::ResendDue { address: from.clone() });
            }
            record.install(session, now);
            // Sessions of an identity the device no longer has are gone.
            record.retain_identity(&identity);
        }
        Ok(received)
    }

    /// Reads the content type of a decrypted 1:1 plaintext. An application
    /// message keeps its body. A group distribution is applied to its
    /// group, only from a trusted device under its pinned identity and not
    /// from a message request. Content that cannot be used leaves the
    /// message [`ReceivedKind::Unreadable`], with the reason: the session
    /// still advances when it is committed, so the conversation stays in
    /// step.
    fn read_content(&mut self, work: &mut Work, received: &mut Received, now: u64) -> Result<(), ReceiveError> {
        let padded = core::mem::take(&mut received.raw);
        let Some(plaintext) = unpad(&padded) else {
            received.unreadable(ReceiveError::MalformedContent);
            return Ok(());
        };
        // A linked device's statement comes first on its new sessions
        // (§13.14); the message itself follows.
        let (link, plaintext) = split_link(plaintext);
        if let Some(link) = link.and_then(|bytes| crate::link::DeviceLink::decode(bytes).ok()) {
            self.take_link(work, &received.from.clone(), &link, &mut received.events)?;
        }
        let message = received.kind == ReceivedKind::Message;
        match unframe(plaintext) {
            Framed::Message(_) | Framed::Transcript { .. } => self.read_message(work, received, plaintext, now)?,
            Framed::GroupKeys(body) if message => {
                let taken = self.take_distribution(work, received, body);
                received.settle(taken)?;
            }
            Framed::GroupKeyRequest(group_id) if message => {
                let taken = self.take_key_request(work, received, group_id);
                received.settle(taken)?;
            }
            Framed::Heal if message => {
                received.kind = ReceivedKind::SessionHealed;
                received.events.push(Event::SessionHealed { address: received.from.clone() });
            }
            Framed::RetryReceipt { ids, .. } if message => {
                let taken = self.take_retry_receipt(work, received, &ids, now);
                received.settle(taken)?;
            }
            Framed::Resend { id, original } if message => {
                self.take_resend(work, received, &id, original, now)?;
            }
            Framed::GroupRetryReceipt { group_id, ids, .. } if message => {
                let taken = self.take_group_retry_receipt(work, received, group_id, &ids, now);
                received.settle(taken)?;
            }
            Framed::GroupResend { group_id, id, body } if message => {
                let taken = self.take_group_resend(work, received, group_id, &id, body, now);
                received.settle(taken)?;
            }
            Framed::Resync { .. } if message => {
                let taken = self.take_resync(work, received, now);
                received.settle(taken)?;
            }
            // Control content inside a message request is not used.
            other => {
                let _ = other;
                let content_type = plaintext.first().copied();
                received.unreadable(ReceiveError::UnknownContent { content_type });
            }
        }
        Ok(())
    }

    /// Reads an application message or a transcript (framed, unpadded):
    /// a transcript only from a device of this device's own user, naming
    /// a valid user id.
    pub(super) fn read_message(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        framed: &[u8],
        now: u64,
    ) -> Result<(), ReceiveError> {
        match unframe(framed) {
            Framed::Message(envelope) => {
                let conversation = Destination::User(received.from.user().to_owned());
                self.take_letter(work, received, envelope, conversation, now)
            }
            Framed::Transcript { user, envelope } if received.from.user() == self.me.user() => {
                // "Sent by me" only from a trusted device of mine, under
                // the identity of its session (not one awaiting approval).
                let from = received.from.clone();
                let trusted = self.check_trusted(work, &from, false);
                received.settle(trusted)?;
                if received.kind == ReceivedKind::Unreadable {
                    return Ok(());
                }
                match transcript_user(user) {
                    Some(conversation) => self.take_letter(work, received, envelope, conversation, now),
                    None => {
                        received.unreadable(ReceiveError::MalformedContent);
                        Ok(())
                    }
                }
            }
            _ => {
                received.unreadable(ReceiveError::UnknownContent { content_type: framed.first().copied() });
                Ok(())
            }
        }
    }

    /// Commits a received message's changes, with the application's own
    /// rows (its inbox entry) in the same transaction, and returns the new
    /// store generation. Show the message only after this succeeds. A
    /// batch staged since is dropped.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::store::{AppWrite, Store};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// # alice.set_devices("bob", &[1])?;
    /// # let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send("bob", b"hi Bob", &[(b.clone(), bundle)], now)?;
    /// let received = bob.receive(&a, &sent.messages[0].1, now)?;
    /// // The inbox row and the session's new state: one transaction.
    /// let row = AppWrite::put("inbox", b"msg-1".to_vec(), received.plaintext());
    /// bob.commit_received(received, vec![row])?;
    /// assert_eq!(bob.store().app_row("inbox", b"msg-1")?, Some(b"hi Bob".to_vec()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ReceiveError::OtherInstance`], [`ReceiveError::StaleBatch`] for a
    /// message of a batch, or a [`ReceiveError::Conversation`] if the store
    /// failed or changed since the message was received (then receive it
    /// again).
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "commit_received", skip_all))]
    pub fn commit_received(&mut self, received: Received, app: Vec<AppWrite>) -> Result<u64, ReceiveError> {
        let Commit::Alone { instance, generation, records } = received.commit else {
            return Err(ReceiveError::StaleBatch);
        };
        if instance != self.instance {
            return Err(ReceiveError::OtherInstance);
        }
        if generation != self.generation {
            let found = self.store.generation()?;
            return Err(StoreError::Conflict { expected: generation, found }.into());
        }
        if let SyncState::Staged { .. } = self.state {
            self.state = SyncState::Current;
        }
        Ok(self.commit(records, app)?)
    }
}

/// Reports how a read ended (with the `tracing` feature): the kind and
/// the number of events, or the error, never the plaintext.
pub(super) fn traced<T>(read: Result<(Received, T), ReceiveError>) -> Result<(Received, T), ReceiveError> {
    #[cfg(feature = "tracing")]
    match &read {
        Ok((received, _)) => tracing::debug!(kind = ?received.kind(), events = received.events().len(), "read"),
        Err(error) => tracing::debug!(%error, transient = error.is_transient(), "refused"),
    }
    read
}
