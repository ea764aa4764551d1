//! What attachment encryption and decryption refuse.

use core::fmt;
use std::io;

/// An attachment could not be encrypted or decrypted, or a pointer is
/// invalid. A refused decryption releases no plaintext of the chunk it
/// names, and changes nothing (docs/PROTOCOL.md §14.4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The blob starts with a version byte this crate does not read.
    UnsupportedVersion(u8),
    /// The blob's key commitment does not match the pointer's key: the
    /// blob belongs to another attachment, or the key is wrong.
    WrongKey,
    /// A chunk failed authentication: it was changed, moved, taken from
    /// another attachment, or the blob was cut at a chunk boundary and a
    /// middle chunk is being read as the last.
    Chunk {
        /// The chunk's index (0 for the first).
        index: u64,
    },
    /// The bytes after the attachment's size inside the last chunks are
    /// not zero. Only a holder of the key can produce this.
    Padding {
        /// The chunk's index.
        index: u64,
    },
    /// The blob ends before its last chunk does.
    Truncated,
    /// Bytes follow the blob's last chunk.
    TrailingBytes,
    /// The whole blob's SHA-256 is not the pointer's digest. Every chunk
    /// authenticated, so a holder of the key made another blob.
    DigestMismatch,
    /// The attachment would pass [`super::MAX_ATTACHMENT_LEN`] bytes.
    TooLarge {
        /// The most an attachment holds.
        max: u64,
    },
    /// A pointer field is longer than its limit.
    FieldTooLong {
        /// `"content type"`, `"file name"` or `"location"`.
        field: &'static str,
        /// The field's length in bytes.
        len: usize,
        /// Its limit.
        max: usize,
    },
    /// An encoded pointer ([`super::AttachmentPointer::from_bytes`]) is
    /// malformed: cut short, trailing bytes, a field past its limit or not
    /// UTF-8, or a size past [`super::MAX_ATTACHMENT_LEN`].
    MalformedPointer,
    /// A chunk index at or past the attachment's chunk count.
    NoSuchChunk {
        /// The index asked for.
        index: u64,
        /// How many chunks the attachment has.
        chunks: u64,
    },
    /// The encryptor was given plaintext after
    /// [`super::AttachmentEncryptor::finish`] began, or asked to finish
    /// after it returned the pointer.
    Finished,
}

impl fmt::Display for AttachmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion(v) => write!(f, "attachment version {v} is not supported"),
            Self::WrongKey => f.write_str("the attachment key does not match the blob"),
            Self::Chunk { index } => write!(f, "attachment chunk {index} failed authentication"),
            Self::Padding { index } => write!(f, "attachment chunk {index} has non-zero padding"),
            Self::Truncated => f.write_str("the attachment blob is cut short"),
            Self::TrailingBytes => f.write_str("bytes follow the attachment blob"),
            Self::DigestMismatch => f.write_str("the attachment blob does not match the pointer's digest"),
            Self::TooLarge { max } => write!(f, "an attachment holds at most {max} bytes"),
            Self::FieldTooLong { field, len, max } => {
                write!(f, "attachment {field} is {len} bytes; at most {max}")
            }
            Self::MalformedPointer => f.write_str("malformed attachment pointer"),
            Self::NoSuchChunk { index, chunks } => write!(f, "attachment chunk {index} of {chunks} does not exist"),
            Self::Finished => f.write_str("the attachment encryptor has finished"),
        }
    }
}

impl std::error::Error for AttachmentError {}

impl AttachmentError {
    /// The `AttachmentError` inside an [`io::Error`] returned by an
    /// [`super::AttachmentReader`] or [`super::AttachmentWriter`], if the
    /// error is dmseal's rather than the underlying reader's or writer's.
    pub fn from_io(error: &io::Error) -> Option<&Self> {
        error.get_ref().and_then(|e| e.downcast_ref::<Self>())
    }
}

impl From<AttachmentError> for io::Error {
    /// An [`io::ErrorKind::InvalidData`] error (`InvalidInput` for a
    /// caller's mistake) holding the `AttachmentError`.
    fn from(error: AttachmentError) -> Self {
        let kind = match error {
            AttachmentError::TooLarge { .. }
            | AttachmentError::FieldTooLong { .. }
            | AttachmentError::NoSuchChunk { .. }
            | AttachmentError::Finished => io::ErrorKind::InvalidInput,
            AttachmentError::Truncated => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        Self::new(kind, error)
    }
}
