//! Crash safety against the SQLite store: a child process holds a
//! conversation between two devices (each with its own database file),
//! 1:1 and in a group, one message or a batch per commit, and is killed
//! at random points, many times. After
//! each kill the databases are checked:
//!
//! - on a scratch copy, every message sent (in the sender's outbox, which
//!   `send_with` / `send_group_with` commit with the state that made it)
//!   is either already in the receiver's inbox, exactly once and with the
//!   right plaintext, or is delivered now: nothing sent is lost, nothing
//!   is read twice;
//! - no (ratchet key, counter) and no group (sender state, index) ever
//!   encrypted two different messages, across all restarts;
//! - outbox rows never change once written;
//! - the schema version is checked on open.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dmseal::store::{AppWrite, SCHEMA_VERSION, SqliteStore, Store, StoreError};
use dmseal::{
    Address, ConversationConfig, ConversationError, Conversations, Envelope, Outbound, ReceivedKind, SendError,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// How many times the child is killed (the issue asks for at least 200).
const KILLS: u64 = 200;
const NOW: u64 = 1_800_000_000;
const KEY: [u8; 32] = [0x5e; 32];
const GROUP: &[u8] = b"crash-group";
const CHILD_ENV: &str = "DMSEAL_CRASH_CHILD_DIR";
/// Inbox marker of a 1:1 message that carried group keys.
const KEYS: &[u8] = b"(group keys)";

type Device = Conversations<SqliteStore>;

fn addr(user: &str) -> Address {
    Address::new(user, 1).unwrap()
}

fn peer(user: &str) -> &'static str {
    if user == "alice" { "bob" } else { "alice" }
}

fn open(dir: &Path, user: &str) -> Result<Device, ConversationError> {
    let store = SqliteStore::open(dir.join(format!("{user}.sqlite")))?;
    Conversations::open(store, KEY, addr(user), ConversationConfig::default())
}

fn plaintext(from: &str, k: u64) -> Vec<u8> {
    format!("{from} -> {} #{k}", peer(from)).into_bytes()
}

fn group_plaintext(from: &str, j: u64) -> Vec<u8> {
    format!("{from} -> group #{j}").into_bytes()
}

fn row(d: &Device, namespace: &str, k: u64) -> Option<Vec<u8>> {
    d.store().app_row(namespace, &k.to_be_bytes()).unwrap()
}

fn counter(d: &Device, name: &str) -> u64 {
    d.store().app_row("meta", name.as_bytes()).unwrap().map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
}

fn put(namespace: &str, k: u64, value: &[u8]) -> AppWrite {
    AppWrite::put(namespace, k.to_be_bytes().to_vec(), value.to_vec())
}

fn put_counter(name: &str, value: u64) -> AppWrite {
    AppWrite::put("meta", name.as_bytes().to_vec(), value.to_be_bytes().to_vec())
}

/// A bundle of `to` with a fresh one-time prekey.
fn bundle_of(to: &mut Device) -> Vec<(Address, dmseal::PreKeyBundle)> {
    let id = to
        .update_account(|a| {
            let id = a.generate_one_time_prekeys(1).unwrap()[0].id();
            a.mark_one_time_prekeys_published(&[id]).unwrap();
            id
        })
        .unwrap();
    vec![(to.me().clone(), to.account().prekey_bundle(Some(id), None).unwrap())]
}

