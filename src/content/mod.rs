//! The content envelope (docs/PROTOCOL.md §13.12): what a
//! [`crate::Conversations`] message carries inside the encryption.
//!
//! Every application message has a random [`MessageId`], the sender's
//! timestamp, the sender's disappearing-message timer, and typed
//! [`Content`]: text, an application-defined payload with its type,
//! edits, deletions and reactions that refer to a message id, delivery and
//! read receipts, and timer changes. Applications extend it through
//! [`Content::Payload`]; a content kind from a newer version arrives as
//! [`Content::Unknown`], never as an error. Every plaintext is padded
//! inside the encryption to a size bucket ([`Padding`]), so the server
//! sees only the bucket.
//!
//! ```
//! use dmseal::content::{Content, MessageId, ReceiptKind};
//!
//! // Plain bytes are a payload of the application's own format (kind ""),
//! // a string is text.
//! assert_eq!(Content::from(&b"\x01\x02"[..]), Content::Payload { kind: String::new(), bytes: vec![1, 2] });
//! assert_eq!(Content::from("hi Bob"), Content::Text("hi Bob".into()));
//! // A read receipt for two messages.
//! let (first, second) = (MessageId::from_bytes([1; 16]), MessageId::from_bytes([2; 16]));
//! let receipt = Content::Receipt { kind: ReceiptKind::Read, ids: vec![first, second] };
//! assert_eq!(receipt.text(), None);
//! ```

mod padding;
pub(crate) mod timer;

use core::fmt;

use zeroize::Zeroize;

pub use self::padding::{MIN_PADDED_LEN, Padding};
pub(crate) use self::padding::{padme, unpad};
pub use self::timer::MAX_TIMER_CLOCK_SKEW;

/// The longest type name of a [`Content::Payload`]: 64 bytes of UTF-8.
pub const MAX_PAYLOAD_KIND_LEN: usize = 64;
/// The longest reaction ([`Content::Reaction`]): 64 bytes of UTF-8 (an
/// emoji with modifiers fits many times over).
pub const MAX_REACTION_LEN: usize = 64;
/// The most messages one delivery or read receipt
/// ([`Content::Receipt`]) names: 100. Acknowledge more in several.
pub const MAX_RECEIPT_MESSAGES: usize = 100;

/// ContentEnvelope kind bytes (docs/PROTOCOL.md §13.12).
const KIND_TEXT: u8 = 0x01;
const KIND_PAYLOAD: u8 = 0x02;
const KIND_EDIT: u8 = 0x03;
const KIND_DELETE: u8 = 0x04;
const KIND_REACTION: u8 = 0x05;
const KIND_RECEIPT: u8 = 0x06;
const KIND_TIMER: u8 = 0x07;
const KIND_ATTACHMENT: u8 = 0x08;

/// The header before the kind: id (16), `u64 sent_at`, `u32 timer`.
const HEADER_LEN: usize = 16 + 8 + 4;

/// A message's name: 16 random bytes chosen by its sender. Edits,
/// deletions, reactions and receipts refer to messages by it. Its text
/// form is 32 lowercase hex digits.
///
/// An id is unique with overwhelming probability but says nothing about
/// who sent the message: an application that applies an edit or a
/// deletion checks that it comes from the original's sender.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MessageId([u8; 16]);

impl MessageId {
    /// The id with these bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Its bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A fresh random id.
    pub(crate) fn random<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Reads an id off the front of `bytes`.
    fn read(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (id, rest) = bytes.split_first_chunk::<16>()?;
        Some((Self(*id), rest))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

/// Why a text form is not a [`MessageId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseMessageIdError;

impl fmt::Display for ParseMessageIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message id is 32 lowercase hex digits")
    }
}

impl std::error::Error for ParseMessageIdError {}

impl core::str::FromStr for MessageId {
    type Err = ParseMessageIdError;

