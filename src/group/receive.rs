//! The receiving half of a [`Group`]: taking in distributions and
//! exports (docs/PROTOCOL.md §12.5), and reading group messages (§12.4).

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::message::{GroupMessage, SenderKeyRecord, signed_message};
use super::sender_key::ReceiverState;
use super::{
    Group, GroupPlaintext, MAX_GROUP_STATE_NODES, MAX_RETIRED_STATES_PER_MEMBER, MAX_SENDER_STATES_PER_MEMBER, StateId,
};
use crate::error::GroupError;
use crate::primitives::rng::os_rng;
use crate::primitives::signature::{Ed25519PublicKey, verify_batch};
use crate::wire::{TYPE_GROUP_DISTRIBUTION, TYPE_GROUP_EXPORT};

impl Group {
    /// Takes in a distribution that `from` sent over the 1:1 session with
    /// it. `from` must be the authenticated peer of that session: a
    /// distribution can only create or replace states of the member that
    /// delivered it.
    ///
    /// A distribution for a state this device already holds changes
    /// nothing (it never restores an index already read or evicted).
    ///
    /// ```
    /// use dmseal::{Group, GroupError};
    /// let mut alice = Group::new(b"team", b"alice")?;
    /// alice.add_member(b"bob")?;
    /// let mut bob = Group::new(b"team", b"bob")?;
    /// bob.add_member(b"alice")?;
    /// bob.add_member(b"carol")?;
    /// let out = alice.encrypt(b"hi", 1_800_000_000)?;
    /// let bytes = &out.distributions[0].bytes;
    /// // Carol cannot pass Alice's state off as hers.
    /// assert_eq!(bob.receive_distribution(b"carol", bytes), Err(GroupError::StateOwnedByAnotherMember));
    /// // `from` is the authenticated peer of the 1:1 session it came over.
    /// bob.receive_distribution(b"alice", bytes)?;
    /// assert_eq!(bob.decrypt(&out.message)?.sender, b"alice");
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`GroupError`]: decoding (among others
    /// [`crate::DecodeError::InvalidStateId`] for a state id not derived
    /// from the record's signing key), `WrongGroup`, `SenderRemoved`,
    /// `NotAMember`, `StateOwnedByAnotherMember`, `SigningKeyMismatch`, in
    /// the order of docs/PROTOCOL.md §12.5.
    pub fn receive_distribution(&mut self, from: &[u8], bytes: &[u8]) -> Result<(), GroupError> {
        let record = SenderKeyRecord::decode(bytes, TYPE_GROUP_DISTRIBUTION)?;
        self.add_state(from, record, true)
    }

    /// Imports an exported sender state of `from` (see
    /// [`Group::export_sender_state`]), for instance on a new device of the
    /// same person. Messages it decrypts report `verified: false`.
    ///
    /// ```
    /// use dmseal::Group;
    /// let now = 1_800_000_000;
    /// let mut alice = Group::new(b"team", b"alice")?;
    /// alice.add_member(b"bob.1")?;
    /// let mut bob1 = Group::new(b"team", b"bob.1")?;
    /// bob1.add_member(b"alice")?;
    /// let out = alice.encrypt(b"hello", now)?;
    /// bob1.receive_distribution(b"alice", &out.distributions[0].bytes)?;
    /// // Bob's new device gets Alice's state from his first one (over their 1:1 session).
    /// let export = bob1.export_sender_state(b"alice", 0).ok_or("nothing to export")?;
    /// let mut bob2 = Group::new(b"team", b"bob.2")?;
    /// bob2.add_member(b"alice")?;
    /// bob2.import_sender_state(b"alice", &export)?;
    /// let read = bob2.decrypt(&out.message)?;
    /// assert_eq!(read.plaintext, b"hello");
    /// assert!(!read.verified); // only as trustworthy as the device that exported it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Group::receive_distribution`].
    pub fn import_sender_state(&mut self, from: &[u8], bytes: &[u8]) -> Result<(), GroupError> {
        let record = SenderKeyRecord::decode(bytes, TYPE_GROUP_EXPORT)?;
        self.add_state(from, record, false)
    }

    /// Exports `member`'s newest inbound state from index `from` on, to
    /// share readable history with another device of the same person. The
    /// bytes contain keys: send them only over an end-to-end encrypted
    /// session with that device. `None` if there is no such state or
    /// nothing from `from` on is still readable.
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
    /// let later = alice.encrypt(b"later", now)?;
    /// assert_eq!(bob.decrypt(&first.message)?.index, 0);
    /// // Index 0 was read (its key is gone); index 1 is still readable.
    /// let export = bob.export_sender_state(b"alice", 0).ok_or("nothing to export")?;
    /// let mut bob2 = Group::new(b"team", b"bob.2")?;
    /// bob2.add_member(b"alice")?;
    /// bob2.import_sender_state(b"alice", &export)?;
    /// assert!(bob2.decrypt(&first.message).is_err());
    /// assert_eq!(bob2.decrypt(&later.message)?.plaintext, b"later");
    /// // Nothing is held for a member that never sent.
    /// assert!(bob.export_sender_state(b"carol", 0).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn export_sender_state(&self, member: &[u8], from: u32) -> Option<Zeroizing<Vec<u8>>> {
        let state = self.members.get(member)?.states.front()?;
        let mut record = state.export(&self.id, from, member);
        if record.nodes.is_empty() {
            return None;
        }
        // Splitting a node can add a few; keep the newest, as a receiver would.
        let excess = record.nodes.len().saturating_sub(MAX_GROUP_STATE_NODES);
        record.nodes.drain(..excess);
        Some(record.encode(TYPE_GROUP_EXPORT))
    }

    fn add_state(&mut self, from: &[u8], record: SenderKeyRecord, verified: bool) -> Result<(), GroupError> {
        if record.group_id != self.id {
            return Err(GroupError::WrongGroup);
        }
        if self.revoked.contains(&record.state_id) {
            return Err(GroupError::SenderRemoved);
        }
        if !self.members.contains_key(from) {
            return Err(GroupError::NotAMember);
        }
        // The state's own key must have signed `from` as its owner: a member
        // cannot pass another member's state off as its own.
        if !record.owned_by(from) {
            return Err(GroupError::StateOwnedByAnotherMember);
        }
        let state_id = record.state_id;
        let closes = record.valid_closure();
        let member = self.members.get_mut(from).ok_or(GroupError::NotAMember)?;
        if member.retired.contains(&state_id) {
            // Evicted as too old: never recreate it (that would restore keys
            // of messages already read).
            member.close(closes);
            return Ok(());
        }
        if let Some(owner) = self.owners.get(&state_id) {
            if owner.as_slice() != from {
                return Err(GroupError::StateOwnedByAnotherMember);
            }
            let existing = member.states.iter_mut().find(|s| s.state_id == state_id);
            match existing {
                Some(s) if s.signing_key != record.signing_key => return Err(GroupError::SigningKeyMismatch),
                // A verified distribution replaces the keys of a copy first
                // imported unverified (an exporter may have sent bad keys).
                Some(s) if verified && !s.verified => s.adopt(record)?,
                _ => {}
            }
            member.close(closes);
            return Ok(());
        }
        let mut state = ReceiverState::from_record(record, verified)?;
        // Its successor's distribution came first and closed it already
        // (the lowest last index, should several name it).
        if let Some(last) =
            member.states.iter().filter_map(|s| s.closes).filter(|c| c.state_id == state_id).map(|c| c.last).min()
        {
            state.close(last);
        }
        member.close(closes);
        self.owners.insert(state_id, from.to_vec());
        member.states.push_front(state);
        while member.states.len() > MAX_SENDER_STATES_PER_MEMBER {
            if let Some(old) = member.states.pop_back() {
                self.owners.remove(&old.state_id);
                member.retired.push_back(old.state_id);
            }
        }
        while member.retired.len() > MAX_RETIRED_STATES_PER_MEMBER {
            member.retired.pop_front();
        }
        Ok(())
    }

    /// Looks up the state a message names: its owner and the state.
    fn locate(&self, message: &GroupMessage<'_>) -> Result<(&[u8], &ReceiverState), GroupError> {
        // A held state id is never revoked (revoking drops the state, and a
        // revoked id is never taken in again), so the list of up to
        // MAX_REVOKED_SENDER_STATES ids is searched only for ids not held:
        // the same result as searching it first, without the cost on every
        // message.
        let Some(owner) = self.owners.get(&message.state_id) else {
            if self.revoked.contains(&message.state_id) {
                return Err(GroupError::SenderRemoved);
            }
            return Err(GroupError::UnknownSenderState);
        };
        let state = self
            .members
            .get(owner)
            .and_then(|m| m.states.iter().find(|s| s.state_id == message.state_id))
            .ok_or(GroupError::UnknownSenderState)?;
        Ok((owner, state))
    }

    /// Takes in a message of `sender`'s that arrived by a re-send over a
    /// 1:1 session instead of as a group message (docs/PROTOCOL.md
    /// §13.10): if its state is held here, the key of `index` is deleted,
    /// so the original reads as a duplicate; returns whether it was.
    /// `Ok(false)` when this device has no key for it (the state is not
    /// here, or starts after `index`): the caller remembers the message.
    /// On error nothing changes.
    ///
    /// # Errors
    ///
    /// [`GroupError::NotAMember`] (sender not a member here),
    /// [`GroupError::UnexpectedSender`] (another member's state),
    /// [`GroupError::SenderRemoved`] (a revoked state), and for a held
    /// state the index errors of [`Group::decrypt`] but
    /// `BeforeStateStart` (`Duplicate`: read already).
    pub(crate) fn take_resent(&mut self, sender: &[u8], state_id: &StateId, index: u32) -> Result<bool, GroupError> {
        if !self.members.contains_key(sender) {
            return Err(GroupError::NotAMember);
        }
        let Some(owner) = self.owners.get(state_id) else {
            if self.revoked.contains(state_id) {
                return Err(GroupError::SenderRemoved);
            }
            return Ok(false);
        };
        if owner.as_slice() != sender {
            return Err(GroupError::UnexpectedSender);
        }
        let state = self
            .members
            .get_mut(sender)
            .and_then(|m| m.states.iter_mut().find(|s| s.state_id == *state_id))
            .ok_or(GroupError::UnknownSenderState)?;
        match state.cover.descend(index) {
            Some(descent) => {
                state.cover.puncture(descent);
                Ok(true)
            }
            None if index < state.start => Ok(false),
            None => Err(state.missing(index)),
        }
    }

    /// Whether this device holds no key of `state_id` below `index`: the
    /// state is not held (not received, or unknown), or was received
    /// from a later index. Messages before `index` then were lost with
    /// the keys, or never readable here.
    pub(crate) fn lacks_keys_before(&self, state_id: &StateId, index: u32) -> bool {
        let held = self
            .owners
            .get(state_id)
            .and_then(|owner| self.members.get(owner))
            .and_then(|m| m.states.iter().find(|s| s.state_id == *state_id));
        held.is_none_or(|s| s.start >= index)
    }

    /// Messages of `sender`'s that this device never read although it
    /// knows they were sent, newest state first, lowest index first, at
    /// most `limit`: in each held state, the indices it still has keys for
    /// below the newest it read, or up to the state's last index once
    /// closed; and for a state that a held one closed (its distribution
    /// said where the previous state ended) but that is not held here, its
    /// last 32 indices up to that end.
    pub(crate) fn missing_from(&self, sender: &[u8], limit: usize) -> Vec<(StateId, u32)> {
        let mut out = Vec::new();
        let Some(member) = self.members.get(sender) else { return out };
        let push = |out: &mut Vec<(StateId, u32)>, state_id: StateId, lo: u64, hi: u64| {
            let mut i = lo;
            while i <= hi && out.len() < limit {
                if let Ok(index) = u32::try_from(i) {
                    out.push((state_id, index));
                }
                i += 1;
            }
        };
        for state in &member.states {
            // The highest index known to have been sent.
            let known = match (state.newest, state.last) {
                (_, Some(last)) => Some(u64::from(last)),
                (Some(newest), None) => u64::from(newest).checked_sub(1),
                (None, None) => None,
            };
            if let Some(hi) = known {
                for node in state.cover.nodes() {
                    let lo = node.first().max(u64::from(state.start));
                    push(&mut out, state.state_id, lo, node.last().min(hi));
                }
            }
            if let Some(closed) = state.closes
                && !self.owners.contains_key(&closed.state_id)
                && !self.revoked.contains(&closed.state_id)
            {
                let hi = u64::from(closed.last);
                push(&mut out, closed.state_id, hi.saturating_sub(31), hi);
            }
        }
        out
    }

    /// Decrypts a group message. On any error the group is unchanged.
    ///
    /// ```
    /// use dmseal::{Group, GroupError};
    /// # let now = 1_800_000_000;
    /// # let mut alice = Group::new(b"team", b"alice")?;
    /// # alice.add_member(b"bob")?;
    /// # let mut bob = Group::new(b"team", b"bob")?;
    /// # bob.add_member(b"alice")?;
    /// # let first = alice.encrypt(b"hi", now)?;
    /// # bob.receive_distribution(b"alice", &first.distributions[0].bytes)?;
    /// let (one, two) = (alice.encrypt(b"one", now)?, alice.encrypt(b"two", now)?);
    /// // Out of order is fine.
    /// assert_eq!(bob.decrypt(&two.message)?.plaintext, b"two");
    /// let read = bob.decrypt(&one.message)?;
    /// assert_eq!((read.sender.as_slice(), read.plaintext.as_slice()), (&b"alice"[..], &b"one"[..]));
    /// // A replay is refused.
    /// assert_eq!(bob.decrypt(&one.message), Err(GroupError::Duplicate));
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`GroupError`]; checks run in this order (docs/PROTOCOL.md
    /// §12.4): decoding, removed sender, known state, index (closed state,
    /// state start, window, duplicate), signature (over the key commitment
    /// this device derives for the index), decryption.
    pub fn decrypt(&mut self, bytes: &[u8]) -> Result<GroupPlaintext, GroupError> {
        let message = GroupMessage::decode(bytes)?;
        self.read(&message, None, false)
    }

    /// [`Group::decrypt`] for a message the transport says `sender` sent:
    /// a message under another member's state is refused with
    /// [`GroupError::UnexpectedSender`] right after the state lookup,
    /// before any key derivation or signature check, and changes nothing.
    ///
    /// A state this device does not know gives
    /// [`GroupError::NotAMember`] when `sender` is not a member (the
    /// message will never read here) and
    /// [`GroupError::UnknownSenderState`] when it is (its keys have not
    /// arrived yet: keep the message).
    ///
    /// # Errors
    ///
    /// As [`Group::decrypt`], plus `NotAMember` and `UnexpectedSender` at
    /// the known-state check.
    pub fn decrypt_from(&mut self, sender: &[u8], bytes: &[u8]) -> Result<GroupPlaintext, GroupError> {
        let message = GroupMessage::decode(bytes)?;
        self.read(&message, Some(sender), false)
    }

    /// Decrypts many queued messages, checking all signatures with one
    /// batch verification (same rule as one by one; a bad signature fails
    /// only its own message). Results are in input order and equal what
    /// [`Group::decrypt`] would return called on each in turn. The batch
    /// check's random coefficients come from the OS RNG.
    ///
    /// ```
    /// use dmseal::{Group, GroupError};
    /// # let now = 1_800_000_000;
    /// # let mut alice = Group::new(b"team", b"alice")?;
    /// # alice.add_member(b"bob")?;
    /// # let mut bob = Group::new(b"team", b"bob")?;
    /// # bob.add_member(b"alice")?;
    /// # let first = alice.encrypt(b"hi", now)?;
    /// # bob.receive_distribution(b"alice", &first.distributions[0].bytes)?;
    /// let (one, two) = (alice.encrypt(b"one", now)?.message, alice.encrypt(b"two", now)?.message);
    /// // A queue after being offline: out of order, with a duplicate.
    /// let results = bob.decrypt_batch(&[&two, &one, &one]);
    /// let read: Vec<_> = results.iter().map(|r| r.as_ref().map(|p| p.plaintext.as_slice())).collect();
    /// assert_eq!(read, [Ok(&b"two"[..]), Ok(&b"one"[..]), Err(&GroupError::Duplicate)]);
    /// # Ok::<(), dmseal::GroupError>(())
    /// ```
    pub fn decrypt_batch(&mut self, messages: &[&[u8]]) -> Vec<Result<GroupPlaintext, GroupError>> {
        self.decrypt_batch_with_rng(&mut os_rng(), messages)
    }

    /// [`Group::decrypt_batch`] with a caller-supplied RNG, which must be a
    /// CSPRNG unpredictable to senders: with predictable coefficients, two
    /// crafted signatures could pass the batch together although each
    /// fails alone.
    pub fn decrypt_batch_with_rng<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        messages: &[&[u8]],
    ) -> Vec<Result<GroupPlaintext, GroupError>> {
        let decoded: Vec<Result<GroupMessage<'_>, GroupError>> =
            messages.iter().map(|b| GroupMessage::decode(b).map_err(GroupError::from)).collect();
        // The signature of every message whose index has a key, over the
        // commitment derived for it, checked at once.
        let signed: Vec<Option<(Ed25519PublicKey, Vec<u8>)>> = decoded
            .iter()
            .map(|m| {
                let m = m.as_ref().ok()?;
                let (_, state) = self.locate(m).ok()?;
                let opening = state.prepare(&self.id, m).ok()?;
                Some((state.signing_key, signed_message(&self.id, m.signed, opening.commitment())))
            })
            .collect();
        let items: Vec<_> = decoded
            .iter()
            .zip(&signed)
            .filter_map(|(m, s)| match (m, s) {
                (Ok(m), Some((key, bytes))) => Some((*key, bytes.as_slice(), &m.signature)),
                _ => None,
            })
            .collect();
        let all_good = !items.is_empty() && verify_batch(&items, rng).is_ok();
        // Each message is then read in order as `decrypt` would read it;
        // an earlier one may have used its index (a duplicate in the
        // batch), which reading again reports. A message the batch covered
        // derives the same commitment again, so its signature stands.
        decoded.into_iter().zip(signed).map(|(m, s)| self.read(&m?, None, all_good && s.is_some())).collect()
    }

    /// Reads one message: finds its key and commitment, checks the
    /// signature over them (unless a batch verification covered it), then
    /// decrypts and commits.
    fn read(
        &mut self,
        message: &GroupMessage<'_>,
        sender: Option<&[u8]>,
        signature_checked: bool,
    ) -> Result<GroupPlaintext, GroupError> {
        let (owner, state) = match self.locate(message) {
            // From a sender that is not a member, an unknown state is no
            // missing key: the message will never read here.
            Err(GroupError::UnknownSenderState) if sender.is_some_and(|s| !self.members.contains_key(s)) => {
                return Err(GroupError::NotAMember);
            }
            located => located?,
        };
        if sender.is_some_and(|s| s != owner) {
            return Err(GroupError::UnexpectedSender);
        }
        let opening = state.prepare(&self.id, message)?;
        if !signature_checked {
            state
                .signing_key
                .verify(&signed_message(&self.id, message.signed, opening.commitment()), &message.signature)
                .map_err(|_| GroupError::BadSignature)?;
        }
        let Group { id, members, owners, .. } = self;
        let owner = owners.get(&message.state_id).ok_or(GroupError::UnknownSenderState)?;
        let state = members
            .get_mut(owner)
            .and_then(|m| m.states.iter_mut().find(|s| s.state_id == message.state_id))
            .ok_or(GroupError::UnknownSenderState)?;
        let plaintext = state.open(id, message, opening)?;
        Ok(GroupPlaintext { sender: owner.clone(), plaintext, index: message.index, verified: state.verified })
    }
}
