//! What a device uploads to a prekey directory (docs/PROTOCOL.md §4.6,
//! §4.7): its identity with its current signed prekey and last-resort PQ
//! prekey, and batches of one-time prekeys of both kinds. Each is signed
//! as a whole by the identity, so a directory can check that every key
//! came from the identity it serves bundles for, and can order identity
//! uploads by the time they carry.

use rand_core::CryptoRng;

use super::DirectoryError;
use crate::account::Account;
use crate::error::{DecodeError, PreKeyError};
use crate::identity::{PUBLIC_IDENTITY_LEN, PublicIdentity};
use crate::labels;
use crate::link::{DeviceLink, read_link, write_link};
use crate::prekeys::{
    MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS, OneTimePreKeyPublic, PQ_PREKEY_FIELD_LEN, PqPreKeyKind,
    PqPreKeyPublic, SIGNED_PREKEY_FIELD_LEN, SignedPreKeyPublic,
};
use crate::primitives::rng::os_rng;
use crate::primitives::signature::SIGNATURE_LEN;
use crate::wire::{Reader, TYPE_IDENTITY_UPLOAD, TYPE_PREKEY_BATCH, Writer, signed_message};

/// Flag bit of an identity upload: a last-resort PQ prekey follows.
const FLAG_LAST_RESORT: u8 = 0x01;
/// Flag bit of an identity upload: a device link statement follows.
const FLAG_DEVICE_LINK: u8 = 0x02;

/// Length of one one-time X25519 prekey in a batch: id and key.
const ONE_TIME_ENTRY_LEN: usize = 4 + 32;

/// A device's identity with its current signed prekey and (unless the
/// account is classic-only) its current last-resort PQ prekey, dated and
/// signed by the identity: what a prekey directory needs to hand out
/// bundles once the one-time prekeys run out. Made by
/// [`Account::identity_upload`]; sent again after each rotation (the
/// directory keeps the newest by date, docs/PROTOCOL.md §4.6).
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityUpload {
    identity: PublicIdentity,
    uploaded_at: u64,
    signed_prekey: SignedPreKeyPublic,
    last_resort: Option<PqPreKeyPublic>,
    device_link: Option<DeviceLink>,
    signature: [u8; SIGNATURE_LEN],
}

impl core::fmt::Debug for IdentityUpload {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IdentityUpload")
            .field("uploaded_at", &self.uploaded_at)
            .field("signed_prekey", &self.signed_prekey)
            .field("last_resort", &self.last_resort)
            .finish_non_exhaustive()
    }
}

impl IdentityUpload {
    /// The uploading device's identity.
    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// When the device made the upload (seconds since the Unix epoch, its
    /// own clock). A directory keeps the upload with the latest date and
    /// refuses older ones.
    pub fn uploaded_at(&self) -> u64 {
        self.uploaded_at
    }

    /// The current signed prekey.
    pub fn signed_prekey(&self) -> &SignedPreKeyPublic {
        &self.signed_prekey
    }

    /// The current last-resort PQ prekey; none for a classic-only account.
    pub fn last_resort_pq_prekey(&self) -> Option<&PqPreKeyPublic> {
        self.last_resort.as_ref()
    }

    /// The statement of the device that linked this one, if it was
    /// linked (docs/PROTOCOL.md §13.14); bundles carry it.
    pub fn device_link(&self) -> Option<&DeviceLink> {
        self.device_link.as_ref()
    }

    fn body(&self) -> Writer {
        let len = 3 + PUBLIC_IDENTITY_LEN + 8 + SIGNED_PREKEY_FIELD_LEN + PQ_PREKEY_FIELD_LEN + SIGNATURE_LEN;
        let mut w = Writer::with_header(TYPE_IDENTITY_UPLOAD, len);
        let mut flags = 0;
        if self.last_resort.is_some() {
            flags |= FLAG_LAST_RESORT;
        }
        if self.device_link.is_some() {
            flags |= FLAG_DEVICE_LINK;
        }
        w.u8(flags).bytes(&self.identity.encode()).u64(self.uploaded_at);
        self.signed_prekey.write(&mut w);
        if let Some(pq) = &self.last_resort {
            pq.write(&mut w);
        }
        if let Some(link) = &self.device_link {
            write_link(&mut w, link);
        }
        w
    }

