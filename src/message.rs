//! Wire messages: the normal Double Ratchet message and the prekey
//! (first) message that wraps one (docs/PROTOCOL.md §4.3, §4.4).

use crate::error::DecodeError;
use crate::identity::{PUBLIC_IDENTITY_LEN, PublicIdentity};
use crate::prekeys::PqPreKeyKind;
use crate::primitives::dh::X25519PublicKey;
use crate::primitives::kem::ML_KEM_768_CIPHERTEXT_LEN;
use crate::primitives::siv::SIV_LEN as TAG_LEN;
use crate::ratchet::erasure::CHUNK_LEN;
use crate::ratchet::kem::KemHeader;
use crate::wire::{MAX_VARINT_U32_LEN, Reader, TYPE_KEM_MESSAGE, TYPE_MESSAGE, TYPE_PREKEY_MESSAGE, Writer};

/// Longest normal message header: version, type, ratchet key, then the
/// previous-chain length and the counter as varints of up to 5 bytes and,
/// with the KEM ratchet, the epoch varint, the chunk byte and a chunk.
pub(crate) const MAX_MESSAGE_HEADER_LEN: usize = 2 + 32 + 3 * MAX_VARINT_U32_LEN + 1 + CHUNK_LEN;

/// Flag bit of a prekey message: a one-time prekey id follows.
const FLAG_ONE_TIME_PREKEY: u8 = 0x01;
/// Flag bit of a prekey message: PQ prekey kind, id and KEM ciphertext
/// follow (PQXDH).
const FLAG_PQ: u8 = 0x02;
/// Flag bit of a prekey message: the session runs the KEM ratchet (its
/// messages are of type `0x0c`).
const FLAG_KEM_RATCHET: u8 = 0x04;

/// The PQXDH fields of a first message: which PQ prekey was used, and the
/// ML-KEM ciphertext encapsulated to it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PqFields {
    pub(crate) kind: PqPreKeyKind,
    pub(crate) id: u32,
    pub(crate) ciphertext: Box<[u8; ML_KEM_768_CIPHERTEXT_LEN]>,
}

/// A Double Ratchet message: header and ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct NormalMessage {
    ratchet_key: X25519PublicKey,
    previous_counter: u32,
    counter: u32,
    /// The KEM ratchet's fields (type `0x0c`); `None` for type `0x03`.
    kem: Option<KemHeader>,
    /// Length of the header (it varies with the varint counters).
    header_len: usize,
    /// The full encoding; the header is its first `header_len` bytes and
    /// the ciphertext the rest.
    bytes: Vec<u8>,
}

impl NormalMessage {
    /// Appends a normal message header to `out`: type `0x03`, or `0x0c`
    /// with the KEM fields.
    pub(crate) fn write_header(
        out: &mut Vec<u8>,
        ratchet_key: X25519PublicKey,
        previous_counter: u32,
        counter: u32,
        kem: Option<&KemHeader>,
    ) {
        let kind = if kem.is_some() { TYPE_KEM_MESSAGE } else { TYPE_MESSAGE };
        let mut w = Writer::append_to(core::mem::take(out), kind);
        w.bytes(ratchet_key.as_bytes()).varint_u32(previous_counter).varint_u32(counter);
        if let Some(kem) = kem {
            w.varint_u32(kem.epoch);
            match &kem.chunk {
                None => w.u8(0),
                Some((index, data)) => w.u8(index.saturating_add(1)).bytes(data),
            };
        }
        *out = w.finish();
    }

