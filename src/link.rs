//! Linking a new device of the same person (docs/PROTOCOL.md §13.14):
//! the offer the new device shows as a QR code, and the link statement
//! the existing device signs for it.

use crate::address::Address;
use crate::error::DecodeError;
use crate::identity::{PUBLIC_IDENTITY_LEN, PublicIdentity};
use crate::labels;
use crate::primitives::signature::SIGNATURE_LEN;
use crate::wire::{Reader, TYPE_DEVICE_LINK, TYPE_LINK_OFFER, Writer, signed_message};

/// Writes a user id as `u8 len ‖ bytes`; ids are at most
/// `MAX_USER_ID_LEN` (255) bytes, as [`Address`] guarantees.
fn write_user(w: &mut Writer, user: &str) {
    w.u8(u8::try_from(user.len()).unwrap_or(u8::MAX)).bytes(user.as_bytes());
}

fn read_address(r: &mut Reader<'_>) -> Result<Address, DecodeError> {
    let len = usize::from(r.u8()?);
    let user = core::str::from_utf8(r.bytes(len)?).map_err(|_| DecodeError::InvalidText)?;
    if user.is_empty() {
        return Err(DecodeError::InvalidText);
    }
    let device = r.u32()?;
    Address::new(user, device).map_err(|_| DecodeError::InvalidText)
}

/// Writes `u16 len ‖ statement`, as bundles and identity uploads carry it.
pub(crate) fn write_link(w: &mut Writer, link: &DeviceLink) {
    let bytes = link.encode();
    // A statement is at most 2 + 1 + 255 + 4 + 128 + 12 + 64 bytes.
    w.u16(u16::try_from(bytes.len()).unwrap_or(u16::MAX)).bytes(&bytes);
}

