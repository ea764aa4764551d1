// Conversations::receive and receive_group on arbitrary bytes, under the
// genuine sender's address or another: no panic; a failure commits
// nothing; and the genuine messages still read afterwards unless the
// input was one of them. The first byte picks the entry point.

use dmseal::store::{MemoryStore, Store};
use dmseal::{Address, ConversationConfig, Conversations};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Device = Conversations<MemoryStore>;

fn addr(user: &str) -> Address {
    Address::new(user, 1).expect("address")
}

/// Bob has read Alice's first message; Alice's second 1:1 message, her
/// group distribution and her group message are in flight.
pub(crate) fn world() -> (Device, Vec<Vec<u8>>, Vec<u8>) {
    let config = ConversationConfig::default();
    let rng = |seed| ChaCha20Rng::from_seed([seed; 32]);
    let mut alice = Conversations::open_with_rng(rng(4), MemoryStore::new(), [1; 32], addr("alice"), config)
        .expect("alice");
    let mut bob =
        Conversations::open_with_rng(rng(5), MemoryStore::new(), [2; 32], addr("bob"), config).expect("bob");
    alice.set_devices("bob", &[1]).expect("devices");
    let members = [addr("alice"), addr("bob")];
    alice.create_group(b"g", &members).expect("group");
    bob.create_group(b"g", &members).expect("group");
    let id = bob
        .update_account(|a| {
            let id = a.generate_one_time_prekeys(1).expect("otk")[0].id();
            a.mark_one_time_prekeys_published(&[id]).expect("published");
            id
        })
        .expect("account");
    let bundle = bob.account().prekey_bundle(Some(id), None).expect("bundle");
    let first = alice.send("bob", b"first", &[(addr("bob"), bundle)], 0).expect("send").messages.remove(0).1;
    let received = bob.receive(&addr("alice"), &first, 0).expect("receive");
    bob.commit_received(received, vec![]).expect("commit");
    let second = alice.send("bob", b"second", &[], 0).expect("send").messages.remove(0).1;
    let mut group = alice.send_group(b"g", b"to the group", &[], 0).expect("group send");
    let keys = group.distributions.messages.remove(0).1;
    (bob, vec![second, keys], group.message)
}

pub(crate) fn run(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let (mut bob, one_to_one, group_message) = world();
    let generation = bob.store().generation().expect("generation");
    let result = match which % 3 {
        0 => bob.receive(&addr("alice"), rest, 0),
        1 => bob.receive(&addr("mallory"), rest, 0),
        _ => bob.receive_group(b"g", &addr("alice"), rest, 0),
    };
    match result {
        Ok(received) => {
            // Only a genuine message may read, and only from Alice.
            assert_eq!(received.from(), &addr("alice"), "a message read as from someone else");
            bob.commit_received(received, vec![]).expect("commit");
        }
        Err(_) => {
            assert_eq!(bob.store().generation().expect("generation"), generation, "a failure committed");
            for m in &one_to_one {
                let r = bob.receive(&addr("alice"), m, 0).expect("a genuine message no longer reads");
                bob.commit_received(r, vec![]).expect("commit");
            }
            let r = bob.receive_group(b"g", &addr("alice"), &group_message, 0).expect("the group message no longer reads");
            bob.commit_received(r, vec![]).expect("commit");
        }
    }
}
