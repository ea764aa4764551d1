//! A SQLite [`Store`] (feature `sqlite`): one database file per device,
//! shared safely by threads and by processes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{ChangeSet, GroupStore, IdentityStore, PreKeyStore, SessionStore, Store, StoreError};
use crate::address::Address;

/// The schema version this build writes, and the newest it reads: a
/// database at an older version is migrated on open, one at a newer
/// version is refused with [`StoreError::SchemaVersion`].
pub const SCHEMA_VERSION: u32 = 2;

/// The migrations, in order: `MIGRATIONS[i]` takes a database from schema
/// version `i` to `i + 1`, version 0 being the empty database. A new schema
/// version is one more entry here and one more in [`SCHEMA_VERSION`]; the
/// open code sets `meta.schema_version` after running them.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first schema.
    "CREATE TABLE meta (
         name TEXT NOT NULL PRIMARY KEY,
         value INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO meta (name, value) VALUES ('generation', 0);
     CREATE TABLE account (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         record BLOB NOT NULL
     );
     CREATE TABLE users (
         user TEXT NOT NULL PRIMARY KEY,
         record BLOB NOT NULL
     );
     CREATE TABLE sessions (
         user TEXT NOT NULL,
         device INTEGER NOT NULL CHECK (device BETWEEN 0 AND 4294967295),
         record BLOB NOT NULL,
         PRIMARY KEY (user, device)
     );
     CREATE TABLE requests (
         user TEXT NOT NULL,
         device INTEGER NOT NULL CHECK (device BETWEEN 0 AND 4294967295),
         record BLOB NOT NULL,
         PRIMARY KEY (user, device)
     );
     CREATE TABLE \"groups\" (
         group_id BLOB NOT NULL PRIMARY KEY,
         record BLOB NOT NULL
     );
     CREATE TABLE app_rows (
         namespace TEXT NOT NULL,
         key BLOB NOT NULL,
         value BLOB NOT NULL,
         PRIMARY KEY (namespace, key)
     );",
    // 1 -> 2: application rows may expire (disappearing messages).
    "ALTER TABLE app_rows ADD COLUMN expires_at INTEGER;
     CREATE INDEX app_rows_expiry ON app_rows (expires_at) WHERE expires_at IS NOT NULL;",
];

// Every schema version has its migration.
const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

/// How long a connection waits for another one's lock (another thread's
/// or process's transaction) before failing with a busy error.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in a SQLite database (a file, or memory for tests).
///
/// One connection behind a mutex: the store is `Send + Sync` and its
/// methods take `&self`. Several stores (in one process or several) may
/// open the same file; their commits are serialised by SQLite's lock and
/// numbered by the shared generation, so a stale one is refused with
/// [`StoreError::Conflict`].
///
/// # What it holds
///
/// Every value is a **sealed record** made by dmseal (see [the store
/// module](crate::store)): this store does no cryptography, never sees a key or a
/// plaintext, and keeps the records as opaque blobs next to their row
/// names.
///
/// # Schema (version [`SCHEMA_VERSION`])
///
/// | table | primary key | columns |
/// |---|---|---|
/// | `meta` | `name` | `value INTEGER`: the rows `schema_version` and `generation` |
/// | `account` | `id` (always 1) | `record BLOB` |
/// | `users` | `user TEXT` | `record BLOB` |
/// | `sessions` | (`user TEXT`, `device INTEGER`) | `record BLOB` |
/// | `requests` | (`user TEXT`, `device INTEGER`) | `record BLOB` |
/// | `groups` | `group_id BLOB` | `record BLOB` |
/// | `app_rows` | (`namespace TEXT`, `key BLOB`) | `value BLOB`, `expires_at INTEGER` (null: never), indexed where set |
///
/// `meta` is a `WITHOUT ROWID` table (a few small rows). The record tables
/// are ordinary rowid tables: their rows hold sealed records of hundreds of
/// bytes to kilobytes, where SQLite advises against `WITHOUT ROWID`.
///
/// # Transactions
///
/// [`Store::commit`] is one `BEGIN IMMEDIATE` transaction: it takes the
/// database's write lock first, then reads the generation, refuses a stale
/// change set with [`StoreError::Conflict`], writes every row (an upsert, or
/// a delete for `None`), stores the next generation and commits. Any error
/// drops the transaction, which rolls it back: nothing is written. Two
/// processes on one file therefore never both advance the same generation;
/// the second waits for the first (up to a busy timeout of five seconds)
/// and then sees the conflict.
///
/// # Durability
///
/// File databases run in write-ahead-log mode (`journal_mode=WAL`: readers
/// do not block the writer) with `synchronous=FULL`, so that a commit that
/// returned is on disk and survives a power cut, not only a crash of the
/// process. That costs an fsync per commit; losing a committed session
/// state would mean reusing message keys or failing to decrypt, which is
/// worse. Where WAL is unavailable (some network file systems) SQLite keeps
/// its rollback journal, which is just as atomic and durable.
///
/// # Versions and migrations
///
/// `meta.schema_version` names the schema a database was written with. On
/// open, an empty database is given the current schema, an older one is
/// migrated (each step of the `MIGRATIONS` list in order, all in one transaction),
/// and a newer one is refused with [`StoreError::SchemaVersion`] without
/// being changed. A database that has tables but no `meta` table is not a
/// dmseal store: it is refused with [`StoreError::Backend`] without being
/// changed, rather than having dmseal's tables added next to someone
/// else's.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// The file, or `None` in memory (for `Debug`).
    path: Option<PathBuf>,
}

