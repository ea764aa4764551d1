// Group decrypt, distribution and import on arbitrary bytes against a live
// group: no panic, failures change nothing, and batch decryption equals
// one-by-one decryption. The first byte picks the entry point.

use dmseal::Group;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn groups() -> (Group, Group, Vec<Vec<u8>>) {
    let mut r = ChaCha20Rng::from_seed([2; 32]);
    let mut alice = Group::new(b"fuzz-group", b"alice").expect("group");
    alice.add_member(b"bob").expect("member");
    let mut bob = Group::new(b"fuzz-group", b"bob").expect("group");
    bob.add_member(b"alice").expect("member");
    let first = alice.encrypt_with_rng(&mut r, b"m0", 0).expect("encrypt");
    bob.receive_distribution(b"alice", &first.distributions[0].bytes).expect("distribution");
    let mut sent = vec![first.message];
    for i in 1..4u8 {
        sent.push(alice.encrypt_with_rng(&mut r, &[i], 0).expect("encrypt").message);
    }
    bob.decrypt(&sent[1]).expect("decrypt");
    (alice, bob, sent)
}

pub(crate) fn run(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let (_, mut bob, sent) = groups();
    let before = bob.pickle().to_bytes();
    let failed = match which % 4 {
        0 => bob.decrypt(rest).is_err(),
        1 => bob.receive_distribution(b"alice", rest).is_err(),
        2 => bob.import_sender_state(b"alice", rest).is_err(),
        _ => {
            let batch: Vec<&[u8]> = vec![rest, sent[0].as_slice(), rest, sent[2].as_slice()];
            let mut single = Group::from_pickle(&bob.pickle()).expect("copy");
            let one_by_one: Vec<_> = batch.iter().map(|m| single.decrypt(m)).collect();
            let mut r = ChaCha20Rng::from_seed([3; 32]);
            let batched = bob.decrypt_batch_with_rng(&mut r, &batch);
            assert_eq!(one_by_one, batched, "batch and single decryption disagree");
            assert_eq!(single.pickle().to_bytes(), bob.pickle().to_bytes());
            false
        }
    };
    if failed {
        assert_eq!(bob.pickle().to_bytes(), before, "a failed group operation changed the state");
    }
}
