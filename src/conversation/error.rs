//! Errors of the conversation layer, one enum per kind of operation.

use core::fmt;

use super::config::ConversationConfig;
use super::user::DeviceStatus;
use crate::address::{Address, AddressError};
use crate::error::{
    AcceptError, DecodeError, DecryptError, EncryptError, FirstMessageError, GroupError, PickleError, PreKeyError,
    StartError,
};
use crate::store::StoreError;

/// Opening [`crate::Conversations`], or changing what it knows about users
/// and devices, failed. Nothing was committed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConversationError {
    /// The store failed, or another writer committed first
    /// ([`StoreError::Conflict`]): retry the operation.
    Store(StoreError),
    /// A record in the store does not open under this storage key and this
    /// device's address ([`PickleError::WrongKeyOrCorrupted`]: another
    /// storage key, a record of another device sharing the key, corruption
    /// or tampering), or is not the record of the row it is in.
    Record(PickleError),
    /// A user id is not a valid address part.
    Address(AddressError),
    /// The device list would exceed [`crate::limits::MAX_DEVICES_PER_USER`], or
    /// leave more than [`crate::limits::MAX_UNLISTED_DEVICES_PER_USER`] known
    /// devices unlisted ([`crate::Conversations::forget_device`] makes
    /// room).
    TooManyDevices {
        /// The user.
        user: String,
        /// The cap.
        max: usize,
    },
    /// No such device is known.
    UnknownDevice(Address),
    /// The device's identity is not the one given to
    /// [`crate::Conversations::approve_device`] (the one the person
    /// compared): it changed in between, or none is known. Nothing was
    /// approved: show the new identity and compare again.
    IdentityMismatch(Address),
    /// The device is in its user's device list, so it cannot be forgotten
    /// ([`crate::Conversations::forget_device`]): unlist it first.
    DeviceListed(Address),
    /// This device's own address was given where another device is meant
    /// (a group member: this device is a member of its groups implicitly),
    /// or a message claims to come from this device itself.
    OwnAddress,
    /// An application row made by [`crate::Outbound::store_at`] was given
    /// to a commit other than the send that made it (a ciphertext row is
    /// filled in only by its own send). Nothing was committed.
    ForeignOutboxRow,
    /// The store belongs to another device: it was opened under an
    /// address other than the one it was created with.
    WrongDevice {
        /// The address the store was created with.
        stored: Address,
    },
    /// No message request is held from this address.
    NoRequest(Address),
    /// No group with this id exists on this device
    /// ([`crate::Conversations::create_group`]).
    UnknownGroup,
    /// A group with this id exists already.
    GroupExists,
    /// The group layer refused (id too long, too many members).
    Group(GroupError),
    /// [`crate::Conversations::open`] was given other settings than the
    /// store holds: reopening must not switch a contact policy silently.
    /// Open with the stored settings, then change them with
    /// [`crate::Conversations::set_config`].
    ConfigChanged {
        /// The settings the store holds.
        stored: ConversationConfig,
    },
    /// Managing prekeys failed ([`crate::Conversations::prekey_maintenance`]):
    /// prekey ids are exhausted.
    PreKey(PreKeyError),
    /// Linking a device was refused ([`crate::Conversations::link_device`],
    /// [`crate::Conversations::complete_link`]).
    Link(super::link::LinkError),
}

