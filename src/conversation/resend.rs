//! Retry receipts (docs/PROTOCOL.md §13.9): the bounded buffer of recent
//! outgoing messages a device keeps per recipient device to send again,
//! and the record of messages that arrived by a re-send, so that the
//! original is not read a second time.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::address::Address;
use crate::labels;
use crate::message::Envelope;
use crate::pickle::{PICKLE_VERSION, PickleKind, TYPE_OUTBOX_ROW};

/// The most sent messages kept per recipient device to be sent again
/// ([`crate::Conversations::resend`]); past it the oldest goes. 32 covers
/// a burst of messages lost together; the buffer lives in the device's
/// session record, which every send rewrites.
pub const MAX_RESEND_MESSAGES_PER_DEVICE: usize = 32;

/// The most bytes of sent messages kept per recipient device; a message
/// larger than this alone is not kept (large content belongs in
/// attachments, which carry their own retry).
pub const MAX_RESEND_BYTES_PER_DEVICE: usize = 64 * 1024;

/// How often one kept message is sent again at most, whatever the number
/// of receipts that ask for it: a receipt never makes a sender do more
/// than a bounded amount of work.
pub const MAX_RESENDS_PER_MESSAGE: u8 = 2;

/// The most messages that arrived by a re-send remembered per sending
/// device, so that their originals are not read too, should they become
/// readable later.
pub const MAX_RESENT_RECORDS_PER_DEVICE: usize = 64;

/// The default of [`crate::ConversationConfig::resend_max_age`]: 24 hours,
/// as libsignal's message send log.
pub const DEFAULT_RESEND_MAX_AGE: u64 = 24 * 60 * 60;

/// A 1:1 message's name: its chain's ratchet key and its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
pub(crate) struct MessageId {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) counter: u32,
}

impl MessageId {
    /// The name of a message (of the embedded message, for a first one).
    pub(crate) fn of(envelope: &Envelope) -> Self {
        let message = match envelope {
            Envelope::Normal(m) => m,
            Envelope::PreKey(p) => p.message(),
        };
        Self { ratchet_key: *message.ratchet_key().as_bytes(), counter: message.counter() }
    }

    /// `ratchet key || u32 counter`, as receipts and re-sends carry it.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ratchet_key);
        out.extend_from_slice(&self.counter.to_be_bytes());
    }

    /// Reads a name off the front of `bytes`.
    pub(crate) fn decode(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (key, rest) = bytes.split_first_chunk::<32>()?;
        let (counter, rest) = rest.split_first_chunk::<4>()?;
        Some((Self { ratchet_key: *key, counter: u32::from_be_bytes(*counter) }, rest))
    }
}

/// A sent message kept for a re-send: its name and bookkeeping here, its
/// content in its own sealed row ([`OUTBOX_NAMESPACE`]), so that a send
/// rewrites only the new message's row, not every kept one.
#[derive(Clone)]
struct Sent {
    id: MessageId,
    /// The name of its latest sending: the original, or the last re-send
    /// (a receipt may name either; a session that stops being current
    /// owes what it carried last).
    sent_as: MessageId,
    /// The base key of the session that carried its latest sending.
    session: [u8; 32],
    sent_at: u64,
    /// The content's length, for the byte bound.
    len: u32,
    /// A receipt asked for it since it was last sent.
    owed: bool,
    resends: u8,
}

/// The application-row namespace that holds outbox contents, one sealed
/// row per kept message, keyed by the recipient's encoded address, then
/// the message's ratchet key and counter (docs/PROTOCOL.md §13.2).
/// Reserved for dmseal: do not write rows in it.
pub const OUTBOX_NAMESPACE: &str = "dmseal.outbox";

/// The row key of a kept message: the recipient's encoded address, then
/// the message id.
pub(crate) fn row_key(address: &Address, id: &MessageId) -> Vec<u8> {
    let mut key = address.encode();
    id.encode(&mut key);
    key
}

/// A message kept in this operation, its content, and when the content
/// disappears (its timer, §13.12): a row to write, with that expiry.
pub(crate) type AddedRow = (MessageId, Zeroizing<Vec<u8>>, Option<u64>);

