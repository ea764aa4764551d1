//! dmseal scenarios: session setup in each mode, established sessions and
//! groups, ready for the timed loops in `main`.

use dmseal::{Account, ClassicX3dh, Group, PreKeyBundle, PreKeyMessage, RotationPolicy, Session};

/// Both sides bind their sessions to these bytes.
pub const CONTEXT: &[u8] = b"user:alice/device:1|user:bob/device:1";
/// The clock handed to `open_first_message`.
const NOW: u64 = 1_700_000_000;
/// The group id of the group rows.
pub const GROUP_ID: &[u8] = b"bench-group";

/// How a session is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupKind {
    /// Classic X3DH (allowed on both sides), no one-time prekey.
    Classic,
    /// Classic X3DH with a one-time prekey.
    ClassicOtk,
    /// PQXDH with the last-resort PQ prekey, no one-time prekey.
    Pq,
    /// PQXDH with the last-resort PQ prekey and a one-time X25519 prekey.
    PqOtk,
}

impl SetupKind {
    pub fn classic(self) -> bool {
        matches!(self, Self::Classic | Self::ClassicOtk)
    }

    pub fn one_time_prekey(self) -> bool {
        matches!(self, Self::ClassicOtk | Self::PqOtk)
    }

    /// The account Alice starts sessions from (it never changes).
    pub fn initiator(self) -> Account {
        let mut alice = Account::new();
        if self.classic() {
            alice.set_classic_x3dh(ClassicX3dh::AcceptAndInitiate);
        }
        alice
    }

    /// A fresh Bob and `n` encoded bundles of his, one per session to set
    /// up: each with its own one-time prekey where the mode uses one. A
    /// fresh account per batch keeps the replay record of first messages
    /// without a one-time prekey short, as it is in real use.
    pub fn responder_with_bundles(self, n: usize) -> (Account, Vec<Vec<u8>>) {
        // A classic Bob is a peer without PQ support: his bundles carry no
        // PQ prekey and his signed prekey does not sign the PQ capability.
        let mut bob = if self.classic() {
            Account::new_classic_only_with_rng(&mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_seed(
                [9; 32],
            ))
        } else {
            Account::new()
        };
        let ids: Vec<Option<u32>> = if self.one_time_prekey() {
            assert!(n <= dmseal::limits::MAX_ONE_TIME_PREKEYS, "batch of {n} exceeds the one-time prekey store");
            let ids: Vec<u32> = bob.generate_one_time_prekeys(n).unwrap().iter().map(|k| k.id()).collect();
            bob.mark_one_time_prekeys_published(&ids).unwrap();
            ids.into_iter().map(Some).collect()
        } else {
            vec![None; n]
        };
        let bundles = ids.into_iter().map(|id| bob.prekey_bundle(id, None).unwrap().encode()).collect();
        (bob, bundles)
    }
}

/// Setup to first plaintext, as an app runs it: Alice decodes Bob's
/// bundle, starts a session and sends `plaintext`; Bob decodes the first
/// message, opens it and accepts the session.
pub fn set_up(alice: &Account, bob: &mut Account, bundle: &[u8], plaintext: &[u8]) -> (Session, Session) {
    let bundle = PreKeyBundle::decode(bundle).unwrap();
    let (alice_session, first) = alice.start_session(&bundle, CONTEXT, plaintext).unwrap();
    let first = PreKeyMessage::decode(&first).unwrap();
    let pending = bob.open_first_message(&first, CONTEXT, NOW).unwrap();
    assert_eq!(pending.plaintext(), plaintext);
    let bob_session = bob.accept(pending).unwrap();
    (alice_session, bob_session)
}

/// A first message of the given mode with `plaintext`, and the length of
/// the normal message inside it.
pub fn first_message(kind: SetupKind, plaintext: &[u8]) -> (Vec<u8>, usize) {
    let alice = kind.initiator();
    let (_bob, bundles) = kind.responder_with_bundles(1);
    let bundle = PreKeyBundle::decode(&bundles[0]).unwrap();
    let (_, first) = alice.start_session(&bundle, CONTEXT, plaintext).unwrap();
    let inner = PreKeyMessage::decode(&first).unwrap().message().as_bytes().len();
    (first, inner)
}

