//! Sender states: the outbound state a member sends with, and the inbound
//! states it keeps for other members (docs/PROTOCOL.md §12.3).

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::message::{
    Closure, GroupMessage, MAX_GROUP_HEADER_LEN, SenderKeyRecord, bound_header, owner_message, signed_message,
    write_message_header,
};
use super::tree::{Cover, Descent, Node};
use super::{MAX_GROUP_STATE_NODES, MAX_GROUP_WINDOW, StateId, state_id_of};
use crate::error::GroupError;
use crate::labels;
use crate::primitives::kdf::hkdf_expand;
use crate::primitives::signature::{Ed25519KeyPair, Ed25519PublicKey, SIGNATURE_LEN};
use crate::primitives::siv::{SIV_KEY_MATERIAL_LEN, SIV_LEN, SivKey};

/// Length of a group message's key commitment.
pub(crate) const COMMITMENT_LEN: usize = 32;

/// The keys of one group message: the message cipher's keys, and the
/// commitment to them that the signature covers (docs/PROTOCOL.md §12.3).
pub(crate) struct MessageKeys {
    pub(crate) cipher: SivKey,
    /// Not sent: each receiver derives it from its own leaf, so the
    /// signature verifies only for a receiver holding the leaf the sender
    /// used, and one signed message cannot open to different plaintexts
    /// for members given different keys.
    pub(crate) commitment: [u8; COMMITMENT_LEN],
}

/// The keys of one group message: HKDF-Expand of the index's leaf key
/// with the group id, state id and index in the info, 96 bytes: the
/// ChaCha20 key, the HMAC key, the commitment.
pub(crate) fn message_keys(leaf: &Node, group_id: &[u8], state_id: &StateId, index: u32) -> MessageKeys {
    let mut info = Vec::with_capacity(labels::KDF_GROUP_MESSAGE.len() + 21 + group_id.len());
    info.extend_from_slice(labels::KDF_GROUP_MESSAGE);
    info.push(u8::try_from(group_id.len()).unwrap_or(u8::MAX));
    info.extend_from_slice(group_id);
    info.extend_from_slice(state_id);
    info.extend_from_slice(&index.to_be_bytes());
    let okm = hkdf_expand::<{ SIV_KEY_MATERIAL_LEN + COMMITMENT_LEN }>(&leaf.key, &info);
    let (keys, commitment) = okm.split_at(SIV_KEY_MATERIAL_LEN);
    let mut material = Zeroizing::new([0u8; SIV_KEY_MATERIAL_LEN]);
    material.copy_from_slice(keys);
    let mut out = [0u8; COMMITMENT_LEN];
    out.copy_from_slice(commitment);
    MessageKeys { cipher: SivKey::from_okm(&material), commitment: out }
}

/// A message's key, found and derived but not used yet: what
/// [`ReceiverState::prepare`] returns and [`ReceiverState::open`] takes.
pub(crate) struct Opening {
    descent: Descent,
    keys: MessageKeys,
}

impl Opening {
    pub(crate) fn commitment(&self) -> &[u8; COMMITMENT_LEN] {
        &self.keys.commitment
    }
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
    /// The closure of the state this one replaced, carried in every
    /// distribution of this one.
    pub(crate) closes: Option<Closure>,
}

impl SenderState {
    /// A fresh state: draws the root key, then the signing key, and derives
    /// the state id from the signing key.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        now: u64,
        group_id: &[u8],
        me: &[u8],
        closes: Option<Closure>,
    ) -> Self {
        let mut root = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(root.as_mut());
        let signing = Ed25519KeyPair::generate(rng);
        let state_id = state_id_of(&signing.public());
        let owner_signature = signing.sign(&owner_message(group_id, &state_id, me));
        Self { state_id, signing, owner_signature, cover: Cover::from_root(*root), created_at: now, sent: 0, closes }
    }

    /// This state closed at the last index it used, for the distributions
    /// of the state replacing it; `None` if it sent nothing (then it was
    /// never distributed either).
    pub(crate) fn closure(&self) -> Option<Closure> {
        let last = match self.next_index() {
            Some(0) => return None,
            Some(next) => next - 1,
            None => u32::MAX,
        };
        Some(Closure { state_id: self.state_id, last })
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
        let mut out = Vec::with_capacity(MAX_GROUP_HEADER_LEN + plaintext.len() + SIV_LEN + SIGNATURE_LEN);
        write_message_header(&mut out, &self.state_id, index);
        let ad = bound_header(group_id, &out);
        let body_start = out.len();
        out.extend_from_slice(plaintext);
        let keys = message_keys(&descent.leaf, group_id, &self.state_id, index);
        keys.cipher.seal_in_place(&ad, &mut out, body_start);
        let signature = self.signing.sign(&signed_message(group_id, &out, &keys.commitment));
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
            closes: self.closes,
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
    /// The last index the owner sent on this state, once a distribution of
    /// its successor said so: no later index is read.
    pub(crate) last: Option<u32>,
    /// The closure of the owner's previous state that this state's
    /// distribution carried (applied if that state arrives late).
    pub(crate) closes: Option<Closure>,
}

