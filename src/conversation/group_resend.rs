//! Retry receipts for group messages (docs/PROTOCOL.md §13.10): the
//! bounded buffer of recent group messages a device keeps per group to
//! send again over 1:1 sessions, the per-device marks of what a member
//! asked for, and the record of group messages that arrived by a re-send.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::framing::{MAX_RECEIPT_IDS, frame_group_retry_receipt};
use super::receive::{Received, ReceivedKind};
use super::send::{FanOut, Outgoing};
use super::work::Work;
use super::{ConversationError, Conversations, ReceiveError, SendError};
use crate::GroupError;
use crate::address::Address;
use crate::group::{Group, GroupMessage, MAX_GROUP_ID_LEN};
use crate::labels;
use crate::pickle::{self, PICKLE_VERSION, PickleKind, TYPE_GROUP_OUTBOX_ROW};
use crate::store::{AppWrite, Store};

/// The most group messages kept per group to be sent again
/// ([`crate::Conversations::resend`] after a group retry receipt); past it
/// the oldest goes.
pub const MAX_GROUP_RESEND_MESSAGES: usize = 32;

/// The most bytes of group messages kept per group; a message larger than
/// this alone is not kept.
pub const MAX_GROUP_RESEND_BYTES: usize = 64 * 1024;

/// The most group messages that arrived by a re-send remembered per
/// group, so that their originals are not read too, should their keys
/// arrive later.
pub const MAX_GROUP_RESENT_RECORDS: usize = 64;

/// The most group messages one member device may have asked for and not
/// yet been sent, over all groups (kept in its session record); past it
/// the oldest mark goes. With [`crate::limits::MAX_RESENDS_PER_MESSAGE`]
/// it bounds what a member's receipts can make this device send.
pub const MAX_GROUP_OWED_PER_DEVICE: usize = 32;

/// The application-row namespace that holds the plaintexts of kept group
/// messages, one sealed row per message, keyed by `u8 len || group id ||
/// state id || u32 index` (docs/PROTOCOL.md §13.10). Reserved for
/// dmseal: do not write rows in it.
pub const GROUP_OUTBOX_NAMESPACE: &str = "dmseal.group-outbox";

/// A group message's name: its sender state and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
pub(crate) struct GroupMessageId {
    pub(crate) state_id: [u8; 16],
    pub(crate) index: u32,
}

impl GroupMessageId {
    /// `state id || u32 index`: 20 bytes.
    pub(crate) const LEN: usize = 16 + 4;

    /// The name of a group message, if `bytes` decodes as one.
    pub(crate) fn of(bytes: &[u8]) -> Option<Self> {
        let message = GroupMessage::decode(bytes).ok()?;
        Some(Self { state_id: message.state_id, index: message.index })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.state_id);
        out.extend_from_slice(&self.index.to_be_bytes());
    }

    /// Reads a name off the front of `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (state_id, rest) = bytes.split_first_chunk::<16>()?;
        let (index, rest) = rest.split_first_chunk::<4>()?;
        Some((Self { state_id: *state_id, index: u32::from_be_bytes(*index) }, rest))
    }
}

/// A group message owed to a device, ready to send again: its group id,
/// its name and its plaintext.
pub(crate) type OwedMessage = (Vec<u8>, GroupMessageId, Zeroizing<Vec<u8>>);

/// The row key of a kept group message.
pub(crate) fn group_row_key(group_id: &[u8], id: &GroupMessageId) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + group_id.len() + GroupMessageId::LEN);
    key.push(u8::try_from(group_id.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(group_id);
    id.encode(&mut key);
    key
}

/// A group message kept for a re-send: its name, its number among this
/// device's messages in the group ([`Group::sends`], to tell who was a
/// member then), when it was sent and its length.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Kept {
    pub(crate) id: GroupMessageId,
    pub(crate) seq: u64,
    pub(crate) sent_at: u64,
    pub(crate) len: u32,
}

/// What a [`crate::Conversations`] keeps with a group ([`Group`]'s annex,
/// postcard): its own messages kept to send again, oldest first, and the
/// messages of others that arrived by a re-send, oldest first.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Annex {
    pub(crate) kept: Vec<Kept>,
    pub(crate) resent: Vec<GroupMessageId>,
    /// The group's disappearing-message timer (§13.12).
    pub(crate) timer: crate::content::timer::TimerState,
}

