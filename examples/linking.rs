//! A server with a prekey directory, devices that keep their prekeys on it,
//! and a person who links a new laptop from their phone.
//!
//! 1. The server runs `dmseal::directory` over SQLite; each device calls
//!    `prekey_maintenance` and uploads what it returns.
//! 2. Alice's phone and Bob talk through bundles the directory hands out;
//!    Bob marks Alice verified.
//! 3. Alice's new laptop shows a QR code; her phone reads it and sends back
//!    a sealed handover; the laptop has her contacts and trust at once.
//! 4. The laptop writes to Bob: Bob's device sees that Alice's phone, which
//!    he trusts, linked it, and trusts it without asking him; his reply goes
//!    to both of Alice's devices.
//! 5. Mallory's device claims to be linked by "Alice's phone" with a key of
//!    her own: Bob's device does not trust it, and sending to Alice stays
//!    blocked until Bob approves.
//!
//! Run with `cargo run --example linking`.

use std::error::Error;

use dmseal::directory::{Directory, PreKeyCounts, SqliteDirectory};
use dmseal::store::{AppWrite, MemoryStore};
use dmseal::{
    Address, BundleSourceError, ConversationConfig, Conversations, DeviceStatus, LinkOffer, PreKeyBundle, SendError,
    StorageKey,
};

type Device = Conversations<MemoryStore>;

const NOW: u64 = 1_800_000_000;

/// The untrusted server: a prekey directory and per-device mailboxes.
struct Server {
    directory: Directory<SqliteDirectory>,
    mailbox: Vec<(Address, Address, Vec<u8>)>,
}

impl Server {
    /// Runs a device's prekey maintenance and takes its uploads.
    fn maintain(&self, device: &mut Device) -> Result<(), Box<dyn Error>> {
        let me = device.me().clone();
        let counts = self.directory.counts(&me).unwrap_or_else(|_| PreKeyCounts::default());
        let uploads = device.prekey_maintenance(NOW, counts)?;
        if let Some(identity) = &uploads.identity {
            self.directory.publish_identity(&me, &identity.encode())?;
        }
        if let Some(batch) = &uploads.batch {
            let held = self.directory.publish_prekeys(&me, &batch.encode())?;
            println!("  {me} uploaded {} bytes of prekeys; the directory holds {held:?}", batch.encode().len());
        }
        Ok(())
    }

    /// Sends from `device` to `user`, with bundles claimed from the directory.
    fn send(&mut self, device: &mut Device, user: &str, text: &str) -> Result<(), SendError> {
        let directory = &self.directory;
        let mut source = |need: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
            need.iter().map(|a| Ok((a.clone(), directory.claim_bundle(a)?.bundle))).collect()
        };
        let out = device.send_fetching(user, text, &mut source, NOW)?;
        for (to, bytes) in out.messages {
            println!("  {} -> {to}: {} bytes", device.me(), bytes.len());
            self.mailbox.push((device.me().clone(), to, bytes));
        }
        Ok(())
    }

    /// Delivers what waits for `device`, printing what it is told.
    fn deliver(&mut self, device: &mut Device) -> Result<(), Box<dyn Error>> {
        let me = device.me().clone();
        let (mine, rest) = std::mem::take(&mut self.mailbox).into_iter().partition(|(_, to, _)| *to == me);
        self.mailbox = rest;
        for (from, _, bytes) in mine {
            let received = device.receive(&from, &bytes, NOW)?;
            for event in received.events() {
                println!("  {me} is told: {event:?}");
            }
            println!("  {me} reads from {from}: {:?}", String::from_utf8_lossy(received.plaintext()));
            device.commit_received(received, vec![])?;
        }
        Ok(())
    }
}

fn open(user: &str, id: u32) -> Result<Device, Box<dyn Error>> {
    let me = Address::new(user, id)?;
    Ok(Conversations::open(MemoryStore::new(), StorageKey::generate(), me, ConversationConfig::new())?)
}

fn status(device: &Device, of: &Address) -> Result<Option<DeviceStatus>, Box<dyn Error>> {
    Ok(device.devices(of.user())?.into_iter().find(|d| d.address == *of).map(|d| d.status))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut server = Server { directory: Directory::new(SqliteDirectory::open_in_memory()?), mailbox: Vec::new() };
    let laptop = Address::new("alice", 2)?;

    println!("1. Devices keep their prekeys on the directory");
    let mut alice = open("alice", 1)?;
    let mut bob = open("bob", 1)?;
    server.maintain(&mut alice)?;
    server.maintain(&mut bob)?;

    println!("2. Alice and Bob talk; Bob verifies Alice");
    alice.set_devices("bob", &[1])?;
    bob.set_devices("alice", &[1])?;
    server.send(&mut alice, "bob", "hi Bob")?;
    server.deliver(&mut bob)?;
    server.send(&mut bob, "alice", "hi Alice")?;
    server.deliver(&mut alice)?;
    bob.set_verified("alice", true)?;

    println!("3. Alice links her new laptop from her phone");
    let mut alice_laptop = open("alice", 2)?;
    server.maintain(&mut alice_laptop)?;
    let qr_code = alice_laptop.link_offer(NOW).encode();
    println!("  the laptop shows a {}-byte QR code", qr_code.len());
    let history = [AppWrite::put("inbox", b"1".to_vec(), b"hi Alice (from Bob)".to_vec())];
    let handover = alice.link_device(&LinkOffer::decode(&qr_code)?, &history, NOW)?;
    println!("  the phone sends a {}-byte handover, sealed to the laptop", handover.len());
    let linked = alice_laptop.complete_link(&handover, NOW + 20)?;
    println!(
        "  the laptop took over {} users, {} history rows; linked by {}",
        linked.users, linked.history, linked.linked_by
    );
    alice.set_devices("alice", &[1, 2])?;
    alice_laptop.set_devices("alice", &[1, 2])?;

    println!("4. The laptop writes to Bob, who trusts it at once");
    server.send(&mut alice_laptop, "bob", "hello from my laptop")?;
    server.deliver(&mut bob)?;
    server.deliver(&mut alice)?;
    bob.set_devices("alice", &[1, 2])?; // Bob's server lists the laptop now
    assert_eq!(status(&bob, &laptop)?, Some(DeviceStatus::Trusted));
    server.send(&mut bob, "alice", "welcome, laptop")?;
    server.deliver(&mut alice)?;
    server.deliver(&mut alice_laptop)?;

    println!("5. Mallory's device claims to be linked by Alice's phone");
    let mut impostor_phone = open("alice", 1)?; // Alice's address, Mallory's keys
    let mut mallory = open("alice", 3)?;
    server.maintain(&mut mallory)?;
    let offer = mallory.link_offer(NOW);
    let forged = impostor_phone.link_device(&offer, &[], NOW)?;
    mallory.complete_link(&forged, NOW)?;
    mallory.set_devices("bob", &[1])?;
    mallory.set_devices("alice", &[])?;
    server.send(&mut mallory, "bob", "it's me, Alice, on a new device")?;
    server.deliver(&mut bob)?;
    let mallory_address = Address::new("alice", 3)?;
    assert_eq!(status(&bob, &mallory_address)?, Some(DeviceStatus::AwaitingApproval));
    bob.set_devices("alice", &[1, 2, 3])?;
    match server.send(&mut bob, "alice", "are you there?") {
        Err(SendError::Blocked(blocked)) => println!("  Bob's device refuses to send until he approves: {blocked:?}"),
        other => return Err(format!("expected a block, got {other:?}").into()),
    }
    println!("done");
    Ok(())
}