    /// Decodes a normal message.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for a malformed header, an invalid ratchet key or
    /// a ciphertext shorter than the tag.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let with_kem = bytes.get(1) == Some(&TYPE_KEM_MESSAGE);
        r.header(if with_kem { TYPE_KEM_MESSAGE } else { TYPE_MESSAGE })?;
        let ratchet_key = r.x25519()?;
        let previous_counter = r.varint_u32()?;
        let counter = r.varint_u32()?;
        let kem = if with_kem {
            let epoch = r.varint_u32()?;
            let chunk = match r.u8()? {
                0 => None,
                // 1 ..= 255: every index up to MAX_CHUNK_INDEX.
                c => Some((c.saturating_sub(1), r.array::<CHUNK_LEN>()?)),
            };
            Some(KemHeader { epoch, chunk })
        } else {
            None
        };
        let header_len = r.consumed(bytes);
        if r.rest().len() < TAG_LEN {
            return Err(DecodeError::Truncated);
        }
        Ok(Self { ratchet_key, previous_counter, counter, kem, header_len, bytes: bytes.to_vec() })
    }

    /// The sender's current ratchet public key.
    pub fn ratchet_key(&self) -> X25519PublicKey {
        self.ratchet_key
    }

    /// The number of messages in the sender's previous sending chain.
    pub fn previous_counter(&self) -> u32 {
        self.previous_counter
    }

    /// This message's index in its chain.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// For a message of a session with the KEM ratchet (type `0x0c`), the
    /// number of KEM epochs mixed into its chain's root; `None` for a
    /// message without the KEM ratchet (type `0x03`).
    pub fn kem_epoch(&self) -> Option<u32> {
        self.kem.as_ref().map(|k| k.epoch)
    }

    /// The index of the KEM-ratchet chunk this message carries, if any.
    pub fn kem_chunk_index(&self) -> Option<u8> {
        self.kem.as_ref().and_then(|k| k.chunk.as_ref()).map(|(i, _)| *i)
    }

    pub(crate) fn kem(&self) -> Option<&KemHeader> {
        self.kem.as_ref()
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn header(&self) -> &[u8] {
        self.bytes.get(..self.header_len).unwrap_or_default()
    }

    pub(crate) fn ciphertext(&self) -> &[u8] {
        self.bytes.get(self.header_len..).unwrap_or_default()
    }
}

#[cfg(test)]
impl NormalMessage {
    /// The encoding of `bytes` (a normal message) with its counters
    /// replaced and the ciphertext kept: a forgery for tests.
    pub(crate) fn forge_counters(bytes: &[u8], previous_counter: u32, counter: u32) -> Vec<u8> {
        let m = Self::decode(bytes).unwrap_or_else(|e| unreachable!("not a normal message: {e}"));
        let mut out = Vec::new();
        Self::write_header(&mut out, m.ratchet_key, previous_counter, counter, m.kem.as_ref());
        out.extend_from_slice(m.ciphertext());
        out
    }
}

impl core::fmt::Debug for NormalMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NormalMessage")
            .field("ratchet_key", &self.ratchet_key)
            .field("previous_counter", &self.previous_counter)
            .field("counter", &self.counter)
            .field("kem_epoch", &self.kem_epoch())
            .field("kem_chunk_index", &self.kem_chunk_index())
            .field("ciphertext_len", &self.ciphertext().len())
            .finish()
    }
}

/// A first message: what the initiator sends until it has read a reply.
/// It carries the session-setup fields and a [`NormalMessage`].
///
/// Nothing in it is authenticated until it decrypts: use
/// [`PreKeyMessage::initiator_identity`] only to refuse early (a blocked
/// sender), never to trust.
#[derive(Clone, PartialEq, Eq)]
pub struct PreKeyMessage {
    initiator: PublicIdentity,
    signed_prekey_id: u32,
    base_key: X25519PublicKey,
    one_time_prekey_id: Option<u32>,
    pq: Option<PqFields>,
    /// Length of the setup prefix (everything before the inner message).
    prefix_len: usize,
    inner: NormalMessage,
    bytes: Vec<u8>,
}