    /// Reads the 32 lowercase hex digits of [`MessageId`]'s `Display`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        fn digit(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let digits = s.as_bytes();
        if digits.len() != 32 {
            return Err(ParseMessageIdError);
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let (hi, lo) = match pair {
                [hi, lo] => (digit(*hi), digit(*lo)),
                _ => (None, None),
            };
            *byte = hi.zip(lo).map(|(h, l)| h << 4 | l).ok_or(ParseMessageIdError)?;
        }
        Ok(Self(bytes))
    }
}

/// What a delivery or read receipt says ([`Content::Receipt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReceiptKind {
    /// The messages reached a device of the receipt's sender.
    Delivered,
    /// The receipt's sender has read the messages.
    Read,
}

/// The typed content of a message.
///
/// dmseal itself acts only on [`Content::Timer`] (it changes the
/// conversation's disappearing-message timer); everything else is for the
/// application to show or apply. Receipts are optional: dmseal never sends
/// one by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Content {
    /// A text message (UTF-8).
    Text(String),
    /// A payload in a format of the application's, named by `kind` (at
    /// most [`MAX_PAYLOAD_KIND_LEN`] bytes of UTF-8; `""` for an
    /// application with one format). Plain bytes passed to
    /// [`crate::Conversations::send`] become a payload of kind `""`.
    Payload {
        /// The payload's type, for the application to dispatch on.
        kind: String,
        /// The payload.
        bytes: Vec<u8>,
    },
    /// A new version of the message `target`: its new content, a
    /// [`Content::Text`] or a [`Content::Payload`].
    Edit {
        /// The message edited.
        target: MessageId,
        /// Its new content.
        content: Box<Content>,
    },
    /// The sender deletes its message `target` for everyone.
    Delete {
        /// The message deleted.
        target: MessageId,
    },
    /// A reaction to the message `target`, or its removal.
    Reaction {
        /// The message reacted to.
        target: MessageId,
        /// The reaction (1 to [`MAX_REACTION_LEN`] bytes of UTF-8).
        emoji: String,
        /// Whether this removes the sender's earlier reaction `emoji`.
        remove: bool,
    },
    /// A delivery or read receipt for 1 to [`MAX_RECEIPT_MESSAGES`]
    /// messages.
    Receipt {
        /// Delivered or read.
        kind: ReceiptKind,
        /// The messages.
        ids: Vec<MessageId>,
    },
    /// The conversation's disappearing-message timer changes to `seconds`
    /// (`0` turns it off) from this message on. Sent with
    /// [`crate::Conversations::send`] or
    /// [`crate::Conversations::send_group`] like any content; every device
    /// of the conversation applies it, and a change delivered late never
    /// overrides a newer one ([`crate::Event::TimerChanged`] says when one
    /// applies).
    Timer {
        /// The new timer, in seconds; `0` for none.
        seconds: u32,
    },
    /// A file sent apart from the message: the pointer to its encrypted
    /// blob ([`crate::attachment`]), with the key that decrypts it.
    Attachment(crate::attachment::AttachmentPointer),
    /// A content kind this version does not know (from a newer version):
    /// delivered as it is, for the application to ignore or show as
    /// "update to see this message".
    Unknown {
        /// The kind byte.
        kind: u8,
        /// Its body, unparsed.
        body: Vec<u8>,
    },
}

