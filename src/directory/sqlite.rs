//! [`SqliteDirectory`]: a [`DirectoryStore`] in SQLite.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::PreKeyCounts;
use super::store::{Claim, DeviceRow, DirectoryStore};
use crate::address::Address;
use crate::store::StoreError;
use crate::store::sqlite::{BUSY_TIMEOUT, OrBackend, backend};

/// The schema version of a [`SqliteDirectory`] database
/// (`directory_meta.schema_version`).
pub const DIRECTORY_SCHEMA_VERSION: u32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS directory_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS directory_devices (
    user TEXT NOT NULL, device INTEGER NOT NULL, upload BLOB NOT NULL,
    one_time_mark INTEGER NOT NULL, pq_mark INTEGER NOT NULL, last_batch BLOB NOT NULL,
    version INTEGER NOT NULL, PRIMARY KEY (user, device));
CREATE TABLE IF NOT EXISTS directory_one_time (
    user TEXT NOT NULL, device INTEGER NOT NULL, id INTEGER NOT NULL, key BLOB NOT NULL,
    PRIMARY KEY (user, device, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS directory_pq_one_time (
    user TEXT NOT NULL, device INTEGER NOT NULL, id INTEGER NOT NULL, field BLOB NOT NULL,
    PRIMARY KEY (user, device, id));
";

/// A [`DirectoryStore`] in an SQLite database: tables `directory_meta`,
/// `directory_devices`, `directory_one_time` and `directory_pq_one_time`
/// (docs/PROTOCOL.md §4.8), which may share a file with the server's own
/// tables. Every method is one transaction; a claim is one
/// `BEGIN IMMEDIATE` transaction that selects and deletes the lowest-id
/// one-time prekey of each kind, so several processes (or several
/// `SqliteDirectory` values on one file) never hand out the same key.
pub struct SqliteDirectory {
    conn: Mutex<Connection>,
}

impl core::fmt::Debug for SqliteDirectory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteDirectory").finish_non_exhaustive()
    }
}

