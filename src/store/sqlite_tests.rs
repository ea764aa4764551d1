//! Tests of the SQLite store: persistence, schema versions and
//! migrations, concurrent writers, expiry.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use super::{SCHEMA_VERSION, SqliteStore};
use crate::address::Address;
use crate::store::{AppWrite, ChangeSet, MemoryStore, SessionStore, Store, StoreError};
use crate::store::{GroupStore, IdentityStore, PreKeyStore};

/// A database path in the temporary directory, unique to this process
/// and test, removed (with its WAL files) when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("dmseal-sqlite-test-{}-{n}.db", std::process::id());
        let db = Self(std::env::temp_dir().join(name));
        db.remove();
        db
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = self.0.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

fn address(user: &str, device: u32) -> Address {
    Address::new(user, device).unwrap()
}

fn assert_store<S: Store>() {}

#[test]
fn the_sqlite_store_passes_the_store_conformance_checks() {
    assert_store::<SqliteStore>(); // Send + Sync
    super::super::conformance::check(|| SqliteStore::open_in_memory().unwrap());
    let db = TempDb::new();
    super::super::conformance::check(|| {
        db.remove();
        SqliteStore::open(db.path()).unwrap()
    });
}

#[test]
fn state_survives_closing_and_reopening_the_file() {
    let db = TempDb::new();
    let bob = address("bob", u32::MAX);
    {
        let store = SqliteStore::open(db.path()).unwrap();
        let mut changes = ChangeSet { account: Some(b"account".to_vec()), ..Default::default() };
        changes.set_user("bob", Some(b"user".to_vec()));
        changes.set_session(&bob, Some(b"session".to_vec()));
        changes.set_request(&bob, Some(b"request".to_vec()));
        changes.groups.push((b"group".to_vec(), Some(b"state".to_vec())));
        let changes = changes.with_app_writes([AppWrite::put("inbox", b"1".to_vec(), b"hi".to_vec())]);
        assert_eq!(store.commit(0, &changes).unwrap(), 1);
        assert_eq!(store.commit(1, &ChangeSet::default()).unwrap(), 2);
    }
    let store = SqliteStore::open(db.path()).unwrap();
    assert_eq!(store.generation().unwrap(), 2);
    assert_eq!(store.load_account().unwrap().as_deref(), Some(&b"account"[..]));
    assert_eq!(store.load_user("bob").unwrap().as_deref(), Some(&b"user"[..]));
    assert_eq!(store.load_sessions(&bob).unwrap().as_deref(), Some(&b"session"[..]));
    assert_eq!(store.load_request(&bob).unwrap().as_deref(), Some(&b"request"[..]));
    assert_eq!(store.request_addresses().unwrap(), vec![bob]);
    assert_eq!(store.load_group(b"group").unwrap().as_deref(), Some(&b"state"[..]));
    assert_eq!(store.app_row("inbox", b"1").unwrap().as_deref(), Some(&b"hi"[..]));
    let debug = format!("{store:?}");
    assert!(debug.contains("generation: Some(2)"), "{debug}");
    // The durability settings are in force.
    let conn = store.lock();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let synchronous: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
    assert_eq!(synchronous, 2, "FULL");
    let foreign_keys: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(foreign_keys, 1);
}

