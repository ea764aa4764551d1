//! Error types, one small enum per operation.
//!
//! No error carries key bytes or plaintext, and none says more than its
//! documentation. Each variant's documentation says what the caller should
//! do next.

use core::fmt;

/// A public key failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The encoding is not canonical (X25519: bit 255 set or u >= p;
    /// Ed25519: y >= p). Refuse the input that carried it.
    NonCanonical,
    /// The key is a point of small order. Refuse the input that carried it.
    LowOrder,
    /// No Ed25519 point has this encoding. Refuse the input that carried it.
    NotOnCurve,
    /// An X25519 result was all zeros (the peer's key is of small order).
    /// Refuse the input that carried the key.
    NonContributory,
    /// An ML-KEM-768 encapsulation key has the wrong length or fails the
    /// FIPS 203 modulus check. Refuse the input that carried it.
    InvalidKemKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NonCanonical => "public key encoding is not canonical",
            Self::LowOrder => "public key is a point of small order",
            Self::NotOnCurve => "public key is not a curve point",
            Self::NonContributory => "key agreement result is not contributory",
            Self::InvalidKemKey => "ML-KEM encapsulation key is invalid",
        })
    }
}

impl std::error::Error for KeyError {}

/// Bytes could not be decoded as the expected wire type. The input is
/// malformed or hostile: drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends before the encoding does.
    Truncated,
    /// Bytes follow the end of the encoding.
    TrailingBytes,
    /// The version byte is not one this crate reads. A newer peer may have
    /// sent it: upgrade, or drop the input.
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The version this crate reads.
        supported: u8,
    },
    /// The type byte names a different kind of encoding (for instance a
    /// bundle where a message was expected).
    WrongType {
        /// The type byte found.
        found: u8,
        /// The type byte expected.
        expected: u8,
    },
    /// A length field is larger than its documented maximum.
    TooLong {
        /// The length found.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Sender-key tree nodes that are invalid, overlap or are out of order.
    InvalidKeyTree,
    /// A sender-key record's state id is not the one derived from its
    /// signing key (docs/PROTOCOL.md §12.3): the distribution or export is
    /// forged (a member claiming another's state id) or corrupted. Drop it.
    InvalidStateId,
    /// A flags byte has bits this version does not define.
    UnknownFlags {
        /// The flags byte found.
        flags: u8,
    },
    /// A key-type byte names no key type this version knows.
    UnknownKeyType {
        /// The key-type byte found.
        found: u8,
    },
    /// A PQ prekey kind byte is neither one-time nor last-resort.
    UnknownPqPreKeyKind {
        /// The kind byte found.
        found: u8,
    },
    /// A varint is overlong (not the minimal encoding), overflows `u32`, or
    /// runs past five bytes.
    NonCanonicalVarint,
    /// A text field (a user id) is not valid UTF-8, or is empty.
    InvalidText,
    /// A key in the encoding is invalid.
    InvalidKey(KeyError),
    /// An identity's Ed25519 key did not sign its X25519 key: the identity
    /// is forged or corrupted.
    BadIdentityBinding,
    /// A PQ prekey of the other kind where the encoding allows only one:
    /// a one-time key in an identity upload or a last-resort key in a
    /// prekey batch (docs/PROTOCOL.md §4.6, §4.7).
    UnexpectedPqPreKeyKind {
        /// The kind byte found.
        found: u8,
    },
    /// The prekey ids of a batch do not rise strictly (docs/PROTOCOL.md
    /// §4.7): a key repeated, or out of order.
    PreKeysOutOfOrder,
    /// A device link statement names the new device as its own linker
    /// (docs/PROTOCOL.md §13.14).
    SelfLink,
    /// A device link statement in a bundle or an identity upload is about
    /// another identity than the one it comes with.
    LinkMismatch,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("input is truncated"),
            Self::TrailingBytes => f.write_str("input has trailing bytes"),
            Self::UnsupportedVersion { found, supported } => {
                write!(f, "unsupported wire version {found} (this crate reads {supported})")
            }
            Self::WrongType { found, expected } => write!(f, "wrong type byte {found:#04x}, expected {expected:#04x}"),
            Self::TooLong { len, max } => write!(f, "length {len} exceeds the maximum {max}"),
            Self::InvalidKeyTree => f.write_str("sender-key tree nodes are invalid"),
            Self::InvalidStateId => f.write_str("sender state id is not derived from its signing key"),
            Self::UnknownFlags { flags } => write!(f, "unknown flag bits in {flags:#04x}"),
            Self::UnknownKeyType { found } => write!(f, "unknown key type {found:#04x}"),
            Self::UnknownPqPreKeyKind { found } => write!(f, "unknown PQ prekey kind {found:#04x}"),
            Self::NonCanonicalVarint => f.write_str("varint is overlong or out of range"),
            Self::InvalidText => f.write_str("text field is empty or not UTF-8"),
            Self::InvalidKey(_) => f.write_str("invalid key"),
            Self::BadIdentityBinding => f.write_str("identity binding signature is invalid"),
            Self::UnexpectedPqPreKeyKind { found } => write!(f, "PQ prekey kind {found:#04x} is not allowed here"),
            Self::PreKeysOutOfOrder => f.write_str("prekey ids do not rise strictly"),
            Self::SelfLink => f.write_str("device link names the device as its own linker"),
            Self::LinkMismatch => f.write_str("device link is about another identity"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidKey(e) => Some(e),
            _ => None,
        }
    }
}

