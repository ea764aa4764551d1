//! Content types of the 1:1 plaintexts that [`crate::Conversations`]
//! encrypts (docs/PROTOCOL.md §13.6): one byte before the body. The raw
//! [`crate::Session`] API adds none.

use zeroize::Zeroizing;

use super::group_resend::GroupMessageId;
use super::resend::MessageId;

/// Content type: an application message.
const FRAME_MESSAGE: u8 = 0x00;
/// Content type: a group sender-key distribution (docs/PROTOCOL.md §12.5).
const FRAME_GROUP_KEYS: u8 = 0x01;
/// Content type: a request for the receiver's sender keys of a group
/// (docs/PROTOCOL.md §13.7); the body is the group id.
const FRAME_GROUP_KEY_REQUEST: u8 = 0x02;
/// Content type: the first message of a session started to heal a broken
/// one (docs/PROTOCOL.md §13.8); no body.
const FRAME_HEAL: u8 = 0x03;
/// Content type: a retry receipt (docs/PROTOCOL.md §13.9): the name of a
/// message that could not be read, and when.
const FRAME_RETRY_RECEIPT: u8 = 0x04;
/// Content type: a message sent again, after a retry receipt: the name of
/// the original, then its content.
const FRAME_RESEND: u8 = 0x05;
/// Content type: a group retry receipt (docs/PROTOCOL.md §13.10): a
/// group, when, and the names of its messages that could not be read.
const FRAME_GROUP_RETRY_RECEIPT: u8 = 0x06;
/// Content type: a group message sent again over the 1:1 session, after
/// a group retry receipt: the group, the original's name, its plaintext.
const FRAME_GROUP_RESEND: u8 = 0x07;
/// Content type: this device was restored from a backup (docs/PROTOCOL.md
/// §13.11): send again everything kept for it. The body is `u64 at`.
const FRAME_RESYNC: u8 = 0x08;
/// Content type: a copy of a message for the sender's own other devices
/// (a sync transcript, docs/PROTOCOL.md §13.12): `u8 len || user ||
/// envelope`, the user it was sent to and the message.
const FRAME_TRANSCRIPT: u8 = 0x09;
/// Content type: a device link statement (docs/PROTOCOL.md §13.14) in
/// front of a message of a session a linked device started: `u16 len ||
/// statement || inner plaintext` (a content type and its body, never
/// itself `0x0a`).
const FRAME_LINKED: u8 = 0x0a;
/// The most messages one retry receipt names.
pub(crate) const MAX_RECEIPT_IDS: usize = 32;
/// One message id in a receipt: ratchet key and counter.
const ID_LEN: usize = 32 + 4;