impl Content {
    /// The text of a [`Content::Text`].
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The bytes [`crate::Received::plaintext`] shows: a text's UTF-8 or
    /// a payload's bytes; empty for other content.
    pub(crate) fn plain_bytes(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Payload { bytes, .. } => bytes,
            _ => &[],
        }
    }

    /// Whether this content can be encoded: every length within its limit,
    /// and an edit's new content a text or a payload.
    pub(crate) fn is_valid(&self) -> bool {
        match self {
            Self::Text(_) | Self::Delete { .. } | Self::Timer { .. } | Self::Attachment(_) => true,
            Self::Payload { kind, .. } => kind.len() <= MAX_PAYLOAD_KIND_LEN,
            Self::Edit { content, .. } => {
                matches!(**content, Self::Text(_) | Self::Payload { .. }) && content.is_valid()
            }
            Self::Reaction { emoji, .. } => (1..=MAX_REACTION_LEN).contains(&emoji.len()),
            Self::Receipt { ids, .. } => (1..=MAX_RECEIPT_MESSAGES).contains(&ids.len()),
            Self::Unknown { kind, .. } => *kind == 0 || *kind > KIND_ATTACHMENT,
        }
    }

    /// The kind byte and body of this content; `timer_version` is the
    /// body of a timer change.
    fn encode_body(&self, timer_version: u32, out: &mut Vec<u8>) {
        match self {
            Self::Text(text) => {
                out.push(KIND_TEXT);
                out.extend_from_slice(text.as_bytes());
            }
            Self::Payload { kind, bytes } => {
                out.push(KIND_PAYLOAD);
                out.push(u8::try_from(kind.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(bytes);
            }
            Self::Edit { target, content } => {
                out.push(KIND_EDIT);
                out.extend_from_slice(target.as_bytes());
                content.encode_body(timer_version, out);
            }
            Self::Delete { target } => {
                out.push(KIND_DELETE);
                out.extend_from_slice(target.as_bytes());
            }
            Self::Reaction { target, emoji, remove } => {
                out.push(KIND_REACTION);
                out.extend_from_slice(target.as_bytes());
                out.push(u8::from(*remove));
                out.extend_from_slice(emoji.as_bytes());
            }
            Self::Receipt { kind, ids } => {
                out.push(KIND_RECEIPT);
                out.push(match kind {
                    ReceiptKind::Delivered => 0,
                    ReceiptKind::Read => 1,
                });
                for id in ids {
                    out.extend_from_slice(id.as_bytes());
                }
            }
            Self::Timer { .. } => {
                out.push(KIND_TIMER);
                out.extend_from_slice(&timer_version.to_be_bytes());
            }
            Self::Attachment(pointer) => {
                out.push(KIND_ATTACHMENT);
                pointer.encode(out);
            }
            Self::Unknown { kind, body } => {
                out.push(*kind);
                out.extend_from_slice(body);
            }
        }
    }

    /// Reads `kind || body`; `timer` is the envelope's timer (the value of
    /// a timer change). `None` if a known kind's body is malformed.
    fn decode_body(bytes: &[u8], timer: u32) -> Option<(Self, u32)> {
        let (&kind, body) = bytes.split_first()?;
        let utf8 = |b: &[u8]| core::str::from_utf8(b).ok().map(str::to_owned);
        let content = match kind {
            KIND_TEXT => Self::Text(utf8(body)?),
            KIND_PAYLOAD => {
                let (&len, rest) = body.split_first()?;
                let (name, bytes) = rest.split_at_checked(usize::from(len))?;
                if name.len() > MAX_PAYLOAD_KIND_LEN {
                    return None;
                }
                Self::Payload { kind: utf8(name)?, bytes: bytes.to_vec() }
            }
            KIND_EDIT => {
                let (target, rest) = MessageId::read(body)?;
                match rest.first() {
                    Some(&(KIND_TEXT | KIND_PAYLOAD)) => {}
                    _ => return None,
                }
                let (content, _) = Self::decode_body(rest, timer)?;
                Self::Edit { target, content: Box::new(content) }
            }
            KIND_DELETE => match MessageId::read(body)? {
                (target, []) => Self::Delete { target },
                _ => return None,
            },
            KIND_REACTION => {
                let (target, rest) = MessageId::read(body)?;
                let (remove, emoji) = match rest.split_first()? {
                    (0, emoji) => (false, emoji),
                    (1, emoji) => (true, emoji),
                    _ => return None,
                };
                if !(1..=MAX_REACTION_LEN).contains(&emoji.len()) {
                    return None;
                }
                Self::Reaction { target, emoji: utf8(emoji)?, remove }
            }
            KIND_RECEIPT => {
                let (kind, ids) = match body.split_first()? {
                    (0, ids) => (ReceiptKind::Delivered, ids),
                    (1, ids) => (ReceiptKind::Read, ids),
                    _ => return None,
                };
                let (chunks, rest) = ids.as_chunks::<16>();
                if !rest.is_empty() || !(1..=MAX_RECEIPT_MESSAGES).contains(&chunks.len()) {
                    return None;
                }
                Self::Receipt { kind, ids: chunks.iter().map(|c| MessageId(*c)).collect() }
            }
            KIND_TIMER => {
                let version = <[u8; 4]>::try_from(body).ok()?;
                return Some((Self::Timer { seconds: timer }, u32::from_be_bytes(version)));
            }
            KIND_ATTACHMENT => Self::Attachment(crate::attachment::AttachmentPointer::from_bytes(body).ok()?),
            _ => Self::Unknown { kind, body: body.to_vec() },
        };
        Some((content, 0))
    }
}

impl Zeroize for Content {
    fn zeroize(&mut self) {
        match self {
            Self::Text(text) => text.zeroize(),
            Self::Payload { kind, bytes } => {
                kind.zeroize();
                bytes.zeroize();
            }
            Self::Edit { content, .. } => content.zeroize(),
            Self::Reaction { emoji, .. } => emoji.zeroize(),
            Self::Unknown { body, .. } => body.zeroize(),
            Self::Attachment(pointer) => pointer.zeroize(),
            Self::Delete { .. } | Self::Receipt { .. } | Self::Timer { .. } => {}
        }
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&[u8]> for Content {
    fn from(bytes: &[u8]) -> Self {
        Self::Payload { kind: String::new(), bytes: bytes.to_vec() }
    }
}

impl<const N: usize> From<&[u8; N]> for Content {
    fn from(bytes: &[u8; N]) -> Self {
        Self::from(&bytes[..])
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Payload { kind: String::new(), bytes }
    }
}

impl From<&Vec<u8>> for Content {
    fn from(bytes: &Vec<u8>) -> Self {
        Self::from(&bytes[..])
    }
}

impl From<&String> for Content {
    fn from(text: &String) -> Self {
        Self::Text(text.clone())
    }
}

impl From<&Content> for Content {
    fn from(content: &Content) -> Self {
        content.clone()
    }
}

/// The conversation a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Destination {
    /// The 1:1 conversation with this user.
    User(String),
    /// The group with this id.
    Group(Vec<u8>),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(user) => write!(f, "user {user}"),
            Self::Group(id) => {
                f.write_str("group ")?;
                id.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// A decoded envelope (docs/PROTOCOL.md §13.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentEnvelope {
    /// The message's id.
    pub(crate) id: MessageId,
    /// The sender's clock when it sent it (seconds since the Unix epoch).
    pub(crate) sent_at: u64,
    /// The sender's disappearing-message timer for it, in seconds; `0`
    /// for none.
    pub(crate) timer: u32,
    /// For a timer change, its version (§13.12); otherwise `0`.
    pub(crate) timer_version: u32,
    /// What it carries.
    pub(crate) content: Content,
}

impl Zeroize for ContentEnvelope {
    fn zeroize(&mut self) {
        self.content.zeroize();
    }
}

impl ContentEnvelope {
    /// `id || u64 sent_at || u32 timer || u8 kind || body`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.sent_at.to_be_bytes());
        out.extend_from_slice(&self.timer.to_be_bytes());
        self.content.encode_body(self.timer_version, out);
    }

    /// Reads an envelope; `None` if it is too short or a known kind's
    /// body is malformed. An unknown kind reads as [`Content::Unknown`].
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let (header, body) = bytes.split_at_checked(HEADER_LEN)?;
        let (id, rest) = MessageId::read(header)?;
        let (sent_at, timer) = rest.split_first_chunk::<8>()?;
        let timer = u32::from_be_bytes(<[u8; 4]>::try_from(timer).ok()?);
        let (content, timer_version) = Content::decode_body(body, timer)?;
        Some(Self { id, sent_at: u64::from_be_bytes(*sent_at), timer, timer_version, content })
    }
}

#[cfg(test)]
mod tests;