#[test]
fn a_database_from_a_newer_schema_is_refused_and_left_unchanged() {
    let db = TempDb::new();
    drop(SqliteStore::open(db.path()).unwrap());
    {
        let conn = Connection::open(db.path()).unwrap();
        conn.execute("UPDATE meta SET value = ?1 WHERE name = 'schema_version'", [i64::from(SCHEMA_VERSION) + 1])
            .unwrap();
        conn.execute("UPDATE meta SET value = 7 WHERE name = 'generation'", []).unwrap();
        // Back to a plain file, so that any write would show in its bytes.
        let _: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0)).unwrap();
    }
    let before = std::fs::read(db.path()).unwrap();
    match SqliteStore::open(db.path()) {
        Err(StoreError::SchemaVersion { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected a schema version error, got {other:?}"),
    }
    assert_eq!(std::fs::read(db.path()).unwrap(), before);
    let conn = Connection::open(db.path()).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
    let generation: i64 = conn.query_row("SELECT value FROM meta WHERE name = 'generation'", [], |r| r.get(0)).unwrap();
    assert_eq!(generation, 7);
}

#[test]
fn two_stores_on_one_file_cannot_both_commit_at_the_same_generation() {
    let db = TempDb::new();
    let first = SqliteStore::open(db.path()).unwrap();
    let second = SqliteStore::open(db.path()).unwrap();
    let alice = address("alice", 1);
    let mut mine = ChangeSet::default();
    mine.set_session(&alice, Some(b"first".to_vec()));
    let mut theirs = ChangeSet::default();
    theirs.set_session(&alice, Some(b"second".to_vec()));
    let theirs = theirs.with_app_writes([AppWrite::put("inbox", b"x".to_vec(), b"y".to_vec())]);
    assert_eq!(first.commit(0, &mine).unwrap(), 1);
    match second.commit(0, &theirs) {
        Err(StoreError::Conflict { expected: 0, found: 1 }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(second.generation().unwrap(), 1);
    assert_eq!(second.load_sessions(&alice).unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(second.app_row("inbox", b"x").unwrap(), None);
    // Retried on the new state, it goes through, and the first sees it.
    assert_eq!(second.commit(1, &theirs).unwrap(), 2);
    assert_eq!(first.generation().unwrap(), 2);
    assert_eq!(first.load_sessions(&alice).unwrap().as_deref(), Some(&b"second"[..]));
}

#[test]
fn threads_sharing_a_store_each_commit_once_per_generation() {
    let store = SqliteStore::open_in_memory().unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let store = &store;
            scope.spawn(move || {
                for i in 0..25u8 {
                    loop {
                        let generation = store.generation().unwrap();
                        let changes = ChangeSet::default().with_app_writes([AppWrite::put("log", vec![t, i], vec![t])]);
                        match store.commit(generation, &changes) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(store.generation().unwrap(), 100);
    assert_eq!(store.app_row("log", &[3, 24]).unwrap().as_deref(), Some(&[3][..]));
}

#[test]
fn a_database_that_is_not_a_dmseal_store_is_refused_and_left_unchanged() {
    let db = TempDb::new();
    {
        let conn = Connection::open(db.path()).unwrap();
        conn.execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');",
        )
        .unwrap();
    }
    let before = std::fs::read(db.path()).unwrap();
    match SqliteStore::open(db.path()) {
        Err(StoreError::Backend(e)) => assert!(e.to_string().contains("not a dmseal store"), "{e}"),
        other => panic!("expected a backend error, got {other:?}"),
    }
    assert_eq!(std::fs::read(db.path()).unwrap(), before);

    // Nor is a file that is not a SQLite database at all.
    let junk = TempDb::new();
    std::fs::write(junk.path(), vec![0x5a; 4096]).unwrap();
    assert!(matches!(SqliteStore::open(junk.path()), Err(StoreError::Backend(_))));
    assert_eq!(std::fs::read(junk.path()).unwrap(), vec![0x5a; 4096]);
}

#[test]
fn request_addresses_come_in_the_memory_stores_order() {
    let sqlite = SqliteStore::open_in_memory().unwrap();
    let memory = MemoryStore::new();
    let mut changes = ChangeSet::default();
    for (user, device) in [("bob", 10), ("bob", 9), ("alice", 2), ("Zed", 1), ("éa", 0), ("bob", u32::MAX), ("b", 3)] {
        changes.set_request(&address(user, device), Some(b"r".to_vec()));
    }
    sqlite.commit(0, &changes).unwrap();
    memory.commit(0, &changes).unwrap();
    assert_eq!(sqlite.request_addresses().unwrap(), memory.request_addresses().unwrap());
    assert_eq!(sqlite.request_addresses().unwrap().first(), Some(&address("Zed", 1)));
}

#[test]
fn an_empty_database_gets_the_current_schema() {
    let store = SqliteStore::open_in_memory().unwrap();
    let conn = store.lock();
    let version: i64 =
        conn.query_row("SELECT value FROM meta WHERE name = 'schema_version'", [], |r| r.get(0)).unwrap();
    assert_eq!(version, i64::from(SCHEMA_VERSION));
}

/// A version-1 database (before application rows could expire) keeps
/// its rows and generation, and its rows can expire afterwards.
#[test]
fn a_version_1_database_is_migrated_on_open() {
    let db = TempDb::new();
    {
        let conn = Connection::open(db.path()).unwrap();
        conn.execute_batch(super::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO meta (name, value) VALUES ('schema_version', 1);
             UPDATE meta SET value = 3 WHERE name = 'generation';
             INSERT INTO app_rows (namespace, key, value) VALUES ('inbox', x'01', x'aa');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(db.path()).unwrap();
    assert_eq!(store.generation().unwrap(), 3);
    assert_eq!(store.app_row("inbox", &[1]).unwrap(), Some(vec![0xaa]));
    let expiring = AppWrite::put("inbox", vec![2], vec![0xbb]).expires_at(10);
    store.commit(3, &ChangeSet::default().with_app_writes([expiring])).unwrap();
    assert_eq!(store.purge_expired(10).unwrap(), [("inbox".to_owned(), vec![2])]);
    assert_eq!(store.app_row("inbox", &[1]).unwrap(), Some(vec![0xaa]));
    let version: i64 =
        store.lock().query_row("SELECT value FROM meta WHERE name = 'schema_version'", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 2);
}
