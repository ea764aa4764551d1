//! Linking a new device of this device's user (docs/PROTOCOL.md §13.14):
//! the new device shows a [`LinkOffer`]; an existing device signs a
//! [`DeviceLink`] for it and seals a handover (contacts, trust, groups, an
//! optional bounded history) to it; the new device opens it; other
//! devices that trust the linking device trust the new one when its first
//! messages show the statement.

use rand_core::Rng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::trust::IdentityChange;
use super::user::{DeviceStatus, MAX_DEVICES_PER_USER, MAX_UNLISTED_DEVICES_PER_USER, UserRecord, UserRecordPickle};
use super::{Conversations, Event};
use crate::ConversationError;
use crate::address::Address;
use crate::error::{DecodeError, PickleError};
use crate::group::Group;
use crate::identity::PublicIdentity;
use crate::labels;
use crate::link::{DeviceLink, LinkOffer};
use crate::pickle::{self, PICKLE_VERSION, PickleKind, TYPE_LINK_HANDOVER};
use crate::primitives::dh::{X25519KeyPair, X25519PublicKey};
use crate::primitives::kdf::hkdf_sha256;
use crate::store::{AppWrite, Store};
use crate::wire::{Reader, TYPE_LINK_HANDOVER as WIRE_LINK_HANDOVER, Writer};

/// How long a [`LinkOffer`] can be answered: 10 minutes after the new
/// device made it, by its own clock. A photographed QR code is useless
/// after that (docs/PROTOCOL.md §13.14, SECURITY.md).
pub const MAX_LINK_OFFER_AGE: u64 = 10 * 60;

/// The most bytes of history rows one link hands over (keys and values of
/// [`AppWrite`]s): 8 MiB. More history goes by other means (a backup).
pub const MAX_LINK_HISTORY_BYTES: usize = 8 * 1024 * 1024;

/// The longest handover a new device opens: 32 MiB (history, and about
/// ten thousand contacts of several devices each); longer is refused
/// before any decryption.
pub const MAX_LINK_HANDOVER_LEN: usize = 32 * 1024 * 1024;

/// Linking refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The offer is not a valid encoding.
    Malformed(DecodeError),
    /// The offer names a device of another user: only a person's own
    /// devices are linked.
    OtherUser,
    /// The offer names this device.
    OwnDevice,
    /// This device made no offer, or already completed it.
    NoOffer,
    /// The offer is older than [`MAX_LINK_OFFER_AGE`]: show a new one.
    Expired,
    /// The handover does not open under this device's offer, or its link
    /// statement is not a valid statement about this device by the device
    /// that sent it: drop it.
    Forged,
    /// The history given is larger than [`MAX_LINK_HISTORY_BYTES`], or the
    /// handover than [`MAX_LINK_HANDOVER_LEN`].
    TooLarge {
        /// The length.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

impl core::fmt::Display for LinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Malformed(_) => f.write_str("link offer or handover is malformed"),
            Self::OtherUser => f.write_str("link offer names another user's device"),
            Self::OwnDevice => f.write_str("link offer names this device"),
            Self::NoOffer => f.write_str("this device has no open link offer"),
            Self::Expired => f.write_str("link offer expired"),
            Self::Forged => f.write_str("link handover does not open or its statement is invalid"),
            Self::TooLarge { len, max } => write!(f, "link handover part of {len} bytes exceeds the maximum {max}"),
        }
    }
}

impl std::error::Error for LinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed(e) => Some(e),
            _ => None,
        }
    }
}

/// What [`Conversations::complete_link`] took over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkCompleted {
    /// The device that linked this one.
    pub linked_by: Address,
    /// User records handed over (contacts, their devices and trust).
    pub users: usize,
    /// Groups created here with the linking device's member lists.
    pub groups: usize,
    /// History rows written to the store.
    pub history: usize,
    /// This device's identity upload, now carrying the link statement:
    /// upload it to the prekey directory
    /// ([`crate::directory::Directory::publish_identity`]) so the bundles
    /// others fetch show the link too, and a contact who writes first
    /// trusts this device at once.
    pub identity_upload: crate::directory::IdentityUpload,
}

/// A group as the handover carries it: its id and its members.
#[derive(Serialize, Deserialize)]
struct GroupHandoverPickle {
    group_id: Vec<u8>,
    /// Address encodings (docs/PROTOCOL.md §13.1).
    members: Vec<Vec<u8>>,
}

/// One application row of history.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct HistoryRowPickle {
    namespace: String,
    key: Vec<u8>,
    value: Vec<u8>,
    expires_at: Option<u64>,
}