/// Reads `u16 len ‖ statement`; the statement must be about `identity`
/// (`DecodeError::LinkMismatch` otherwise).
pub(crate) fn read_link(r: &mut Reader<'_>, identity: &PublicIdentity) -> Result<DeviceLink, DecodeError> {
    let len = usize::from(r.u16()?);
    let link = DeviceLink::decode(r.bytes(len)?)?;
    if link.identity() != identity {
        return Err(DecodeError::LinkMismatch);
    }
    Ok(link)
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
        signed_message(labels::SIG_DEVICE_LINK, &self.body().finish())
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

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    use serde_json::json;

    use super::*;
    use crate::Account;
    use crate::vectors::{check, h};

    const AT: u64 = 1_800_000_000;

    fn accounts() -> (Account, Account) {
        let mut rng = ChaCha20Rng::from_seed([12; 32]);
        (Account::new_with_rng(&mut rng), Account::new_with_rng(&mut rng))
    }

    fn statement(linker: &Account, new: &Account) -> DeviceLink {
        let device = Address::new("alice", 2).unwrap();
        DeviceLink::sign(&linker.identity, 1, device, new.identity().clone(), AT)
    }

    #[test]
    fn a_statement_round_trips_and_verifies_only_under_its_signer() {
        let (phone, laptop) = accounts();
        let link = statement(&phone, &laptop);
        let bytes = link.encode();
        assert_eq!(bytes.len(), 147 + 5 + 64);
        let decoded = DeviceLink::decode(&bytes).unwrap();
        assert_eq!(decoded, link);
        assert!(decoded.verify(phone.identity()));
        assert!(!decoded.verify(laptop.identity()));
        assert_eq!(decoded.linked_by(), Address::new("alice", 1).unwrap());
        // Every bit of the signed part and the signature counts.
        for i in [2, 3, 10, 145, 147, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            if let Ok(l) = DeviceLink::decode(&bad) {
                assert!(!l.verify(phone.identity()), "{i}");
            }
        }
    }

    #[test]
    fn malformed_statements_and_offers_are_refused() {
        let (phone, laptop) = accounts();
        let bytes = statement(&phone, &laptop).encode();
        let mut self_link = bytes.clone();
        self_link[3 + 5 + 128 + 4 + 3] = 2; // linked_by = 2, the device itself
        assert_eq!(DeviceLink::decode(&self_link).unwrap_err(), DecodeError::SelfLink);
        assert_eq!(DeviceLink::decode(&bytes[..bytes.len() - 1]).unwrap_err(), DecodeError::Truncated);
        assert_eq!(DeviceLink::decode(&[bytes.as_slice(), &[0]].concat()).unwrap_err(), DecodeError::TrailingBytes);
        let mut empty_user = bytes.clone();
        empty_user.splice(2..8, [0u8]);
        assert_eq!(DeviceLink::decode(&empty_user).unwrap_err(), DecodeError::InvalidText);
        let offer = LinkOffer::new(Address::new("alice", 2).unwrap(), laptop.identity().clone(), [9; 32], AT);
        let encoded = offer.encode();
        assert_eq!(encoded.len(), 175 + 5);
        assert_eq!(LinkOffer::decode(&encoded).unwrap(), offer);
        assert_eq!(LinkOffer::decode(&encoded[..encoded.len() - 1]).unwrap_err(), DecodeError::Truncated);
        // The secret stays out of Debug.
        assert!(!format!("{offer:?}").contains("9, 9"));
    }

    fn secrets(a: &Account) -> serde_json::Value {
        json!({
            "identity_ed25519_private": h(a.identity.signing().secret_bytes().as_slice()),
            "identity_x25519_private": h(a.identity.agreement().secret_bytes().as_slice()),
        })
    }

    #[test]
    fn vector_device_link() {
        let (phone, laptop) = accounts();
        let link = statement(&phone, &laptop);
        let bytes = link.encode();
        let offer = LinkOffer::new(Address::new("alice", 2).unwrap(), laptop.identity().clone(), [0x5a; 32], AT - 30);
        let ephemeral = crate::primitives::dh::X25519KeyPair::from_secret_bytes([0x42; 32]);
        let shared = ephemeral.diffie_hellman(&laptop.identity().agreement_key()).unwrap();
        let key = crate::primitives::kdf::hkdf_sha256::<32>(
            offer.secret(),
            shared.as_bytes(),
            &[crate::labels::KDF_LINK_KEY, ephemeral.public().as_bytes(), &laptop.identity().key_bytes()],
        );
        let inner = [&[0x00u8][..], b"an envelope would follow"].concat();
        let framed = crate::conversation::frame_linked_for_vectors(&bytes, &inner);
        let mut self_link = bytes.clone();
        self_link[3 + 5 + 128 + 4 + 3] = 2;
        let mut linked = laptop.duplicate();
        linked.device_link = Some(link.clone());
        let mut bad_signature = bytes.clone();
        let last = bad_signature.len() - 1;
        bad_signature[last] ^= 0x01;
        check(
            "device_link.json",
            json!({
                "description": "A device link statement (§13.14) signed by Alice's phone (device 1) for her laptop \
                                (device 2), a link offer, the handover key derivation, and a message framed with the \
                                statement (content type 0x0a). Malformed statements carry the error of the first \
                                failing field. All bytes are lowercase hex. See docs/PROTOCOL.md §11.",
                "linker": secrets(&phone),
                "new_device": secrets(&laptop),
                "statement": {
                    "user": "alice", "device": 2, "linked_by": 1, "linked_at": AT, "bytes": h(&bytes),
                },
                "offer": { "user": "alice", "device": 2, "secret": h(offer.secret()), "created_at": AT - 30, "bytes": h(&offer.encode()) },
                "handover_key": {
                    "ephemeral_private": h(&[0x42; 32]),
                    "ephemeral_public": h(ephemeral.public().as_bytes()),
                    "key": h(key.as_slice()),
                },
                "framed_message": { "inner": h(&inner), "bytes": h(&framed) },
                "malformed": [
                    { "bytes": h(&self_link), "error": "SelfLink" },
                    { "bytes": h(&bytes[..bytes.len() - 1]), "error": "Truncated" },
                    { "bytes": h(&[bytes.as_slice(), &[0]].concat()), "error": "TrailingBytes" },
                ],
                "bad_signature": h(&bad_signature),
                "bundle_with_link": h(&linked.prekey_bundle(None, None).unwrap().encode()),
                "identity_upload_with_link": h(&linked.identity_upload(AT).encode()),
                "bundle_with_foreign_link": h(&phone.prekey_bundle(None, None).unwrap().with_device_link(Some(link.clone())).encode()),
            }),
        );
    }
}
