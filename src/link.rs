//! Linking a new device of the same person (docs/PROTOCOL.md §13.14):
//! the offer the new device shows as a QR code, and the link statement
//! the existing device signs for it.

use crate::address::{Address, MAX_USER_ID_LEN};
use crate::error::DecodeError;
use crate::identity::{PUBLIC_IDENTITY_LEN, PublicIdentity};
use crate::labels;
use crate::primitives::signature::SIGNATURE_LEN;
use crate::wire::{Reader, TYPE_DEVICE_LINK, TYPE_LINK_OFFER, Writer};

/// Writes a user id as `u8 len ‖ bytes`; ids are at most
/// [`MAX_USER_ID_LEN`] (255) bytes, as [`Address`] guarantees.
fn write_user(w: &mut Writer, user: &str) {
    w.u8(u8::try_from(user.len()).unwrap_or(u8::MAX)).bytes(user.as_bytes());
}

fn read_address(r: &mut Reader<'_>) -> Result<Address, DecodeError> {
    let len = usize::from(r.u8()?);
    let user = core::str::from_utf8(r.bytes(len)?).map_err(|_| DecodeError::InvalidText)?;
    let device = r.u32()?;
    debug_assert!(len <= MAX_USER_ID_LEN);
    Address::new(user, device).map_err(|_| DecodeError::InvalidText)
}

/// A statement, signed by an existing device of a person, that a new
/// device (its address and identity) is theirs too. The new device
/// attaches it to the first messages of its sessions; a device that trusts
/// the signer trusts the new device without asking the person
/// ([`crate::Event::DeviceLinked`]). Made by
/// [`crate::Conversations::link_device`]; layout in docs/PROTOCOL.md
/// §13.14.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceLink {
    device: Address,
    identity: PublicIdentity,
    linked_by: u32,
    linked_at: u64,
    signature: [u8; SIGNATURE_LEN],
}

impl core::fmt::Debug for DeviceLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceLink")
            .field("device", &self.device)
            .field("linked_by", &self.linked_by)
            .field("linked_at", &self.linked_at)
            .finish_non_exhaustive()
    }
}

impl DeviceLink {
    /// Signs a link statement with the linking device's identity.
    pub(crate) fn sign(
        linker: &crate::identity::IdentityKeyPair,
        linked_by: u32,
        device: Address,
        identity: PublicIdentity,
        linked_at: u64,
    ) -> Self {
        let mut link = Self { device, identity, linked_by, linked_at, signature: [0; SIGNATURE_LEN] };
        link.signature = linker.signing().sign(&link.signed_bytes());
        link
    }

    /// The new device.
    pub fn device(&self) -> &Address {
        &self.device
    }

    /// The new device's identity.
    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// The device that linked it: the same user, this device id.
    pub fn linked_by(&self) -> Address {
        Address::new(self.device.user(), self.linked_by).unwrap_or_else(|_| self.device.clone())
    }

    /// When it was linked (the linking device's clock, seconds since the
    /// Unix epoch).
    pub fn linked_at(&self) -> u64 {
        self.linked_at
    }

    fn body(&self) -> Writer {
        let mut w = Writer::with_header(TYPE_DEVICE_LINK, 2 + 1 + 255 + 4 + PUBLIC_IDENTITY_LEN + 12 + SIGNATURE_LEN);
        write_user(&mut w, self.device.user());
        w.u32(self.device.device()).bytes(&self.identity.encode()).u32(self.linked_by).u64(self.linked_at);
        w
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let body = self.body().finish();
        let mut m = Vec::with_capacity(labels::SIG_DEVICE_LINK.len() + body.len());
        m.extend_from_slice(labels::SIG_DEVICE_LINK);
        m.extend_from_slice(&body);
        m
    }

    /// The byte encoding (docs/PROTOCOL.md §13.14).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.body();
        w.bytes(&self.signature);
        w.finish()
    }

    /// Decodes a statement, checking the address, the new device's
    /// identity (with its binding) and that it does not name itself as its
    /// linker. The signature is checked by [`DeviceLink::verify`].
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for any malformed or invalid field.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(TYPE_DEVICE_LINK)?;
        let device = read_address(&mut r)?;
        let identity = PublicIdentity::read(&mut r)?;
        let linked_by = r.u32()?;
        if linked_by == device.device() {
            return Err(DecodeError::SelfLink);
        }
        let linked_at = r.u64()?;
        let signature = r.array()?;
        r.finish()?;
        Ok(Self { device, identity, linked_by, linked_at, signature })
    }

    /// Whether `linker` (the identity of [`DeviceLink::linked_by`] as the
    /// verifier knows it) signed this statement (§3.2).
    pub fn verify(&self, linker: &PublicIdentity) -> bool {
        linker.signing_key().verify(&self.signed_bytes(), &self.signature).is_ok()
    }
}

/// What a new device shows (as a QR code) to an existing device of the
/// same person to be linked: its address, its identity, and a one-time
/// secret that only the device that reads the code learns. The existing
/// device answers with a handover sealed to that identity under that
/// secret ([`crate::Conversations::link_device`]). Made by
/// [`crate::Conversations::link_offer`]; layout in docs/PROTOCOL.md
/// §13.14. It holds a secret: show it only on the new device's screen.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkOffer {
    device: Address,
    identity: PublicIdentity,
    secret: zeroize::Zeroizing<[u8; 32]>,
    created_at: u64,
}

impl core::fmt::Debug for LinkOffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The secret stays out.
        f.debug_struct("LinkOffer")
            .field("device", &self.device)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl LinkOffer {
    pub(crate) fn new(device: Address, identity: PublicIdentity, secret: [u8; 32], created_at: u64) -> Self {
        Self { device, identity, secret: zeroize::Zeroizing::new(secret), created_at }
    }

    /// The new device.
    pub fn device(&self) -> &Address {
        &self.device
    }

    /// The new device's identity.
    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// When the new device made the offer (its clock).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The byte encoding, for a QR code (docs/PROTOCOL.md §13.14).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_header(TYPE_LINK_OFFER, 2 + 1 + 255 + 4 + PUBLIC_IDENTITY_LEN + 32 + 8);
        write_user(&mut w, self.device.user());
        w.u32(self.device.device()).bytes(&self.identity.encode()).bytes(&self.secret[..]).u64(self.created_at);
        w.finish()
    }

    /// Decodes an offer, checking the address and the identity (with its
    /// binding).
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for any malformed or invalid field.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(TYPE_LINK_OFFER)?;
        let device = read_address(&mut r)?;
        let identity = PublicIdentity::read(&mut r)?;
        let secret = zeroize::Zeroizing::new(r.array()?);
        let created_at = r.u64()?;
        r.finish()?;
        Ok(Self { device, identity, secret, created_at })
    }
}
