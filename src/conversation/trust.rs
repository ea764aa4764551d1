//! Trust and contact policy (docs/PROTOCOL.md §13.4): plain decisions over
//! a user record. Nothing here reads a store, a cache or a clock, so every
//! rule is unit tested on its own; the operations in `receive`, `send` and
//! `contacts` apply what these functions decide.

use super::config::ContactPolicy;
use super::user::{DeviceRecord, DeviceStatus, MAX_DEVICES_PER_USER, MAX_UNLISTED_DEVICES_PER_USER, UserRecord};
use crate::address::{Address, AddressError};
use crate::identity::PublicIdentity;

/// Something the application must know about, reported by the operation
/// that noticed it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Event {
    /// A device dmseal had not seen for this user. With the status
    /// [`DeviceStatus::AwaitingApproval`] (the user is verified), nothing
    /// is sent to the user until the application approves it.
    NewDevice {
        /// The device.
        address: Address,
        /// Its status now.
        status: DeviceStatus,
    },
    /// The device's identity is not the one seen before: the device was
    /// reinstalled, or someone is impersonating it. Every session with the
    /// old identity was deleted and its group keys revoked; sending to its
    /// user is blocked until the application approves the new identity
    /// ([`crate::Conversations::approve_device`]).
    IdentityChanged {
        /// The device.
        address: Address,
    },
    /// A first message from someone who is not a contact, held as a
    /// message request.
    MessageRequest {
        /// The device it came from.
        address: Address,
    },
    /// The device started a new session with this one because its old
    /// one broke ([`crate::Conversations::heal`]): messages this device
    /// sent it lately may not have been read.
    SessionHealed {
        /// The device.
        address: Address,
    },
    /// Messages this device sent to the device on a session that stopped
    /// being current (the device started or went back to another session,
    /// this device started a new one, or it was restored from a backup)
    /// were marked to be sent again: they may never have arrived, and
    /// nothing later on that session would show the device they are
    /// missing. Call [`crate::Conversations::resend`] for it; the device
    /// reads each once (copies of what it read are refused).
    ResendDue {
        /// The device.
        address: Address,
    },
    /// A conversation's disappearing-message timer changed
    /// ([`crate::Content::Timer`]), by a change newer than the one held
    /// (a change delivered late is read but changes nothing, and reports
    /// nothing). Messages this device sends there from now on carry it.
    TimerChanged {
        /// The conversation.
        conversation: crate::Destination,
        /// The timer in seconds; `0` for none.
        seconds: u32,
        /// The device that changed it.
        by: Address,
    },
    /// A device showed a link statement (docs/PROTOCOL.md §13.14) signed
    /// by a device of the same user that this device trusts: it is
    /// trusted now without an approval, as linked by `by`.
    DeviceLinked {
        /// The linked device.
        address: Address,
        /// The trusted device that linked it.
        by: Address,
    },
}

/// What seeing an identity for a device did to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdentityChange {
    /// The record already had this identity.
    Same,
    /// The record had none: trust on first use.
    Learned,
    /// The record had another one: the device is now
    /// [`DeviceStatus::IdentityChanged`], and everything of the old
    /// identity (sessions, group keys) must go.
    Changed,
}

impl DeviceRecord {
    /// Lists a known device that was not listed and returns its status:
    /// for a verified user a trusted device waits for approval again, as
    /// any device new to the fan-out does.
    fn enter_fan_out(&mut self, user_verified: bool) -> DeviceStatus {
        self.listed = true;
        // A device a trusted device linked keeps that trust.
        if user_verified && self.status == DeviceStatus::Trusted && self.linked_by.is_none() {
            self.status = DeviceStatus::AwaitingApproval;
        }
        self.status
    }

    /// Records that the device used PQXDH (or signed that it publishes PQ
    /// prekeys), if `used`; returns whether that is new, in which case its
    /// older classic sessions must go (docs/PROTOCOL.md §13.4).
    pub(crate) fn mark_post_quantum(&mut self, used: bool) -> bool {
        let newly = used && !self.post_quantum;
        self.post_quantum |= used;
        newly
    }

