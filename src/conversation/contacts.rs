//! Device lists, trust marks and message requests: the operations that
//! apply the rules of `trust` to the store.

use super::record::SessionRecord;
use super::trust::{ApprovalRefused, DeviceCap, Event};
use super::user::DeviceInfo;
use super::work::Work;
use super::{ConversationError, Conversations};
use crate::address::Address;
use crate::identity::PublicIdentity;
use crate::session::Session;
use crate::store::Store;

impl<S: Store> Conversations<S> {
    /// Sets the application's device list of `user` (its own user too:
    /// messages are copied to this device's other devices). Devices not
    /// seen before are reported as [`Event::NewDevice`]; for a verified
    /// user they await approval. Devices no longer listed stop receiving
    /// messages; what is known about them is kept.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// // The directory says bob has devices 1 and 2: both are new.
    /// let events = alice.set_devices("bob", &[1, 2])?;
    /// assert_eq!(events.len(), 2);
    /// assert_eq!(alice.devices("bob")?.len(), 2);
    /// # let _ = (&mut bob, now);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`]: more than [`crate::limits::MAX_DEVICES_PER_USER`]
    /// devices, more than [`crate::limits::MAX_UNLISTED_DEVICES_PER_USER`] known
    /// devices left unlisted (forget one with
    /// [`Conversations::forget_device`]), or the store failed. Nothing
    /// changed.
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "set_devices", skip_all, fields(user = user, devices = devices.len())))]
    pub fn set_devices(&mut self, user: &str, devices: &[u32]) -> Result<Vec<Event>, ConversationError> {
        let me = self.me.clone();
        self.operate(|this, work| {
            let record = this.user_mut(work, user)?;
            let fresh = record
                .set_listed(devices, &me)
                .map_err(|DeviceCap { max }| ConversationError::TooManyDevices { user: user.to_owned(), max })?;
            fresh
                .into_iter()
                .map(|(device, status)| Ok(Event::NewDevice { address: record.address(device)?, status }))
                .collect()
        })
    }

    /// What is known about `user`'s devices.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::DeviceStatus;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// alice.set_devices("bob", &[1])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let _sent = alice.send("bob", b"hi", &[(b.clone(), bundle)], now)?;
    /// let devices = alice.devices("bob")?;
    /// assert_eq!(devices[0].address, b);
    /// // Bob's identity was pinned from his bundle (trust on first use).
    /// assert_eq!(devices[0].identity.as_ref(), Some(bob.account().identity()));
    /// assert_eq!(devices[0].status, DeviceStatus::Trusted);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn devices(&self, user: &str) -> Result<Vec<DeviceInfo>, ConversationError> {
        let record = self.peek_user(user)?;
        record
            .devices
            .iter()
            .map(|(id, d)| {
                Ok(DeviceInfo {
                    address: record.address(*id)?,
                    identity: d.identity.clone(),
                    status: d.status,
                    listed: d.listed,
                    linked_by: d.linked_by.map(|by| record.address(by)).transpose()?,
                })
            })
            .collect()
    }

    /// Forgets a device that is not in `user`'s device list: its pinned
    /// identity, its status and every session with it, and the sender
    /// states it distributed are revoked in every group (as for a changed
    /// identity). Only on the person's word (they removed an old device): a
    /// device forgotten and seen again is new, not changed. Returns whether
    /// it was known.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// alice.set_devices("bob", &[1, 2])?;
    /// // Bob removed his old device 2: unlisted, it is still known.
    /// alice.set_devices("bob", &[1])?;
    /// assert_eq!(alice.devices("bob")?.len(), 2);
    /// assert!(alice.forget_device(&Address::new("bob", 2)?)?);
    /// assert_eq!(alice.devices("bob")?.len(), 1);
    /// // A listed device cannot be forgotten.
    /// assert!(alice.forget_device(&Address::new("bob", 1)?).is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::DeviceListed`] if the device is still listed
    /// (unlist it with [`Conversations::set_devices`] first), or a store
    /// failure.
    pub fn forget_device(&mut self, address: &Address) -> Result<bool, ConversationError> {
        self.operate(|this, work| {
            let forgotten = this
                .user_mut(work, address.user())?
                .forget_unlisted(address.device())
                .map_err(|_| ConversationError::DeviceListed(address.clone()))?;
            if forgotten {
                *this.sessions_mut(work, address)? = SessionRecord::new(address.clone());
                *this.request_mut(work, address)? = None;
                this.revoke_in_groups(work, address)?;
            }
            Ok(forgotten)
        })
    }

    /// Marks `user` a known contact (see [`crate::ContactPolicy`]): their
    /// pending message requests become conversations.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::{ContactPolicy, ReceiveError};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// let strict = config.with_contact_policy(ContactPolicy::KnownContactsOnly);
    /// let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), strict)?;
    /// alice.set_devices("bob", &[1])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send("bob", b"hi", &[(b.clone(), bundle)], now)?;
    /// // Alice is a stranger to Bob: her first message is refused unread.
    /// assert!(matches!(bob.receive(&a, &sent.messages[0].1, now), Err(ReceiveError::NotAContact)));
    /// bob.add_contact("alice")?;
    /// let read = bob.receive(&a, &sent.messages[0].1, now)?;
    /// assert_eq!(read.plaintext(), b"hi");
    /// bob.commit_received(read, vec![])?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn add_contact(&mut self, user: &str) -> Result<(), ConversationError> {
        self.sync()?;
        let pending = self.store.request_addresses()?;
        self.operate(|this, work| {
            this.user_mut(work, user)?.contact = true;
            for address in pending.iter().filter(|a| a.user() == user) {
                this.absorb_request(work, address)?;
            }
            Ok(())
        })
    }

    /// Whether `user` is marked verified.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// assert!(!alice.is_verified("bob")?);
    /// alice.set_verified("bob", true)?;
    /// assert!(alice.is_verified("bob")?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn is_verified(&self, user: &str) -> Result<bool, ConversationError> {
        Ok(self.peek_user(user)?.verified)
    }

    /// Marks `user` verified (after the people compared safety numbers of
    /// each device) or not. While verified, a new device of theirs awaits
    /// approval, and a changed identity drops the mark when approved.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::{DeviceStatus, Event};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// alice.set_devices("bob", &[1])?;
    /// // The people compared the safety number of each of Bob's devices.
    /// alice.set_verified("bob", true)?;
    /// // A device Bob adds later waits for approval.
    /// let events = alice.set_devices("bob", &[1, 2])?;
    /// let address = Address::new("bob", 2)?;
    /// assert_eq!(events, [Event::NewDevice { address, status: DeviceStatus::AwaitingApproval }]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn set_verified(&mut self, user: &str, verified: bool) -> Result<(), ConversationError> {
        self.operate(|this, work| {
            this.user_mut(work, user)?.verified = verified;
            Ok(())
        })
    }

    /// Approves a device awaiting approval, or accepts a device's changed
    /// identity (which drops its user's verified mark: the safety numbers
    /// changed), under `identity`: the identity the person compared (the
    /// one [`Conversations::devices`] showed, or whose safety number they
    /// checked). If the device's identity is not that one, for instance
    /// because it changed again between the comparison and the tap,
    /// nothing is approved. Sending to its user resumes.
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
    /// alice.set_verified("bob", true)?; // safety numbers compared
    /// // A new device of a verified user waits for approval.
    /// alice.set_devices("bob", &[1, 2])?;
    /// let b2 = Address::new("bob", 2)?;
    /// let mut bob2 = Conversations::open(MemoryStore::new(), StorageKey::generate(), b2.clone(), config)?;
    /// let bundles = [
    ///     (b.clone(), bob.account().prekey_bundle(None, None)?),
    ///     (b2.clone(), bob2.account().prekey_bundle(None, None)?),
    /// ];
    /// assert!(matches!(alice.send("bob", b"x", &bundles, now), Err(dmseal::SendError::Blocked(_))));
    /// // The person compares bob.2's safety number, then approves it.
    /// let shown = alice.devices("bob")?.into_iter().find(|d| d.address == b2).and_then(|d| d.identity).unwrap();
    /// alice.approve_device(&b2, &shown)?;
    /// let sent = alice.send("bob", b"x", &bundles, now)?;
    /// assert_eq!(sent.messages.len(), 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::UnknownDevice`],
    /// [`ConversationError::IdentityMismatch`], or a store failure.
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "approve_device", skip_all, fields(device = %address)))]
    pub fn approve_device(&mut self, address: &Address, identity: &PublicIdentity) -> Result<(), ConversationError> {
        self.operate(|this, work| {
            this.try_user(work, address.user(), |user| {
                user.approve(address.device(), identity).map_err(|refused| match refused {
                    ApprovalRefused::UnknownDevice => ConversationError::UnknownDevice(address.clone()),
                    ApprovalRefused::IdentityMismatch => ConversationError::IdentityMismatch(address.clone()),
                })
            })?;
            // No session under another identity survives (they were
            // deleted when the change was seen; this keeps records written
            // before that rule clean too).
            this.drop_other_sessions(work, address, identity)
        })
    }

    /// Everything of a device's old identity goes when a new one is seen
    /// (docs/PROTOCOL.md §13.4), on every path: sessions under another
    /// identity (current, previous, or a held request) are deleted, so none
    /// can read, be promoted or send again, and the sender states the
    /// device distributed are revoked in every group, which also rotates
    /// this device's own sender state there.
    pub(super) fn drop_old_identity(
        &mut self,
        work: &mut Work,
        address: &Address,
        identity: &PublicIdentity,
    ) -> Result<(), ConversationError> {
        self.drop_other_sessions(work, address, identity)?;
        self.revoke_in_groups(work, address)
    }

    /// Deletes every session with `address` under an identity other than
    /// `identity`: current, previous, or a held request.
    fn drop_other_sessions(
        &mut self,
        work: &mut Work,
        address: &Address,
        identity: &PublicIdentity,
    ) -> Result<(), ConversationError> {
        if self.sessions(work, address)?.has_other_identity(identity) {
            self.sessions_mut(work, address)?.retain_identity(identity);
        }
        if self.request(work, address)?.is_some_and(|r| r.has_other_identity(identity)) {
            *self.request_mut(work, address)? = None;
        }
        Ok(())
    }

    /// Deletes every classic X3DH session with `address` (current,
    /// previous, or a held request), once the device used PQXDH: no older
    /// classic session may read, be promoted or send again
    /// (docs/PROTOCOL.md §13.4).
    pub(super) fn drop_classic_sessions(
        &mut self,
        work: &mut Work,
        address: &Address,
    ) -> Result<(), ConversationError> {
        if self.sessions(work, address)?.has_classic() {
            self.sessions_mut(work, address)?.retain_post_quantum();
        }
        if self.request(work, address)?.is_some_and(SessionRecord::has_classic) {
            *self.request_mut(work, address)? = None;
        }
        Ok(())
    }

    /// Revokes the sender states `address` distributed, in every group this
    /// device holds with it as a member (`Group::reset_member`, which also
    /// rotates this device's own sender state there).
    fn revoke_in_groups(&mut self, work: &mut Work, address: &Address) -> Result<(), ConversationError> {
        let member = address.encode();
        for id in self.store.group_ids()? {
            if self.group(work, &id)?.is_some_and(|g| g.has_member(&member)) {
                self.group_mut(work, &id)?.reset_member(&member);
            }
        }
        Ok(())
    }

    /// The addresses with a message request held.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::ContactPolicy;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// let with_requests = config.with_contact_policy(ContactPolicy::MessageRequests);
    /// let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), with_requests)?;
    /// alice.set_devices("bob", &[1])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send("bob", b"may I?", &[(b.clone(), bundle)], now)?;
    /// let request = bob.receive(&a, &sent.messages[0].1, now)?;
    /// bob.commit_received(request, vec![])?;
    /// assert_eq!(bob.requests()?, [a]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn requests(&self) -> Result<Vec<Address>, ConversationError> {
        Ok(self.store.request_addresses()?)
    }

    /// Moves a pending message request from `address` into its session
    /// record, if there is one (the user became a contact).
    pub(super) fn absorb_request(&mut self, work: &mut Work, address: &Address) -> Result<bool, ConversationError> {
        if self.request(work, address)?.is_none() {
            return Ok(false);
        }
        let Some(request) = self.request_mut(work, address)?.take() else {
            return Ok(false);
        };
        self.sessions_mut(work, address)?.take_over(request);
        // Replies go to the device whose request was accepted.
        if self.user(work, address.user())?.devices.get(&address.device()).is_some_and(|d| !d.listed) {
            self.user_mut(work, address.user())?.list_accepted(address.device());
        }
        Ok(true)
    }

    /// Accepts the message request from `address`: its session becomes the
    /// current session with that device, and its user a known contact, so
    /// the user's other pending requests are accepted with it (as by
    /// [`Conversations::add_contact`]). Each accepted device is listed, so
    /// a reply goes to it without a [`Conversations::set_devices`] first
    /// (up to [`crate::limits::MAX_DEVICES_PER_USER`]; for a verified user
    /// it awaits approval, as any newly listed device does).
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// # let mut bob = Conversations::open(
    /// #     MemoryStore::new(), StorageKey::generate(), b.clone(),
    /// #     config.with_contact_policy(dmseal::ContactPolicy::MessageRequests))?;
    /// alice.set_devices("bob", &[1])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send("bob", b"may I?", &[(b.clone(), bundle)], now)?;
    /// let request = bob.receive(&a, &sent.messages[0].1, now)?;
    /// assert_eq!(request.kind(), dmseal::ReceivedKind::Request);
    /// bob.commit_received(request, vec![])?;
    /// bob.accept_request(&a)?;
    /// // Accepting listed alice.1: Bob replies without a device list.
    /// assert_eq!(bob.send("alice", b"sure", &[], now)?.messages.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::NoRequest`], or a store failure.
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "accept_request", skip_all, fields(device = %address)))]
    pub fn accept_request(&mut self, address: &Address) -> Result<(), ConversationError> {
        self.sync()?;
        let pending = self.store.request_addresses()?;
        self.operate(|this, work| {
            if !this.absorb_request(work, address)? {
                return Err(ConversationError::NoRequest(address.clone()));
            }
            this.user_mut(work, address.user())?.contact = true;
            for other in pending.iter().filter(|a| a.user() == address.user()) {
                this.absorb_request(work, other)?;
            }
            Ok(())
        })
    }

    /// Declines the message request from `address`: its session is
    /// deleted. The account already holds the first message's replay
    /// record (or its consumed one-time prekey), so the same request
    /// replayed is refused.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::{ContactPolicy, FirstMessageError, ReceiveError};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let with_requests = config.with_contact_policy(ContactPolicy::MessageRequests);
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), with_requests)?;
    /// # alice.set_devices("bob", &[1])?;
    /// # let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send("bob", b"may I?", &[(b.clone(), bundle)], now)?;
    /// let request = bob.receive(&a, &sent.messages[0].1, now)?;
    /// bob.commit_received(request, vec![])?;
    /// bob.decline_request(&a)?;
    /// assert!(bob.requests()?.is_empty());
    /// // The same first message, replayed, is refused.
    /// let replayed = bob.receive(&a, &sent.messages[0].1, now);
    /// assert!(matches!(replayed, Err(ReceiveError::FirstMessage(FirstMessageError::Replay))));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::NoRequest`], or a store failure.
    pub fn decline_request(&mut self, address: &Address) -> Result<(), ConversationError> {
        self.operate(|this, work| {
            if this.request(work, address)?.is_none() {
                return Err(ConversationError::NoRequest(address.clone()));
            }
            *this.request_mut(work, address)? = None;
            Ok(())
        })
    }

    /// How many previous sessions are kept with `address` (for tests and
    /// diagnostics).
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
    /// bob.set_devices("alice", &[1])?;
    /// let alice_bundle = alice.account().prekey_bundle(None, None)?;
    /// let bob_bundle = bob.account().prekey_bundle(None, None)?;
    /// // Both write first, each starting a session.
    /// let _to_bob = alice.send("bob", b"hi Bob", &[(b.clone(), bob_bundle)], now)?;
    /// let to_alice = bob.send("alice", b"hi Alice", &[(a.clone(), alice_bundle)], now)?;
    /// // Bob's session becomes current at Alice's; hers is kept as a previous one.
    /// let read = alice.receive(&b, &to_alice.messages[0].1, now)?;
    /// alice.commit_received(read, vec![])?;
    /// assert_eq!(alice.previous_sessions(&b)?, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn previous_sessions(&self, address: &Address) -> Result<usize, ConversationError> {
        self.peek_sessions(address, SessionRecord::previous_len)
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
        self.peek_sessions(address, |r| r.current().map(Session::base_key))
    }

    /// For the current session with `address`, if it runs the KEM ratchet
    /// ([`Session::kem_ratchet`]), how many epochs are mixed into its root
    /// ([`Session::kem_epochs`]); `None` when there is no current session
    /// or it runs without the KEM ratchet.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn current_session_kem_epochs(&self, address: &Address) -> Result<Option<u32>, ConversationError> {
        self.peek_sessions(address, |r| r.current().filter(|s| s.kem_ratchet()).map(Session::kem_epochs))
    }

    /// Starts the KEM ratchet in the current session with `address` when
    /// it runs without it ([`Session::upgrade_kem_ratchet`], with its
    /// conditions); returns whether it did. Sessions set up from now on
    /// negotiate it by themselves; this is for sessions set up before
    /// both devices ran it. **Only when that device runs the KEM ratchet
    /// too** (its bundle's signed prekey signs the capability,
    /// [`crate::SignedPreKeyPublic::runs_kem_ratchet`]): a device from
    /// before it cannot read the messages that follow.
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store.
    pub fn upgrade_kem_ratchet(&mut self, address: &Address) -> Result<bool, ConversationError> {
        self.operate(|this, work| {
            Ok(this.sessions_mut(work, address)?.current_mut().is_some_and(Session::upgrade_kem_ratchet))
        })
    }
}
