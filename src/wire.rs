//! The strict wire codec: fixed-width big-endian integers, minimal
//! LEB128 varints for message counters, fixed-length keys, a version byte
//! and a type byte in front of every top-level encoding, flags whose
//! unknown bits are refused, and no trailing bytes.
//! The layouts themselves are in `docs/PROTOCOL.md` §4.

use crate::error::DecodeError;
use crate::primitives::dh::X25519PublicKey;

/// The wire format version this crate writes and reads.
pub(crate) const VERSION: u8 = 1;

/// The longest varint encoding of a `u32`: 5 bytes of 7 bits.
pub(crate) const MAX_VARINT_U32_LEN: usize = 5;

/// Length of the minimal varint encoding of `v`.
#[cfg(test)]
pub(crate) const fn varint_u32_len(v: u32) -> usize {
    match v {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

/// Type byte of a [`crate::PreKeyBundle`].
pub(crate) const TYPE_BUNDLE: u8 = 0x01;
/// Type byte of a [`crate::PreKeyMessage`].
pub(crate) const TYPE_PREKEY_MESSAGE: u8 = 0x02;
/// Type byte of a [`crate::NormalMessage`].
pub(crate) const TYPE_MESSAGE: u8 = 0x03;
/// Type byte of a group message.
pub(crate) const TYPE_GROUP_MESSAGE: u8 = 0x04;
/// Type byte of a group sender-key distribution.
pub(crate) const TYPE_GROUP_DISTRIBUTION: u8 = 0x05;
/// Type byte of an exported group sender state (history sharing).
pub(crate) const TYPE_GROUP_EXPORT: u8 = 0x06;
/// Type byte of an identity upload (identity, signed prekey, last-resort
/// PQ prekey) to a prekey directory.
pub(crate) const TYPE_IDENTITY_UPLOAD: u8 = 0x07;
/// Type byte of a batch of one-time prekeys uploaded to a prekey
/// directory.
pub(crate) const TYPE_PREKEY_BATCH: u8 = 0x08;
/// Type byte of a device link statement (an existing device vouching for
/// a new device of the same person).
pub(crate) const TYPE_DEVICE_LINK: u8 = 0x09;
/// Type byte of a link offer (the QR code a new device shows).
pub(crate) const TYPE_LINK_OFFER: u8 = 0x0a;
/// Type byte of a link handover (sealed to the new device).
pub(crate) const TYPE_LINK_HANDOVER: u8 = 0x0b;
/// Type byte of a [`crate::NormalMessage`] of a session with the KEM
/// ratchet: the normal message's fields, then the KEM fields.
pub(crate) const TYPE_KEM_MESSAGE: u8 = 0x0c;

/// Key-type byte of an X25519 public key in signed encodings (PQXDH's
/// `EncodeEC`): identity bindings and signed prekey signatures.
pub(crate) const KEY_TYPE_X25519: u8 = 0x01;
/// Key-type byte of an ML-KEM-768 encapsulation key (PQXDH's
/// `EncodeKEM`), in PQ prekey signatures and on the wire.
pub(crate) const KEY_TYPE_ML_KEM_768: u8 = 0x02;

/// `label ‖ body`: the message an encoding's own signature covers (an
/// identity upload, a prekey batch, a device link statement).
pub(crate) fn signed_message(label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.len() + body.len());
    m.extend_from_slice(label);
    m.extend_from_slice(body);
    m
}

/// A cursor over untrusted bytes. Every read is bounds-checked and fails
/// with [`DecodeError::Truncated`] instead of panicking.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Reads and checks the version and type bytes.
    pub(crate) fn header(&mut self, expected_type: u8) -> Result<(), DecodeError> {
        let version = self.u8()?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version, supported: VERSION });
        }
        let found = self.u8()?;
        if found != expected_type {
            return Err(DecodeError::WrongType { found, expected: expected_type });
        }
        Ok(())
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(DecodeError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let head = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads an unsigned LEB128 varint of at most 5 bytes holding a `u32`
    /// (docs/PROTOCOL.md §4.1). Only the minimal encoding is accepted, so
    /// every value has exactly one encoding; overlong, overflowing and
    /// truncated varints are refused.
    pub(crate) fn varint_u32(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..MAX_VARINT_U32_LEN {
            let byte = self.u8()?;
            let payload = u32::from(byte & 0x7f);
            // The fifth byte carries bits 28..31: only its low 4 bits fit.
            if i == MAX_VARINT_U32_LEN - 1 && payload > 0x0f {
                return Err(DecodeError::NonCanonicalVarint);
            }
            value |= payload << (7 * i);
            if byte & 0x80 == 0 {
                // A zero final byte after the first adds nothing: overlong.
                if i > 0 && byte == 0 {
                    return Err(DecodeError::NonCanonicalVarint);
                }
                return Ok(value);
            }
        }
        Err(DecodeError::NonCanonicalVarint)
    }

    /// Reads a flags byte, refusing any bit outside `known`.
    pub(crate) fn flags(&mut self, known: u8) -> Result<u8, DecodeError> {
        let flags = self.u8()?;
        if flags & !known != 0 {
            return Err(DecodeError::UnknownFlags { flags });
        }
        Ok(flags)
    }

    pub(crate) fn x25519(&mut self) -> Result<X25519PublicKey, DecodeError> {
        X25519PublicKey::from_bytes(self.array()?).map_err(DecodeError::InvalidKey)
    }

    /// Reads a PQ prekey kind byte.
    pub(crate) fn pq_kind(&mut self) -> Result<crate::PqPreKeyKind, DecodeError> {
        let found = self.u8()?;
        crate::PqPreKeyKind::from_byte(found).ok_or(DecodeError::UnknownPqPreKeyKind { found })
    }

    /// Reads a typed ML-KEM-768 encapsulation key (`0x02 || key`).
    pub(crate) fn ml_kem_key(&mut self) -> Result<crate::MlKemPublicKey, DecodeError> {
        let found = self.u8()?;
        if found != KEY_TYPE_ML_KEM_768 {
            return Err(DecodeError::UnknownKeyType { found });
        }
        let key = self.bytes(crate::ML_KEM_768_PUBLIC_KEY_LEN)?;
        crate::MlKemPublicKey::from_bytes(key).map_err(DecodeError::InvalidKey)
    }

    /// How many bytes are left.
    pub(crate) fn rest_len(&self) -> usize {
        self.rest.len()
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Bytes consumed so far, relative to `start` (the slice given to `new`).
    pub(crate) fn consumed(&self, start: &[u8]) -> usize {
        start.len().saturating_sub(self.rest.len())
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() { Ok(()) } else { Err(DecodeError::TrailingBytes) }
    }
}

/// Builds an encoding; infallible.
#[derive(Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_header(message_type: u8, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(VERSION);
        out.push(message_type);
        Self { out }
    }

    /// Continues `out` (keeping its bytes) with a version and type header.
    pub(crate) fn append_to(mut out: Vec<u8>, message_type: u8) -> Self {
        out.push(VERSION);
        out.push(message_type);
        Self { out }
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.out.push(v);
        self
    }

    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.out.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.out.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.out.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Writes the minimal unsigned LEB128 encoding of `v` (1 to 5 bytes).
    pub(crate) fn varint_u32(&mut self, mut v: u32) -> &mut Self {
        while v >= 0x80 {
            self.out.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
        self
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.out.extend_from_slice(v);
        self
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(bytes: &[u8]) -> Result<u32, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.varint_u32()?;
        r.finish()?;
        Ok(v)
    }

    fn encode(v: u32) -> Vec<u8> {
        let mut w = Writer::default();
        w.varint_u32(v);
        w.finish()
    }

    #[test]
    fn varint_lengths_change_at_each_seven_bits() {
        for (v, len) in [
            (0, 1),
            (0x7f, 1),
            (0x80, 2),
            (0x3fff, 2),
            (0x4000, 3),
            (0x1f_ffff, 3),
            (0x20_0000, 4),
            (0x0fff_ffff, 4),
            (0x1000_0000, 5),
            (u32::MAX, 5),
        ] {
            assert_eq!(encode(v).len(), len, "{v:#x}");
            assert_eq!(varint_u32_len(v), len, "{v:#x}");
            assert_eq!(decode(&encode(v)), Ok(v));
        }
        assert_eq!(encode(300), [0xac, 0x02]);
        assert_eq!(encode(u32::MAX), [0xff, 0xff, 0xff, 0xff, 0x0f]);
    }

    #[test]
    fn non_minimal_overflowing_and_truncated_varints_are_refused() {
        // Overlong: a trailing zero byte after a continuation.
        assert_eq!(decode(&[0x80, 0x00]), Err(DecodeError::NonCanonicalVarint));
        assert_eq!(decode(&[0x81, 0x80, 0x00]), Err(DecodeError::NonCanonicalVarint));
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff, 0x00]), Err(DecodeError::NonCanonicalVarint));
        // Past u32: the fifth byte may only carry 4 bits.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff, 0x10]), Err(DecodeError::NonCanonicalVarint));
        // Past five bytes.
        assert_eq!(decode(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), Err(DecodeError::NonCanonicalVarint));
        // Truncated.
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0x80]), Err(DecodeError::Truncated));
    }

    proptest! {
        #[test]
        fn every_u32_round_trips_through_its_one_encoding(v in any::<u32>()) {
            let bytes = encode(v);
            prop_assert_eq!(bytes.len(), varint_u32_len(v));
            prop_assert_eq!(decode(&bytes), Ok(v));
        }

        #[test]
        fn any_byte_string_decodes_to_at_most_one_canonical_value(bytes in proptest::collection::vec(any::<u8>(), 0..7)) {
            if let Ok(v) = decode(&bytes) {
                prop_assert_eq!(encode(v), bytes);
            }
        }
    }
}
