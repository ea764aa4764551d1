//! The KEM ratchet (docs/PROTOCOL.md §6.9): CPU per message in a
//! ping-pong with and without it, in one run, and, printed before the
//! timings, its overhead per message and the messages an epoch takes at
//! 0, 10 and 30 % loss. Run with `cargo bench --bench kem_ratchet`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{Criterion, criterion_group, criterion_main};
use dmseal::{Account, PreKeyMessage, Session};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::hint::black_box;

const CONTEXT: &[u8] = b"user:alice/device:1|user:bob/device:1";

/// An acknowledged session, with or without the KEM ratchet.
fn established(kem: bool, rng: &mut ChaCha20Rng) -> (Session, Session) {
    let account = |rng: &mut ChaCha20Rng| {
        if kem { Account::new_with_rng(rng) } else { Account::new_without_kem_ratchet_with_rng(rng) }
    };
    let mut bob = account(rng);
    let alice = account(rng);
    let bundle = bob.prekey_bundle(None, None).unwrap();
    let (mut a, first) = alice.start_session_with_rng(rng, &bundle, CONTEXT, b"hi").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let mut b = bob.accept(pending).unwrap();
    a.decrypt(&b.encrypt_with_rng(rng, b"reply").unwrap()).unwrap();
    assert_eq!(a.kem_ratchet(), kem);
    (a, b)
}

/// Sends `messages` messages, Alice `skew` for each of Bob's, each lost
/// with probability `loss`, the rest delivered in order. Returns the
/// overhead of every message and, for each epoch mixed on both sides, how
/// many messages had been sent by then.
fn converse(seed: u64, messages: usize, loss: f64, skew: u32) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (mut a, mut b) = established(true, &mut rng);
    let mut overheads = Vec::with_capacity(messages);
    let mut epochs = Vec::new();
    let plaintext = [0u8; 100];
    for sent in 1..=messages {
        let alice_sends = rng.next_u32() % (skew + 1) != 0;
        let (from, to) = if alice_sends { (&mut a, &mut b) } else { (&mut b, &mut a) };
        let m = from.encrypt_with_rng(&mut rng, &plaintext).unwrap();
        overheads.push(m.len() - plaintext.len());
        if f64::from(rng.next_u32()) / f64::from(u32::MAX) >= loss {
            to.decrypt(&m).unwrap();
        }
        let both = a.kem_epochs().min(b.kem_epochs()) as usize;
        while epochs.len() < both {
            epochs.push(sent);
        }
    }
    (overheads, epochs)
}

fn print_statistics() {
    println!("KEM ratchet statistics (100-byte plaintexts, seeded, 10 runs of 3,000 messages each):");
    println!(
        "| schedule | loss | average overhead (B) | max overhead (B) | messages to the first epoch (median) | messages per epoch after it (median) |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for (name, skew) in [("alternating", 1), ("Alice 5 : Bob 1", 5)] {
        for loss in [0.0, 0.1, 0.3] {
            let mut all = Vec::new();
            let mut firsts = Vec::new();
            let mut per_epoch = Vec::new();
            for seed in 0..10 {
                let (overheads, epochs) = converse(seed, 3000, loss, skew);
                all.extend(overheads);
                if let Some(first) = epochs.first() {
                    firsts.push(*first);
                }
                if epochs.len() >= 2 {
                    per_epoch.push((epochs[epochs.len() - 1] - epochs[0]) / (epochs.len() - 1));
                }
            }
            firsts.sort_unstable();
            per_epoch.sort_unstable();
            let average = all.iter().sum::<usize>() as f64 / all.len() as f64;
            println!(
                "| {name} | {:.0} % | {average:.1} | {} | {} | {} |",
                loss * 100.0,
                all.iter().max().unwrap(),
                firsts.get(firsts.len() / 2).map_or("—".into(), |v| v.to_string()),
                per_epoch.get(per_epoch.len() / 2).map_or("—".into(), |v| v.to_string()),
            );
        }
    }
}

fn ping_pong(c: &mut Criterion) {
    print_statistics();
    let mut g = c.benchmark_group("ping_pong 1 KiB, one round trip (two messages)");
    let plaintext = vec![0x5a; 1024];
    for (name, kem) in [("without the KEM ratchet", false), ("with the KEM ratchet", true)] {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (mut a, mut b) = established(kem, &mut rng);
        g.bench_function(name, |bench| {
            bench.iter(|| {
                let m = a.encrypt(black_box(&plaintext)).unwrap();
                b.decrypt(&m).unwrap();
                let r = b.encrypt(&plaintext).unwrap();
                a.decrypt(&r).unwrap();
            })
        });
        if kem {
            println!("epochs mixed during the run: {}", a.kem_epochs());
        }
    }
    g.finish();
}

criterion_group!(benches, ping_pong);
criterion_main!(benches);