/// A PQXDH session pair (one-time prekey used) after a reply, with
/// Alice's next sending chain already open: Alice's messages are normal
/// messages on an established chain.
pub fn established() -> (Session, Session) {
    let alice = SetupKind::PqOtk.initiator();
    let (mut bob, bundles) = SetupKind::PqOtk.responder_with_bundles(1);
    let (mut a, mut b) = set_up(&alice, &mut bob, &bundles[0], b"hi");
    a.decrypt(&b.encrypt(b"reply").unwrap()).unwrap();
    b.decrypt(&a.encrypt(b"warm").unwrap()).unwrap();
    assert!(a.is_acknowledged());
    (a, b)
}

/// The traffic before the pickles are sized: setup (Alice's first
/// message), Bob's reply, then three more messages each way, ending with
/// Bob's; both sides acknowledged and idle. The messages are 100 bytes.
pub fn after_traffic() -> (Session, Session) {
    let message = [0x5au8; 100];
    let alice = SetupKind::PqOtk.initiator();
    let (mut bob, bundles) = SetupKind::PqOtk.responder_with_bundles(1);
    let (mut a, mut b) = set_up(&alice, &mut bob, &bundles[0], &message);
    a.decrypt(&b.encrypt(&message).unwrap()).unwrap();
    for _ in 0..3 {
        b.decrypt(&a.encrypt(&message).unwrap()).unwrap();
        a.decrypt(&b.encrypt(&message).unwrap()).unwrap();
    }
    (a, b)
}

/// An independent copy of a group, made through a pickle (`Group` is
/// deliberately not `Clone`).
pub fn copy(group: &Group) -> Group {
    Group::from_pickle(&group.pickle()).unwrap()
}

/// Alice's group with Bob as its one other member, and Bob's group holding
/// Alice's sender state after reading her first message (index 0).
pub fn group_pair() -> (Group, Group) {
    let mut alice = Group::new(GROUP_ID, b"alice").unwrap();
    alice
        .set_rotation_policy(RotationPolicy::new(
            dmseal::limits::MAX_ROTATION_MESSAGES,
            dmseal::limits::DEFAULT_ROTATION_SECS,
        ))
        .unwrap();
    alice.add_member(b"bob").unwrap();
    let mut bob = Group::new(GROUP_ID, b"bob").unwrap();
    bob.add_member(b"alice").unwrap();
    let out = alice.encrypt(b"warm up", 0).unwrap();
    bob.receive_distribution(b"alice", &out.distributions[0].bytes).unwrap();
    assert_eq!(bob.decrypt(&out.message).unwrap().plaintext, b"warm up");
    (alice, bob)
}

/// `n` established PQXDH sessions of one Alice with one Bob, each with
/// Alice's sending chain open (her next message is a same-chain message):
/// what a member holds with the other devices of a group.
pub fn established_many(n: usize) -> Vec<Session> {
    let alice = SetupKind::PqOtk.initiator();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let batch = (n - out.len()).min(dmseal::limits::MAX_ONE_TIME_PREKEYS);
        let (mut bob, bundles) = SetupKind::PqOtk.responder_with_bundles(batch);
        for bundle in &bundles {
            let (mut a, mut b) = set_up(&alice, &mut bob, bundle, b"hi");
            a.decrypt(&b.encrypt(b"reply").unwrap()).unwrap();
            b.decrypt(&a.encrypt(b"warm").unwrap()).unwrap();
            out.push(a);
        }
    }
    out
}

/// Alice's group with `devices - 1` other member devices, after a first
/// message (state distributed), and a copy from which `device-0` has been
/// removed: its next `encrypt` rotates.
pub fn group_before_rotation(devices: usize) -> Group {
    let mut alice = Group::new(GROUP_ID, b"alice").unwrap();
    alice
        .set_rotation_policy(RotationPolicy::new(
            dmseal::limits::MAX_ROTATION_MESSAGES,
            dmseal::limits::DEFAULT_ROTATION_SECS,
        ))
        .unwrap();
    for i in 0..devices - 1 {
        alice.add_member(format!("device-{i}").as_bytes()).unwrap();
    }
    let _ = alice.encrypt(b"before the removal", 0).unwrap();
    assert!(alice.remove_member(b"device-0"));
    alice
}
