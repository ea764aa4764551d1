// The interaction fuzzer: the input bytes choose actions for three parties
// (Alice, Bob, Carol) against the real API: 1:1 sends both ways, group
// sends, delivery in any order, drops, duplicates, tampering, pickle and
// restore, prekey rotation, removing a group member, and upgrading a
// session to the KEM ratchet. Alice and Bob run the KEM ratchet; Carol is
// a peer from before it, so her sessions start without it. After every
// delivery it asserts the protocol's promises:
// - an untampered first delivery decrypts to exactly what was sent (1:1:
//   unless its receiving chain was evicted, which the model tracks; group:
//   if the receiver holds the sender's state and has not removed it);
// - a duplicate or tampered delivery fails and changes nothing;
// - nothing panics.

use std::collections::{BTreeMap, BTreeSet};

use dmseal::{Account, Group, NormalMessage, PreKeyMessage, Session};
use dmseal::limits::{MAX_RECEIVING_CHAINS};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NAMES: [&str; 3] = ["alice", "bob", "carol"];
const GID: &[u8] = b"fuzz-interaction";
const KEY: [u8; 32] = [9; 32];

struct Party {
    account: Account,
    /// 1:1 sessions by peer index.
    sessions: BTreeMap<usize, Session>,
    group: Group,
    /// Ratchet keys of each peer's chains, in the order first read.
    chains: BTreeMap<usize, Vec<[u8; 32]>>,
    /// Group members this party removed.
    removed: BTreeSet<usize>,
}

#[derive(Clone)]
struct Item {
    from: usize,
    to: usize,
    group: bool,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
}

fn ratchet_key(bytes: &[u8]) -> [u8; 32] {
    match NormalMessage::decode(bytes) {
        Ok(m) => m.ratchet_key().to_bytes(),
        Err(_) => PreKeyMessage::decode(bytes).map(|m| m.message().ratchet_key().to_bytes()).unwrap_or([0; 32]),
    }
}

/// The 16-byte sender state id of a group message (docs/PROTOCOL.md §12.4).
fn state_id(bytes: &[u8]) -> [u8; 16] {
    bytes.get(2..18).and_then(|s| s.try_into().ok()).unwrap_or([0; 16])
}

struct World {
    rng: ChaCha20Rng,
    parties: Vec<Party>,
    flight: Vec<Item>,
    delivered: Vec<Item>,
    /// Who holds each group sender state (by state id).
    holders: BTreeMap<[u8; 16], BTreeSet<usize>>,
    counter: u32,
}

impl World {
    fn new() -> Self {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let mut parties: Vec<Party> = NAMES
            .iter()
            .map(|me| {
                let mut group = Group::new(GID, me.as_bytes()).expect("group");
                for other in NAMES.iter().filter(|o| *o != me) {
                    group.add_member(other.as_bytes()).expect("member");
                }
                Party {
                    account: if *me == "carol" {
                        Account::new_without_kem_ratchet_with_rng(&mut rng)
                    } else {
                        Account::new_with_rng(&mut rng)
                    },
                    sessions: BTreeMap::new(),
                    group,
                    chains: BTreeMap::new(),
                    removed: BTreeSet::new(),
                }
            })
            .collect();
        // 1:1 sessions Alice-Bob, Alice-Carol, Bob-Carol; initiator first.
        for (i, j) in [(0usize, 1usize), (0, 2), (1, 2)] {
            let context = [NAMES[i].as_bytes(), b"|", NAMES[j].as_bytes()].concat();
            let bundle = parties[j].account.prekey_bundle(None, None).expect("bundle");
            let (s, first) =
                parties[i].account.start_session_with_rng(&mut rng, &bundle, &context, b"hi").expect("start");
            let message = PreKeyMessage::decode(&first).expect("decode");
            let pending = parties[j].account.open_first_message(&message, &context, 0).expect("open");
            let sj = parties[j].account.accept(pending).expect("accept");
            parties[j].chains.insert(i, vec![message.message().ratchet_key().to_bytes()]);
            parties[i].chains.insert(j, Vec::new());
            // The KEM ratchet exactly between Alice and Bob.
            assert_eq!(s.kem_ratchet(), j != 2, "negotiation");
            assert_eq!(sj.kem_ratchet(), j != 2, "negotiation");
            parties[i].sessions.insert(j, s);
            parties[j].sessions.insert(i, sj);
        }
        Self { rng, parties, flight: Vec::new(), delivered: Vec::new(), holders: BTreeMap::new(), counter: 0 }
    }

