//! Sending: fan-out to every listed device of a user and of this device's
//! own user, over the current session or one started from a bundle, with
//! the trust checks of `trust`; ciphertexts are released only after the
//! commit that advanced their sessions (docs/PROTOCOL.md §13.5).

use core::sync::atomic::{AtomicU64, Ordering};

use zeroize::Zeroizing;

use super::framing::{frame_linked, frame_message, frame_transcript};
use super::trust::{DeviceCap, Event, IdentityChange};
use super::user::DeviceStatus;
use super::work::Work;
use super::{ConversationError, Conversations, SendError};
use crate::address::Address;
use crate::bundle::PreKeyBundle;
use crate::content::{Content, Destination, MessageId};
use crate::error::StartError;
use crate::store::{AppWrite, Store};

/// Numbers sends, so an [`AppWrite`] made by [`Outbound::store_at`] is
/// filled in only by the send that made it.
static SENDS: AtomicU64 = AtomicU64::new(1);

/// What [`Conversations::send`] produced: one ciphertext per device,
/// already committed.
#[derive(Debug)]
#[must_use = "the ciphertexts are committed: deliver them, or the peers miss this message"]
#[non_exhaustive]
pub struct Outgoing {
    /// The bytes to deliver to each device.
    pub messages: Vec<(Address, Vec<u8>)>,
    /// The id of the message sent (docs/PROTOCOL.md §13.12), for edits,
    /// reactions and receipts that refer to it; `None` for what is not an
    /// application message (a heal, a retry receipt, group keys...).
    pub message_id: Option<MessageId>,
    /// When the sender's own copy expires under the conversation's
    /// disappearing-message timer (`now` plus the timer), or `None`.
    pub expires_at: Option<u64>,
    /// The store generation after the commit.
    pub generation: u64,
    /// What the application must know about: devices learned while
    /// sending (a group member no device list named).
    pub events: Vec<Event>,
}

/// One ciphertext of a send, shown to the application's closure before the
/// commit: where it goes, but not its bytes. Its bytes can only be written
/// to an outbox row in the same commit ([`Outbound::store_at`]), so a
/// ciphertext cannot leave the process before the state that made it is
/// stored (if that commit then fails, for instance with
/// [`crate::store::StoreError::Conflict`], nothing was sent, and a retry
/// cannot reuse a key for another plaintext).
#[derive(Debug, Clone)]
pub struct Outbound<'a> {
    to: Option<&'a Address>,
    send: u64,
    index: usize,
}

impl Outbound<'_> {
    /// The device this ciphertext goes to; `None` for a group message
    /// (the same bytes for every member).
    pub fn to(&self) -> Option<&Address> {
        self.to
    }

    /// A row of the application's that will hold this ciphertext, written
    /// in the same transaction as the state that made it.
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
    /// # alice.set_devices("bob", &[1])?;
    /// # let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send_with("bob", b"hi", &[(b.clone(), bundle)], now, |outbound| {
    ///     // One outbox row per device, keyed by its address.
    ///     outbound.iter().filter_map(|o| Some(o.store_at("outbox", o.to()?.to_string()))).collect()
    /// })?;
    /// assert_eq!(alice.store().app_row("outbox", b"bob.1")?, Some(sent.messages[0].1.clone()));
    /// # Ok(()) }
    /// ```
    pub fn store_at(&self, namespace: impl Into<String>, key: impl Into<Vec<u8>>) -> AppWrite {
        AppWrite::sent(namespace.into(), key.into(), self.send, self.index)
    }
}