/// What [`inspect`] found in a database.
enum Found {
    /// No tables at all: a new database.
    Empty,
    /// A dmseal database at this schema version.
    Version(u32),
}

/// Why a database could not be used, beyond SQLite's own errors: carried
/// in [`StoreError::Backend`].
#[derive(Debug)]
enum SqliteStoreError {
    /// The database has tables but is not a dmseal store.
    NotDmseal,
    /// A value in the database is not one this store writes.
    Corrupt(&'static str),
}

impl core::fmt::Display for SqliteStoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotDmseal => {
                f.write_str("the database is not a dmseal store (it has tables but no dmseal meta table)")
            }
            Self::Corrupt(what) => write!(f, "the database is corrupt: {what}"),
        }
    }
}

impl std::error::Error for SqliteStoreError {}

/// Wraps any error as [`StoreError::Backend`].
pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// `Result::map_err(backend)`, shorter.
pub(crate) trait OrBackend<T> {
    fn or_backend(self) -> Result<T, StoreError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> OrBackend<T> for Result<T, E> {
    fn or_backend(self) -> Result<T, StoreError> {
        self.map_err(backend)
    }
}

/// Classifies the database `conn` is on (inside or outside a transaction).
fn inspect(conn: &Connection) -> Result<Found, StoreError> {
    let has_meta: bool = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')", [], |r| {
            r.get(0)
        })
        .or_backend()?;
    if !has_meta {
        let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).or_backend()?;
        return if objects == 0 { Ok(Found::Empty) } else { Err(backend(SqliteStoreError::NotDmseal)) };
    }
    let version: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE name = 'schema_version'", [], |r| r.get(0))
        .optional()
        .or_backend()?;
    let version = version.ok_or(backend(SqliteStoreError::NotDmseal))?;
    let version =
        u32::try_from(version).map_err(|_| backend(SqliteStoreError::Corrupt("schema version out of range")))?;
    Ok(Found::Version(version))
}

/// Refuses a database this build cannot use, before anything is changed.
fn check_version(found: &Found) -> Result<(), StoreError> {
    match *found {
        Found::Version(found) if found > SCHEMA_VERSION => {
            Err(StoreError::SchemaVersion { found, supported: SCHEMA_VERSION })
        }
        _ => Ok(()),
    }
}

/// Brings the database to [`SCHEMA_VERSION`]: creates the schema in an
/// empty database, migrates an older one, in one transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).or_backend()?;
    // Again under the write lock: another process may have created or
    // migrated the database since the first look.
    let found = inspect(&tx)?;
    check_version(&found)?;
    let from = match found {
        Found::Empty => 0,
        Found::Version(v) if v == SCHEMA_VERSION => return Ok(()), // rolled back: nothing to do
        Found::Version(v) => v,
    };
    let from = usize::try_from(from).map_err(|_| backend(SqliteStoreError::Corrupt("schema version out of range")))?;
    for migration in MIGRATIONS.iter().skip(from) {
        tx.execute_batch(migration).or_backend()?;
    }
    tx.execute(
        "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [i64::from(SCHEMA_VERSION)],
    )
    .or_backend()?;
    tx.commit().or_backend()
}

