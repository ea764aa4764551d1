//! Settings of a [`crate::Conversations`]: who may write first, how long
//! an unanswered session is used, and how long a replaced session may
//! become current again.

use super::prekeys::PreKeyPolicy;
use crate::content::Padding;

/// libsignal's limit on how long an unanswered outgoing session is used:
/// 30 days.
pub const DEFAULT_MAX_UNACKNOWLEDGED_AGE: u64 = 30 * 24 * 60 * 60;

/// How long after it was replaced a previous session may still be made
/// current again by reading a message (promotion): 7 days. Enough for the
/// delayed messages and simultaneous starts that promotion is for; an old
/// session used later is more likely a copy of old state (a backup) than
/// the peer.
pub const DEFAULT_MAX_PROMOTION_AGE: u64 = 7 * 24 * 60 * 60;

/// How long a skipped message key is kept before
/// [`crate::Conversations::purge_expired`] deletes it: 30 days. A message
/// later than that is given up on; until then its key waits (lost
/// messages are usually asked for again within a day, by retry receipts).
pub const DEFAULT_SKIPPED_KEY_MAX_AGE: u64 = 30 * 24 * 60 * 60;

/// Who may start a conversation with this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ContactPolicy {
    /// Anyone with this device's bundle.
    #[default]
    Anyone,
    /// Only known contacts ([`crate::Conversations::add_contact`], or users
    /// this device has sent to): a first message from anyone else is
    /// refused unread ([`crate::ReceiveError::NotAContact`]) and changes
    /// nothing.
    KnownContactsOnly,
    /// First messages from unknown users are decrypted into **message
    /// requests**, held apart from conversations until the person accepts
    /// ([`crate::Conversations::accept_request`]) or declines
    /// ([`crate::Conversations::decline_request`]). Declining deletes the
    /// session but the account keeps the first message's replay record, so
    /// the same request replayed is refused.
    MessageRequests,
}

impl ContactPolicy {
    /// The byte the device record stores (docs/PROTOCOL.md §13.2).
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Self::Anyone => 0,
            Self::KnownContactsOnly => 1,
            Self::MessageRequests => 2,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Anyone),
            1 => Some(Self::KnownContactsOnly),
            2 => Some(Self::MessageRequests),
            _ => None,
        }
    }
}

/// Settings of a [`crate::Conversations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConversationConfig {
    /// Who may start a conversation.
    pub contact_policy: ContactPolicy,
    /// How long, in seconds, an outgoing session that the peer never
    /// answered is used. Past it, sending asks for a fresh bundle
    /// ([`crate::SendError::NeedBundles`]). Default
    /// [`DEFAULT_MAX_UNACKNOWLEDGED_AGE`] (30 days).
    pub max_unacknowledged_age: u64,
    /// How long, in seconds, after a session stopped being current it may
    /// become current again. A previous session that reads a message is
    /// promoted to current only if it was replaced at most this long ago;
    /// past it the message is still read (and the session's new state
    /// kept), but replies keep going over the current session. So whoever
    /// holds a copy of an old session's state (from a backup, say) cannot,
    /// by writing on it long after it was replaced, get it made current
    /// and read the replies. Default [`DEFAULT_MAX_PROMOTION_AGE`] (7
    /// days).
    pub max_promotion_age: u64,
    /// How long, in seconds, a sent message is kept to be sent again when
    /// its recipient device could not read it and asks
    /// ([`crate::Conversations::send_retry_receipt`],
    /// [`crate::Conversations::resend`]). Kept sealed in the device's
    /// session record, at most
    /// [`crate::limits::MAX_RESEND_MESSAGES_PER_DEVICE`] messages and
    /// [`crate::limits::MAX_RESEND_BYTES_PER_DEVICE`] bytes per device,
    /// and deleted once older. `0` keeps nothing. Default
    /// [`crate::limits::DEFAULT_RESEND_MAX_AGE`] (24 hours).
    pub resend_max_age: u64,
    /// How plaintexts are padded before encryption (docs/PROTOCOL.md
    /// §13.13), so the server sees a size bucket rather than a length.
    /// Receivers remove any padding, whatever their own setting. Default
    /// [`Padding::Padme`].
    pub padding: Padding,
    /// How long, in seconds, a skipped message key (kept for a message
    /// that has not arrived while later ones did) is kept:
    /// [`crate::Conversations::purge_expired`] deletes older ones, and the
    /// message is given up on (a retry receipt can still ask for it while
    /// its sender keeps it). Default [`DEFAULT_SKIPPED_KEY_MAX_AGE`] (30
    /// days).
    pub skipped_key_max_age: u64,
    /// How [`crate::Conversations::prekey_maintenance`] keeps this
    /// device's prekeys on a directory. Default [`PreKeyPolicy::new`].
    pub prekeys: PreKeyPolicy,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ConversationConfig {
    /// The defaults: anyone may write first, and the default ages.
    /// Settings are changed with the `with_` methods, so that a setting
    /// added later takes its default in existing code:
    ///
    /// ```
    /// use dmseal::{ContactPolicy, ConversationConfig};
    /// const CONFIG: ConversationConfig =
    ///     ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests);
    /// assert_eq!(CONFIG.contact_policy, ContactPolicy::MessageRequests);
    /// ```
    pub const fn new() -> Self {
        Self {
            contact_policy: ContactPolicy::Anyone,
            max_unacknowledged_age: DEFAULT_MAX_UNACKNOWLEDGED_AGE,
            max_promotion_age: DEFAULT_MAX_PROMOTION_AGE,
            resend_max_age: super::resend::DEFAULT_RESEND_MAX_AGE,
            padding: Padding::Padme,
            skipped_key_max_age: DEFAULT_SKIPPED_KEY_MAX_AGE,
            prekeys: PreKeyPolicy::new(),
        }
    }

    /// This config with [`ConversationConfig::contact_policy`] set.
    #[must_use]
    pub const fn with_contact_policy(mut self, policy: ContactPolicy) -> Self {
        self.contact_policy = policy;
        self
    }

    /// This config with [`ConversationConfig::max_unacknowledged_age`] set.
    #[must_use]
    pub const fn with_max_unacknowledged_age(mut self, secs: u64) -> Self {
        self.max_unacknowledged_age = secs;
        self
    }

    /// This config with [`ConversationConfig::max_promotion_age`] set.
    #[must_use]
    pub const fn with_max_promotion_age(mut self, secs: u64) -> Self {
        self.max_promotion_age = secs;
        self
    }

    /// This config with [`ConversationConfig::skipped_key_max_age`] set.
    #[must_use]
    pub const fn with_skipped_key_max_age(mut self, secs: u64) -> Self {
        self.skipped_key_max_age = secs;
        self
    }

    /// This config with [`ConversationConfig::prekeys`] set.
    #[must_use]
    pub const fn with_prekey_policy(mut self, policy: PreKeyPolicy) -> Self {
        self.prekeys = policy;
        self
    }

    /// This config with [`ConversationConfig::padding`] set.
    #[must_use]
    pub const fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// This config with [`ConversationConfig::resend_max_age`] set.
    #[must_use]
    pub const fn with_resend_max_age(mut self, secs: u64) -> Self {
        self.resend_max_age = secs;
        self
    }
}
