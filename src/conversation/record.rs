//! The sessions with one address: the current one and a bounded list of
//! previous ones (libsignal's `SessionRecord`), and how a message picks
//! among them (docs/PROTOCOL.md §13.3).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::group_resend::{GroupOwed, Owed};
use super::resend::{MessageId, Outbox, Resent, SentPickle};
use crate::address::Address;
use crate::error::{DecryptError, PickleError};
use crate::identity::PublicIdentity;
use crate::labels;
use crate::message::{Envelope, PreKeyMessage};
use crate::pickle::{PICKLE_VERSION, PickleKind, SessionPickle, TYPE_SESSION_RECORD};
use crate::ratchet::ReadState;
use crate::session::{Role, Session};
use crate::x3dh::SessionSetup;

/// How many previous sessions are kept per address, newest first. A
/// message that the current session cannot read is tried on each of them,
/// so this also bounds the work of one forged message at `1 +
/// MAX_PREVIOUS_SESSIONS` times a session's bound (docs/PROTOCOL.md
/// §6.8). Previous sessions come from simultaneous initiation and from the
/// peer starting over (a reinstall, an expired session); libsignal keeps
/// 40, which a bot with thousands of addresses pays for in state size.
pub const MAX_PREVIOUS_SESSIONS: usize = 10;

/// The most sessions one incoming 1:1 message is tried on: the current
/// session, [`MAX_PREVIOUS_SESSIONS`] previous ones, and a pending message
/// request from the same device. A forged message therefore costs at most
/// this many times a session's bound (docs/PROTOCOL.md §6.8, §13.3).
pub const MAX_SESSIONS_TRIED: usize = MAX_PREVIOUS_SESSIONS + 2;

/// A session and when it was created (seconds since the Unix epoch).
pub(crate) struct Entry {
    pub(crate) session: Session,
    pub(crate) created_at: u64,
}

/// A previous session and when it stopped being current (seconds since
/// the Unix epoch): how long ago decides whether it may be promoted again.
struct Previous {
    entry: Entry,
    demoted_at: u64,
}

/// The sessions with one address.
pub(crate) struct SessionRecord {
    address: Address,
    /// A message request (held apart) rather than a conversation's
    /// sessions: sealed as such, so a store cannot move one into the other.
    request: bool,
    current: Option<Entry>,
    /// Newest first.
    previous: VecDeque<Previous>,
    /// When this device last healed the conversation with a new session
    /// ([`crate::Conversations::heal`]), to space heals out.
    pub(crate) healed_at: Option<u64>,
    /// Messages sent to the device, kept to send again (§13.9).
    pub(crate) outbox: Outbox,
    /// Messages from the device that arrived by a re-send.
    pub(crate) resent: Resent,
    /// Group messages the device asked for (§13.10).
    pub(crate) group_owed: GroupOwed,
    /// The last resync request sent to the device (§13.11), to send again
    /// if it is lost as a message would be.
    pub(crate) resync: Option<Resync>,
    /// When this device last took a resync request from the device
    /// (§13.11): one an hour at most starts the re-send counts again.
    pub(crate) resync_taken_at: Option<u64>,
}

/// A resync request sent (docs/PROTOCOL.md §13.11): the name of the
/// message that carried it, whether it is owed again, how often it was
/// sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
pub(crate) struct Resync {
    pub(crate) sent_as: MessageId,
    /// The base key of the session that carried it.
    pub(crate) session: [u8; 32],
    pub(crate) owed: bool,
    pub(crate) resends: u8,
}

impl Resync {
    /// Marks it owed when `named` by a receipt (or its chain ended),
    /// unless sent again too often already; returns whether it is owed.
    pub(crate) fn mark_owed(&mut self, named: bool) -> bool {
        if named && self.resends < super::resend::MAX_RESENDS_PER_MESSAGE {
            self.owed = true;
        }
        self.owed
    }
}

/// Which session read a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    Current,
    /// A previous session, now promoted to current.
    Promoted,
    /// A previous session demoted too long ago to be promoted: it read
    /// the message and stays previous.
    Previous,
}