impl fmt::Display for ConversationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(_) => f.write_str("the store failed"),
            Self::Record(PickleError::WrongKeyOrCorrupted) => f.write_str(
                "a stored record does not open under this device's storage key and address \
                 (another key, another device's record, or corruption)",
            ),
            Self::Record(_) => f.write_str("a stored record is invalid"),
            Self::Address(_) => f.write_str("invalid address"),
            Self::TooManyDevices { user, max } => write!(f, "user {user:?} would have more than {max} devices"),
            Self::UnknownDevice(a) => write!(f, "unknown device {a}"),
            Self::IdentityMismatch(a) => write!(f, "device {a} does not have the identity that was compared"),
            Self::DeviceListed(a) => write!(f, "device {a} is listed"),
            Self::OwnAddress => f.write_str("this device's own address"),
            Self::ForeignOutboxRow => f.write_str("an outbox row of another send"),
            Self::WrongDevice { stored } => write!(f, "the store belongs to device {stored}"),
            Self::NoRequest(a) => write!(f, "no message request from {a}"),
            Self::UnknownGroup => f.write_str("no such group on this device"),
            Self::GroupExists => f.write_str("the group exists already"),
            Self::Group(_) => f.write_str("the group layer refused"),
            Self::ConfigChanged { .. } => {
                f.write_str("the store holds other settings; open with them, then call set_config")
            }
            Self::PreKey(_) => f.write_str("managing prekeys failed"),
            Self::Link(_) => f.write_str("linking a device was refused"),
        }
    }
}

impl std::error::Error for ConversationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            Self::Record(e) => Some(e),
            Self::Address(e) => Some(e),
            Self::Group(e) => Some(e),
            Self::PreKey(e) => Some(e),
            Self::Link(e) => Some(e),
            _ => None,
        }
    }
}

impl ConversationError {
    /// Whether the same call can succeed later: the store was busy or
    /// another writer committed first (see
    /// [`crate::store::StoreError::is_transient`]). Every other error is
    /// final for the same arguments.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::ConversationError;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// let b = Address::new("bob", 1)?;
    /// // No such group: calling again cannot help.
    /// let error = alice.add_group_member(b"no such group", &b).err();
    /// assert!(matches!(error, Some(ConversationError::UnknownGroup)));
    /// assert!(error.is_some_and(|e| !e.is_transient()));
    /// # Ok(()) }
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_transient())
    }
}

impl From<PreKeyError> for ConversationError {
    fn from(e: PreKeyError) -> Self {
        Self::PreKey(e)
    }
}

impl From<GroupError> for ConversationError {
    fn from(e: GroupError) -> Self {
        Self::Group(e)
    }
}

impl From<StoreError> for ConversationError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<PickleError> for ConversationError {
    fn from(e: PickleError) -> Self {
        Self::Record(e)
    }
}

impl From<AddressError> for ConversationError {
    fn from(e: AddressError) -> Self {
        Self::Address(e)
    }
}

/// `From` the errors a [`ConversationError`] wraps, for an operation's
/// error type with a `Conversation` variant.
macro_rules! conversation_error_from {
    ($ty:ident) => {
        impl From<ConversationError> for $ty {
            fn from(e: ConversationError) -> Self {
                Self::Conversation(e)
            }
        }
        impl From<StoreError> for $ty {
            fn from(e: StoreError) -> Self {
                Self::Conversation(e.into())
            }
        }
        impl From<PickleError> for $ty {
            fn from(e: PickleError) -> Self {
                Self::Conversation(e.into())
            }
        }
        impl From<AddressError> for $ty {
            fn from(e: AddressError) -> Self {
                Self::Conversation(e.into())
            }
        }
    };
}

