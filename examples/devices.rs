//! People with several devices, over SQLite stores: Alice has a phone and
//! a laptop, Bob a phone. Messages fan out to every device (and to the
//! sender's own other devices); Bob reinstalls and Alice's side reports
//! his changed identity; a new device appears for Alice after Bob verified
//! her, and Bob's side refuses to send until he approves it; every
//! device's state lives in a SQLite file and survives a restart of its
//! app; the four devices form a group, whose sender keys travel over the
//! 1:1 sessions; keys for a group a device creates late wait for it; and
//! a laptop restored from an old backup says so (`restored_from_backup`),
//! heals its conversation with Bob, and asks for what it lost
//! (`request_resync`): each message it had read since the backup comes
//! back once; Bob turns on disappearing messages, every device applies
//! the timer, and the expired messages leave every database.
//! Run with `cargo run --example devices`.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use dmseal::store::{AppWrite, SqliteStore, Store};
use dmseal::{
    Address, BundleSourceError, Content, ConversationConfig, Conversations, DecryptError, Destination, Event,
    PreKeyBundle, ReceiveError, ReceivedKind, SendError, StorageKey,
};

type Device = Conversations<SqliteStore>;

const NOW: u64 = 1_800_000_000;

/// The untrusted server: a bundle directory and per-device mailboxes.
#[derive(Default)]
struct Server {
    /// Each bundle carries its own one-time prekey and is handed out once.
    bundles: BTreeMap<Address, Vec<PreKeyBundle>>,
    mailboxes: BTreeMap<Address, Vec<(Address, Vec<u8>)>>,
}

/// One app install: its device, its database file and its storage key
/// (which a real app keeps in the platform keychain).
struct App {
    device: Device,
    path: PathBuf,
    key: StorageKey,
}

impl App {
    fn install(dir: &Path, user: &str, id: u32, server: &mut Server) -> Result<Self, Box<dyn Error>> {
        let me = Address::new(user, id)?;
        let path = dir.join(format!("{user}-{id}.sqlite"));
        let _ = std::fs::remove_file(&path);
        let key = StorageKey::generate();
        let device = Conversations::open(SqliteStore::open(&path)?, key.clone(), me, ConversationConfig::default())?;
        let mut app = Self { device, path, key };
        app.publish(server)?;
        Ok(app)
    }

    /// Uploads five bundles, each with a fresh one-time prekey.
    fn publish(&mut self, server: &mut Server) -> Result<(), Box<dyn Error>> {
        let ids = self.device.update_account(|a| -> Result<Vec<u32>, dmseal::PreKeyError> {
            let ids: Vec<u32> = a.generate_one_time_prekeys(5)?.iter().map(|k| k.id()).collect();
            a.mark_one_time_prekeys_published(&ids)?;
            Ok(ids)
        })??;
        let queue = server.bundles.entry(self.device.me().clone()).or_default();
        queue.clear();
        for id in ids {
            queue.push(self.device.account().prekey_bundle(Some(id), None)?);
        }
        Ok(())
    }

    /// Closes the app and opens it again from its database file.
    fn restart(self) -> Result<Self, Box<dyn Error>> {
        let me = self.device.me().clone();
        let generation = self.device.store().generation()?;
        drop(self.device);
        let device =
            Conversations::open(SqliteStore::open(&self.path)?, self.key.clone(), me, ConversationConfig::default())?;
        assert_eq!(device.store().generation()?, generation);
        println!("  {} restarted from {} (generation {generation})", device.me(), self.path.display());
        Ok(Self { device, ..self })
    }

    /// Copies the database file aside (closed first, so the copy is
    /// whole), as a backup would.
    fn backup(self, to: &Path) -> Result<Self, Box<dyn Error>> {
        let me = self.device.me().clone();
        drop(self.device);
        std::fs::copy(&self.path, to)?;
        let device =
            Conversations::open(SqliteStore::open(&self.path)?, self.key.clone(), me, ConversationConfig::default())?;
        Ok(Self { device, ..self })
    }

    /// Puts a backup back in place of the database file, opens it and
    /// tells dmseal so: no key the device used after the backup is used
    /// again (its sessions retire, its group sender states rotate).
    fn restore(self, from: &Path) -> Result<Self, Box<dyn Error>> {
        let me = self.device.me().clone();
        drop(self.device);
        std::fs::copy(from, &self.path)?;
        let mut device =
            Conversations::open(SqliteStore::open(&self.path)?, self.key.clone(), me, ConversationConfig::default())?;
        let events = device.restored_from_backup(NOW)?;
        println!(
            "  {} restored from its backup (generation {}); {} conversation(s) to send again",
            device.me(),
            device.store().generation()?,
            events.len()
        );
        Ok(Self { device, ..self })
    }