/// Reads the generation (inside or outside a transaction).
fn read_generation(conn: &Connection) -> Result<u64, StoreError> {
    let generation: Option<i64> =
        conn.query_row("SELECT value FROM meta WHERE name = 'generation'", [], |r| r.get(0)).optional().or_backend()?;
    let generation = generation.ok_or(backend(SqliteStoreError::Corrupt("no generation")))?;
    u64::try_from(generation).map_err(|_| backend(SqliteStoreError::Corrupt("generation out of range")))
}

/// Reads a device id back from its column.
fn device_from_sql(device: i64) -> Result<u32, StoreError> {
    u32::try_from(device).map_err(|_| backend(SqliteStoreError::Corrupt("device id out of range")))
}

/// Upserts or deletes the (user, device) row of a session-shaped table.
fn write_address_row(
    tx: &Connection,
    upsert: &str,
    delete: &str,
    address: &Address,
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    let device = i64::from(address.device());
    match value {
        Some(record) => tx.prepare_cached(upsert).and_then(|mut s| s.execute(params![address.user(), device, record])),
        None => tx.prepare_cached(delete).and_then(|mut s| s.execute(params![address.user(), device])),
    }
    .or_backend()?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`: sets the
    /// durability and locking settings, creates the schema in a new
    /// database and migrates an older one.
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaVersion`] for a database written by a newer
    /// schema (left unchanged); [`StoreError::Backend`] if the file cannot
    /// be opened, is not a SQLite database, or is a SQLite database that is
    /// not a dmseal store (has tables but no dmseal `meta` table: left
    /// unchanged).
    ///
    /// ```
    /// use dmseal::store::SqliteStore;
    /// use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::temp_dir().join(format!("dmseal-doc-{}.db", std::process::id()));
    /// let (key, config) = (StorageKey::generate(), ConversationConfig::new());
    /// let me = Address::new("alice", 1)?;
    /// let alice = Conversations::open(SqliteStore::open(&path)?, key.clone(), me.clone(), config)?;
    /// let identity = alice.account().identity().clone();
    /// drop(alice);
    /// // The next start opens the same file under the same key: the same account.
    /// let alice = Conversations::open(SqliteStore::open(&path)?, key, me, config)?;
    /// assert_eq!(alice.account().identity(), &identity);
    /// # drop(alice);
    /// # for suffix in ["", "-wal", "-shm"] {
    /// #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    /// # }
    /// # Ok(()) }
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).or_backend()?;
        Self::setup(conn, Some(path.to_path_buf()))
    }

    /// A new, empty database in memory, gone when the store is dropped
    /// (for tests).
    ///
    /// ```
    /// use dmseal::store::{SqliteStore, Store};
    /// use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::open_in_memory()?;
    /// assert_eq!(store.generation()?, 0);
    /// let (me, config) = (Address::new("alice", 1)?, ConversationConfig::new());
    /// let alice = Conversations::open(store, StorageKey::generate(), me, config)?;
    /// // Creating the account was the first commit.
    /// assert_eq!(alice.store().generation()?, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if SQLite fails.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().or_backend()?;
        Self::setup(conn, None)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        // Wait for another connection's lock rather than fail at once.
        conn.busy_timeout(BUSY_TIMEOUT).or_backend()?;
        // Crash safety matters more than speed here: a commit that returned
        // must survive a power cut (an fsync per commit), or a session could
        // go back to a state whose message keys were already used.
        // secure_delete: a replaced or deleted record's bytes are
        // overwritten with zeros in the database file instead of lingering
        // in free pages, so a used message key does not outlive its use
        // there (WAL frames are overwritten as the log is reused).
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")
            .or_backend()?;
        // Look before changing anything: a newer or foreign database is
        // refused untouched (not even switched to WAL).
        let found = inspect(&conn)?;
        check_version(&found)?;
        if path.is_some() {
            // Persistent, and a no-op if the database already is in WAL
            // mode. SQLite answers with the mode now in force, which stays
            // the rollback journal where WAL is unavailable: still atomic
            // and durable, so accepted.
            let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).or_backend()?;
        }
        if !matches!(found, Found::Version(SCHEMA_VERSION)) {
            migrate(&mut conn)?;
        }
        Ok(Self { conn: Mutex::new(conn), path })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied commit:
        // the open transaction is rolled back when it is dropped during the
        // unwinding, so the connection behind a poisoned lock is consistent.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One optional blob from a query with the given parameters.
    fn load(&self, sql: &str, params: impl rusqlite::Params) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(sql).or_backend()?;
        statement.query_row(params, |r| r.get(0)).optional().or_backend()
    }
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Row names and records stay out: the path and the generation only.
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("generation", &self.generation().ok())
            .finish_non_exhaustive()
    }
}

