//! The responder's side of an [`Account`]: opening a first message into
//! a [`PendingSession`], then accepting (consuming its one-time prekeys or
//! recording it against replays) or declining it (docs/PROTOCOL.md §5.5,
//! §5.6).

use core::fmt;

use super::Account;
use crate::error::{AcceptError, FirstMessageError};
use crate::identity::PublicIdentity;
use crate::message::{Envelope, PreKeyMessage};
use crate::prekeys::{MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY, PqPreKeyKind, ReplayEntry, SignedPreKey};
use crate::primitives::dh::X25519PublicKey;
use crate::ratchet::{self, DoubleRatchet};
use crate::session::{Role, Session};
use crate::x3dh::{self, MAX_CONTEXT_LEN, SessionSetup};

impl Account {
    /// Decrypts a first message that matched no existing session, at time
    /// `now` (seconds since the Unix epoch: a retired signed or
    /// last-resort PQ prekey whose grace period has ended is refused even
    /// before [`Account::expire_prekeys`] deletes it). Nothing in the
    /// account changes: the result is a [`PendingSession`] holding the
    /// plaintext and the now authenticated peer identity, which the caller
    /// passes to [`Account::accept`] or [`Account::decline`].
    ///
    /// ```
    /// use dmseal::{Account, PreKeyMessage};
    /// let (alice, mut bob) = (Account::new(), Account::new());
    /// let now = 1_800_000_000;
    /// let (_, first) = alice.start_session(&bob.prekey_bundle(None, None)?, b"alice|bob", b"hi")?;
    /// let first = PreKeyMessage::decode(&first)?;
    /// // Under another context (another conversation) it does not open.
    /// assert!(bob.open_first_message(&first, b"mallory|bob", now).is_err());
    /// let pending = bob.open_first_message(&first, b"alice|bob", now)?;
    /// assert_eq!(pending.peer_identity(), alice.identity());
    /// let _session = bob.accept(pending)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`FirstMessageError`]; checks run in this order: context length,
    /// own identity, classic setup allowed, signed prekey known, one-time
    /// prekey available, PQ prekey known, replay record, message counter,
    /// key agreement, decryption.
    pub fn open_first_message(
        &self,
        message: &PreKeyMessage,
        context: &[u8],
        now: u64,
    ) -> Result<PendingSession, FirstMessageError> {
        if context.len() > MAX_CONTEXT_LEN {
            return Err(FirstMessageError::ContextTooLong { len: context.len(), max: MAX_CONTEXT_LEN });
        }
        let initiator = message.initiator_identity();
        if initiator == self.identity() {
            return Err(FirstMessageError::OwnIdentity);
        }
        let pq = message.pq_fields();
        if pq.is_none() && !self.classic_x3dh.accepts() {
            return Err(FirstMessageError::ClassicSetupRefused);
        }
        let spk_id = message.signed_prekey_id();
        let spk =
            self.prekeys.signed.get_usable(spk_id, now).ok_or(FirstMessageError::UnknownSignedPreKey { id: spk_id })?;
        let otk = match message.one_time_prekey_id() {
            Some(id) => {
                Some(self.prekeys.one_time.keys.get(&id).ok_or(FirstMessageError::OneTimePreKeyUnavailable { id })?)
            }
            None => None,
        };
        let pq_key = match pq {
            Some(f) => Some(
                self.prekeys
                    .pq_usable(f.kind, f.id, now)
                    .ok_or(FirstMessageError::UnknownPqPreKey { kind: f.kind, id: f.id })?,
            ),
            None => None,
        };
        if let Some(entry) = replay_entry(message) {
            check_replay_record(spk, &entry).map_err(|e| match e {
                AcceptError::ReplayRecordFull { signed_prekey_id } => {
                    FirstMessageError::ReplayRecordFull { signed_prekey_id }
                }
                _ => FirstMessageError::Replay,
            })?;
        }
        // The embedded message's counter is checked before any DH or KEM
        // work, so a forged first message claiming a huge counter is cheap.
        ratchet::check_first_counter(message.message().counter()).map_err(FirstMessageError::Message)?;
        let kem_secret = match (pq, pq_key) {
            (Some(f), Some(k)) => Some(k.pair.decapsulate(&f.ciphertext)),
            _ => None,
        };
        let otk_public = otk.map(|k| k.pair.public());
        let transcript = x3dh::transcript_hash(
            message.prefix_bytes(),
            self.identity(),
            &spk.pair.public(),
            otk_public.as_ref(),
            pq_key.map(|k| k.pair.public()),
            context,
        );
        let (root, chain) = x3dh::responder(
            &self.identity,
            &spk.pair,
            otk.map(|k| &k.pair),
            initiator,
            &message.base_key(),
            kem_secret.as_deref(),
            &transcript,
        )?;
        let mut session = Session {
            ratchet: DoubleRatchet::responder(root, chain, message.message().ratchet_key(), message.kem_ratchet()),
            role: Role::Responder,
            setup: if pq.is_some() { SessionSetup::Pqxdh } else { SessionSetup::ClassicX3dh },
            peer_identity: initiator.clone(),
            base_key: message.base_key(),
            session_ad: x3dh::session_ad(initiator, self.identity(), context),
            pending_prefix: None,
        };
        let plaintext = session
            .decrypt_envelope_at(&Envelope::PreKey(Box::new(message.clone())), now)
            .map_err(FirstMessageError::Message)?;
        Ok(PendingSession {
            session,
            plaintext,
            account: self.identity().key_bytes(),
            signed_prekey_id: spk_id,
            one_time_prekey_id: message.one_time_prekey_id(),
            pq_prekey: message.pq_prekey(),
        })
    }