    /// The byte encoding (docs/PROTOCOL.md §4.6).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.body();
        w.bytes(&self.signature);
        w.finish()
    }

    /// Decodes an upload, checking every key and the identity binding
    /// (as [`crate::PreKeyBundle::decode`] does) and the PQ prekey's kind.
    /// The signatures are checked by [`IdentityUpload::verify`].
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for any malformed or invalid field.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(TYPE_IDENTITY_UPLOAD)?;
        let flags = r.flags(FLAG_LAST_RESORT | FLAG_DEVICE_LINK)?;
        let identity = PublicIdentity::read(&mut r)?;
        let uploaded_at = r.u64()?;
        let signed_prekey = SignedPreKeyPublic::read(&mut r)?;
        let last_resort =
            if flags & FLAG_LAST_RESORT != 0 { Some(read_pq(&mut r, PqPreKeyKind::LastResort)?) } else { None };
        let device_link = if flags & FLAG_DEVICE_LINK != 0 { Some(read_link(&mut r, &identity)?) } else { None };
        let signature = r.array()?;
        r.finish()?;
        Ok(Self { identity, uploaded_at, signed_prekey, last_resort, device_link, signature })
    }

    /// Checks every signature under the upload's own identity (§3.2): the
    /// signed prekey's, the last-resort PQ prekey's, and the upload's
    /// over its whole encoding; and that a last-resort PQ prekey is there
    /// exactly when the signed prekey carries the PQ capability.
    ///
    /// # Errors
    ///
    /// [`DirectoryError::BadSignature`],
    /// [`DirectoryError::MissingPqPreKey`] or
    /// [`DirectoryError::UnexpectedPqPreKey`].
    pub fn verify(&self) -> Result<(), DirectoryError> {
        if !self.signed_prekey.verify(&self.identity) {
            return Err(DirectoryError::BadSignature { what: "signed prekey" });
        }
        match &self.last_resort {
            Some(pq) if !pq.verify(&self.identity) => {
                return Err(DirectoryError::BadSignature { what: "last-resort PQ prekey" });
            }
            Some(_) if !self.signed_prekey.publishes_pq_prekeys() => {
                return Err(DirectoryError::UnexpectedPqPreKey);
            }
            None if self.signed_prekey.publishes_pq_prekeys() => return Err(DirectoryError::MissingPqPreKey),
            _ => {}
        }
        let signed = signed_message(labels::SIG_IDENTITY_UPLOAD, &self.body().finish());
        if self.identity.signing_key().verify(&signed, &self.signature).is_err() {
            return Err(DirectoryError::BadSignature { what: "identity upload" });
        }
        Ok(())
    }
}

/// A batch of one-time prekeys (X25519 and ML-KEM-768) for a prekey
/// directory, signed as a whole by the identity. Made by
/// [`Account::publish_prekeys`]. Ids within a batch rise strictly, and
/// each batch's ids are above every earlier batch's, so a directory
/// refuses a batch sent again by someone else (docs/PROTOCOL.md §4.7).
#[derive(Clone, PartialEq, Eq)]
pub struct PreKeyBatch {
    identity: PublicIdentity,
    one_time: Vec<OneTimePreKeyPublic>,
    pq_one_time: Vec<PqPreKeyPublic>,
    signature: [u8; SIGNATURE_LEN],
}

impl core::fmt::Debug for PreKeyBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreKeyBatch")
            .field("one_time", &self.one_time.len())
            .field("pq_one_time", &self.pq_one_time.len())
            .finish_non_exhaustive()
    }
}

impl PreKeyBatch {
    /// The uploading device's identity.
    pub fn identity(&self) -> &PublicIdentity {
        &self.identity
    }

    /// The one-time X25519 prekeys, by rising id.
    pub fn one_time_prekeys(&self) -> &[OneTimePreKeyPublic] {
        &self.one_time
    }

    /// The one-time PQ prekeys, by rising id.
    pub fn pq_one_time_prekeys(&self) -> &[PqPreKeyPublic] {
        &self.pq_one_time
    }

    /// Whether the batch holds no key.
    pub fn is_empty(&self) -> bool {
        self.one_time.is_empty() && self.pq_one_time.is_empty()
    }

