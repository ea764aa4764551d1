//! Retry receipts (docs/PROTOCOL.md §13.9): the bounded buffer of recent
//! outgoing messages a device keeps per recipient device to send again,
//! and the record of messages that arrived by a re-send, so that the
//! original is not read a second time.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::message::Envelope;

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

/// A sent message kept for a re-send.
#[derive(Clone)]
struct Sent {
    id: MessageId,
    sent_at: u64,
    /// The content as sent (content type and body, docs/PROTOCOL.md §13.6).
    content: Zeroizing<Vec<u8>>,
    /// A receipt asked for it since it was last sent.
    owed: bool,
    resends: u8,
}

/// The sent messages kept for one recipient device, oldest first.
#[derive(Clone, Default)]
pub(crate) struct Outbox {
    sent: VecDeque<Sent>,
}

impl Outbox {
    fn bytes(&self) -> usize {
        self.sent.iter().map(|s| s.content.len()).sum()
    }

    /// Deletes the messages sent more than `max_age` seconds before `now`.
    pub(crate) fn purge(&mut self, now: u64, max_age: u64) {
        self.sent.retain(|s| now.saturating_sub(s.sent_at) <= max_age && max_age > 0);
    }

    /// Keeps a sent message, within the bounds (the oldest go first).
    pub(crate) fn keep(&mut self, id: MessageId, content: &[u8], now: u64, max_age: u64) {
        self.purge(now, max_age);
        if max_age == 0 || content.len() > MAX_RESEND_BYTES_PER_DEVICE {
            return;
        }
        self.sent.push_back(Sent {
            id,
            sent_at: now,
            content: Zeroizing::new(content.to_vec()),
            owed: false,
            resends: 0,
        });
        while self.sent.len() > MAX_RESEND_MESSAGES_PER_DEVICE || self.bytes() > MAX_RESEND_BYTES_PER_DEVICE {
            self.sent.pop_front();
        }
    }

    /// Marks the message `id` owed, if it is kept, not expired, and not
    /// sent again too often already. Returns whether it is owed now.
    pub(crate) fn mark_owed(&mut self, id: &MessageId, now: u64, max_age: u64) -> bool {
        self.purge(now, max_age);
        match self.sent.iter_mut().find(|s| s.id == *id) {
            Some(s) if s.resends < MAX_RESENDS_PER_MESSAGE => {
                s.owed = true;
                true
            }
            _ => false,
        }
    }

    /// Whether [`Outbox::mark_owed`] would mark `id` owed (without
    /// changing anything).
    pub(crate) fn would_owe(&self, id: &MessageId, now: u64, max_age: u64) -> bool {
        max_age > 0
            && self
                .sent
                .iter()
                .any(|s| s.id == *id && now.saturating_sub(s.sent_at) <= max_age && s.resends < MAX_RESENDS_PER_MESSAGE)
    }

    /// The owed messages that are not expired, oldest first (nothing
    /// changes: [`Outbox::sent_again`] counts them once they are sent).
    pub(crate) fn owed(&self, now: u64, max_age: u64) -> Vec<(MessageId, Zeroizing<Vec<u8>>)> {
        self.sent
            .iter()
            .filter(|s| s.owed && max_age > 0 && now.saturating_sub(s.sent_at) <= max_age)
            .map(|s| (s.id, s.content.clone()))
            .collect()
    }

    /// Counts the owed messages as sent again, and deletes the expired.
    pub(crate) fn sent_again(&mut self, now: u64, max_age: u64) {
        self.purge(now, max_age);
        for s in self.sent.iter_mut().filter(|s| s.owed) {
            s.owed = false;
            s.resends = s.resends.saturating_add(1);
        }
    }

    /// The owed messages, oldest first, counted as sent again.
    #[cfg(test)]
    fn take_owed(&mut self, now: u64, max_age: u64) -> Vec<(MessageId, Zeroizing<Vec<u8>>)> {
        let owed = self.owed(now, max_age);
        self.sent_again(now, max_age);
        owed
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
                sent_at: s.sent_at,
                content: s.content.to_vec(),
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
                sent_at: p.sent_at,
                content: Zeroizing::new(p.content.clone()),
                owed: p.owed,
                resends: p.resends,
            })
            .collect();
        let outbox = Self { sent };
        (outbox.sent.len() <= MAX_RESEND_MESSAGES_PER_DEVICE
            && outbox.bytes() <= MAX_RESEND_BYTES_PER_DEVICE
            && outbox.sent.iter().all(|s| s.resends <= MAX_RESENDS_PER_MESSAGE))
        .then_some(outbox)
    }
}

/// A kept message in a session record pickle. Holds a plaintext, so it is
/// wiped when dropped.
#[derive(Serialize, Deserialize, Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SentPickle {
    ratchet_key: [u8; 32],
    counter: u32,
    sent_at: u64,
    #[serde(with = "crate::pickle::byte_string")]
    content: Vec<u8>,
    owed: bool,
    resends: u8,
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

    #[test]
    fn the_outbox_keeps_at_most_its_count_and_bytes_and_drops_the_oldest() {
        let mut o = Outbox::default();
        for n in 0..=MAX_RESEND_MESSAGES_PER_DEVICE as u32 {
            o.keep(id(n), b"hi", 10, 100);
        }
        assert_eq!(o.len(), MAX_RESEND_MESSAGES_PER_DEVICE);
        assert!(!o.mark_owed(&id(0), 10, 100), "the oldest went");
        assert!(o.mark_owed(&id(1), 10, 100));
        let big = vec![0u8; MAX_RESEND_BYTES_PER_DEVICE / 2];
        o.keep(id(100), &big, 10, 100);
        o.keep(id(101), &big, 10, 100);
        assert!(o.bytes() <= MAX_RESEND_BYTES_PER_DEVICE);
        o.keep(id(102), &vec![0u8; MAX_RESEND_BYTES_PER_DEVICE + 1], 10, 100);
        assert!(!o.mark_owed(&id(102), 10, 100), "too large to keep");
        let mut exact = Outbox::default();
        exact.keep(id(7), &vec![0u8; MAX_RESEND_BYTES_PER_DEVICE], 10, 100);
        assert!(exact.mark_owed(&id(7), 10, 100), "the byte limit itself is kept");
    }

    #[test]
    fn a_kept_message_is_sent_again_at_most_the_limit_and_expires_with_its_age() {
        let mut o = Outbox::default();
        o.keep(id(1), b"hi", 10, 100);
        for _ in 0..MAX_RESENDS_PER_MESSAGE {
            assert!(o.mark_owed(&id(1), 10, 100));
            assert!(o.mark_owed(&id(1), 10, 100), "marking twice is marking once");
            assert_eq!(o.take_owed(10, 100).len(), 1);
        }
        assert!(!o.mark_owed(&id(1), 10, 100), "past the limit");
        o.keep(id(2), b"hi", 10, 100);
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
}