/// What the linking device hands over, sealed to the new device.
#[derive(Serialize, Deserialize)]
struct HandoverPickle {
    version: u32,
    /// The [`DeviceLink`] encoding.
    link: Vec<u8>,
    /// The linking device's public identity (128 bytes).
    linker_identity: Vec<u8>,
    users: Vec<UserRecordPickle>,
    groups: Vec<GroupHandoverPickle>,
    history: Vec<HistoryRowPickle>,
}

impl PickleKind for HandoverPickle {
    const TYPE: u8 = TYPE_LINK_HANDOVER;
    const LABEL: &'static [u8] = labels::KDF_LINK_HANDOVER;
    fn version(&self) -> u32 {
        self.version
    }
}

/// The key a handover is sealed under: HKDF over the ephemeral DH with
/// the new device's identity key, salted with the offer's secret.
fn handover_key(
    secret: &[u8; 32],
    shared: &[u8; 32],
    ephemeral: &X25519PublicKey,
    new_identity: &PublicIdentity,
) -> Zeroizing<[u8; 32]> {
    hkdf_sha256(secret, shared, &[labels::KDF_LINK_KEY, ephemeral.as_bytes(), &new_identity.key_bytes()])
}

impl<S: Store> Conversations<S> {
    /// Starts linking this new device to an existing device of its user:
    /// returns the offer to show as a QR code (its bytes,
    /// [`LinkOffer::encode`]) for the existing device to read. It holds a
    /// one-time secret, kept here in memory until
    /// [`Conversations::complete_link`] (a new offer replaces it; a restart
    /// forgets it). Open this device's conversations under its address
    /// (the user it logs in as, the device id its server gave it) first.
    pub fn link_offer(&mut self, now: u64) -> LinkOffer {
        let mut secret = Zeroizing::new([0u8; 32]);
        self.rng.fill_bytes(secret.as_mut());
        let offer = LinkOffer::new(self.me.clone(), self.account.identity().clone(), *secret, now);
        self.pending_link = Some(offer.clone());
        offer
    }

    /// Links a new device of this device's user from the offer it showed
    /// (read from its QR code, [`LinkOffer::decode`]): signs a
    /// [`DeviceLink`] for its identity, records it here as a trusted
    /// device of this user, and returns the handover to send it (through
    /// the server: it is sealed to the new device, and only the device
    /// that read the code can make one it accepts). The handover carries
    /// the link, this device's identity, every user record (contacts,
    /// their devices, identities, trust and verified marks, timers), every
    /// group with its members, and `history`: application rows (at most
    /// [`MAX_LINK_HISTORY_BYTES`] of keys and values) the new device writes
    /// as they are, with their expiry (deletions in `history` are
    /// skipped: there is nothing to delete on a new device).
    ///
    /// Only link a device whose screen you are looking at: whoever gets
    /// this device to read their code gets a device the user's contacts
    /// trust.
    ///
    /// # Errors
    ///
    /// [`ConversationError::Link`] ([`LinkError::OtherUser`],
    /// [`LinkError::OwnDevice`], [`LinkError::TooLarge`]),
    /// [`ConversationError::TooManyDevices`], or a store error; nothing
    /// changed then.
    pub fn link_device(
        &mut self,
        offer: &LinkOffer,
        history: &[AppWrite],
        now: u64,
    ) -> Result<Vec<u8>, ConversationError> {
        let new = offer.device().clone();
        if new.user() != self.me.user() {
            return Err(LinkError::OtherUser.into());
        }
        if new == self.me {
            return Err(LinkError::OwnDevice.into());
        }
        let history_len = history
            .iter()
            .fold(0usize, |n, w| n.saturating_add(w.key().len()).saturating_add(w.value().map_or(0, <[u8]>::len)));
        if history_len > MAX_LINK_HISTORY_BYTES {
            return Err(LinkError::TooLarge { len: history_len, max: MAX_LINK_HISTORY_BYTES }.into());
        }
        let mut groups = Vec::new();
        for group_id in self.store.group_ids()? {
            let members = self.group_members(&group_id)?.iter().map(Address::encode).collect();
            groups.push(GroupHandoverPickle { group_id, members });
        }
        let user_ids = self.store.user_ids()?;
        self.operate(|this, work| {
            // The new device is trusted here under the identity in its
            // code; sessions of any identity it had before go.
            let identity = offer.identity().clone();
            let me = this.me.device();
            let changed = this
                .user_mut(work, new.user())?
                .trust_linked(new.device(), &identity, Some(me))
                .map_err(|cap| ConversationError::TooManyDevices { user: new.user().to_owned(), max: cap.max })?
                == IdentityChange::Changed;
            if changed {
                this.drop_old_identity(work, &new, &identity)?;
            }
            let mut users = Vec::with_capacity(user_ids.len().saturating_add(1));
            let mut ids = user_ids.clone();
            if !ids.iter().any(|u| u == new.user()) {
                ids.push(new.user().to_owned());
            }
            for id in &ids {
                users.push(this.user(work, id)?.pickle().without_pending_keys());
            }
            let account = this.account_in(work);
            let link = DeviceLink::sign(&account.identity, this.me.device(), new.clone(), identity.clone(), now);
            let handover = HandoverPickle {
                version: PICKLE_VERSION,
                link: link.encode(),
                linker_identity: account.identity().encode().to_vec(),
                users,
                groups,
                history: history
                    .iter()
                    .filter_map(|w| {
                        Some(HistoryRowPickle {
                            namespace: w.namespace().to_owned(),
                            key: w.key().to_vec(),
                            value: w.value()?.to_vec(),
                            expires_at: w.expiry(),
                        })
                    })
                    .collect(),
            };
            let ephemeral = X25519KeyPair::generate(&mut *this.rng);
            let shared = ephemeral.diffie_hellman(&identity.agreement_key()).map_err(LinkError::from)?;
            let key = handover_key(offer.secret(), shared.as_bytes(), &ephemeral.public(), &identity);
            let mut w = Writer::with_header(WIRE_LINK_HANDOVER, 2 + 32);
            w.bytes(ephemeral.public().as_bytes());
            let mut sealed = w.finish();
            sealed.extend_from_slice(&pickle::encrypt(&handover, &key, &new.encode(), &mut *this.rng));
            Ok(sealed)
        })
    }