impl From<KeyError> for DecodeError {
    fn from(e: KeyError) -> Self {
        Self::InvalidKey(e)
    }
}

/// Managing prekeys failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreKeyError {
    /// Generating would store more one-time prekeys than the cap. Nothing
    /// was generated. Wait until published ones are used, or remove some.
    TooManyOneTimePreKeys {
        /// How many are stored now.
        stored: usize,
        /// How many were asked for.
        requested: usize,
        /// The cap, [`crate::limits::MAX_ONE_TIME_PREKEYS`].
        max: usize,
    },
    /// The requested grace period is longer than allowed.
    GracePeriodTooLong {
        /// The grace period asked for, in seconds.
        got: u64,
        /// The maximum, [`crate::limits::MAX_SIGNED_PREKEY_GRACE_SECS`].
        max: u64,
    },
    /// Prekey ids are exhausted (2^32 ids used). Create a new account.
    IdsExhausted,
    /// No one-time prekey with this id is stored.
    UnknownOneTimePreKey {
        /// The id asked for.
        id: u32,
    },
}

impl fmt::Display for PreKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyOneTimePreKeys { stored, requested, max } => {
                write!(f, "{stored} one-time prekeys stored, {requested} more would pass the cap of {max}")
            }
            Self::GracePeriodTooLong { got, max } => {
                write!(f, "grace period {got} s is longer than the maximum {max} s")
            }
            Self::IdsExhausted => f.write_str("prekey ids are exhausted"),
            Self::UnknownOneTimePreKey { id } => write!(f, "no one-time prekey with id {id}"),
        }
    }
}

impl std::error::Error for PreKeyError {}

