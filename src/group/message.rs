//! Group wire formats: the signed group message, and the sender-key
//! record that a distribution or an export carries (docs/PROTOCOL.md
//! §12.4, §12.5).

use crate::error::DecodeError;
use crate::labels;
use crate::primitives::kdf::sha256;
use crate::primitives::signature::{Ed25519PublicKey, SIGNATURE_LEN};
use crate::wire::{MAX_VARINT_U32_LEN, Reader, TYPE_GROUP_DISTRIBUTION, TYPE_GROUP_MESSAGE, Writer};

use super::tree::Node;
use super::{MAX_GROUP_ID_LEN, MAX_GROUP_STATE_NODES, MAX_MEMBER_ID_LEN, STATE_ID_LEN, StateId, state_id_of};

/// A decoded group message, borrowing the bytes it came from. The group id
/// is not on the wire: it is bound through the associated data, the
/// signature and the message key (docs/PROTOCOL.md §12.4).
pub(crate) struct GroupMessage<'a> {
    pub(crate) state_id: StateId,
    pub(crate) index: u32,
    /// Everything before the ciphertext; the AEAD's associated data is
    /// the group id followed by it ([`bound_header`]).
    pub(crate) header: &'a [u8],
    pub(crate) ciphertext: &'a [u8],
    /// Everything before the signature.
    pub(crate) signed: &'a [u8],
    pub(crate) signature: [u8; SIGNATURE_LEN],
}

/// Longest group message header: version, type, state id, varint index.
pub(crate) const MAX_GROUP_HEADER_LEN: usize = 2 + STATE_ID_LEN + MAX_VARINT_U32_LEN;

/// Appends the header of a group message to `out`: version, type, state
/// id, index (varint).
pub(crate) fn write_message_header(out: &mut Vec<u8>, state_id: &StateId, index: u32) {
    let mut w = Writer::append_to(core::mem::take(out), TYPE_GROUP_MESSAGE);
    w.bytes(state_id).varint_u32(index);
    *out = w.finish();
}

/// The length-prefixed group id followed by `bytes`: what the AEAD's
/// associated data (with the header) and the signature digest (with
/// everything before the signature) cover, so that a message is bound to
/// its group although the group id is not sent.
fn group_bound(group_id: &[u8]) -> [u8; 1] {
    // Group ids are checked against MAX_GROUP_ID_LEN (< 256) on creation.
    [u8::try_from(group_id.len()).unwrap_or(u8::MAX)]
}

/// The associated data of a group message: `len(group id) || group id ||
/// header`.
pub(crate) fn bound_header(group_id: &[u8], header: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(1 + group_id.len() + header.len());
    ad.extend_from_slice(&group_bound(group_id));
    ad.extend_from_slice(group_id);
    ad.extend_from_slice(header);
    ad
}

/// What a group signature covers: the label and the SHA-256 digest of the
/// length-prefixed group id, every byte before the signature, and the
/// message's key commitment (one short Ed25519 input whatever the message
/// size). The commitment is not sent: a receiver whose leaf differs from
/// the sender's derives another commitment, and the signature fails.
pub(crate) fn signed_message(group_id: &[u8], signed: &[u8], commitment: &[u8; 32]) -> Vec<u8> {
    let mut m = labels::SIG_GROUP_MESSAGE.to_vec();
    m.extend_from_slice(&sha256(&[&group_bound(group_id), group_id, signed, commitment]));
    m
}

fn read_group_id<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let len = usize::from(r.u8()?);
    if len > MAX_GROUP_ID_LEN {
        return Err(DecodeError::TooLong { len, max: MAX_GROUP_ID_LEN });
    }
    r.bytes(len)
}

impl<'a> GroupMessage<'a> {
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(TYPE_GROUP_MESSAGE)?;
        let state_id = r.array()?;
        let index = r.varint_u32()?;
        let header_len = r.consumed(bytes);
        let rest = r.rest();
        let body_len = rest.len().checked_sub(SIGNATURE_LEN).ok_or(DecodeError::Truncated)?;
        let (ciphertext, signature) = rest.split_at(body_len);
        if ciphertext.len() < crate::primitives::siv::SIV_LEN {
            return Err(DecodeError::Truncated);
        }
        let signature: [u8; SIGNATURE_LEN] = signature.try_into().map_err(|_| DecodeError::Truncated)?;
        let signed_len = header_len.saturating_add(body_len);
        Ok(Self {
            state_id,
            index,
            header: bytes.get(..header_len).ok_or(DecodeError::Truncated)?,
            ciphertext,
            signed: bytes.get(..signed_len).ok_or(DecodeError::Truncated)?,
            signature,
        })
    }
}

/// What the owner signature covers: the label, the group id, the state id
/// and the owner's member id, each length-prefixed where variable.
pub(crate) fn owner_message(group_id: &[u8], state_id: &StateId, owner: &[u8]) -> Vec<u8> {
    let mut m = labels::SIG_GROUP_OWNER.to_vec();
    m.push(u8::try_from(group_id.len()).unwrap_or(u8::MAX));
    m.extend_from_slice(group_id);
    m.extend_from_slice(state_id);
    m.extend_from_slice(&u16::try_from(owner.len()).unwrap_or(u16::MAX).to_be_bytes());
    m.extend_from_slice(owner);
    m
}