impl PreKeyMessage {
    /// The setup prefix for these fields (everything before the inner
    /// message). It is part of the transcript and of every inner message's
    /// associated data.
    pub(crate) fn prefix(
        initiator: &PublicIdentity,
        signed_prekey_id: u32,
        base_key: &X25519PublicKey,
        one_time_prekey_id: Option<u32>,
        pq: Option<&PqFields>,
        kem_ratchet: bool,
    ) -> Vec<u8> {
        let mut w = Writer::with_header(TYPE_PREKEY_MESSAGE, 3 + PUBLIC_IDENTITY_LEN + 45 + ML_KEM_768_CIPHERTEXT_LEN);
        let mut flags = 0;
        if kem_ratchet {
            flags |= FLAG_KEM_RATCHET;
        }
        if one_time_prekey_id.is_some() {
            flags |= FLAG_ONE_TIME_PREKEY;
        }
        if pq.is_some() {
            flags |= FLAG_PQ;
        }
        w.u8(flags).bytes(&initiator.encode()).u32(signed_prekey_id).bytes(base_key.as_bytes());
        if let Some(id) = one_time_prekey_id {
            w.u32(id);
        }
        if let Some(pq) = pq {
            w.u8(pq.kind.to_byte()).u32(pq.id).bytes(pq.ciphertext.as_slice());
        }
        w.finish()
    }

    /// Decodes a prekey message, checking every key and the initiator's
    /// identity binding (one signature check).
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for any malformed or invalid field.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(TYPE_PREKEY_MESSAGE)?;
        let flags = r.flags(FLAG_ONE_TIME_PREKEY | FLAG_PQ | FLAG_KEM_RATCHET)?;
        // Cheap fields first: the binding signature is checked last.
        let identity_bytes = r.bytes(PUBLIC_IDENTITY_LEN)?;
        let signed_prekey_id = r.u32()?;
        let base_key = r.x25519()?;
        let one_time_prekey_id = if flags & FLAG_ONE_TIME_PREKEY != 0 { Some(r.u32()?) } else { None };
        let pq = if flags & FLAG_PQ != 0 {
            Some(PqFields { kind: r.pq_kind()?, id: r.u32()?, ciphertext: Box::new(r.array()?) })
        } else {
            None
        };
        let prefix_len = r.consumed(bytes);
        let inner = NormalMessage::decode(r.rest())?;
        let kem_ratchet = flags & FLAG_KEM_RATCHET != 0;
        if kem_ratchet != inner.kem.is_some() {
            let (found, expected) =
                if kem_ratchet { (TYPE_MESSAGE, TYPE_KEM_MESSAGE) } else { (TYPE_KEM_MESSAGE, TYPE_MESSAGE) };
            return Err(DecodeError::WrongType { found, expected });
        }
        let initiator = PublicIdentity::decode(identity_bytes)?;
        Ok(Self {
            initiator,
            signed_prekey_id,
            base_key,
            one_time_prekey_id,
            pq,
            prefix_len,
            inner,
            bytes: bytes.to_vec(),
        })
    }

    /// The initiator's identity as claimed. **Unauthenticated** until the
    /// message decrypts: use it only to refuse early.
    pub fn initiator_identity(&self) -> &PublicIdentity {
        &self.initiator
    }

    /// The initiator's ephemeral base key. With the initiator identity it
    /// names the session this message belongs to.
    pub fn base_key(&self) -> X25519PublicKey {
        self.base_key
    }

    /// The session this message belongs to (initiator identity and base
    /// key): look it up among your responder sessions first.
    pub fn session_id(&self) -> crate::SessionId {
        crate::SessionId::new(&self.initiator, self.base_key)
    }

    /// The signed prekey this message was sent to.
    pub fn signed_prekey_id(&self) -> u32 {
        self.signed_prekey_id
    }

    /// The one-time prekey this message consumes, if any.
    pub fn one_time_prekey_id(&self) -> Option<u32> {
        self.one_time_prekey_id
    }

    /// The PQ prekey this message was set up with (PQXDH), as (kind, id);
    /// `None` for a classic X3DH first message.
    pub fn pq_prekey(&self) -> Option<(PqPreKeyKind, u32)> {
        self.pq.as_ref().map(|pq| (pq.kind, pq.id))
    }

    pub(crate) fn pq_fields(&self) -> Option<&PqFields> {
        self.pq.as_ref()
    }

    /// Whether the session this message starts runs the KEM ratchet
    /// (docs/PROTOCOL.md §6.9): flag bit `0x04`, and its inner message is
    /// of type `0x0c`.
    pub fn kem_ratchet(&self) -> bool {
        self.inner.kem.is_some()
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn prefix_bytes(&self) -> &[u8] {
        self.bytes.get(..self.prefix_len).unwrap_or_default()
    }

    /// The embedded normal message (its header is the first ratchet
    /// header of the session).
    pub fn message(&self) -> &NormalMessage {
        &self.inner
    }
}