impl SessionRecord {
    pub(crate) fn new(address: Address) -> Self {
        Self {
            address,
            request: false,
            current: None,
            previous: VecDeque::new(),
            healed_at: None,
            outbox: Outbox::default(),
            resent: Resent::default(),
            group_owed: GroupOwed::default(),
            resync: None,
            resync_taken_at: None,
        }
    }

    /// An empty message-request record.
    pub(crate) fn new_request(address: Address) -> Self {
        Self { request: true, ..Self::new(address) }
    }

    /// The current session, if it can still send: not an initiator's
    /// session left unacknowledged for longer than `max_unacknowledged_age`
    /// seconds (the peer never answered; its bundle may be long gone).
    pub(crate) fn sendable(&mut self, now: u64, max_unacknowledged_age: u64) -> Option<&mut Session> {
        let entry = self.current.as_mut()?;
        let stale = entry.session.role() == Role::Initiator
            && !entry.session.is_acknowledged()
            && now.saturating_sub(entry.created_at) > max_unacknowledged_age;
        if stale { None } else { Some(&mut entry.session) }
    }

    /// Before the current session stops being current (replaced by a new
    /// one or a promoted one, or retired): what it carried may never have
    /// arrived, and no later message on it will show the peer what is
    /// missing, so the kept messages it carried last are marked owed, to
    /// go again over the session that comes next (§13.9; the peer reads
    /// each once). Returns whether any was.
    pub(crate) fn owe_session(&mut self, now: u64, max_age: u64) -> bool {
        let Some(key) = self.current.as_ref().map(|e| *e.session.base_key().as_bytes()) else { return false };
        let resync = self.resync.as_mut().is_some_and(|r| r.mark_owed(r.session == key));
        self.outbox.mark_session_owed(&key, now, max_age) | resync
    }

    /// Retires every session after a restore from a backup (§13.11): the
    /// current one becomes previous, and every previous one counts as
    /// demoted at time 0, which marks it never to be promoted again. They
    /// still read what they can; none sends again, since its sending
    /// chain may have been used after the backup was taken.
    pub(crate) fn retire_all(&mut self) {
        if let Some(current) = self.current.take() {
            self.previous.push_front(Previous { entry: current, demoted_at: 0 });
            self.previous.truncate(MAX_PREVIOUS_SESSIONS);
        }
        for previous in &mut self.previous {
            previous.demoted_at = 0;
        }
    }

    /// Whether there is a current session at all (usable or expired).
    pub(crate) fn has_current(&self) -> bool {
        self.current.is_some()
    }

    /// Makes `session` (created `now`) the current one; the old current
    /// becomes the newest previous session, demoted `now`, and the oldest
    /// beyond the cap are dropped.
    pub(crate) fn install(&mut self, session: Session, now: u64) {
        self.replace_current(Entry { session, created_at: now }, now);
    }

    /// Makes `entry` current; the old current becomes the newest previous
    /// session, demoted at `demoted_at`, and the oldest beyond the cap are
    /// dropped.
    fn replace_current(&mut self, entry: Entry, demoted_at: u64) {
        if let Some(old) = self.current.replace(entry) {
            self.previous.push_front(Previous { entry: old, demoted_at });
        }
        self.previous.truncate(MAX_PREVIOUS_SESSIONS);
        self.keep_kem_ratchet();
    }

    /// Keeps the KEM ratchet with a device that runs it (docs/PROTOCOL.md
    /// §13.3): once a session here is known to run it with the peer (set
    /// up with it, or the peer sent its fields), a current session without
    /// it (a previous one promoted, or one set up from a stale bundle) is
    /// upgraded, as soon as it can be (an unanswered initiator session
    /// waits for its first reply).
    fn keep_kem_ratchet(&mut self) {
        if !self.entries().any(|e| e.session.peer_runs_kem_ratchet()) {
            return;
        }
        if let Some(current) = self.current.as_mut()
            && !current.session.kem_ratchet()
        {
            current.session.upgrade_kem_ratchet();
        }
    }

    /// Drops every session (current or previous) with a peer identity other
    /// than `identity`: once a device's identity changed, no session of the
    /// old identity may read or send again (a thief holding the old
    /// device's keys could otherwise get its session promoted).
    pub(crate) fn retain_identity(&mut self, identity: &PublicIdentity) {
        // Messages sent to, and re-sends taken from, another identity are
        // never sent to or matched against this one (§13.9).
        if self.has_other_identity(identity) {
            self.outbox.clear();
            self.resent = Resent::default();
            self.group_owed.clear();
            self.resync = None;
        }
        if self.current.as_ref().is_some_and(|e| e.session.peer_identity() != identity) {
            self.current = None;
        }
        self.previous.retain(|p| p.entry.session.peer_identity() == identity);
    }