/// Sending failed. No ciphertext was released, and nothing was committed,
/// except after [`SendError::Blocked`] (see there).
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// These devices have no session that can send (none yet, or the
    /// current one was never answered and is older than
    /// [`crate::ConversationConfig::max_unacknowledged_age`]): fetch a
    /// fresh bundle for each and call again with them. Nothing was
    /// committed.
    NeedBundles(Vec<Address>),
    /// These devices must be approved or their identity change
    /// acknowledged ([`crate::Conversations::approve_device`]) before
    /// anything is sent to their user. What this call learned from its
    /// bundles was committed, so it is not lost: identities pinned on first
    /// use, a changed identity with its consequences (the old identity's
    /// sessions deleted, its group states revoked), and devices that are
    /// themselves in this list. Nothing else was.
    Blocked(Vec<(Address, DeviceStatus)>),
    /// The user has no device in the device list (and this device has no
    /// other device to copy the message to). Nothing was committed.
    NoDevices {
        /// The user the message was for.
        user: String,
    },
    /// A bundle was given for a device the message does not go to.
    UnexpectedBundle(Address),
    /// A bundle was refused (bad signature, missing PQ prekey). Nothing was
    /// committed.
    Bundle {
        /// The device whose bundle it is.
        address: Address,
        /// Why.
        error: StartError,
    },
    /// A session could not encrypt (its sending chain is exhausted).
    /// Nothing was committed.
    Encrypt {
        /// The device.
        address: Address,
        /// Why.
        error: EncryptError,
    },
    /// The group layer refused (the sender state is exhausted, say).
    /// Nothing was committed.
    Group(GroupError),
    /// The [`crate::BundleSource`] of a `send_fetching` call failed.
    /// Nothing was committed.
    BundleSource(crate::BundleSourceError),
    /// [`crate::Conversations::send_retry_receipt`] was given bytes that
    /// are not a 1:1 message: there is no message to name. Nothing was
    /// committed.
    NotAMessage,
    /// The content cannot be sent: a limit exceeded
    /// ([`crate::limits::MAX_PAYLOAD_KIND_LEN`],
    /// [`crate::limits::MAX_REACTION_LEN`],
    /// [`crate::limits::MAX_RECEIPT_MESSAGES`]), an empty receipt or
    /// reaction, an edit whose new content is not a text or a payload, or
    /// a [`crate::Content::Unknown`] with a kind this version knows.
    /// Nothing was committed.
    InvalidContent,
    /// [`crate::Conversations::heal`] healed the conversation with this
    /// device less than [`crate::limits::MIN_HEAL_INTERVAL_SECS`] ago.
    /// Nothing was committed.
    HealedRecently {
        /// The device.
        address: Address,
        /// The first time (seconds since the Unix epoch) it can heal
        /// again.
        retry_at: u64,
    },
    /// The store or a stored record failed; see [`ConversationError`].
    Conversation(ConversationError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeedBundles(a) => write!(f, "{} device(s) need a fresh prekey bundle", a.len()),
            Self::Blocked(a) => write!(f, "{} device(s) need approval before sending", a.len()),
            Self::NoDevices { user } => write!(f, "no device of {user:?} to send to"),
            Self::UnexpectedBundle(a) => write!(f, "bundle given for {a}, which this message does not go to"),
            Self::Bundle { address, .. } => write!(f, "the bundle of {address} was refused"),
            Self::Encrypt { address, .. } => write!(f, "encrypting to {address} failed"),
            Self::Group(_) => f.write_str("the group layer refused"),
            Self::BundleSource(_) => f.write_str("the bundle source failed"),
            Self::NotAMessage => f.write_str("not a 1:1 message: nothing to name in a retry receipt"),
            Self::InvalidContent => f.write_str("content that cannot be encoded (a limit exceeded, or a bad edit)"),
            Self::HealedRecently { address, retry_at } => {
                write!(f, "the session with {address} was healed recently; heal again from {retry_at}")
            }
            Self::Conversation(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::BundleSource(e) => Some(&**e),
            Self::Bundle { error, .. } => Some(error),
            Self::Encrypt { error, .. } => Some(error),
            Self::Group(e) => Some(e),
            // Transparent: its Display is the inner error's, so its source
            // is the inner error's source.
            Self::Conversation(e) => e.source(),
            _ => None,
        }
    }
}

conversation_error_from!(SendError);

