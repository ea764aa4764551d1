//! An account: one device's identity and prekeys. It starts sessions and
//! opens first messages (the responder's side is in `responder`); it holds
//! no sessions itself.

use core::fmt;

use rand_core::CryptoRng;

use crate::bundle::PreKeyBundle;
use crate::error::{EncryptError, KeyError, PreKeyError, StartError};
use crate::identity::{IdentityKeyPair, PublicIdentity};
use crate::message::{PqFields, PreKeyMessage};
use crate::prekeys::{
    CAPABILITY_KEM_RATCHET, CAPABILITY_PQ_PREKEYS, MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS, OneTimePreKey,
    OneTimePreKeyPublic, PqPreKey, PqPreKeyKind, PqPreKeyPublic, PreKeys, SignedPreKey, SignedPreKeyPublic,
};
use crate::primitives::dh::X25519KeyPair;
use crate::primitives::rng::os_rng;
use crate::ratchet::DoubleRatchet;
use crate::session::{Role, Session};
use crate::x3dh::{self, ClassicX3dh, MAX_CONTEXT_LEN, SessionSetup};

/// One device's long-term keys: identity, signed prekeys, one-time
/// prekeys, PQ prekeys, and the replay record of first messages.
///
/// Persist it (see [`Account::pickle`]) after every call that takes
/// `&mut self`: those are the calls that change it.
pub struct Account {
    pub(crate) identity: IdentityKeyPair,
    pub(crate) prekeys: PreKeys,
    /// Whether classic X3DH (no PQ prekey) is accepted or started.
    pub(crate) classic_x3dh: ClassicX3dh,
    /// The statement of the device that linked this one, if any.
    pub(crate) device_link: Option<crate::link::DeviceLink>,
}

impl Account {
    /// A copy for a transaction: changed, then either committed in place
    /// of the original or dropped. Not public: two live copies of one
    /// account would hand out the same one-time prekeys.
    pub(crate) fn duplicate(&self) -> Self {
        Self {
            identity: self.identity.clone(),
            prekeys: self.prekeys.clone(),
            classic_x3dh: self.classic_x3dh,
            device_link: self.device_link.clone(),
        }
    }
}

impl Default for Account {
    fn default() -> Self {
        Self::new()
    }
}

impl Account {
    /// A new account with a fresh identity, signed prekey and last-resort
    /// PQ prekey, from the OS RNG. It has no one-time prekeys yet.
    ///
    /// ```
    /// use dmseal::Account;
    /// let account = Account::new();
    /// assert!(account.publishes_pq_prekeys());
    /// assert_eq!(account.unpublished_one_time_prekeys().len(), 0);
    /// // Every account has its own identity.
    /// assert_ne!(account.identity(), Account::new().identity());
    /// ```
    pub fn new() -> Self {
        Self::new_with_rng(&mut os_rng())
    }

