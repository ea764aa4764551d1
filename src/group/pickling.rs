//! Group pickles (docs/PROTOCOL.md §8.3).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::message::Closure;
use super::sender_key::{ReceiverState, SenderState};
use super::tree::{Cover, Node, TREE_DEPTH};
use super::{
    Group, MAX_GROUP_ANNEX_LEN, MAX_GROUP_ID_LEN, MAX_GROUP_MEMBERS, MAX_GROUP_STATE_NODES, MAX_MEMBER_ID_LEN,
    MAX_RETIRED_STATES_PER_MEMBER, MAX_REVOKED_SENDER_STATES, MAX_ROTATION_MESSAGES, MAX_ROTATION_SECS,
    MAX_SENDER_STATES_PER_MEMBER, Member, RotationPolicy, StateId, state_id_of,
};
use crate::error::PickleError;
use crate::labels;
use crate::pickle::PICKLE_VERSION;
use crate::primitives::signature::{Ed25519KeyPair, Ed25519PublicKey};

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct NodePickle {
    depth: u8,
    prefix: u32,
    key: [u8; 32],
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct SenderStatePickle {
    state_id: StateId,
    signing_seed: [u8; 32],
    owner_signature: Vec<u8>,
    nodes: Vec<NodePickle>,
    created_at: u64,
    sent: u32,
    closes: Option<ClosurePickle>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct ClosurePickle {
    state_id: StateId,
    last: u32,
}

fn closure_to(c: Option<Closure>) -> Option<ClosurePickle> {
    c.map(|c| ClosurePickle { state_id: c.state_id, last: c.last })
}

fn closure_from(c: &Option<ClosurePickle>) -> Option<Closure> {
    c.as_ref().map(|c| Closure { state_id: c.state_id, last: c.last })
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct ReceiverStatePickle {
    state_id: StateId,
    signing_key: [u8; 32],
    owner_signature: Vec<u8>,
    nodes: Vec<NodePickle>,
    start: u32,
    newest: Option<u32>,
    verified: bool,
    last: Option<u32>,
    closes: Option<ClosurePickle>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct MemberPickle {
    id: Vec<u8>,
    /// Newest first.
    states: Vec<ReceiverStatePickle>,
    /// Evicted state ids, oldest first.
    retired: Vec<StateId>,
    /// The owner's message count when the member joined.
    joined: u64,
}

/// A versioned snapshot of a [`Group`]: its members, its own sender state
/// and the inbound states. Holds private keys: zeroized on drop, and its
/// `Debug` shows only the version.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub struct GroupPickle {
    pub(crate) version: u32,
    id: Vec<u8>,
    me: Vec<u8>,
    members: Vec<MemberPickle>,
    revoked: Vec<StateId>,
    outbound: Option<SenderStatePickle>,
    stale: bool,
    undistributed: Vec<Vec<u8>>,
    rotation_messages: u32,
    rotation_secs: u64,
    sends: u64,
    annex: Vec<u8>,
}

crate::pickle::pickle_api!(GroupPickle, crate::pickle::TYPE_GROUP, labels::KDF_PICKLE_GROUP);

fn nodes_to(cover: &Cover) -> Vec<NodePickle> {
    cover.nodes().map(|n| NodePickle { depth: n.depth, prefix: n.prefix, key: n.key }).collect()
}

fn nodes_from(nodes: &[NodePickle]) -> Result<Cover, PickleError> {
    let nodes = nodes.iter().map(|n| Box::new(Node { depth: n.depth, prefix: n.prefix, key: n.key })).collect();
    Cover::from_nodes(nodes, MAX_GROUP_STATE_NODES).ok_or(PickleError::Invalid)
}

impl Group {
    /// A versioned snapshot of this group, to persist. See
    /// [`GroupPickle::encrypt`].
    ///
    /// ```
    /// use dmseal::{Group, GroupPickle};
    /// let key = [7u8; 32]; // the app's storage key, from the keychain
    /// let mut alice = Group::new(b"team", b"alice")?;
    /// alice.add_member(b"bob")?;
    /// let out = alice.encrypt(b"hi", 1_800_000_000)?;
    /// // The group advanced: persist it before sending `out`.
    /// let stored = alice.pickle().encrypt(&key);
    /// let restored = Group::from_pickle(&GroupPickle::from_encrypted(&stored, &key)?)?;
    /// assert_eq!(restored.members().collect::<Vec<_>>(), [b"bob"]);
    /// # let _ = out;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pickle(&self) -> GroupPickle {
        GroupPickle {
            version: PICKLE_VERSION,
            id: self.id.clone(),
            me: self.me.clone(),
            members: self
                .members
                .iter()
                .map(|(id, m)| MemberPickle {
                    id: id.clone(),
                    states: m
                        .states
                        .iter()
                        .map(|s| ReceiverStatePickle {
                            state_id: s.state_id,
                            signing_key: s.signing_key.to_bytes(),
                            owner_signature: s.owner_signature.to_vec(),
                            nodes: nodes_to(&s.cover),
                            start: s.start,
                            newest: s.newest,
                            verified: s.verified,
                            last: s.last,
                            closes: closure_to(s.closes),
                        })
                        .collect(),
                    retired: m.retired.iter().copied().collect(),
                    joined: m.joined,
                })
                .collect(),
            revoked: self.revoked.iter().copied().collect(),
            outbound: self.outbound.as_ref().map(|s| SenderStatePickle {
                state_id: s.state_id,
                signing_seed: *s.signing.secret_bytes(),
                owner_signature: s.owner_signature.to_vec(),
                nodes: nodes_to(&s.cover),
                created_at: s.created_at,
                sent: s.sent,
                closes: closure_to(s.closes),
            }),
            stale: self.stale,
            undistributed: self.undistributed.iter().cloned().collect(),
            rotation_messages: self.policy.max_messages,
            rotation_secs: self.policy.max_age_secs,
            sends: self.sends,
            annex: self.annex.clone(),
        }
    }

    /// Restores a group from a snapshot, checking every limit and tree.
    /// Restoring an older snapshot than the latest state is unsafe: it
    /// re-uses message keys and re-opens replays.
    ///
    /// ```
    /// use dmseal::{Group, GroupPickle};
    /// let (key, now) = ([7u8; 32], 1_800_000_000);
    /// let mut alice = Group::new(b"team", b"alice")?;
    /// alice.add_member(b"bob")?;
    /// let _out = alice.encrypt(b"hi", now)?;
    /// let stored = alice.pickle().encrypt(&key);
    /// drop(alice); // the app restarts
    /// let mut alice = Group::from_pickle(&GroupPickle::from_encrypted(&stored, &key)?)?;
    /// // It remembers that Bob has its sender state.
    /// assert!(alice.encrypt(b"again", now)?.distributions.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PickleError::UnsupportedVersion`] or [`PickleError::Invalid`].
    pub fn from_pickle(pickle: &GroupPickle) -> Result<Self, PickleError> {
        crate::pickle::check_version(pickle.version)?;
        let limits_ok = pickle.id.len() <= MAX_GROUP_ID_LEN
            && pickle.me.len() <= MAX_MEMBER_ID_LEN
            && pickle.members.len() <= MAX_GROUP_MEMBERS
            && pickle.revoked.len() <= MAX_REVOKED_SENDER_STATES
            && pickle.undistributed.len() <= pickle.members.len()
            && pickle.rotation_messages <= MAX_ROTATION_MESSAGES
            && pickle.rotation_secs <= MAX_ROTATION_SECS
            && pickle.annex.len() <= MAX_GROUP_ANNEX_LEN;
        if !limits_ok {
            return Err(PickleError::Invalid);
        }
        let mut members = BTreeMap::new();
        let mut owners = BTreeMap::new();
        for m in &pickle.members {
            if m.id.len() > MAX_MEMBER_ID_LEN
                || m.states.len() > MAX_SENDER_STATES_PER_MEMBER
                || m.retired.len() > MAX_RETIRED_STATES_PER_MEMBER
            {
                return Err(PickleError::Invalid);
            }
            let mut states = VecDeque::new();
            for s in &m.states {
                let cover = nodes_from(&s.nodes)?;
                // A closed state holds no key past its last index, and no
                // state closes itself.
                let consistent = s.newest.is_none_or(|n| n >= s.start)
                    && s.last.is_none_or(|l| cover.nodes().all(|n| n.last() <= u64::from(l)))
                    && s.closes.as_ref().is_none_or(|c| c.state_id != s.state_id);
                if owners.insert(s.state_id, m.id.clone()).is_some() || !consistent {
                    return Err(PickleError::Invalid);
                }
                let signing_key = Ed25519PublicKey::from_bytes(s.signing_key).map_err(|_| PickleError::Invalid)?;
                if s.state_id != state_id_of(&signing_key) {
                    return Err(PickleError::Invalid);
                }
                states.push_back(ReceiverState {
                    state_id: s.state_id,
                    signing_key,
                    owner_signature: s.owner_signature.as_slice().try_into().map_err(|_| PickleError::Invalid)?,
                    cover,
                    start: s.start,
                    newest: s.newest,
                    verified: s.verified,
                    last: s.last,
                    closes: closure_from(&s.closes),
                });
            }
            let retired = m.retired.iter().copied().collect();
            if m.joined > pickle.sends
                || members.insert(m.id.clone(), Member { states, retired, joined: m.joined }).is_some()
            {
                return Err(PickleError::Invalid);
            }
        }
        // A revoked id is never held (Group::locate relies on it).
        if pickle.revoked.iter().any(|id| owners.contains_key(id)) {
            return Err(PickleError::Invalid);
        }
        let undistributed: BTreeSet<Vec<u8>> = pickle.undistributed.iter().cloned().collect();
        if !undistributed.iter().all(|m| members.contains_key(m)) {
            return Err(PickleError::Invalid);
        }
        let outbound = match &pickle.outbound {
            Some(s) => {
                let cover = nodes_from(&s.nodes)?;
                // A sender state covers one contiguous run up to the last index.
                let nodes: Vec<&Node> = cover.nodes().collect();
                let contiguous = nodes.windows(2).all(|w| matches!(w, [a, b] if a.last() + 1 == b.first()));
                if !contiguous || nodes.last().is_some_and(|n| n.last() != (1u64 << TREE_DEPTH) - 1) {
                    return Err(PickleError::Invalid);
                }
                let signing = Ed25519KeyPair::from_secret_bytes(&s.signing_seed);
                if s.state_id != state_id_of(&signing.public()) {
                    return Err(PickleError::Invalid);
                }
                Some(SenderState {
                    state_id: s.state_id,
                    signing,
                    owner_signature: s.owner_signature.as_slice().try_into().map_err(|_| PickleError::Invalid)?,
                    cover,
                    created_at: s.created_at,
                    sent: s.sent,
                    closes: closure_from(&s.closes),
                })
            }
            None => None,
        };
        Ok(Group {
            id: pickle.id.clone(),
            me: pickle.me.clone(),
            members,
            owners,
            revoked: pickle.revoked.iter().copied().collect(),
            outbound,
            stale: pickle.stale,
            undistributed,
            policy: RotationPolicy::new(pickle.rotation_messages, pickle.rotation_secs),
            sends: pickle.sends,
            annex: pickle.annex.clone(),
        })
    }
}