    fn body(&self) -> Writer {
        let len = 2
            + PUBLIC_IDENTITY_LEN
            + 4
            + self.one_time.len() * ONE_TIME_ENTRY_LEN
            + self.pq_one_time.len() * PQ_PREKEY_FIELD_LEN
            + SIGNATURE_LEN;
        let mut w = Writer::with_header(TYPE_PREKEY_BATCH, len);
        w.bytes(&self.identity.encode());
        // Counts fit: a batch is built from at most MAX_ONE_TIME_PREKEYS
        // and MAX_PQ_ONE_TIME_PREKEYS keys, both below 2^16.
        w.u16(u16::try_from(self.one_time.len()).unwrap_or(u16::MAX));
        for k in &self.one_time {
            w.u32(k.id()).bytes(k.key().as_bytes());
        }
        w.u16(u16::try_from(self.pq_one_time.len()).unwrap_or(u16::MAX));
        for k in &self.pq_one_time {
            k.write(&mut w);
        }
        w
    }

    /// The byte encoding (docs/PROTOCOL.md §4.7).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.body();
        w.bytes(&self.signature);
        w.finish()
    }

    /// Decodes a batch, checking every key, the identity binding, the
    /// counts (at most [`MAX_ONE_TIME_PREKEYS`] and
    /// [`MAX_PQ_ONE_TIME_PREKEYS`], before anything is read), the kinds
    /// and the rising ids. The signatures are checked by
    /// [`PreKeyBatch::verify`].
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for any malformed or invalid field.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(TYPE_PREKEY_BATCH)?;
        let identity = PublicIdentity::read(&mut r)?;
        let count = read_count(&mut r, MAX_ONE_TIME_PREKEYS)?;
        let mut one_time = Vec::with_capacity(count.min(r.rest_len() / ONE_TIME_ENTRY_LEN));
        for _ in 0..count {
            let key = OneTimePreKeyPublic::new(r.u32()?, r.x25519()?);
            check_rising(one_time.last().map(OneTimePreKeyPublic::id), key.id())?;
            one_time.push(key);
        }
        let count = read_count(&mut r, MAX_PQ_ONE_TIME_PREKEYS)?;
        let mut pq_one_time: Vec<PqPreKeyPublic> = Vec::with_capacity(count.min(r.rest_len() / PQ_PREKEY_FIELD_LEN));
        for _ in 0..count {
            let key = read_pq(&mut r, PqPreKeyKind::OneTime)?;
            check_rising(pq_one_time.last().map(PqPreKeyPublic::id), key.id())?;
            pq_one_time.push(key);
        }
        let signature = r.array()?;
        r.finish()?;
        Ok(Self { identity, one_time, pq_one_time, signature })
    }

    /// Checks every signature under the batch's own identity (§3.2):
    /// each PQ prekey's, and the batch's over its whole encoding (which
    /// is what authenticates the unsigned one-time X25519 prekeys to the
    /// directory).
    ///
    /// # Errors
    ///
    /// [`DirectoryError::BadSignature`].
    pub fn verify(&self) -> Result<(), DirectoryError> {
        if self.pq_one_time.iter().any(|k| !k.verify(&self.identity)) {
            return Err(DirectoryError::BadSignature { what: "one-time PQ prekey" });
        }
        let signed = signed_message(labels::SIG_PREKEY_BATCH, &self.body().finish());
        if self.identity.signing_key().verify(&signed, &self.signature).is_err() {
            return Err(DirectoryError::BadSignature { what: "prekey batch" });
        }
        Ok(())
    }
}

fn read_pq(r: &mut Reader<'_>, kind: PqPreKeyKind) -> Result<PqPreKeyPublic, DecodeError> {
    let key = PqPreKeyPublic::read(r)?;
    if key.kind() != kind {
        return Err(DecodeError::UnexpectedPqPreKeyKind { found: key.kind().to_byte() });
    }
    Ok(key)
}

fn read_count(r: &mut Reader<'_>, max: usize) -> Result<usize, DecodeError> {
    let count = usize::from(r.u16()?);
    if count > max {
        return Err(DecodeError::TooLong { len: count, max });
    }
    Ok(count)
}