    /// Whether any session here (current or previous) is the one `message`
    /// belongs to (same initiator identity and base key).
    pub(crate) fn holds(&self, message: &PreKeyMessage) -> bool {
        self.entries().any(|e| e.session.matches(message))
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.current.iter().chain(self.previous.iter().map(|p| &p.entry))
    }

    /// Decrypts with the current session, else with each previous one in
    /// turn (newest first). A previous session that reads the message
    /// becomes current (is promoted) if it stopped being current at most
    /// `max_promotion_age` seconds before `now`; one demoted longer ago
    /// reads the message (its new state is kept) but stays previous, so a
    /// copy of an old session's state cannot take the conversation over
    /// (docs/PROTOCOL.md §13.3). On error nothing changes, and the error
    /// is the current session's (or, with no current session,
    /// `NotForThisSession`).
    pub(crate) fn decrypt(
        &mut self,
        envelope: &Envelope,
        now: u64,
        max_promotion_age: u64,
    ) -> Result<(Vec<u8>, Reader), DecryptError> {
        let first_error = match self.current.as_mut() {
            Some(current) => match attempt(&mut current.session, envelope, now) {
                Ok(plaintext) => {
                    // A reply may have made the session upgradable.
                    self.keep_kem_ratchet();
                    return Ok((plaintext, Reader::Current));
                }
                Err(e) => e,
            },
            None => DecryptError::NotForThisSession,
        };
        // A prekey message goes only to the session it names.
        if let Envelope::PreKey(m) = envelope
            && !self.previous.iter().any(|p| p.entry.session.matches(m))
        {
            return Err(first_error);
        }
        for i in 0..self.previous.len() {
            let Some(previous) = self.previous.get_mut(i) else { break };
            if let Ok(plaintext) = attempt(&mut previous.entry.session, envelope, now) {
                // Demoted at 0: retired by a restore, never current again.
                if previous.demoted_at == 0 || now.saturating_sub(previous.demoted_at) > max_promotion_age {
                    return Ok((plaintext, Reader::Previous));
                }
                if let Some(promoted) = self.previous.remove(i) {
                    // Removed first, so the old current takes its place
                    // without pushing the oldest past the cap.
                    self.replace_current(promoted.entry, now);
                }
                return Ok((plaintext, Reader::Promoted));
            }
        }
        Err(first_error)
    }

    /// Takes a message request's session in as the current one (the
    /// request was accepted). Sessions under any other identity go: the
    /// request's identity is the device's now. The old current counts as
    /// demoted when the request's session was created: accepting is not
    /// told the time, and that moment is no later than now, so the
    /// promotion window errs short.
    pub(crate) fn take_over(&mut self, mut request: SessionRecord) {
        if let Some(entry) = request.current.take() {
            let identity = entry.session.peer_identity().clone();
            let demoted_at = entry.created_at;
            self.replace_current(entry, demoted_at);
            self.retain_identity(&identity);
        }
    }

    /// Whether any session here was set up with classic X3DH.
    pub(crate) fn has_classic(&self) -> bool {
        self.entries().any(|e| e.session.setup() == SessionSetup::ClassicX3dh)
    }

    /// Drops every session set up with classic X3DH (current or previous).
    pub(crate) fn retain_post_quantum(&mut self) {
        if self.current.as_ref().is_some_and(|e| e.session.setup() == SessionSetup::ClassicX3dh) {
            self.current = None;
        }
        self.previous.retain(|p| p.entry.session.setup() == SessionSetup::Pqxdh);
    }

    /// Whether any session here is under an identity other than
    /// `identity`.
    pub(crate) fn has_other_identity(&self, identity: &PublicIdentity) -> bool {
        self.entries().any(|e| e.session.peer_identity() != identity)
    }