    /// Accepts a pending session: consumes its one-time prekeys (X25519
    /// and PQ), or records it if it used neither, and returns the session.
    ///
    /// Persist the account and the new session together (in one storage
    /// transaction): an account saved without its session leaves the
    /// peer's later first messages refused as replays, and a session saved
    /// without the account brings the consumed prekey back.
    ///
    /// ```
    /// use dmseal::{Account, PreKeyMessage};
    /// let (alice, mut bob) = (Account::new(), Account::new());
    /// let now = 1_800_000_000;
    /// let otk = bob.generate_one_time_prekeys(1)?[0].id();
    /// let (_, first) = alice.start_session(&bob.prekey_bundle(Some(otk), None)?, b"ctx", b"hi")?;
    /// let first = PreKeyMessage::decode(&first)?;
    /// let pending = bob.open_first_message(&first, b"ctx", now)?;
    /// let mut session = bob.accept(pending)?;
    /// // Persist `bob` and `session` now. The one-time prekey is used up:
    /// assert!(bob.one_time_prekey(otk).is_none());
    /// assert!(bob.open_first_message(&first, b"ctx", now).is_err());
    /// let _reply = session.encrypt(b"hi Alice")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An [`AcceptError`]; the account is unchanged.
    pub fn accept(&mut self, pending: PendingSession) -> Result<Session, AcceptError> {
        self.commit(&pending)?;
        Ok(pending.session)
    }

    /// Declines a pending session (a message request the user refused):
    /// commits the same consumption as [`Account::accept`], so the message
    /// cannot be opened again, and drops the session.
    ///
    /// ```
    /// use dmseal::{Account, FirstMessageError, PreKeyMessage};
    /// let (alice, mut bob) = (Account::new(), Account::new());
    /// let now = 1_800_000_000;
    /// let (_, first) = alice.start_session(&bob.prekey_bundle(None, None)?, b"ctx", b"buy now!")?;
    /// let first = PreKeyMessage::decode(&first)?;
    /// let pending = bob.open_first_message(&first, b"ctx", now)?;
    /// bob.decline(pending)?; // the person refused the request
    /// // The same message, replayed, is refused.
    /// assert_eq!(bob.open_first_message(&first, b"ctx", now).err(), Some(FirstMessageError::Replay));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Account::accept`].
    pub fn decline(&mut self, pending: PendingSession) -> Result<(), AcceptError> {
        self.commit(&pending)
    }

