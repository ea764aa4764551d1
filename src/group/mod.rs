//! Group chats with sender keys (docs/PROTOCOL.md §12).
//!
//! Each member device sends with its own sender state: an Ed25519 signing
//! key, a state id derived from it, and a seekable key tree (see `tree`). It hands
//! the state to every other member in a *distribution*, which the caller
//! carries over the 1:1 sessions; receivers keep one inbound state per
//! (member, state id). Group messages are signed, and receivers check the
//! signature before touching any state.
//!
//! The sending side and membership are here; taking in distributions and
//! reading messages are in `receive`.
//!
//! This layer knows nothing of 1:1 sessions: the caller says which member
//! delivered a distribution (the authenticated peer of the 1:1 session it
//! came over), and [`Group`] tells the caller which distributions to send
//! to whom after every change, so a removal cannot be forgotten.

mod message;
pub(crate) use self::message::GroupMessage;
mod pickling;
mod receive;
mod sender_key;
mod tree;

#[cfg(test)]
mod resend_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use self::message::{Closure, SenderKeyRecord};
use self::sender_key::{ReceiverState, SenderState};
use crate::error::GroupError;
use crate::labels;
use crate::primitives::kdf::sha256;
use crate::primitives::rng::os_rng;
use crate::primitives::signature::Ed25519PublicKey;
use crate::wire::TYPE_GROUP_DISTRIBUTION;

pub use self::pickling::GroupPickle;

/// Length of a sender state id: derived from the state's signing key
/// ([`state_id_of`]), so a member cannot name its state after another's.
pub(crate) const STATE_ID_LEN: usize = 16;
/// A sender state id.
pub(crate) type StateId = [u8; STATE_ID_LEN];

/// The id of the sender state whose signing public key is `key`: the
/// first 16 bytes of SHA-256(`HASH_GROUP_STATE_ID` || key)
/// (docs/PROTOCOL.md §12.3). Receivers refuse a distribution or export
/// whose state id is not this, so claiming a state id takes that state's
/// signing key, and with it the owner signature.
pub(crate) fn state_id_of(key: &Ed25519PublicKey) -> StateId {
    let digest = sha256(&[labels::HASH_GROUP_STATE_ID, key.as_bytes()]);
    let mut id = StateId::default();
    id.iter_mut().zip(digest).for_each(|(i, d)| *i = d);
    id
}

/// The longest group id, in bytes.
pub const MAX_GROUP_ID_LEN: usize = 64;
/// The longest member id (the caller's address of one device), in bytes.
pub const MAX_MEMBER_ID_LEN: usize = 256;
/// The most member devices a [`Group`] tracks.
pub const MAX_GROUP_MEMBERS: usize = 10_000;
/// How far behind the newest index read a message may be and still
/// decrypt (out-of-order window). Keys older than that are deleted,
/// whatever the order in which messages were read.
pub const MAX_GROUP_WINDOW: u32 = 2_000;
/// The most tree nodes one sender state holds (and a distribution or
/// export may carry): enough for a full window of scattered gaps. Past it
/// the nodes covering the oldest indices are evicted.
pub const MAX_GROUP_STATE_NODES: usize = 2_100;
/// The most bytes a group record keeps for [`crate::Conversations`] (its
/// re-send bookkeeping, docs/PROTOCOL.md §13.10): well above what that
/// bookkeeping's own bounds allow, checked when a pickle is read.
pub(crate) const MAX_GROUP_ANNEX_LEN: usize = 8 * 1024;
/// How many sender states per member are kept (the newest ones), so
/// messages in flight across a rotation still decrypt. libsignal keeps 5.
pub const MAX_SENDER_STATES_PER_MEMBER: usize = 5;
/// How many state ids of removed (or reset, see [`Group::reset_member`])
/// members' states are remembered, oldest forgotten first, so their
/// messages fail as [`GroupError::SenderRemoved`] and their distributions
/// are refused even if the member is added again. A removal revokes the
/// member's live and retired ids, at most 261 (5 live,
/// [`MAX_SENDER_STATES_PER_MEMBER`], and 256 retired,
/// [`MAX_RETIRED_STATES_PER_MEMBER`]), so the list holds at least the last
/// 15 removals in full. 16 bytes each: at most 64 KiB of the group pickle.
pub const MAX_REVOKED_SENDER_STATES: usize = 4_096;
/// How many of each member's states evicted by
/// [`MAX_SENDER_STATES_PER_MEMBER`] are remembered, so a re-delivered old
/// distribution cannot bring back keys of messages already read (4 KiB per
/// member at most). A removal moves them to the revoked list
/// ([`MAX_REVOKED_SENDER_STATES`]).
pub const MAX_RETIRED_STATES_PER_MEMBER: usize = 256;
/// Default number of messages after which a sender state is replaced.
pub const DEFAULT_ROTATION_MESSAGES: u32 = 1_000;
/// Largest allowed [`RotationPolicy::max_messages`].
pub const MAX_ROTATION_MESSAGES: u32 = 100_000;
/// Default lifetime of a sender state: 7 days.
pub const DEFAULT_ROTATION_SECS: u64 = 7 * 24 * 60 * 60;
/// Largest allowed [`RotationPolicy::max_age_secs`]: 30 days.
pub const MAX_ROTATION_SECS: u64 = 30 * 24 * 60 * 60;