    /// Completes linking on the new device: opens the handover the
    /// existing device sent for this device's offer, checks its link
    /// statement (made by the device that sealed it, about this device
    /// and its identity), and commits at once: the statement (first
    /// messages of this device's sessions carry it from now on), the
    /// user records (contacts, devices, trust; the linking device
    /// trusted), the groups (created here with the same members, as
    /// [`Conversations::create_group`] does; their sender keys arrive
    /// with the members' next messages) and the history rows. The offer
    /// is used up.
    ///
    /// # Errors
    ///
    /// [`ConversationError::Link`] ([`LinkError::NoOffer`],
    /// [`LinkError::Expired`], [`LinkError::Forged`],
    /// [`LinkError::Malformed`], [`LinkError::TooLarge`]), or a store
    /// error; nothing changed then (and the offer stays open).
    pub fn complete_link(&mut self, handover: &[u8], now: u64) -> Result<LinkCompleted, ConversationError> {
        let offer = self.pending_link.clone().ok_or(LinkError::NoOffer)?;
        if now >= offer.created_at().saturating_add(MAX_LINK_OFFER_AGE) || now < offer.created_at() {
            return Err(LinkError::Expired.into());
        }
        if handover.len() > MAX_LINK_HANDOVER_LEN {
            return Err(LinkError::TooLarge { len: handover.len(), max: MAX_LINK_HANDOVER_LEN }.into());
        }
        let mut r = Reader::new(handover);
        r.header(WIRE_LINK_HANDOVER).map_err(LinkError::Malformed)?;
        let ephemeral = r.x25519().map_err(LinkError::Malformed)?;
        let sealed = r.rest();
        let shared = self.account.identity.agreement().diffie_hellman(&ephemeral).map_err(|_| LinkError::Forged)?;
        let key = handover_key(offer.secret(), shared.as_bytes(), &ephemeral, offer.identity());
        let handover: HandoverPickle =
            pickle::decrypt(sealed, &key, &self.me.encode()).map_err(|_: PickleError| LinkError::Forged)?;
        let link = DeviceLink::decode(&handover.link).map_err(|_| LinkError::Forged)?;
        let linker_identity = PublicIdentity::decode(&handover.linker_identity).map_err(|_| LinkError::Forged)?;
        if link.device() != &self.me || link.identity() != self.account.identity() || !link.verify(&linker_identity) {
            return Err(LinkError::Forged.into());
        }
        let linker = link.linked_by();
        let mut users = Vec::with_capacity(handover.users.len());
        for p in &handover.users {
            users.push(UserRecord::from_pickle(p, p.user()).map_err(|_| LinkError::Forged)?);
        }
        let history: Vec<AppWrite> = handover
            .history
            .iter()
            .map(|row| {
                let write = AppWrite::put(row.namespace.clone(), row.key.clone(), row.value.clone());
                match row.expires_at {
                    Some(at) => write.expires_at(at),
                    None => write,
                }
            })
            .collect();
        let me = self.me.clone();
        let history_len = history.len();
        let completed = self.operate_with(history, |this, work| {
            this.account_mut(work).device_link = Some(link.clone());
            for mut record in users {
                if record.user == me.user() {
                    record.devices.remove(&me.device());
                    record.devices.remove(&linker.device());
                }
                let held = this.user_mut(work, &record.user.clone())?;
                merge_user(held, record);
            }
            // The linking device, pinned under the identity that signed
            // the statement, whatever this device held for its address
            // (sessions of another identity go, §13.4).
            let own = this.user_mut(work, me.user())?;
            let change = own
                .trust_linked(linker.device(), &linker_identity, None)
                .map_err(|cap| ConversationError::TooManyDevices { user: me.user().to_owned(), max: cap.max })?;
            // Listed, so this device's copies reach it, within the cap.
            let listed = own.listed().count();
            if let Some(d) = own.devices.get_mut(&linker.device())
                && listed < MAX_DEVICES_PER_USER
            {
                d.listed = true;
            }
            if change == IdentityChange::Changed {
                this.drop_old_identity(work, &linker, &linker_identity)?;
            }
            let mut groups = 0usize;
            for g in &handover.groups {
                if this.peek_group(&g.group_id, |_| ())?.is_some() {
                    continue;
                }
                // A group the handover cannot describe is a forged
                // handover: the linking device holds only valid ones.
                let mut group = Group::new(&g.group_id, &me.encode()).map_err(|_| LinkError::Forged)?;
                let mut members: std::collections::BTreeSet<Vec<u8>> = g.members.iter().cloned().collect();
                members.insert(linker.encode());
                members.remove(&me.encode());
                for member in &members {
                    if Address::decode(member).is_ok() {
                        group.add_member(member).map_err(|_| LinkError::Forged)?;
                    }
                }
                this.insert_group(work, group)?;
                groups = groups.saturating_add(1);
            }
            Ok::<_, ConversationError>(LinkCompleted {
                linked_by: linker.clone(),
                users: handover.users.len(),
                groups,
                history: history_len,
                identity_upload: this.account_in(work).identity_upload(now),
            })
        })?;
        self.pending_link = None;
        Ok(completed)
    }

