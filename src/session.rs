//! A 1:1 session: setup output plus the Double Ratchet, with the
//! associated data that binds every message to both identities and the
//! context.

use core::fmt;

use rand_core::CryptoRng;

use crate::error::{DecryptError, EncryptError};
use crate::identity::PublicIdentity;
use crate::message::{Envelope, MAX_MESSAGE_HEADER_LEN, NormalMessage, PreKeyMessage};
use crate::primitives::dh::X25519PublicKey;
use crate::primitives::rng::os_rng;
use crate::primitives::siv::SIV_LEN as TAG_LEN;
use crate::ratchet::DoubleRatchet;
use crate::ratchet::kem::KemRatchet;
use crate::x3dh::SessionSetup;

/// The name of a session for routing first messages: the initiator's
/// identity key bytes and base key. Hashable, so an app can index its
/// responder sessions by it and route a prekey message in one lookup
/// ([`PreKeyMessage::session_id`], [`Session::session_id`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    initiator: [u8; 64],
    base_key: [u8; 32],
}

impl SessionId {
    pub(crate) fn new(initiator: &PublicIdentity, base_key: X25519PublicKey) -> Self {
        Self { initiator: initiator.key_bytes(), base_key: base_key.to_bytes() }
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(")?;
        for b in self.base_key.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// Which side of session setup this session was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Role {
    /// Started the session from a bundle.
    Initiator,
    /// Accepted a first message.
    Responder,
}

/// An end-to-end encrypted 1:1 session.
///
/// **Persist before sending.** [`Session::encrypt`] and
/// [`Session::decrypt`] advance the state. Persist the session (see
/// [`Session::pickle`]) before a ciphertext leaves the process or a
/// plaintext is shown: restoring an older state re-uses message keys and
/// re-opens replays.
///
/// A failed [`Session::decrypt`] leaves the session exactly as it was.
pub struct Session {
    pub(crate) ratchet: DoubleRatchet,
    pub(crate) role: Role,
    pub(crate) setup: SessionSetup,
    pub(crate) peer_identity: PublicIdentity,
    /// The initiator's base key: with the initiator identity, the name of
    /// this session for routing first messages.
    pub(crate) base_key: X25519PublicKey,
    pub(crate) session_ad: [u8; 32],
    /// Initiator only, until a reply decrypts: the prekey-message prefix
    /// every outgoing message is wrapped in.
    pub(crate) pending_prefix: Option<Vec<u8>>,
}

impl Session {
    /// Encrypts `plaintext`, using the OS RNG when a new ratchet key is
    /// needed. Returns the bytes to send: a prekey message until the
    /// initiator has read a reply, a normal message after.
    ///
    /// ```
    /// use dmseal::{Account, Envelope, PreKeyMessage};
    /// # let (alice, mut bob) = (Account::new(), Account::new());
    /// # let context = b"alice|bob";
    /// # let (mut alice_s, first) = alice.start_session(&bob.prekey_bundle(None, None)?, context, b"hi")?;
    /// # let pending = bob.open_first_message(&PreKeyMessage::decode(&first)?, context, 1_800_000_000)?;
    /// # let mut bob_s = bob.accept(pending)?;
    /// // Alice has not read a reply yet: her messages are prekey messages.
    /// let second = alice_s.encrypt(b"are you there?")?;
    /// assert!(matches!(Envelope::decode(&second)?, Envelope::PreKey(_)));
    /// assert_eq!(alice_s.decrypt(&bob_s.encrypt(b"yes")?)?, b"yes");
    /// let third = alice_s.encrypt(b"good")?;
    /// assert!(matches!(Envelope::decode(&third)?, Envelope::Normal(_)));
    /// assert_eq!(bob_s.decrypt(&third)?, b"good");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`EncryptError::ChainExhausted`] after `2^32 - 1` messages without
    /// any reply.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
        self.encrypt_with_rng(&mut os_rng(), plaintext)
    }

    /// [`Session::encrypt`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Session::encrypt`].
    pub fn encrypt_with_rng<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, EncryptError> {
        let out = self.ratchet.next_sending_key(rng)?;
        let prefix = self.pending_prefix.as_deref().unwrap_or_default();
        // One buffer: prefix, header, then the plaintext sealed in place.
        let mut bytes = Vec::with_capacity(prefix.len() + MAX_MESSAGE_HEADER_LEN + plaintext.len() + TAG_LEN);
        bytes.extend_from_slice(prefix);
        NormalMessage::write_header(
            &mut bytes,
            out.ratchet_key,
            out.previous_counter,
            out.message_key.index,
            out.kem.as_ref(),
        );
        let ad = self.associated_data(prefix, bytes.get(prefix.len()..).unwrap_or_default());
        let body_start = bytes.len();
        bytes.extend_from_slice(plaintext);
        out.message_key.cipher_key().seal_in_place(&ad, &mut bytes, body_start);
        Ok(bytes)
    }

    /// Decrypts a message of this session: a normal message, or a prekey
    /// message that [matches](Session::matches) it (the initiator's
    /// repeated first messages). On any error the session is unchanged.
    ///
    /// ```
    /// use dmseal::{Account, DecryptError, PreKeyMessage};
    /// # let (alice, mut bob) = (Account::new(), Account::new());
    /// # let context = b"alice|bob";
    /// # let (mut alice_s, first) = alice.start_session(&bob.prekey_bundle(None, None)?, context, b"hi")?;
    /// # let pending = bob.open_first_message(&PreKeyMessage::decode(&first)?, context, 1_800_000_000)?;
    /// # let mut bob_s = bob.accept(pending)?;
    /// let (one, two) = (bob_s.encrypt(b"one")?, bob_s.encrypt(b"two")?);
    /// // Out of order is fine.
    /// assert_eq!(alice_s.decrypt(&two)?, b"two");
    /// assert_eq!(alice_s.decrypt(&one)?, b"one");
    /// // A replay is refused, and changes nothing.
    /// assert_eq!(alice_s.decrypt(&one), Err(DecryptError::DuplicateOrExpired));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`DecryptError`]; see each variant for what to do.
    pub fn decrypt(&mut self, bytes: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let envelope = Envelope::decode(bytes)?;
        self.decrypt_envelope(&envelope)
    }

    /// [`Session::decrypt`] for an already decoded message.
    ///
    /// # Errors
    ///
    /// As [`Session::decrypt`].
    pub fn decrypt_envelope(&mut self, envelope: &Envelope) -> Result<Vec<u8>, DecryptError> {
        self.decrypt_envelope_at(envelope, 0)
    }

    /// [`Session::decrypt_envelope`], recording the keys it skips as
    /// skipped at `now`, so that they can be deleted by age
    /// ([`Session::expire_skipped`]).
    pub(crate) fn decrypt_envelope_at(&mut self, envelope: &Envelope, now: u64) -> Result<Vec<u8>, DecryptError> {
        match envelope {
            Envelope::Normal(message) => {
                let ad = self.associated_data(&[], message.header());
                // The peer upgraded a session set up without the KEM
                // ratchet (§6.9.8): its first such message upgrades ours.
                let upgrade = self.ratchet.kem.is_none() && message.kem().is_some();
                if upgrade {
                    if message.kem_epoch() != Some(0) {
                        return Err(DecryptError::AuthenticationFailed);
                    }
                    self.ratchet.kem = Some(KemRatchet::upgrade(self.role == Role::Initiator));
                }
                let plaintext = self.ratchet.decrypt(message, &ad, now).inspect_err(|_| {
                    if upgrade {
                        self.ratchet.kem = None;
                    }
                })?;
                // A reply proves the responder holds the session.
                self.pending_prefix = None;
                Ok(plaintext)
            }
            Envelope::PreKey(message) => {
                if self.role != Role::Responder || !self.matches(message) {
                    return Err(DecryptError::NotForThisSession);
                }
                let ad = self.associated_data(message.prefix_bytes(), message.message().header());
                self.ratchet.decrypt(message.message(), &ad, now)
            }
        }
    }

    /// Whether `message` belongs to this session: same initiator identity
    /// and base key. Use it to route a prekey message to an existing
    /// session before offering it to the account.
    pub fn matches(&self, message: &PreKeyMessage) -> bool {
        self.session_id() == Some(message.session_id())
    }

    /// For a responder session, the id its initiator's prekey messages
    /// carry ([`PreKeyMessage::session_id`]); `None` for an initiator
    /// session, which never receives prekey messages.
    pub fn session_id(&self) -> Option<SessionId> {
        match self.role {
            Role::Responder => Some(SessionId::new(&self.peer_identity, self.base_key)),
            Role::Initiator => None,
        }
    }

    /// The peer's identity, authenticated by session setup.
    pub fn peer_identity(&self) -> &PublicIdentity {
        &self.peer_identity
    }

    /// Which side of setup this session was.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether this session runs the KEM ratchet (docs/PROTOCOL.md §6.9):
    /// fresh ML-KEM-768 exchanges mixed into its root keys, so that it
    /// heals from a compromise against an adversary who can break X25519.
    /// Negotiated at setup: both accounts must sign the capability.
    pub fn kem_ratchet(&self) -> bool {
        self.ratchet.kem.is_some()
    }

    /// Starts the KEM ratchet in a session set up without it
    /// (docs/PROTOCOL.md §6.9.8): from now on every message carries the
    /// KEM fields, and the peer's session upgrades on reading the first.
    /// Returns `false`, changing nothing, when the session already runs
    /// it or is an initiator session whose first message has not been
    /// answered (its prekey messages keep the setup's kind).
    ///
    /// **Only when the peer runs the KEM ratchet too**, e.g. its signed
    /// prekey signs the capability
    /// ([`crate::SignedPreKeyPublic::runs_kem_ratchet`]): a peer from
    /// before it cannot read the messages that follow. Messages the peer
    /// sent before it upgraded still decrypt.
    pub fn upgrade_kem_ratchet(&mut self) -> bool {
        if self.ratchet.kem.is_some() || self.pending_prefix.is_some() {
            return false;
        }
        self.ratchet.kem = Some(KemRatchet::upgrade(self.role == Role::Initiator));
        true
    }

    /// Whether the peer is known to run the KEM ratchet in this session:
    /// it was set up with it, or the peer has sent a message with its
    /// fields (docs/PROTOCOL.md §6.9.5, `peer_seen`).
    pub(crate) fn peer_runs_kem_ratchet(&self) -> bool {
        self.ratchet.kem.as_ref().is_some_and(|k| k.peer_seen)
    }

    /// How many KEM-ratchet epochs are mixed into this session's current
    /// root key (0 without the KEM ratchet, and until the first completes).
    pub fn kem_epochs(&self) -> u32 {
        self.ratchet.kem.as_ref().map_or(0, |k| k.mixed)
    }

    /// Which key agreement set this session up: PQXDH, or (only where the
    /// account allowed it) classic X3DH.
    pub fn setup(&self) -> SessionSetup {
        self.setup
    }

    /// The initiator's base key, which names this session.
    pub fn base_key(&self) -> X25519PublicKey {
        self.base_key
    }

    /// Whether the peer is known to hold this session: always for a
    /// responder, and for an initiator once a reply has decrypted. Until
    /// then, outgoing messages are prekey messages.
    pub fn is_acknowledged(&self) -> bool {
        self.pending_prefix.is_none()
    }

    /// How many skipped message keys are stored (messages not yet
    /// received that arrived out of order around them).
    pub fn skipped_message_keys(&self) -> usize {
        self.ratchet.skipped_keys()
    }

    /// Whether the peer's message `counter` on its chain `ratchet_key`
    /// was read in this session (docs/PROTOCOL.md §13.9).
    pub(crate) fn read_state(&self, ratchet_key: &[u8; 32], counter: u32) -> crate::ratchet::ReadState {
        self.ratchet.read_state(ratchet_key, counter)
    }

    /// The peer's messages skipped and still awaited, at most `limit`.
    pub(crate) fn missing(&self, limit: usize) -> Vec<([u8; 32], u32)> {
        self.ratchet.missing(limit)
    }

    /// Deletes the kept key of that message, if any.
    pub(crate) fn forget_skipped(&mut self, ratchet_key: &[u8; 32], counter: u32) -> bool {
        self.ratchet.forget_skipped(ratchet_key, counter)
    }

    /// Deletes the skipped message keys stored at or before `before`;
    /// returns how many.
    pub(crate) fn expire_skipped(&mut self, before: u64) -> usize {
        self.ratchet.expire_skipped(before)
    }

    /// Whether a skipped message key stored at or before `before` is kept.
    pub(crate) fn has_skipped_before(&self, before: u64) -> bool {
        self.ratchet.has_skipped_before(before)
    }

    fn associated_data(&self, prefix: &[u8], header: &[u8]) -> Vec<u8> {
        let mut ad = Vec::with_capacity(32 + prefix.len() + header.len());
        ad.extend_from_slice(&self.session_ad);
        ad.extend_from_slice(prefix);
        ad.extend_from_slice(header);
        ad
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("setup", &self.setup)
            .field("peer_identity", &self.peer_identity)
            .field("base_key", &self.base_key)
            .field("kem_ratchet", &self.kem_ratchet())
            .field("acknowledged", &self.is_acknowledged())
            .finish_non_exhaustive()
    }
}

mod pickling {
    use std::collections::{BTreeMap, VecDeque};

