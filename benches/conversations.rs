//! Criterion benchmarks of the conversation layer's send path over a
//! memory store: what keeping sent messages for re-sends costs (the
//! outbox, docs/PROTOCOL.md §13.9) against a device that keeps none.
//! Run with `cargo bench --bench conversations`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{Criterion, criterion_group, criterion_main};
use dmseal::store::MemoryStore;
use dmseal::{Address, ConversationConfig, Conversations};
use std::hint::black_box;

const NOW: u64 = 1_800_000_000;
const FILL: usize = 1024;

/// Alice with a session to Bob, and her outbox for him full of 1 KiB
/// messages (when she keeps one).
fn alice(config: ConversationConfig) -> Conversations<MemoryStore> {
    let (a, b) = (Address::new("alice", 1).unwrap(), Address::new("bob", 1).unwrap());
    let mut alice = Conversations::open(MemoryStore::new(), [1; 32], a.clone(), config).unwrap();
    let mut bob = Conversations::open(MemoryStore::new(), [2; 32], b.clone(), ConversationConfig::new()).unwrap();
    alice.set_devices("bob", &[1]).unwrap();
    let bundle = bob.account().prekey_bundle(None, None).unwrap();
    let first = alice.send("bob", b"hi", &[(b.clone(), bundle)], NOW).unwrap();
    let r = bob.receive(&a, &first.messages[0].1, NOW).unwrap();
    bob.commit_received(r, vec![]).unwrap();
    bob.set_devices("alice", &[1]).unwrap();
    let reply = bob.send("alice", b"hello", &[], NOW).unwrap();
    let r = alice.receive(&b, &reply.messages[0].1, NOW).unwrap();
    alice.commit_received(r, vec![]).unwrap();
    for _ in 0..dmseal::limits::MAX_RESEND_MESSAGES_PER_DEVICE {
        let _ = alice.send("bob", &[7; FILL], &[], NOW).unwrap();
    }
    alice
}

fn send(c: &mut Criterion) {
    let mut g = c.benchmark_group("conversations send 1 KiB to one device");
    for (name, config) in [
        ("keeping none (resend_max_age 0)", ConversationConfig::new().with_resend_max_age(0)),
        ("keeping 32 sent messages (default)", ConversationConfig::new()),
    ] {
        let mut a = alice(config);
        let plaintext = [7u8; 1024];
        g.bench_function(name, |bench| bench.iter(|| a.send("bob", black_box(&plaintext), &[], NOW).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, send);
criterion_main!(benches);