    /// Takes a link statement that came with a message (content type
    /// `0x0a`) or a bundle (docs/PROTOCOL.md §13.14): if it is about the device
    /// and its pinned identity, and signed by a trusted device of the same
    /// user under its pinned identity (or by this device), the sending
    /// device becomes trusted as linked by that device
    /// ([`Event::DeviceLinked`]). Anything else leaves the device as it
    /// was: a statement by a device this one does not trust counts for
    /// nothing.
    pub(super) fn take_link(
        &mut self,
        work: &mut super::work::Work,
        from: &Address,
        link: &DeviceLink,
        events: &mut Vec<Event>,
    ) -> Result<(), ConversationError> {
        if link.device() != from {
            return Ok(());
        }
        let linker = link.linked_by();
        let own_identity = self.account_in(work).identity().clone();
        let user = self.user(work, from.user())?;
        let Some(device) = user.devices.get(&from.device()) else { return Ok(()) };
        if device.identity.as_ref() != Some(link.identity()) || device.linked_by.is_some() {
            return Ok(());
        }
        let linker_identity = if linker == self.me {
            Some(own_identity)
        } else {
            user.devices
                .get(&linker.device())
                .filter(|d| d.status == DeviceStatus::Trusted)
                .and_then(|d| d.identity.clone())
        };
        if !linker_identity.is_some_and(|i| link.verify(&i)) {
            return Ok(());
        }
        // The identity is the one pinned (checked above): nothing else
        // about the device changes, and it is known, so no cap applies.
        let _ = self.user_mut(work, from.user())?.trust_linked(from.device(), link.identity(), Some(linker.device()));
        // A device first seen by this operation is reported with the
        // status it ends with.
        for e in events.iter_mut() {
            if let Event::NewDevice { address, status } = e
                && address == from
            {
                *status = DeviceStatus::Trusted;
            }
        }
        events.push(Event::DeviceLinked { address: from.clone(), by: linker });
        Ok(())
    }
}

/// Adds what a handover knows about a user to what this device holds:
/// devices it does not know yet (with their identities and trust), and
/// the verified and contact marks. What this device learned itself stays.
fn merge_user(held: &mut UserRecord, from_handover: UserRecord) {
    held.verified |= from_handover.verified;
    held.contact |= from_handover.contact;
    if held.timer == Default::default() {
        held.timer = from_handover.timer;
    }
    for (id, device) in from_handover.devices {
        // Within the caps of a user record (§13.4): past them, what the
        // application's device list says later decides.
        let (listed, unlisted) = held.devices.values().fold((0usize, 0usize), |(l, u), d| {
            if d.listed { (l.saturating_add(1), u) } else { (l, u.saturating_add(1)) }
        });
        let room = if device.listed { listed < MAX_DEVICES_PER_USER } else { unlisted < MAX_UNLISTED_DEVICES_PER_USER };
        if room {
            held.devices.entry(id).or_insert(device);
        }
    }
}

impl From<LinkError> for ConversationError {
    fn from(e: LinkError) -> Self {
        Self::Link(e)
    }
}

impl From<crate::error::KeyError> for LinkError {
    fn from(_: crate::error::KeyError) -> Self {
        Self::Forged
    }
}