    fn send(&mut self, from: usize, to: usize) {
        self.counter += 1;
        let plaintext = self.counter.to_be_bytes().to_vec();
        let Some(s) = self.parties[from].sessions.get_mut(&to) else { return };
        let bytes = s.encrypt_with_rng(&mut self.rng, &plaintext).expect("1:1 encrypt");
        self.flight.push(Item { from, to, group: false, bytes, plaintext });
    }

    fn group_send(&mut self, from: usize) {
        self.counter += 1;
        let plaintext = self.counter.to_be_bytes().to_vec();
        let out = self.parties[from].group.encrypt_with_rng(&mut self.rng, &plaintext, 0).expect("group encrypt");
        let id = state_id(&out.message);
        // Distributions travel over 1:1 sessions; here they are delivered
        // at once and recorded, so the model knows who holds the state.
        for d in &out.distributions {
            let to = NAMES.iter().position(|n| n.as_bytes() == d.to.as_slice()).expect("member");
            if self.parties[to].group.receive_distribution(NAMES[from].as_bytes(), &d.bytes).is_ok() {
                self.holders.entry(id).or_default().insert(to);
            }
        }
        for to in 0..3 {
            if to != from {
                self.flight.push(Item { from, to, group: true, bytes: out.message.clone(), plaintext: plaintext.clone() });
            }
        }
    }

    fn snapshot(&self, who: usize) -> Vec<u8> {
        let p = &self.parties[who];
        let mut out = p.group.pickle().to_bytes().to_vec();
        for s in p.sessions.values() {
            out.extend_from_slice(&s.pickle().to_bytes());
        }
        out
    }

    fn receive(&mut self, item: &Item) -> Result<Vec<u8>, String> {
        let p = &mut self.parties[item.to];
        if item.group {
            p.group.decrypt(&item.bytes).map(|g| g.plaintext).map_err(|e| format!("{e:?}"))
        } else {
            let s = p.sessions.get_mut(&item.from).ok_or("no session")?;
            s.decrypt(&item.bytes).map_err(|e| format!("{e:?}"))
        }
    }

    fn deliver(&mut self, pick: usize) {
        if self.flight.is_empty() {
            return;
        }
        let item = self.flight.remove(pick % self.flight.len());
        let expected_ok = if item.group {
            let id = state_id(&item.bytes);
            self.holders.get(&id).is_some_and(|h| h.contains(&item.to))
                && !self.parties[item.to].removed.contains(&item.from)
        } else {
            let key = ratchet_key(&item.bytes);
            let chains = &self.parties[item.to].chains[&item.from];
            chains.iter().position(|k| *k == key).is_none_or(|p| p + MAX_RECEIVING_CHAINS >= chains.len())
        };
        let before = self.snapshot(item.to);
        match self.receive(&item) {
            Ok(plaintext) => {
                assert!(expected_ok, "a message the model says is unreadable decrypted");
                assert_eq!(plaintext, item.plaintext, "decrypted to something else");
                if !item.group {
                    let key = ratchet_key(&item.bytes);
                    let chains = self.parties[item.to].chains.get_mut(&item.from).expect("chains");
                    if !chains.contains(&key) {
                        chains.push(key);
                    }
                }
            }
            Err(e) => {
                assert!(!expected_ok, "a fresh, untampered message failed: {e}");
                assert_eq!(self.snapshot(item.to), before, "a failed delivery changed state");
            }
        }
        self.delivered.push(item);
    }