    /// Records `identity` for this device: trust on first use; a different
    /// identity than the one pinned marks the device changed.
    pub(crate) fn see_identity(&mut self, identity: &PublicIdentity) -> IdentityChange {
        match &self.identity {
            None => {
                self.identity = Some(identity.clone());
                IdentityChange::Learned
            }
            Some(known) if known == identity => IdentityChange::Same,
            Some(_) => {
                self.identity = Some(identity.clone());
                self.status = DeviceStatus::IdentityChanged;
                // The link vouched for the old identity only.
                self.linked_by = None;
                // Keys the old identity sent are never applied.
                self.pending_keys.clear();
                IdentityChange::Changed
            }
        }
    }
}

/// Where a first message (one that starts a session) goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstMessageRoute {
    /// Into the device's session record: an ordinary conversation.
    Conversation,
    /// Decrypted and held apart as a message request.
    Request,
    /// Refused before any decryption ([`crate::ReceiveError::NotAContact`]).
    Refused,
}

/// What a first message from `from` becomes under `policy`. A sender is
/// **known** when its user is a contact, is this device's own user, or the
/// sending device is in the application's device list; a known sender is
/// never a stranger.
pub(crate) fn route_first_message(
    policy: ContactPolicy,
    me: &Address,
    from: &Address,
    user: &UserRecord,
) -> FirstMessageRoute {
    let known = user.contact || from.user() == me.user() || user.devices.get(&from.device()).is_some_and(|d| d.listed);
    match policy {
        _ if known => FirstMessageRoute::Conversation,
        ContactPolicy::Anyone => FirstMessageRoute::Conversation,
        ContactPolicy::KnownContactsOnly => FirstMessageRoute::Refused,
        ContactPolicy::MessageRequests => FirstMessageRoute::Request,
    }
}

/// A device cap was reached; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceCap {
    /// The cap that was reached.
    pub(crate) max: usize,
}

/// A listed device cannot be forgotten; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StillListed;

/// Why a device could not be approved; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApprovalRefused {
    /// No such device is known.
    UnknownDevice,
    /// The device's identity is not the one the person compared (it
    /// changed between the comparison and the approval, or none is known).
    IdentityMismatch,
}

impl UserRecord {
    /// The address of one of this user's devices.
    pub(crate) fn address(&self, device: u32) -> Result<Address, AddressError> {
        Address::new(self.user.clone(), device)
    }

    /// How many known devices are not listed.
    fn unlisted_len(&self) -> usize {
        self.devices.values().filter(|d| !d.listed).count()
    }

    /// Makes room for one more unlisted device, if the unlisted devices are
    /// at [`MAX_UNLISTED_DEVICES_PER_USER`], by forgetting one whose
    /// identity was never learned. A device with a pinned identity is
    /// never forgotten to make room: whoever could fill the cap (a server
    /// inventing devices that write first) could otherwise make a pinned
    /// device's next identity look new instead of changed.
    fn room_for_unlisted(&mut self) -> Result<(), DeviceCap> {
        self.trim_unlisted(MAX_UNLISTED_DEVICES_PER_USER - 1)
    }

    /// Forgets unlisted devices whose identity was never learned until at
    /// most `keep` devices are unlisted; refused, changing nothing, if
    /// only devices with a pinned identity are left to forget.
    fn trim_unlisted(&mut self, keep: usize) -> Result<(), DeviceCap> {
        let unforgettable = self.devices.values().filter(|d| !d.listed && d.identity.is_some()).count();
        if unforgettable > keep {
            return Err(DeviceCap { max: MAX_UNLISTED_DEVICES_PER_USER });
        }
        while self.unlisted_len() > keep {
            let Some(id) = self.devices.iter().find(|(_, d)| !d.listed && d.identity.is_none()).map(|(id, _)| *id)
            else {
                break;
            };
            self.devices.remove(&id);
        }
        Ok(())
    }