impl PreKeyStore for SqliteStore {
    fn load_account(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.load("SELECT record FROM account WHERE id = 1", [])
    }
}

impl IdentityStore for SqliteStore {
    fn load_user(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.load("SELECT record FROM users WHERE user = ?1", [user])
    }

    fn user_ids(&self) -> Result<Vec<String>, StoreError> {
        // TEXT's BINARY collation orders by bytes, as `String`'s `Ord`.
        let conn = self.lock();
        let mut statement = conn.prepare_cached("SELECT user FROM users ORDER BY user").or_backend()?;
        let rows = statement.query_map([], |r| r.get::<_, String>(0)).or_backend()?;
        rows.map(|row| row.or_backend()).collect()
    }
}

impl SessionStore for SqliteStore {
    fn load_sessions(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        self.load(
            "SELECT record FROM sessions WHERE user = ?1 AND device = ?2",
            params![address.user(), i64::from(address.device())],
        )
    }

    fn load_request(&self, address: &Address) -> Result<Option<Vec<u8>>, StoreError> {
        self.load(
            "SELECT record FROM requests WHERE user = ?1 AND device = ?2",
            params![address.user(), i64::from(address.device())],
        )
    }

    fn request_addresses(&self) -> Result<Vec<Address>, StoreError> {
        self.addresses("SELECT user, device FROM requests ORDER BY user, device")
    }

    fn session_addresses(&self) -> Result<Vec<Address>, StoreError> {
        self.addresses("SELECT user, device FROM sessions ORDER BY user, device")
    }
}

impl SqliteStore {
    /// The addresses a `SELECT user, device` lists, in its order.
    fn addresses(&self, query: &str) -> Result<Vec<Address>, StoreError> {
        // The memory store's order: user ids by bytes (TEXT's default BINARY
        // collation compares bytes, as `String`'s `Ord` does), then device
        // ids numerically.
        let conn = self.lock();
        let mut statement = conn.prepare_cached(query).or_backend()?;
        let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).or_backend()?;
        let mut addresses = Vec::new();
        for row in rows {
            let (user, device) = row.or_backend()?;
            addresses.push(Address::new(user, device_from_sql(device)?).or_backend()?);
        }
        Ok(addresses)
    }
}

impl GroupStore for SqliteStore {
    fn load_group(&self, group_id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.load("SELECT record FROM \"groups\" WHERE group_id = ?1", [group_id])
    }

    fn group_ids(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        // BLOB's order is memcmp, as `Vec<u8>`'s `Ord` (the memory store's).
        let conn = self.lock();
        let mut statement = conn.prepare_cached("SELECT group_id FROM \"groups\" ORDER BY group_id").or_backend()?;
        let rows = statement.query_map([], |r| r.get::<_, Vec<u8>>(0)).or_backend()?;
        rows.map(|row| row.or_backend()).collect()
    }
}

impl Store for SqliteStore {
    fn generation(&self) -> Result<u64, StoreError> {
        read_generation(&self.lock())
    }

