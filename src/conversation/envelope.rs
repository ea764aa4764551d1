//! Content envelopes in conversations (docs/PROTOCOL.md §13.12): the
//! envelope of an outgoing message under its conversation's timer, and an
//! incoming one read into a [`Received`], with timer changes applied.

use zeroize::Zeroizing;

use super::group_resend::Annex;
use super::receive::{Received, ReceivedKind};
use super::trust::Event;
use super::work::Work;
use super::{ConversationError, Conversations, ReceiveError, SendError};
use crate::content::timer::TimerState;
use crate::content::{Content, ContentEnvelope, Destination, MessageId};
use crate::store::Store;

/// An outgoing message's envelope, encoded, and what the sender keeps of
/// it.
pub(super) struct Letter {
    /// The envelope's bytes.
    pub(super) bytes: Zeroizing<Vec<u8>>,
    /// The message's id.
    pub(super) id: MessageId,
    /// When the sender's copy expires.
    pub(super) expires_at: Option<u64>,
    /// For a [`Content::Timer`], the change to apply once the message is
    /// sure to go out ([`Conversations::apply_own_timer`]).
    timer_change: Option<TimerState>,
}

/// When a message read (or sent) at `now` under `timer` expires.
pub(super) fn expiry(now: u64, timer: u32) -> Option<u64> {
    (timer != 0).then(|| now.saturating_add(u64::from(timer)))
}

impl<S: Store> Conversations<S> {
    /// The disappearing-message timer of `conversation`, in seconds (`0`
    /// for none): what this device's messages there carry. Changed by
    /// sending a [`Content::Timer`] there, or by reading a newer change
    /// from another device ([`crate::Event::TimerChanged`]).
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::{Content, Destination};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// alice.set_devices("bob", &[1])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// // Messages to Bob disappear a day after they are read.
    /// let sent = alice.send("bob", Content::Timer { seconds: 86_400 }, &[(b.clone(), bundle)], now)?;
    /// assert_eq!(alice.timer(&Destination::User("bob".into()))?, 86_400);
    /// let read = bob.receive(&a, &sent.messages[0].1, now)?;
    /// bob.commit_received(read, vec![])?;
    /// assert_eq!(bob.timer(&Destination::User("alice".into()))?, 86_400);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError`] if the store fails or a record does not
    /// open.
    pub fn timer(&mut self, conversation: &Destination) -> Result<u32, ConversationError> {
        self.sync()?;
        let (state, _) = self.run(|this, work| this.timer_state(work, conversation))?;
        Ok(state.seconds)
    }