    /// Records a device that appeared without being listed (it wrote
    /// first, or is a group member no device list named) and returns its
    /// status. It receives nothing until the application lists it.
    pub(crate) fn add_unlisted(
        &mut self,
        device: u32,
        identity: Option<PublicIdentity>,
    ) -> Result<DeviceStatus, DeviceCap> {
        self.room_for_unlisted()?;
        let status = self.status_for_new_device();
        self.devices.insert(device, DeviceRecord::new(identity, status, false));
        Ok(status)
    }

    /// Sets the application's device list (this device itself, `me`, is
    /// skipped). Returns the devices that are new to the fan-out, with
    /// their status: devices never seen, and devices that only wrote first
    /// and are listed now (for a verified user those wait for approval like
    /// any new device). Devices no longer listed stay known. Nothing
    /// changes on error.
    pub(crate) fn set_listed(&mut self, devices: &[u32], me: &Address) -> Result<Vec<(u32, DeviceStatus)>, DeviceCap> {
        let mut next = self.clone();
        let wanted: Vec<u32> = devices
            .iter()
            .copied()
            .filter(|&d| !(self.user == me.user() && d == me.device()))
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .collect();
        if wanted.len() > MAX_DEVICES_PER_USER {
            return Err(DeviceCap { max: MAX_DEVICES_PER_USER });
        }
        let was_listed: Vec<u32> = next.listed().collect();
        for d in next.devices.values_mut() {
            d.listed = false;
        }
        let mut fresh = Vec::new();
        for &device in &wanted {
            let new_status = next.status_for_new_device();
            match next.devices.get_mut(&device) {
                Some(d) if was_listed.contains(&device) => d.listed = true,
                Some(d) => fresh.push((device, d.enter_fan_out(next.verified))),
                None => {
                    next.devices.insert(device, DeviceRecord::new(None, new_status, true));
                    fresh.push((device, new_status));
                }
            }
        }
        // Devices the list dropped join the unlisted ones; past the cap,
        // only devices with no pinned identity may be forgotten.
        next.trim_unlisted(MAX_UNLISTED_DEVICES_PER_USER)?;
        *self = next;
        Ok(fresh)
    }

    /// Lists a device whose message request was accepted, so replies fan
    /// out to it without the application listing it first; returns its
    /// status if it was not listed. A device that wrote first was
    /// recorded unlisted (no ghost fan-out); the person accepting its
    /// request is what lists it now. It gets the status any newly listed
    /// device gets (for a verified user it awaits approval). Past
    /// [`MAX_DEVICES_PER_USER`] listed devices it stays unlisted (the
    /// session is kept; the application's device list decides).
    pub(crate) fn list_accepted(&mut self, device: u32) -> Option<DeviceStatus> {
        let listed = self.listed().count();
        let verified = self.verified;
        let d = self.devices.get_mut(&device)?;
        if d.listed || listed >= MAX_DEVICES_PER_USER {
            return None;
        }
        Some(d.enter_fan_out(verified))
    }

    /// Trusts `device` under `identity` on a link's word (docs/PROTOCOL.md
    /// §13.14): learned or changed as any identity seen (a change drops
    /// the old identity's pending keys and link mark, and the caller
    /// drops its sessions), then trusted, with `linked_by` recorded (none
    /// for the linking device itself). A device not known yet is recorded
    /// unlisted. Returns what seeing the identity did.
    pub(crate) fn trust_linked(
        &mut self,
        device: u32,
        identity: &PublicIdentity,
        linked_by: Option<u32>,
    ) -> Result<IdentityChange, DeviceCap> {
        let change = match self.devices.get_mut(&device) {
            Some(d) => d.see_identity(identity),
            None => {
                self.add_unlisted(device, Some(identity.clone()))?;
                IdentityChange::Learned
            }
        };
        if let Some(d) = self.devices.get_mut(&device) {
            d.status = DeviceStatus::Trusted;
            d.linked_by = linked_by;
        }
        Ok(change)
    }

