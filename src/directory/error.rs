//! What a [`super::Directory`] refuses.

use crate::error::DecodeError;
use crate::store::StoreError;

/// An upload or a claim failed. Every refusal changes nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The upload's bytes are malformed or hold an invalid key.
    Malformed(DecodeError),
    /// A signature does not verify under the upload's identity (§3.2):
    /// the upload is forged or corrupted. `what` names the part.
    BadSignature {
        /// The part whose signature failed: `"identity upload"`,
        /// `"signed prekey"`, `"last-resort PQ prekey"`, `"prekey batch"`
        /// or `"one-time PQ prekey"`.
        what: &'static str,
    },
    /// The signed prekey says its owner publishes PQ prekeys, but the
    /// identity upload has no last-resort PQ prekey.
    MissingPqPreKey,
    /// The identity upload has a last-resort PQ prekey although its
    /// signed prekey does not carry the PQ capability.
    UnexpectedPqPreKey,
    /// No identity upload is stored for the device.
    UnknownDevice,
    /// The device's address is held by another identity. A reinstall
    /// starts over after [`super::Directory::remove_device`], which is the
    /// server's decision.
    IdentityChanged,
    /// The upload is older than what is stored: an identity upload with a
    /// lower signed prekey id, last-resort PQ prekey id or date, or a
    /// batch with ids the directory has taken before (a replay).
    StaleUpload,
    /// The batch would take the device's one-time prekeys of one kind
    /// past the most a directory holds.
    Full {
        /// `"one-time prekeys"` or `"one-time PQ prekeys"`.
        what: &'static str,
        /// How many are held.
        held: usize,
        /// How many the batch adds.
        adding: usize,
        /// The most held.
        max: usize,
    },
    /// The directory's store failed or a concurrent upload for the same
    /// device came first ([`StoreError::Conflict`]: send again).
    Store(StoreError),
}

impl DirectoryError {
    /// Whether the same upload or claim can succeed later: a store
    /// conflict or failure.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_transient())
    }
}

impl core::fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Malformed(_) => f.write_str("upload is malformed"),
            Self::BadSignature { what } => write!(f, "{what} signature does not verify"),
            Self::MissingPqPreKey => {
                f.write_str("identity upload lacks the last-resort PQ prekey its signed prekey promises")
            }
            Self::UnexpectedPqPreKey => f.write_str("identity upload has a last-resort PQ prekey but no PQ capability"),
            Self::UnknownDevice => f.write_str("no identity upload for this device"),
            Self::IdentityChanged => f.write_str("this device address is held by another identity"),
            Self::StaleUpload => f.write_str("upload is older than what the directory holds"),
            Self::Full { what, held, adding, max } => {
                write!(f, "{held} {what} held, adding {adding} would pass the maximum {max}")
            }
            Self::Store(_) => f.write_str("directory store failed"),
        }
    }
}

impl std::error::Error for DirectoryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed(e) => Some(e),
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for DirectoryError {
    fn from(e: DecodeError) -> Self {
        Self::Malformed(e)
    }
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