    fn duplicate(&mut self, pick: usize) {
        if self.delivered.is_empty() {
            return;
        }
        let item = self.delivered[pick % self.delivered.len()].clone();
        let before = self.snapshot(item.to);
        assert!(self.receive(&item).is_err(), "a duplicate decrypted");
        assert_eq!(self.snapshot(item.to), before, "a duplicate changed state");
    }

    fn tamper(&mut self, pick: usize, bit: usize) {
        if self.flight.is_empty() {
            return;
        }
        let mut item = self.flight[pick % self.flight.len()].clone();
        let bit = bit % (item.bytes.len() * 8);
        item.bytes[bit / 8] ^= 1 << (bit % 8);
        let before = self.snapshot(item.to);
        assert!(self.receive(&item).is_err(), "a tampered message decrypted");
        assert_eq!(self.snapshot(item.to), before, "a tampered message changed state");
    }

    fn pickle_and_restore(&mut self, who: usize) {
        let p = &mut self.parties[who];
        let account = p.account.pickle().encrypt_with_rng(&mut self.rng, &KEY);
        p.account = Account::from_pickle(&dmseal::AccountPickle::from_encrypted(&account, &KEY).expect("account"))
            .expect("account restore");
        for s in p.sessions.values_mut() {
            let bytes = s.pickle().encrypt_with_rng(&mut self.rng, &KEY);
            *s = Session::from_pickle(&dmseal::SessionPickle::from_encrypted(&bytes, &KEY).expect("session"))
                .expect("session restore");
        }
        let g = p.group.pickle().to_bytes();
        p.group = Group::from_pickle(&dmseal::GroupPickle::from_bytes(&g).expect("group")).expect("group restore");
    }

    /// Upgrades one of Carol's sessions to the KEM ratchet (her peer's or
    /// hers): every message still decrypts as before.
    fn upgrade(&mut self, pick: usize) {
        let (who, peer) = [(0usize, 2usize), (2, 0), (1, 2), (2, 1)][pick % 4];
        if let Some(s) = self.parties[who].sessions.get_mut(&peer) {
            let before = s.kem_ratchet();
            let upgraded = s.upgrade_kem_ratchet();
            assert_eq!(upgraded, !before && s.is_acknowledged(), "upgrade");
            assert_eq!(s.kem_ratchet(), before || upgraded);
        }
    }

    fn remove_carol(&mut self) {
        for who in [0usize, 1] {
            self.parties[who].group.remove_member(b"carol");
            self.parties[who].removed.insert(2);
        }
    }
}

pub(crate) fn run(data: &[u8]) {
    let mut world = World::new();
    for op in data.chunks(2).take(256) {
        let (code, arg) = (op[0], usize::from(*op.get(1).unwrap_or(&0)));
        match code % 12 {
            0 => world.send(0, 1),
            1 => world.send(1, 0),
            2 => world.send(0, 2),
            3 => world.send(2, 1),
            4 | 5 => world.deliver(arg),
            6 => {
                if !world.flight.is_empty() {
                    let n = world.flight.len();
                    world.flight.remove(arg % n);
                }
            }
            7 => world.duplicate(arg),
            8 => world.tamper(arg, arg.wrapping_mul(31)),
            9 => world.pickle_and_restore(arg % 3),
            10 => {
                let sender = arg % 3;
                if !(sender == 2 && world.parties[0].removed.contains(&2) && arg % 2 == 0) {
                    world.group_send(sender);
                }
            }
            _ => {
                if arg % 4 == 0 {
                    world.remove_carol();
                } else if arg % 4 == 1 {
                    world.upgrade(arg / 4);
                } else {
                    let mut r = ChaCha20Rng::from_seed([arg as u8; 32]);
                    let _ = world.parties[arg % 3].account.rotate_signed_prekey_with_rng(&mut r, 0, 60);
                }
            }
        }
    }
    // Everything still in flight that the model calls readable decrypts.
    while !world.flight.is_empty() {
        world.deliver(0);
    }
    // Alice and Bob always run the KEM ratchet with each other.
    assert!(world.parties[0].sessions[&1].kem_ratchet() && world.parties[1].sessions[&0].kem_ratchet());
}