    /// Whether the peer's message `id` was read by any session here:
    /// [`ReadState::Read`] if one read it, else [`ReadState::Unread`] if
    /// one still can, else [`ReadState::Unknown`].
    pub(crate) fn read_state(&self, id: &MessageId) -> ReadState {
        let states: Vec<ReadState> =
            self.entries().map(|e| e.session.read_state(&id.ratchet_key, id.counter)).collect();
        if states.contains(&ReadState::Read) {
            ReadState::Read
        } else if states.contains(&ReadState::Unread) {
            ReadState::Unread
        } else {
            ReadState::Unknown
        }
    }

    /// The peer's messages this record's sessions skipped and still wait
    /// for: the current session's first, at most `limit`.
    pub(crate) fn missing(&self, limit: usize) -> Vec<MessageId> {
        let mut out: Vec<MessageId> = Vec::new();
        for e in self.entries() {
            for (ratchet_key, counter) in e.session.missing(limit.saturating_sub(out.len())) {
                out.push(MessageId { ratchet_key, counter });
            }
        }
        out
    }

    /// Deletes every kept key of the peer's message `id`.
    pub(crate) fn forget_skipped(&mut self, id: &MessageId) {
        if let Some(e) = self.current.as_mut() {
            e.session.forget_skipped(&id.ratchet_key, id.counter);
        }
        for p in &mut self.previous {
            p.entry.session.forget_skipped(&id.ratchet_key, id.counter);
        }
    }

    /// The sessions of this record: the current one, then the previous
    /// ones, newest first.
    fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.current.iter().map(|e| &e.session).chain(self.previous.iter().map(|p| &p.entry.session))
    }

    /// Whether a session here keeps a skipped message key stored at or
    /// before `before`.
    pub(crate) fn has_skipped_before(&self, before: u64) -> bool {
        self.sessions().any(|s| s.has_skipped_before(before))
    }

    /// Deletes, in every session here, the skipped message keys stored at
    /// or before `before`; returns how many.
    pub(crate) fn expire_skipped(&mut self, before: u64) -> usize {
        let current = self.current.iter_mut().map(|e| &mut e.session);
        let previous = self.previous.iter_mut().map(|p| &mut p.entry.session);
        current.chain(previous).map(|s| s.expire_skipped(before)).sum()
    }

    pub(crate) fn current(&self) -> Option<&Session> {
        self.current.as_ref().map(|e| &e.session)
    }

    pub(crate) fn current_mut(&mut self) -> Option<&mut Session> {
        self.current.as_mut().map(|e| &mut e.session)
    }

    pub(crate) fn previous_len(&self) -> usize {
        self.previous.len()
    }

    pub(crate) fn pickle(&self) -> SessionRecordPickle {
        let entry = |e: &Entry, demoted_at: Option<u64>| EntryPickle {
            created_at: e.created_at,
            demoted_at,
            session: e.session.pickle(),
        };
        SessionRecordPickle {
            version: PICKLE_VERSION,
            user: self.address.user().to_owned(),
            device: self.address.device(),
            request: self.request,
            current: self.current.as_ref().map(|e| entry(e, None)),
            previous: self.previous.iter().map(|p| entry(&p.entry, Some(p.demoted_at))).collect(),
            healed_at: self.healed_at,
            outbox: self.outbox.pickle(),
            resent: self.resent.pickle(),
            group_owed: self.group_owed.pickle(),
            resync: self.resync,
            resync_taken_at: self.resync_taken_at,
        }
    }

    /// Restores a record, checking that it is the record of `address`,
    /// and a request record exactly when `request`.
    pub(crate) fn from_pickle(
        pickle: &SessionRecordPickle,
        address: &Address,
        request: bool,
    ) -> Result<Self, PickleError> {
        if pickle.user != address.user() || pickle.device != address.device() || pickle.request != request {
            return Err(PickleError::Invalid);
        }
        // A request holds only its current session (docs/PROTOCOL.md §13.2).
        if pickle.previous.len() > MAX_PREVIOUS_SESSIONS || (request && !pickle.previous.is_empty()) {
            return Err(PickleError::Invalid);
        }
        let entry = |e: &EntryPickle| -> Result<Entry, PickleError> {
            Ok(Entry { session: Session::from_pickle(&e.session)?, created_at: e.created_at })
        };
        // The current session has no demotion time; every previous one has.
        let current = |e: &EntryPickle| match e.demoted_at {
            None => entry(e),
            Some(_) => Err(PickleError::Invalid),
        };
        let previous = |e: &EntryPickle| match e.demoted_at {
            Some(demoted_at) => Ok(Previous { entry: entry(e)?, demoted_at }),
            None => Err(PickleError::Invalid),
        };
        Ok(Self {
            address: address.clone(),
            request,
            current: pickle.current.as_ref().map(current).transpose()?,
            previous: pickle.previous.iter().map(previous).collect::<Result<_, _>>()?,
            healed_at: pickle.healed_at,
            outbox: Outbox::from_pickle(&pickle.outbox).ok_or(PickleError::Invalid)?,
            resent: Resent::from_pickle(&pickle.resent).ok_or(PickleError::Invalid)?,
            group_owed: GroupOwed::from_pickle(&pickle.group_owed).ok_or(PickleError::Invalid)?,
            resync: match pickle.resync {
                Some(r) if r.resends > super::resend::MAX_RESENDS_PER_MESSAGE => return Err(PickleError::Invalid),
                other => other,
            },
            resync_taken_at: pickle.resync_taken_at,
        })
    }
}