    /// [`Account::new`] with a caller-supplied RNG.
    pub fn new_with_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let prekeys = PreKeys::generate(&identity, CAPABILITY_PQ_PREKEYS | CAPABILITY_KEM_RATCHET, rng);
        Self { identity, prekeys, classic_x3dh: ClassicX3dh::Refuse, device_link: None }
    }

    /// An account that behaves as a peer from **before the KEM ratchet**
    /// would (docs/PROTOCOL.md §6.9): it publishes PQ prekeys, but its
    /// signed prekey does not sign the KEM-ratchet capability, so the
    /// sessions it starts, and those started from its bundles, run without
    /// the KEM ratchet. Its next signed-prekey rotation adds the
    /// capability, as a software upgrade would. For interoperability tests
    /// with older peers; never use it otherwise.
    pub fn new_without_kem_ratchet_with_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let prekeys = PreKeys::generate(&identity, CAPABILITY_PQ_PREKEYS, rng);
        Self { identity, prekeys, classic_x3dh: ClassicX3dh::Refuse, device_link: None }
    }

    /// An account that behaves as a peer **without post-quantum support**
    /// would: its signed prekeys do not sign the "publishes PQ prekeys"
    /// capability and its bundles carry no PQ prekey, so sessions with it
    /// are classic X3DH (other accounts start them only with
    /// [`ClassicX3dh::AcceptAndInitiate`]). It accepts classic first
    /// messages and starts classic sessions where it must. For
    /// interoperability tests with legacy peers; never use it otherwise.
    pub fn new_classic_only_with_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let prekeys = PreKeys::generate(&identity, 0, rng);
        Self { identity, prekeys, classic_x3dh: ClassicX3dh::AcceptAndInitiate, device_link: None }
    }

    /// Whether this account publishes PQ prekeys (every account except
    /// those made by [`Account::new_classic_only_with_rng`]).
    pub fn publishes_pq_prekeys(&self) -> bool {
        self.prekeys.signed.current.capabilities & CAPABILITY_PQ_PREKEYS != 0
    }

    /// Whether this account runs the KEM ratchet: its current signed
    /// prekey signs the capability, and the sessions it starts with a peer
    /// whose bundle signs it too run it (docs/PROTOCOL.md §6.9).
    pub fn runs_kem_ratchet(&self) -> bool {
        self.prekeys.signed.current.capabilities & CAPABILITY_KEM_RATCHET != 0
    }

    /// This account's public identity.
    pub fn identity(&self) -> &PublicIdentity {
        self.identity.public()
    }

    /// Sets whether this account accepts and starts **weaker** classic X3DH
    /// setups ([`ClassicX3dh`]; by default it does neither). Enable
    /// accepting only to talk to peers that cannot do PQXDH.
    pub fn set_classic_x3dh(&mut self, policy: ClassicX3dh) {
        self.classic_x3dh = policy;
    }

    /// What [`Account::set_classic_x3dh`] last set.
    pub fn classic_x3dh(&self) -> ClassicX3dh {
        self.classic_x3dh
    }

    // Signed prekeys.

    /// The current signed prekey, to publish.
    pub fn signed_prekey(&self) -> SignedPreKeyPublic {
        self.prekeys.signed.current.public()
    }

    /// The signed prekey with this id, current or retired within its grace
    /// period.
    pub fn signed_prekey_by_id(&self, id: u32) -> Option<SignedPreKeyPublic> {
        self.prekeys.signed.get(id).map(SignedPreKey::public)
    }

    /// Makes a new current signed prekey. The previous one stays usable
    /// for `grace_secs` after `now` (seconds since the Unix epoch), then
    /// [`Account::expire_prekeys`] deletes it. Publish the returned key.
    ///
    /// ```
    /// use dmseal::Account;
    /// let mut bob = Account::new();
    /// let (now, week) = (1_800_000_000, 7 * 24 * 60 * 60);
    /// let old = bob.signed_prekey();
    /// let new = bob.rotate_signed_prekey(now, week)?; // publish `new`
    /// assert_eq!(bob.signed_prekey(), new);
    /// // The old one still opens first messages for a week.
    /// assert_eq!(bob.signed_prekey_by_id(old.id()), Some(old));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PreKeyError::GracePeriodTooLong`] past
    /// [`crate::limits::MAX_SIGNED_PREKEY_GRACE_SECS`]; [`PreKeyError::IdsExhausted`].
    pub fn rotate_signed_prekey(&mut self, now: u64, grace_secs: u64) -> Result<SignedPreKeyPublic, PreKeyError> {
        self.rotate_signed_prekey_with_rng(&mut os_rng(), now, grace_secs)
    }

    /// [`Account::rotate_signed_prekey`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Account::rotate_signed_prekey`].
    pub fn rotate_signed_prekey_with_rng<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
        grace_secs: u64,
    ) -> Result<SignedPreKeyPublic, PreKeyError> {
        let identity = &self.identity;
        // An account that publishes PQ prekeys gains the KEM ratchet at its
        // first rotation after an upgrade (§3.3).
        let mut capabilities = self.prekeys.signed.current.capabilities;
        if capabilities & CAPABILITY_PQ_PREKEYS != 0 {
            capabilities |= CAPABILITY_KEM_RATCHET;
        }
        self.prekeys.signed.rotate(now, grace_secs, |id| SignedPreKey::generate(identity, id, capabilities, rng))?;
        self.prekeys.signed_since = Some(now);
        Ok(self.signed_prekey())
    }

    /// The statement of the existing device that linked this one
    /// ([`crate::Conversations::complete_link`]), if it was linked. It
    /// travels with the first messages of this device's sessions.
    pub fn device_link(&self) -> Option<&crate::link::DeviceLink> {
        self.device_link.as_ref()
    }

    /// When the current signed prekey became current: the `now` of the
    /// rotation that made it, or of the first
    /// [`crate::Conversations::prekey_maintenance`]; `None` for a new
    /// account's first signed prekey until then. Prekey maintenance
    /// rotates on this schedule.
    pub fn signed_prekey_since(&self) -> Option<u64> {
        self.prekeys.signed_since
    }

    /// Deletes retired signed prekeys and retired last-resort PQ prekeys
    /// whose grace period ended at or before `now`, zeroizing their private
    /// keys and dropping the replay records that name them. Returns how
    /// many keys were deleted. Call it periodically.
    ///
    /// ```
    /// use dmseal::Account;
    /// let mut bob = Account::new();
    /// let (now, day) = (1_800_000_000, 24 * 60 * 60);
    /// let old = bob.signed_prekey().id();
    /// bob.rotate_signed_prekey(now, day)?;
    /// assert_eq!(bob.expire_prekeys(now + day - 1), 0); // still in its grace period
    /// assert_eq!(bob.expire_prekeys(now + day), 1);
    /// assert!(bob.signed_prekey_by_id(old).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expire_prekeys(&mut self, now: u64) -> usize {
        self.prekeys.expire(now)
    }

    // One-time X25519 prekeys.

    /// Generates `count` one-time X25519 prekeys with the OS RNG and
    /// returns their public halves. They are unpublished until
    /// [`Account::mark_one_time_prekeys_published`].
    ///
    /// ```
    /// use dmseal::Account;
    /// let mut bob = Account::new();
    /// let keys = bob.generate_one_time_prekeys(20)?;
    /// // Upload the public halves, then mark them published.
    /// let ids: Vec<u32> = keys.iter().map(|k| k.id()).collect();
    /// bob.mark_one_time_prekeys_published(&ids)?;
    /// assert_eq!(bob.unused_published_one_time_prekeys(), 20);
    /// assert!(bob.unpublished_one_time_prekeys().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PreKeyError::TooManyOneTimePreKeys`] past
    /// [`crate::limits::MAX_ONE_TIME_PREKEYS`] (nothing is generated).
    pub fn generate_one_time_prekeys(&mut self, count: usize) -> Result<Vec<OneTimePreKeyPublic>, PreKeyError> {
        self.generate_one_time_prekeys_with_rng(&mut os_rng(), count)
    }

    /// [`Account::generate_one_time_prekeys`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Account::generate_one_time_prekeys`].
    pub fn generate_one_time_prekeys_with_rng<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
    ) -> Result<Vec<OneTimePreKeyPublic>, PreKeyError> {
        let ids = self.prekeys.one_time.generate(count, MAX_ONE_TIME_PREKEYS, |_| OneTimePreKey {
            pair: X25519KeyPair::generate(rng),
            published: false,
        })?;
        Ok(ids.into_iter().filter_map(|id| self.one_time_prekey(id)).collect())
    }

    /// The one-time X25519 prekeys not yet marked published: upload these.
    pub fn unpublished_one_time_prekeys(&self) -> Vec<OneTimePreKeyPublic> {
        self.prekeys.one_time.unpublished().map(|(id, k)| OneTimePreKeyPublic::new(id, k.pair.public())).collect()
    }

    /// Marks one-time X25519 prekeys as published (uploaded).
    ///
    /// # Errors
    ///
    /// [`PreKeyError::UnknownOneTimePreKey`] if any id is not stored; then
    /// none is marked.
    pub fn mark_one_time_prekeys_published(&mut self, ids: &[u32]) -> Result<(), PreKeyError> {
        self.prekeys.one_time.mark_published(ids)
    }

    /// How many published one-time X25519 prekeys are still unused. When
    /// this runs low, generate and upload more. Keys a server handed out to
    /// initiators who never wrote still count here: remove those your
    /// server reports as handed out long ago with
    /// [`Account::remove_one_time_prekeys`].
    pub fn unused_published_one_time_prekeys(&self) -> usize {
        self.prekeys.one_time.unused_published()
    }

    /// Ids of the published one-time X25519 prekeys still stored, oldest
    /// first.
    pub fn published_one_time_prekey_ids(&self) -> Vec<u32> {
        self.prekeys.one_time.published_ids()
    }

    /// Deletes (and zeroizes) one-time X25519 prekeys, for instance ones
    /// the server handed out weeks ago to initiators who never wrote,
    /// which would otherwise hold places under
    /// [`crate::limits::MAX_ONE_TIME_PREKEYS`] forever. A first message that names
    /// a removed key then fails with `OneTimePreKeyUnavailable`. Unknown
    /// ids are ignored; returns how many keys were removed.
    pub fn remove_one_time_prekeys(&mut self, ids: &[u32]) -> usize {
        self.prekeys.one_time.remove(ids)
    }

    /// The public half of a stored one-time X25519 prekey.
    pub fn one_time_prekey(&self, id: u32) -> Option<OneTimePreKeyPublic> {
        self.prekeys.one_time.keys.get(&id).map(|k| OneTimePreKeyPublic::new(id, k.pair.public()))
    }

    // PQ prekeys.

    /// The current last-resort PQ prekey, to publish. Bundles use it when
    /// the server has no one-time PQ prekey left.
    pub fn last_resort_pq_prekey(&self) -> PqPreKeyPublic {
        self.prekeys.last_resort_pq.current.public()
    }

    /// Makes a new last-resort PQ prekey; the previous one stays usable for
    /// `grace_secs` after `now`, like a signed prekey. Publish the result.
    ///
    /// ```
    /// use dmseal::{Account, PqPreKeyKind};
    /// let mut bob = Account::new();
    /// let (now, week) = (1_800_000_000, 7 * 24 * 60 * 60);
    /// let old = bob.last_resort_pq_prekey();
    /// let new = bob.rotate_last_resort_pq_prekey(now, week)?; // publish `new`
    /// assert_eq!(bob.last_resort_pq_prekey(), new);
    /// // The old one stays usable until its grace period ends.
    /// assert!(bob.pq_prekey(PqPreKeyKind::LastResort, old.id()).is_some());
    /// assert_eq!(bob.expire_prekeys(now + week), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Account::rotate_signed_prekey`].
    pub fn rotate_last_resort_pq_prekey(&mut self, now: u64, grace_secs: u64) -> Result<PqPreKeyPublic, PreKeyError> {
        self.rotate_last_resort_pq_prekey_with_rng(&mut os_rng(), now, grace_secs)
    }

    /// [`Account::rotate_last_resort_pq_prekey`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Account::rotate_signed_prekey`].
    pub fn rotate_last_resort_pq_prekey_with_rng<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
        grace_secs: u64,
    ) -> Result<PqPreKeyPublic, PreKeyError> {
        let identity = &self.identity;
        let dropped = self
            .prekeys
            .last_resort_pq
            .rotate(now, grace_secs, |id| PqPreKey::generate(identity, PqPreKeyKind::LastResort, id, rng))?;
        self.prekeys.forget_pq_replays(&dropped);
        Ok(self.last_resort_pq_prekey())
    }

    /// Generates `count` one-time PQ prekeys (one ML-KEM-768 key
    /// generation each; BENCHMARKS.md has the cost) and returns their
    /// public halves, unpublished.
    ///
    /// ```
    /// use dmseal::{Account, PqPreKeyKind};
    /// let mut bob = Account::new();
    /// let keys = bob.generate_pq_one_time_prekeys(5)?;
    /// assert!(keys.iter().all(|k| k.kind() == PqPreKeyKind::OneTime));
    /// // Upload them, mark them published, and hand one out in a bundle.
    /// let ids: Vec<u32> = keys.iter().map(|k| k.id()).collect();
    /// bob.mark_pq_one_time_prekeys_published(&ids)?;
    /// let bundle = bob.prekey_bundle(None, Some(ids[0]))?;
    /// assert_eq!(bundle.pq_prekey(), Some(&keys[0]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PreKeyError::TooManyOneTimePreKeys`] past
    /// [`crate::limits::MAX_PQ_ONE_TIME_PREKEYS`] (nothing is generated).
    pub fn generate_pq_one_time_prekeys(&mut self, count: usize) -> Result<Vec<PqPreKeyPublic>, PreKeyError> {
        self.generate_pq_one_time_prekeys_with_rng(&mut os_rng(), count)
    }

    /// [`Account::generate_pq_one_time_prekeys`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Account::generate_pq_one_time_prekeys`].
    pub fn generate_pq_one_time_prekeys_with_rng<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
    ) -> Result<Vec<PqPreKeyPublic>, PreKeyError> {
        let identity = &self.identity;
        let ids = self.prekeys.one_time_pq.generate(count, MAX_PQ_ONE_TIME_PREKEYS, |id| {
            PqPreKey::generate(identity, PqPreKeyKind::OneTime, id, rng)
        })?;
        Ok(ids.into_iter().filter_map(|id| self.pq_prekey(PqPreKeyKind::OneTime, id)).collect())
    }

    /// The one-time PQ prekeys not yet marked published: upload these.
    pub fn unpublished_pq_one_time_prekeys(&self) -> Vec<PqPreKeyPublic> {
        self.prekeys.one_time_pq.unpublished().map(|(_, k)| k.public()).collect()
    }

    /// Marks one-time PQ prekeys as published.
    ///
    /// # Errors
    ///
    /// [`PreKeyError::UnknownOneTimePreKey`] if any id is not stored; then
    /// none is marked.
    pub fn mark_pq_one_time_prekeys_published(&mut self, ids: &[u32]) -> Result<(), PreKeyError> {
        self.prekeys.one_time_pq.mark_published(ids)
    }

    /// How many published one-time PQ prekeys are still unused.
    pub fn unused_published_pq_one_time_prekeys(&self) -> usize {
        self.prekeys.one_time_pq.unused_published()
    }

    /// Ids of the published one-time PQ prekeys still stored, oldest first.
    pub fn published_pq_one_time_prekey_ids(&self) -> Vec<u32> {
        self.prekeys.one_time_pq.published_ids()
    }

    /// Deletes one-time PQ prekeys; see [`Account::remove_one_time_prekeys`].
    pub fn remove_pq_one_time_prekeys(&mut self, ids: &[u32]) -> usize {
        self.prekeys.one_time_pq.remove(ids)
    }

    /// The public half of a stored PQ prekey (a last-resort one: current or
    /// retired).
    pub fn pq_prekey(&self, kind: PqPreKeyKind, id: u32) -> Option<PqPreKeyPublic> {
        match kind {
            PqPreKeyKind::OneTime => self.prekeys.one_time_pq.keys.get(&id).map(PqPreKey::public),
            PqPreKeyKind::LastResort => self.prekeys.last_resort_pq.get(id).map(PqPreKey::public),
        }
    }

    /// A bundle of this account's current keys: the given one-time X25519
    /// prekey (or none), and the given one-time PQ prekey or else the
    /// last-resort PQ prekey.
    ///
    /// ```
    /// use dmseal::{Account, PqPreKeyKind, PreKeyBundle};
    /// let mut bob = Account::new();
    /// let otk = bob.generate_one_time_prekeys(1)?[0].id();
    /// let bundle = bob.prekey_bundle(Some(otk), None)?;
    /// assert_eq!(bundle.one_time_prekey().map(|k| k.id()), Some(otk));
    /// // No one-time PQ prekey named: the bundle carries the last-resort one.
    /// assert_eq!(bundle.pq_prekey().map(|k| k.kind()), Some(PqPreKeyKind::LastResort));
    /// // It travels as bytes.
    /// assert_eq!(PreKeyBundle::decode(&bundle.encode())?, bundle);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PreKeyError::UnknownOneTimePreKey`] if an id is not stored.
    pub fn prekey_bundle(
        &self,
        one_time_prekey: Option<u32>,
        pq_one_time_prekey: Option<u32>,
    ) -> Result<PreKeyBundle, PreKeyError> {
        let otk = match one_time_prekey {
            Some(id) => Some(self.one_time_prekey(id).ok_or(PreKeyError::UnknownOneTimePreKey { id })?),
            None => None,
        };
        let pq = match pq_one_time_prekey {
            Some(id) => self.pq_prekey(PqPreKeyKind::OneTime, id).ok_or(PreKeyError::UnknownOneTimePreKey { id })?,
            None => self.last_resort_pq_prekey(),
        };
        let pq = self.publishes_pq_prekeys().then_some(pq);
        Ok(PreKeyBundle::new(self.identity().clone(), self.signed_prekey(), otk, pq)
            .with_device_link(self.device_link.clone()))
    }

    // Sessions.

    /// The checks [`Account::start_session`] makes on a bundle before any
    /// key agreement, in its order (docs/PROTOCOL.md §5.4 steps 2–4): not
    /// this account's own, the signed prekey signature valid (over its
    /// capabilities), the PQ prekey's signature valid, and a PQ prekey
    /// present unless its owner does not publish them and this account
    /// starts classic setups. For an app that checks bundles when it
    /// fetches or caches them; starting a session checks again.
    ///
    /// ```
    /// use dmseal::{Account, PreKeyBundle, StartError};
    /// let (alice, bob) = (Account::new(), Account::new());
    /// let bundle = bob.prekey_bundle(None, None)?;
    /// assert_eq!(alice.check_bundle(&bundle), Ok(()));
    /// // A server that strips the PQ prekey is caught: Bob signed that he
    /// // publishes one.
    /// let stripped = PreKeyBundle::new(bundle.identity().clone(), bundle.signed_prekey().clone(), None, None);
    /// assert_eq!(alice.check_bundle(&stripped), Err(StartError::PqPreKeyStripped));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The [`StartError`] `start_session` would return for this bundle.
    pub fn check_bundle(&self, bundle: &PreKeyBundle) -> Result<(), StartError> {
        let responder = bundle.identity();
        if responder == self.identity() {
            return Err(StartError::OwnBundle);
        }
        let spk = bundle.signed_prekey();
        if !spk.verify(responder) {
            // The owner signed the PQ capability and someone cleared it.
            if bundle.pq_prekey().is_none() && spk.verifies_with_pq_capability(responder) {
                return Err(StartError::PqPreKeyStripped);
            }
            return Err(StartError::BadSignedPreKeySignature);
        }
        match bundle.pq_prekey() {
            Some(pq) if !pq.verify(responder) => Err(StartError::BadPqPreKeySignature),
            Some(_) => Ok(()),
            None if spk.publishes_pq_prekeys() => Err(StartError::PqPreKeyStripped),
            None if !self.classic_x3dh.initiates() => Err(StartError::MissingPqPreKey),
            None => Ok(()),
        }
    }

    /// Starts a session from someone's bundle and encrypts a first message
    /// to them. `context` binds the conversation (see
    /// [`crate::conversation_context`]); the responder must pass the same
    /// bytes. The account is not changed.
    ///
    /// ```
    /// use dmseal::{Account, PreKeyMessage, conversation_context};
    /// let (alice, mut bob) = (Account::new(), Account::new());
    /// let bundle = bob.prekey_bundle(None, None)?;
    /// let context = conversation_context(b"alice.1", b"bob.1");
    /// let (session, first) = alice.start_session(&bundle, &context, b"hi Bob")?;
    /// // Send `first` to Bob; the session waits for his reply.
    /// assert!(!session.is_acknowledged());
    /// let pending = bob.open_first_message(&PreKeyMessage::decode(&first)?, &context, 1_800_000_000)?;
    /// assert_eq!(pending.plaintext(), b"hi Bob");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Returns the session and the first message's bytes.
    ///
    /// # Errors
    ///
    /// A [`StartError`]; checks run in this order: context length, own
    /// bundle, signed prekey signature, PQ prekey signature (or its
    /// absence), key agreement.
    pub fn start_session(
        &self,
        bundle: &PreKeyBundle,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<(Session, Vec<u8>), StartError> {
        self.start_session_with_rng(&mut os_rng(), bundle, context, plaintext)
    }

    /// [`Account::start_session`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Account::start_session`].
    pub fn start_session_with_rng<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        bundle: &PreKeyBundle,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<(Session, Vec<u8>), StartError> {
        let mut session = self.begin_session_with_rng(rng, bundle, context)?;
        let first = session.encrypt_with_rng(rng, plaintext).map_err(|e| match e {
            EncryptError::InvalidKey(k) => StartError::InvalidKey(k),
            // A fresh chain starts at counter 0 and needs no DH step, so
            // neither error can occur; `InvalidKey` is the closest meaning.
            _ => StartError::InvalidKey(KeyError::NonContributory),
        })?;
        Ok((session, first))
    }

    /// [`Account::start_session`] without a first message: the session is
    /// set up from the bundle, and its first [`Session::encrypt`] makes the
    /// first (prekey) message; every message is one until a reply is read.
    /// For an application that sets sessions up ahead of its first message.
    /// The same checks, RNG draws and keys as `start_session`: `begin`
    /// then `encrypt` gives the bytes `start_session` gives.
    ///
    /// ```
    /// use dmseal::{Account, PreKeyMessage};
    /// let (alice, mut bob) = (Account::new(), Account::new());
    /// let bundle = bob.prekey_bundle(None, None)?;
    /// let mut session = alice.begin_session(&bundle, b"alice|bob")?;
    /// let first = session.encrypt(b"hi")?;
    /// let pending = bob.open_first_message(&PreKeyMessage::decode(&first)?, b"alice|bob", 0)?;
    /// assert_eq!(pending.plaintext(), b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Account::start_session`].
    pub fn begin_session(&self, bundle: &PreKeyBundle, context: &[u8]) -> Result<Session, StartError> {
        self.begin_session_with_rng(&mut os_rng(), bundle, context)
    }

    /// [`Account::begin_session`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Account::start_session`].
    pub fn begin_session_with_rng<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        bundle: &PreKeyBundle,
        context: &[u8],
    ) -> Result<Session, StartError> {
        if context.len() > MAX_CONTEXT_LEN {
            return Err(StartError::ContextTooLong { len: context.len(), max: MAX_CONTEXT_LEN });
        }
        self.check_bundle(bundle)?;
        let responder = bundle.identity();
        let spk = bundle.signed_prekey();
        let pq = bundle.pq_prekey();
        let otk = bundle.one_time_prekey();
        let base = X25519KeyPair::generate(rng);
        let ratchet_key = X25519KeyPair::generate(rng);
        let encapsulated = pq.map(|pq| {
            let (ciphertext, secret) = pq.key().encapsulate(rng);
            (PqFields { kind: pq.kind(), id: pq.id(), ciphertext }, secret)
        });
        let pq_fields = encapsulated.as_ref().map(|(fields, _)| fields);
        let kem_ratchet = self.runs_kem_ratchet() && spk.runs_kem_ratchet();
        let prefix = PreKeyMessage::prefix(
            self.identity(),
            spk.id(),
            &base.public(),
            otk.map(|k| k.id()),
            pq_fields,
            kem_ratchet,
        );
        let otk_key = otk.map(|k| k.key());
        let transcript =
            x3dh::transcript_hash(&prefix, responder, &spk.key(), otk_key.as_ref(), pq.map(|p| p.key()), context);
        let kem_secret = encapsulated.as_ref().map(|(_, secret)| &**secret);
        let (root, chain) =
            x3dh::initiator(&self.identity, &base, responder, &spk.key(), otk_key.as_ref(), kem_secret, &transcript)?;
        Ok(Session {
            ratchet: DoubleRatchet::initiator(root, chain, ratchet_key, kem_ratchet),
            role: Role::Initiator,
            setup: if pq.is_some() { SessionSetup::Pqxdh } else { SessionSetup::ClassicX3dh },
            peer_identity: responder.clone(),
            base_key: base.public(),
            session_ad: x3dh::session_ad(self.identity(), responder, context),
            pending_prefix: Some(prefix),
        })
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("identity", self.identity())
            .field("signed_prekey_id", &self.prekeys.signed.current.id)
            .field("one_time_prekeys", &self.prekeys.one_time.keys.len())
            .field("pq_one_time_prekeys", &self.prekeys.one_time_pq.keys.len())
            .field("classic_x3dh", &self.classic_x3dh)
            .finish_non_exhaustive()
    }
}

mod pickling;
mod responder;

pub use self::responder::PendingSession;

#[cfg(test)]
mod tests;
