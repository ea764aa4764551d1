//! Criterion benchmarks of the 1:1 path, each beside the primitive floor it
//! cannot avoid. Run with `cargo bench --bench session`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dmseal::{Account, PreKeyMessage, Session, SessionPickle};
use rand_core::SeedableRng;
use std::hint::black_box;

const CONTEXT: &[u8] = b"user:alice/device:1|user:bob/device:1";

fn established() -> (Session, Session) {
    let mut bob = Account::new();
    let otk = bob.generate_one_time_prekeys(1).unwrap()[0];
    let bundle = bob.prekey_bundle(Some(otk.id()), None).unwrap();
    let alice = Account::new();
    let (mut a, first) = alice.start_session(&bundle, CONTEXT, b"hi").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), CONTEXT, 0).unwrap();
    let mut b = bob.accept(pending).unwrap();
    a.decrypt(&b.encrypt(b"reply").unwrap()).unwrap();
    // Open Alice's sending chain so the same-chain numbers exclude a DH step.
    b.decrypt(&a.encrypt(b"warm").unwrap()).unwrap();
    (a, b)
}

fn setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("setup");
    let pq_bob = Account::new();
    let pq_bundle = pq_bob.prekey_bundle(None, None).unwrap();
    // A peer without PQ support publishes classic bundles.
    let classic_bob = Account::new_classic_only_with_rng(&mut rand_chacha::ChaCha20Rng::from_seed([7u8; 32]));
    let classic_bundle = classic_bob.prekey_bundle(None, None).unwrap();
    let mut alice = Account::new();
    alice.set_classic_x3dh(dmseal::ClassicX3dh::AcceptAndInitiate);
    for (name, bundle, bob) in [("PQXDH", &pq_bundle, &pq_bob), ("classic X3DH", &classic_bundle, &classic_bob)] {
        g.bench_function(format!("start_session {name} (no one-time prekey)"), |b| {
            b.iter(|| alice.start_session(black_box(bundle), CONTEXT, b"hi").unwrap())
        });
        let (_, first) = alice.start_session(bundle, CONTEXT, b"hi").unwrap();
        g.bench_function(format!("decode + open_first_message {name}"), |b| {
            b.iter(|| {
                let m = PreKeyMessage::decode(black_box(&first)).unwrap();
                bob.open_first_message(&m, CONTEXT, 0).unwrap()
            })
        });
    }
    g.finish();
}