impl SendError {
    /// Whether calling again later, with the same arguments, can succeed:
    /// the store was busy or another writer committed first
    /// ([`crate::store::StoreError::Conflict`]), the bundle source
    /// failed ([`SendError::BundleSource`]), or a heal came too soon after
    /// the last ([`SendError::HealedRecently`]). Every other error is final
    /// for these arguments: the application must change something first
    /// (give the bundles [`SendError::NeedBundles`] names, approve the
    /// devices [`SendError::Blocked`] names, list a device) or give up.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::{BundleSourceError, PreKeyBundle};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let now = 1_800_000_000;
    /// # let (config, me) = (ConversationConfig::new(), Address::new("alice", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), me, config)?;
    /// alice.set_devices("bob", &[1])?;
    /// // Bundles are needed: the call must change before it can succeed.
    /// assert!(alice.send("bob", b"hi", &[], now).is_err_and(|e| !e.is_transient()));
    /// // The directory is down: the same call may succeed later.
    /// let mut offline = |_: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
    ///     Err("directory unreachable".into())
    /// };
    /// assert!(alice.send_fetching("bob", b"hi", &mut offline, now).is_err_and(|e| e.is_transient()));
    /// # Ok(()) }
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            // The directory may answer next time.
            Self::BundleSource(_) | Self::HealedRecently { .. } => true,
            Self::Conversation(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Receiving failed. Nothing was changed or committed: the message can be
/// offered again (after a retry of the store, say), or dropped.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The bytes are not a message.
    Decode(DecodeError),
    /// A first message from a user who is not a known contact, under
    /// [`crate::ContactPolicy::KnownContactsOnly`]. Not decrypted.
    NotAContact,
    /// A first message that could not be opened (wrong address or
    /// context, unknown or used prekey, tampering, a replay).
    FirstMessage(FirstMessageError),
    /// A first message that opened but could not be committed to the
    /// account (a replay detected at accept time).
    Accept(AcceptError),
    /// A message of a session that exists but could not read it; the
    /// error is the current session's.
    Decrypt(DecryptError),
    /// A normal message from an address with no session: its first
    /// message has not arrived (keep it and retry later) or the session
    /// is gone.
    NoSession,
    /// The sending device is new and its user already has
    /// [`crate::limits::MAX_UNLISTED_DEVICES_PER_USER`] known devices that are not
    /// listed, each with a pinned identity: refused, nothing changed.
    TooManyDevices,
    /// A group message or distribution the group refused: a sender state
    /// not received yet (keep the message, retry after its distribution),
    /// a removed sender, a bad signature, a duplicate.
    Group(GroupError),
    /// A [`crate::Received`] given to a [`crate::Conversations`] other than
    /// the one that made it. Nothing was committed.
    OtherInstance,
    /// A batch that can no longer commit (another operation ran since it
    /// was received, dropping its state), or a message of a batch given to
    /// `commit_received`. Nothing was committed: receive again.
    StaleBatch,
    /// Group keys from a device that is not trusted (awaiting approval,
    /// its identity changed) or not under its recorded identity: refused,
    /// so a forged device cannot speak in a group as a member.
    UntrustedSender,
    /// A plaintext of a content type this version does not know (or
    /// none), or one not used where it arrived: control content inside a
    /// message request, a transcript from another user, a group plaintext
    /// that is not an application message (docs/PROTOCOL.md §13.6).
    UnknownContent {
        /// The content type byte, if there was one.
        content_type: Option<u8>,
    },
    /// A plaintext whose padding or content envelope does not decode
    /// (docs/PROTOCOL.md §13.12, §13.13): a known content kind with a
    /// malformed body, text that is not UTF-8, a limit exceeded. A kind
    /// this version does not know is not an error: it arrives as
    /// [`crate::Content::Unknown`].
    MalformedContent,
    /// The store or a stored record failed; see [`ConversationError`].
    Conversation(ConversationError),
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(_) => f.write_str("not a message"),
            Self::NotAContact => f.write_str("first message from someone who is not a contact"),
            Self::FirstMessage(_) => f.write_str("first message refused"),
            Self::Accept(_) => f.write_str("first message could not be accepted"),
            Self::Decrypt(_) => f.write_str("decryption failed"),
            Self::NoSession => f.write_str("no session with the sender"),
            Self::TooManyDevices => f.write_str("the sender's user would have too many devices"),
            Self::Group(_) => f.write_str("the group layer refused"),
            Self::UntrustedSender => f.write_str("group keys from a device that is not trusted"),
            Self::OtherInstance => f.write_str("received by another Conversations instance"),
            Self::StaleBatch => f.write_str("the batch can no longer be committed; receive again"),
            Self::UnknownContent { content_type } => write!(f, "unknown content type {content_type:?}"),
            Self::MalformedContent => f.write_str("the message's content does not decode"),
            Self::Conversation(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReceiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            Self::FirstMessage(e) => Some(e),
            Self::Accept(e) => Some(e),
            Self::Decrypt(e) => Some(e),
            Self::Group(e) => Some(e),
            // Transparent: its Display is the inner error's, so its source
            // is the inner error's source.
            Self::Conversation(e) => e.source(),
            _ => None,
        }
    }
}