    /// Deletes what has expired at `now`, and returns the application's
    /// rows it deleted (namespace, key) so the app can drop them from its
    /// views. Call it on a timer, and when the app starts.
    ///
    /// - The application's rows written with an expiry
    ///   ([`crate::store::AppWrite::expires_at`]): deleted in one
    ///   transaction, their bytes overwritten where the store can
    ///   ([`Store::purge_expired`]).
    /// - The copies this device kept to send again
    ///   ([`Conversations::resend`]) of its disappearing messages, at the
    ///   same expiry (not reported: they are dmseal's rows).
    /// - Skipped message keys (kept for messages that have not arrived)
    ///   stored at least [`crate::ConversationConfig::skipped_key_max_age`]
    ///   before `now`, in every session: those messages are given up on,
    ///   so a lost message does not keep its key forever. One commit.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::store::{AppWrite, Store};
    /// use dmseal::Content;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// # alice.set_devices("bob", &[1])?;
    /// # let bundle = bob.account().prekey_bundle(None, None)?;
    /// let on = alice.send("bob", Content::Timer { seconds: 60 }, &[(b.clone(), bundle)], now)?;
    /// let read = bob.receive(&a, &on.messages[0].1, now)?;
    /// bob.commit_received(read, vec![])?;
    /// let sent = alice.send("bob", "gone in a minute", &[], now)?;
    /// let read = bob.receive(&a, &sent.messages[0].1, now)?;
    /// let expires_at = read.expires_at().ok_or("a timer is on")?;
    /// let row = AppWrite::put("inbox", b"msg-2".to_vec(), read.plaintext()).expires_at(expires_at);
    /// bob.commit_received(read, vec![row])?;
    /// assert_eq!(bob.purge_expired(now + 60)?, [("inbox".to_owned(), b"msg-2".to_vec())]);
    /// assert_eq!(bob.store().app_row("inbox", b"msg-2")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::Store`] when the store fails, or
    /// [`ConversationError::Record`]; the application's rows and the
    /// skipped keys are purged in separate transactions, each whole or
    /// not at all.
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "purge_expired", skip_all))]
    pub fn purge_expired(&mut self, now: u64) -> Result<Vec<(String, Vec<u8>)>, ConversationError> {
        let before = now.saturating_sub(self.config.skipped_key_max_age);
        let addresses = self.store.session_addresses()?;
        let requests = self.store.request_addresses()?;
        let _deleted = self.operate(|this, work| {
            let mut deleted = 0;
            for address in &addresses {
                if this.sessions(work, address)?.has_skipped_before(before) {
                    deleted += this.sessions_mut(work, address)?.expire_skipped(before);
                }
            }
            // Message requests hold sessions too.
            for address in &requests {
                if this.request(work, address)?.is_some_and(|r| r.has_skipped_before(before)) {
                    deleted += this.request_mut(work, address)?.as_mut().map_or(0, |r| r.expire_skipped(before));
                }
            }
            Ok::<_, ConversationError>(deleted)
        })?;
        debug_event!(skipped_keys = _deleted, "purged");
        // dmseal's own rows (kept copies of disappearing messages) go
        // too; the application hears only of its own.
        let mut rows = self.store.purge_expired(now)?;
        rows.retain(|(namespace, _)| {
            namespace != super::OUTBOX_NAMESPACE && namespace != super::GROUP_OUTBOX_NAMESPACE
        });
        Ok(rows)
    }

    /// The timer of `conversation` as this operation sees it.
    fn timer_state(&mut self, work: &mut Work, conversation: &Destination) -> Result<TimerState, ConversationError> {
        Ok(match conversation {
            Destination::User(user) => self.user(work, user)?.timer.clone(),
            Destination::Group(id) => self.group(work, id)?.map(|g| Annex::of(g).timer).unwrap_or_default(),
        })
    }

    /// Applies a timer change to `conversation` if it is newer than the
    /// one held; returns whether it applied.
    fn apply_timer(
        &mut self,
        work: &mut Work,
        conversation: &Destination,
        change: TimerState,
        now: u64,
    ) -> Result<bool, ConversationError> {
        match conversation {
            Destination::User(user) => {
                let mut timer = self.user(work, user)?.timer.clone();
                if !timer.apply(change, now) {
                    return Ok(false);
                }
                self.user_mut(work, user)?.timer = timer;
                Ok(true)
            }
            Destination::Group(id) => {
                let Some(group) = self.group(work, id)? else { return Ok(false) };
                let mut annex = Annex::of(group);
                if !annex.timer.apply(change, now) {
                    return Ok(false);
                }
                annex.store(self.group_mut(work, id)?);
                Ok(true)
            }
        }
    }

    /// The envelope of a message to `conversation`: a fresh id, `now`, and
    /// the conversation's timer. A [`Content::Timer`] carries its new
    /// timer and makes a change, applied by
    /// [`Conversations::apply_own_timer`] once the send will go out (a
    /// blocked send commits what it learned, but must not change the
    /// timer).
    pub(super) fn new_letter(
        &mut self,
        work: &mut Work,
        conversation: &Destination,
        content: Content,
        now: u64,
    ) -> Result<Letter, SendError> {
        if !content.is_valid() {
            return Err(SendError::InvalidContent);
        }
        let held = self.timer_state(work, conversation)?;
        let (timer, timer_version, timer_change) = match content {
            Content::Timer { seconds } => {
                let change = TimerState { seconds, version: held.next_version(), at: now, setter: self.me.encode() };
                (seconds, change.version, Some(change))
            }
            _ => (held.seconds, 0, None),
        };
        let id = MessageId::random(&mut *self.rng);
        // Holds this device's copy of the content: wiped when dropped.
        let envelope = Zeroizing::new(ContentEnvelope { id, sent_at: now, timer, timer_version, content });
        let mut bytes = Zeroizing::new(Vec::new());
        envelope.encode(&mut bytes);
        Ok(Letter { bytes, id, expires_at: expiry(now, timer), timer_change })
    }

    /// Applies the timer change of a letter this device sends, if it has
    /// one, in this operation's working set (it commits with the send).
    pub(super) fn apply_own_timer(
        &mut self,
        work: &mut Work,
        conversation: &Destination,
        letter: &Letter,
        now: u64,
    ) -> Result<(), ConversationError> {
        if let Some(change) = &letter.timer_change {
            self.apply_timer(work, conversation, change.clone(), now)?;
        }
        Ok(())
    }

    /// Reads the envelope of an application message of `conversation`
    /// into `received`; one that does not decode makes the message
    /// unreadable ([`ReceiveError::MalformedContent`]). A timer change
    /// applies if it is newer than the one held (not from a message
    /// request: nothing of a request's conversation is kept before it is
    /// accepted).
    pub(super) fn take_letter(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        envelope: &[u8],
        conversation: Destination,
        now: u64,
    ) -> Result<(), ReceiveError> {
        let Some(envelope) = ContentEnvelope::decode(envelope) else {
            received.unreadable(ReceiveError::MalformedContent);
            return Ok(());
        };
        let mut envelope = Zeroizing::new(envelope);
        let from = received.from().clone();
        if let Content::Timer { seconds } = envelope.content
            && received.kind() != ReceivedKind::Request
            && self.may_set_timer(work, &from, &conversation)?
        {
            let change =
                TimerState { seconds, version: envelope.timer_version, at: envelope.sent_at, setter: from.encode() };
            if self.apply_timer(work, &conversation, change, now)? {
                received.push_event(Event::TimerChanged {
                    conversation: conversation.clone(),
                    seconds,
                    by: from.clone(),
                });
            }
        }
        let sent_by_me = from.user() == self.me.user();
        received.set_letter(&mut envelope, conversation, sent_by_me, now);
        Ok(())
    }

    /// Whether a timer change from `from` may apply to `conversation`: in
    /// a group, any member (its sender keys came from a trusted device); in
    /// a 1:1 conversation, only a trusted device under the identity of its
    /// session, as for group keys (a device awaiting approval, or whose
    /// identity changed, cannot switch a timer off).
    fn may_set_timer(
        &mut self,
        work: &mut Work,
        from: &crate::address::Address,
        conversation: &Destination,
    ) -> Result<bool, ReceiveError> {
        if let Destination::Group(_) = conversation {
            return Ok(true);
        }
        match self.check_trusted(work, from, false) {
            Ok(()) => Ok(true),
            Err(ReceiveError::UntrustedSender) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `framed` (an application message or a transcript,
    /// unpadded) holds an envelope that decodes: checked before a re-send
    /// uses up its original.
    pub(super) fn letter_decodes(framed: &[u8]) -> bool {
        match super::framing::unframe(framed) {
            super::framing::Content::Message(envelope) => ContentEnvelope::decode(envelope).is_some(),
            super::framing::Content::Transcript { user, envelope } => {
                transcript_user(user).is_some() && ContentEnvelope::decode(envelope).is_some()
            }
            _ => false,
        }
    }
}

/// A conversation id from a transcript's user bytes: a valid user id.
pub(super) fn transcript_user(user: &[u8]) -> Option<Destination> {
    let user = core::str::from_utf8(user).ok()?;
    crate::address::check_user_id(user).ok()?;
    Some(Destination::User(user.to_owned()))
}
