//! Content types of the 1:1 plaintexts that [`crate::Conversations`]
//! encrypts (docs/PROTOCOL.md §13.6): one byte before the body. The raw
//! [`crate::Session`] API adds none.

use zeroize::Zeroizing;

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

/// What a decrypted 1:1 plaintext holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Content<'a> {
    /// The application's bytes.
    Message(&'a [u8]),
    /// A sender-key distribution for a group.
    GroupKeys(&'a [u8]),
    /// A request for this device's sender keys of the group it names.
    GroupKeyRequest(&'a [u8]),
    /// The sender started a new session because its old one broke.
    Heal,
    /// A content type this version does not know, or none (an empty
    /// plaintext).
    Unknown(Option<u8>),
}

/// `content type || body` for an application message.
pub(crate) fn frame_message(body: &[u8]) -> Zeroizing<Vec<u8>> {
    frame(FRAME_MESSAGE, body)
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
        Some((&FRAME_GROUP_KEYS, body)) => Content::GroupKeys(body),
        Some((&FRAME_GROUP_KEY_REQUEST, body)) => Content::GroupKeyRequest(body),
        Some((&FRAME_HEAL, [])) => Content::Heal,
        Some((&other, _)) => Content::Unknown(Some(other)),
        None => Content::Unknown(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_frame_reads_back_as_its_content() {
        assert_eq!(unframe(&frame_message(b"hi")), Content::Message(b"hi"));
        assert_eq!(unframe(&frame_message(b"")), Content::Message(b""));
        assert_eq!(unframe(&frame_group_keys(b"keys")), Content::GroupKeys(b"keys"));
        assert_eq!(unframe(&frame_group_key_request(b"g")), Content::GroupKeyRequest(b"g"));
        assert_eq!(unframe(&frame_heal()), Content::Heal);
        assert_eq!(unframe(&[0x03, 0]), Content::Unknown(Some(0x03)), "a heal has no body");
        assert_eq!(unframe(&[0x7f, 1, 2]), Content::Unknown(Some(0x7f)));
        assert_eq!(unframe(&[]), Content::Unknown(None));
    }
}