/// Calls the application's closure on the sends' [`Outbound`]s and fills
/// the ciphertexts into the rows it returns.
pub(super) fn app_rows<'a>(
    targets: impl Iterator<Item = Option<&'a Address>>,
    ciphertexts: &[&[u8]],
    app: impl FnOnce(&[Outbound<'_>]) -> Vec<AppWrite>,
) -> Result<Vec<AppWrite>, SendError> {
    let send = SENDS.fetch_add(1, Ordering::Relaxed);
    let outbound: Vec<Outbound<'_>> = targets.enumerate().map(|(index, to)| Outbound { to, send, index }).collect();
    app(&outbound)
        .into_iter()
        .map(|w| w.resolve(send, ciphertexts).ok_or(ConversationError::ForeignOutboxRow.into()))
        .collect()
}

/// What a send learned about its recipients before encrypting.
#[derive(Default)]
struct Learned {
    /// `NewDevice` for each device never seen.
    events: Vec<Event>,
    /// The devices never seen.
    added: Vec<Address>,
    /// Devices whose change of identity a bundle revealed.
    changed: Vec<Address>,
}

/// What a fan-out computed, not committed yet.
pub(super) enum FanOut {
    /// Every device had a session that could send.
    Sent {
        /// One ciphertext per device.
        messages: Vec<(Address, Vec<u8>)>,
        /// Devices learned on the way.
        events: Vec<Event>,
    },
    /// Some devices may not be sent to: what was learned (identities from
    /// bundles) must still be committed.
    Blocked {
        /// The devices, with why.
        blocked: Vec<(Address, DeviceStatus)>,
        /// Devices whose change of identity a bundle revealed.
        changed: Vec<Address>,
    },
}

impl<S: Store> Conversations<S> {
    /// Encrypts `content` to every listed device of `user` and to this
    /// device's own other listed devices, commits, and returns the
    /// ciphertexts. `content` is any [`Content`] (plain bytes are a payload
    /// of the application's format, a string is text); it goes in a content
    /// envelope with a fresh [`MessageId`], `now` and the conversation's
    /// disappearing-message timer, padded ([`crate::ConversationConfig::padding`]).
    /// The copies for this device's own other devices are sync transcripts
    /// that name `user` ([`crate::Received::sent_to`]). Devices without a session that can send need a
    /// bundle: pass the ones fetched after [`SendError::NeedBundles`] in
    /// `bundles`. Writing to someone whose message request is pending
    /// accepts the request.
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
    /// // No session with bob.1 yet: dmseal asks for its bundle.
    /// let need = match alice.send("bob", b"hi", &[], now) {
    ///     Err(dmseal::SendError::NeedBundles(need)) => need,
    ///     other => panic!("{other:?}"),
    /// };
    /// assert_eq!(need, [b.clone()]);
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send("bob", b"hi", &[(b.clone(), bundle)], now)?;
    /// assert_eq!(sent.messages[0].0, b);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`SendError`]: bundles needed, devices blocked, or a failure.
    pub fn send(
        &mut self,
        user: &str,
        content: impl Into<Content>,
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
    ) -> Result<Outgoing, SendError> {
        self.send_with(user, content, bundles, now, |_| Vec::new())
    }

    /// [`Conversations::send`] with rows of the application's own
    /// committed in the same transaction, so that after a crash either
    /// both the session state and the rows are stored or neither is. `app`
    /// sees one [`Outbound`] per ciphertext (in the order of
    /// [`Outgoing::messages`]) but not its bytes: put them in the
    /// application's outbox with [`Outbound::store_at`].
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
    /// alice.set_devices("bob", &[1])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send_with("bob", b"hi", &[(b.clone(), bundle)], now, |outbound| {
    ///     outbound.iter().enumerate().map(|(i, o)| o.store_at("outbox", format!("msg-1/{i}"))).collect()
    /// })?;
    /// // After a crash, the outbox holds exactly what the stored state sent.
    /// assert_eq!(alice.store().app_row("outbox", b"msg-1/0")?, Some(sent.messages[0].1.clone()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Conversations::send`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "send", skip_all, fields(user = user, bundles = bundles.len())))]
    pub fn send_with(
        &mut self,
        user: &str,
        content: impl Into<Content>,
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
        app: impl FnOnce(&[Outbound<'_>]) -> Vec<AppWrite>,
    ) -> Result<Outgoing, SendError> {
        let content = content.into();
        self.sync()?;
        let me = self.me.clone();
        let ((fan, letter), pending) = self.run(|this, work| {
            // The recipients: the user's listed devices and our own others.
            let mut targets = Vec::new();
            let mut owners = vec![user];
            if user != me.user() {
                owners.push(me.user());
            }
            for owner in owners {
                let record = this.user(work, owner)?;
                for device in record.listed() {
                    if owner != me.user() || device != me.device() {
                        targets.push(record.address(device).map_err(ConversationError::from)?);
                    }
                }
            }
            if targets.is_empty() {
                return Err(SendError::NoDevices { user: user.to_owned() });
            }
            let conversation = Destination::User(user.to_owned());
            let letter = this.new_letter(work, &conversation, content, now)?;
            // The user's devices get the message; our own, a transcript
            // that names the user (§13.12).
            let (message, transcript) = (frame_message(&letter.bytes), frame_transcript(user, &letter.bytes));
            let items = targets
                .into_iter()
                .map(|a| {
                    let framed = if a.user() == me.user() { transcript.clone() } else { message.clone() };
                    (a, framed)
                })
                .collect();
            let fan = this.fan_out(work, items, bundles, now, true)?;
            if matches!(fan, FanOut::Sent { .. }) {
                this.apply_own_timer(work, &conversation, &letter, now)?;
                // Sending to someone makes them a contact.
                if !this.user(work, user)?.contact {
                    this.user_mut(work, user)?.contact = true;
                }
            }
            Ok((fan, letter))
        })?;
        let mut out = self.release(fan, pending, |messages| {
            app_rows(
                messages.iter().map(|(a, _)| Some(a)),
                &messages.iter().map(|(_, m)| &m[..]).collect::<Vec<_>>(),
                app,
            )
        })?;
        out.message_id = Some(letter.id);
        out.expires_at = letter.expires_at;
        Ok(out)
    }

    /// Commits a fan-out (with the application's rows) and releases its
    /// ciphertexts; a blocked fan-out commits what it learned and reports
    /// the block.
    pub(super) fn release(
        &mut self,
        fan: FanOut,
        pending: super::cache::Pending,
        app: impl FnOnce(&[(Address, Vec<u8>)]) -> Result<Vec<AppWrite>, SendError>,
    ) -> Result<Outgoing, SendError> {
        match fan {
            FanOut::Sent { messages, events } => {
                let rows = app(&messages)?;
                let generation = self.commit(pending, rows)?;
                debug_event!(devices = messages.len(), events = events.len(), "sent");
                Ok(Outgoing { messages, message_id: None, expires_at: None, generation, events })
            }
            FanOut::Blocked { blocked, .. } => {
                debug_event!(blocked = blocked.len(), "blocked");
                self.commit(pending, Vec::new())?;
                Err(SendError::Blocked(blocked))
            }
        }
    }

    /// Encrypts each plaintext to its device over the current session (or
    /// one started from a given bundle), checking first that every device
    /// may be sent to. A pending message request of the device joins its
    /// record first when `accept_requests` (a 1:1 send), never for group
    /// keys.
    pub(super) fn fan_out(
        &mut self,
        work: &mut Work,
        items: Vec<(Address, Zeroizing<Vec<u8>>)>,
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
        accept_requests: bool,
    ) -> Result<FanOut, SendError> {
        let targets: Vec<&Address> = items.iter().map(|(a, _)| a).collect();
        let learned = self.learn_recipients(work, &targets, bundles)?;
        if let Some(blocked) = self.blocked(work, &targets, &learned)? {
            return Ok(blocked);
        }
        let mut events = learned.events;
        let messages = self.encrypt_each(work, &items, bundles, now, accept_requests, &mut events)?;
        Ok(FanOut::Sent { messages, events })
    }

    /// Learns what a send teaches about its recipients: devices never seen
    /// (a group member no device list named), and identities from bundles
    /// (trust on first use; a changed identity blocks, and everything of
    /// the old identity goes). Every bundle is checked before anything is
    /// learned from any, so a bad one leaves nothing half learned.
    fn learn_recipients(
        &mut self,
        work: &mut Work,
        targets: &[&Address],
        bundles: &[(Address, PreKeyBundle)],
    ) -> Result<Learned, SendError> {
        for (address, bundle) in bundles {
            if !targets.contains(&address) {
                return Err(SendError::UnexpectedBundle(address.clone()));
            }
            // Only a bundle whose signatures hold may teach an identity. A
            // device that used PQXDH before is never taken back to classic
            // X3DH, even by a bundle it signed so, whatever the account
            // allows.
            let known_pq =
                self.user(work, address.user())?.devices.get(&address.device()).is_some_and(|d| d.post_quantum);
            let checked = match self.account_in(work).check_bundle(bundle) {
                Ok(()) | Err(StartError::MissingPqPreKey) if known_pq && bundle.pq_prekey().is_none() => {
                    Err(StartError::PqPreKeyStripped)
                }
                other => other,
            };
            checked.map_err(|error| SendError::Bundle { address: address.clone(), error })?;
        }
        let mut learned = Learned::default();
        for &address in targets {
            if !self.user(work, address.user())?.devices.contains_key(&address.device()) {
                let status = self.user_mut(work, address.user())?.add_unlisted(address.device(), None).map_err(
                    |DeviceCap { max }| ConversationError::TooManyDevices { user: address.user().to_owned(), max },
                )?;
                learned.events.push(Event::NewDevice { address: address.clone(), status });
                learned.added.push(address.clone());
            }
        }
        for (address, bundle) in bundles {
            // Its owner signed that it publishes PQ prekeys (checked above),
            // or the session it starts is PQXDH.
            let post_quantum = bundle.signed_prekey().publishes_pq_prekeys() || bundle.pq_prekey().is_some();
            let device = self.user(work, address.user())?.devices.get(&address.device());
            if device
                .is_some_and(|d| d.identity.as_ref() == Some(bundle.identity()) && (d.post_quantum || !post_quantum))
            {
                continue; // known already: nothing to write
            }
            let (change, newly_post_quantum) = self.try_user(work, address.user(), |user| {
                let device =
                    user.devices.get_mut(&address.device()).ok_or(SendError::UnexpectedBundle(address.clone()))?;
                let newly_post_quantum = device.mark_post_quantum(post_quantum);
                Ok::<_, SendError>((device.see_identity(bundle.identity()), newly_post_quantum))
            })?;
            if newly_post_quantum {
                self.drop_classic_sessions(work, address)?;
            }
            if change == IdentityChange::Changed {
                self.drop_old_identity(work, address, bundle.identity())?;
                learned.changed.push(address.clone());
            }
        }
        // A bundle of a linked device shows who linked it (§13.14): a
        // trusted linker makes it trusted before the block check.
        for (address, bundle) in bundles {
            if let Some(link) = bundle.device_link() {
                self.take_link(work, address, link, &mut learned.events)?;
            }
        }
        Ok(learned)
    }

    /// The block, if any recipient may not be sent to. Blocked devices that
    /// can be compared (their identity is known, which includes every
    /// changed one) are reported, and what was learned is committed; a
    /// blocked device whose identity is unknown asks for its bundle first,
    /// so that there is an identity to compare.
    fn blocked(
        &mut self,
        work: &mut Work,
        targets: &[&Address],
        learned: &Learned,
    ) -> Result<Option<FanOut>, SendError> {
        let mut blocked = Vec::new();
        let mut unknown = Vec::new();
        for &address in targets {
            let user = self.user(work, address.user())?;
            if let Some(status) = user.blocked(address.device()) {
                if user.devices.get(&address.device()).is_some_and(|d| d.identity.is_none()) {
                    unknown.push(address.clone());
                }
                blocked.push((address.clone(), status));
            }
        }
        if blocked.len() > unknown.len() {
            // A device learned now but not blocked is forgotten again, so
            // that it is reported (`NewDevice`) by the send that goes out.
            for address in learned.added.iter().filter(|a| !blocked.iter().any(|(b, _)| b == *a)) {
                self.user_mut(work, address.user())?.devices.remove(&address.device());
            }
            return Ok(Some(FanOut::Blocked { blocked, changed: learned.changed.clone() }));
        }
        if !unknown.is_empty() {
            return Err(SendError::NeedBundles(unknown));
        }
        Ok(None)
    }

    /// One ciphertext per device: over the current session, or a new one
    /// from the bundle given for it. A new session that replaces one of
    /// ours the peer never answered reports [`Event::ResendDue`].
    fn encrypt_each(
        &mut self,
        work: &mut Work,
        items: &[(Address, Zeroizing<Vec<u8>>)],
        bundles: &[(Address, PreKeyBundle)],
        now: u64,
        accept_requests: bool,
        events: &mut Vec<Event>,
    ) -> Result<Vec<(Address, Vec<u8>)>, SendError> {
        // A session per device: the current one, or a new one from a bundle.
        let max_age = self.config.max_unacknowledged_age;
        let mut messages = Vec::with_capacity(items.len());
        let mut need = Vec::new();
        let padding = self.config.padding;
        let link = self.account_in(work).device_link().map(crate::link::DeviceLink::encode);
        for (address, framed) in items {
            // A linked device shows its link statement on every message
            // of a session until the peer answers (§13.14).
            let starts = bundles.iter().any(|(a, _)| a == address)
                || self.sessions(work, address)?.current().is_some_and(|s| !s.is_acknowledged());
            let plaintext = &match &link {
                Some(link) if starts => padding.pad(&frame_linked(link, framed)),
                _ => padding.pad(framed),
            };
            if accept_requests && !self.user(work, address.user())?.contact {
                self.absorb_request(work, address)?;
            }
            let identity =
                self.user(work, address.user())?.devices.get(&address.device()).and_then(|d| d.identity.clone());
            match bundles.iter().find(|(a, _)| a == address) {
                // A given bundle starts a new session even where one could
                // send: the caller asked for it.
                Some((_, bundle)) => {
                    let context = self.me.context_as_initiator(address);
                    let (account, rng) = self.account_and_rng(work);
                    let (session, first) = account
                        .start_session_with_rng(rng, bundle, &context, plaintext)
                        .map_err(|error| SendError::Bundle { address: address.clone(), error })?;
                    let resend_max_age = self.config.resend_max_age;
                    let record = self.sessions_mut(work, address)?;
                    if record.owe_session(now, resend_max_age) {
                        events.push(Event::ResendDue { address: address.clone() });
                    }
                    record.install(session, now);
                    // Sessions of any other identity go (the bundle's
                    // identity is the device's now: it passed the checks
                    // above).
                    record.retain_identity(bundle.identity());
                    self.keep_for_resend(work, address, framed, &first, now)?;
                    messages.push((address.clone(), first));
                }
                None => {
                    // Only a session with the device's recorded identity.
                    let usable = self
                        .sessions(work, address)?
                        .current()
                        .is_some_and(|s| identity.as_ref().is_none_or(|i| i == s.peer_identity()));
                    if !usable {
                        need.push(address.clone());
                        continue;
                    }
                    let sent = self.try_sessions_with_rng(work, address, |record, rng| {
                        match record.sendable(now, max_age) {
                            Some(session) => session
                                .encrypt_with_rng(rng, plaintext)
                                .map(Some)
                                .map_err(|error| SendError::Encrypt { address: address.clone(), error }),
                            // Expired: a fresh bundle is needed.
                            None => Ok(None),
                        }
                    })?;
                    match sent {
                        Some(bytes) => {
                            self.keep_for_resend(work, address, framed, &bytes, now)?;
                            messages.push((address.clone(), bytes));
                        }
                        None => need.push(address.clone()),
                    }
                }
            }
        }
        if !need.is_empty() {
            return Err(SendError::NeedBundles(need));
        }
        Ok(messages)
    }
}