impl ReceiverState {
    pub(crate) fn from_record(record: SenderKeyRecord, verified: bool) -> Result<Self, GroupError> {
        let closes = record.valid_closure();
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
            last: None,
            closes,
        })
    }

    /// Takes the keys of a verified distribution of this same state in
    /// place of those of a copy imported unverified: the distribution's
    /// cover, less every index this copy has read (those in `[start,
    /// newest]` it no longer covers), cut at the window and the closure as
    /// before. The state is verified from then on. Changes nothing on
    /// error.
    pub(crate) fn adopt(&mut self, record: SenderKeyRecord) -> Result<(), GroupError> {
        let closes = record.valid_closure();
        let incoming = Cover::from_nodes(record.nodes, MAX_GROUP_STATE_NODES)
            .ok_or(GroupError::Decode(crate::DecodeError::InvalidKeyTree))?;
        let incoming_start = incoming.first_index().ok_or(GroupError::Decode(crate::DecodeError::InvalidKeyTree))?;
        let (cover, start) = match self.newest {
            None => (incoming, incoming_start),
            Some(newest) => {
                let newest = u64::from(newest);
                let mut cover = match u64::from(self.start).checked_sub(1) {
                    Some(before) => incoming.within(0, before),
                    None => Cover::default(),
                };
                for held in self.cover.nodes().take_while(|n| n.first() <= newest) {
                    cover.extend(incoming.within(held.first(), held.last().min(newest)));
                }
                cover.extend(incoming.within(newest + 1, u64::from(u32::MAX)));
                (cover, self.start.min(incoming_start))
            }
        };
        self.cover = cover;
        self.start = start;
        self.verified = true;
        self.closes = closes;
        if let Some(newest) = self.newest {
            self.cover.drop_below(newest.saturating_sub(MAX_GROUP_WINDOW));
        }
        if let Some(last) = self.last {
            self.cover.drop_above(last);
        }
        self.cover.cap(MAX_GROUP_STATE_NODES);
        Ok(())
    }

    /// Closes this state at `last`, its owner's last index: every key of a
    /// later index is deleted. Closing again keeps the lower bound.
    pub(crate) fn close(&mut self, last: u32) {
        let last = self.last.map_or(last, |l| l.min(last));
        self.last = Some(last);
        self.cover.drop_above(last);
    }

    /// Finds the key of a message's index and derives its keys and
    /// commitment, without changing anything: the caller checks the
    /// signature over the commitment, then calls [`ReceiverState::open`].
    pub(crate) fn prepare(&self, group_id: &[u8], message: &GroupMessage<'_>) -> Result<Opening, GroupError> {
        let index = message.index;
        let Some(descent) = self.cover.descend(index) else {
            return Err(self.missing(index));
        };
        let keys = message_keys(&descent.leaf, group_id, &self.state_id, index);
        Ok(Opening { descent, keys })
    }

    /// Decrypts a message prepared from this state, whose signature the
    /// caller has verified. Changes nothing on error.
    pub(crate) fn open(
        &mut self,
        group_id: &[u8],
        message: &GroupMessage<'_>,
        opening: Opening,
    ) -> Result<Vec<u8>, GroupError> {
        let index = message.index;
        let Opening { descent, keys } = opening;
        let plaintext = keys
            .cipher
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
    pub(crate) fn missing(&self, index: u32) -> GroupError {
        if let Some(last) = self.last.filter(|&last| index > last) {
            return GroupError::StateClosed { index, last };
        }
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
            closes: None,
        }
    }
}