fn same_chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("same_chain");
    for size in [64usize, 1024, 16 * 1024] {
        let plaintext = vec![0x5a; size];
        g.throughput(Throughput::Bytes(size as u64));
        let (mut a, _) = established();
        g.bench_function(format!("encrypt {size} B"), |b| b.iter(|| a.encrypt(black_box(&plaintext)).unwrap()));
        g.bench_function(format!("decrypt {size} B"), |b| {
            b.iter_batched(
                || {
                    let (mut a, b) = established();
                    let m = a.encrypt(&plaintext).unwrap();
                    (b, m)
                },
                |(mut b, m)| b.decrypt(&m).unwrap(),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Decrypting a message that arrives after `ahead - 1` lost or delayed
/// ones: the chain steps past them and stores their keys.
fn ahead(c: &mut Criterion) {
    let mut g = c.benchmark_group("same_chain");
    let plaintext = vec![0x5a; 1024];
    for ahead in [100usize, 2_000] {
        g.bench_function(format!("decrypt 1 KiB {ahead} steps ahead"), |b| {
            b.iter_batched(
                || {
                    let (mut a, b) = established();
                    let mut last = Vec::new();
                    for _ in 0..ahead {
                        last = a.encrypt(&plaintext).unwrap();
                    }
                    (b, last)
                },
                |(mut b, m)| b.decrypt(&m).unwrap(),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Pickling and restoring an idle session, and one holding 100 skipped
/// message keys, in the plain and the encrypted form.
fn pickles(c: &mut Criterion) {
    let mut g = c.benchmark_group("pickle");
    let key = [7u8; 32];
    let (_, idle) = established();
    let (mut a, mut pending) = established();
    let mut last = Vec::new();
    for _ in 0..101 {
        last = a.encrypt(b"x").unwrap();
    }
    pending.decrypt(&last).unwrap();
    assert_eq!(pending.skipped_message_keys(), 100);
    for (name, session) in [("idle session", &idle), ("session with 100 skipped keys", &pending)] {
        let plain = session.pickle().to_bytes();
        let encrypted = session.pickle().encrypt(&key);
        g.bench_function(format!("{name}: pickle plain ({} B)", plain.len()), |b| {
            b.iter(|| black_box(session).pickle().to_bytes())
        });
        g.bench_function(format!("{name}: restore plain"), |b| {
            b.iter(|| Session::from_pickle(&SessionPickle::from_bytes(black_box(&plain)).unwrap()).unwrap())
        });
        g.bench_function(format!("{name}: pickle encrypted ({} B)", encrypted.len()), |b| {
            b.iter(|| black_box(session).pickle().encrypt(&key))
        });
        g.bench_function(format!("{name}: restore encrypted"), |b| {
            b.iter(|| {
                Session::from_pickle(&SessionPickle::from_encrypted(black_box(&encrypted), &key).unwrap()).unwrap()
            })
        });
    }
    g.finish();
}

fn ping_pong(c: &mut Criterion) {
    let (mut a, mut b) = established();
    let plaintext = vec![0x5a; 1024];
    c.bench_function("ping_pong 1 KiB (DH ratchet step each way)", |bench| {
        bench.iter(|| {
            let m = a.encrypt(&plaintext).unwrap();
            b.decrypt(&m).unwrap();
            let r = b.encrypt(&plaintext).unwrap();
            a.decrypt(&r).unwrap();
        })
    });
}

/// The primitive work each operation cannot avoid, measured with the same
/// crates in the same run.
fn floor(c: &mut Criterion) {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use hmac::Mac;
    let mut g = c.benchmark_group("floor");
    let secret = x25519_dalek::StaticSecret::from([7u8; 32]);
    let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([9u8; 32]));
    g.bench_function("x25519 DH", |b| b.iter(|| secret.diffie_hellman(black_box(&public))));
    g.bench_function("x25519 keygen", |b| {
        b.iter(|| x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(black_box([3u8; 32]))))
    });
    let key = [1u8; 32];
    g.bench_function("hmac-sha256 chain step (2 HMACs)", |b| {
        b.iter(|| {
            let mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(black_box(&key)).unwrap();
            let mut m1 = mac.clone();
            m1.update(b"dmseal:v1:chain:message");
            let mut m2 = mac;
            m2.update(b"dmseal:v1:chain:next");
            (m1.finalize(), m2.finalize())
        })
    });
    g.bench_function("hkdf-sha256 root step (64 B out)", |b| {
        b.iter(|| {
            let mut okm = [0u8; 64];
            hkdf::Hkdf::<sha2::Sha256>::new(Some(black_box(&key)), &[2u8; 32])
                .expand(b"dmseal:v1:kdf:root", &mut okm)
                .unwrap();
            okm
        })
    });
    g.bench_function("hkdf-expand message keys (44 B out)", |b| {
        b.iter(|| {
            let mut okm = [0u8; 44];
            hkdf::Hkdf::<sha2::Sha256>::from_prk(black_box(&key)).unwrap().expand(b"label", &mut okm).unwrap();
            okm
        })
    });
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
    for size in [64usize, 1024, 16 * 1024] {
        let pt = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("chacha20poly1305 seal {size} B"), |b| {
            b.iter(|| cipher.encrypt(&[0u8; 12].into(), Payload { msg: black_box(&pt), aad: &[0u8; 68] }).unwrap())
        });
    }
    g.throughput(Throughput::Elements(1));
    let sk = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let msg = [0u8; 100];
    let sig = ed25519_dalek::Signer::sign(&sk, &msg).to_bytes();
    let vk = sk.verifying_key().to_bytes();
    {
        use ml_kem::kem::{Decapsulate, Encapsulate};
        let dk = ml_kem::DecapsulationKey768::from_seed([4u8; 64].into());
        let ek = dk.encapsulation_key().clone();
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([6u8; 32]);
        g.bench_function("ml-kem-768 keygen (from seed)", |b| {
            b.iter(|| ml_kem::DecapsulationKey768::from_seed(black_box([4u8; 64]).into()))
        });
        g.bench_function("ml-kem-768 encapsulate", |b| b.iter(|| ek.encapsulate_with_rng(&mut rng)));
        let (ct, _) = ek.encapsulate_with_rng(&mut rng);
        g.bench_function("ml-kem-768 decapsulate", |b| b.iter(|| dk.decapsulate(black_box(&ct))));
    }
    g.bench_function("ed25519 sign", |b| b.iter(|| ed25519_dalek::Signer::sign(&sk, black_box(&msg))));
    g.bench_function("ed25519 verify (zebra, ZIP-215)", |b| {
        b.iter(|| {
            let vk = ed25519_zebra::VerificationKey::try_from(black_box(vk)).unwrap();
            vk.verify(&ed25519_zebra::Signature::from_bytes(&sig), &msg).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, setup, same_chain, ahead, ping_pong, pickles, conversation, padding, floor);
criterion_main!(benches);

/// Alice and Bob (device 1 each, listing each other) with an acknowledged
/// session, so their messages are normal messages both ways, as in a
/// running conversation. Each bench gets its own pair: a bench that only
/// sends moves Alice's chain further than Bob may jump.
fn conversation_pair<S: dmseal::store::Store>(
    open: impl Fn(&str) -> dmseal::Conversations<S>,
) -> (dmseal::Conversations<S>, dmseal::Conversations<S>) {
    let (mut alice, mut bob) = (open("alice"), open("bob"));
    alice.set_devices("bob", &[1]).unwrap();
    bob.set_devices("alice", &[1]).unwrap();
    let id = bob
        .update_account(|a| {
            let id = a.generate_one_time_prekeys(1).unwrap()[0].id();
            a.mark_one_time_prekeys_published(&[id]).unwrap();
            id
        })
        .unwrap();
    let bundle = bob.account().prekey_bundle(Some(id), None).unwrap();
    let first = alice.send("bob", b"hi", &[(bob.me().clone(), bundle)], 0).unwrap().messages.remove(0).1;
    let r = bob.receive(alice.me(), &first, 0).unwrap();
    bob.commit_received(r, vec![]).unwrap();
    let reply = bob.send("alice", b"hello", &[], 0).unwrap().messages.remove(0).1;
    let r = alice.receive(bob.me(), &reply, 0).unwrap();
    alice.commit_received(r, vec![]).unwrap();
    (alice, bob)
}

/// Alice in a group with seven other devices, after her first group
/// message (its distributions went out): later sends carry none.
fn group_sender(config: dmseal::ConversationConfig) -> dmseal::Conversations<dmseal::store::MemoryStore> {
    use dmseal::store::MemoryStore;
    use dmseal::{Address, Conversations};
    let open = |user: &str, config| {
        Conversations::open(MemoryStore::new(), [7; 32], Address::new(user, 1).unwrap(), config).unwrap()
    };
    let mut alice = open("alice", config);
    let mut members: Vec<Conversations<MemoryStore>> =
        (0..7).map(|i| open(&format!("member{i}"), dmseal::ConversationConfig::default())).collect();
    let addresses: Vec<Address> = members.iter().map(|m| m.me().clone()).collect();
    for a in &addresses {
        alice.set_devices(a.user(), &[1]).unwrap();
    }
    alice.create_group(b"bench", &addresses).unwrap();
    let bundles: Vec<_> =
        members.iter_mut().map(|m| (m.me().clone(), m.account().prekey_bundle(None, None).unwrap())).collect();
    let _ = alice.send_group(b"bench", b"first", &bundles, 0).unwrap();
    alice
}

/// The conversation layer over the in-memory store: what sending and
/// receiving one message costs on top of the session itself (sealing and
/// opening the records, the commit).
fn conversation(c: &mut Criterion) {
    use dmseal::store::MemoryStore;
    use dmseal::{Address, ConversationConfig, Conversations};
    let memory = |user: &str| {
        let address = Address::new(user, 1).unwrap();
        Conversations::open(MemoryStore::new(), [7; 32], address, ConversationConfig::default()).unwrap()
    };
    let pair = || conversation_pair(memory);
    let plaintext = vec![0x5a; 1024];
    let mut g = c.benchmark_group("conversation");
    let (mut alice, _) = pair();
    // Keeps every message sent for re-sends (docs/PROTOCOL.md §13.9): the
    // outbox is full after the warm-up.
    g.bench_function("send 1 KiB (memory store)", |b| b.iter(|| alice.send("bob", &plaintext, &[], 0).unwrap()));
    let keeping_none = |user: &str| {
        let address = Address::new(user, 1).unwrap();
        let config = ConversationConfig::new().with_resend_max_age(0);
        Conversations::open(MemoryStore::new(), [7; 32], address, config).unwrap()
    };
    let (mut alice, _) = conversation_pair(keeping_none);
    g.bench_function("send 1 KiB keeping no sent messages (memory store)", |b| {
        b.iter(|| alice.send("bob", &plaintext, &[], 0).unwrap())
    });
    // A group send with and without the group outbox (§13.10): the
    // message is kept in a sealed row, the group's annex rewritten.
    for (name, max_age) in [("keeping sent messages", dmseal::limits::DEFAULT_RESEND_MAX_AGE), ("keeping none", 0)] {
        let mut alice = group_sender(ConversationConfig::new().with_resend_max_age(max_age));
        g.bench_function(format!("send_group 1 KiB to 7 devices, {name} (memory store)"), |b| {
            b.iter(|| alice.send_group(b"bench", &plaintext, &[], 0).unwrap())
        });
    }
    let (mut alice, mut bob) = pair();
    let a_addr = alice.me().clone();
    g.bench_function("send 1 KiB + receive + commit (memory store)", |b| {
        b.iter(|| {
            let m = alice.send("bob", &plaintext, &[], 0).unwrap().messages.remove(0).1;
            let r = bob.receive(&a_addr, &m, 0).unwrap();
            bob.commit_received(r, vec![]).unwrap()
        })
    });

    #[cfg(feature = "sqlite")]
    {
        // The same over SQLite files (WAL, synchronous=FULL): one fsync per
        // commit, which dominates on real storage.
        let dir = std::env::temp_dir().join(format!("dmseal-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let open_sqlite = |user: &str| {
            let store = dmseal::store::SqliteStore::open(dir.join(format!("{user}.sqlite"))).unwrap();
            Conversations::open(store, [7; 32], Address::new(user, 1).unwrap(), ConversationConfig::default()).unwrap()
        };
        // Each pair of files is used once.
        let (mut alice, mut bob) = conversation_pair(open_sqlite);
        g.bench_function("send 1 KiB + receive + commit (SQLite files, fsync per commit)", |b| {
            b.iter(|| {
                let m = alice.send("bob", &plaintext, &[], 0).unwrap().messages.remove(0).1;
                let r = bob.receive(&a_addr, &m, 0).unwrap();
                bob.commit_received(r, vec![]).unwrap()
            })
        });
        // A device that wakes with 64 queued messages: one commit (and
        // fsync) each, or one batch.
        for batched in [false, true] {
            let name = if batched { "one batch" } else { "one commit each" };
            g.bench_function(format!("receive 64 queued 1 KiB (SQLite), {name}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        let queued: Vec<Vec<u8>> = (0..64)
                            .map(|_| alice.send("bob", &plaintext, &[], 0).unwrap().messages.remove(0).1)
                            .collect();
                        let start = std::time::Instant::now();
                        if batched {
                            let incoming: Vec<dmseal::Incoming<'_>> =
                                queued.iter().map(|bytes| dmseal::Incoming::Direct { from: &a_addr, bytes }).collect();
                            let batch = bob.receive_batch(&incoming, 0).unwrap();
                            bob.commit_batch(batch, vec![]).unwrap();
                        } else {
                            for m in &queued {
                                let r = bob.receive(&a_addr, m, 0).unwrap();
                                bob.commit_received(r, vec![]).unwrap();
                            }
                        }
                        total += start.elapsed();
                    }
                    total
                })
            });
        }
        drop((alice, bob));
        let _ = std::fs::remove_dir_all(&dir);
    }
    g.finish();
}

/// What padding costs a send (docs/PROTOCOL.md §13.13): one
/// `Conversations::send` of typical sizes with Padmé and with padding
/// off, keeping no sent messages so the padding is most of the
/// difference. The bytes it adds are printed once (they do not vary).
fn padding(c: &mut Criterion) {
    use dmseal::store::MemoryStore;
    use dmseal::{Address, ConversationConfig, Conversations, Padding};
    let mut g = c.benchmark_group("padding");
    g.sample_size(30).measurement_time(std::time::Duration::from_secs(2));
    for len in [20usize, 200, 1024, 16 * 1024] {
        let payload = vec![0x5a; len];
        for (name, padding) in [("Padme", Padding::Padme), ("off", Padding::Off)] {
            let open = |user: &str| {
                let config = ConversationConfig::new().with_resend_max_age(0).with_padding(padding);
                Conversations::open(MemoryStore::new(), [7; 32], Address::new(user, 1).unwrap(), config).unwrap()
            };
            let (mut alice, _) = conversation_pair(open);
            let size = alice.send("bob", &payload, &[], 0).unwrap().messages[0].1.len();
            eprintln!("padding: {len} B payload, {name}: {size} B on the wire");
            g.bench_function(format!("send {len} B, {name}"), |b| {
                b.iter(|| alice.send("bob", &payload, &[], 0).unwrap())
            });
        }
    }
    g.finish();
}