/// What a decrypted 1:1 plaintext holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Content<'a> {
    /// An application message: its content envelope (§13.12).
    Message(&'a [u8]),
    /// A copy of a message this device's user sent to `user` from
    /// another device: its content envelope.
    Transcript { user: &'a [u8], envelope: &'a [u8] },
    /// A sender-key distribution for a group.
    GroupKeys(&'a [u8]),
    /// A request for this device's sender keys of the group it names.
    GroupKeyRequest(&'a [u8]),
    /// The sender started a new session because its old one broke.
    Heal,
    /// The sender could not read these messages of ours (at `at`, seconds
    /// since the Unix epoch).
    RetryReceipt { ids: Vec<MessageId>, at: u64 },
    /// A message of the sender's sent again: its original's name, and
    /// the original content (an application message or a transcript,
    /// framed).
    Resend { id: MessageId, original: &'a [u8] },
    /// The sender could not read these messages of ours in the group.
    GroupRetryReceipt { group_id: &'a [u8], ids: Vec<GroupMessageId>, at: u64 },
    /// A group message of the sender's sent again: its group, its
    /// original's name and its plaintext.
    GroupResend { group_id: &'a [u8], id: GroupMessageId, body: &'a [u8] },
    /// The sender was restored from a backup (at `at`): it asks for
    /// everything kept for it.
    Resync { at: u64 },
    /// A content type this version does not know, or none (an empty
    /// plaintext).
    Unknown(Option<u8>),
}

/// `content type || envelope` for an application message.
pub(crate) fn frame_message(envelope: &[u8]) -> Zeroizing<Vec<u8>> {
    frame(FRAME_MESSAGE, envelope)
}

/// `content type || u8 len || user || envelope` for a copy to this
/// user's own other devices of a message sent to `user`.
pub(crate) fn frame_transcript(user: &str, envelope: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new(Vec::with_capacity(1 + user.len() + envelope.len()));
    // User ids are at most MAX_USER_ID_LEN (255) bytes.
    body.push(u8::try_from(user.len()).unwrap_or(u8::MAX));
    body.extend_from_slice(user.as_bytes());
    body.extend_from_slice(envelope);
    frame(FRAME_TRANSCRIPT, &body)
}

/// `0x0a || u16 len || link || inner` (docs/PROTOCOL.md §13.14).
pub(crate) fn frame_linked(link: &[u8], inner: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(3 + link.len() + inner.len()));
    out.push(FRAME_LINKED);
    // A link statement is at most a few hundred bytes.
    out.extend_from_slice(&u16::try_from(link.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(link);
    out.extend_from_slice(inner);
    out
}

/// Splits a linked-device prefix off a plaintext: the statement and the
/// inner plaintext, or none and the plaintext as it is when it has no
/// well-formed prefix (it is then read as it is: `0x0a` alone, cut short
/// or nested, is an unknown content type).
pub(crate) fn split_link(plaintext: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if let Some((&FRAME_LINKED, rest)) = plaintext.split_first()
        && let Some((len, rest)) = rest.split_first_chunk::<2>()
        && let Some((link, inner)) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))
        && inner.first().is_some_and(|&t| t != FRAME_LINKED)
    {
        return (Some(link), inner);
    }
    (None, plaintext)
}

/// `content type || body` for a group distribution.
pub(crate) fn frame_group_keys(body: &[u8]) -> Zeroizing<Vec<u8>> {
    frame(FRAME_GROUP_KEYS, body)
}

/// `content type || group id` for a sender-key request.
pub(crate) fn frame_group_key_request(group_id: &[u8]) -> Zeroizing<Vec<u8>> {
    frame(FRAME_GROUP_KEY_REQUEST, group_id)
}

/// `content type` of a heal.
pub(crate) fn frame_heal() -> Zeroizing<Vec<u8>> {
    frame(FRAME_HEAL, &[])
}

/// `content type || u64 at || (ratchet key || u32 counter)*` of a
/// receipt naming 1 to [`MAX_RECEIPT_IDS`] messages (the first so many of
/// `ids`).
pub(crate) fn frame_retry_receipt(ids: &[MessageId], at: u64) -> Zeroizing<Vec<u8>> {
    let mut body = Vec::with_capacity(8 + ID_LEN * ids.len().min(MAX_RECEIPT_IDS));
    body.extend_from_slice(&at.to_be_bytes());
    for id in ids.iter().take(MAX_RECEIPT_IDS) {
        id.encode(&mut body);
    }
    frame(FRAME_RETRY_RECEIPT, &body)
}

/// The timestamp and the ids of a receipt body; `None` unless it names 1
/// to [`MAX_RECEIPT_IDS`] messages exactly.
fn read_receipt(body: &[u8]) -> Option<(u64, Vec<MessageId>)> {
    let (at, mut rest) = body.split_first_chunk::<8>()?;
    let n = rest.len() / ID_LEN;
    if rest.len() % ID_LEN != 0 || n == 0 || n > MAX_RECEIPT_IDS {
        return None;
    }
    let mut ids = Vec::with_capacity(n);
    while let Some((id, next)) = MessageId::decode(rest) {
        ids.push(id);
        rest = next;
    }
    Some((u64::from_be_bytes(*at), ids))
}

/// `content type || ratchet key || u32 counter || content` of a re-send.
pub(crate) fn frame_resend(id: &MessageId, content: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new(Vec::with_capacity(36 + content.len()));
    id.encode(&mut body);
    body.extend_from_slice(content);
    frame(FRAME_RESEND, &body)
}

/// `u8 len || group id`, the group part of the group contents.
fn push_group_id(out: &mut Vec<u8>, group_id: &[u8]) {
    // Group ids are at most MAX_GROUP_ID_LEN (64) bytes.
    out.push(u8::try_from(group_id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(group_id);
}

/// Reads `u8 len || group id` off the front of `bytes`: at most
/// [`crate::group::MAX_GROUP_ID_LEN`] bytes.
fn read_group_id(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    let len = usize::from(len);
    if len > crate::group::MAX_GROUP_ID_LEN {
        return None;
    }
    rest.split_at_checked(len)
}

/// `content type || u8 len || group id || u64 at || (state id || u32
/// index)*` of a group receipt naming 1 to [`MAX_RECEIPT_IDS`] messages
/// (the first so many of `ids`).
pub(crate) fn frame_group_retry_receipt(group_id: &[u8], ids: &[GroupMessageId], at: u64) -> Zeroizing<Vec<u8>> {
    let mut body = Vec::with_capacity(1 + group_id.len() + 8 + GroupMessageId::LEN * ids.len().min(MAX_RECEIPT_IDS));
    push_group_id(&mut body, group_id);
    body.extend_from_slice(&at.to_be_bytes());
    for id in ids.iter().take(MAX_RECEIPT_IDS) {
        id.encode(&mut body);
    }
    frame(FRAME_GROUP_RETRY_RECEIPT, &body)
}

/// The group id, timestamp and ids of a group receipt body; `None` unless
/// it names 1 to [`MAX_RECEIPT_IDS`] messages exactly.
fn read_group_receipt(body: &[u8]) -> Option<(&[u8], u64, Vec<GroupMessageId>)> {
    let (group_id, rest) = read_group_id(body)?;
    let (at, mut rest) = rest.split_first_chunk::<8>()?;
    let n = rest.len() / GroupMessageId::LEN;
    if rest.len() % GroupMessageId::LEN != 0 || n == 0 || n > MAX_RECEIPT_IDS {
        return None;
    }
    let mut ids = Vec::with_capacity(n);
    while let Some((id, next)) = GroupMessageId::decode(rest) {
        ids.push(id);
        rest = next;
    }
    Some((group_id, u64::from_be_bytes(*at), ids))
}

/// `content type || u8 len || group id || state id || u32 index ||
/// plaintext` of a group message sent again.
pub(crate) fn frame_group_resend(group_id: &[u8], id: &GroupMessageId, plaintext: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new(Vec::with_capacity(1 + group_id.len() + GroupMessageId::LEN + plaintext.len()));
    push_group_id(&mut body, group_id);
    id.encode(&mut body);
    body.extend_from_slice(plaintext);
    frame(FRAME_GROUP_RESEND, &body)
}

/// `content type || u64 at` of a resync request.
pub(crate) fn frame_resync(at: u64) -> Zeroizing<Vec<u8>> {
    frame(FRAME_RESYNC, &at.to_be_bytes())
}

/// The disappearing-message timer of an application message or a
/// transcript (framed, unpadded), in seconds, from its envelope header
/// (docs/PROTOCOL.md §13.12); `None` for other content or none set.
pub(crate) fn letter_timer(framed: &[u8]) -> Option<u32> {
    let envelope = match unframe(framed) {
        Content::Message(envelope) | Content::Transcript { envelope, .. } => envelope,
        _ => return None,
    };
    let timer = u32::from_be_bytes(envelope.get(24..28)?.try_into().ok()?);
    (timer != 0).then_some(timer)
}

/// Whether a framed plaintext is an application message or a transcript
/// (the only content kept to be sent again).
pub(crate) fn is_message(framed: &[u8]) -> bool {
    matches!(framed.first(), Some(&(FRAME_MESSAGE | FRAME_TRANSCRIPT)))
}

fn frame(kind: u8, body: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(1 + body.len()));
    out.push(kind);
    out.extend_from_slice(body);
    out
}

/// Reads the content type of a decrypted plaintext.
pub(crate) fn unframe(plaintext: &[u8]) -> Content<'_> {
    match plaintext.split_first() {
        Some((&FRAME_MESSAGE, body)) => Content::Message(body),
        Some((&FRAME_TRANSCRIPT, body)) => {
            match body.split_first().and_then(|(&len, rest)| rest.split_at_checked(usize::from(len))) {
                Some((user, envelope)) => Content::Transcript { user, envelope },
                None => Content::Unknown(Some(FRAME_TRANSCRIPT)),
            }
        }
        Some((&FRAME_GROUP_KEYS, body)) => Content::GroupKeys(body),
        Some((&FRAME_GROUP_KEY_REQUEST, body)) => Content::GroupKeyRequest(body),
        Some((&FRAME_HEAL, [])) => Content::Heal,
        Some((&FRAME_RETRY_RECEIPT, body)) => match read_receipt(body) {
            Some((at, ids)) => Content::RetryReceipt { ids, at },
            None => Content::Unknown(Some(FRAME_RETRY_RECEIPT)),
        },
        // Only an application message or a transcript is ever sent again.
        Some((&FRAME_RESEND, body)) => match MessageId::decode(body) {
            Some((id, original)) if is_message(original) => Content::Resend { id, original },
            _ => Content::Unknown(Some(FRAME_RESEND)),
        },
        Some((&FRAME_GROUP_RETRY_RECEIPT, body)) => match read_group_receipt(body) {
            Some((group_id, at, ids)) => Content::GroupRetryReceipt { group_id, ids, at },
            None => Content::Unknown(Some(FRAME_GROUP_RETRY_RECEIPT)),
        },
        Some((&FRAME_GROUP_RESEND, body)) => {
            match read_group_id(body).and_then(|(group_id, rest)| Some((group_id, GroupMessageId::decode(rest)?))) {
                Some((group_id, (id, body))) => Content::GroupResend { group_id, id, body },
                None => Content::Unknown(Some(FRAME_GROUP_RESEND)),
            }
        }
        Some((&FRAME_RESYNC, body)) => match <[u8; 8]>::try_from(body) {
            Ok(at) => Content::Resync { at: u64::from_be_bytes(at) },
            Err(_) => Content::Unknown(Some(FRAME_RESYNC)),
        },
        Some((&other, _)) => Content::Unknown(Some(other)),
        None => Content::Unknown(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    proptest::proptest! {
        /// Any decrypted plaintext reads as some content without panicking,
        /// and a receipt or a re-send reads back to what was framed.
        #[test]
        fn any_plaintext_reads_as_content(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            match unframe(&bytes) {
                Content::RetryReceipt { ids, at } => {
                    proptest::prop_assert!(!ids.is_empty() && ids.len() <= MAX_RECEIPT_IDS);
                    proptest::prop_assert_eq!(&frame_retry_receipt(&ids, at)[..], &bytes[..]);
                }
                Content::Resend { id, original } => {
                    proptest::prop_assert_eq!(&frame_resend(&id, original)[..], &bytes[..]);
                }
                Content::Transcript { user, envelope } => {
                    let user = core::str::from_utf8(user);
                    if let Ok(user) = user {
                        proptest::prop_assert_eq!(&frame_transcript(user, envelope)[..], &bytes[..]);
                    }
                }
                Content::GroupRetryReceipt { group_id, ids, at } => {
                    proptest::prop_assert!(!ids.is_empty() && ids.len() <= MAX_RECEIPT_IDS);
                    proptest::prop_assert_eq!(&frame_group_retry_receipt(group_id, &ids, at)[..], &bytes[..]);
                }
                Content::GroupResend { group_id, id, body } => {
                    proptest::prop_assert_eq!(&frame_group_resend(group_id, &id, body)[..], &bytes[..]);
                }
                _ => {}
            }
        }
    }

    /// `tests/vectors/conversation_content.json` (docs/PROTOCOL.md §11,
    /// §13.6): each content type's bytes from its fields, and bodies that
    /// must read as an unknown content type.
    #[test]
    fn vector_conversation_content() {
        use serde_json::json;
        fn h(bytes: impl AsRef<[u8]>) -> String {
            hex::encode(bytes)
        }
        let (first, second) =
            (MessageId { ratchet_key: [0x11; 32], counter: 7 }, MessageId { ratchet_key: [0x22; 32], counter: 0 });
        let id = |i: &MessageId| json!({ "ratchet_key": h(i.ratchet_key), "counter": i.counter });
        let at = 1_800_000_000u64;
        let (g1, g2) =
            (GroupMessageId { state_id: [0x44; 16], index: 3 }, GroupMessageId { state_id: [0x55; 16], index: 1_000 });
        let gid = |i: &GroupMessageId| json!({ "state_id": h(i.state_id), "index": i.index });
        let valid = json!([
            { "content": "message", "body": h(b"hello"), "bytes": h(&frame_message(b"hello")[..]) },
            { "content": "message", "body": "", "bytes": h(&frame_message(b"")[..]) },
            { "content": "group_keys", "body": h(b"(a distribution, 12.5)"), "bytes": h(&frame_group_keys(b"(a distribution, 12.5)")[..]) },
            { "content": "group_key_request", "group_id": h(b"family"), "bytes": h(&frame_group_key_request(b"family")[..]) },
            { "content": "heal", "bytes": h(&frame_heal()[..]) },
            { "content": "retry_receipt", "at": at, "ids": [id(&first)], "bytes": h(&frame_retry_receipt(&[first], at)[..]) },
            { "content": "retry_receipt", "at": at, "ids": [id(&first), id(&second)], "bytes": h(&frame_retry_receipt(&[first, second], at)[..]) },
            { "content": "resend", "id": id(&first), "original": h(&frame_message(b"hello")[..]), "bytes": h(&frame_resend(&first, &frame_message(b"hello"))[..]) },
            { "content": "group_retry_receipt", "group_id": h(b"family"), "at": at, "ids": [gid(&g1)], "bytes": h(&frame_group_retry_receipt(b"family", &[g1], at)[..]) },
            { "content": "group_retry_receipt", "group_id": "", "at": at, "ids": [gid(&g1), gid(&g2)], "bytes": h(&frame_group_retry_receipt(b"", &[g1, g2], at)[..]) },
            { "content": "group_resend", "group_id": h(b"family"), "id": gid(&g2), "plaintext": h(b"hello all"), "bytes": h(&frame_group_resend(b"family", &g2, b"hello all")[..]) },
            { "content": "resync", "at": at, "bytes": h(&frame_resync(at)[..]) },
            { "content": "transcript", "user": "bob", "envelope": h(b"(an envelope, 13.12)"), "bytes": h(&frame_transcript("bob", b"(an envelope, 13.12)")[..]) },
            { "content": "resend", "id": id(&second), "original": h(&frame_transcript("bob", b"hello")[..]), "bytes": h(&frame_resend(&second, &frame_transcript("bob", b"hello"))[..]) },
        ]);
        let many: Vec<MessageId> = (0..=MAX_RECEIPT_IDS as u32).map(|n| MessageId { counter: n, ..first }).collect();
        let mut too_many = frame_retry_receipt(&many[..MAX_RECEIPT_IDS], at).to_vec();
        too_many.extend_from_slice(&[0x33; ID_LEN]);
        let unknown: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x03, 0x00],
            frame_retry_receipt(&[], at).to_vec(),
            frame_retry_receipt(&[first], at)[..44].to_vec(),
            too_many,
            frame_resend(&first, &frame_heal()).to_vec(),
            frame_resend(&first, &[]).to_vec(),
            vec![0x06],
            frame_group_retry_receipt(b"family", &[], at).to_vec(),
            frame_group_retry_receipt(b"family", &[g1], at)[..29].to_vec(),
            [&[0x06, 65][..], &[0x61; 65], &at.to_be_bytes(), &[0x44; 20]].concat(),
            vec![0x07, 6, 0x66],
            frame_group_resend(b"family", &g1, b"")[..26].to_vec(),
            frame_resync(at)[..8].to_vec(),
            [&frame_resync(at)[..], &[0]].concat(),
            vec![0xff, 1, 2, 3],
            vec![0x09],
            vec![0x09, 4, b'b', b'o', b'b'],
        ];
        for bytes in &unknown {
            assert!(matches!(unframe(bytes), Content::Unknown(_)), "{}", h(bytes));
        }
        crate::vectors::check(
            "conversation_content.json",
            json!({
                "section": "docs/PROTOCOL.md §13.6, §13.7, §13.8, §13.9, §13.10, §13.11, §13.12",
                "valid": valid,
                "unknown": unknown.iter().map(h).collect::<Vec<_>>(),
            }),
        );
    }

    #[test]
    fn every_frame_reads_back_as_its_content() {
        assert_eq!(unframe(&frame_message(b"hi")), Content::Message(b"hi"));
        assert_eq!(unframe(&frame_message(b"")), Content::Message(b""));
        assert_eq!(unframe(&frame_group_keys(b"keys")), Content::GroupKeys(b"keys"));
        assert_eq!(unframe(&frame_group_key_request(b"g")), Content::GroupKeyRequest(b"g"));
        assert_eq!(unframe(&frame_heal()), Content::Heal);
        let id = MessageId { ratchet_key: [9; 32], counter: 7 };
        assert_eq!(unframe(&frame_retry_receipt(&[id], 5)), Content::RetryReceipt { ids: vec![id], at: 5 });
        let many: Vec<MessageId> = (0..=MAX_RECEIPT_IDS as u32).map(|n| MessageId { counter: n, ..id }).collect();
        let full = frame_retry_receipt(&many, 5);
        assert_eq!(
            unframe(&full),
            Content::RetryReceipt { ids: many[..MAX_RECEIPT_IDS].to_vec(), at: 5 },
            "at most the limit"
        );
        let mut over = frame_retry_receipt(&many[..MAX_RECEIPT_IDS], 5).to_vec();
        over.extend_from_slice(&[0; ID_LEN]);
        assert_eq!(unframe(&over), Content::Unknown(Some(0x04)), "one past the limit");
        assert_eq!(unframe(&frame_retry_receipt(&[], 5)), Content::Unknown(Some(0x04)), "none");
        let hi = frame_message(b"hi");
        assert_eq!(unframe(&frame_resend(&id, &hi)), Content::Resend { id, original: &hi });
        let copy = frame_transcript("bob", b"hi");
        assert_eq!(unframe(&copy), Content::Transcript { user: b"bob", envelope: b"hi" });
        assert_eq!(unframe(&frame_resend(&id, &copy)), Content::Resend { id, original: &copy });
        assert_eq!(unframe(&[0x09, 4, b'b']), Content::Unknown(Some(0x09)), "a user cut short");
        assert_eq!(unframe(&[0x09]), Content::Unknown(Some(0x09)), "no user length");
        assert_eq!(unframe(&frame_resend(&id, &frame_heal())), Content::Unknown(Some(0x05)), "only messages");
        assert_eq!(unframe(&[0x04, 0]), Content::Unknown(Some(0x04)), "a receipt has its exact length");
        assert_eq!(unframe(&[0x05, 0]), Content::Unknown(Some(0x05)));
        assert_eq!(unframe(&[0x03, 0]), Content::Unknown(Some(0x03)), "a heal has no body");
        let g = GroupMessageId { state_id: [3; 16], index: 9 };
        assert_eq!(
            unframe(&frame_group_retry_receipt(b"g", &[g], 5)),
            Content::GroupRetryReceipt { group_id: b"g", ids: vec![g], at: 5 }
        );
        let gs: Vec<GroupMessageId> = (0..=MAX_RECEIPT_IDS as u32).map(|index| GroupMessageId { index, ..g }).collect();
        assert_eq!(
            unframe(&frame_group_retry_receipt(b"g", &gs, 5)),
            Content::GroupRetryReceipt { group_id: b"g", ids: gs[..MAX_RECEIPT_IDS].to_vec(), at: 5 },
            "at most the limit"
        );
        let mut over = frame_group_retry_receipt(b"g", &gs[..MAX_RECEIPT_IDS], 5).to_vec();
        over.extend_from_slice(&[0; GroupMessageId::LEN]);
        assert_eq!(unframe(&over), Content::Unknown(Some(0x06)), "one past the limit");
        assert_eq!(
            unframe(&frame_group_resend(b"g", &g, b"hi")),
            Content::GroupResend { group_id: b"g", id: g, body: b"hi" }
        );
        let long = [0x61; 65];
        assert_eq!(
            unframe(&frame_group_resend(&long[..64], &g, b"")),
            Content::GroupResend { group_id: &long[..64], id: g, body: b"" },
            "a group id at its limit"
        );
        assert_eq!(unframe(&[&[0x07, 65][..], &long, &[0; 20]].concat()), Content::Unknown(Some(0x07)), "one past it");
        assert_eq!(unframe(&frame_resync(42)), Content::Resync { at: 42 });
        assert_eq!(unframe(&frame_resync(42)[..8]), Content::Unknown(Some(0x08)), "a resync has its exact length");
        assert_eq!(unframe(&[0x7f, 1, 2]), Content::Unknown(Some(0x7f)));
        assert_eq!(unframe(&[]), Content::Unknown(None));
    }
}
