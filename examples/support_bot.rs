//! A customer-support bot holds many established sessions at once. This
//! example builds 10,000 of them (each customer starts a PQXDH session,
//! the bot replies, the customer answers, so every session is acknowledged
//! and idle) and reports:
//!
//! - the growth of the process's resident memory per session (Linux,
//!   from `/proc/self/statm`; other systems print no memory figure);
//! - the time to pickle all of them, plain and encrypted, and the bytes.
//!
//! Run with `cargo run --release --example support_bot` (debug builds work
//! but take a minute). Pass a number to change the session count.

use std::error::Error;
use std::time::Instant;

use dmseal::{Account, PreKeyMessage, Session, conversation_context};

/// One-time prekeys are generated and used in batches of this size (the
/// account stores at most 1,000 unpublished and published keys at once).
const BATCH: usize = 500;

/// Resident set size of this process in bytes, if the platform tells.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // Linux on the machines this runs on uses 4 KiB pages.
    Some(pages * 4096)
}

fn main() -> Result<(), Box<dyn Error>> {
    let count: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(10_000);
    let mut bot = Account::new();
    // One customer account opens every session: a session's size does not
    // depend on who the peer is, and this keeps the setup fast.
    let customer = Account::new();
    let context = conversation_context(b"customer", b"support-bot");

    let before = resident_bytes();
    let started = Instant::now();
    let mut sessions: Vec<Session> = Vec::with_capacity(count);
    while sessions.len() < count {
        let n = BATCH.min(count - sessions.len());
        let keys = bot.generate_one_time_prekeys(n)?;
        let ids: Vec<u32> = keys.iter().map(|k| k.id()).collect();
        bot.mark_one_time_prekeys_published(&ids)?;
        for id in ids {
            let bundle = bot.prekey_bundle(Some(id), None)?;
            let (mut theirs, first) = customer.start_session(&bundle, &context, b"hello, I need help")?;
            let pending = bot.open_first_message(&PreKeyMessage::decode(&first)?, &context, 0)?;
            let mut ours = bot.accept(pending)?;
            theirs.decrypt(&ours.encrypt(b"how can we help?")?)?;
            ours.decrypt(&theirs.encrypt(b"my order is late")?)?;
            sessions.push(ours);
        }
    }
    let setup = started.elapsed();
    let after = resident_bytes();

    println!("{count} established, idle sessions held by one bot");
    println!("  set up in {:.1} s ({:.0} µs per session, both sides)", setup.as_secs_f64(), per(setup, count));
    match (before, after) {
        (Some(b), Some(a)) => {
            let growth = a.saturating_sub(b);
            println!(
                "  resident memory: +{:.2} MiB, {} bytes per session",
                growth as f64 / (1024.0 * 1024.0),
                growth / count as u64
            );
        }
        _ => println!("  resident memory: not available on this platform"),
    }

    let started = Instant::now();
    let plain: Vec<_> = sessions.iter().map(|s| s.pickle().to_bytes()).collect();
    let plain_time = started.elapsed();
    let key = [7u8; 32];
    let started = Instant::now();
    let encrypted: Vec<Vec<u8>> = sessions.iter().map(|s| s.pickle().encrypt(&key)).collect();
    let encrypted_time = started.elapsed();
    let plain_bytes: usize = plain.iter().map(|p| p.len()).sum();
    let encrypted_bytes: usize = encrypted.iter().map(Vec::len).sum();
    println!(
        "  pickle all, plain:     {:.1} ms ({:.2} µs each), {} bytes ({} per session)",
        plain_time.as_secs_f64() * 1e3,
        per(plain_time, count),
        plain_bytes,
        plain_bytes / count
    );
    println!(
        "  pickle all, encrypted: {:.1} ms ({:.2} µs each), {} bytes ({} per session)",
        encrypted_time.as_secs_f64() * 1e3,
        per(encrypted_time, count),
        encrypted_bytes,
        encrypted_bytes / count
    );

    let started = Instant::now();
    let restored: Vec<Session> = encrypted
        .iter()
        .map(|b| dmseal::SessionPickle::from_encrypted(b, &key).and_then(|p| Session::from_pickle(&p)))
        .collect::<Result<_, _>>()?;
    let restore_time = started.elapsed();
    println!(
        "  restore all from encrypted pickles: {:.1} ms ({:.2} µs each)",
        restore_time.as_secs_f64() * 1e3,
        per(restore_time, count)
    );
    assert_eq!(restored.len(), sessions.len());
    Ok(())
}

/// Microseconds per item.
fn per(d: std::time::Duration, count: usize) -> f64 {
    d.as_secs_f64() * 1e6 / count.max(1) as f64
}