    /// The server's bundle directory, as the `BundleSource` dmseal asks
    /// when a send needs bundles.
    fn directory<'a>(
        me: &'a Address,
        bundles: &'a mut BTreeMap<Address, Vec<PreKeyBundle>>,
    ) -> impl FnMut(&[Address]) -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> + 'a {
        move |need: &[Address]| {
            println!("  {me} fetches bundles for {need:?}");
            Ok(need.iter().filter_map(|a| Some((a.clone(), bundles.get_mut(a)?.pop()?))).collect())
        }
    }

    /// Sends to a user, fetching bundles from the server when asked.
    fn send(&mut self, user: &str, content: impl Into<Content>, server: &mut Server) -> Result<(), SendError> {
        let me = self.device.me().clone();
        let out = self.device.send_fetching(user, content, &mut Self::directory(&me, &mut server.bundles), NOW)?;
        // Every operation reports what it noticed in its result.
        for event in &out.events {
            println!("  {me} is told: {event:?}");
        }
        for (to, bytes) in out.messages {
            println!("  {} -> {to}: {} bytes", self.device.me(), bytes.len());
            server.mailboxes.entry(to).or_default().push((self.device.me().clone(), bytes));
        }
        Ok(())
    }

    /// Sends to a group: the group message is returned (one copy for
    /// everyone); sender-key distributions go to the members' mailboxes.
    fn send_group(&mut self, group: &[u8], text: &str, server: &mut Server) -> Result<Vec<u8>, SendError> {
        let me = self.device.me().clone();
        let sent = self.device.send_group_fetching(
            group,
            text.as_bytes(),
            &mut Self::directory(&me, &mut server.bundles),
            NOW,
        )?;
        for event in sent.events() {
            println!("  {me} is told: {event:?}");
        }
        println!(
            "  {} -> group: {} bytes, and {} sender-key distribution(s)",
            self.device.me(),
            sent.message.len(),
            sent.distributions.messages.len()
        );
        for (to, bytes) in sent.distributions.messages {
            server.mailboxes.entry(to).or_default().push((self.device.me().clone(), bytes));
        }
        Ok(sent.message)
    }

    /// Reads a group message (after the mailbox, which may hold its keys).
    fn read_group(
        &mut self,
        group: &[u8],
        from: &Address,
        message: &[u8],
        server: &mut Server,
    ) -> Result<(), Box<dyn Error>> {
        self.read(server)?;
        let received = self.device.receive_group(group, from, message, NOW)?;
        let text = String::from_utf8_lossy(received.plaintext()).into_owned();
        println!("  {} read in the group from {}: {text}", self.device.me(), received.from());
        self.device.commit_received(received, vec![])?;
        Ok(())
    }

    /// Reads the mailbox; each message is committed with an inbox row.
    /// Approves a device under the identity the person was shown (and
    /// compared as a safety number): if it changed since, nothing is
    /// approved.
    fn approve(&mut self, address: &Address) -> Result<(), Box<dyn Error>> {
        let shown = self
            .device
            .devices(address.user())?
            .into_iter()
            .find(|d| d.address == *address)
            .and_then(|d| d.identity)
            .ok_or("no identity to compare")?;
        self.device.approve_device(address, &shown)?;
        Ok(())
    }

    fn read(&mut self, server: &mut Server) -> Result<Vec<Event>, Box<dyn Error>> {
        let mut events = Vec::new();
        for (from, bytes) in server.mailboxes.remove(self.device.me()).unwrap_or_default() {
            let received = self.device.receive(&from, &bytes, NOW)?;
            let text = match (received.kind(), received.content(), received.sent_to()) {
                (_, Some(Content::Timer { seconds }), _) => format!("(disappearing messages: {seconds} s)"),
                (_, Some(content), Some(to)) => format!("{} (sent by me, to {to})", show(content)),
                (_, Some(content), None) => show(content),
                (kind, ..) => match kind {
                    ReceivedKind::GroupKeys => format!(
                        "(sender keys for group {:?})",
                        String::from_utf8_lossy(received.group_id().unwrap_or_default())
                    ),
                    ReceivedKind::SessionHealed => "(a new session: the old one broke)".to_owned(),
                    ReceivedKind::RetryRequested => "(asks for a message it could not read)".to_owned(),
                    ReceivedKind::Unreadable => match received.content_error() {
                        Some(ReceiveError::Decrypt(DecryptError::DuplicateOrExpired)) => {
                            "(a copy of a message read already: not shown again)".to_owned()
                        }
                        Some(e) => format!("(not shown: {e})"),
                        None => "(not shown)".to_owned(),
                    },
                    _ => String::from_utf8_lossy(received.plaintext()).into_owned(),
                },
            };
            events.extend(received.events().iter().cloned());
            // The inbox row of a message, by its id; it disappears with
            // the message when the conversation has a timer.
            let mut rows = Vec::new();
            if let Some(id) = received.message_id() {
                let row = AppWrite::put("inbox", id.to_string(), text.clone().into_bytes());
                rows.push(match received.expires_at() {
                    Some(at) => row.expires_at(at),
                    None => row,
                });
            }
            self.device.commit_received(received, rows)?;
            println!("  {} read from {from}: {text}", self.device.me());
        }
        for e in &events {
            println!("  {} is told: {e:?}", self.device.me());
        }
        Ok(events)
    }
}

