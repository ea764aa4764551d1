// The content layer of Conversations (padding, content types, the content
// envelope, sync transcripts, timers: PROTOCOL §13.6, §13.12, §13.13) on
// arbitrary plaintexts that a genuine session encrypts: a first message
// from another user's device or from a device of the receiver's own user,
// carrying the input as its plaintext. No panic; the message always reads
// (unusable content is Unreadable, not an error) and commits; the device
// keeps working. The first byte picks the sender (bit 0) and whether the
// input gets the padding end marker appended (bit 1), so the fuzzer
// reaches the content types without having to find the padding first.

use dmseal::store::MemoryStore;
use dmseal::{Account, Address, ConversationConfig, Conversations, Destination, ReceivedKind, conversation_context};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub(crate) fn run(data: &[u8]) {
    let Some((&which, input)) = data.split_first() else { return };
    let rng = |seed| ChaCha20Rng::from_seed([seed; 32]);
    let me = Address::new("bob", 1).expect("address");
    let from = if which & 1 == 0 { Address::new("alice", 1) } else { Address::new("bob", 2) }.expect("address");
    let config = ConversationConfig::default();
    let mut bob = Conversations::open_with_rng(rng(1), MemoryStore::new(), [2; 32], me.clone(), config).expect("bob");
    bob.set_devices(from.user(), &[from.device()]).expect("devices");
    let bundle = bob.account().prekey_bundle(None, None).expect("bundle");
    let mut plaintext = input.to_vec();
    if which & 2 != 0 {
        plaintext.push(0x80);
    }
    let sender = Account::new_with_rng(&mut rng(3));
    let context = conversation_context(&from.encode(), &me.encode());
    let (_, first) =
        sender.start_session_with_rng(&mut rng(4), &bundle, &context, &plaintext).expect("a first message");
    let received = bob.receive(&from, &first, 0).expect("a genuine first message reads, whatever it carries");
    assert_eq!(received.from(), &from);
    if received.kind() == ReceivedKind::Message {
        // An application message: sent by this device's own user only if
        // the sender is one of its devices.
        assert_eq!(received.sent_to().is_some(), from.user() == me.user() && received.content().is_some());
    }
    bob.commit_received(received, vec![]).expect("commit");
    for user in ["alice", "bob", "carol"] {
        bob.timer(&Destination::User(user.into())).expect("the device still reads its records");
    }
}
