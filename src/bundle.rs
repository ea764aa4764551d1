//! The prekey bundle a server stores and hands out (X3DH §3.2).

use crate::error::DecodeError;
use crate::identity::{PUBLIC_IDENTITY_LEN, PublicIdentity};
use crate::link::{DeviceLink, read_link, write_link};
use crate::prekeys::{OneTimePreKeyPublic, PqPreKeyPublic, SignedPreKeyPublic};
use crate::wire::{Reader, TYPE_BUNDLE, Writer};

/// Flag bit: a one-time prekey follows.
const FLAG_ONE_TIME_PREKEY: u8 = 0x01;
/// Flag bit: a PQ prekey follows.
const FLAG_PQ_PREKEY: u8 = 0x02;
/// Flag bit: a device link statement follows (docs/PROTOCOL.md §13.14).
const FLAG_DEVICE_LINK: u8 = 0x04;

/// What an initiator needs to start a session with someone offline: their
/// identity, signed prekey, a signed PQ prekey (one-time if the server has
/// one left, else the last-resort one) and, if the server has one left, a
/// one-time X25519 prekey. Built by the owner with [`crate::Account::prekey_bundle`], or
/// by a server from published parts with [`PreKeyBundle::new`].
///
/// A bundle is public and unauthenticated in transit: the initiator
/// checks the identity binding (when decoding) and the signed prekey's
/// signature (when starting the session) before using it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    identity: PublicIdentity,
    signed_prekey: SignedPreKeyPublic,
    one_time_prekey: Option<OneTimePreKeyPublic>,
    pq_prekey: Option<PqPreKeyPublic>,
    device_link: Option<DeviceLink>,
}

impl PreKeyBundle {
    /// Assembles a bundle from published parts (what a server does). A
    /// bundle without a PQ prekey starts only a classic X3DH session, which
    /// initiators refuse unless they allow the weaker setup.
    pub fn new(
        identity: PublicIdentity,
        signed_prekey: SignedPreKeyPublic,
        one_time_prekey: Option<OneTimePreKeyPublic>,
        pq_prekey: Option<PqPreKeyPublic>,
    ) -> Self {
        Self { identity, signed_prekey, one_time_prekey, pq_prekey, device_link: None }
    }

    /// The same bundle carrying the owner's device link statement: the
    /// existing device of the same user that linked it (docs/PROTOCOL.md
    /// §13.14). A sender who trusts that device trusts this one without
    /// an approval.
    #[must_use]
    pub fn with_device_link(mut self, link: Option<DeviceLink>) -> Self {
        self.device_link = link;
        self
    }

    /// The owner's device link statement, if it carries one.
    pub fn device_link(&self) -> Option<&DeviceLink> {
        self.device_link.as_ref()
    }

    /// The PQ prekey, if the bundle has one.
    pub fn pq_prekey(&self) -> Option<&PqPreKeyPublic> {
        self.pq_prekey.as_ref()
    }

    /// The owner's identity.
    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// The signed prekey.
    pub fn signed_prekey(&self) -> &SignedPreKeyPublic {
        &self.signed_prekey
    }

    /// The one-time prekey, if the bundle has one.
    pub fn one_time_prekey(&self) -> Option<&OneTimePreKeyPublic> {
        self.one_time_prekey.as_ref()
    }

    /// The byte encoding (docs/PROTOCOL.md §4.2).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_header(TYPE_BUNDLE, 3 + PUBLIC_IDENTITY_LEN + 101 + 36 + 1254);
        let mut flags = 0;
        if self.one_time_prekey.is_some() {
            flags |= FLAG_ONE_TIME_PREKEY;
        }
        if self.pq_prekey.is_some() {
            flags |= FLAG_PQ_PREKEY;
        }
        if self.device_link.is_some() {
            flags |= FLAG_DEVICE_LINK;
        }
        w.u8(flags).bytes(&self.identity.encode());
        self.signed_prekey.write(&mut w);
        if let Some(otk) = &self.one_time_prekey {
            w.u32(otk.id()).bytes(otk.key().as_bytes());
        }
        if let Some(pq) = &self.pq_prekey {
            pq.write(&mut w);
        }
        if let Some(link) = &self.device_link {
            write_link(&mut w, link);
        }
        w.finish()
    }

    /// Decodes a bundle, checking every key and the identity binding. The
    /// signed prekey signature is checked when a session is started.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for any malformed or invalid field.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(TYPE_BUNDLE)?;
        let flags = r.flags(FLAG_ONE_TIME_PREKEY | FLAG_PQ_PREKEY | FLAG_DEVICE_LINK)?;
        let identity = PublicIdentity::read(&mut r)?;
        let signed_prekey = SignedPreKeyPublic::read(&mut r)?;
        let one_time_prekey = if flags & FLAG_ONE_TIME_PREKEY != 0 {
            Some(OneTimePreKeyPublic::new(r.u32()?, r.x25519()?))
        } else {
            None
        };
        let pq_prekey = if flags & FLAG_PQ_PREKEY != 0 { Some(PqPreKeyPublic::read(&mut r)?) } else { None };
        let device_link = if flags & FLAG_DEVICE_LINK != 0 { Some(read_link(&mut r, &identity)?) } else { None };
        r.finish()?;
        Ok(Self { identity, signed_prekey, one_time_prekey, pq_prekey, device_link })
    }
}