/// When a sender state is replaced even without a membership change, so
/// that one leaked distribution exposes a bounded number of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RotationPolicy {
    /// Messages sent on one state before the next send rotates.
    pub max_messages: u32,
    /// Seconds after its creation before the next send rotates.
    pub max_age_secs: u64,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_ROTATION_MESSAGES, DEFAULT_ROTATION_SECS)
    }
}

impl RotationPolicy {
    /// A policy that rotates after `max_messages` messages or
    /// `max_age_secs` seconds, whichever comes first
    /// ([`Group::set_rotation_policy`] checks the maxima).
    pub const fn new(max_messages: u32, max_age_secs: u64) -> Self {
        Self { max_messages, max_age_secs }
    }
}

/// A decrypted group message.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupPlaintext {
    /// The member (device) that sent it: the one whose distribution created
    /// the state that decrypted it.
    pub sender: Vec<u8>,
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The message's index in its sender state.
    pub index: u32,
    /// Whether the sender state came from a distribution over a 1:1
    /// session (true) or from an imported export (false): an export is only
    /// as trustworthy as the device that exported it.
    pub verified: bool,
}

impl core::fmt::Debug for GroupPlaintext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupPlaintext")
            .field("sender_len", &self.sender.len())
            .field("plaintext_len", &self.plaintext.len())
            .field("index", &self.index)
            .field("verified", &self.verified)
            .finish()
    }
}

/// A sender-key distribution to deliver to one member over the 1:1
/// session with it. Its bytes are wiped when dropped; `Debug` shows only
/// the recipient's id length and the byte count.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Distribution {
    /// The member (device) to send it to.
    pub to: Vec<u8>,
    /// The bytes to encrypt in that 1:1 session. They contain keys that
    /// open every later message of the state: send them only inside the
    /// session.
    pub bytes: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for Distribution {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Distribution").field("to_len", &self.to.len()).field("bytes_len", &self.bytes.len()).finish()
    }
}

/// What [`Group::encrypt`] produced: distributions to deliver first (over
/// 1:1 sessions), then the group message for everyone.
#[derive(Debug, Clone)]
#[must_use = "the message and distributions are committed state: send them (the group already advanced)"]
#[non_exhaustive]
pub struct GroupOutgoing {
    /// Deliver these before (or with) the message.
    pub distributions: Vec<Distribution>,
    /// The group message, the same bytes for every member.
    pub message: Vec<u8>,
}

#[derive(Clone, Default)]
struct Member {
    /// Newest first, at most `MAX_SENDER_STATES_PER_MEMBER`.
    states: VecDeque<ReceiverState>,
    /// Ids of this member's states evicted as too old, oldest first.
    retired: VecDeque<StateId>,
    /// How many messages this device had sent in the group when the
    /// member joined (or its identity was reset): it may be sent again
    /// only messages from then on.
    joined: u64,
}

impl Member {
    /// Applies a closure this member's distribution carried to the state
    /// it names, if held.
    fn close(&mut self, closure: Option<Closure>) {
        if let Some(c) = closure
            && let Some(state) = self.states.iter_mut().find(|s| s.state_id == c.state_id)
        {
            state.close(c.last);
        }
    }
}