    fn commit(&self, expected: u64, changes: &ChangeSet) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        // The write lock first, so that the generation read is the latest
        // and no other writer can commit before this one does.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).or_backend()?;
        let found = read_generation(&tx)?;
        if found != expected {
            return Err(StoreError::Conflict { expected, found }); // `tx` dropped: rolled back
        }
        let next = expected
            .checked_add(1)
            .and_then(|next| i64::try_from(next).ok())
            .ok_or(backend(SqliteStoreError::Corrupt("generation out of range")))?;
        if let Some(account) = &changes.account {
            tx.prepare_cached(
                "INSERT INTO account (id, record) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            )
            .and_then(|mut s| s.execute([account]))
            .or_backend()?;
        }
        for (user, value) in &changes.users {
            match value {
                Some(record) => tx
                    .prepare_cached(
                        "INSERT INTO users (user, record) VALUES (?1, ?2)
                         ON CONFLICT (user) DO UPDATE SET record = excluded.record",
                    )
                    .and_then(|mut s| s.execute(params![user, record])),
                None => tx.prepare_cached("DELETE FROM users WHERE user = ?1").and_then(|mut s| s.execute([user])),
            }
            .or_backend()?;
        }
        for (address, value) in &changes.sessions {
            write_address_row(
                &tx,
                "INSERT INTO sessions (user, device, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user, device) DO UPDATE SET record = excluded.record",
                "DELETE FROM sessions WHERE user = ?1 AND device = ?2",
                address,
                value.as_deref(),
            )?;
        }
        for (address, value) in &changes.requests {
            write_address_row(
                &tx,
                "INSERT INTO requests (user, device, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user, device) DO UPDATE SET record = excluded.record",
                "DELETE FROM requests WHERE user = ?1 AND device = ?2",
                address,
                value.as_deref(),
            )?;
        }
        for (group_id, value) in &changes.groups {
            match value {
                Some(record) => tx
                    .prepare_cached(
                        "INSERT INTO \"groups\" (group_id, record) VALUES (?1, ?2)
                         ON CONFLICT (group_id) DO UPDATE SET record = excluded.record",
                    )
                    .and_then(|mut s| s.execute(params![group_id, record])),
                None => tx
                    .prepare_cached("DELETE FROM \"groups\" WHERE group_id = ?1")
                    .and_then(|mut s| s.execute([group_id])),
            }
            .or_backend()?;
        }
        for write in &changes.app {
            match write.value() {
                Some(value) => tx
                    .prepare_cached(
                        "INSERT INTO app_rows (namespace, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (namespace, key) DO UPDATE
                         SET value = excluded.value, expires_at = excluded.expires_at",
                    )
                    .and_then(|mut s| {
                        // Stored as a signed integer: an expiry past i64::MAX is
                        // i64::MAX, as `purge_expired` reads a `now` past it.
                        let expires_at = write.expiry().map(|at| i64::try_from(at).unwrap_or(i64::MAX));
                        s.execute(params![write.namespace(), write.key(), value, expires_at])
                    }),
                None => tx
                    .prepare_cached("DELETE FROM app_rows WHERE namespace = ?1 AND key = ?2")
                    .and_then(|mut s| s.execute(params![write.namespace(), write.key()])),
            }
            .or_backend()?;
        }
        tx.execute("UPDATE meta SET value = ?1 WHERE name = 'generation'", [next]).or_backend()?;
        tx.commit().or_backend()?;
        Ok(expected.saturating_add(1))
    }

    fn app_row(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.load("SELECT value FROM app_rows WHERE namespace = ?1 AND key = ?2", params![namespace, key])
    }

    /// One `BEGIN IMMEDIATE` transaction selects and deletes the expired
    /// rows (`secure_delete` overwrites their bytes in the pages written),
    /// then a `wal_checkpoint(TRUNCATE)` copies those pages into the
    /// database file and empties the write-ahead log, so no older frame
    /// there still holds the rows. A checkpoint that another connection's
    /// reader holds up is left for SQLite's next one.
    fn purge_expired(&self, now: u64) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).or_backend()?;
        let expired = {
            let mut select = tx
                .prepare_cached(
                    "SELECT namespace, key FROM app_rows WHERE expires_at IS NOT NULL AND expires_at <= ?1
                     ORDER BY namespace, key",
                )
                .or_backend()?;
            let rows = select.query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)));
            rows.and_then(Iterator::collect::<Result<Vec<_>, _>>).or_backend()?
        };
        if expired.is_empty() {
            return Ok(expired);
        }
        tx.execute("DELETE FROM app_rows WHERE expires_at IS NOT NULL AND expires_at <= ?1", [now]).or_backend()?;
        tx.commit().or_backend()?;
        if self.path.is_some() {
            // (busy, log frames, checkpointed frames): a busy checkpoint is
            // not an error, the rows are deleted either way.
            let _: (i64, i64, i64) = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .or_backend()?;
        }
        Ok(expired)
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