/// A sender state as it travels: in a distribution (over a 1:1 session)
/// or an export (history for a new device). The owner signature (by the
/// state's own key) binds the state to the member that owns it; nodes
/// cover the indices the recipient may read. Nodes are boxed so moving
/// them never leaves key copies behind.
pub(crate) struct SenderKeyRecord {
    pub(crate) group_id: Vec<u8>,
    pub(crate) state_id: StateId,
    pub(crate) signing_key: Ed25519PublicKey,
    pub(crate) owner: Vec<u8>,
    pub(crate) owner_signature: [u8; SIGNATURE_LEN],
    #[allow(clippy::vec_box, reason = "moving a box moves a pointer, not the key bytes")]
    pub(crate) nodes: Vec<Box<Node>>,
    /// In a distribution: the owner's previous state and the last index it
    /// sent on it. Never in an export.
    pub(crate) closes: Option<Closure>,
}

/// The end of a sender state: its id and the last index its owner sent on
/// it (docs/PROTOCOL.md §12.5). Receivers read no later index of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closure {
    pub(crate) state_id: StateId,
    pub(crate) last: u32,
}

/// Flag bit of a record: a closure follows the nodes.
const RECORD_FLAG_CLOSURE: u8 = 0x01;

impl SenderKeyRecord {
    /// The closure this record carries, unless it names the record's own
    /// state (such a closure is ignored, docs/PROTOCOL.md §12.5).
    pub(crate) fn valid_closure(&self) -> Option<Closure> {
        self.closes.filter(|c| c.state_id != self.state_id)
    }

    pub(crate) fn encode(&self, message_type: u8) -> zeroize::Zeroizing<Vec<u8>> {
        let capacity = 141 + 20 + self.group_id.len() + self.owner.len() + 37 * self.nodes.len();
        let mut w = Writer::with_header(message_type, capacity);
        w.u8(u8::try_from(self.group_id.len()).unwrap_or(u8::MAX))
            .bytes(&self.group_id)
            .bytes(&self.state_id)
            .bytes(self.signing_key.as_bytes())
            .u16(u16::try_from(self.owner.len()).unwrap_or(u16::MAX))
            .bytes(&self.owner)
            .bytes(&self.owner_signature)
            .u16(u16::try_from(self.nodes.len()).unwrap_or(u16::MAX));
        for n in &self.nodes {
            w.u8(n.depth).u32(n.prefix).bytes(&n.key);
        }
        match &self.closes {
            Some(c) => w.u8(RECORD_FLAG_CLOSURE).bytes(&c.state_id).u32(c.last),
            None => w.u8(0),
        };
        // Sized up front: no reallocation leaves a copy of the keys.
        zeroize::Zeroizing::new(w.finish())
    }

    /// Whether the owner signature is valid for `owner`.
    pub(crate) fn owned_by(&self, owner: &[u8]) -> bool {
        self.owner == owner
            && self
                .signing_key
                .verify(&owner_message(&self.group_id, &self.state_id, &self.owner), &self.owner_signature)
                .is_ok()
    }

    pub(crate) fn decode(bytes: &[u8], message_type: u8) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.header(message_type)?;
        let group_id = read_group_id(&mut r)?.to_vec();
        let state_id: StateId = r.array()?;
        let signing_key = Ed25519PublicKey::from_bytes(r.array()?)?;
        // The id must be the signing key's: no record can name a state id
        // without carrying that state's key.
        if state_id != state_id_of(&signing_key) {
            return Err(DecodeError::InvalidStateId);
        }
        let owner_len = usize::from(r.u16()?);
        if owner_len > MAX_MEMBER_ID_LEN {
            return Err(DecodeError::TooLong { len: owner_len, max: MAX_MEMBER_ID_LEN });
        }
        let owner = r.bytes(owner_len)?.to_vec();
        let owner_signature = r.array()?;
        let count = usize::from(r.u16()?);
        if count > MAX_GROUP_STATE_NODES {
            return Err(DecodeError::TooLong { len: count, max: MAX_GROUP_STATE_NODES });
        }
        // Bounded by the check above; each node is 37 bytes of input.
        let mut nodes = Vec::with_capacity(count.min(r.rest_len() / 37));
        for _ in 0..count {
            nodes.push(Box::new(Node { depth: r.u8()?, prefix: r.u32()?, key: r.array()? }));
        }
        // Only a distribution closes a state: an export's flags are 0.
        let allowed = if message_type == TYPE_GROUP_DISTRIBUTION { RECORD_FLAG_CLOSURE } else { 0 };
        let flags = r.flags(allowed)?;
        let closes = if flags & RECORD_FLAG_CLOSURE != 0 {
            Some(Closure { state_id: r.array()?, last: r.u32()? })
        } else {
            None
        };
        r.finish()?;
        Ok(Self { group_id, state_id, signing_key, owner, owner_signature, nodes, closes })
    }
}