    use super::KemRatchet;
    use super::{Role, Session, SessionSetup};
    use crate::error::PickleError;
    use crate::identity::PublicIdentity;
    use crate::pickle::{
        ChainKeyPickle, PICKLE_VERSION, ReceiverChainPickle, SessionCorePickle, SessionPickle, SkippedKeyPickle,
    };
    use crate::primitives::dh::{X25519KeyPair, X25519PublicKey};
    use crate::ratchet::{
        ChainKey, DoubleRatchet, MAX_EVICTED_CHAIN_RECORDS, MAX_RECEIVING_CHAINS, MAX_SKIPPED_KEYS_PER_CHAIN,
        MessageKey, ReceiverChain, RootKey, SkippedKey,
    };

    /// The longest prekey-message prefix: with a one-time prekey id and the
    /// PQXDH fields (kind, id, ML-KEM ciphertext).
    const MAX_PREFIX_LEN: usize =
        3 + crate::identity::PUBLIC_IDENTITY_LEN + 4 + 32 + 4 + 1 + 4 + crate::ML_KEM_768_CIPHERTEXT_LEN;

    fn chain_to(ck: &ChainKey) -> ChainKeyPickle {
        ChainKeyPickle { key: ck.key, index: ck.index }
    }

    fn chain_from(p: &ChainKeyPickle) -> ChainKey {
        ChainKey { key: p.key, index: p.index }
    }

