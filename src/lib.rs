//! # dmseal: end-to-end encrypted direct messages and group chats
//!
//! dmseal turns plaintext into ciphertext and back for 1:1 conversations
//! and group chats, and keeps the keys. Session setup follows Signal's
//! PQXDH (X3DH plus ML-KEM-768, so recorded traffic resists a future
//! quantum computer), messages follow the Double Ratchet with a KEM
//! ratchet beside it (fresh ML-KEM-768 secrets mixed into the root, so a
//! session also heals from a leaked state against a quantum adversary;
//! see [`Session::kem_ratchet`]), groups use
//! sender keys, and the application moves the bytes however it likes:
//! dmseal does no network I/O and reads no clock (time enters as a `now`
//! argument, seconds since the Unix epoch). Its only I/O is the optional
//! SQLite store.
//!
//! ## Quickstart: Alice and Bob
//!
//! ```
//! use dmseal::{Account, PreKeyBundle, PreKeyMessage, SessionSetup};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Bob creates an account and publishes a bundle through his server.
//! let mut bob = Account::new();
//! let otks = bob.generate_one_time_prekeys(10)?;
//! let ids: Vec<u32> = otks.iter().map(|k| k.id()).collect();
//! bob.mark_one_time_prekeys_published(&ids)?;
//! // With no one-time PQ prekey named, the bundle carries the last-resort one.
//! let bundle_bytes = bob.prekey_bundle(Some(ids[0]), None)?.encode();
//!
//! // Both sides bind the conversation to the same context bytes.
//! let context = b"alice/phone|bob/laptop";
//!
//! // Alice fetches the bundle, starts a session and sends a first message.
//! let alice = Account::new();
//! let bundle = PreKeyBundle::decode(&bundle_bytes)?;
//! let (mut alice_session, first) = alice.start_session(&bundle, context, b"hi Bob")?;
//!
//! // Bob opens it: the account does not change until he decides.
//! let first = PreKeyMessage::decode(&first)?;
//! let now = 1_700_000_000; // seconds since the Unix epoch, from the app
//! let pending = bob.open_first_message(&first, context, now)?;
//! assert_eq!(pending.peer_identity(), alice.identity()); // authenticated now
//! assert_eq!(pending.plaintext(), b"hi Bob");
//! let mut bob_session = bob.accept(pending)?; // consumes the one-time prekey
//! assert_eq!(bob_session.setup(), SessionSetup::Pqxdh);
//!
//! // From here on, both sides encrypt and decrypt.
//! let reply = bob_session.encrypt(b"hello Alice")?;
//! assert_eq!(alice_session.decrypt(&reply)?, b"hello Alice");
//! # Ok(())
//! # }
//! ```
//!
//! ## Delivering messages
//!
//! Decode incoming bytes with [`Envelope::decode`]. A normal message goes
//! to the session with that peer (your transport knows who sent it). A
//! prekey message goes to the session that [`Session::matches`] it (the
//! initiator keeps sending prekey messages until it reads a reply); only
//! one that matches no session goes to [`Account::open_first_message`],
//! which refuses replays. ([`Conversations`] does all of this for you.)
//!
//! ## Group chats
//!
//! [`Group`] implements sender keys: every member device sends with its
//! own signed sender state, whose keys form a binary tree so that any later
//! message is a few dozen hashes away while read messages leave no key
//! behind. [`Group::encrypt`] returns the distributions to carry over the
//! 1:1 sessions; the receiving app passes the authenticated peer to
//! [`Group::receive_distribution`]. `cargo run --example group` walks
//! through adding and removing members.
//!
//! ## Conversations, devices and storage
//!
//! [`Conversations`] is the layer most applications want: one device's
//! view of people who each have several devices ([`Address`] = user id,
//! device id), with every key and session kept in a [`store::Store`]
//! ([`store::MemoryStore`], or [`store::SqliteStore`] with the default
//! `sqlite` feature). [`Conversations::send`] encrypts to every device of a
//! user and to the sender's own other devices and commits before it
//! returns any ciphertext; [`Conversations::receive`] decrypts and
//! [`Conversations::commit_received`] commits, with the application's own
//! inbox row in the same transaction. It chooses among sessions
//! (simultaneous initiation, promotion, expiry), reports new devices and
//! changed identities and blocks sending until the application approves
//! them, applies a contact policy, and carries group sender keys over the
//! 1:1 sessions ([`Conversations::send_group`]). What it carries is typed
//! [`Content`] in a content envelope ([`content`]): message ids and
//! timestamps, text and application payloads, edits, reactions, receipts,
//! sync transcripts for the sender's own devices, disappearing-message
//! timers, and padding to size buckets. `cargo run --example devices`
//! walks through it. A person's new device is linked from one they have
//! ([`Conversations::link_offer`], [`Conversations::link_device`],
//! [`Conversations::complete_link`]), and their contacts trust it without
//! an approval; `cargo run --example linking` shows that with a prekey
//! directory ([`directory`]) as the server.
//!
//! ## Attachments
//!
//! Files travel apart from messages ([`attachment`]): each is encrypted
//! under its own key into chunks that are authenticated one by one, so a
//! file of any size streams through a few chunks of memory
//! ([`attachment::AttachmentWriter`], [`attachment::AttachmentReader`],
//! and tokio's `AsyncWrite`/`AsyncRead` with the `tokio` feature), and a
//! range (seeking in a video) decrypts only the chunks it touches. The
//! message carries an [`attachment::AttachmentPointer`] as
//! [`Content::Attachment`]. `cargo run --example attachment` sends a
//! file from Alice to Bob.
//!
//! ## Persistence
//!
//! [`Conversations`] persists everything itself. Used directly, every call
//! that changes an [`Account`] or a [`Session`] must be followed by
//! persisting it ([`Account::pickle`], [`Session::pickle`], then
//! [`SessionPickle::encrypt`]) **before** a ciphertext leaves the process
//! or a plaintext is shown. Restoring an older state re-uses message keys
//! and re-opens replays.
//!
//! ## Limits
//!
//! | constant | value | bounds |
//! |---|---|---|
//! | [`MAX_CHAIN_JUMP`](limits::MAX_CHAIN_JUMP) | 25,000 | how far ahead a message may claim to be |
//! | [`MAX_SKIPPED_KEYS_PER_CHAIN`](limits::MAX_SKIPPED_KEYS_PER_CHAIN) | 2,000 | stored keys for out-of-order messages, per chain |
//! | [`MAX_RECEIVING_CHAINS`](limits::MAX_RECEIVING_CHAINS) | 5 | old receiving chains kept |
//! | [`MAX_EVICTED_CHAIN_RECORDS`](limits::MAX_EVICTED_CHAIN_RECORDS) | 64 | evicted chains recognised (8-byte key prefix each) |
//! | [`MAX_ONE_TIME_PREKEYS`](limits::MAX_ONE_TIME_PREKEYS) | 1,000 | one-time prekeys stored |
//! | [`MAX_PQ_ONE_TIME_PREKEYS`](limits::MAX_PQ_ONE_TIME_PREKEYS) | 200 | one-time ML-KEM prekeys stored |
//! | [`DEFAULT_ONE_TIME_PREKEY_TARGET`](limits::DEFAULT_ONE_TIME_PREKEY_TARGET) | 100 | one-time prekeys [`Conversations::prekey_maintenance`] keeps on a directory (ML-KEM: [`DEFAULT_PQ_ONE_TIME_PREKEY_TARGET`](limits::DEFAULT_PQ_ONE_TIME_PREKEY_TARGET), 50) |
//! | [`DEFAULT_PREKEY_ROTATION_SECS`](limits::DEFAULT_PREKEY_ROTATION_SECS) | 7 days | how often prekey maintenance rotates the signed and last-resort prekeys |
//! | [`MAX_LINK_OFFER_AGE`](limits::MAX_LINK_OFFER_AGE) | 10 minutes | how long a link offer can be answered |
//! | [`MAX_LINK_HISTORY_BYTES`](limits::MAX_LINK_HISTORY_BYTES) | 8 MiB | history one link hands over |
//! | [`MAX_LINK_HANDOVER_LEN`](limits::MAX_LINK_HANDOVER_LEN) | 32 MiB | longest link handover opened |
//! | [`DEFAULT_LOW_WATER_ONE_TIME`](limits::DEFAULT_LOW_WATER_ONE_TIME) | 20 | one-time prekeys below which a directory reports low (ML-KEM: [`DEFAULT_LOW_WATER_PQ_ONE_TIME`](limits::DEFAULT_LOW_WATER_PQ_ONE_TIME), 10) |
//! | [`MAX_SIGNED_PREKEY_GRACE_SECS`](limits::MAX_SIGNED_PREKEY_GRACE_SECS) | 30 days | how long a retired signed prekey stays usable |
//! | [`MAX_RETIRED_SIGNED_PREKEYS`](limits::MAX_RETIRED_SIGNED_PREKEYS) | 8 | retired signed prekeys kept |
//! | [`MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY`](limits::MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY) | 4,096 | first messages without a one-time prekey, per signed prekey |
//! | [`MAX_CONTEXT_LEN`](limits::MAX_CONTEXT_LEN) | 1,024 bytes | conversation context |
//! | [`MAX_ATTACHMENT_LEN`](limits::MAX_ATTACHMENT_LEN) | 1 TiB | largest attachment |
//! | [`ATTACHMENT_CHUNK_LEN`](limits::ATTACHMENT_CHUNK_LEN) | 64 KiB | attachment bytes authenticated together (memory per stream, and what a seek decrypts) |
//! | [`MAX_GROUP_WINDOW`](limits::MAX_GROUP_WINDOW) | 2,000 | how far behind the newest read a group message may be |
//! | [`MAX_GROUP_STATE_NODES`](limits::MAX_GROUP_STATE_NODES) | 2,100 | key-tree nodes per sender state |
//! | [`MAX_SENDER_STATES_PER_MEMBER`](limits::MAX_SENDER_STATES_PER_MEMBER) | 5 | sender states kept per group member |
//! | [`MAX_RETIRED_STATES_PER_MEMBER`](limits::MAX_RETIRED_STATES_PER_MEMBER) | 256 | evicted sender state ids remembered per group member |
//! | [`MAX_REVOKED_SENDER_STATES`](limits::MAX_REVOKED_SENDER_STATES) | 4,096 | state ids of removed group members remembered |
//! | [`MAX_GROUP_MEMBERS`](limits::MAX_GROUP_MEMBERS) | 10,000 | member devices per group |
//! | [`MAX_USER_ID_LEN`](limits::MAX_USER_ID_LEN) | 255 bytes | user id of an [`Address`] |
//! | [`MAX_DEVICES_PER_USER`](limits::MAX_DEVICES_PER_USER) | 32 | devices listed per user |
//! | [`MAX_UNLISTED_DEVICES_PER_USER`](limits::MAX_UNLISTED_DEVICES_PER_USER) | 32 | devices known but not listed, per user |
//! | [`MAX_PREVIOUS_SESSIONS`](limits::MAX_PREVIOUS_SESSIONS) | 10 | previous sessions kept per address |
//! | [`MAX_RESEND_MESSAGES_PER_DEVICE`](limits::MAX_RESEND_MESSAGES_PER_DEVICE) | 32 | sent messages kept per device to send again |
//! | [`MAX_RESEND_BYTES_PER_DEVICE`](limits::MAX_RESEND_BYTES_PER_DEVICE) | 64 KiB | bytes of sent messages kept per device |
//! | [`MAX_RESENDS_PER_MESSAGE`](limits::MAX_RESENDS_PER_MESSAGE) | 2 | times one kept message is sent again |
//! | [`MAX_RESENT_RECORDS_PER_DEVICE`](limits::MAX_RESENT_RECORDS_PER_DEVICE) | 64 | re-sent messages remembered per device, so their originals do not read twice |
//! | [`DEFAULT_RESEND_MAX_AGE`](limits::DEFAULT_RESEND_MAX_AGE) | 24 hours | how long sent messages are kept to send again |
//! | [`MIN_HEAL_INTERVAL_SECS`](limits::MIN_HEAL_INTERVAL_SECS) | 1 hour | shortest time between two heals of one conversation |
//! | [`MAX_PENDING_GROUP_KEYS_PER_DEVICE`](limits::MAX_PENDING_GROUP_KEYS_PER_DEVICE) | 8 | group keys kept per device until their group or membership exists |
//! | [`DEFAULT_MAX_UNACKNOWLEDGED_AGE`](limits::DEFAULT_MAX_UNACKNOWLEDGED_AGE) | 30 days | how long an unanswered outgoing session is used |
//! | [`DEFAULT_MAX_PROMOTION_AGE`](limits::DEFAULT_MAX_PROMOTION_AGE) | 7 days | how long after it was replaced a session may become current again |
//! | [`MAX_CACHED_RECORDS`](limits::MAX_CACHED_RECORDS) | 4,096 | decoded records a [`Conversations`] keeps in memory |
//! | [`MAX_PAYLOAD_KIND_LEN`](limits::MAX_PAYLOAD_KIND_LEN) | 64 bytes | type name of a [`Content::Payload`] |
//! | [`MAX_REACTION_LEN`](limits::MAX_REACTION_LEN) | 64 bytes | a reaction |
//! | [`MAX_RECEIPT_MESSAGES`](limits::MAX_RECEIPT_MESSAGES) | 100 | message ids in one delivery or read receipt |
//! | [`MAX_TIMER_CLOCK_SKEW`](limits::MAX_TIMER_CLOCK_SKEW) | 1 day | how far ahead of the reader's clock a timer change may be dated and still apply |
//! | [`MIN_PADDED_LEN`](limits::MIN_PADDED_LEN) | 64 bytes | smallest padded plaintext |
//! | [`DEFAULT_SKIPPED_KEY_MAX_AGE`](limits::DEFAULT_SKIPPED_KEY_MAX_AGE) | 30 days | how long a skipped message key is kept by [`Conversations::purge_expired`] |
//!
//! One forged message in a session costs at most one X25519,
//! [`MAX_CHAIN_JUMP`](limits::MAX_CHAIN_JUMP) + [`MAX_SKIPPED_KEYS_PER_CHAIN`](limits::MAX_SKIPPED_KEYS_PER_CHAIN) + 2 HMAC-SHA256
//! (27,002), one HKDF and one decryption check, and changes
//! nothing. A forged first message to an account costs one signature
//! check, one ML-KEM-768 decapsulation (and a key expansion when it names
//! a one-time PQ prekey), four X25519, one HKDF and the same chain bound
//! (a forged counter is refused before any of that). Through
//! [`Conversations`], a forged message is tried on at most
//! [`MAX_SESSIONS_TRIED`](limits::MAX_SESSIONS_TRIED) (12) sessions: the current one,
//! [`MAX_PREVIOUS_SESSIONS`](limits::MAX_PREVIOUS_SESSIONS) previous ones and a pending message request.
//!
//! ## What dmseal does not do
//!
//! No transport, no server, no device directory (the application says
//! which devices a user has), no clock. For servers it has a prekey
//! directory ([`directory`]): the rules for storing uploaded prekeys and
//! handing out bundles, over a store the server runs. It does not hide
//! metadata (who talks to whom, when, how much) from the server, and it
//! does not back up history across reinstalls. See `SECURITY.md` for the
//! threat model and `docs/PROTOCOL.md` for the exact bytes.