conversation_error_from!(ReceiveError);

impl ReceiveError {
    /// Whether this failure of a 1:1 message can mean that the session
    /// with its sender is broken, so that, if it repeats, the conversation
    /// should be healed ([`crate::Conversations::heal`]): no session for a
    /// normal message ([`ReceiveError::NoSession`]: this device lost it,
    /// say by a restore from an old backup), a message too far ahead
    /// ([`DecryptError::TooFarAhead`]: more than
    /// [`crate::limits::MAX_CHAIN_JUMP`] messages were lost), or one no
    /// session can read ([`DecryptError::AuthenticationFailed`],
    /// [`DecryptError::DuplicateOrExpired`],
    /// [`DecryptError::NotForThisSession`]: the peer was restored and
    /// writes on a chain already used, or this device was). Each of these
    /// alone can also be reordering, a duplicate or a forgery: heal when
    /// they repeat from one device with nothing read in between.
    ///
    /// ```
    /// use dmseal::{DecryptError, ReceiveError};
    /// assert!(ReceiveError::NoSession.suggests_healing());
    /// assert!(ReceiveError::Decrypt(DecryptError::AuthenticationFailed).suggests_healing());
    /// assert!(!ReceiveError::NotAContact.suggests_healing());
    /// ```
    pub fn suggests_healing(&self) -> bool {
        matches!(
            self,
            Self::NoSession
                | Self::Decrypt(
                    DecryptError::TooFarAhead { .. }
                        | DecryptError::AuthenticationFailed
                        | DecryptError::DuplicateOrExpired
                        | DecryptError::NotForThisSession
                )
        )
    }