    /// Whether sending to `device` is blocked, and why.
    pub(crate) fn blocked(&self, device: u32) -> Option<DeviceStatus> {
        let status = self.devices.get(&device)?.status;
        (status != DeviceStatus::Trusted).then_some(status)
    }

    /// Approves `device` under the identity the person compared: a device
    /// awaiting approval becomes trusted, a changed identity is accepted
    /// (which drops the user's verified mark: the safety numbers changed).
    /// Refused, changing nothing, if the device's identity is not
    /// `compared`.
    pub(crate) fn approve(&mut self, device: u32, compared: &PublicIdentity) -> Result<(), ApprovalRefused> {
        let record = self.devices.get_mut(&device).ok_or(ApprovalRefused::UnknownDevice)?;
        if record.identity.as_ref() != Some(compared) {
            return Err(ApprovalRefused::IdentityMismatch);
        }
        let was = core::mem::replace(&mut record.status, DeviceStatus::Trusted);
        if was == DeviceStatus::IdentityChanged {
            self.verified = false;
        }
        Ok(())
    }

    /// Whether `device` may hand out group keys: it is trusted, and the
    /// session that carried them is under its pinned identity.
    pub(crate) fn may_send_group_keys(&self, device: u32, session_identity: Option<&PublicIdentity>) -> bool {
        self.devices.get(&device).is_some_and(|d| {
            d.status == DeviceStatus::Trusted && d.identity.is_some() && d.identity.as_ref() == session_identity
        })
    }