/// Starting a session from a bundle failed. Nothing changed; the bundle
/// should not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// The signed prekey's signature is invalid: the bundle is forged or
    /// corrupted. Fetch it again; report the server if it repeats.
    BadSignedPreKeySignature,
    /// The PQ prekey's signature is invalid (forged, corrupted, or its kind
    /// or id changed). Fetch the bundle again; report the server if it
    /// repeats.
    BadPqPreKeySignature,
    /// The bundle has no PQ prekey (and its owner did not sign that it
    /// publishes them) and this account does not start the weaker classic
    /// X3DH setup ([`crate::ClassicX3dh::AcceptAndInitiate`]).
    MissingPqPreKey,
    /// The bundle's owner signed, with its signed prekey, that it publishes
    /// PQ prekeys, but the bundle has none (or its capability bit was
    /// cleared): whoever served it removed the PQ prekey to downgrade the
    /// session. Refused whatever [`crate::ClassicX3dh`] says; fetch the
    /// bundle again and report the server if it repeats. In a conversation
    /// it is also the error for any bundle without a PQ prekey for a device
    /// that used PQXDH before (docs/PROTOCOL.md §13.4).
    PqPreKeyStripped,
    /// A key agreement result was not contributory.
    InvalidKey(KeyError),
    /// The context is longer than [`crate::limits::MAX_CONTEXT_LEN`].
    ContextTooLong {
        /// The context length given.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The bundle is this account's own.
    OwnBundle,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignedPreKeySignature => f.write_str("signed prekey signature is invalid"),
            Self::BadPqPreKeySignature => f.write_str("PQ prekey signature is invalid"),
            Self::MissingPqPreKey => f.write_str("bundle has no PQ prekey and classic X3DH is not allowed"),
            Self::PqPreKeyStripped => {
                f.write_str("bundle's owner publishes PQ prekeys but the bundle has none: it was stripped")
            }
            Self::InvalidKey(_) => f.write_str("invalid key"),
            Self::ContextTooLong { len, max } => write!(f, "context is {len} bytes, the maximum is {max}"),
            Self::OwnBundle => f.write_str("the bundle belongs to this account"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidKey(e) => Some(e),
            _ => None,
        }
    }
}

impl From<KeyError> for StartError {
    fn from(e: KeyError) -> Self {
        Self::InvalidKey(e)
    }
}

/// Opening a first (prekey) message failed. The account is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FirstMessageError {
    /// The bytes are not a valid prekey message.
    Decode(DecodeError),
    /// The context is longer than [`crate::limits::MAX_CONTEXT_LEN`].
    ContextTooLong {
        /// The context length given.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The message names a signed prekey this account does not hold
    /// (never existed, or expired after its grace period). The sender
    /// should fetch a fresh bundle.
    UnknownSignedPreKey {
        /// The signed prekey id named by the message.
        id: u32,
    },
    /// The message names a one-time prekey this account does not hold:
    /// already consumed (a replay), removed, or never issued. If a session
    /// [matches](crate::Session::matches) it, it is that session's: route
    /// it there. Otherwise drop it.
    OneTimePreKeyUnavailable {
        /// The one-time prekey id named by the message.
        id: u32,
    },
    /// A first message without a one-time prekey, with this base key, was
    /// already accepted or declined: a replay, or a later first message of
    /// a session that exists (route those to the session that
    /// [matches](crate::Session::matches) them). Otherwise drop it.
    Replay,
    /// The replay record of this signed prekey is full
    /// ([`crate::limits::MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY`]); first messages
    /// without a one-time prekey are refused for it. Rotate the signed
    /// prekey and publish more one-time prekeys.
    ReplayRecordFull {
        /// The signed prekey whose record is full.
        signed_prekey_id: u32,
    },
    /// The message was sent to this account's own identity by itself.
    OwnIdentity,
    /// A classic X3DH first message (no PQ prekey) while this account
    /// refuses the weaker classic setup ([`crate::ClassicX3dh::Refuse`]),
    /// or, in a conversation, from a device that used PQXDH before. Drop it
    /// (a downgrade attempt or an outdated peer).
    ClassicSetupRefused,
    /// The message names a PQ prekey this account does not hold: a
    /// one-time one already consumed (a replay) or removed, or a
    /// last-resort one that expired. Drop it; the sender should fetch a
    /// fresh bundle.
    UnknownPqPreKey {
        /// The kind named by the message.
        kind: crate::PqPreKeyKind,
        /// The id named by the message.
        id: u32,
    },
    /// Key agreement failed.
    InvalidKey(KeyError),
    /// The embedded message failed to decrypt (tampered, wrong context,
    /// wrong recipient). Drop it.
    Message(DecryptError),
}

