//! Group keys that arrive early or get lost (docs/PROTOCOL.md §13.7):
//! distributions kept pending until their group and their sender's
//! membership exist here, and sender-key requests between members.

use zeroize::Zeroizing;

use super::framing::{
    MAX_RECEIPT_IDS, frame_group_key_request, frame_group_keys, frame_group_resend, frame_heal, frame_resend,
    frame_resync, frame_retry_receipt, is_message,
};
use super::record::Resync;
use super::resend::{MessageId, OUTBOX_NAMESPACE, OutboxRowPickle, row_key};
use super::send::{FanOut, Outgoing};
use super::user::DeviceStatus;
use super::work::Work;
use super::{ConversationError, Conversations, ReceiveError, Received, ReceivedKind, SendError};
use crate::PreKeyBundle;
use crate::address::Address;
use crate::group::distribution_group_id;
use crate::message::Envelope;
use crate::pickle;
use crate::ratchet::ReadState;
use crate::session::Session;
use crate::store::Store;

/// The shortest time between two heals of the conversation with one
/// device ([`Conversations::heal`]): one hour. Every heal takes one of the
/// peer's one-time prekeys, and the failures that suggest healing can be
/// forged by the server, so heals are spaced out; a heal in the meantime
/// gets [`SendError::HealedRecently`].
pub const MIN_HEAL_INTERVAL_SECS: u64 = 60 * 60;

impl<S: Store> Conversations<S> {
    /// Refuses control content ([`ReceiveError::UntrustedSender`]) from a
    /// device that is not trusted under the identity of its current
    /// session, or (when `listed`) not in its user's device list.
    pub(super) fn check_trusted(&mut self, work: &mut Work, from: &Address, listed: bool) -> Result<(), ReceiveError> {
        let session_identity = self.sessions(work, from)?.current().map(Session::peer_identity).cloned();
        let user = self.user(work, from.user())?;
        let in_list = !listed || user.devices.get(&from.device()).is_some_and(|d| d.listed);
        if !in_list || !user.may_send_group_keys(from.device(), session_identity.as_ref()) {
            return Err(ReceiveError::UntrustedSender);
        }
        Ok(())
    }

    /// Applies a sender-key distribution from `received.from`, if the
    /// device may hand out group keys: trusted, and under the identity of
    /// the session that read it. One for a group this device does not have
    /// yet, or from a device that is not (yet) a member of it, is kept
    /// pending in the sender's device record instead, and applied when the
    /// group is created or the device added.
    pub(super) fn take_distribution(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        body: &[u8],
    ) -> Result<(), ReceiveError> {
        let from = received.from().clone();
        self.check_trusted(work, &from, false)?;
        let group_id = distribution_group_id(body).map_err(ReceiveError::Decode)?;
        let member = from.encode();
        if self.group(work, &group_id)?.is_some_and(|g| g.has_member(&member)) {
            self.try_group(work, &group_id, |group| {
                group.receive_distribution(&member, body).map_err(ReceiveError::Group)
            })?;
        } else if let Some(device) = self.user_mut(work, from.user())?.devices.get_mut(&from.device()) {
            device.keep_pending(&group_id, body);
        }
        received.set_group(ReceivedKind::GroupKeys, &group_id);
        Ok(())
    }