/// The sent messages kept for one recipient device, oldest first, and the
/// rows to write and delete when the record commits.
#[derive(Clone, Default)]
pub(crate) struct Outbox {
    sent: VecDeque<Sent>,
    /// Contents kept since the last commit: rows to write.
    added: Vec<AddedRow>,
    /// Messages no longer kept since the last commit: rows to delete.
    dropped: Vec<MessageId>,
}

impl Sent {
    /// Whether `id` names this message: its original or its last re-send.
    fn named(&self, id: &MessageId) -> bool {
        self.id == *id || self.sent_as == *id
    }
}

impl Outbox {
    fn bytes(&self) -> usize {
        self.sent.iter().map(|s| s.len as usize).sum()
    }

    /// Forgets a kept message: its row goes at the next commit (or is
    /// never written, if it was kept in this operation).
    fn forget(&mut self, id: MessageId) {
        let before = self.added.len();
        self.added.retain(|(a, _, _)| *a != id);
        if self.added.len() == before {
            self.dropped.push(id);
        }
    }

    /// Deletes the messages sent more than `max_age` seconds before `now`.
    pub(crate) fn purge(&mut self, now: u64, max_age: u64) {
        let (keep, gone): (VecDeque<Sent>, VecDeque<Sent>) = core::mem::take(&mut self.sent)
            .into_iter()
            .partition(|s| max_age > 0 && now.saturating_sub(s.sent_at) <= max_age);
        self.sent = keep;
        for s in gone {
            self.forget(s.id);
        }
    }

    /// Whether [`Outbox::purge`] would forget anything.
    pub(crate) fn has_expired(&self, now: u64, max_age: u64) -> bool {
        self.sent.iter().any(|s| max_age == 0 || now.saturating_sub(s.sent_at) > max_age)
    }

    /// Forgets every kept message (the device's identity changed).
    pub(crate) fn clear(&mut self) {
        for s in core::mem::take(&mut self.sent) {
            self.forget(s.id);
        }
    }

    /// Keeps a sent message, within the bounds (the oldest go first).
    pub(crate) fn keep(&mut self, id: MessageId, session: [u8; 32], content: &[u8], now: u64, max_age: u64) {
        self.purge(now, max_age);
        let Ok(len) = u32::try_from(content.len()) else { return };
        if max_age == 0 || content.len() > MAX_RESEND_BYTES_PER_DEVICE {
            return;
        }
        self.sent.push_back(Sent { id, sent_as: id, session, sent_at: now, len, owed: false, resends: 0 });
        // A disappearing message is not kept past its own expiry.
        let expires_at = super::framing::letter_timer(content).and_then(|t| super::envelope::expiry(now, t));
        self.added.push((id, Zeroizing::new(content.to_vec()), expires_at));
        while self.sent.len() > MAX_RESEND_MESSAGES_PER_DEVICE || self.bytes() > MAX_RESEND_BYTES_PER_DEVICE {
            if let Some(old) = self.sent.pop_front() {
                self.forget(old.id);
            }
        }
    }

    /// Whether [`Outbox::mark_owed`] would mark `id` owed (without
    /// changing anything).
    pub(crate) fn would_owe(&self, id: &MessageId, now: u64, max_age: u64) -> bool {
        max_age > 0
            && self
                .sent
                .iter()
                .any(|s| s.named(id) && now.saturating_sub(s.sent_at) <= max_age && s.resends < MAX_RESENDS_PER_MESSAGE)
    }

    /// Marks the message `id` owed, if it is kept, not expired, and not
    /// sent again too often already. Returns whether it is owed now.
    pub(crate) fn mark_owed(&mut self, id: &MessageId, now: u64, max_age: u64) -> bool {
        if !self.would_owe(id, now, max_age) {
            return false;
        }
        self.sent.iter_mut().filter(|s| s.named(id)).for_each(|s| s.owed = true);
        true
    }