impl fmt::Display for FirstMessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(_) => f.write_str("malformed prekey message"),
            Self::ContextTooLong { len, max } => write!(f, "context is {len} bytes, the maximum is {max}"),
            Self::UnknownSignedPreKey { id } => write!(f, "unknown signed prekey {id}"),
            Self::OneTimePreKeyUnavailable { id } => write!(f, "one-time prekey {id} is not available"),
            Self::Replay => f.write_str("replayed first message"),
            Self::ReplayRecordFull { signed_prekey_id } => {
                write!(f, "replay record of signed prekey {signed_prekey_id} is full; rotate it")
            }
            Self::OwnIdentity => f.write_str("first message from this account's own identity"),
            Self::ClassicSetupRefused => f.write_str("classic X3DH first message refused"),
            Self::UnknownPqPreKey { kind, id } => write!(f, "unknown PQ prekey {kind:?} {id}"),
            Self::InvalidKey(_) => f.write_str("invalid key"),
            Self::Message(_) => f.write_str("first message did not decrypt"),
        }
    }
}

impl std::error::Error for FirstMessageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            Self::InvalidKey(e) => Some(e),
            Self::Message(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for FirstMessageError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<KeyError> for FirstMessageError {
    fn from(e: KeyError) -> Self {
        Self::InvalidKey(e)
    }
}

/// Accepting or declining a pending session failed. The account is
/// unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptError {
    /// The pending session was opened by a different account.
    WrongAccount,
    /// Since the message was opened, its one-time prekey was consumed or
    /// its first message recorded (the same message was accepted or
    /// declined already): a replay. Drop it.
    Replay,
    /// See [`FirstMessageError::ReplayRecordFull`].
    ReplayRecordFull {
        /// The signed prekey whose record is full.
        signed_prekey_id: u32,
    },
    /// The signed prekey expired between opening and accepting.
    UnknownSignedPreKey {
        /// The signed prekey id.
        id: u32,
    },
    /// The last-resort PQ prekey expired between opening and accepting.
    UnknownPqPreKey {
        /// The last-resort PQ prekey id.
        id: u32,
    },
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongAccount => f.write_str("pending session belongs to another account"),
            Self::Replay => f.write_str("first message was already accepted or declined"),
            Self::ReplayRecordFull { signed_prekey_id } => {
                write!(f, "replay record of signed prekey {signed_prekey_id} is full; rotate it")
            }
            Self::UnknownSignedPreKey { id } => write!(f, "signed prekey {id} expired"),
            Self::UnknownPqPreKey { id } => write!(f, "last-resort PQ prekey {id} expired"),
        }
    }
}

impl std::error::Error for AcceptError {}

/// Encrypting failed. The session is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptError {
    /// The sending chain used every counter up to [`crate::limits::MAX_COUNTER`]
    /// (2^32 - 1 messages without a reply). A new chain starts once a
    /// message under a new ratchet key arrives from the peer; if none will,
    /// start a new session.
    ChainExhausted,
    /// Key agreement with the peer's ratchet key failed. Keys this crate
    /// stored were checked when received, so this indicates a corrupted
    /// session: discard it and start a new one.
    InvalidKey(KeyError),
}

impl fmt::Display for EncryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChainExhausted => f.write_str("sending chain exhausted; wait for a reply"),
            Self::InvalidKey(_) => f.write_str("invalid key"),
        }
    }
}

impl std::error::Error for EncryptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidKey(e) => Some(e),
            _ => None,
        }
    }
}

