//! What this device knows about one user: their devices, each device's
//! identity, and the trust given to them (docs/PROTOCOL.md §13.4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::config::{ContactPolicy, ConversationConfig};
use crate::address::Address;
use crate::content::Padding;
use crate::content::timer::TimerState;
use crate::error::PickleError;
use crate::identity::{PUBLIC_IDENTITY_LEN, PublicIdentity};
use crate::labels;
use crate::pickle::{PICKLE_VERSION, PickleKind, TYPE_USER_RECORD};

/// The most devices the application may list for one user
/// ([`crate::Conversations::set_devices`]): a longer device list is refused
/// ([`crate::ConversationError::TooManyDevices`]). Messages to the user fan
/// out to these. libsignal caps linked devices per account at a similar
/// order.
pub const MAX_DEVICES_PER_USER: usize = 32;

/// The most devices of one user that are known but not listed: devices
/// that wrote first, group members no device list named, and devices the
/// application dropped from its list. A device whose identity is pinned is
/// never forgotten to make room (then its next identity would look new
/// rather than changed): at the cap a device writing first is refused
/// ([`crate::ReceiveError::TooManyDevices`]), and a device list that would
/// unlist more is refused until the application forgets a device
/// ([`crate::Conversations::forget_device`]). Only devices whose identity
/// was never learned make room by themselves.
pub const MAX_UNLISTED_DEVICES_PER_USER: usize = 32;

/// Where a device stands with this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DeviceStatus {
    /// Messages go to it.
    Trusted,
    /// A device that appeared for a user marked verified: nothing is sent
    /// to that user until the application approves it
    /// ([`crate::Conversations::approve_device`]) — the server, which
    /// supplies device lists, could have added it.
    AwaitingApproval,
    /// Its identity changed (a reinstall, or an attack): nothing is sent
    /// to that user until the application acknowledges the change
    /// ([`crate::Conversations::approve_device`]), which for a verified
    /// user also drops the verified mark.
    IdentityChanged,
}

impl DeviceStatus {
    fn to_byte(self) -> u8 {
        match self {
            Self::Trusted => 0,
            Self::AwaitingApproval => 1,
            Self::IdentityChanged => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Trusted),
            1 => Some(Self::AwaitingApproval),
            2 => Some(Self::IdentityChanged),
            _ => None,
        }
    }
}

/// The most sender-key distributions kept pending per device: those that
/// arrived before this device had their group, or before the sending
/// device was a member of it (docs/PROTOCOL.md §13.7). They are applied
/// when the group is created or the device added; past the cap the oldest
/// is dropped. Eight covers a device added to several groups at once;
/// a device can only crowd out its own.
pub const MAX_PENDING_GROUP_KEYS_PER_DEVICE: usize = 8;

/// A sender-key distribution kept until its group exists here and its
/// sender is a member there.
#[derive(Clone)]
pub(crate) struct PendingKeys {
    pub(crate) group_id: Vec<u8>,
    pub(crate) distribution: Zeroizing<Vec<u8>>,
}

/// One device of a user.
#[derive(Clone)]
pub(crate) struct DeviceRecord {
    /// Learned from its bundle or its first message (trust on first use).
    pub(crate) identity: Option<PublicIdentity>,
    pub(crate) status: DeviceStatus,
    /// In the application's device list: messages to the user fan out to
    /// listed devices only.
    pub(crate) listed: bool,
    /// It set up a session with PQXDH, or signed that it publishes PQ
    /// prekeys: classic X3DH with it is refused from then on.
    pub(crate) post_quantum: bool,
    /// Its distributions for groups not ready for them yet, oldest first
    /// (at most [`MAX_PENDING_GROUP_KEYS_PER_DEVICE`]).
    pub(crate) pending_keys: Vec<PendingKeys>,
    /// The device of the same user that linked it under its identity
    /// (docs/PROTOCOL.md §13.14), if its trust came from a link: such a
    /// device stays trusted when it enters the fan-out.
    pub(crate) linked_by: Option<u32>,
}