impl Annex {
    /// The annex of `group` (empty if it has none).
    pub(crate) fn of(group: &Group) -> Self {
        if group.annex.is_empty() {
            return Self::default();
        }
        // Written by `store` below inside the sealed group record: it
        // decodes, within its bounds, unless the record was not written
        // by dmseal; then it is dropped (nothing kept, nothing resent).
        let annex: Self = postcard::from_bytes(&group.annex).unwrap_or_default();
        if annex.kept.len() > MAX_GROUP_RESEND_MESSAGES || annex.resent.len() > MAX_GROUP_RESENT_RECORDS {
            return Self::default();
        }
        annex
    }

    /// Writes this annex into `group`.
    pub(crate) fn store(&self, group: &mut Group) {
        group.annex = if self.kept.is_empty() && self.resent.is_empty() && self.timer == Default::default() {
            Vec::new()
        } else {
            postcard::to_allocvec(self).unwrap_or_default()
        };
    }

    /// Deletes the messages sent more than `max_age` seconds before `now`;
    /// returns their names (their rows go).
    pub(crate) fn purge(&mut self, now: u64, max_age: u64) -> Vec<GroupMessageId> {
        let (keep, gone): (Vec<Kept>, Vec<Kept>) =
            core::mem::take(&mut self.kept).into_iter().partition(|k| !expired(k, now, max_age));
        self.kept = keep;
        gone.into_iter().map(|k| k.id).collect()
    }

    /// Keeps a message just sent; returns the names of those no longer
    /// kept (expired, or the oldest past the bounds). A message larger
    /// than [`MAX_GROUP_RESEND_BYTES`] alone is not kept.
    pub(crate) fn keep(&mut self, kept: Kept, now: u64, max_age: u64) -> (bool, Vec<GroupMessageId>) {
        let mut dropped = self.purge(now, max_age);
        let fits = (kept.len as usize) <= MAX_GROUP_RESEND_BYTES;
        if fits {
            self.kept.push(kept);
        }
        while self.kept.len() > MAX_GROUP_RESEND_MESSAGES
            || self.kept.iter().map(|k| k.len as usize).sum::<usize>() > MAX_GROUP_RESEND_BYTES
        {
            if self.kept.is_empty() {
                break;
            }
            dropped.push(self.kept.remove(0).id);
        }
        (fits, dropped)
    }

    /// The kept message `id`, if not expired at `now`.
    pub(crate) fn find(&self, id: &GroupMessageId, now: u64, max_age: u64) -> Option<&Kept> {
        self.kept.iter().find(|k| k.id == *id && !expired(k, now, max_age))
    }

    /// Remembers a message that arrived by a re-send; returns false if it
    /// already had.
    pub(crate) fn mark_resent(&mut self, id: GroupMessageId) -> bool {
        if self.resent.contains(&id) {
            return false;
        }
        self.resent.push(id);
        if self.resent.len() > MAX_GROUP_RESENT_RECORDS {
            self.resent.remove(0);
        }
        true
    }
}

fn expired(kept: &Kept, now: u64, max_age: u64) -> bool {
    max_age == 0 || now.saturating_sub(kept.sent_at) > max_age
}

/// A group message a member device asked for: owed until sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
pub(crate) struct Owed {
    #[serde(with = "crate::pickle::byte_string")]
    pub(crate) group_id: Vec<u8>,
    pub(crate) id: GroupMessageId,
    /// A receipt asked for it since it was last sent.
    pub(crate) owed: bool,
    pub(crate) resends: u8,
}

/// The group messages one member device asked for, oldest first: those
/// owed, and those sent again already (to count the re-sends).
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupOwed {
    entries: VecDeque<Owed>,
}