/// Decrypting failed. The session is exactly as it was before the call:
/// drop the message and go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptError {
    /// The bytes are not a valid message.
    Decode(DecodeError),
    /// A prekey message that belongs to no session of this pair (different
    /// initiator identity or base key), or one sent by this side. Route it
    /// to [`crate::Account::open_first_message`] if it matches no session.
    NotForThisSession,
    /// The message claims a counter (or previous-chain length) further
    /// ahead than [`crate::limits::MAX_CHAIN_JUMP`]. Refused before any chain work.
    /// Unauthenticated. If it is genuine, more messages than the limit were
    /// lost, and every later message on (or after) that chain will fail the
    /// same way: after repeated `TooFarAhead` from one peer, start a new
    /// session with a fresh bundle.
    TooFarAhead {
        /// How far ahead the message claims to be.
        got: u32,
        /// The limit.
        max: u32,
    },
    /// This message's key is gone: it was decrypted already, or its key
    /// was evicted (too old, see [`crate::limits::MAX_SKIPPED_KEYS_PER_CHAIN`] and
    /// [`crate::limits::MAX_RECEIVING_CHAINS`]), or it names a ratchet key the
    /// peer cannot be using now. Unauthenticated: a forgery looks the
    /// same. Drop it.
    DuplicateOrExpired,
    /// Authentication failed: tampered, forged, from another session, or
    /// under another context.
    AuthenticationFailed,
    /// A ratchet key failed validation or key agreement.
    InvalidKey(KeyError),
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(_) => f.write_str("malformed message"),
            Self::NotForThisSession => f.write_str("prekey message does not belong to this session"),
            Self::TooFarAhead { got, max } => write!(f, "message is {got} steps ahead, the limit is {max}"),
            Self::DuplicateOrExpired => f.write_str("message key already used or expired"),
            Self::AuthenticationFailed => f.write_str("message failed authentication"),
            Self::InvalidKey(_) => f.write_str("invalid key"),
        }
    }
}

impl std::error::Error for DecryptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            Self::InvalidKey(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for DecryptError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<KeyError> for DecryptError {
    fn from(e: KeyError) -> Self {
        Self::InvalidKey(e)
    }
}

/// Restoring a pickle failed. Nothing was restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PickleError {
    /// The bytes are not a pickle (bad magic, truncated, malformed).
    Malformed,
    /// The pickle is of another type (an account where a session was
    /// expected, or the reverse).
    WrongType {
        /// The type byte found.
        found: u8,
        /// The type byte expected.
        expected: u8,
    },
    /// The pickle's version is not one this crate reads.
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// The version this crate writes and reads.
        supported: u32,
    },
    /// Decryption failed: the key is wrong or the pickle is corrupted (an
    /// AEAD cannot tell which).
    WrongKeyOrCorrupted,
    /// The pickle decoded but its contents break an invariant (a limit
    /// exceeded, an invalid key). It was not produced by this crate.
    Invalid,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("pickle is malformed"),
            Self::WrongType { found, expected } => write!(f, "pickle type {found} where {expected} was expected"),
            Self::UnsupportedVersion { found, supported } => {
                write!(f, "pickle version {found} is not supported (this crate reads {supported})")
            }
            Self::WrongKeyOrCorrupted => f.write_str("pickle key is wrong or the pickle is corrupted"),
            Self::Invalid => f.write_str("pickle contents are invalid"),
        }
    }
}

impl std::error::Error for PickleError {}