impl DeviceRecord {
    pub(crate) fn new(identity: Option<PublicIdentity>, status: DeviceStatus, listed: bool) -> Self {
        Self { identity, status, listed, post_quantum: false, pending_keys: Vec::new(), linked_by: None }
    }

    /// Keeps a distribution for later, dropping the oldest past the cap.
    pub(crate) fn keep_pending(&mut self, group_id: &[u8], distribution: &[u8]) {
        if self.pending_keys.len() >= MAX_PENDING_GROUP_KEYS_PER_DEVICE {
            self.pending_keys.remove(0);
        }
        self.pending_keys
            .push(PendingKeys { group_id: group_id.to_vec(), distribution: Zeroizing::new(distribution.to_vec()) });
    }

    /// Removes and returns the distributions kept for `group_id`, oldest
    /// first.
    pub(crate) fn take_pending(&mut self, group_id: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
        let (taken, kept) = core::mem::take(&mut self.pending_keys).into_iter().partition(|p| p.group_id == group_id);
        self.pending_keys = kept;
        taken.into_iter().map(|p: PendingKeys| p.distribution).collect()
    }
}

/// A user's devices and the trust given to them.
#[derive(Clone)]
pub(crate) struct UserRecord {
    pub(crate) user: String,
    /// Set by the application after comparing safety numbers.
    pub(crate) verified: bool,
    /// A known contact: first messages are accepted under every contact
    /// policy.
    pub(crate) contact: bool,
    pub(crate) devices: BTreeMap<u32, DeviceRecord>,
    /// The disappearing-message timer of the 1:1 conversation with the
    /// user (docs/PROTOCOL.md §13.12).
    pub(crate) timer: TimerState,
}

impl UserRecord {
    pub(crate) fn new(user: &str) -> Self {
        Self {
            user: user.to_owned(),
            verified: false,
            contact: false,
            devices: BTreeMap::new(),
            timer: TimerState::default(),
        }
    }

    /// The status a device gets when it first appears.
    pub(crate) fn status_for_new_device(&self) -> DeviceStatus {
        if self.verified { DeviceStatus::AwaitingApproval } else { DeviceStatus::Trusted }
    }

