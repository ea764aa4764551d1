//! Alice and Bob exchange end-to-end encrypted messages through a server
//! that only stores and forwards bytes. The server sees sizes, never
//! plaintext. Run with `cargo run --example dm`.

use std::collections::{HashMap, VecDeque};
use std::error::Error;

use dmseal::{Account, Envelope, PreKeyBundle, SafetyNumber, Session, SessionPickle, conversation_context};

/// The untrusted server: a bundle directory and mailboxes of opaque bytes.
#[derive(Default)]
struct Server {
    bundles: HashMap<&'static str, VecDeque<Vec<u8>>>,
    mailboxes: HashMap<&'static str, VecDeque<Vec<u8>>>,
}

impl Server {
    fn publish(&mut self, user: &'static str, bundle: Vec<u8>) {
        println!("  server: stored a {}-byte bundle for {user}", bundle.len());
        self.bundles.entry(user).or_default().push_back(bundle);
    }

    fn fetch_bundle(&mut self, user: &'static str) -> Option<Vec<u8>> {
        self.bundles.get_mut(user)?.pop_front()
    }

    fn send(&mut self, from: &str, to: &'static str, bytes: Vec<u8>) {
        println!("  server: {from} -> {to}, {} bytes", bytes.len());
        self.mailboxes.entry(to).or_default().push_back(bytes);
    }

    fn take(&mut self, user: &'static str) -> Vec<Vec<u8>> {
        self.mailboxes.get_mut(user).map(|m| m.drain(..).collect()).unwrap_or_default()
    }
}

/// One device: an account and its session with one peer.
struct Device {
    name: &'static str,
    account: Account,
    session: Option<Session>,
}

/// Both sides bind the conversation to the same bytes: the two addresses,
/// initiator first (see `dmseal::conversation_context`).
fn context() -> Vec<u8> {
    conversation_context(b"user:alice/device:1", b"user:bob/device:1")
}

/// The app's clock, passed in: dmseal never reads one.
const NOW: u64 = 1_800_000_000;

impl Device {
    fn new(name: &'static str) -> Self {
        Self { name, account: Account::new(), session: None }
    }

    /// Routes incoming bytes: a message for the existing session goes to
    /// it; a first message that matches no session goes to the account.
    fn receive(&mut self, bytes: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
        let envelope = Envelope::decode(bytes)?;
        if let Envelope::PreKey(first) = &envelope {
            let known = self.session.as_ref().is_some_and(|s| s.matches(first));
            if !known {
                let pending = self.account.open_first_message(first, &context(), NOW)?;
                // A real app would show a message request here and let the
                // user accept or decline; the identity is authenticated now.
                let plaintext = pending.plaintext().to_vec();
                let session = self.account.accept(pending)?;
                // "Authenticated", not "verified": verified means the people
                // compared safety numbers, which nobody has done yet.
                println!("  {}: new {:?} session with an authenticated identity", self.name, session.setup());
                self.session = Some(session);
                return Ok(plaintext);
            }
        }
        let session = self.session.as_mut().ok_or("no session")?;
        Ok(session.decrypt_envelope(&envelope)?)
    }

    fn send(&mut self, server: &mut Server, to: &'static str, text: &str) -> Result<(), Box<dyn Error>> {
        let session = self.session.as_mut().ok_or("no session")?;
        let bytes = session.encrypt(text.as_bytes())?;
        // Persist the advanced session here, before the bytes leave.
        server.send(self.name, to, bytes);
        Ok(())
    }

    fn read_all(&mut self, server: &mut Server) -> Result<(), Box<dyn Error>> {
        for bytes in server.take(self.name) {
            let text = self.receive(&bytes)?;
            println!("  {} read: {:?}", self.name, String::from_utf8_lossy(&text));
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut server = Server::default();
    let mut alice = Device::new("alice");
    let mut bob = Device::new("bob");

    println!("1. Bob publishes prekeys");
    // One-time X25519 and post-quantum (ML-KEM-768) prekeys; a real server
    // would also hold the last-resort PQ prekey for when these run out.
    let keys = bob.account.generate_one_time_prekeys(3)?;
    let pq_keys = bob.account.generate_pq_one_time_prekeys(3)?;
    for (key, pq_key) in keys.iter().zip(&pq_keys) {
        server.publish("bob", bob.account.prekey_bundle(Some(key.id()), Some(pq_key.id()))?.encode());
    }
    bob.account.mark_one_time_prekeys_published(&keys.iter().map(|k| k.id()).collect::<Vec<_>>())?;
    bob.account.mark_pq_one_time_prekeys_published(&pq_keys.iter().map(|k| k.id()).collect::<Vec<_>>())?;

    println!("2. Alice starts a session while Bob is offline");
    let bundle = PreKeyBundle::decode(&server.fetch_bundle("bob").ok_or("no bundle")?)?;
    let (session, first) = alice.account.start_session(&bundle, &context(), b"Hi Bob, it's Alice.")?;
    alice.session = Some(session);
    server.send("alice", "bob", first);
    alice.send(&mut server, "bob", "Are you around later?")?;

    println!("3. Bob comes online and reads");
    bob.read_all(&mut server)?;

    println!("4. Bob replies three times; the server delays the second");
    bob.send(&mut server, "alice", "Yes!")?;
    bob.send(&mut server, "alice", "I'll be around after six.")?;
    bob.send(&mut server, "alice", "Let's talk then.")?;
    let mut inbox = server.take("alice");
    let late = inbox.remove(1);
    for bytes in inbox.iter().chain(std::iter::once(&late)) {
        let text = alice.receive(bytes)?;
        println!("  alice read: {:?}", String::from_utf8_lossy(&text));
    }

    println!("5. Bob persists his session encrypted, and restores it");
    let storage_key = [42u8; 32]; // from the platform keystore in a real app
    let stored = bob.session.as_ref().ok_or("no session")?.pickle().encrypt(&storage_key);
    println!("  bob: encrypted session pickle, {} bytes", stored.len());
    bob.session = Some(Session::from_pickle(&SessionPickle::from_encrypted(&stored, &storage_key)?)?);

    println!("6. Alice answers under a new ratchet key");
    alice.send(&mut server, "bob", "Perfect, see you at six.")?;
    bob.read_all(&mut server)?;

    println!("7. A replay by the server is refused");
    let replay = bob.session.as_mut().ok_or("no session")?.encrypt(b"One more thing.")?;
    alice.receive(&replay)?;
    match alice.receive(&replay) {
        Err(e) => println!("  alice refused the replayed copy: {e}"),
        Ok(_) => return Err("a replay decrypted".into()),
    }

    println!("8. Safety numbers (compare them in person or scan the QR code)");
    let on_alice = SafetyNumber::new(alice.account.identity(), bundle.identity());
    let peer_of_bob = bob.session.as_ref().ok_or("no session")?.peer_identity();
    let on_bob = SafetyNumber::new(bob.account.identity(), peer_of_bob);
    println!("  alice sees: {on_alice}");
    println!("  bob sees:   {on_bob}");
    println!("  scanned codes match: {}", on_bob.matches_scanned(&on_alice.scannable()));
    Ok(())
}
