//! Sender states: the outbound state a member sends with, and the inbound
//! states it keeps for other members (docs/PROTOCOL.md §12.3).

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::message::{
    GroupMessage, MAX_GROUP_HEADER_LEN, SenderKeyRecord, bound_header, owner_message, signed_message,
    write_message_header,
};
use super::tree::{Cover, Node};
use super::{MAX_GROUP_STATE_NODES, MAX_GROUP_WINDOW, StateId, state_id_of};
use crate::error::GroupError;
use crate::labels;
use crate::primitives::aead::AeadKey;
use crate::primitives::aead::TAG_LEN;
use crate::primitives::kdf::hkdf_expand;
use crate::primitives::signature::{Ed25519KeyPair, Ed25519PublicKey, SIGNATURE_LEN};

/// The AEAD key of one group message: HKDF-Expand of the index's leaf key
/// with the group id, state id and index in the info.
pub(crate) fn message_key(leaf: &Node, group_id: &[u8], state_id: &StateId, index: u32) -> AeadKey {
    let mut info = Zeroizing::new(Vec::with_capacity(labels::KDF_GROUP_MESSAGE.len() + 21 + group_id.len()));
    info.extend_from_slice(labels::KDF_GROUP_MESSAGE);
    info.push(u8::try_from(group_id.len()).unwrap_or(u8::MAX));
    info.extend_from_slice(group_id);
    info.extend_from_slice(state_id);
    info.extend_from_slice(&index.to_be_bytes());
    AeadKey::from_okm(&hkdf_expand::<44>(&leaf.key, &info))
}

/// This member's outbound sender state.
#[derive(Clone)]
pub(crate) struct SenderState {
    pub(crate) state_id: StateId,
    pub(crate) signing: Ed25519KeyPair,
    /// The state key's signature binding this state to our member id.
    pub(crate) owner_signature: [u8; SIGNATURE_LEN],
    /// Covers exactly the indices not sent yet.
    pub(crate) cover: Cover,
    pub(crate) created_at: u64,
    pub(crate) sent: u32,
}

impl SenderState {
    /// A fresh state: draws the root key, then the signing key, and derives
    /// the state id from the signing key.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R, now: u64, group_id: &[u8], me: &[u8]) -> Self {
        let mut root = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(root.as_mut());
        let signing = Ed25519KeyPair::generate(rng);
        let state_id = state_id_of(&signing.public());
        let owner_signature = signing.sign(&owner_message(group_id, &state_id, me));
        Self { state_id, signing, owner_signature, cover: Cover::from_root(*root), created_at: now, sent: 0 }
    }

    /// The next index to send, if any is left.
    pub(crate) fn next_index(&self) -> Option<u32> {
        self.cover.first_index()
    }

    /// Encrypts and signs; punctures the index used, so this state can no
    /// longer derive its key.
    pub(crate) fn encrypt(&mut self, group_id: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, GroupError> {
        let index = self.next_index().ok_or(GroupError::SenderStateExhausted)?;
        let descent = self.cover.descend(index).ok_or(GroupError::SenderStateExhausted)?;
        // One buffer: header, then the plaintext sealed in place, then the
        // signature.
        let mut out = Vec::with_capacity(MAX_GROUP_HEADER_LEN + plaintext.len() + TAG_LEN + SIGNATURE_LEN);
        write_message_header(&mut out, &self.state_id, index);
        let ad = bound_header(group_id, &out);
        let body_start = out.len();
        out.extend_from_slice(plaintext);
        message_key(&descent.leaf, group_id, &self.state_id, index).seal_in_place(&ad, &mut out, body_start);
        let signature = self.signing.sign(&signed_message(group_id, &out));
        out.extend_from_slice(&signature);
        self.cover.puncture(descent);
        self.sent = self.sent.saturating_add(1);
        Ok(out)
    }

    /// The record a distribution carries: the indices from the next one on.
    pub(crate) fn record(&self, group_id: &[u8], me: &[u8]) -> SenderKeyRecord {
        SenderKeyRecord {
            group_id: group_id.to_vec(),
            state_id: self.state_id,
            signing_key: self.signing.public(),
            owner: me.to_vec(),
            owner_signature: self.owner_signature,
            nodes: self.cover.boxed_nodes(),
        }
    }
}

/// Another member's sender state, as this member holds it.
#[derive(Clone)]
pub(crate) struct ReceiverState {
    pub(crate) state_id: StateId,
    pub(crate) signing_key: Ed25519PublicKey,
    /// The owner signature from the distribution, kept for exports.
    pub(crate) owner_signature: [u8; SIGNATURE_LEN],
    /// Covers exactly the indices this member may still read.
    pub(crate) cover: Cover,
    /// The first index of the state as received.
    pub(crate) start: u32,
    /// The highest index read so far.
    pub(crate) newest: Option<u32>,
    /// Received in a distribution over a 1:1 session (true) or imported
    /// from an export (false).
    pub(crate) verified: bool,
}

impl ReceiverState {
    pub(crate) fn from_record(record: SenderKeyRecord, verified: bool) -> Result<Self, GroupError> {
        let cover = Cover::from_nodes(record.nodes, MAX_GROUP_STATE_NODES)
            .ok_or(GroupError::Decode(crate::DecodeError::InvalidKeyTree))?;
        // A state with no key at all is useless and its start undefined.
        let start = cover.first_index().ok_or(GroupError::Decode(crate::DecodeError::InvalidKeyTree))?;
        Ok(Self {
            state_id: record.state_id,
            signing_key: record.signing_key,
            owner_signature: record.owner_signature,
            cover,
            start,
            newest: None,
            verified,
        })
    }

    /// Decrypts a message whose signature the caller has verified under
    /// `signing_key`. Changes nothing on error.
    pub(crate) fn decrypt(&mut self, group_id: &[u8], message: &GroupMessage<'_>) -> Result<Vec<u8>, GroupError> {
        let index = message.index;
        let Some(descent) = self.cover.descend(index) else {
            return Err(self.missing(index));
        };
        let plaintext = message_key(&descent.leaf, group_id, &self.state_id, index)
            .open(&bound_header(group_id, message.header), message.ciphertext)
            .map_err(|_| GroupError::AuthenticationFailed)?;
        // Commit: forget this index, move the window, cap the nodes.
        self.cover.puncture(descent);
        let newest = self.newest.map_or(index, |n| n.max(index));
        self.newest = Some(newest);
        self.cover.drop_below(newest.saturating_sub(MAX_GROUP_WINDOW));
        self.cover.cap(MAX_GROUP_STATE_NODES);
        Ok(plaintext)
    }

    /// Why an index has no key.
    fn missing(&self, index: u32) -> GroupError {
        if index < self.start {
            return GroupError::BeforeStateStart { index, start: self.start };
        }
        match self.newest {
            Some(newest) if u64::from(index) + u64::from(MAX_GROUP_WINDOW) < u64::from(newest) => {
                GroupError::OutsideWindow { index, oldest: newest.saturating_sub(MAX_GROUP_WINDOW) }
            }
            _ => GroupError::Duplicate,
        }
    }

    /// The record of the indices at or after `from`, for an export.
    pub(crate) fn export(&self, group_id: &[u8], from: u32, owner: &[u8]) -> SenderKeyRecord {
        SenderKeyRecord {
            group_id: group_id.to_vec(),
            state_id: self.state_id,
            signing_key: self.signing_key,
            owner: owner.to_vec(),
            owner_signature: self.owner_signature,
            nodes: self.cover.suffix_from(from).boxed_nodes(),
        }
    }
}