    fn commit(&mut self, pending: &PendingSession) -> Result<(), AcceptError> {
        if pending.account != self.identity().key_bytes() {
            return Err(AcceptError::WrongAccount);
        }
        let spk_id = pending.signed_prekey_id;
        let otk = pending.one_time_prekey_id;
        let pq_one_time = match pending.pq_prekey {
            Some((PqPreKeyKind::OneTime, id)) => Some(id),
            _ => None,
        };
        let entry = pending.replay_entry();
        // A last-resort PQ prekey that expired since the message was opened
        // takes its replay records with it: refuse rather than record.
        if let Some((PqPreKeyKind::LastResort, id)) = pending.pq_prekey
            && self.prekeys.last_resort_pq.get(id).is_none()
        {
            return Err(AcceptError::UnknownPqPreKey { id });
        }
        let prekeys = &mut self.prekeys;
        let spk = prekeys.signed.get_mut(spk_id).ok_or(AcceptError::UnknownSignedPreKey { id: spk_id })?;
        // Check everything first, then change: the account stays as it was
        // on any error.
        if otk.is_some_and(|id| !prekeys.one_time.keys.contains_key(&id))
            || pq_one_time.is_some_and(|id| !prekeys.one_time_pq.keys.contains_key(&id))
        {
            return Err(AcceptError::Replay);
        }
        if let Some(entry) = &entry {
            check_replay_record(spk, entry)?;
            spk.replay_record.insert(*entry);
        }
        if let Some(id) = otk {
            prekeys.one_time.keys.remove(&id);
        }
        if let Some(id) = pq_one_time {
            prekeys.one_time_pq.keys.remove(&id);
        }
        Ok(())
    }
}

/// The replay-record entry of a first message that consumes no one-time
/// prekey of either kind; `None` for one that consumes one (the
/// consumption itself stops replays).
fn replay_entry(message: &PreKeyMessage) -> Option<ReplayEntry> {
    entry_for(message.one_time_prekey_id(), message.pq_prekey(), &message.base_key())
}

fn entry_for(otk: Option<u32>, pq: Option<(PqPreKeyKind, u32)>, base: &X25519PublicKey) -> Option<ReplayEntry> {
    match (otk, pq) {
        (Some(_), _) | (_, Some((PqPreKeyKind::OneTime, _))) => None,
        (None, Some((PqPreKeyKind::LastResort, id))) => Some((Some(id), base.to_bytes())),
        (None, None) => Some((None, base.to_bytes())),
    }
}

fn check_replay_record(spk: &SignedPreKey, entry: &ReplayEntry) -> Result<(), AcceptError> {
    if spk.replay_record.contains(entry) {
        return Err(AcceptError::Replay);
    }
    if spk.replay_record.len() >= MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY {
        return Err(AcceptError::ReplayRecordFull { signed_prekey_id: spk.id });
    }
    Ok(())
}

/// A decrypted first message awaiting the caller's decision. The peer
/// identity is authenticated; the account has not changed yet. Pass it to
/// [`Account::accept`] or [`Account::decline`]; dropping it leaves the
/// first message openable again.
#[must_use = "call accept or decline: dropping it consumes nothing and the same first message can be opened again"]
pub struct PendingSession {
    session: Session,
    plaintext: Vec<u8>,
    account: [u8; 64],
    signed_prekey_id: u32,
    one_time_prekey_id: Option<u32>,
    pq_prekey: Option<(PqPreKeyKind, u32)>,
}

impl PendingSession {
    /// The peer's identity, authenticated by the decryption.
    pub fn peer_identity(&self) -> &PublicIdentity {
        self.session.peer_identity()
    }

    /// The first message's plaintext.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// The initiator's base key (names the session).
    pub fn base_key(&self) -> X25519PublicKey {
        self.session.base_key
    }

    /// Which key agreement the initiator used.
    pub fn setup(&self) -> SessionSetup {
        self.session.setup
    }

    fn replay_entry(&self) -> Option<ReplayEntry> {
        entry_for(self.one_time_prekey_id, self.pq_prekey, &self.session.base_key)
    }
}

impl fmt::Debug for PendingSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSession")
            .field("peer_identity", self.peer_identity())
            .field("setup", &self.session.setup)
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}