/// A group operation failed. Group state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupError {
    /// The bytes are not a valid group message, distribution or export.
    Decode(DecodeError),
    /// A group id longer than [`crate::limits::MAX_GROUP_ID_LEN`].
    GroupIdTooLong {
        /// The length given.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A member id longer than [`crate::limits::MAX_MEMBER_ID_LEN`].
    MemberIdTooLong {
        /// The length given.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The group already has [`crate::limits::MAX_GROUP_MEMBERS`] member devices.
    TooManyMembers {
        /// The maximum.
        max: usize,
    },
    /// The distribution or export names another group. Route it to that
    /// group. (A message for another group names a sender state this
    /// group does not know: [`GroupError::UnknownSenderState`].)
    WrongGroup,
    /// The sender (or the peer that delivered a distribution) is not a
    /// member of this group.
    NotAMember,
    /// The message's sender state is unknown: its distribution has not
    /// arrived yet (keep the message and retry after it does), or it was
    /// evicted as too old.
    UnknownSenderState,
    /// The sender was removed from the group; its messages are refused.
    SenderRemoved,
    /// [`crate::Group::decrypt_from`]: the message is under a sender state
    /// of another member than the one the transport named. Refused before
    /// any other work; nothing changed.
    UnexpectedSender,
    /// A distribution or export names another member as the state's
    /// owner, its owner signature is invalid, or its state is already held
    /// for another member: a member tried to speak for someone else.
    /// Refused.
    StateOwnedByAnotherMember,
    /// A distribution for an existing state carries a different signing
    /// key. Refused.
    SigningKeyMismatch,
    /// The group message's signature is invalid for this device's key of
    /// its index: forged or altered, or signed over another key (a sender
    /// that gave members different keys for one state: the signature
    /// covers a commitment to the key, docs/PROTOCOL.md §12.4). Drop it.
    BadSignature,
    /// This message was decrypted already (its index was used). Drop it.
    Duplicate,
    /// The message's index is older than the receive window
    /// ([`crate::limits::MAX_GROUP_WINDOW`] behind the newest index read): its key
    /// is gone. Drop it.
    OutsideWindow {
        /// The message's index.
        index: u32,
        /// The oldest index still readable.
        oldest: u32,
    },
    /// The message's index is before the start of the state this member
    /// received (it joined, or the state was exported, after that message).
    BeforeStateStart {
        /// The message's index.
        index: u32,
        /// The first index of the received state.
        start: u32,
    },
    /// The message's index is after the last index of its sender state:
    /// the owner has moved to a new state and said, in that state's
    /// distribution, where the old one ended. Whoever sent this holds a
    /// copy of the old state, not the owner's device. Drop it.
    StateClosed {
        /// The message's index.
        index: u32,
        /// The last index the owner sent on the state.
        last: u32,
    },
    /// Decryption failed although the signature was valid: the sender
    /// signed a malformed ciphertext. Drop it.
    AuthenticationFailed,
    /// The sender state used its last index; the group starts a new one on
    /// the next [`crate::Group::encrypt`].
    SenderStateExhausted,
    /// A rotation policy above the allowed maximum.
    RotationPolicyTooLong {
        /// The messages per state asked for.
        messages: u32,
        /// The state lifetime asked for, in seconds.
        secs: u64,
    },
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(_) => f.write_str("malformed group data"),
            Self::GroupIdTooLong { len, max } => write!(f, "group id is {len} bytes, the maximum is {max}"),
            Self::MemberIdTooLong { len, max } => write!(f, "member id is {len} bytes, the maximum is {max}"),
            Self::TooManyMembers { max } => write!(f, "the group already has {max} member devices"),
            Self::WrongGroup => f.write_str("message belongs to another group"),
            Self::NotAMember => f.write_str("not a member of this group"),
            Self::UnknownSenderState => f.write_str("unknown sender state"),
            Self::SenderRemoved => f.write_str("sender was removed from the group"),
            Self::UnexpectedSender => f.write_str("message is from another member than the one expected"),
            Self::StateOwnedByAnotherMember => f.write_str("sender state belongs to another member"),
            Self::SigningKeyMismatch => f.write_str("sender state signing key differs"),
            Self::BadSignature => f.write_str("group message signature is invalid"),
            Self::Duplicate => f.write_str("group message already decrypted"),
            Self::OutsideWindow { index, oldest } => {
                write!(f, "group message index {index} is older than the window (oldest {oldest})")
            }
            Self::BeforeStateStart { index, start } => {
                write!(f, "group message index {index} is before the received state's start {start}")
            }
            Self::StateClosed { index, last } => {
                write!(f, "group message index {index} is after its sender state's last index {last}")
            }
            Self::AuthenticationFailed => f.write_str("group message failed decryption"),
            Self::SenderStateExhausted => f.write_str("sender state exhausted"),
            Self::RotationPolicyTooLong { messages, secs } => {
                write!(f, "rotation policy of {messages} messages or {secs} s exceeds the maximum")
            }
        }
    }
}

impl std::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for GroupError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