fn check_rising(previous: Option<u32>, id: u32) -> Result<(), DecodeError> {
    match previous {
        Some(p) if p >= id => Err(DecodeError::PreKeysOutOfOrder),
        _ => Ok(()),
    }
}

impl Account {
    /// This account's identity upload for a prekey directory: its current
    /// signed prekey and last-resort PQ prekey, dated `now` and signed.
    /// Make one after creating the account and after every rotation.
    ///
    /// ```
    /// use dmseal::Account;
    /// use dmseal::directory::IdentityUpload;
    /// let account = Account::new();
    /// let bytes = account.identity_upload(1_700_000_000).encode();
    /// let upload = IdentityUpload::decode(&bytes)?;
    /// upload.verify()?;
    /// assert_eq!(upload.identity(), account.identity());
    /// assert_eq!(upload.signed_prekey(), &account.signed_prekey());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn identity_upload(&self, now: u64) -> IdentityUpload {
        let mut upload = IdentityUpload {
            identity: self.identity().clone(),
            uploaded_at: now,
            signed_prekey: self.signed_prekey(),
            last_resort: self.publishes_pq_prekeys().then(|| self.last_resort_pq_prekey()),
            device_link: self.device_link.clone(),
            signature: [0; SIGNATURE_LEN],
        };
        upload.signature =
            self.identity.signing().sign(&signed_message(labels::SIG_IDENTITY_UPLOAD, &upload.body().finish()));
        upload
    }

    /// Generates `one_time` one-time X25519 prekeys and `pq_one_time`
    /// one-time PQ prekeys, marks them and every earlier unpublished
    /// one-time prekey published, and returns them as one signed batch
    /// for a prekey directory. Persist the account before uploading.
    ///
    /// ```
    /// use dmseal::Account;
    /// use dmseal::directory::PreKeyBatch;
    /// let mut account = Account::new();
    /// let batch = account.publish_prekeys(100, 10)?;
    /// assert_eq!(account.unused_published_one_time_prekeys(), 100);
    /// let batch = PreKeyBatch::decode(&batch.encode())?;
    /// batch.verify()?;
    /// assert_eq!((batch.one_time_prekeys().len(), batch.pq_one_time_prekeys().len()), (100, 10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PreKeyError::TooManyOneTimePreKeys`] past [`MAX_ONE_TIME_PREKEYS`]
    /// or [`MAX_PQ_ONE_TIME_PREKEYS`] stored; the account is then unchanged.
    pub fn publish_prekeys(&mut self, one_time: usize, pq_one_time: usize) -> Result<PreKeyBatch, PreKeyError> {
        self.publish_prekeys_with_rng(&mut os_rng(), one_time, pq_one_time)
    }

    /// [`Account::publish_prekeys`] with a caller-supplied RNG.
    ///
    /// # Errors
    ///
    /// As [`Account::publish_prekeys`].
    pub fn publish_prekeys_with_rng<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        one_time: usize,
        pq_one_time: usize,
    ) -> Result<PreKeyBatch, PreKeyError> {
        // Check both kinds before generating either: all or nothing.
        self.prekeys.one_time.check_room(one_time, MAX_ONE_TIME_PREKEYS)?;
        self.prekeys.one_time_pq.check_room(pq_one_time, MAX_PQ_ONE_TIME_PREKEYS)?;
        self.generate_one_time_prekeys_with_rng(rng, one_time)?;
        self.generate_pq_one_time_prekeys_with_rng(rng, pq_one_time)?;
        let one_time = self.unpublished_one_time_prekeys();
        let pq_one_time = self.unpublished_pq_one_time_prekeys();
        let ids: Vec<u32> = one_time.iter().map(OneTimePreKeyPublic::id).collect();
        self.mark_one_time_prekeys_published(&ids)?;
        let ids: Vec<u32> = pq_one_time.iter().map(PqPreKeyPublic::id).collect();
        self.mark_pq_one_time_prekeys_published(&ids)?;
        let mut batch =
            PreKeyBatch { identity: self.identity().clone(), one_time, pq_one_time, signature: [0; SIGNATURE_LEN] };
        batch.signature =
            self.identity.signing().sign(&signed_message(labels::SIG_PREKEY_BATCH, &batch.body().finish()));
        Ok(batch)
    }
}