    impl Session {
        /// A versioned snapshot of this session, to persist. See
        /// [`SessionPickle::encrypt`].
        ///
        /// ```
        /// use dmseal::{Account, PreKeyMessage, Session, SessionPickle};
        /// # let (alice, mut bob) = (Account::new(), Account::new());
        /// # let context = b"alice|bob";
        /// # let (mut alice_s, first) = alice.start_session(&bob.prekey_bundle(None, None)?, context, b"hi")?;
        /// # let pending = bob.open_first_message(&PreKeyMessage::decode(&first)?, context, 1_800_000_000)?;
        /// # let mut bob_s = bob.accept(pending)?;
        /// let key = [7u8; 32]; // the app's storage key, from the keychain
        /// let message = bob_s.encrypt(b"hello")?;
        /// // Persist before `message` leaves the process.
        /// let stored = bob_s.pickle().encrypt(&key);
        /// let restored = Session::from_pickle(&SessionPickle::from_encrypted(&stored, &key)?)?;
        /// assert_eq!(restored.base_key(), bob_s.base_key());
        /// # let _ = (message, &mut alice_s);
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn pickle(&self) -> SessionPickle {
            let r = &self.ratchet;
            let core = SessionCorePickle {
                version: PICKLE_VERSION,
                initiator: self.role == Role::Initiator,
                post_quantum: self.setup == SessionSetup::Pqxdh,
                peer_identity: self.peer_identity.encode().to_vec(),
                base_key: self.base_key.to_bytes(),
                session_ad: self.session_ad,
                pending_prefix: self.pending_prefix.clone(),
                root_key: r.root_key.0,
                our_ratchet: r.our_ratchet.as_ref().map(|k| *k.secret_bytes()),
                sending: r.sending.as_ref().map(chain_to),
                previous_counter: r.previous_counter,
                receiving: r
                    .receiving
                    .iter()
                    .map(|c| ReceiverChainPickle {
                        ratchet_key: c.ratchet_key.to_bytes(),
                        chain_key: c.chain_key.as_ref().map(chain_to),
                        skipped: c
                            .skipped
                            .values()
                            .map(|s| SkippedKeyPickle { index: s.key.index, seed: s.key.seed, at: s.at })
                            .collect(),
                    })
                    .collect(),
                expecting_new_chain: r.expecting_new_chain,
                evicted_chains: r.evicted_chains.iter().copied().collect(),
            };
            SessionPickle { core, kem: r.kem.as_ref().map(KemRatchet::to_pickle) }
        }