    /// Records that the kept message `id` was just sent again as
    /// `sent_as`, on the session of base key `session`.
    pub(crate) fn resent_as(&mut self, id: &MessageId, sent_as: MessageId, session: [u8; 32]) {
        for s in self.sent.iter_mut().filter(|s| s.id == *id) {
            s.sent_as = sent_as;
            s.session = session;
        }
    }

    /// Marks owed every kept message last sent (or sent again) on the
    /// session of base key `session` (as [`Outbox::mark_owed`] would
    /// each); returns whether any was.
    pub(crate) fn mark_session_owed(&mut self, session: &[u8; 32], now: u64, max_age: u64) -> bool {
        let ids: Vec<MessageId> = self.sent.iter().filter(|s| s.session == *session).map(|s| s.id).collect();
        let mut any = false;
        for id in &ids {
            any |= self.mark_owed(id, now, max_age);
        }
        any
    }

    /// Starts every kept message's re-send count again (a resync from a
    /// restored device: what it read since is gone).
    pub(crate) fn reset_resends(&mut self) {
        for s in &mut self.sent {
            s.resends = 0;
        }
    }

    /// Every kept message, oldest first.
    pub(crate) fn ids(&self) -> Vec<MessageId> {
        self.sent.iter().map(|s| s.id).collect()
    }

    /// The owed messages that are not expired, oldest first (nothing
    /// changes: [`Outbox::sent_again`] counts them once they are sent).
    pub(crate) fn owed(&self, now: u64, max_age: u64) -> Vec<MessageId> {
        self.sent
            .iter()
            .filter(|s| s.owed && max_age > 0 && now.saturating_sub(s.sent_at) <= max_age)
            .map(|s| s.id)
            .collect()
    }

    /// The content of a message kept in this operation (not yet in its
    /// row).
    pub(crate) fn added(&self, id: &MessageId) -> Option<&[u8]> {
        self.added.iter().find(|(a, _, _)| a == id).map(|(_, c, _)| &c[..])
    }

    /// Counts the messages `ids` (owed, just sent) as sent again, and
    /// forgets the expired.
    pub(crate) fn sent_again(&mut self, ids: &[MessageId], now: u64, max_age: u64) {
        self.purge(now, max_age);
        for s in self.sent.iter_mut().filter(|s| s.owed && ids.contains(&s.id)) {
            s.owed = false;
            s.resends = s.resends.saturating_add(1);
        }
    }

    /// The rows to write (contents kept) and to delete (messages no longer
    /// kept) when this record commits.
    pub(crate) fn rows(&self) -> (&[AddedRow], &[MessageId]) {
        (&self.added, &self.dropped)
    }

    /// The rows were committed.
    pub(crate) fn settle(&mut self) {
        self.added.clear();
        self.dropped.clear();
    }

    /// How many messages are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sent.len()
    }

    pub(crate) fn pickle(&self) -> Vec<SentPickle> {
        self.sent
            .iter()
            .map(|s| SentPickle {
                ratchet_key: s.id.ratchet_key,
                counter: s.id.counter,
                sent_as: s.sent_as,
                session: s.session,
                sent_at: s.sent_at,
                len: s.len,
                owed: s.owed,
                resends: s.resends,
            })
            .collect()
    }

    pub(crate) fn from_pickle(pickle: &[SentPickle]) -> Option<Self> {
        let sent: VecDeque<Sent> = pickle
            .iter()
            .map(|p| Sent {
                id: MessageId { ratchet_key: p.ratchet_key, counter: p.counter },
                sent_as: p.sent_as,
                session: p.session,
                sent_at: p.sent_at,
                len: p.len,
                owed: p.owed,
                resends: p.resends,
            })
            .collect();
        let outbox = Self { sent, added: Vec::new(), dropped: Vec::new() };
        (outbox.sent.len() <= MAX_RESEND_MESSAGES_PER_DEVICE
            && outbox.bytes() <= MAX_RESEND_BYTES_PER_DEVICE
            && outbox.sent.iter().all(|s| s.resends <= MAX_RESENDS_PER_MESSAGE))
        .then_some(outbox)
    }
}