#![forbid(unsafe_code)]

/// A `tracing::debug!` event with the `tracing` feature; nothing without.
/// Its fields are addresses, sizes, counts and outcomes, never a key, a
/// plaintext or a ciphertext.
macro_rules! debug_event {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            tracing::debug!($($arg)*);
        }
    };
}

mod account;
mod address;
pub mod attachment;
mod bundle;
pub mod content;
mod conversation;
pub mod directory;
mod error;
mod group;
mod identity;
mod labels;
mod link;
mod message;
mod pickle;
mod prekeys;
mod primitives;
mod ratchet;
mod safety_number;
mod session;
pub mod store;
mod wire;
mod x3dh;

#[cfg(test)]
mod secrecy_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod vectors;
#[cfg(test)]
mod work;

// The public interface is:
pub use crate::account::{Account, PendingSession};
pub use crate::address::{Address, AddressError};
pub use crate::bundle::PreKeyBundle;
pub use crate::content::{Content, Destination, MessageId, Padding};
pub use crate::conversation::{
    BundleSource, BundleSourceError, ContactPolicy, ConversationConfig, ConversationError, Conversations, DeviceInfo,
    DeviceStatus, Event, GROUP_OUTBOX_NAMESPACE, GroupSend, Incoming, LinkCompleted, LinkError, OUTBOX_NAMESPACE,
    Outbound, Outgoing, PreKeyPolicy, PreKeyUploads, ReceiveError, Received, ReceivedBatch, ReceivedKind, SendError,
    StorageKey,
};
pub use crate::error::{
    AcceptError, DecodeError, DecryptError, EncryptError, FirstMessageError, GroupError, KeyError, PickleError,
    PreKeyError, StartError,
};
pub use crate::group::{Distribution, Group, GroupOutgoing, GroupPickle, GroupPlaintext, RotationPolicy};
pub use crate::identity::{PUBLIC_IDENTITY_LEN, PublicIdentity};
pub use crate::link::{DeviceLink, LinkOffer};
pub use crate::message::{Envelope, NormalMessage, PreKeyMessage};
pub use crate::pickle::{AccountPickle, MIN_PICKLE_VERSION, PICKLE_VERSION, SessionPickle};
pub use crate::prekeys::{OneTimePreKeyPublic, PqPreKeyKind, PqPreKeyPublic, SignedPreKeyPublic};
pub use crate::primitives::dh::X25519PublicKey;
pub use crate::primitives::kem::{ML_KEM_768_CIPHERTEXT_LEN, ML_KEM_768_PUBLIC_KEY_LEN, MlKemPublicKey};
pub use crate::primitives::signature::Ed25519PublicKey;
pub use crate::safety_number::{SAFETY_NUMBER_ITERATIONS, SAFETY_NUMBER_VERSION, SCANNABLE_LEN, SafetyNumber};
pub use crate::session::{Role, Session, SessionId};
pub use crate::x3dh::{ClassicX3dh, SessionSetup, conversation_context};