    /// Applies the distributions `member` sent for `group_id` before the
    /// group or its membership existed here, oldest first, if the device
    /// is trusted under a pinned identity (otherwise they stay pending
    /// until it is, or until newer ones push them out). One the group
    /// refuses is dropped.
    pub(super) fn apply_pending_keys(
        &mut self,
        work: &mut Work,
        group_id: &[u8],
        member: &Address,
    ) -> Result<(), ConversationError> {
        let ready = self.user(work, member.user())?.devices.get(&member.device()).is_some_and(|d| {
            d.status == DeviceStatus::Trusted
                && d.identity.is_some()
                && d.pending_keys.iter().any(|p| p.group_id == group_id)
        });
        if !ready {
            return Ok(());
        }
        let taken = match self.user_mut(work, member.user())?.devices.get_mut(&member.device()) {
            Some(device) => device.take_pending(group_id),
            None => Vec::new(),
        };
        let id = member.encode();
        for distribution in taken {
            match self.try_group(work, group_id, |g| {
                g.receive_distribution(&id, &distribution).map_err(ConversationError::Group)
            }) {
                Ok(()) | Err(ConversationError::Group(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Asks `owner`, a member device of the group, for its current sender
    /// keys, over the 1:1 session with it (started from a bundle of
    /// `bundles` if there is none, as [`Conversations::send`] does). Use
    /// it when [`Conversations::receive_group`] keeps failing with
    /// [`crate::GroupError::UnknownSenderState`] for a member (this
    /// device was restored from an old backup, say). The owner answers
    /// with a distribution from its next message on: messages sent before
    /// stay unreadable here.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// # alice.create_group(b"team", &[b.clone()])?;
    /// # bob.create_group(b"team", &[a.clone()])?;
    /// # let bundle = bob.account().prekey_bundle(None, None)?;
    /// // Alice's first group message; its keys never reach Bob.
    /// let _lost = alice.send_group(b"team", b"one", &[(b.clone(), bundle)], now)?;
    /// // Bob asks Alice's device for her sender keys...
    /// let bundle = alice.account().prekey_bundle(None, None)?;
    /// let request = bob.request_group_keys(b"team", &a, &[(a.clone(), bundle)], now)?;
    /// let asked = alice.receive(&b, &request.messages[0].1, now)?;
    /// alice.commit_received(asked, vec![])?;
    /// // ...and she sends them: Bob reads her messages from the next on.
    /// let keys = alice.send_group_keys(b"team", &[], now)?;
    /// let got = bob.receive(&a, &keys.messages[0].1, now)?;
    /// bob.commit_received(got, vec![])?;
    /// let later = alice.send_group(b"team", b"two", &[], now)?;
    /// assert_eq!(bob.receive_group(b"team", &a, &later.message, now)?.plaintext(), b"two");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Conversations::send`]; [`ConversationError::UnknownGroup`], and
    /// [`crate::GroupError::NotAMember`] when `owner` is not a member here.
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "request_group_keys", skip_all, fields(owner = %owner)))]
    pub fn request_group_keys(
        &mut self,
        group_id: &[u8],
        owner: &Address,
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
    ) -> Result<Outgoing, SendError> {
        self.sync()?;
        let (fan, pending) = self.run(|this, work| {
            let group = this.group(work, group_id)?.ok_or(ConversationError::UnknownGroup)?;
            if !group.has_member(&owner.encode()) {
                return Err(SendError::Group(crate::GroupError::NotAMember));
            }
            this.fan_out(work, vec![(owner.clone(), frame_group_key_request(group_id))], bundles, now, false)
        })?;
        self.release(fan, pending, |_| Ok(Vec::new()))
    }

    /// Reads a sender-key request from `received.from`: a trusted member
    /// device under the identity of the session that read it, for a group
    /// this device has. The requester is marked as lacking this device's
    /// current sender state; [`Conversations::send_group_keys`] or the
    /// next group message sends it. Marking twice is marking once, so a
    /// flood of requests costs one distribution.
    pub(super) fn take_key_request(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        group_id: &[u8],
    ) -> Result<(), ReceiveError> {
        let from = received.from().clone();
        self.check_trusted(work, &from, false)?;
        if group_id.len() > crate::group::MAX_GROUP_ID_LEN {
            let too_long =
                crate::GroupError::GroupIdTooLong { len: group_id.len(), max: crate::group::MAX_GROUP_ID_LEN };
            return Err(ReceiveError::Group(too_long));
        }
        let member = from.encode();
        match self.group(work, group_id)? {
            None => return Err(ConversationError::UnknownGroup.into()),
            Some(g) if !g.has_member(&member) => return Err(ReceiveError::Group(crate::GroupError::NotAMember)),
            Some(_) => {}
        }
        self.try_group(work, group_id, |g| {
            g.owe_distribution(&member);
            Ok::<_, ReceiveError>(())
        })?;
        received.set_group(ReceivedKind::GroupKeysRequested, group_id);
        Ok(())
    }

    /// Sends this device's current sender keys of the group to every
    /// member device owed them (those that asked,
    /// [`ReceivedKind::GroupKeysRequested`]), without a group message, and
    /// commits. Nothing is owed, and nothing sent, when the next group
    /// message starts a new sender state anyway: that message carries the
    /// new keys to every member.
    ///
    /// # Errors
    ///
    /// As [`Conversations::send_group`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "send_group_keys", skip_all))]
    pub fn send_group_keys(
        &mut self,
        group_id: &[u8],
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
    ) -> Result<Outgoing, SendError> {
        self.sync()?;
        let (fan, mut pending) = self.run(|this, work| {
            let owed = this.group_mut(work, group_id)?.take_owed(now);
            let mut items: Vec<(Address, Zeroizing<Vec<u8>>)> = Vec::with_capacity(owed.len());
            for d in &owed {
                let address = Address::decode(&d.to).map_err(|_| SendError::Group(crate::GroupError::NotAMember))?;
                items.push((address, frame_group_keys(&d.bytes)));
            }
            this.fan_out(work, items, bundles, now, false)
        })?;
        if let FanOut::Blocked { .. } = &fan {
            // Nothing is sent: the distributions stay owed.
            pending.groups.remove(group_id);
        }
        self.release(fan, pending, |_| Ok(Vec::new()))
    }

    /// Heals the conversation with `address` when its session is broken:
    /// starts a new session from a fresh bundle (from `source`), sends the
    /// peer a heal message on it, and commits. The new session becomes
    /// current on both sides once the peer reads it
    /// ([`ReceivedKind::SessionHealed`], [`crate::Event::SessionHealed`]);
    /// the old one is kept as a previous session, so messages still in
    /// flight on it read. No key is used twice: the new session has its
    /// own keys from the start.
    ///
    /// When to heal: [`ReceiveError::suggests_healing`] errors that repeat
    /// from one device (a message too far ahead, messages without a
    /// session, messages no session can read: this device or the peer was
    /// restored from an old backup, or lost its state). One such error
    /// alone can be reordering or a forgery. At most one heal per device
    /// every [`MIN_HEAL_INTERVAL_SECS`].
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, BundleSourceError, ConversationConfig, Conversations, PreKeyBundle, ReceivedKind, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// # alice.set_devices("bob", &[1])?;
    /// # let bundle = bob.account().prekey_bundle(None, None)?;
    /// # let hi = alice.send("bob", b"hi", &[(b.clone(), bundle)], now)?;
    /// # let r = bob.receive(&a, &hi.messages[0].1, now)?;
    /// # bob.commit_received(r, vec![])?;
    /// // Bob's messages keep failing on Alice's side: she heals.
    /// let mut directory = |d: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
    ///     Ok(d.iter().map(|d| (d.clone(), bob.account().prekey_bundle(None, None).unwrap())).collect())
    /// };
    /// let heal = alice.heal(&b, &mut directory, now)?;
    /// let read = bob.receive(&a, &heal.messages[0].1, now)?;
    /// assert_eq!(read.kind(), ReceivedKind::SessionHealed);
    /// bob.commit_received(read, vec![])?;
    /// assert_eq!(alice.current_session_base_key(&b)?, bob.current_session_base_key(&a)?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError::HealedRecently`]; as [`Conversations::send_fetching`]
    /// ([`SendError::NeedBundles`] if `source` has no bundle for it, and
    /// blocked devices); [`ConversationError::OwnAddress`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "heal", skip_all, fields(address = %address)))]
    pub fn heal(
        &mut self,
        address: &Address,
        source: &mut impl super::BundleSource,
        now: u64,
    ) -> Result<Outgoing, SendError> {
        if *address == self.me {
            return Err(ConversationError::OwnAddress.into());
        }
        self.sync()?;
        let (healed_at, _) =
            self.run(|this, work| Ok::<_, ConversationError>(this.sessions(work, address)?.healed_at))?;
        // Checked before the directory is asked: a refused heal claims no
        // one-time prekey.
        if let Some(retry_at) = healed_at.map(|at| at.saturating_add(MIN_HEAL_INTERVAL_SECS))
            && now < retry_at
        {
            return Err(SendError::HealedRecently { address: address.clone(), retry_at });
        }
        let wanted = [address.clone()];
        let bundles: Vec<(Address, PreKeyBundle)> =
            source.fetch(&wanted).map_err(SendError::BundleSource)?.into_iter().filter(|(a, _)| a == address).collect();
        if bundles.is_empty() {
            return Err(SendError::NeedBundles(wanted.to_vec()));
        }
        let (fan, pending) = self.run(|this, work| {
            let fan = this.fan_out(work, vec![(address.clone(), frame_heal())], &bundles, now, false)?;
            if let FanOut::Sent { .. } = &fan {
                this.sessions_mut(work, address)?.healed_at = Some(now);
            }
            Ok::<_, SendError>(fan)
        })?;
        self.release(fan, pending, |_| Ok(Vec::new()))
    }

    /// Keeps an application message just encrypted to `address` (as
    /// `ciphertext`) in that device's outbox, to send again if asked
    /// (§13.9). Other content is not kept.
    pub(super) fn keep_for_resend(
        &mut self,
        work: &mut Work,
        address: &Address,
        framed: &[u8],
        ciphertext: &[u8],
        now: u64,
    ) -> Result<(), ConversationError> {
        if !is_message(framed) || self.config.resend_max_age == 0 {
            return Ok(());
        }
        let Ok(envelope) = Envelope::decode(ciphertext) else { return Ok(()) };
        let max_age = self.config.resend_max_age;
        let record = self.sessions_mut(work, address)?;
        // The session that just carried it: the current one.
        let Some(session) = record.current().map(|s| *s.base_key().as_bytes()) else { return Ok(()) };
        record.outbox.keep(MessageId::of(&envelope), session, framed, now, max_age);
        Ok(())
    }

    /// Tells the device `from` that its 1:1 message `failed` could not be
    /// read here, so that it sends the content again
    /// ([`Conversations::resend`]), over the current session with it (or
    /// one started from a bundle of `source`, as
    /// [`Conversations::send_fetching`] does). Send it when a message
    /// fails for good: not for a transient failure that a retry may still
    /// read ([`ReceiveError::is_transient`]), and after healing
    /// ([`Conversations::heal`]) when the failure suggests it, so that the
    /// receipt goes over a session the sender can read.
    ///
    /// The receipt names the message (its chain's ratchet key and its
    /// counter) and `now`; nothing of its content.
    ///
    /// # Errors
    ///
    /// [`SendError::NotAMessage`] if `failed` is not a 1:1 message (there
    /// is nothing to name); as [`Conversations::send_fetching`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "send_retry_receipt", skip_all, fields(from = %from)))]
    pub fn send_retry_receipt(
        &mut self,
        from: &Address,
        failed: &[u8],
        source: &mut impl super::BundleSource,
        now: u64,
    ) -> Result<Outgoing, SendError> {
        let envelope = Envelope::decode(failed).map_err(|_| SendError::NotAMessage)?;
        let receipt = frame_retry_receipt(&[MessageId::of(&envelope)], now);
        super::bundles::fetching(source, |bundles| {
            self.sync()?;
            let (fan, pending) =
                self.run(|this, work| this.fan_out(work, vec![(from.clone(), receipt.clone())], bundles, now, false))?;
            self.release(fan, pending, |_| Ok(Vec::new()))
        })
    }

    /// Reads a retry receipt from `received.from`: only a trusted device
    /// listed for its user (a current device) under the identity of the
    /// session that read it. The message it names, if still kept for that
    /// device, is marked owed (sent again by [`Conversations::resend`]);
    /// marking twice is marking once, and each message is sent again at
    /// most [`crate::limits::MAX_RESENDS_PER_MESSAGE`] times.
    pub(super) fn take_retry_receipt(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        ids: &[MessageId],
        now: u64,
    ) -> Result<(), ReceiveError> {
        let from = received.from().clone();
        self.check_trusted(work, &from, true)?;
        let max_age = self.config.resend_max_age;
        let record = self.sessions(work, &from)?;
        if ids.iter().any(|id| record.outbox.would_owe(id, now, max_age)) {
            let outbox = &mut self.sessions_mut(work, &from)?.outbox;
            for id in ids {
                outbox.mark_owed(id, now, max_age);
            }
        }
        // A resync request this device sent, lost on the way (§13.11).
        let resync = self.sessions(work, &from)?.resync;
        if let Some(mut r) = resync
            && !r.owed
            && r.mark_owed(ids.contains(&r.sent_as))
        {
            self.sessions_mut(work, &from)?.resync = Some(r);
        }
        received.set_kind(ReceivedKind::RetryRequested);
        Ok(())
    }

    /// Sends again, to `address`, every message it asked for with a retry
    /// receipt that is still kept (each as its own 1:1 message, naming the
    /// original so that the device reads it once), over the current
    /// session with it (or one started from a bundle of `source`), and
    /// commits. Returns no message when nothing is owed.
    ///
    /// # Errors
    ///
    /// As [`Conversations::send_fetching`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "resend", skip_all, fields(address = %address)))]
    pub fn resend(
        &mut self,
        address: &Address,
        source: &mut impl super::BundleSource,
        now: u64,
    ) -> Result<Outgoing, SendError> {
        let max_age = self.config.resend_max_age;
        super::bundles::fetching(source, |bundles| {
            self.sync()?;
            let (fan, pending) = self.run(|this, work| {
                // Counted as sent only once all are: a blocked device keeps
                // them owed.
                let owed = this.sessions(work, address)?.outbox.owed(now, max_age);
                let group_owed = this.owed_group_messages(work, address, now)?;
                let resync_owed = this.sessions(work, address)?.resync.is_some_and(|r| r.owed);
                if owed.is_empty() && group_owed.is_empty() && !resync_owed {
                    // Marks that can no longer be sent are cleared.
                    if !this.sessions(work, address)?.group_owed.owed().is_empty() {
                        this.sessions_mut(work, address)?.group_owed.sent_again();
                    }
                    // Expired messages go now, rows and all.
                    if this.sessions(work, address)?.outbox.has_expired(now, max_age) {
                        this.sessions_mut(work, address)?.outbox.purge(now, max_age);
                    }
                    return Ok(FanOut::Sent { messages: Vec::new(), events: Vec::new() });
                }
                let mut sent = Vec::with_capacity(owed.len() + group_owed.len());
                let mut events = Vec::new();
                // Each item with the kept 1:1 message it sends again.
                let mut items = Vec::with_capacity(owed.len() + group_owed.len() + 1);
                let mut lost = Vec::new();
                // A lost resync request first: a new one (§13.11).
                let resync_at = items.len();
                if resync_owed {
                    items.push((None, frame_resync(now)));
                }
                for id in &owed {
                    // A row the store lost (or the application deleted) is
                    // skipped: nothing else can be sent for it.
                    let Some(content) = this.outbox_content(work, address, id)? else {
                        lost.push(*id);
                        continue;
                    };
                    items.push((Some(*id), frame_resend(id, &content)));
                }
                items.extend(
                    group_owed
                        .iter()
                        .map(|(group_id, id, plaintext)| (None, frame_group_resend(group_id, id, plaintext))),
                );
                let mut resent = Vec::with_capacity(owed.len());
                let mut resync_as = None;
                for (i, (id, item)) in items.into_iter().enumerate() {
                    // A bundle can only start the first: the others go on
                    // the session it started.
                    let bundles = if i == 0 { bundles } else { &[] };
                    match this.fan_out(work, vec![(address.clone(), item)], bundles, now, false)? {
                        FanOut::Sent { messages, events: e } => {
                            let sent_as =
                                messages.first().and_then(|(_, b)| Envelope::decode(b).ok()).map(|e| MessageId::of(&e));
                            match (id, sent_as) {
                                (Some(id), Some(sent_as)) => resent.push((id, sent_as)),
                                (None, Some(sent_as)) if resync_owed && i == resync_at => resync_as = Some(sent_as),
                                _ => {}
                            }
                            sent.extend(messages);
                            events.extend(e);
                        }
                        blocked @ FanOut::Blocked { .. } => return Ok(blocked),
                    }
                }
                let record = this.sessions_mut(work, address)?;
                let session = record.current().map(|s| *s.base_key().as_bytes()).unwrap_or_default();
                // Only what was sent counts: starting a session above may
                // have marked more owed, for the next call.
                let ids: Vec<MessageId> = resent.iter().map(|(id, _)| *id).chain(lost).collect();
                record.outbox.sent_again(&ids, now, max_age);
                for (id, sent_as) in resent {
                    record.outbox.resent_as(&id, sent_as, session);
                }
                record.group_owed.sent_again();
                if let (Some(r), Some(sent_as)) = (record.resync.as_mut(), resync_as) {
                    *r = Resync { sent_as, session, owed: false, resends: r.resends.saturating_add(1) };
                }
                Ok::<_, SendError>(FanOut::Sent { messages: sent, events })
            })?;
            self.release(fan, pending, |_| Ok(Vec::new()))
        })
    }

    /// The content of the kept message `id` sent to `address`: from this
    /// operation, or from its sealed row.
    fn outbox_content(
        &mut self,
        work: &mut Work,
        address: &Address,
        id: &MessageId,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, ConversationError> {
        if let Some(content) = self.sessions(work, address)?.outbox.added(id) {
            return Ok(Some(Zeroizing::new(content.to_vec())));
        }
        let Some(sealed) = self.store.app_row(OUTBOX_NAMESPACE, &row_key(address, id))? else { return Ok(None) };
        let row: OutboxRowPickle = pickle::decrypt(&sealed, &self.key, &self.me.encode())?;
        Ok(row.open(address, id))
    }

    /// Reads a message sent again by `received.from`: delivered as the
    /// application message it was, unless the original was read here;
    /// then it is not delivered twice. Its original can no longer read
    /// afterwards.
    pub(super) fn take_resend(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        id: &MessageId,
        original: &[u8],
        now: u64,
    ) -> Result<(), ReceiveError> {
        let from = received.from().clone();
        if self.sessions(work, &from)?.read_state(id) == ReadState::Read
            || self.sessions(work, &from)?.resent.contains(id)
        {
            received.unreadable(ReceiveError::Decrypt(crate::DecryptError::DuplicateOrExpired));
            return Ok(());
        }
        // Content that does not decode uses nothing up (§13.6).
        if !Self::letter_decodes(original) {
            received.unreadable(ReceiveError::MalformedContent);
            return Ok(());
        }
        let record = self.sessions_mut(work, &from)?;
        record.forget_skipped(id);
        record.resent.insert(*id);
        self.read_message(work, received, original, now)
    }

    /// Asks `address` again for the messages of it this device skipped
    /// and still waits for (a later message showed they were sent, but
    /// they never arrived): one retry receipt naming up to 32 of them
    /// (the current session's first), sent like
    /// [`Conversations::send_retry_receipt`]. The sender sends again
    /// those it still keeps ([`Conversations::resend`]); one that arrives
    /// after all is read once either way. Returns no message when nothing
    /// is missing. Call it when a wait for late messages is over (on a
    /// timer, or when the transport says the mailbox is empty).
    ///
    /// # Errors
    ///
    /// As [`Conversations::send_fetching`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "request_missing", skip_all, fields(address = %address)))]
    pub fn request_missing(
        &mut self,
        address: &Address,
        source: &mut impl super::BundleSource,
        now: u64,
    ) -> Result<Outgoing, SendError> {
        super::bundles::fetching(source, |bundles| {
            self.sync()?;
            let (fan, pending) = self.run(|this, work| {
                let missing = this.sessions(work, address)?.missing(MAX_RECEIPT_IDS);
                if missing.is_empty() {
                    return Ok(FanOut::Sent { messages: Vec::new(), events: Vec::new() });
                }
                let receipt = frame_retry_receipt(&missing, now);
                this.fan_out(work, vec![(address.clone(), receipt)], bundles, now, false)
            })?;
            self.release(fan, pending, |_| Ok(Vec::new()))
        })
    }
}