    /// The addresses of the listed devices.
    pub(crate) fn listed(&self) -> impl Iterator<Item = u32> + '_ {
        self.devices.iter().filter(|(_, d)| d.listed).map(|(id, _)| *id)
    }

    pub(crate) fn pickle(&self) -> UserRecordPickle {
        UserRecordPickle {
            version: PICKLE_VERSION,
            user: self.user.clone(),
            verified: self.verified,
            contact: self.contact,
            devices: self
                .devices
                .iter()
                .map(|(id, d)| DevicePickle {
                    device: *id,
                    identity: d.identity.as_ref().map(|i| i.encode().to_vec()),
                    status: d.status.to_byte(),
                    listed: d.listed,
                    post_quantum: d.post_quantum,
                    pending_keys: d
                        .pending_keys
                        .iter()
                        .map(|p| PendingKeysPickle {
                            group_id: p.group_id.clone(),
                            distribution: p.distribution.to_vec(),
                        })
                        .collect(),
                    linked_by: d.linked_by,
                })
                .collect(),
            timer: self.timer.clone(),
        }
    }

    /// Restores a record, checking that it is the record of `user`.
    pub(crate) fn from_pickle(pickle: &UserRecordPickle, user: &str) -> Result<Self, PickleError> {
        let listed = pickle.devices.iter().filter(|d| d.listed).count();
        if pickle.user != user
            || listed > MAX_DEVICES_PER_USER
            || pickle.devices.len() - listed > MAX_UNLISTED_DEVICES_PER_USER
        {
            return Err(PickleError::Invalid);
        }
        let mut devices = BTreeMap::new();
        for d in &pickle.devices {
            let identity = match &d.identity {
                Some(bytes) if bytes.len() == PUBLIC_IDENTITY_LEN => {
                    Some(PublicIdentity::decode(bytes).map_err(|_| PickleError::Invalid)?)
                }
                Some(_) => return Err(PickleError::Invalid),
                None => None,
            };
            let status = DeviceStatus::from_byte(d.status).ok_or(PickleError::Invalid)?;
            if d.pending_keys.len() > MAX_PENDING_GROUP_KEYS_PER_DEVICE {
                return Err(PickleError::Invalid);
            }
            let mut pending_keys = Vec::with_capacity(d.pending_keys.len());
            for p in &d.pending_keys {
                // Each names the group it is kept for.
                if crate::group::distribution_group_id(&p.distribution).ok().as_deref() != Some(&p.group_id[..]) {
                    return Err(PickleError::Invalid);
                }
                pending_keys.push(PendingKeys {
                    group_id: p.group_id.clone(),
                    distribution: Zeroizing::new(p.distribution.clone()),
                });
            }
            // Only a device with an identity can have been linked, and
            // never by itself.
            if d.linked_by.is_some_and(|by| by == d.device || identity.is_none()) {
                return Err(PickleError::Invalid);
            }
            let device = DeviceRecord {
                identity,
                status,
                listed: d.listed,
                post_quantum: d.post_quantum,
                pending_keys,
                linked_by: d.linked_by,
            };
            if devices.insert(d.device, device).is_some() {
                return Err(PickleError::Invalid);
            }
        }
        Ok(Self {
            user: user.to_owned(),
            verified: pickle.verified,
            contact: pickle.contact,
            devices,
            timer: pickle.timer.clone(),
        })
    }
}

/// What the application sees of a device: [`crate::Conversations::devices`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DeviceInfo {
    /// The device.
    pub address: Address,
    /// Its identity, once learned (from its bundle or first message).
    pub identity: Option<PublicIdentity>,
    /// Whether messages go to it.
    pub status: DeviceStatus,
    /// Whether it is in the application's device list for its user.
    pub listed: bool,
    /// The device of the same user whose link statement made it trusted
    /// (docs/PROTOCOL.md §13.14), if its trust came from a link: show it
    /// ("linked by Alice's phone").
    pub linked_by: Option<Address>,
}

/// A device in a user record pickle.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub(crate) struct DevicePickle {
    device: u32,
    identity: Option<Vec<u8>>,
    status: u8,
    listed: bool,
    post_quantum: bool,
    pending_keys: Vec<PendingKeysPickle>,
    linked_by: Option<u32>,
}

/// A pending distribution in a device pickle. It holds sender keys, so it
/// is wiped when dropped.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct PendingKeysPickle {
    group_id: Vec<u8>,
    distribution: Vec<u8>,
}

/// The sealed form of a [`UserRecord`]. Holds no secret (identities are
/// public) but is sealed like every record, so the store learns nothing
/// about who trusts whom beyond the row's user id.
#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct UserRecordPickle {
    version: u32,
    user: String,
    verified: bool,
    contact: bool,
    devices: Vec<DevicePickle>,
    timer: TimerState,
}

impl UserRecordPickle {
    /// The user it is the record of.
    pub(crate) fn user(&self) -> &str {
        &self.user
    }

    /// The same record without the group keys kept for its devices (they
    /// were sent to this device, not to another).
    pub(crate) fn without_pending_keys(mut self) -> Self {
        for d in &mut self.devices {
            d.pending_keys.clear();
        }
        self
    }
}

impl PickleKind for UserRecordPickle {
    const TYPE: u8 = TYPE_USER_RECORD;
    const LABEL: &'static [u8] = labels::KDF_RECORD_USER;
    fn version(&self) -> u32 {
        self.version
    }
}

