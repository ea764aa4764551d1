//! Criterion benchmarks of the prekey directory: checking and storing
//! uploads, and claiming bundles. Run with `cargo bench --bench directory`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dmseal::directory::{Directory, DirectoryStore, MemoryDirectory, SqliteDirectory};
use dmseal::{Account, Address};

const NOW: u64 = 1_800_000_000;

/// Claims one bundle per iteration, topping the directory up with a batch
/// of 1,000 one-time X25519 prekeys (outside the timing) when it runs out;
/// PQ one-time prekeys are never uploaded, so every bundle carries the
/// last-resort one.
fn claim_loop<S: DirectoryStore>(directory: &Directory<S>, iters: u64) -> Duration {
    let device = Address::new("bob", 1).unwrap();
    let mut account = Account::new();
    directory.remove_device(&device).unwrap();
    directory.publish_identity(&device, &account.identity_upload(NOW).encode()).unwrap();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        if directory.counts(&device).unwrap().one_time == 0 {
            let ids = account.published_one_time_prekey_ids();
            account.remove_one_time_prekeys(&ids);
            directory.publish_prekeys(&device, &account.publish_prekeys(1000, 0).unwrap().encode()).unwrap();
        }
        let start = Instant::now();
        let claimed = directory.claim_bundle(&device).unwrap();
        total += start.elapsed();
        assert!(claimed.bundle.one_time_prekey().is_some());
    }
    total
}

fn directory(c: &mut Criterion) {
    let mut g = c.benchmark_group("directory");
    let device = Address::new("bob", 1).unwrap();
    g.bench_function("publish identity upload", |b| {
        b.iter_batched(
            || (Directory::new(MemoryDirectory::new()), Account::new().identity_upload(NOW).encode()),
            |(d, upload)| d.publish_identity(&device, &upload).unwrap(),
            BatchSize::SmallInput,
        );
    });
    g.sample_size(10);
    g.bench_function("publish batch 100 + 50", |b| {
        b.iter_batched(
            || {
                let mut account = Account::new();
                let d = Directory::new(MemoryDirectory::new());
                d.publish_identity(&device, &account.identity_upload(NOW).encode()).unwrap();
                (d, account.publish_prekeys(100, 50).unwrap().encode())
            },
            |(d, batch)| d.publish_prekeys(&device, &batch).unwrap(),
            BatchSize::LargeInput,
        );
    });
    g.sample_size(50);
    g.bench_function("claim (memory)", |b| {
        let d = Directory::new(MemoryDirectory::new());
        b.iter_custom(|iters| claim_loop(&d, iters));
    });
    g.bench_function("claim (SQLite file)", |b| {
        let path = std::env::temp_dir().join(format!("dmseal-bench-directory-{}.db", std::process::id()));
        let d = Directory::new(SqliteDirectory::open(&path).unwrap());
        b.iter_custom(|iters| claim_loop(&d, iters));
        drop(d);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    });
    g.finish();
}

criterion_group!(benches, directory);
criterion_main!(benches);