/// One device's view of a group: the members it sends to, its own sender
/// state, and the inbound states of the others.
///
/// Persist it (see [`Group::pickle`]) after every call that takes `&mut
/// self`, before sending what it returned. It is deliberately not `Clone`:
/// two live copies would encrypt under the same keys.
pub struct Group {
    id: Vec<u8>,
    /// This device's own member id, as the other members know it.
    me: Vec<u8>,
    members: BTreeMap<Vec<u8>, Member>,
    /// Which member owns each inbound state id.
    owners: BTreeMap<StateId, Vec<u8>>,
    /// State ids of removed or reset members, oldest first (at most
    /// `MAX_REVOKED_SENDER_STATES`); never held by a member.
    revoked: VecDeque<StateId>,
    pub(crate) outbound: Option<SenderState>,
    /// Set by a removal or a reset: the next send starts a fresh state.
    stale: bool,
    /// Members that have not received the current outbound state.
    undistributed: BTreeSet<Vec<u8>>,
    policy: RotationPolicy,
    /// How many messages this device has sent in the group, over all its
    /// sender states: the sequence number of the next one.
    sends: u64,
    /// Bytes [`crate::Conversations`] keeps with the group (its re-send
    /// bookkeeping, docs/PROTOCOL.md §13.10); empty for a raw `Group`.
    pub(crate) annex: Vec<u8>,
}

fn check_member_id(id: &[u8]) -> Result<(), GroupError> {
    if id.len() > MAX_MEMBER_ID_LEN {
        return Err(GroupError::MemberIdTooLong { len: id.len(), max: MAX_MEMBER_ID_LEN });
    }
    Ok(())
}