/// Sends the next 1:1 message of `from`, its ciphertext put in the outbox
/// in the same commit as the session state.
fn send(from: &mut Device, to: &mut Device) {
    let user = from.me().user().to_owned();
    let k = counter(from, "next");
    let text = plaintext(&user, k);
    let writes =
        |m: &[Outbound<'_>]| vec![m[0].store_at("outbox", k.to_be_bytes().to_vec()), put_counter("next", k + 1)];
    match from.send_with(peer(&user), &text, &[], NOW, writes) {
        Ok(_) => {}
        Err(SendError::NeedBundles(_)) => {
            let _ = from.send_with(peer(&user), &text, &bundle_of(to), NOW, writes).unwrap();
        }
        Err(e) => panic!("send: {e:?}"),
    }
}

/// Sends the next group message of `from`; a distribution it needs goes
/// into the 1:1 outbox, all in one commit.
fn send_group(from: &mut Device, to: &mut Device) {
    let user = from.me().user().to_owned();
    let j = counter(from, "gnext");
    let k = counter(from, "next");
    let text = group_plaintext(&user, j);
    // The group message comes first, then the distributions.
    let writes = |sent: &[Outbound<'_>]| {
        let mut w = vec![sent[0].store_at("gout", j.to_be_bytes().to_vec()), put_counter("gnext", j + 1)];
        if let Some(keys) = sent.get(1) {
            w.extend([
                keys.store_at("outbox", k.to_be_bytes().to_vec()),
                put("kind", k, KEYS),
                put_counter("next", k + 1),
            ]);
        }
        w
    };
    match from.send_group_with(GROUP, &text, &[], NOW, writes) {
        Ok(_) => {}
        Err(SendError::NeedBundles(_)) => {
            let _ = from.send_group_with(GROUP, &text, &bundle_of(to), NOW, writes).unwrap();
        }
        Err(e) => panic!("send_group: {e:?}"),
    }
}

/// Delivers up to `at_most` of `from`'s 1:1 outbox to `to`, in order, each
/// committed with its inbox row.
fn deliver(from: &Device, to: &mut Device, at_most: u64) {
    let mut delivered = 0;
    for k in 0..counter(from, "next") {
        if delivered == at_most {
            return;
        }
        if row(to, "inbox", k).is_some() {
            continue;
        }
        let bytes = row(from, "outbox", k).unwrap();
        let received = to.receive(from.me(), &bytes, NOW).unwrap();
        let value = match received.kind() {
            ReceivedKind::GroupKeys => KEYS.to_vec(),
            ReceivedKind::Message => received.plaintext().to_vec(),
            other => panic!("unexpected {other:?}: {:?}", received.content_error()),
        };
        to.commit_received(received, vec![put("inbox", k, &value)]).unwrap();
        delivered += 1;
    }
}

/// Delivers up to `at_most` of `from`'s 1:1 outbox to `to` as one batch:
/// one commit for all of them and their inbox rows.
fn deliver_batch(from: &Device, to: &mut Device, at_most: u64) {
    let pending: Vec<(u64, Vec<u8>)> = (0..counter(from, "next"))
        .filter(|k| row(to, "inbox", *k).is_none())
        .take(usize::try_from(at_most).unwrap())
        .map(|k| (k, row(from, "outbox", k).unwrap()))
        .collect();
    let sender = from.me().clone();
    let incoming: Vec<dmseal::Incoming<'_>> =
        pending.iter().map(|(_, bytes)| dmseal::Incoming::Direct { from: &sender, bytes }).collect();
    let batch = to.receive_batch(&incoming, NOW).unwrap();
    let mut rows = Vec::new();
    for ((k, _), result) in pending.iter().zip(batch.results()) {
        let received = result.as_ref().unwrap();
        let value = match received.kind() {
            ReceivedKind::GroupKeys => KEYS.to_vec(),
            ReceivedKind::Message => received.plaintext().to_vec(),
            other => panic!("unexpected {other:?}: {:?}", received.content_error()),
        };
        rows.push(put("inbox", *k, &value));
    }
    to.commit_batch(batch, rows).unwrap();
}

/// Delivers up to `at_most` of `from`'s group messages to `to`, in order,
/// stopping at one whose keys have not arrived yet.
fn deliver_group(from: &Device, to: &mut Device, at_most: u64) -> bool {
    let mut delivered = 0;
    for j in 0..counter(from, "gnext") {
        if delivered == at_most {
            return true;
        }
        if row(to, "ginbox", j).is_some() {
            continue;
        }
        let bytes = row(from, "gout", j).unwrap();
        let Ok(received) = to.receive_group(GROUP, from.me(), &bytes, NOW) else { return false };
        assert_eq!(received.from(), from.me());
        let value = received.plaintext().to_vec();
        to.commit_received(received, vec![put("ginbox", j, &value)]).unwrap();
        delivered += 1;
    }
    true
}

/// The child: talks until killed (or for 20 s at most).
#[test]
#[ignore = "run by crash_points_never_lose_or_repeat_a_message as a child process"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let dir = PathBuf::from(dir);
    let seed: u64 = std::env::var("DMSEAL_CRASH_SEED").unwrap().parse().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut alice = open(&dir, "alice").unwrap();
    let mut bob = open(&dir, "bob").unwrap();
    let members = [addr("alice"), addr("bob")];
    for d in [&mut alice, &mut bob] {
        let other = peer(d.me().user());
        if d.devices(other).unwrap().is_empty() {
            d.set_devices(other, &[1]).unwrap();
        }
        match d.create_group(GROUP, &members) {
            Ok(()) | Err(ConversationError::GroupExists) => {}
            Err(e) => panic!("create_group: {e:?}"),
        }
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let at_most = u64::from(rng.next_u32() % 4);
        match rng.next_u32() % 10 {
            0 => send(&mut alice, &mut bob),
            1 => send(&mut bob, &mut alice),
            2 => send_group(&mut alice, &mut bob),
            3 => send_group(&mut bob, &mut alice),
            4 => deliver(&alice, &mut bob, at_most),
            5 => deliver(&bob, &mut alice, at_most),
            6 => _ = deliver_group(&alice, &mut bob, at_most),
            7 => _ = deliver_group(&bob, &mut alice, at_most),
            8 => deliver_batch(&alice, &mut bob, at_most + 2),
            _ => deliver_batch(&bob, &mut alice, at_most + 2),
        }
    }
}