/// A kept message in a session record pickle (its content is in its row).
#[derive(Serialize, Deserialize, Clone, Zeroize)]
pub(crate) struct SentPickle {
    ratchet_key: [u8; 32],
    counter: u32,
    sent_as: MessageId,
    session: [u8; 32],
    sent_at: u64,
    len: u32,
    owed: bool,
    resends: u8,
}

/// The sealed form of an outbox row: the message it keeps, named inside
/// the encryption, so that a row moved to another key is refused.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct OutboxRowPickle {
    version: u32,
    user: String,
    device: u32,
    ratchet_key: [u8; 32],
    counter: u32,
    #[serde(with = "crate::pickle::byte_string")]
    content: Vec<u8>,
}

impl OutboxRowPickle {
    pub(crate) fn new(address: &Address, id: &MessageId, content: &[u8]) -> Self {
        Self {
            version: PICKLE_VERSION,
            user: address.user().to_owned(),
            device: address.device(),
            ratchet_key: id.ratchet_key,
            counter: id.counter,
            content: content.to_vec(),
        }
    }

    /// The content, if this is the row of message `id` sent to `address`.
    pub(crate) fn open(&self, address: &Address, id: &MessageId) -> Option<Zeroizing<Vec<u8>>> {
        (self.user == address.user()
            && self.device == address.device()
            && self.ratchet_key == id.ratchet_key
            && self.counter == id.counter)
            .then(|| Zeroizing::new(self.content.clone()))
    }
}

impl PickleKind for OutboxRowPickle {
    const TYPE: u8 = TYPE_OUTBOX_ROW;
    const LABEL: &'static [u8] = labels::KDF_RECORD_OUTBOX;
    fn version(&self) -> u32 {
        self.version
    }
}

/// Messages from one device that arrived by a re-send, oldest first.
#[derive(Clone, Default)]
pub(crate) struct Resent {
    ids: VecDeque<MessageId>,
}

impl Resent {
    pub(crate) fn insert(&mut self, id: MessageId) {
        if !self.ids.contains(&id) {
            self.ids.push_back(id);
        }
        while self.ids.len() > MAX_RESENT_RECORDS_PER_DEVICE {
            self.ids.pop_front();
        }
    }

    /// Whether `id` arrived by a re-send.
    pub(crate) fn contains(&self, id: &MessageId) -> bool {
        self.ids.contains(id)
    }

    pub(crate) fn pickle(&self) -> Vec<MessageId> {
        self.ids.iter().copied().collect()
    }

