//! Helpers of the conversation tests: devices over memory stores, a world
//! that delivers between them, bundles fetched on demand.

use std::collections::BTreeMap;

use dmseal::store::{MemoryStore, Store};
use dmseal::{
    Address, BundleSourceError, Content, ConversationConfig, Conversations, PreKeyBundle, ReceiveError, ReceivedKind,
    SendError,
};

pub const NOW: u64 = 1_800_000_000;
pub const DAY: u64 = 24 * 60 * 60;

pub type Device = Conversations<MemoryStore>;

pub fn addr(user: &str, device: u32) -> Address {
    Address::new(user, device).unwrap()
}

pub fn device_with(user: &str, id: u32, config: ConversationConfig) -> Device {
    Conversations::open(MemoryStore::new(), [7; 32], addr(user, id), config).unwrap()
}

pub fn device(user: &str, id: u32) -> Device {
    device_with(user, id, ConversationConfig::default())
}

/// A bundle with a fresh one-time prekey, as a server would hand out.
pub fn bundle<S: Store>(d: &mut Conversations<S>) -> PreKeyBundle {
    let id = d
        .update_account(|a| {
            let id = a.generate_one_time_prekeys(1).unwrap()[0].id();
            a.mark_one_time_prekeys_published(&[id]).unwrap();
            id
        })
        .unwrap();
    d.account().prekey_bundle(Some(id), None).unwrap()
}

/// Everyone, by address, and the messages in flight.
#[derive(Default)]
pub struct World {
    pub devices: BTreeMap<Address, Device>,
}

impl World {
    pub fn add(&mut self, d: Device) {
        self.devices.insert(d.me().clone(), d);
    }

    pub fn get(&mut self, a: &Address) -> &mut Device {
        self.devices.get_mut(a).unwrap()
    }

    /// Sends from `from` to `user`, fetching bundles when asked.
    pub fn send(&mut self, from: &Address, user: &str, text: impl Into<Content>, now: u64) -> Vec<(Address, Vec<u8>)> {
        let mut sender = self.devices.remove(from).unwrap();
        let mut directory = |need: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
            Ok(need.iter().map(|a| (a.clone(), bundle(self.devices.get_mut(a).unwrap()))).collect())
        };
        let sent = sender.send_fetching(user, text, &mut directory, now);
        self.devices.insert(from.clone(), sender);
        match sent {
            Ok(out) => out.messages,
            Err(e) => panic!("send failed: {e:?}"),
        }
    }

    /// Delivers one message and commits it.
    pub fn deliver(&mut self, from: &Address, to: &Address, bytes: &[u8]) -> Result<Vec<u8>, ReceiveError> {
        let d = self.get(to);
        let r = d.receive(from, bytes, NOW)?;
        let plaintext = r.plaintext().to_vec();
        d.commit_received(r, vec![])?;
        Ok(plaintext)
    }

    /// Reads a 1:1 message and commits it; its kind and plaintext.
    pub fn read(&mut self, at: &Address, from: &Address, bytes: &[u8]) -> (ReceivedKind, Vec<u8>) {
        let d = self.get(at);
        let r = d.receive(from, bytes, NOW).unwrap();
        let out = (r.kind(), r.plaintext().to_vec());
        d.commit_received(r, vec![]).unwrap();
        out
    }

    /// Approves `device` at `at` under the identity `at` shows for it (the
    /// one the person compared).
    pub fn approve(&mut self, at: &Address, device: &Address) {
        let d = self.get(at);
        let shown = d.devices(device.user()).unwrap().into_iter().find(|i| i.address == *device).unwrap();
        d.approve_device(device, &shown.identity.unwrap()).unwrap();
    }

    pub fn converged(&mut self, a: &Address, b: &Address) -> bool {
        let x = self.get(a).current_session_base_key(b).unwrap();
        let y = self.get(b).current_session_base_key(a).unwrap();
        x.is_some() && x == y
    }
}

/// Alice (device 1) and Bob (device 1), each listing the other.
pub fn alice_and_bob() -> (World, Address, Address) {
    let mut w = World::default();
    let (a, b) = (addr("alice", 1), addr("bob", 1));
    let mut alice = device("alice", 1);
    let mut bob = device("bob", 1);
    alice.set_devices("bob", &[1]).unwrap();
    bob.set_devices("alice", &[1]).unwrap();
    w.add(alice);
    w.add(bob);
    (w, a, b)
}

/// One message each way, one after the other.
pub fn exchange(w: &mut World, a: &Address, b: &Address, round: usize) {
    let m = w.send(a, "bob", format!("ping {round}").as_bytes(), NOW);
    assert_eq!(w.deliver(a, b, &m[0].1).unwrap(), format!("ping {round}").as_bytes());
    let r = w.send(b, "alice", format!("pong {round}").as_bytes(), NOW);
    assert_eq!(w.deliver(b, a, &r[0].1).unwrap(), format!("pong {round}").as_bytes());
}

/// Delivers whatever `send_group` produced: the distributions over 1:1
/// sessions, then the group message, to every device in `to`.
pub fn deliver_group(
    w: &mut World,
    from: &Address,
    group: &[u8],
    sent: &dmseal::GroupSend,
    to: &[Address],
) -> Vec<Result<Vec<u8>, ReceiveError>> {
    for (device, bytes) in &sent.distributions.messages {
        let d = w.get(device);
        let r = d.receive(from, bytes, NOW).unwrap();
        assert_eq!(r.kind(), ReceivedKind::GroupKeys);
        assert_eq!(r.group_id(), Some(group));
        d.commit_received(r, vec![]).unwrap();
    }
    to.iter()
        .map(|device| {
            let d = w.get(device);
            let r = d.receive_group(group, from, &sent.message, NOW)?;
            assert_eq!(r.kind(), ReceivedKind::GroupMessage);
            assert_eq!(r.from(), from);
            let plaintext = r.plaintext().to_vec();
            d.commit_received(r, vec![]).unwrap();
            Ok(plaintext)
        })
        .collect()
}

/// A world of fresh devices that all created `group` with each other.
pub fn group_world(group: &[u8], members: &[Address]) -> (World, Vec<Address>) {
    let mut w = World::default();
    for m in members {
        let mut d = device(m.user(), m.device());
        d.create_group(group, members).unwrap();
        w.add(d);
    }
    (w, members.to_vec())
}

/// Sends to a group, fetching bundles when asked.
pub fn send_group(w: &mut World, from: &Address, group: &[u8], text: impl Into<Content>) -> dmseal::GroupSend {
    let text = text.into();
    let mut bundles = Vec::new();
    loop {
        match w.get(from).send_group(group, &text, &bundles, NOW) {
            Ok(out) => return out,
            Err(SendError::NeedBundles(need)) if bundles.is_empty() => {
                bundles = need.iter().map(|a| (a.clone(), bundle(w.get(a)))).collect();
            }
            Err(e) => panic!("send_group failed: {e:?}"),
        }
    }
}