        /// Restores a session from a snapshot, checking every limit and key.
        ///
        /// Restoring a snapshot older than the session's latest state is
        /// unsafe: it re-uses message keys and re-opens replays.
        ///
        /// ```
        /// use dmseal::{Account, PreKeyMessage, Session, SessionPickle};
        /// # let (alice, mut bob) = (Account::new(), Account::new());
        /// # let context = b"alice|bob";
        /// # let (mut alice_s, first) = alice.start_session(&bob.prekey_bundle(None, None)?, context, b"hi")?;
        /// # let pending = bob.open_first_message(&PreKeyMessage::decode(&first)?, context, 1_800_000_000)?;
        /// # let mut bob_s = bob.accept(pending)?;
        /// let key = [7u8; 32]; // the app's storage key, from the keychain
        /// let stored = bob_s.pickle().encrypt(&key);
        /// drop(bob_s); // the app restarts
        /// let mut bob_s = Session::from_pickle(&SessionPickle::from_encrypted(&stored, &key)?)?;
        /// assert_eq!(bob_s.decrypt(&alice_s.encrypt(b"still there?")?)?, b"still there?");
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`PickleError::UnsupportedVersion`] or [`PickleError::Invalid`].
        pub fn from_pickle(pickle: &SessionPickle) -> Result<Self, PickleError> {
            let kem = pickle.kem.as_ref().map(KemRatchet::from_pickle).transpose()?;
            let pickle = &pickle.core;
            crate::pickle::check_version(pickle.version)?;
            let invalid = |_| PickleError::Invalid;
            let peer_identity = PublicIdentity::decode(&pickle.peer_identity).map_err(invalid)?;
            let base_key = X25519PublicKey::from_bytes(pickle.base_key).map_err(|_| PickleError::Invalid)?;
            let role = if pickle.initiator { Role::Initiator } else { Role::Responder };
            if let Some(prefix) = &pickle.pending_prefix
                && (role == Role::Responder || prefix.len() > MAX_PREFIX_LEN)
            {
                return Err(PickleError::Invalid);
            }
            if pickle.receiving.len() > MAX_RECEIVING_CHAINS || pickle.evicted_chains.len() > MAX_EVICTED_CHAIN_RECORDS
            {
                return Err(PickleError::Invalid);
            }
            let mut receiving = VecDeque::with_capacity(pickle.receiving.len());
            for c in &pickle.receiving {
                let chain_key = c.chain_key.as_ref().map(chain_from);
                // Skipped keys lie below the chain's next index, or one
                // message could decrypt twice (from the store and the chain).
                let below_chain = |index: u32| chain_key.as_ref().is_none_or(|ck| index < ck.index);
                if c.skipped.len() > MAX_SKIPPED_KEYS_PER_CHAIN || !c.skipped.iter().all(|s| below_chain(s.index)) {
                    return Err(PickleError::Invalid);
                }
                let mut skipped = BTreeMap::new();
                for s in &c.skipped {
                    let key = SkippedKey { key: Box::new(MessageKey { seed: s.seed, index: s.index }), at: s.at };
                    if skipped.insert(s.index, key).is_some() {
                        return Err(PickleError::Invalid);
                    }
                }
                receiving.push_back(Box::new(ReceiverChain {
                    ratchet_key: X25519PublicKey::from_bytes(c.ratchet_key).map_err(|_| PickleError::Invalid)?,
                    chain_key,
                    skipped,
                }));
            }
            let ratchet = DoubleRatchet {
                root_key: RootKey(pickle.root_key),
                our_ratchet: pickle.our_ratchet.map(X25519KeyPair::from_secret_bytes),
                sending: pickle.sending.as_ref().map(chain_from),
                previous_counter: pickle.previous_counter,
                receiving,
                expecting_new_chain: pickle.expecting_new_chain,
                evicted_chains: pickle.evicted_chains.iter().copied().collect(),
                kem,
            };
            Ok(Self {
                ratchet,
                role,
                setup: if pickle.post_quantum { SessionSetup::Pqxdh } else { SessionSetup::ClassicX3dh },
                peer_identity,
                base_key,
                session_ad: pickle.session_ad,
                pending_prefix: pickle.pending_prefix.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PickleError;
    use crate::pickle::SessionPickle;
    use crate::primitives::dh::X25519KeyPair;
    use crate::ratchet::{MAX_EVICTED_CHAIN_RECORDS, MAX_RECEIVING_CHAINS, MAX_SKIPPED_KEYS_PER_CHAIN};
    use crate::testing::established;

    #[test]
    fn a_pickle_with_a_skipped_key_at_or_above_its_chain_index_is_refused() {
        // A tampered plain pickle must not let one message decrypt twice.
        let (mut a, mut b) = established(30);
        let ms: Vec<_> = (0..3u8).map(|i| a.encrypt(&[i]).unwrap()).collect();
        b.decrypt(&ms[2]).unwrap();
        let mut pickle = b.pickle();
        let chain = &mut pickle.core.receiving[0];
        assert_eq!(chain.chain_key.as_ref().unwrap().index, 3);
        assert!(Session::from_pickle(&pickle).is_ok());
        pickle.core.receiving[0].skipped[0].index = 3;
        assert_eq!(Session::from_pickle(&pickle).err(), Some(PickleError::Invalid));
    }

    #[test]
    fn a_session_pickle_is_taken_at_each_limit_and_refused_one_past_it() {
        // The longest pending prefix: PQXDH with both one-time prekeys.
        let mut rng = crate::testing::rng(41);
        let mut bob = crate::Account::new_with_rng(&mut rng);
        let otk = bob.generate_one_time_prekeys_with_rng(&mut rng, 1).unwrap()[0].id();
        let pq = bob.generate_pq_one_time_prekeys_with_rng(&mut rng, 1).unwrap()[0].id();
        let bundle = bob.prekey_bundle(Some(otk), Some(pq)).unwrap();
        let alice = crate::Account::new_with_rng(&mut rng);
        let (a, _) = alice.start_session_with_rng(&mut rng, &bundle, b"ctx", b"hi").unwrap();
        let mut p = a.pickle();
        assert_eq!(p.core.pending_prefix.as_ref().map(Vec::len), Some(1264), "docs/PROTOCOL.md §9");
        assert!(Session::from_pickle(&p).is_ok());
        p.core.pending_prefix.as_mut().unwrap().push(0);
        assert_eq!(Session::from_pickle(&p).err(), Some(PickleError::Invalid));
        // Only an initiator has one.
        let (_, b) = established(42);
        let mut p = b.pickle();
        assert!(Session::from_pickle(&p).is_ok());
        p.core.pending_prefix = Some(vec![0; 10]);
        assert_eq!(Session::from_pickle(&p).err(), Some(PickleError::Invalid));

        // Receiving chains, evicted chain records, skipped keys per chain.
        let (mut a, mut b) = established(43);
        let ms: Vec<_> = (0..3u8).map(|i| a.encrypt(&[i]).unwrap()).collect();
        b.decrypt(&ms[2]).unwrap();
        let base = b.pickle();
        let at_and_past = |limit: usize, set: &dyn Fn(&mut SessionPickle, usize)| {
            let mut p = base.clone();
            set(&mut p, limit);
            assert!(Session::from_pickle(&p).is_ok(), "at the limit {limit}");
            set(&mut p, limit + 1);
            assert_eq!(Session::from_pickle(&p).err(), Some(PickleError::Invalid), "past the limit {limit}");
        };
        at_and_past(MAX_RECEIVING_CHAINS, &|p, n| {
            let chain = p.core.receiving[0].clone();
            p.core.receiving = (0..n)
                .map(|i| {
                    let mut c = chain.clone();
                    c.ratchet_key = X25519KeyPair::from_secret_bytes([i as u8 + 1; 32]).public().to_bytes();
                    c
                })
                .collect();
        });
        at_and_past(MAX_EVICTED_CHAIN_RECORDS, &|p, n| p.core.evicted_chains = (0..n).map(|i| [i as u8; 8]).collect());
        at_and_past(MAX_SKIPPED_KEYS_PER_CHAIN, &|p, n| {
            let c = &mut p.core.receiving[0];
            let seed = c.skipped[0].seed;
            c.chain_key.as_mut().unwrap().index = n as u32 + 1;
            c.skipped = (0..n as u32).map(|index| crate::pickle::SkippedKeyPickle { index, seed, at: 0 }).collect();
        });
    }

    #[test]
    fn acknowledgement_and_debug_forms() {
        let (mut a, mut b) = crate::testing::established_unacknowledged(44);
        assert!(!a.is_acknowledged(), "an initiator's session is unanswered at first");
        assert!(b.is_acknowledged());
        let reply = b.encrypt(b"reply").unwrap();
        a.decrypt(&reply).unwrap();
        assert!(a.is_acknowledged());
        let id = format!("{:?}", b.session_id().unwrap());
        assert!(id.starts_with("SessionId(") && id.ends_with("..)") && id.len() == "SessionId(..)".len() + 16, "{id}");
        assert!(format!("{a:?}").starts_with("Session {"));
    }

    #[test]
    fn a_prekey_message_of_another_session_is_not_for_this_one() {
        let (_, mut b) = crate::testing::established_unacknowledged(32);
        let (mut other, _) = crate::testing::established_unacknowledged(33);
        let foreign = other.encrypt(b"for another session").unwrap();
        let before = b.pickle().to_bytes();
        assert_eq!(b.decrypt(&foreign), Err(DecryptError::NotForThisSession));
        assert_eq!(b.pickle().to_bytes(), before);
        // An initiator session takes no prekey message, even its own peer's.
        let (mut a, _) = established(34);
        assert_eq!(a.decrypt(&foreign), Err(DecryptError::NotForThisSession));
    }

    #[test]
    fn a_restored_session_keeps_the_key_agreement_that_set_it_up() {
        let (a, b) = established(45);
        let mut rng = crate::testing::rng(46);
        let legacy = crate::Account::new_classic_only_with_rng(&mut rng);
        let mut alice = crate::Account::new_with_rng(&mut rng);
        alice.set_classic_x3dh(crate::ClassicX3dh::AcceptAndInitiate);
        let bundle = legacy.prekey_bundle(None, None).unwrap();
        let (classic, _) = alice.start_session_with_rng(&mut rng, &bundle, b"ctx", b"hi").unwrap();
        let setups = [&a, &b, &classic].map(Session::setup);
        assert_eq!(setups, [SessionSetup::Pqxdh, SessionSetup::Pqxdh, SessionSetup::ClassicX3dh]);
        for s in [&a, &b, &classic] {
            let restored = Session::from_pickle(&s.pickle()).unwrap();
            assert_eq!((restored.setup(), restored.role()), (s.setup(), s.role()));
        }
    }

    #[test]
    fn session_ids_route_prekey_messages() {
        let (mut a, b) = crate::testing::established_unacknowledged(31);
        let m = a.encrypt(b"again").unwrap();
        let m = PreKeyMessage::decode(&m).unwrap();
        assert_eq!(b.session_id(), Some(m.session_id()));
        assert_eq!(a.session_id(), None);
        let mut index = std::collections::HashMap::new();
        index.insert(b.session_id().unwrap(), "bob's session with alice");
        assert_eq!(index.get(&m.session_id()), Some(&"bob's session with alice"));
    }
}