impl SqliteDirectory {
    /// Opens (creating if needed) a directory database file. Several
    /// processes may open the same file; each waits up to five seconds
    /// for another's write lock.
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaVersion`] for a database of a newer directory
    /// schema (unchanged), or [`StoreError::Backend`] if SQLite fails.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path).or_backend()?;
        Self::setup(conn, true)
    }

    /// A new, empty directory in memory (for tests).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if SQLite fails.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory().or_backend()?, false)
    }

    fn setup(mut conn: Connection, file: bool) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).or_backend()?;
        // A claim that returned must stay claimed after a power cut, or
        // the key could be handed out twice.
        conn.execute_batch("PRAGMA synchronous = FULL;").or_backend()?;
        if file {
            let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).or_backend()?;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).or_backend()?;
        tx.execute_batch(SCHEMA).or_backend()?;
        let found: Option<i64> = tx
            .query_row("SELECT value FROM directory_meta WHERE name = 'schema_version'", [], |r| r.get(0))
            .optional()
            .or_backend()?;
        match found {
            None => {
                tx.execute(
                    "INSERT INTO directory_meta (name, value) VALUES ('schema_version', ?1)",
                    [DIRECTORY_SCHEMA_VERSION],
                )
                .or_backend()?;
            }
            Some(v) if v == i64::from(DIRECTORY_SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(StoreError::SchemaVersion {
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                    supported: DIRECTORY_SCHEMA_VERSION,
                });
            }
        }
        tx.commit().or_backend()?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // An open transaction is rolled back when dropped during unwinding.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Converts an integer column to `u32`, refusing what this store never
/// writes.
fn column_u32(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Backend("a directory id or count is out of range".into()))
}

fn counts(tx: &Transaction<'_>, device: &Address) -> Result<PreKeyCounts, StoreError> {
    let count = |table: &str| -> Result<u32, StoreError> {
        let sql = format!("SELECT count(*) FROM {table} WHERE user = ?1 AND device = ?2");
        let n: i64 = tx.query_row(&sql, params![device.user(), device.device()], |r| r.get(0)).or_backend()?;
        column_u32(n)
    };
    Ok(PreKeyCounts::new(count("directory_one_time")?, count("directory_pq_one_time")?))
}

impl DirectoryStore for SqliteDirectory {
    fn load(&self, device: &Address) -> Result<Option<DeviceRow>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().or_backend()?;
        let row = tx
            .query_row(
                "SELECT upload, one_time_mark, pq_mark, last_batch, version FROM directory_devices
                 WHERE user = ?1 AND device = ?2",
                params![device.user(), device.device()],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()
            .or_backend()?;
        let Some((upload, one_time_mark, pq_mark, last_batch, version)) = row else { return Ok(None) };
        let last_batch = <[u8; 32]>::try_from(last_batch.as_slice())
            .map_err(|_| StoreError::Backend("a directory batch digest is not 32 bytes".into()))?;
        let row = DeviceRow {
            upload,
            one_time_mark: column_u32(one_time_mark)?,
            pq_mark: column_u32(pq_mark)?,
            last_batch,
            version: u64::try_from(version).map_err(backend)?,
            counts: counts(&tx, device)?,
        };
        Ok(Some(row))
    }

    fn save(
        &self,
        device: &Address,
        expected: Option<u64>,
        row: &DeviceRow,
        one_time: &[(u32, [u8; 32])],
        pq_one_time: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).or_backend()?;
        let found: Option<i64> = tx
            .query_row(
                "SELECT version FROM directory_devices WHERE user = ?1 AND device = ?2",
                params![device.user(), device.device()],
                |r| r.get(0),
            )
            .optional()
            .or_backend()?;
        let found = found.map(u64::try_from).transpose().map_err(backend)?;
        if found != expected {
            return Err(StoreError::Conflict { expected: expected.unwrap_or(0), found: found.unwrap_or(0) });
        }
        let version = i64::try_from(found.map_or(1, |v| v.saturating_add(1))).map_err(backend)?;
        tx.execute(
            "INSERT INTO directory_devices (user, device, upload, one_time_mark, pq_mark, last_batch, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (user, device) DO UPDATE SET upload = ?3, one_time_mark = ?4, pq_mark = ?5,
                 last_batch = ?6, version = ?7",
            params![
                device.user(),
                device.device(),
                row.upload,
                row.one_time_mark,
                row.pq_mark,
                row.last_batch.as_slice(),
                version
            ],
        )
        .or_backend()?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO directory_one_time (user, device, id, key) VALUES (?1, ?2, ?3, ?4)")
                .or_backend()?;
            for (id, key) in one_time {
                insert.execute(params![device.user(), device.device(), id, key.as_slice()]).or_backend()?;
            }
            let mut insert = tx
                .prepare_cached("INSERT INTO directory_pq_one_time (user, device, id, field) VALUES (?1, ?2, ?3, ?4)")
                .or_backend()?;
            for (id, field) in pq_one_time {
                insert.execute(params![device.user(), device.device(), id, field]).or_backend()?;
            }
        }
        tx.commit().or_backend()
    }

    fn claim(&self, device: &Address) -> Result<Option<Claim>, StoreError> {
        let mut conn = self.lock();
        // Take the write lock first: select and delete in one step for
        // every process on the file.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).or_backend()?;
        let upload: Option<Vec<u8>> = tx
            .query_row(
                "SELECT upload FROM directory_devices WHERE user = ?1 AND device = ?2",
                params![device.user(), device.device()],
                |r| r.get(0),
            )
            .optional()
            .or_backend()?;
        let Some(upload) = upload else { return Ok(None) };
        let one_time: Option<(u32, Vec<u8>)> = tx
            .query_row(
                "DELETE FROM directory_one_time WHERE user = ?1 AND device = ?2 AND id =
                    (SELECT min(id) FROM directory_one_time WHERE user = ?1 AND device = ?2)
                 RETURNING id, key",
                params![device.user(), device.device()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .or_backend()?;
        let one_time = match one_time {
            Some((id, key)) => Some((
                id,
                <[u8; 32]>::try_from(key.as_slice())
                    .map_err(|_| StoreError::Backend("a directory one-time prekey is not 32 bytes".into()))?,
            )),
            None => None,
        };
        let pq_one_time: Option<Vec<u8>> = tx
            .query_row(
                "DELETE FROM directory_pq_one_time WHERE user = ?1 AND device = ?2 AND id =
                    (SELECT min(id) FROM directory_pq_one_time WHERE user = ?1 AND device = ?2)
                 RETURNING field",
                params![device.user(), device.device()],
                |r| r.get(0),
            )
            .optional()
            .or_backend()?;
        let left = counts(&tx, device)?;
        tx.commit().or_backend()?;
        Ok(Some(Claim { upload, one_time, pq_one_time, left }))
    }

    fn remove(&self, device: &Address) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).or_backend()?;
        let p = params![device.user(), device.device()];
        tx.execute("DELETE FROM directory_one_time WHERE user = ?1 AND device = ?2", p).or_backend()?;
        tx.execute("DELETE FROM directory_pq_one_time WHERE user = ?1 AND device = ?2", p).or_backend()?;
        let rows = tx.execute("DELETE FROM directory_devices WHERE user = ?1 AND device = ?2", p).or_backend()?;
        tx.commit().or_backend()?;
        Ok(rows > 0)
    }
}
