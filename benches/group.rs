//! Criterion benchmarks of group messaging. Run with
//! `cargo bench --bench group`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dmseal::{Group, RotationPolicy};
use rand_core::SeedableRng;
use std::hint::black_box;

const GID: &[u8] = b"bench-group";

/// An independent copy of a group's state (for comparing code paths), made
/// through a pickle: `Group` is deliberately not `Clone`.
fn copy(g: &Group) -> Group {
    Group::from_pickle(&g.pickle()).unwrap()
}

/// Alice with `members` other devices, and Bob (one of them) holding
/// Alice's state.
fn setup(members: usize) -> (Group, Group) {
    let mut alice = Group::new(GID, b"alice").unwrap();
    alice.set_rotation_policy(RotationPolicy::new(100_000, dmseal::limits::DEFAULT_ROTATION_SECS)).unwrap();
    for i in 0..members {
        alice.add_member(format!("device-{i}").as_bytes()).unwrap();
    }
    let mut bob = Group::new(GID, b"bob").unwrap();
    bob.add_member(b"alice").unwrap();
    let out = alice.encrypt(b"warm up", 0).unwrap();
    bob.receive_distribution(b"alice", &out.distributions[0].bytes).unwrap();
    bob.decrypt(&out.message).unwrap();
    (alice, bob)
}

fn encrypt_decrypt(c: &mut Criterion) {
    let mut g = c.benchmark_group("group");
    for size in [64usize, 1024] {
        let pt = vec![0x42u8; size];
        let (mut alice, _) = setup(1);
        g.bench_function(format!("encrypt {size} B"), |b| b.iter(|| alice.encrypt(black_box(&pt), 0).unwrap()));
        let (mut alice, bob) = setup(1);
        g.bench_function(format!("decrypt {size} B"), |b| {
            b.iter_batched(
                || (copy(&bob), alice.encrypt(&pt, 0).unwrap().message),
                |(mut bob, m)| bob.decrypt(&m).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    let (mut alice, bob) = setup(1);
    let pt = vec![0x42u8; 1024];
    for _ in 0..9_999 {
        let _ = alice.encrypt(&pt, 0).unwrap();
    }
    let far = alice.encrypt(&pt, 0).unwrap().message;
    g.bench_function("decrypt 1 KiB 10,000 indices ahead", |b| {
        b.iter_batched(|| copy(&bob), |mut bob| bob.decrypt(&far).unwrap(), BatchSize::SmallInput)
    });
    let (mut alice, bob) = setup(1);
    let queued: Vec<Vec<u8>> = (0..64).map(|_| alice.encrypt(&pt, 0).unwrap().message).collect();
    let refs: Vec<&[u8]> = queued.iter().map(Vec::as_slice).collect();
    g.bench_function("decrypt 64 queued 1 KiB one by one", |b| {
        b.iter_batched(
            || copy(&bob),
            |mut bob| refs.iter().map(|m| bob.decrypt(m).unwrap()).count(),
            BatchSize::SmallInput,
        )
    });
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
    g.bench_function("decrypt 64 queued 1 KiB as a batch", |b| {
        b.iter_batched(|| copy(&bob), |mut bob| bob.decrypt_batch_with_rng(&mut rng, &refs), BatchSize::SmallInput)
    });
    g.finish();
}

fn rotation(c: &mut Criterion) {
    let mut g = c.benchmark_group("rotation after a removal");
    for devices in [10usize, 100, 1000] {
        let (alice, _) = setup(devices);
        let mut removed = copy(&alice);
        removed.remove_member(b"device-0");
        let bytes: usize = copy(&removed).encrypt(b"x", 0).unwrap().distributions.iter().map(|d| d.bytes.len()).sum();
        println!("rotation at {devices} devices: {bytes} bytes of distributions (before 1:1 encryption)");
        g.bench_function(format!("{devices} devices"), |b| {
            b.iter_batched(|| copy(&removed), |mut a| a.encrypt(b"x", 0).unwrap(), BatchSize::SmallInput)
        });
    }
    g.finish();
}

/// What the group signature costs when it covers a SHA-256 digest (what
/// dmseal signs) versus the whole 1 KiB body.
fn signing_input(c: &mut Criterion) {
    use ed25519_dalek::Signer;
    use sha2::Digest;
    let mut g = c.benchmark_group("group signature input");
    let sk = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let body = vec![0x42u8; 1024 + 80];
    g.bench_function("sign label || SHA-256(1 KiB message)", |b| {
        b.iter(|| {
            let mut m = b"dmseal:v1:sig:group-message".to_vec();
            m.extend_from_slice(&sha2::Sha256::digest(black_box(&body)));
            sk.sign(&m)
        })
    });
    g.bench_function("sign the whole 1 KiB message", |b| b.iter(|| sk.sign(black_box(&body))));
    g.finish();
}

criterion_group!(benches, encrypt_decrypt, rotation, signing_input);
criterion_main!(benches);
