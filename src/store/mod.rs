//! Storage: one SQLite file behind an r2d2 pool. Every SQL statement lives in this module.

mod api_keys;
mod columns;
mod contacts;
mod fixture_writes;
pub mod migrations;

use std::path::PathBuf;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

pub use api_keys::{ApiKeyRecord, Revocation};
pub use fixture_writes::FixtureWriter;

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// How long a statement waits for another writer before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database folder {}: {source}", path.display())]
    CreateFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database {} has schema version {found}, newer than the {known} this contactd knows; \
         use the contactd release that wrote it (or newer)",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: refinery::SchemaVersion,
        known: refinery::SchemaVersion,
    },
    #[error("cannot migrate the database")]
    Migrate(#[from] refinery::Error),
    #[error("no pooled database connection: {0}")]
    Pool(#[from] r2d2::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Settings for opening the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub path: PathBuf,
    pub pool_size: u32,
}

/// A handle on the database; cheap to clone, shared by every worker.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// Creates the folder and file as needed, turns on WAL, applies pending migrations
    /// and returns the store with the names of the migrations it applied.
    pub fn open(options: &StoreOptions) -> Result<(Self, Vec<String>)> {
        let path = &options.path;
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::CreateFolder {
                path: folder.to_owned(),
                source,
            })?;
        }
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };

        // One direct connection first, so that a bad file fails at once with SQLite's own
        // words rather than after the pool's connection timeout.
        let mut conn = Connection::open_with_flags(path, open_flags()).map_err(open_error)?;
        configure_connection(&mut conn).map_err(open_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        let applied = migrations::apply(&mut conn, path)?;
        drop(conn);

        let manager = SqliteConnectionManager::file(path)
            .with_flags(open_flags())
            .with_init(configure_connection);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(1))
            .connection_timeout(BUSY_TIMEOUT)
            .build(manager)?;
        Ok((Self { pool }, applied))
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>> {
        Ok(self.pool.get()?)
    }

    /// True when no client has been stored yet: a new database.
    pub fn is_empty(&self) -> Result<bool> {
        let conn = self.conn()?;
        let any: bool =
            conn.query_row("SELECT EXISTS (SELECT 1 FROM clients)", [], |r| r.get(0))?;
        Ok(!any)
    }

    /// Runs `f` in one immediate transaction: committed when it returns `Ok`, rolled back
    /// (leaving the database exactly as it was) when it returns `Err`.
    pub fn write<T, E>(&self, f: impl FnOnce(&FixtureWriter<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = f(&FixtureWriter::new(&tx))?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }
}

fn open_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// Per-connection settings, in one place for the direct connection and the pool.
fn configure_connection(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
}

#[cfg(test)]
pub(crate) fn open_in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("in-memory database");
    configure_connection(&mut conn).expect("pragmas");
    conn
}