    /// Whether offering the same message again later can succeed, so the
    /// application should keep it rather than drop it: the store was busy
    /// or another writer committed first, a batch went stale
    /// ([`ReceiveError::StaleBatch`]: receive again), a normal message came
    /// before its session's first message ([`ReceiveError::NoSession`]),
    /// or a group message before its sender's keys
    /// ([`crate::GroupError::UnknownSenderState`]: the transport's sender
    /// is a member, [`crate::Conversations::receive_group`]) or before its
    /// group was created here ([`ConversationError::UnknownGroup`]). Every
    /// other error is final for this message: among them a group message
    /// from a device that is not a member ([`crate::GroupError::NotAMember`])
    /// or was removed ([`crate::GroupError::SenderRemoved`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # alice.set_devices("bob", &[1])?;
    /// // Two processes of Bob's share one database.
    /// let store = Arc::new(MemoryStore::new());
    /// let mut bob = Conversations::open(store.clone(), [7; 32], b.clone(), config)?;
    /// let mut other = Conversations::open(store, [7; 32], b.clone(), config)?;
    /// # let bundle = bob.account().prekey_bundle(None, None)?;
    /// let sent = alice.send("bob", b"hi", &[(b.clone(), bundle)], now)?;
    /// let read = bob.receive(&a, &sent.messages[0].1, now)?;
    /// other.set_devices("carol", &[1])?; // commits first
    /// assert!(bob.commit_received(read, vec![]).is_err_and(|e| e.is_transient()));
    /// // Not a message at all: final, drop it.
    /// assert!(bob.receive(&a, b"not a message", now).is_err_and(|e| !e.is_transient()));
    /// # Ok(()) }
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Self::StaleBatch
            | Self::NoSession
            | Self::Group(GroupError::UnknownSenderState)
            | Self::Conversation(ConversationError::UnknownGroup) => true,
            Self::Conversation(e) => e.is_transient(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use super::*;

    /// Every variant's text: not empty, and different from every other
    /// variant's of the same type, so the text tells the cases apart.
    fn distinct<E: fmt::Display>(errors: &[E]) {
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(texts.iter().all(|t| !t.is_empty()), "{texts:?}");
        let unique: BTreeSet<&String> = texts.iter().collect();
        assert_eq!(unique.len(), texts.len(), "{texts:?}");
    }

    #[test]
    fn every_conversation_error_variant_has_its_own_text() {
        let a = Address::new("alice", 1).unwrap();
        distinct(&[
            ConversationError::Store(StoreError::Conflict { expected: 1, found: 2 }),
            ConversationError::Record(PickleError::Invalid),
            ConversationError::Address(AddressError::EmptyUserId),
            ConversationError::TooManyDevices { user: "alice".into(), max: 32 },
            ConversationError::UnknownDevice(a.clone()),
            ConversationError::IdentityMismatch(a.clone()),
            ConversationError::DeviceListed(a.clone()),
            ConversationError::OwnAddress,
            ConversationError::ForeignOutboxRow,
            ConversationError::WrongDevice { stored: a.clone() },
            ConversationError::NoRequest(a.clone()),
            ConversationError::UnknownGroup,
            ConversationError::GroupExists,
            ConversationError::Group(GroupError::NotAMember),
            ConversationError::ConfigChanged { stored: ConversationConfig::new() },
            ConversationError::PreKey(PreKeyError::IdsExhausted),
            ConversationError::Link(super::super::link::LinkError::Expired),
        ]);
        distinct(&[
            SendError::NeedBundles(vec![a.clone()]),
            SendError::Blocked(vec![(a.clone(), DeviceStatus::AwaitingApproval)]),
            SendError::NoDevices { user: "alice".into() },
            SendError::UnexpectedBundle(a.clone()),
            SendError::Bundle { address: a.clone(), error: StartError::OwnBundle },
            SendError::Encrypt { address: a.clone(), error: EncryptError::ChainExhausted },
            SendError::Group(GroupError::NotAMember),
            SendError::BundleSource("directory down".into()),
            SendError::NotAMessage,
            SendError::InvalidContent,
            SendError::HealedRecently { address: a.clone(), retry_at: 7 },
            SendError::Conversation(ConversationError::UnknownGroup),
        ]);
        distinct(&[
            ReceiveError::Decode(DecodeError::Truncated),
            ReceiveError::NotAContact,
            ReceiveError::FirstMessage(FirstMessageError::Replay),
            ReceiveError::Accept(AcceptError::Replay),
            ReceiveError::Decrypt(DecryptError::AuthenticationFailed),
            ReceiveError::NoSession,
            ReceiveError::TooManyDevices,
            ReceiveError::Group(GroupError::NotAMember),
            ReceiveError::OtherInstance,
            ReceiveError::StaleBatch,
            ReceiveError::UntrustedSender,
            ReceiveError::UnknownContent { content_type: Some(9) },
            ReceiveError::MalformedContent,
            ReceiveError::Conversation(ConversationError::UnknownGroup),
        ]);
    }
}