impl core::fmt::Debug for PreKeyMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreKeyMessage")
            .field("initiator", &self.initiator)
            .field("signed_prekey_id", &self.signed_prekey_id)
            .field("base_key", &self.base_key)
            .field("one_time_prekey_id", &self.one_time_prekey_id)
            .field("pq_prekey", &self.pq_prekey())
            .field("kem_ratchet", &self.kem_ratchet())
            .field("inner", &self.inner)
            .finish()
    }
}

/// Either kind of 1:1 message, as read off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Envelope {
    /// A first message (session setup plus a message).
    PreKey(Box<PreKeyMessage>),
    /// A message in an established session.
    Normal(NormalMessage),
}

impl Envelope {
    /// Decodes either kind, by its type byte.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`]; `WrongType` names the normal message type when
    /// the type byte is neither.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.get(1) {
            Some(&TYPE_PREKEY_MESSAGE) => PreKeyMessage::decode(bytes).map(|m| Self::PreKey(Box::new(m))),
            _ => NormalMessage::decode(bytes).map(Self::Normal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::rng;

    fn overhead(previous_counter: u32, counter: u32) -> usize {
        let key = crate::primitives::dh::X25519KeyPair::generate(&mut rng(1)).public();
        let mut bytes = Vec::new();
        NormalMessage::write_header(&mut bytes, key, previous_counter, counter, None);
        bytes.extend_from_slice(&[0u8; TAG_LEN]);
        let m = NormalMessage::decode(&bytes).unwrap();
        assert_eq!((m.previous_counter(), m.counter()), (previous_counter, counter));
        assert_eq!(m.header().len() + m.ciphertext().len(), bytes.len());
        bytes.len()
    }

    #[test]
    fn normal_message_overhead_is_52_to_56_below_2_pow_21_and_60_at_worst() {
        assert_eq!(overhead(0, 0), 52);
        assert_eq!(overhead(127, 127), 52);
        assert_eq!(overhead(128, 0), 53);
        assert_eq!(overhead((1 << 21) - 1, (1 << 21) - 1), 56);
        assert_eq!(overhead(1 << 21, 0), 55);
        assert_eq!(overhead(1 << 21, 1 << 21), 58);
        assert_eq!(overhead(u32::MAX, u32::MAX), 60);
        assert_eq!(60 + 5 + 1 + CHUNK_LEN, MAX_MESSAGE_HEADER_LEN + TAG_LEN);
    }

    #[test]
    fn a_non_minimal_counter_is_refused() {
        let key = crate::primitives::dh::X25519KeyPair::generate(&mut rng(2)).public();
        let mut bytes = Vec::new();
        NormalMessage::write_header(&mut bytes, key, 0, 5, None);
        bytes.truncate(bytes.len() - 1);
        bytes.extend_from_slice(&[0x85, 0x00]); // 5, overlong
        bytes.extend_from_slice(&[0u8; TAG_LEN]);
        assert_eq!(NormalMessage::decode(&bytes).err(), Some(DecodeError::NonCanonicalVarint));
    }
}
