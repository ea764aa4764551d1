//! The sessions with one address: the current one and a bounded list of
//! previous ones (libsignal's `SessionRecord`), and how a message picks
//! among them (docs/PROTOCOL.md §13.3).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::address::Address;
use crate::error::{DecryptError, PickleError};
use crate::identity::PublicIdentity;
use crate::labels;
use crate::message::{Envelope, PreKeyMessage};
use crate::pickle::{PICKLE_VERSION, PickleKind, SessionPickle, TYPE_SESSION_RECORD};
use crate::session::{Role, Session};

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

/// The sessions with one address.
pub(crate) struct SessionRecord {
    address: Address,
    /// A message request (held apart) rather than a conversation's
    /// sessions: sealed as such, so a store cannot move one into the other.
    request: bool,
    current: Option<Entry>,
    /// Newest first.
    previous: VecDeque<Entry>,
}

/// Which session read a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    Current,
    /// A previous session, now promoted to current.
    Promoted,
}

impl SessionRecord {
    pub(crate) fn new(address: Address) -> Self {
        Self { address, request: false, current: None, previous: VecDeque::new() }
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

    /// Whether there is a current session at all (usable or expired).
    pub(crate) fn has_current(&self) -> bool {
        self.current.is_some()
    }

    /// Makes `session` the current one; the old current becomes the newest
    /// previous session, and the oldest beyond the cap are dropped.
    pub(crate) fn install(&mut self, session: Session, now: u64) {
        if let Some(old) = self.current.take() {
            self.previous.push_front(old);
        }
        self.previous.truncate(MAX_PREVIOUS_SESSIONS);
        self.current = Some(Entry { session, created_at: now });
    }

    /// Drops every session (current or previous) with a peer identity other
    /// than `identity`: once a device's identity changed, no session of the
    /// old identity may read or send again (a thief holding the old
    /// device's keys could otherwise get its session promoted).
    pub(crate) fn retain_identity(&mut self, identity: &PublicIdentity) {
        if self.current.as_ref().is_some_and(|e| e.session.peer_identity() != identity) {
            self.current = None;
        }
        self.previous.retain(|e| e.session.peer_identity() == identity);
    }

    /// Whether any session here (current or previous) is the one `message`
    /// belongs to (same initiator identity and base key).
    pub(crate) fn holds(&self, message: &PreKeyMessage) -> bool {
        self.entries().any(|e| e.session.matches(message))
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.current.iter().chain(self.previous.iter())
    }

    /// Decrypts with the current session, else with each previous one in
    /// turn (newest first); a previous session that reads the message
    /// becomes current. On error nothing changes, and the error is the
    /// current session's (or, with no current session,
    /// `NotForThisSession`).
    pub(crate) fn decrypt(&mut self, envelope: &Envelope) -> Result<(Vec<u8>, Reader), DecryptError> {
        let first_error = match self.current.as_mut() {
            Some(current) => match attempt(&mut current.session, envelope) {
                Ok(plaintext) => return Ok((plaintext, Reader::Current)),
                Err(e) => e,
            },
            None => DecryptError::NotForThisSession,
        };
        // A prekey message goes only to the session it names.
        if let Envelope::PreKey(m) = envelope
            && !self.previous.iter().any(|e| e.session.matches(m))
        {
            return Err(first_error);
        }
        for i in 0..self.previous.len() {
            let Some(entry) = self.previous.get_mut(i) else { break };
            if let Ok(plaintext) = attempt(&mut entry.session, envelope) {
                if let Some(promoted) = self.previous.remove(i)
                    && let Some(old) = self.current.replace(promoted)
                {
                    self.previous.push_front(old);
                }
                return Ok((plaintext, Reader::Promoted));
            }
        }
        Err(first_error)
    }

    /// Takes a message request's session in as the current one (the
    /// request was accepted). Sessions under any other identity go: the
    /// request's identity is the device's now.
    pub(crate) fn take_over(&mut self, request: SessionRecord) {
        if let Some(entry) = request.current {
            let identity = entry.session.peer_identity().clone();
            self.install(entry.session, entry.created_at);
            self.retain_identity(&identity);
        }
    }

    /// Whether any session here is under an identity other than
    /// `identity`.
    pub(crate) fn has_other_identity(&self, identity: &PublicIdentity) -> bool {
        self.entries().any(|e| e.session.peer_identity() != identity)
    }

    pub(crate) fn current(&self) -> Option<&Session> {
        self.current.as_ref().map(|e| &e.session)
    }

    pub(crate) fn previous_len(&self) -> usize {
        self.previous.len()
    }

    pub(crate) fn pickle(&self) -> SessionRecordPickle {
        let entry = |e: &Entry| EntryPickle { created_at: e.created_at, session: e.session.pickle() };
        SessionRecordPickle {
            version: PICKLE_VERSION,
            user: self.address.user().to_owned(),
            device: self.address.device(),
            request: self.request,
            current: self.current.as_ref().map(entry),
            previous: self.previous.iter().map(entry).collect(),
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
        Ok(Self {
            address: address.clone(),
            request,
            current: pickle.current.as_ref().map(entry).transpose()?,
            previous: pickle.previous.iter().map(entry).collect::<Result<_, _>>()?,
        })
    }
}

/// One session tried on one message (counted in tests: the work bound of
/// a forged message is in sessions tried).
fn attempt(session: &mut Session, envelope: &Envelope) -> Result<Vec<u8>, DecryptError> {
    #[cfg(test)]
    crate::work::count_session_attempt();
    session.decrypt_envelope(envelope)
}

/// A session and its creation time in a record pickle.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct EntryPickle {
    created_at: u64,
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
}

impl PickleKind for SessionRecordPickle {
    const TYPE: u8 = TYPE_SESSION_RECORD;
    const LABEL: &'static [u8] = labels::KDF_RECORD_SESSIONS;
    fn version(&self) -> u32 {
        self.version
    }
}