    /// Forgets a device that is not listed: its identity pin and status.
    /// Returns whether it was known; refused for a listed device.
    pub(crate) fn forget_unlisted(&mut self, device: u32) -> Result<bool, StillListed> {
        match self.devices.get(&device) {
            None => Ok(false),
            Some(d) if d.listed => Err(StillListed),
            Some(_) => Ok(self.devices.remove(&device).is_some()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use crate::Account;

    fn identity() -> PublicIdentity {
        Account::new().identity().clone()
    }

    fn me() -> Address {
        Address::new("me", 1).unwrap()
    }

    #[test]
    fn an_identity_is_pinned_on_first_use_and_a_different_one_is_a_change() {
        let mut d = DeviceRecord::new(None, DeviceStatus::Trusted, true);
        let (first, second) = (identity(), identity());
        assert_eq!(d.see_identity(&first), IdentityChange::Learned);
        assert_eq!(d.see_identity(&first), IdentityChange::Same);
        assert_eq!(d.status, DeviceStatus::Trusted);
        assert_eq!(d.see_identity(&second), IdentityChange::Changed);
        assert_eq!(d.status, DeviceStatus::IdentityChanged);
        assert_eq!(d.identity.as_ref(), Some(&second));
    }

    #[test]
    fn an_accepted_request_lists_its_device_up_to_the_listed_cap() {
        let mut user = UserRecord::new("alice");
        let listed: Vec<u32> = (1..MAX_DEVICES_PER_USER as u32).collect();
        user.set_listed(&listed, &me()).unwrap();
        user.add_unlisted(100, Some(identity())).unwrap();
        user.add_unlisted(101, Some(identity())).unwrap();
        // At the cap minus one, the accepted device is listed (the 32nd).
        assert_eq!(user.list_accepted(100), Some(DeviceStatus::Trusted));
        assert_eq!(user.listed().count(), MAX_DEVICES_PER_USER);
        // Past the cap it stays unlisted; listing it again changes nothing.
        assert_eq!(user.list_accepted(101), None);
        assert_eq!(user.list_accepted(100), None);
        assert!(!user.devices[&101].listed);
        // For a verified user, a newly listed device awaits approval.
        let mut verified = UserRecord::new("bob");
        verified.verified = true;
        verified.add_unlisted(7, Some(identity())).unwrap();
        verified.devices.get_mut(&7).unwrap().status = DeviceStatus::Trusted;
        assert_eq!(verified.list_accepted(7), Some(DeviceStatus::AwaitingApproval));
    }

    #[test]
    fn a_stranger_is_routed_by_the_policy_and_a_known_sender_never_is() {
        let from = Address::new("alice", 3).unwrap();
        let stranger = UserRecord::new("alice");
        let route = |policy, user: &UserRecord, from: &Address| route_first_message(policy, &me(), from, user);
        assert_eq!(route(ContactPolicy::Anyone, &stranger, &from), FirstMessageRoute::Conversation);
        assert_eq!(route(ContactPolicy::KnownContactsOnly, &stranger, &from), FirstMessageRoute::Refused);
        assert_eq!(route(ContactPolicy::MessageRequests, &stranger, &from), FirstMessageRoute::Request);
        let mut contact = UserRecord::new("alice");
        contact.contact = true;
        let mut listed = UserRecord::new("alice");
        listed.set_listed(&[3], &me()).unwrap();
        let sibling = Address::new("me", 2).unwrap();
        for policy in [ContactPolicy::KnownContactsOnly, ContactPolicy::MessageRequests] {
            assert_eq!(route(policy, &contact, &from), FirstMessageRoute::Conversation);
            assert_eq!(route(policy, &listed, &from), FirstMessageRoute::Conversation);
            assert_eq!(route(policy, &UserRecord::new("me"), &sibling), FirstMessageRoute::Conversation);
        }
        // A device that only wrote first is not listed, so still a stranger.
        let mut wrote = UserRecord::new("alice");
        wrote.add_unlisted(3, Some(identity())).unwrap();
        assert_eq!(route(ContactPolicy::MessageRequests, &wrote, &from), FirstMessageRoute::Request);
    }

    #[test]
    fn a_new_device_of_a_verified_user_awaits_approval_and_is_reported_when_listed() {
        let mut user = UserRecord::new("alice");
        assert_eq!(user.set_listed(&[1], &me()).unwrap(), vec![(1, DeviceStatus::Trusted)]);
        user.verified = true;
        assert_eq!(user.add_unlisted(7, Some(identity())).unwrap(), DeviceStatus::AwaitingApproval);
        assert_eq!(
            user.set_listed(&[1, 7, 8], &me()).unwrap(),
            vec![(7, DeviceStatus::AwaitingApproval), (8, DeviceStatus::AwaitingApproval)]
        );
        // Listing the same devices again reports nothing.
        assert!(user.set_listed(&[1, 7, 8], &me()).unwrap().is_empty());
        assert_eq!(user.blocked(8), Some(DeviceStatus::AwaitingApproval));
        assert_eq!(user.blocked(1), None);
    }

    #[test]
    fn the_device_list_skips_this_device_and_refuses_more_than_the_cap() {
        let mut own = UserRecord::new("me");
        assert_eq!(own.set_listed(&[1, 2], &me()).unwrap(), vec![(2, DeviceStatus::Trusted)]);
        let all: Vec<u32> = (0..MAX_DEVICES_PER_USER as u32).collect();
        let mut user = UserRecord::new("alice");
        assert_eq!(user.set_listed(&all, &me()).unwrap().len(), MAX_DEVICES_PER_USER);
        let too_many: Vec<u32> = (0..=MAX_DEVICES_PER_USER as u32).collect();
        let before = user.clone().pickle();
        assert_eq!(user.set_listed(&too_many, &me()), Err(DeviceCap { max: MAX_DEVICES_PER_USER }));
        assert_eq!(postcard::to_allocvec(&user.pickle()).unwrap(), postcard::to_allocvec(&before).unwrap());
    }

    #[test]
    fn devices_that_wrote_first_never_push_out_a_pinned_identity() {
        let mut user = UserRecord::new("alice");
        user.set_listed(&[1], &me()).unwrap();
        let pinned = identity();
        user.add_unlisted(5, Some(pinned.clone())).unwrap();
        // Throwaway devices fill the unlisted slots; the last one is refused.
        for id in 100..100 + MAX_UNLISTED_DEVICES_PER_USER as u32 - 1 {
            user.add_unlisted(id, Some(identity())).unwrap();
        }
        assert_eq!(user.add_unlisted(999, Some(identity())), Err(DeviceCap { max: MAX_UNLISTED_DEVICES_PER_USER }));
        assert_eq!(user.devices[&5].identity.as_ref(), Some(&pinned));
        // A device whose identity was never learned may make room.
        let mut user = UserRecord::new("alice");
        user.add_unlisted(5, None).unwrap();
        for id in 100..100 + MAX_UNLISTED_DEVICES_PER_USER as u32 - 1 {
            user.add_unlisted(id, Some(identity())).unwrap();
        }
        user.add_unlisted(999, Some(identity())).unwrap();
        assert!(!user.devices.contains_key(&5));
        // The listed devices have their own cap: the app's list still fits.
        let all: Vec<u32> = (1..=MAX_DEVICES_PER_USER as u32).collect();
        assert_eq!(user.set_listed(&all, &me()).unwrap().len(), MAX_DEVICES_PER_USER);
    }

    #[test]
    fn unlisting_past_the_cap_is_refused_rather_than_forgetting_a_pinned_identity() {
        let mut user = UserRecord::new("alice");
        let first: Vec<u32> = (0..MAX_DEVICES_PER_USER as u32).collect();
        user.set_listed(&first, &me()).unwrap();
        for d in user.devices.values_mut() {
            d.identity = Some(identity());
        }
        // Replacing the list unlists 32 pinned devices: at the cap, fine.
        // Replacing it again would unlist 32 more: refused.
        let second: Vec<u32> = (200..200 + MAX_DEVICES_PER_USER as u32).collect();
        user.set_listed(&second, &me()).unwrap();
        for id in &second {
            user.devices.get_mut(id).unwrap().identity = Some(identity());
        }
        let third: Vec<u32> = (300..300 + MAX_DEVICES_PER_USER as u32).collect();
        assert_eq!(user.set_listed(&third, &me()), Err(DeviceCap { max: MAX_UNLISTED_DEVICES_PER_USER }));
        assert!(user.set_listed(&second, &me()).unwrap().is_empty(), "nothing changed");
        // The person removes an old device by name: then there is room.
        for id in 0..MAX_DEVICES_PER_USER as u32 {
            assert_eq!(user.forget_unlisted(id), Ok(true));
        }
        assert_eq!(user.set_listed(&third, &me()).unwrap().len(), MAX_DEVICES_PER_USER);
    }

    #[test]
    fn approval_takes_the_identity_that_was_compared() {
        let mut user = UserRecord::new("alice");
        user.verified = true;
        let (old, new) = (identity(), identity());
        user.add_unlisted(1, Some(old.clone())).unwrap();
        user.approve(1, &old).unwrap();
        assert_eq!(user.blocked(1), None);
        assert!(user.verified, "approving a new device keeps the mark");
        assert_eq!(user.devices.get_mut(&1).unwrap().see_identity(&new), IdentityChange::Changed);
        // The key swapped after the comparison: refused, nothing changes.
        assert_eq!(user.approve(1, &old), Err(ApprovalRefused::IdentityMismatch));
        assert_eq!(user.blocked(1), Some(DeviceStatus::IdentityChanged));
        assert!(user.verified);
        user.approve(1, &new).unwrap();
        assert_eq!(user.blocked(1), None);
        assert!(!user.verified, "approving a changed identity drops the mark");
        assert_eq!(user.approve(9, &new), Err(ApprovalRefused::UnknownDevice));
    }

    #[test]
    fn group_keys_come_only_from_a_trusted_device_under_its_pinned_identity() {
        let mut user = UserRecord::new("alice");
        let (pinned, other) = (identity(), identity());
        user.add_unlisted(1, Some(pinned.clone())).unwrap();
        assert!(user.may_send_group_keys(1, Some(&pinned)));
        assert!(!user.may_send_group_keys(1, Some(&other)));
        assert!(!user.may_send_group_keys(1, None));
        assert!(!user.may_send_group_keys(2, Some(&pinned)));
        user.devices.get_mut(&1).unwrap().status = DeviceStatus::AwaitingApproval;
        assert!(!user.may_send_group_keys(1, Some(&pinned)));
    }
}