/// One session tried on one message (counted in tests: the work bound of
/// a forged message is in sessions tried).
fn attempt(session: &mut Session, envelope: &Envelope, now: u64) -> Result<Vec<u8>, DecryptError> {
    #[cfg(test)]
    crate::work::count_session_attempt();
    session.decrypt_envelope_at(envelope, now)
}

/// A session in a record pickle: its creation time and, for a previous
/// session, when it stopped being current (none for the current one).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct EntryPickle {
    created_at: u64,
    demoted_at: Option<u64>,
    session: SessionPickle,
}

/// The sealed form of a [`SessionRecord`] (and of a message request,
/// which is a record with only a current session). It names its address,
/// so a record moved to another row is refused.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct SessionRecordPickle {
    version: u32,
    user: String,
    device: u32,
    request: bool,
    current: Option<EntryPickle>,
    previous: Vec<EntryPickle>,
    healed_at: Option<u64>,
    outbox: Vec<SentPickle>,
    resent: Vec<MessageId>,
    group_owed: Vec<Owed>,
    resync: Option<Resync>,
    resync_taken_at: Option<u64>,
}

impl PickleKind for SessionRecordPickle {
    const TYPE: u8 = TYPE_SESSION_RECORD;
    const LABEL: &'static [u8] = labels::KDF_RECORD_SESSIONS;
    fn version(&self) -> u32 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use crate::testing::{established, established_without_kem_ratchet, rng};

    const MAX_AGE: u64 = 100;

    #[test]
    fn a_promoted_session_without_the_kem_ratchet_is_upgraded_when_the_device_runs_it() {
        // The device's old session ran without the KEM ratchet; its new one
        // runs it. A held-back message on the old session promotes it: it
        // is upgraded rather than taking the conversation back without it.
        let (mut peer_old, old) = established_without_kem_ratchet(30);
        let (_, new) = established(31);
        let mut record = SessionRecord::new(Address::new("bob", 1).unwrap());
        record.install(old, 10);
        record.install(new, 1_000);
        let held = peer_old.encrypt_with_rng(&mut rng(32), b"held back").unwrap();
        let (_, reader) = record.decrypt(&Envelope::decode(&held).unwrap(), 1_001, MAX_AGE).unwrap();
        assert_eq!(reader, Reader::Promoted);
        let current = record.current_mut().unwrap();
        assert!(current.kem_ratchet());
        // The peer's old session upgrades on reading its next message.
        let m = current.encrypt_with_rng(&mut rng(33), b"upgraded").unwrap();
        assert_eq!(peer_old.decrypt(&m).unwrap(), b"upgraded");
        assert!(peer_old.kem_ratchet());
    }

    #[test]
    fn sessions_of_a_device_not_known_to_run_the_kem_ratchet_are_left_alone() {
        let (mut peer_old, old) = established_without_kem_ratchet(34);
        let (_, newer) = established_without_kem_ratchet(35);
        let mut record = SessionRecord::new(Address::new("bob", 1).unwrap());
        record.install(old, 10);
        record.install(newer, 1_000);
        let held = peer_old.encrypt_with_rng(&mut rng(36), b"held back").unwrap();
        record.decrypt(&Envelope::decode(&held).unwrap(), 1_001, MAX_AGE).unwrap();
        assert!(!record.current().unwrap().kem_ratchet());
    }