/// Every limit and default of dmseal, in one place: what bounds the state
/// and the work an input can cause, and the defaults of the settings.
/// Each is documented where it is defined, with why it has its value;
/// docs/PROTOCOL.md §9 lists them with the wire rules.
pub mod limits {
    pub use crate::address::MAX_USER_ID_LEN;
    pub use crate::attachment::{
        ATTACHMENT_CHUNK_LEN, MAX_ATTACHMENT_CONTENT_TYPE_LEN, MAX_ATTACHMENT_FILE_NAME_LEN, MAX_ATTACHMENT_LEN,
        MAX_ATTACHMENT_LOCATION_LEN, MIN_ATTACHMENT_PADDED_LEN,
    };
    pub use crate::content::{
        MAX_PAYLOAD_KIND_LEN, MAX_REACTION_LEN, MAX_RECEIPT_MESSAGES, MAX_TIMER_CLOCK_SKEW, MIN_PADDED_LEN,
    };
    pub use crate::conversation::{
        DEFAULT_MAX_PROMOTION_AGE, DEFAULT_MAX_UNACKNOWLEDGED_AGE, DEFAULT_ONE_TIME_PREKEY_TARGET,
        DEFAULT_PQ_ONE_TIME_PREKEY_TARGET, DEFAULT_PREKEY_ROTATION_SECS, DEFAULT_RESEND_MAX_AGE,
        DEFAULT_SKIPPED_KEY_MAX_AGE, MAX_CACHED_RECORDS, MAX_DEVICES_PER_USER, MAX_GROUP_OWED_PER_DEVICE,
        MAX_GROUP_RESEND_BYTES, MAX_GROUP_RESEND_MESSAGES, MAX_GROUP_RESENT_RECORDS, MAX_LINK_HANDOVER_LEN,
        MAX_LINK_HISTORY_BYTES, MAX_LINK_OFFER_AGE, MAX_PENDING_GROUP_KEYS_PER_DEVICE, MAX_PREVIOUS_SESSIONS,
        MAX_RESEND_BYTES_PER_DEVICE, MAX_RESEND_MESSAGES_PER_DEVICE, MAX_RESENDS_PER_MESSAGE,
        MAX_RESENT_RECORDS_PER_DEVICE, MAX_SESSIONS_TRIED, MAX_UNLISTED_DEVICES_PER_USER, MIN_HEAL_INTERVAL_SECS,
    };
    pub use crate::directory::{DEFAULT_LOW_WATER_ONE_TIME, DEFAULT_LOW_WATER_PQ_ONE_TIME};
    pub use crate::group::{
        DEFAULT_ROTATION_MESSAGES, DEFAULT_ROTATION_SECS, MAX_GROUP_ID_LEN, MAX_GROUP_MEMBERS, MAX_GROUP_STATE_NODES,
        MAX_GROUP_WINDOW, MAX_MEMBER_ID_LEN, MAX_RETIRED_STATES_PER_MEMBER, MAX_REVOKED_SENDER_STATES,
        MAX_ROTATION_MESSAGES, MAX_ROTATION_SECS, MAX_SENDER_STATES_PER_MEMBER,
    };
    pub use crate::prekeys::{
        DEFAULT_SIGNED_PREKEY_GRACE_SECS, MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS,
        MAX_REPLAY_RECORDS_PER_SIGNED_PREKEY, MAX_RETIRED_SIGNED_PREKEYS, MAX_SIGNED_PREKEY_GRACE_SECS,
    };
    pub use crate::ratchet::{
        KEM_CHUNK_LEN, KEM_CT_CHUNKS, KEM_EK_CHUNKS, MAX_CHAIN_JUMP, MAX_COUNTER, MAX_EVICTED_CHAIN_RECORDS,
        MAX_KEM_CHUNK_INDEX, MAX_RECEIVING_CHAINS, MAX_SKIPPED_KEYS_PER_CHAIN,
    };
    pub use crate::x3dh::MAX_CONTEXT_LEN;
}

/// The wire format version written in the first byte of every bundle and
/// message.
pub const WIRE_VERSION: u8 = wire::VERSION;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