/// How the example shows a message's content.
fn show(content: &Content) -> String {
    match content {
        Content::Text(text) => text.clone(),
        other => format!("{other:?}"),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("dmseal-devices-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut server = Server::default();

    println!("1. Alice has a phone and a laptop, Bob a phone");
    let mut alice_phone = App::install(&dir, "alice", 1, &mut server)?;
    let mut alice_laptop = App::install(&dir, "alice", 2, &mut server)?;
    let mut bob = App::install(&dir, "bob", 1, &mut server)?;
    for app in [&mut alice_phone, &mut alice_laptop] {
        app.device.set_devices("alice", &[1, 2])?;
        app.device.set_devices("bob", &[1])?;
    }
    bob.device.set_devices("alice", &[1, 2])?;

    println!("\n2. Alice's phone writes to Bob: Bob's phone and Alice's laptop get it");
    alice_phone.send("bob", "Hi Bob, from my phone", &mut server)?;
    bob.read(&mut server)?;
    alice_laptop.read(&mut server)?;
    bob.send("alice", "Hi Alice, on both your devices", &mut server)?;
    alice_phone.read(&mut server)?;
    alice_laptop.read(&mut server)?;

    println!("\n3. Every app restarts from its SQLite file and carries on");
    let mut alice_phone = alice_phone.restart()?;
    let mut bob = bob.restart()?;
    alice_phone.send("bob", "Still here after a restart", &mut server)?;
    bob.read(&mut server)?;

    println!("\n4. Bob reinstalls (a new identity at the same address)");
    drop(bob);
    let mut bob = App::install(&dir, "bob", 1, &mut server)?;
    bob.device.set_devices("alice", &[1, 2])?;
    bob.send("alice", "New phone, same Bob", &mut server)?;
    let events = alice_phone.read(&mut server)?;
    assert!(events.contains(&Event::IdentityChanged { address: Address::new("bob", 1)? }));
    alice_laptop.read(&mut server)?;
    match alice_phone.send("bob", "Is that really you?", &mut server) {
        Err(SendError::Blocked(blocked)) => println!("  alice.1 may not send yet: {blocked:?}"),
        other => return Err(format!("expected a block, got {other:?}").into()),
    }
    println!("  Alice compares safety numbers with Bob in person, then acknowledges");
    alice_phone.approve(&Address::new("bob", 1)?)?;
    alice_laptop.approve(&Address::new("bob", 1)?)?;
    alice_phone.send("bob", "Welcome back, Bob", &mut server)?;
    bob.read(&mut server)?;

    println!("\n5. Bob verifies Alice; then a third device appears for her");
    bob.device.set_verified("alice", true)?;
    let mut alice_tablet = App::install(&dir, "alice", 3, &mut server)?;
    alice_tablet.device.set_devices("bob", &[1])?;
    let events = bob.device.set_devices("alice", &[1, 2, 3])?;
    println!("  bob.1 is told: {events:?}");
    match bob.send("alice", "Are you all there?", &mut server) {
        Err(SendError::Blocked(blocked)) => println!("  bob.1 may not send until he approves: {blocked:?}"),
        other => return Err(format!("expected a block, got {other:?}").into()),
    }
    bob.approve(&Address::new("alice", 3)?)?;
    bob.send("alice", "Hello to all three of you", &mut server)?;
    for app in [&mut alice_phone, &mut alice_laptop, &mut alice_tablet] {
        app.read(&mut server)?;
    }

    println!("\n6. A group of all four devices: sender keys travel over the 1:1 sessions");
    let members: Vec<Address> = [("alice", 1), ("alice", 2), ("alice", 3), ("bob", 1)]
        .into_iter()
        .map(|(u, d)| Address::new(u, d))
        .collect::<Result<_, _>>()?;
    for app in [&mut alice_phone, &mut alice_laptop, &mut alice_tablet, &mut bob] {
        app.device.create_group(b"family", &members)?;
    }
    let (bob_device, laptop) = (bob.device.me().clone(), alice_laptop.device.me().clone());
    let message = bob.send_group(b"family", "Dinner at eight?", &mut server)?;
    let mut bob = bob.restart()?;
    for app in [&mut alice_phone, &mut alice_laptop, &mut alice_tablet] {
        app.read_group(b"family", &bob_device, &message, &mut server)?;
    }
    let reply = alice_laptop.send_group(b"family", "Yes!", &mut server)?;
    for app in [&mut bob, &mut alice_phone, &mut alice_tablet] {
        app.read_group(b"family", &laptop, &reply, &mut server)?;
    }

    println!("\n7. Bob starts a second group before Alice's phone has it: the keys wait");
    bob.device.create_group(b"trip", &members)?;
    let plan = bob.send_group(b"trip", "Lisbon in May?", &mut server)?;
    alice_phone.read(&mut server)?;
    alice_phone.device.create_group(b"trip", &members)?;
    alice_phone.read_group(b"trip", &bob_device, &plan, &mut server)?;

    println!("\n8. Alice's laptop is restored from an old backup: it heals, and asks for what it lost");
    let backup = dir.join("alice-2.backup");
    let mut alice_laptop = alice_laptop.backup(&backup)?;
    for round in 1..=2 {
        bob.send("alice", format!("Message {round} after the backup"), &mut server)?;
        alice_laptop.read(&mut server)?;
        alice_laptop.send("bob", format!("Reply {round}"), &mut server)?;
        bob.read(&mut server)?;
    }
    let mut alice_laptop = alice_laptop.restore(&backup)?;
    bob.send("alice", "Can you read this?", &mut server)?;
    let laptop = alice_laptop.device.me().clone();
    for (from, bytes) in server.mailboxes.remove(&laptop).unwrap_or_default() {
        match alice_laptop.device.receive(&from, &bytes, NOW) {
            Err(e) if e.suggests_healing() => {
                println!("  {laptop} cannot read {from} ({e}): it heals the conversation, then asks again");
                let me = laptop.clone();
                let mut directory = App::directory(&me, &mut server.bundles);
                let heal = alice_laptop.device.heal(&from, &mut directory, NOW)?;
                let receipt = alice_laptop.device.send_retry_receipt(&from, &bytes, &mut directory, NOW)?;
                for (to, bytes) in heal.messages.into_iter().chain(receipt.messages) {
                    server.mailboxes.entry(to).or_default().push((laptop.clone(), bytes));
                }
            }
            other => return Err(format!("expected a failure, got {other:?}").into()),
        }
    }
    // And asks Bob's device for everything it keeps for the laptop: what
    // the laptop read after the backup comes back, once.
    let me = laptop.clone();
    let resync = alice_laptop.device.request_resync(&bob_device, &mut App::directory(&me, &mut server.bundles), NOW)?;
    for (to, bytes) in resync.messages {
        server.mailboxes.entry(to).or_default().push((laptop.clone(), bytes));
    }
    let events = bob.read(&mut server)?;
    assert!(events.contains(&Event::SessionHealed { address: laptop.clone() }));
    // Bob's device sends again what the laptop asked for.
    let me = bob.device.me().clone();
    let again = bob.device.resend(&laptop, &mut App::directory(&me, &mut server.bundles), NOW)?;
    println!("  {me} sends {} message(s) again to {laptop}", again.messages.len());
    for (to, bytes) in again.messages {
        server.mailboxes.entry(to).or_default().push((me.clone(), bytes));
    }
    alice_laptop.read(&mut server)?;
    bob.send("alice", "Healed: can you read this one?", &mut server)?;
    alice_laptop.read(&mut server)?;
    for app in [&mut alice_phone, &mut alice_tablet] {
        app.read(&mut server)?;
    }

    println!("\n9. Bob turns on disappearing messages: every device applies the timer");
    bob.send("alice", Content::Timer { seconds: 3600 }, &mut server)?;
    bob.send("alice", "This one disappears in an hour", &mut server)?;
    for app in [&mut alice_phone, &mut alice_laptop, &mut alice_tablet] {
        app.read(&mut server)?;
        let timer = app.device.timer(&Destination::User("bob".into()))?;
        assert_eq!(timer, 3600);
    }
    // An hour later each app purges: the rows are gone from its database
    // file (SQLite's secure_delete and a truncated write-ahead log).
    for app in [&mut alice_phone, &mut alice_laptop, &mut alice_tablet] {
        let gone = app.device.purge_expired(NOW + 3600)?;
        println!("  {} deleted {} expired message(s)", app.device.me(), gone.len());
        assert_eq!(gone.len(), 2, "the timer change and the message");
    }

    drop((alice_phone, alice_laptop, alice_tablet, bob));
    std::fs::remove_dir_all(&dir)?;
    println!("\nDone; the databases in {} were removed.", dir.display());
    Ok(())
}