impl Group {
    /// A group with this id (the app's, at most [`MAX_GROUP_ID_LEN`]
    /// bytes) and no members yet, for this device, whose member id (as
    /// every other member knows it: the same address the app passes to
    /// their [`Group::add_member`]) is `me`. Add the other member devices
    /// with [`Group::add_member`].
    ///
    /// `me` is signed into every distribution, and receivers accept a
    /// distribution only from the member it names, so one member cannot
    /// pass another's sender state off as its own.
    ///
    /// ```
    /// use dmseal::Group;
    /// // Member ids are the app's: here, address strings.
    /// let mut group = Group::new(b"weekend-trip", b"alice.1")?;
    /// group.add_member(b"bob.1")?;
    /// assert_eq!(group.id(), b"weekend-trip");
    /// assert_eq!(group.members().collect::<Vec<_>>(), [b"bob.1"]);
    /// // Ids are bounded.
    /// assert!(Group::new(&[0; 65], b"alice.1").is_err());
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`GroupError::GroupIdTooLong`], [`GroupError::MemberIdTooLong`].
    pub fn new(id: &[u8], me: &[u8]) -> Result<Self, GroupError> {
        if id.len() > MAX_GROUP_ID_LEN {
            return Err(GroupError::GroupIdTooLong { len: id.len(), max: MAX_GROUP_ID_LEN });
        }
        check_member_id(me)?;
        Ok(Self {
            id: id.to_vec(),
            me: me.to_vec(),
            members: BTreeMap::new(),
            owners: BTreeMap::new(),
            revoked: VecDeque::new(),
            outbound: None,
            stale: false,
            undistributed: BTreeSet::new(),
            policy: RotationPolicy::default(),
            sends: 0,
            annex: Vec::new(),
        })
    }

    /// The group id.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The other member devices, by the ids the caller gave them.
    pub fn members(&self) -> impl Iterator<Item = &[u8]> {
        self.members.keys().map(Vec::as_slice)
    }

    /// The sequence number of the next message this device sends in the
    /// group (how many it has sent, over all its sender states).
    pub(crate) fn sends(&self) -> u64 {
        self.sends
    }

    /// Whether `member` is a member that was one when this device sent
    /// its message number `seq` ([`Group::sends`] before it), under its
    /// current identity: only such a member may be sent it again.
    pub(crate) fn was_member_at(&self, member: &[u8], seq: u64) -> bool {
        self.members.get(member).is_some_and(|m| m.joined <= seq)
    }

    /// Whether `member` is a member (one lookup, not a scan).
    pub(crate) fn has_member(&self, member: &[u8]) -> bool {
        self.members.contains_key(member)
    }

    /// Sets the rotation policy (a limit of 0 messages rotates before every
    /// message).
    ///
    /// ```
    /// use dmseal::{Group, RotationPolicy};
    /// let (now, day) = (1_800_000_000, 24 * 60 * 60);
    /// let mut alice = Group::new(b"team", b"alice")?;
    /// alice.add_member(b"bob")?;
    /// alice.set_rotation_policy(RotationPolicy::new(2, day))?;
    /// let _first = alice.encrypt(b"one", now)?;
    /// assert!(!alice.needs_rotation(now));
    /// assert!(alice.needs_rotation(now + day)); // a day old
    /// let _second = alice.encrypt(b"two", now)?;
    /// assert!(alice.needs_rotation(now)); // two messages sent
    /// // Limits are bounded: at most 30 days.
    /// assert!(alice.set_rotation_policy(RotationPolicy::new(2, 31 * day)).is_err());
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`GroupError::RotationPolicyTooLong`] above [`MAX_ROTATION_MESSAGES`]
    /// or [`MAX_ROTATION_SECS`].
    pub fn set_rotation_policy(&mut self, policy: RotationPolicy) -> Result<(), GroupError> {
        if policy.max_messages > MAX_ROTATION_MESSAGES || policy.max_age_secs > MAX_ROTATION_SECS {
            return Err(GroupError::RotationPolicyTooLong { messages: policy.max_messages, secs: policy.max_age_secs });
        }
        self.policy = policy;
        Ok(())
    }

    /// Adds a member device. It will receive the current sender state with
    /// the next [`Group::encrypt`], from the current index on: it cannot
    /// read earlier messages. Adding an existing member does nothing.
    ///
    /// ```
    /// use dmseal::Group;
    /// let mut alice = Group::new(b"team", b"alice")?;
    /// alice.add_member(b"bob")?;
    /// alice.add_member(b"bob")?; // nothing new
    /// // Bob gets Alice's sender state with her next message.
    /// let out = alice.encrypt(b"hi Bob", 1_800_000_000)?;
    /// assert_eq!(out.distributions.len(), 1);
    /// assert_eq!(out.distributions[0].to, b"bob");
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`GroupError::MemberIdTooLong`], [`GroupError::TooManyMembers`].
    pub fn add_member(&mut self, member: &[u8]) -> Result<(), GroupError> {
        check_member_id(member)?;
        if self.members.contains_key(member) {
            return Ok(());
        }
        if self.members.len() >= MAX_GROUP_MEMBERS {
            return Err(GroupError::TooManyMembers { max: MAX_GROUP_MEMBERS });
        }
        self.members.insert(member.to_vec(), Member { joined: self.sends, ..Member::default() });
        self.undistributed.insert(member.to_vec());
        Ok(())
    }

    /// Removes a member device: deletes every inbound state it sent (their
    /// keys are wiped), revokes the ids of those states and of its retired
    /// ones, so their messages fail with [`GroupError::SenderRemoved`] and
    /// their distributions are refused even if the member is added again
    /// (within [`MAX_REVOKED_SENDER_STATES`]), and marks this device's own
    /// sender state stale, so the next [`Group::encrypt`] starts a fresh
    /// one and distributes it to the remaining members only. Returns
    /// whether it was a member.
    ///
    /// ```
    /// use dmseal::{Group, GroupError};
    /// # let now = 1_800_000_000;
    /// let mut alice = Group::new(b"team", b"alice")?;
    /// alice.add_member(b"bob")?;
    /// alice.add_member(b"carol")?;
    /// # let mut carol = Group::new(b"team", b"carol")?;
    /// # carol.add_member(b"alice")?;
    /// let first = alice.encrypt(b"hi both", now)?;
    /// # let to_carol = first.distributions.iter().find(|d| d.to == b"carol").ok_or(GroupError::NotAMember)?;
    /// # carol.receive_distribution(b"alice", &to_carol.bytes)?;
    /// assert!(alice.remove_member(b"carol"));
    /// let next = alice.encrypt(b"just us", now)?;
    /// // A new sender state, distributed to Bob only: Carol cannot read on.
    /// assert_eq!(next.distributions.len(), 1);
    /// assert_eq!(next.distributions[0].to, b"bob");
    /// assert!(carol.decrypt(&next.message).is_err());
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    pub fn remove_member(&mut self, member: &[u8]) -> bool {
        let Some(removed) = self.members.remove(member) else {
            return false;
        };
        self.revoke(removed);
        self.undistributed.remove(member);
        self.stale = true;
        true
    }

    /// Resets a member device whose identity changed (the application saw
    /// a new identity key at its address): the old identity's holder must
    /// neither post as it nor read what follows. Revokes every inbound state
    /// of the member, live and retired, as [`Group::remove_member`] does
    /// (their keys are wiped, their messages fail with
    /// [`GroupError::SenderRemoved`] and their distributions are refused),
    /// but keeps it a member, with no state: its new device's distribution
    /// (over the 1:1 session with the new identity) is taken in as usual.
    /// Marks this device's own sender state stale, since the old identity's
    /// holder had it, so the next [`Group::encrypt`] starts a fresh one and
    /// distributes it to every member, this one included. Returns whether
    /// it was a member (if not, nothing changes).
    pub fn reset_member(&mut self, member: &[u8]) -> bool {
        let Some(record) = self.members.get_mut(member) else {
            return false;
        };
        // The new identity joins now: nothing sent before is sent to it again.
        let old = core::mem::replace(record, Member { joined: self.sends, ..Member::default() });
        self.revoke(old);
        self.undistributed.insert(member.to_vec());
        self.stale = true;
        true
    }

    /// Puts every state id of a member's record in the revoked list, its
    /// retired ids first, then its live states oldest first (so the oldest
    /// are forgotten first past [`MAX_REVOKED_SENDER_STATES`]); the live
    /// states' keys are wiped as they drop.
    fn revoke(&mut self, record: Member) {
        let Member { states, retired, .. } = record;
        self.revoked.extend(retired);
        for state in states.into_iter().rev() {
            self.owners.remove(&state.state_id);
            self.revoked.push_back(state.state_id);
        }
        while self.revoked.len() > MAX_REVOKED_SENDER_STATES {
            self.revoked.pop_front();
        }
    }

    /// Makes the next [`Group::encrypt`] start a new sender state, closing
    /// the current one at the last index it used and distributing the new
    /// one to every member, as after a removal. For an application that
    /// rotates on its own schedule or suspects its state was copied.
    ///
    /// ```
    /// use dmseal::Group;
    /// # let now = 1_800_000_000;
    /// # let mut alice = Group::new(b"team", b"alice")?;
    /// # alice.add_member(b"bob")?;
    /// # let mut bob = Group::new(b"team", b"bob")?;
    /// # bob.add_member(b"alice")?;
    /// # let first = alice.encrypt(b"hi", now)?;
    /// # bob.receive_distribution(b"alice", &first.distributions[0].bytes)?;
    /// alice.rotate();
    /// let next = alice.encrypt(b"new keys", now)?;
    /// // A new sender state, distributed to every member again.
    /// assert_eq!(next.distributions.len(), 1);
    /// bob.receive_distribution(b"alice", &next.distributions[0].bytes)?;
    /// assert_eq!(bob.decrypt(&next.message)?.plaintext, b"new keys");
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    pub fn rotate(&mut self) {
        self.stale = true;
    }

    /// A distribution of this device's current sender state to `member`,
    /// from the next index on, without sending a message: for a member that
    /// lost the state or never received it. It carries the closure of the
    /// previous state, as every distribution of this state does. `None` if
    /// `member` is not a member, or before the first send, or when the
    /// next send rotates anyway ([`Group::needs_rotation`] at `now`).
    pub fn distribution(&self, member: &[u8], now: u64) -> Option<Distribution> {
        if !self.members.contains_key(member) || self.needs_rotation(now) {
            return None;
        }
        let outbound = self.outbound.as_ref()?;
        Some(Distribution {
            to: member.to_vec(),
            bytes: outbound.record(&self.id, &self.me).encode(TYPE_GROUP_DISTRIBUTION),
        })
    }

    /// Marks `member` as lacking this device's current sender state (it
    /// asked for it), so the next send or [`Group::take_owed`] gives it a
    /// distribution from the index then current. Returns whether it was
    /// not marked yet; `false` also for a non-member and before the first
    /// send.
    pub(crate) fn owe_distribution(&mut self, member: &[u8]) -> bool {
        if !self.members.contains_key(member) || self.outbound.is_none() {
            return false;
        }
        self.undistributed.insert(member.to_vec())
    }

    /// The distributions owed to members (at most one per member, from the
    /// next index on), taken without sending a message. None when the next
    /// send at `now` rotates: that send distributes the new state to every
    /// member.
    pub(crate) fn take_owed(&mut self, now: u64) -> Vec<Distribution> {
        if self.needs_rotation(now) {
            return Vec::new();
        }
        let Some(outbound) = self.outbound.as_ref() else { return Vec::new() };
        let record = outbound.record(&self.id, &self.me).encode(TYPE_GROUP_DISTRIBUTION);
        core::mem::take(&mut self.undistributed)
            .into_iter()
            .map(|to| Distribution { to, bytes: record.clone() })
            .collect()
    }

    /// Whether the next [`Group::encrypt`] at `now` will start a new sender
    /// state (and so send a distribution to every member).
    pub fn needs_rotation(&self, now: u64) -> bool {
        match &self.outbound {
            None => true,
            Some(s) => {
                self.stale
                    || s.next_index().is_none()
                    || s.sent >= self.policy.max_messages
                    || now >= s.created_at.saturating_add(self.policy.max_age_secs)
            }
        }
    }

    /// Encrypts a group message at time `now` (seconds since the Unix
    /// epoch), with the OS RNG. First rotates the sender state if a member
    /// was removed or reset or the rotation policy says so, and returns the
    /// distributions every member that lacks the current state must get.
    ///
    /// ```
    /// use dmseal::Group;
    /// let now = 1_800_000_000;
    /// let mut alice = Group::new(b"team", b"alice")?;
    /// alice.add_member(b"bob")?;
    /// let mut bob = Group::new(b"team", b"bob")?;
    /// bob.add_member(b"alice")?;
    /// let out = alice.encrypt(b"hello team", now)?;
    /// // Deliver each distribution over the 1:1 session with its member first.
    /// for d in &out.distributions {
    ///     bob.receive_distribution(b"alice", &d.bytes)?; // here, only Bob's
    /// }
    /// assert_eq!(bob.decrypt(&out.message)?.plaintext, b"hello team");
    /// // Bob has the state now: the next message needs no distribution.
    /// assert!(alice.encrypt(b"again", now)?.distributions.is_empty());
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None in practice; [`GroupError::SenderStateExhausted`] cannot occur
    /// because an exhausted state is rotated.
    pub fn encrypt(&mut self, plaintext: &[u8], now: u64) -> Result<GroupOutgoing, GroupError> {
        self.encrypt_with_rng(&mut os_rng(), plaintext, now)
    }

    /// [`Group::encrypt`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Group::encrypt`].
    pub fn encrypt_with_rng<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        now: u64,
    ) -> Result<GroupOutgoing, GroupError> {
        if self.needs_rotation(now) {
            // The new state's distributions close the old one at the last
            // index it used, so a copy of the old state cannot post on.
            let closes = self.outbound.as_ref().and_then(SenderState::closure);
            self.outbound = Some(SenderState::generate(rng, now, &self.id, &self.me, closes));
            self.stale = false;
            self.undistributed = self.members.keys().cloned().collect();
        }
        let Some(outbound) = self.outbound.as_mut() else {
            return Err(GroupError::SenderStateExhausted);
        };
        // The record is taken before encrypting, so it includes this index.
        let record = (!self.undistributed.is_empty())
            .then(|| outbound.record(&self.id, &self.me).encode(TYPE_GROUP_DISTRIBUTION));
        let message = outbound.encrypt(&self.id, plaintext)?;
        self.sends = self.sends.saturating_add(1);
        let distributions = match record {
            Some(record) => core::mem::take(&mut self.undistributed)
                .into_iter()
                .map(|to| Distribution { to, bytes: record.clone() })
                .collect(),
            None => Vec::new(),
        };
        Ok(GroupOutgoing { distributions, message })
    }
}