    /// A record whose current session started at 1,000 and replaced an
    /// older one (now previous, demoted at 1,000), and a message from the
    /// peer's side of the older session.
    fn replaced(seed: u8) -> (SessionRecord, Vec<u8>) {
        let (mut peer_old, old) = established(seed);
        let (_, new) = established(seed.wrapping_add(1));
        let mut record = SessionRecord::new(Address::new("bob", 1).unwrap());
        record.install(old, 10);
        record.install(new, 1_000);
        let message = peer_old.encrypt_with_rng(&mut rng(seed.wrapping_add(2)), b"on the old session").unwrap();
        (record, message)
    }

    fn base_key(record: &SessionRecord) -> crate::X25519PublicKey {
        record.current().unwrap().base_key()
    }

    #[test]
    fn a_previous_session_is_promoted_only_within_the_promotion_age() {
        // Replaced exactly MAX_AGE seconds ago: promoted.
        let (mut record, message) = replaced(1);
        let envelope = Envelope::decode(&message).unwrap();
        let new = base_key(&record);
        let (plaintext, reader) = record.decrypt(&envelope, 1_000 + MAX_AGE, MAX_AGE).unwrap();
        assert_eq!((plaintext.as_slice(), reader), (&b"on the old session"[..], Reader::Promoted));
        assert_ne!(base_key(&record), new);
        assert_eq!(record.previous_len(), 1);

        // One second longer: read (and its state kept), not promoted.
        let (mut record, message) = replaced(1);
        let envelope = Envelope::decode(&message).unwrap();
        let (plaintext, reader) = record.decrypt(&envelope, 1_000 + MAX_AGE + 1, MAX_AGE).unwrap();
        assert_eq!((plaintext.as_slice(), reader), (&b"on the old session"[..], Reader::Previous));
        assert_eq!(base_key(&record), new, "the current session stays current");
        assert_eq!(record.previous_len(), 1);
        // Its message key is used up: the previous session's new state was
        // kept (the error is the current session's).
        assert!(record.decrypt(&envelope, 1_000 + MAX_AGE + 1, MAX_AGE).is_err());
    }

    #[test]
    fn a_pickled_record_keeps_when_each_previous_session_was_demoted() {
        let (record, message) = replaced(4);
        let address = Address::new("bob", 1).unwrap();
        let pickle = record.pickle();
        assert!(pickle.current.as_ref().unwrap().demoted_at.is_none());
        assert_eq!(pickle.previous.iter().map(|e| e.demoted_at).collect::<Vec<_>>(), vec![Some(1_000)]);
        let envelope = Envelope::decode(&message).unwrap();
        let mut restored = SessionRecord::from_pickle(&pickle, &address, false).unwrap();
        let (_, reader) = restored.decrypt(&envelope, 1_000 + MAX_AGE + 1, MAX_AGE).unwrap();
        assert_eq!(reader, Reader::Previous);

        // A current session with a demotion time, or a previous one
        // without, was not written by this crate.
        let mut current_demoted = record.pickle();
        current_demoted.current.as_mut().unwrap().demoted_at = Some(1);
        assert!(matches!(SessionRecord::from_pickle(&current_demoted, &address, false), Err(PickleError::Invalid)));
        let mut previous_undated = record.pickle();
        previous_undated.previous[0].demoted_at = None;
        assert!(matches!(SessionRecord::from_pickle(&previous_undated, &address, false), Err(PickleError::Invalid)));
    }

    #[test]
    fn a_promoted_session_demotes_the_current_one_at_the_time_it_read() {
        let (mut record, message) = replaced(7);
        let new = base_key(&record);
        record.decrypt(&Envelope::decode(&message).unwrap(), 1_050, MAX_AGE).unwrap();
        assert_eq!(record.pickle().previous.iter().map(|e| e.demoted_at).collect::<Vec<_>>(), vec![Some(1_050)]);
        assert_eq!(record.previous.front().map(|p| p.entry.session.base_key()), Some(new));
    }
}
