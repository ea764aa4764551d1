//! A group chat: Alice, Bob and Carol talk; Carol is removed and can
//! neither read what follows nor post; Dave joins and cannot read what
//! came before; messages arrive out of order. Sender-key distributions
//! travel over the members' 1:1 sessions. Run with
//! `cargo run --example group`.

use std::collections::BTreeMap;
use std::error::Error;

use dmseal::{Account, Group, GroupOutgoing, PreKeyMessage, Session, conversation_context};

const GROUP_ID: &[u8] = b"group:weekend-trip";
const NOW: u64 = 1_800_000_000;

struct Person {
    name: &'static str,
    account: Account,
    sessions: BTreeMap<&'static str, Session>,
    group: Group,
}

impl Person {
    fn new(name: &'static str) -> Result<Self, Box<dyn Error>> {
        Ok(Self {
            name,
            account: Account::new(),
            sessions: BTreeMap::new(),
            group: Group::new(GROUP_ID, name.as_bytes())?,
        })
    }
}

/// Sets up a 1:1 session between two people (PQXDH through a bundle).
fn connect(a: &mut Person, b: &mut Person) -> Result<(), Box<dyn Error>> {
    let context = conversation_context(a.name.as_bytes(), b.name.as_bytes());
    let bundle = b.account.prekey_bundle(None, None)?;
    let (session_a, first) = a.account.start_session(&bundle, &context, b"hi")?;
    let pending = b.account.open_first_message(&PreKeyMessage::decode(&first)?, &context, NOW)?;
    let mut session_b = b.account.accept(pending)?;
    let mut session_a = session_a;
    session_a.decrypt(&session_b.encrypt(b"hi back")?)?;
    a.sessions.insert(b.name, session_a);
    b.sessions.insert(a.name, session_b);
    Ok(())
}

/// Carries each distribution over the 1:1 session from `sender` to its
/// recipient, who hands it to its group with the authenticated sender.
fn distribute(sender: &mut Person, out: &GroupOutgoing, people: &mut [&mut Person]) -> Result<(), Box<dyn Error>> {
    for d in &out.distributions {
        let to = people.iter_mut().find(|p| p.name.as_bytes() == d.to.as_slice()).ok_or("unknown member")?;
        let wire = sender.sessions.get_mut(to.name).ok_or("no session")?.encrypt(&d.bytes)?;
        let plain = to.sessions.get_mut(sender.name).ok_or("no session")?.decrypt(&wire)?;
        to.group.receive_distribution(sender.name.as_bytes(), &plain)?;
        println!("  {} -> {}: distribution over their 1:1 session ({} bytes)", sender.name, to.name, wire.len());
    }
    Ok(())
}

fn show(reader: &mut Person, message: &[u8]) {
    match reader.group.decrypt(message) {
        Ok(p) => println!(
            "  {} read from {}: {:?}",
            reader.name,
            String::from_utf8_lossy(&p.sender),
            String::from_utf8_lossy(&p.plaintext)
        ),
        Err(e) => println!("  {} cannot read it: {e}", reader.name),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let (mut alice, mut bob, mut carol, mut dave) =
        (Person::new("alice")?, Person::new("bob")?, Person::new("carol")?, Person::new("dave")?);
    connect(&mut alice, &mut bob)?;
    connect(&mut alice, &mut carol)?;
    connect(&mut bob, &mut carol)?;
    connect(&mut alice, &mut dave)?;
    connect(&mut bob, &mut dave)?;
    for (p, others) in [(&mut alice, ["bob", "carol"]), (&mut bob, ["alice", "carol"]), (&mut carol, ["alice", "bob"])]
    {
        for o in others {
            p.group.add_member(o.as_bytes())?;
        }
    }

    println!("1. Alice writes twice; Bob gets them out of order");
    let first = alice.group.encrypt(b"Who's in for Saturday?", NOW)?;
    distribute(&mut alice, &first, &mut [&mut bob, &mut carol])?;
    let second = alice.group.encrypt(b"I can drive.", NOW)?;
    show(&mut bob, &second.message);
    show(&mut bob, &first.message);
    show(&mut carol, &first.message);
    show(&mut carol, &second.message);

    println!("2. Carol answers");
    let reply = carol.group.encrypt(b"Me! Can I bring snacks?", NOW)?;
    distribute(&mut carol, &reply, &mut [&mut alice, &mut bob])?;
    show(&mut alice, &reply.message);
    show(&mut bob, &reply.message);

    println!("3. Carol is removed; Alice's next message rotates her sender key");
    alice.group.remove_member(b"carol");
    bob.group.remove_member(b"carol");
    let secret = alice.group.encrypt(b"Surprise party for Carol, keep it quiet!", NOW)?;
    distribute(&mut alice, &secret, &mut [&mut bob, &mut carol])?;
    show(&mut bob, &secret.message);
    show(&mut carol, &secret.message);
    let sneaky = carol.group.encrypt(b"What are you planning?", NOW)?;
    show(&mut alice, &sneaky.message);

    println!("4. Dave joins; he reads from now on, not before");
    alice.group.add_member(b"dave")?;
    bob.group.add_member(b"dave")?;
    for o in ["alice", "bob"] {
        dave.group.add_member(o.as_bytes())?;
    }
    let welcome = alice.group.encrypt(b"Welcome, Dave!", NOW)?;
    distribute(&mut alice, &welcome, &mut [&mut bob, &mut dave])?;
    show(&mut dave, &welcome.message);
    show(&mut dave, &secret.message);

    println!("5. A replay is refused");
    show(&mut bob, &welcome.message);
    show(&mut bob, &welcome.message);
    Ok(())
}