impl GroupOwed {
    /// Marks a message owed, unless it was sent again
    /// [`crate::limits::MAX_RESENDS_PER_MESSAGE`] times already. Marking
    /// twice is marking once.
    pub(crate) fn mark(&mut self, group_id: &[u8], id: GroupMessageId) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.id == id && e.group_id == group_id) {
            entry.owed = entry.resends < super::resend::MAX_RESENDS_PER_MESSAGE;
            return;
        }
        self.entries.push_back(Owed { group_id: group_id.to_vec(), id, owed: true, resends: 0 });
        while self.entries.len() > MAX_GROUP_OWED_PER_DEVICE {
            self.entries.pop_front();
        }
    }

    /// The messages owed, oldest first.
    pub(crate) fn owed(&self) -> Vec<(Vec<u8>, GroupMessageId)> {
        self.entries.iter().filter(|e| e.owed).map(|e| (e.group_id.clone(), e.id)).collect()
    }

    /// Starts every re-send count again (a resync from a restored device).
    pub(crate) fn reset_resends(&mut self) {
        for entry in &mut self.entries {
            entry.resends = 0;
        }
    }

    /// Counts every owed message as sent again once, and no longer owed.
    pub(crate) fn sent_again(&mut self) {
        for entry in self.entries.iter_mut().filter(|e| e.owed) {
            entry.owed = false;
            entry.resends = entry.resends.saturating_add(1);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn pickle(&self) -> Vec<Owed> {
        self.entries.iter().cloned().collect()
    }

    /// `None` past the bound, or with a group id too long.
    pub(crate) fn from_pickle(entries: &[Owed]) -> Option<Self> {
        let valid =
            entries.len() <= MAX_GROUP_OWED_PER_DEVICE && entries.iter().all(|e| e.group_id.len() <= MAX_GROUP_ID_LEN);
        valid.then(|| Self { entries: entries.iter().cloned().collect() })
    }
}

/// A kept group message's plaintext, sealed in a row of its own (record
/// type 0x08), naming the group and the message inside the encryption.
#[derive(Serialize, Deserialize)]
pub(crate) struct GroupOutboxRowPickle {
    version: u32,
    #[serde(with = "crate::pickle::byte_string")]
    group_id: Vec<u8>,
    state_id: [u8; 16],
    index: u32,
    #[serde(with = "crate::pickle::byte_string")]
    plaintext: Vec<u8>,
}

impl Drop for GroupOutboxRowPickle {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

impl GroupOutboxRowPickle {
    pub(crate) fn new(group_id: &[u8], id: &GroupMessageId, plaintext: &[u8]) -> Self {
        Self {
            version: PICKLE_VERSION,
            group_id: group_id.to_vec(),
            state_id: id.state_id,
            index: id.index,
            plaintext: plaintext.to_vec(),
        }
    }

    /// The plaintext, if this is the row of message `id` of `group_id`.
    pub(crate) fn open(&self, group_id: &[u8], id: &GroupMessageId) -> Option<Zeroizing<Vec<u8>>> {
        (self.group_id == group_id && self.state_id == id.state_id && self.index == id.index)
            .then(|| Zeroizing::new(self.plaintext.clone()))
    }
}

impl PickleKind for GroupOutboxRowPickle {
    const TYPE: u8 = TYPE_GROUP_OUTBOX_ROW;
    const LABEL: &'static [u8] = labels::KDF_RECORD_GROUP_OUTBOX;
    fn version(&self) -> u32 {
        self.version
    }
}

impl<S: Store> Conversations<S> {
    /// Keeps a group message this device just encrypted (its `seq`-th in
    /// the group, plaintext `plaintext`) in the group's outbox, unless
    /// `resend_max_age` is 0; returns the rows to write and delete with
    /// the send's commit (§13.10).
    pub(super) fn keep_group_message(
        &mut self,
        work: &mut Work,
        group_id: &[u8],
        seq: u64,
        message: &[u8],
        plaintext: &[u8],
        now: u64,
    ) -> Result<Vec<AppWrite>, ConversationError> {
        let Some(id) = GroupMessageId::of(message) else { return Ok(Vec::new()) };
        let max_age = self.config.resend_max_age;
        let group = self.group_mut(work, group_id)?;
        let mut annex = Annex::of(group);
        let (kept, dropped) = if max_age == 0 {
            (false, annex.purge(now, max_age))
        } else {
            let len = u32::try_from(plaintext.len()).unwrap_or(u32::MAX);
            annex.keep(Kept { id, seq, sent_at: now, len }, now, max_age)
        };
        annex.store(group);
        let mut rows: Vec<AppWrite> =
            dropped.iter().map(|d| AppWrite::delete(GROUP_OUTBOX_NAMESPACE, group_row_key(group_id, d))).collect();
        if kept {
            let row = GroupOutboxRowPickle::new(group_id, &id, plaintext);
            let sealed = pickle::encrypt(&row, &self.key, &self.me.encode(), &mut *self.rng);
            let row = AppWrite::put(GROUP_OUTBOX_NAMESPACE, group_row_key(group_id, &id), sealed);
            // A disappearing message is not kept past its own expiry.
            rows.push(match super::framing::letter_timer(plaintext).and_then(|t| super::envelope::expiry(now, t)) {
                Some(at) => row.expires_at(at),
                None => row,
            });
        }
        Ok(rows)
    }

    /// Tells the member device `from` that its group message `failed` of
    /// `group_id` could not be read here, so that it sends the plaintext
    /// again over the 1:1 session ([`Conversations::resend`]): over the
    /// current session with it (or one started from a bundle of
    /// `source`). When this device holds no key of the message's sender
    /// state before it (the keys never came, or came from a later index),
    /// the receipt also names the 31 indices before it: the messages
    /// sent before were lost with the keys; the sender sends again those
    /// it keeps, and this device reads each once. Send it for a message that fails for good, or that
    /// stays transient ([`ReceiveError::is_transient`]) after the keys
    /// were asked for ([`Conversations::request_group_keys`]): keys
    /// answer from their next index, so they never read an older message.
    ///
    /// # Errors
    ///
    /// [`SendError::NotAMessage`] if `failed` is not a group message;
    /// [`SendError::Group`] for a group id over
    /// [`crate::limits::MAX_GROUP_ID_LEN`]; as
    /// [`Conversations::send_fetching`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "send_group_retry_receipt", skip_all, fields(from = %from)))]
    pub fn send_group_retry_receipt(
        &mut self,
        group_id: &[u8],
        from: &Address,
        failed: &[u8],
        source: &mut impl super::BundleSource,
        now: u64,
    ) -> Result<Outgoing, SendError> {
        let id = GroupMessageId::of(failed).ok_or(SendError::NotAMessage)?;
        check_group_id(group_id)?;
        super::bundles::fetching(source, |bundles| {
            self.sync()?;
            let (fan, pending) = self.run(|this, work| {
                // Without the keys of the state before this index, the
                // messages before it were lost with them: name those too.
                let lacks = this.group(work, group_id)?.is_none_or(|g| g.lacks_keys_before(&id.state_id, id.index));
                let first = if lacks { id.index.saturating_sub(MAX_RECEIPT_IDS as u32 - 1) } else { id.index };
                let ids: Vec<GroupMessageId> =
                    (first..=id.index).map(|index| GroupMessageId { state_id: id.state_id, index }).collect();
                let receipt = frame_group_retry_receipt(group_id, &ids, now);
                this.fan_out(work, vec![(from.clone(), receipt)], bundles, now, false)
            })?;
            self.release(fan, pending, |_| Ok(Vec::new()))
        })
    }

    /// Asks the member device `owner` again for its group messages of
    /// `group_id` that this device skipped and still has keys for (a
    /// later one showed they were sent): one group retry receipt naming
    /// up to 32 of them, sent like
    /// [`Conversations::send_group_retry_receipt`]. Returns no message
    /// when nothing is missing.
    ///
    /// # Errors
    ///
    /// [`SendError::Conversation`] with
    /// [`ConversationError::UnknownGroup`]; as
    /// [`Conversations::send_fetching`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "request_missing_group", skip_all, fields(owner = %owner)))]
    pub fn request_missing_group(
        &mut self,
        group_id: &[u8],
        owner: &Address,
        source: &mut impl super::BundleSource,
        now: u64,
    ) -> Result<Outgoing, SendError> {
        super::bundles::fetching(source, |bundles| {
            self.sync()?;
            let (fan, pending) = self.run(|this, work| {
                let group = this.group(work, group_id)?.ok_or(ConversationError::UnknownGroup)?;
                // Those that came by a re-send already are not missing.
                let resent = Annex::of(group).resent;
                let missing: Vec<GroupMessageId> = group
                    .missing_from(&owner.encode(), MAX_RECEIPT_IDS + resent.len())
                    .into_iter()
                    .map(|(state_id, index)| GroupMessageId { state_id, index })
                    .filter(|id| !resent.contains(id))
                    .take(MAX_RECEIPT_IDS)
                    .collect();
                if missing.is_empty() {
                    return Ok(FanOut::Sent { messages: Vec::new(), events: Vec::new() });
                }
                let receipt = frame_group_retry_receipt(group_id, &missing, now);
                this.fan_out(work, vec![(owner.clone(), receipt)], bundles, now, false)
            })?;
            self.release(fan, pending, |_| Ok(Vec::new()))
        })
    }

    /// Reads a group retry receipt from `received.from`: only a trusted
    /// device under the identity of the session that read it, and a
    /// member of the group here. Each named message that is
    /// kept, not expired, and was sent after the device joined is marked
    /// owed to it (sent again by [`Conversations::resend`]).
    pub(super) fn take_group_retry_receipt(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        group_id: &[u8],
        ids: &[GroupMessageId],
        now: u64,
    ) -> Result<(), ReceiveError> {
        let from = received.from().clone();
        // Membership, not the device list, says who may ask (as for key
        // requests, §13.7).
        self.check_trusted(work, &from, false)?;
        let member = from.encode();
        let max_age = self.config.resend_max_age;
        let group = self.group(work, group_id)?.ok_or(ConversationError::UnknownGroup)?;
        if !group.has_member(&member) {
            return Err(ReceiveError::Group(GroupError::NotAMember));
        }
        let annex = Annex::of(group);
        let wanted: Vec<GroupMessageId> = ids
            .iter()
            .filter(|id| annex.find(id, now, max_age).is_some_and(|k| group.was_member_at(&member, k.seq)))
            .copied()
            .collect();
        if !wanted.is_empty() {
            let record = self.sessions_mut(work, &from)?;
            for id in wanted {
                record.group_owed.mark(group_id, id);
            }
        }
        received.set_group(ReceivedKind::RetryRequested, group_id);
        Ok(())
    }

    /// The group messages owed to `address` that can still be sent, with
    /// their plaintexts: the group is here, the device a member that was
    /// one when the message was sent, the message kept and not expired,
    /// its row readable.
    pub(super) fn owed_group_messages(
        &mut self,
        work: &mut Work,
        address: &Address,
        now: u64,
    ) -> Result<Vec<OwedMessage>, ConversationError> {
        let owed = self.sessions(work, address)?.group_owed.owed();
        let member = address.encode();
        let max_age = self.config.resend_max_age;
        let mut out = Vec::with_capacity(owed.len());
        for (group_id, id) in owed {
            let Some(group) = self.group(work, &group_id)? else { continue };
            let sendable =
                Annex::of(group).find(&id, now, max_age).is_some_and(|k| group.was_member_at(&member, k.seq));
            if !sendable {
                continue;
            }
            let Some(sealed) = self.store.app_row(GROUP_OUTBOX_NAMESPACE, &group_row_key(&group_id, &id))? else {
                continue;
            };
            let row: GroupOutboxRowPickle = pickle::decrypt(&sealed, &self.key, &self.me.encode())?;
            if let Some(plaintext) = row.open(&group_id, &id) {
                out.push((group_id, id, plaintext));
            }
        }
        Ok(out)
    }

    /// Reads a group message sent again by `received.from` over the 1:1
    /// session, only from a trusted device under the identity of the
    /// session that read it: delivered as the group message it was, unless it was read
    /// here (or arrived by a re-send before); its original can no longer
    /// read afterwards.
    pub(super) fn take_group_resend(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        group_id: &[u8],
        id: &GroupMessageId,
        body: &[u8],
        now: u64,
    ) -> Result<(), ReceiveError> {
        let from = received.from().clone();
        // Not signed by the sender state: only the 1:1 session vouches for
        // it, so only a trusted device under that session's identity may
        // speak in the group this way (as for distributions, §13.7).
        self.check_trusted(work, &from, false)?;
        // A group plaintext is an application message; one that does not
        // decode uses nothing up (§13.6).
        if !matches!(super::framing::unframe(body), super::framing::Content::Message(_)) || !Self::letter_decodes(body)
        {
            return Err(ReceiveError::MalformedContent);
        }
        let member = from.encode();
        let fresh = self.try_group(work, group_id, |g| {
            if g.take_resent(&member, &id.state_id, id.index).map_err(ReceiveError::Group)? {
                return Ok::<_, ReceiveError>(true);
            }
            let mut annex = Annex::of(g);
            let fresh = annex.mark_resent(*id);
            annex.store(g);
            Ok(fresh)
        })?;
        if !fresh {
            return Err(ReceiveError::Group(GroupError::Duplicate));
        }
        received.set_group(ReceivedKind::GroupMessage, group_id);
        self.take_group_letter(work, received, group_id, body, now)
    }
}

/// Refuses a group id longer than [`MAX_GROUP_ID_LEN`].
fn check_group_id(group_id: &[u8]) -> Result<(), SendError> {
    if group_id.len() > MAX_GROUP_ID_LEN {
        return Err(SendError::Group(GroupError::GroupIdTooLong { len: group_id.len(), max: MAX_GROUP_ID_LEN }));
    }
    Ok(())
}

/// Whether a group message just read is one that arrived by a re-send
/// before (its original must not be read a second time).
pub(crate) fn was_resent(group: &Group, message: &[u8]) -> bool {
    !group.annex.is_empty() && GroupMessageId::of(message).is_some_and(|id| Annex::of(group).resent.contains(&id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn id(n: u32) -> GroupMessageId {
        GroupMessageId { state_id: [1; 16], index: n }
    }

    fn kept(n: u32, len: u32, sent_at: u64) -> Kept {
        Kept { id: id(n), seq: u64::from(n), sent_at, len }
    }

    #[test]
    fn the_group_outbox_keeps_at_most_its_count_and_bytes_and_drops_the_oldest() {
        let mut annex = Annex::default();
        for n in 0..MAX_GROUP_RESEND_MESSAGES as u32 {
            assert_eq!(annex.keep(kept(n, 10, 100), 100, 1000), (true, vec![]), "at the limit");
        }
        assert_eq!(annex.keep(kept(99, 10, 100), 100, 1000), (true, vec![id(0)]), "one past it drops the oldest");
        assert_eq!(annex.kept.len(), MAX_GROUP_RESEND_MESSAGES);
        let mut annex = Annex::default();
        let half = (MAX_GROUP_RESEND_BYTES / 2) as u32;
        assert_eq!(annex.keep(kept(0, half, 100), 100, 1000), (true, vec![]));
        assert_eq!(annex.keep(kept(1, half, 100), 100, 1000), (true, vec![]), "bytes at the limit");
        assert_eq!(annex.keep(kept(2, 1, 100), 100, 1000), (true, vec![id(0)]), "one byte past it");
        let too_big = kept(3, MAX_GROUP_RESEND_BYTES as u32 + 1, 100);
        assert!(!annex.keep(too_big, 100, 1000).0, "a message larger than the bound is not kept");
    }

    #[test]
    fn kept_group_messages_expire_with_their_age() {
        let mut annex = Annex::default();
        let _ = annex.keep(kept(0, 10, 100), 100, 1000);
        assert!(annex.find(&id(0), 1100, 1000).is_some(), "at the age");
        assert!(annex.find(&id(0), 1101, 1000).is_none(), "one second past it");
        assert_eq!(annex.purge(1101, 1000), vec![id(0)]);
        assert!(annex.kept.is_empty());
    }

    #[test]
    fn owed_group_messages_are_bounded_and_sent_again_at_most_the_limit() {
        let mut owed = GroupOwed::default();
        for n in 0..=MAX_GROUP_OWED_PER_DEVICE as u32 {
            owed.mark(b"g", id(n));
        }
        let marks = owed.owed();
        assert_eq!(marks.len(), MAX_GROUP_OWED_PER_DEVICE, "one past the bound drops the oldest");
        assert_eq!(marks[0].1, id(1));
        let mut owed = GroupOwed::default();
        for _ in 0..5 {
            owed.mark(b"g", id(0));
            owed.mark(b"g", id(0));
            owed.sent_again();
        }
        assert_eq!(owed.pickle()[0].resends, crate::limits::MAX_RESENDS_PER_MESSAGE);
        assert!(GroupOwed::from_pickle(&vec![owed.pickle()[0].clone(); MAX_GROUP_OWED_PER_DEVICE]).is_some());
        assert!(GroupOwed::from_pickle(&vec![owed.pickle()[0].clone(); MAX_GROUP_OWED_PER_DEVICE + 1]).is_none());
    }

    #[test]
    fn the_resent_record_of_a_group_is_bounded() {
        let mut annex = Annex::default();
        for n in 0..=MAX_GROUP_RESENT_RECORDS as u32 {
            assert!(annex.mark_resent(id(n)));
        }
        assert!(!annex.mark_resent(id(5)), "marking twice");
        assert_eq!(annex.resent.len(), MAX_GROUP_RESENT_RECORDS);
        assert!(!annex.resent.contains(&id(0)), "one past the bound drops the oldest");
    }
}