    pub(crate) fn from_pickle(ids: &[MessageId]) -> Option<Self> {
        (ids.len() <= MAX_RESENT_RECORDS_PER_DEVICE).then(|| Self { ids: ids.iter().copied().collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> MessageId {
        MessageId { ratchet_key: [1; 32], counter: n }
    }

    impl Outbox {
        /// The owed messages, counted as sent again.
        fn take_owed(&mut self, now: u64, max_age: u64) -> Vec<MessageId> {
            let owed = self.owed(now, max_age);
            self.sent_again(&owed, now, max_age);
            owed
        }
    }

    #[test]
    fn rows_are_written_for_what_is_kept_and_deleted_for_what_goes() {
        let mut o = Outbox::default();
        o.keep(id(1), [1; 32], b"one", 10, 100);
        o.keep(id(2), [1; 32], b"two", 10, 100);
        assert_eq!((o.rows().0.len(), o.rows().1.len()), (2, 0));
        o.settle();
        // Kept and forgotten in one operation: no row at all.
        o.keep(id(3), [1; 32], b"three", 10, 100);
        o.clear();
        let (added, dropped) = o.rows();
        assert!(added.is_empty());
        assert_eq!(dropped, &[id(1), id(2)]);
        o.settle();
        o.keep(id(4), [1; 32], b"four", 10, 100);
        o.purge(200, 100);
        assert!(o.rows().0.is_empty() && o.rows().1.is_empty() && o.len() == 0);
    }

    #[test]
    fn the_outbox_keeps_at_most_its_count_and_bytes_and_drops_the_oldest() {
        let mut o = Outbox::default();
        for n in 0..=MAX_RESEND_MESSAGES_PER_DEVICE as u32 {
            o.keep(id(n), [1; 32], b"hi", 10, 100);
        }
        assert_eq!(o.len(), MAX_RESEND_MESSAGES_PER_DEVICE);
        assert!(!o.mark_owed(&id(0), 10, 100), "the oldest went");
        assert!(o.mark_owed(&id(1), 10, 100));
        let big = vec![0u8; MAX_RESEND_BYTES_PER_DEVICE / 2];
        o.keep(id(100), [1; 32], &big, 10, 100);
        o.keep(id(101), [1; 32], &big, 10, 100);
        assert!(o.bytes() <= MAX_RESEND_BYTES_PER_DEVICE);
        o.keep(id(102), [1; 32], &vec![0u8; MAX_RESEND_BYTES_PER_DEVICE + 1], 10, 100);
        assert!(!o.mark_owed(&id(102), 10, 100), "too large to keep");
        let mut exact = Outbox::default();
        exact.keep(id(7), [1; 32], &vec![0u8; MAX_RESEND_BYTES_PER_DEVICE], 10, 100);
        assert!(exact.mark_owed(&id(7), 10, 100), "the byte limit itself is kept");
    }

    #[test]
    fn a_kept_message_is_sent_again_at_most_the_limit_and_expires_with_its_age() {
        let mut o = Outbox::default();
        o.keep(id(1), [1; 32], b"hi", 10, 100);
        for _ in 0..MAX_RESENDS_PER_MESSAGE {
            assert!(o.mark_owed(&id(1), 10, 100));
            assert!(o.mark_owed(&id(1), 10, 100), "marking twice is marking once");
            assert_eq!(o.take_owed(10, 100).len(), 1);
        }
        assert!(!o.mark_owed(&id(1), 10, 100), "past the limit");
        o.keep(id(2), [1; 32], b"hi", 10, 100);
        assert!(o.mark_owed(&id(2), 110, 100), "at its age");
        assert!(!o.mark_owed(&id(2), 111, 100), "past its age");
        assert!(o.take_owed(111, 100).is_empty());
    }

    #[test]
    fn the_resent_record_is_bounded() {
        let mut r = Resent::default();
        for n in 0..=MAX_RESENT_RECORDS_PER_DEVICE as u32 {
            r.insert(id(n));
        }
        assert!(!r.contains(&id(0)));
        assert!(r.contains(&id(1)) && r.contains(&id(MAX_RESENT_RECORDS_PER_DEVICE as u32)));
    }

    #[test]
    fn a_message_sent_again_is_named_by_its_re_send_too_and_owed_when_that_chain_ends() {
        let mut outbox = Outbox::default();
        outbox.keep(id(0), [1; 32], b"hello", 100, 1000);
        let again = MessageId { ratchet_key: [2; 32], counter: 5 };
        assert!(outbox.mark_owed(&id(0), 100, 1000));
        assert_eq!(outbox.take_owed(100, 1000), vec![id(0)]);
        outbox.resent_as(&id(0), again, [2; 32]);
        // A receipt for the re-send names the original.
        assert!(outbox.mark_owed(&again, 100, 1000));
        assert_eq!(outbox.take_owed(100, 1000), vec![id(0)]);
        // The original's chain no longer carries it; the re-send's does.
        assert!(!outbox.mark_session_owed(&[1; 32], 100, 1000));
        outbox.resent_as(&id(0), again, [2; 32]);
        assert!(!outbox.mark_session_owed(&[2; 32], 100, 1000), "sent again twice: no more");
        let mut outbox = Outbox::default();
        outbox.keep(id(0), [1; 32], b"hello", 100, 1000);
        outbox.keep(id(1), [1; 32], b"world", 100, 1000);
        assert!(outbox.mark_session_owed(&[1; 32], 100, 1000));
        assert_eq!(outbox.owed(100, 1000), vec![id(0), id(1)]);
        // Only what was sent counts as sent.
        outbox.sent_again(&[id(1)], 100, 1000);
        assert_eq!(outbox.owed(100, 1000), vec![id(0)]);
    }
}