/// The sealed form of this device's row: its address and its account. The
/// address is checked on open, so a store is never used under another
/// device's address (its sessions would carry the wrong context).
#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct DeviceRecordPickle {
    version: u32,
    user: String,
    device: u32,
    account: crate::pickle::AccountPickle,
    config: ConfigPickle,
}

/// A [`ConversationConfig`] as the device record stores it.
#[derive(Serialize, Deserialize, zeroize::Zeroize)]
pub(crate) struct ConfigPickle {
    /// `0` anyone, `1` known contacts only, `2` message requests.
    contact_policy: u8,
    max_unacknowledged_age: u64,
    max_promotion_age: u64,
    resend_max_age: u64,
    /// `0` Padmé, `1` powers of two (with `padding_cap`), `2` off.
    padding: u8,
    padding_cap: u64,
    skipped_key_max_age: u64,
    prekey_one_time_target: u32,
    prekey_pq_one_time_target: u32,
    prekey_rotation_secs: u64,
    prekey_grace_secs: u64,
}

impl ConfigPickle {
    fn new(config: &ConversationConfig) -> Self {
        Self {
            contact_policy: config.contact_policy.to_byte(),
            max_unacknowledged_age: config.max_unacknowledged_age,
            max_promotion_age: config.max_promotion_age,
            resend_max_age: config.resend_max_age,
            padding: config.padding.to_parts().0,
            padding_cap: config.padding.to_parts().1,
            skipped_key_max_age: config.skipped_key_max_age,
            prekey_one_time_target: config.prekeys.one_time_target,
            prekey_pq_one_time_target: config.prekeys.pq_one_time_target,
            prekey_rotation_secs: config.prekeys.rotation_secs,
            prekey_grace_secs: config.prekeys.grace_secs,
        }
    }

    fn open(&self) -> Result<ConversationConfig, PickleError> {
        let policy = ContactPolicy::from_byte(self.contact_policy).ok_or(PickleError::Invalid)?;
        Ok(ConversationConfig::new()
            .with_contact_policy(policy)
            .with_max_unacknowledged_age(self.max_unacknowledged_age)
            .with_max_promotion_age(self.max_promotion_age)
            .with_resend_max_age(self.resend_max_age)
            .with_padding(Padding::from_parts(self.padding, self.padding_cap).ok_or(PickleError::Invalid)?)
            .with_skipped_key_max_age(self.skipped_key_max_age)
            .with_prekey_policy(
                super::PreKeyPolicy::new()
                    .with_targets(self.prekey_one_time_target, self.prekey_pq_one_time_target)
                    .with_rotation(self.prekey_rotation_secs, self.prekey_grace_secs),
            ))
    }
}

impl DeviceRecordPickle {
    pub(crate) fn new(me: &Address, account: &crate::Account, config: &ConversationConfig) -> Self {
        Self {
            version: PICKLE_VERSION,
            user: me.user().to_owned(),
            device: me.device(),
            account: account.pickle(),
            config: ConfigPickle::new(config),
        }
    }

    /// The account and the config, if this is the record of `me`;
    /// otherwise the address it belongs to.
    #[allow(clippy::type_complexity, reason = "one result nested in another, each with its own meaning")]
    pub(crate) fn open(
        &self,
        me: &Address,
    ) -> Result<Result<(crate::Account, ConversationConfig), Address>, PickleError> {
        if self.user != me.user() || self.device != me.device() {
            return Ok(Err(Address::new(self.user.clone(), self.device).map_err(|_| PickleError::Invalid)?));
        }
        Ok(Ok((crate::Account::from_pickle(&self.account)?, self.config.open()?)))
    }
}

impl PickleKind for DeviceRecordPickle {
    const TYPE: u8 = crate::pickle::TYPE_DEVICE_RECORD;
    const LABEL: &'static [u8] = labels::KDF_RECORD_DEVICE;
    fn version(&self) -> u32 {
        self.version
    }
}