/// The key of the one node of a distribution made at index 0 (the root),
/// for the test vectors.
#[cfg(test)]
pub(crate) fn distribution_root_key(bytes: &[u8]) -> [u8; 32] {
    let record = SenderKeyRecord::decode(bytes, TYPE_GROUP_DISTRIBUTION).unwrap_or_else(|_| unreachable!());
    record.nodes.first().map(|n| n.key).unwrap_or_default()
}

/// The key commitment of index `index` under a state's root key, for the
/// test vectors.
#[cfg(test)]
pub(crate) fn commitment_from_root(root: &[u8; 32], group_id: &[u8], state_id: &StateId, index: u32) -> [u8; 32] {
    let cover = tree::Cover::from_root(*root);
    let leaf = cover.descend(index).map(|d| d.leaf).unwrap_or_else(|| unreachable!());
    sender_key::message_keys(&leaf, group_id, state_id, index).commitment
}

/// The group id a distribution names (for routing it to its group).
pub(crate) fn distribution_group_id(bytes: &[u8]) -> Result<Vec<u8>, crate::DecodeError> {
    let record = SenderKeyRecord::decode(bytes, TYPE_GROUP_DISTRIBUTION)?;
    Ok(record.group_id.clone())
}

impl core::fmt::Debug for Group {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Group")
            .field("id_len", &self.id.len())
            .field("me_len", &self.me.len())
            .field("members", &self.members.len())
            .field("stale", &self.stale)
            .finish_non_exhaustive()
    }
}