/// What the parent has seen across all runs.
#[derive(Default)]
struct Seen {
    /// Outbox rows by (sender, namespace, index): they must never change.
    outbox: BTreeMap<(String, &'static str, u64), Vec<u8>>,
    /// (ratchet key, counter) of every released 1:1 message: never twice.
    keys: BTreeMap<([u8; 32], u32), (String, u64)>,
    /// (sender state, index) of every released group message: never twice.
    group_keys: BTreeMap<(Vec<u8>, u32), (String, u64)>,
}

/// Reads a minimal LEB128 `u32` (docs/PROTOCOL.md §4.1).
fn varint(bytes: &[u8]) -> u32 {
    let mut value = 0u32;
    for (i, b) in bytes.iter().take(5).enumerate() {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    value
}

/// Records every new outbox row and checks that rows never change and no
/// key (1:1 or group) encrypted two messages. Returns how many messages
/// `from` sent.
fn record_outbox(from: &Device, seen: &mut Seen) -> u64 {
    let user = from.me().user().to_owned();
    let mut sent = 0;
    for (namespace, count) in [("outbox", counter(from, "next")), ("gout", counter(from, "gnext"))] {
        for k in 0..count {
            let bytes =
                row(from, namespace, k).unwrap_or_else(|| panic!("{user} {namespace} #{k}: counted, not stored"));
            sent += 1;
            let key = (user.clone(), namespace, k);
            if let Some(before) = seen.outbox.get(&key) {
                assert_eq!(before, &bytes, "{user} {namespace} #{k}: an outbox row changed");
                continue;
            }
            if namespace == "outbox" {
                let message = match Envelope::decode(&bytes).unwrap() {
                    Envelope::Normal(m) => m,
                    Envelope::PreKey(m) => m.message().clone(),
                    other => panic!("an envelope of a kind this test does not know: {other:?}"),
                };
                let id = (message.ratchet_key().to_bytes(), message.counter());
                if let Some(other) = seen.keys.insert(id, (user.clone(), k)) {
                    panic!("{user} #{k} and {other:?} used the same ratchet key and counter");
                }
            } else {
                // Group message: version, type, 16-byte state id, varint index.
                let id = (bytes[2..18].to_vec(), varint(&bytes[18..]));
                if let Some(other) = seen.group_keys.insert(id, (user.clone(), k)) {
                    panic!("{user} group #{k} and {other:?} used the same sender state and index");
                }
            }
            seen.outbox.insert(key, bytes);
        }
    }
    sent
}

/// Copies the two databases (with their write-ahead logs) to `scratch`.
fn copy_databases(dir: &Path, scratch: &Path) {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, scratch.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// On a scratch copy: delivers everything not yet delivered, then checks
/// that every message is in its inbox exactly once with its plaintext.
fn check_delivery(scratch: &Path) {
    let mut alice = open(scratch, "alice").unwrap();
    let mut bob = open(scratch, "bob").unwrap();
    deliver(&alice, &mut bob, u64::MAX);
    deliver(&bob, &mut alice, u64::MAX);
    assert!(deliver_group(&alice, &mut bob, u64::MAX), "a group message of Alice's no longer decrypts");
    assert!(deliver_group(&bob, &mut alice, u64::MAX), "a group message of Bob's no longer decrypts");
    for (from, to) in [(&alice, &bob), (&bob, &alice)] {
        let user = from.me().user();
        for k in 0..counter(from, "next") {
            let got = row(to, "inbox", k).unwrap_or_else(|| panic!("{user} #{k} was lost"));
            let want = if row(from, "kind", k).is_some() { KEYS.to_vec() } else { plaintext(user, k) };
            assert_eq!(got, want, "{user} #{k}: wrong inbox row");
        }
        for j in 0..counter(from, "gnext") {
            let got = row(to, "ginbox", j).unwrap_or_else(|| panic!("{user} group #{j} was lost"));
            assert_eq!(got, group_plaintext(user, j), "{user} group #{j}: wrong inbox row");
        }
    }
}

#[test]
fn crash_points_never_lose_or_repeat_a_message() {
    let base = std::env::temp_dir().join(format!("dmseal-crash-{}", std::process::id()));
    let (dir, scratch) = (base.join("live"), base.join("scratch"));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let mut seen = Seen::default();
    let mut sent = 0;
    for run in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .env("DMSEAL_CRASH_SEED", run.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + u64::from(rng.next_u32() % 150)));
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("run {run}: the child stopped by itself ({status}): {err}");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        {
            let alice = open(&dir, "alice").unwrap();
            let bob = open(&dir, "bob").unwrap();
            sent = record_outbox(&alice, &mut seen) + record_outbox(&bob, &mut seen);
        }
        copy_databases(&dir, &scratch);
        check_delivery(&scratch);
    }
    assert!(sent > 100, "only {sent} messages were sent in {KILLS} runs: the kill points are too early");
    println!(
        "{KILLS} kills, {sent} messages sent, {} 1:1 and {} group keys checked",
        seen.keys.len(),
        seen.group_keys.len()
    );

    // A database from a newer schema is refused on open, unchanged.
    let path = dir.join("alice.sqlite");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute("UPDATE meta SET value = ?1 WHERE name = 'schema_version'", [i64::from(SCHEMA_VERSION) + 1])
            .unwrap();
    }
    match SqliteStore::open(&path) {
        Err(StoreError::SchemaVersion { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected a schema version error, got {other:?}"),
    }
    std::fs::remove_dir_all(&base).unwrap();
}
