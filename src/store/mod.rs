//! Storage: one SQLite file behind an r2d2 pool. Every SQL statement lives in this module.

mod api_keys;
mod channels;
mod columns;
mod contact_fields;
mod contact_list;
mod contacts;
mod conversation;
mod fixture_writes;
mod info_bodies;
mod maintenance;
mod messages;
pub mod migrations;
mod outbox;
mod pipelines;
mod reader;
mod search;
mod sender_store;
mod team_members;
mod tickets;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::model::{ContactId, InfoBody};

pub use api_keys::{ApiKeyRecord, KeyOwner, Revocation};
pub use conversation::Refusal;
pub use fixture_writes::FixtureWriter;
pub use maintenance::{Counts, Health, Readiness, damage_found};
pub use outbox::{Attempt, Claimed, Outcome, RetryWrite, Step};
pub use reader::Reader;
pub use sender_store::Outbox;
pub use webhooks::WebhookWrite;
pub use writer::{MetadataWrite, OnCommit, Writer};

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// How long a statement waits for another writer before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a load into a new database waits for the file to itself (`write_direct`).
const DIRECT_WAIT: Duration = Duration::from_millis(500);

/// Page cache sizes, in KiB (SQLite takes a negative `cache_size` as KiB). A serving
/// connection keeps 8 MiB: the inner pages of the read model's index and table (about
/// 4 MiB at a million contacts) then stay cached, and a request reads two leaves only.
const BULK_CACHE_KIB: i64 = -1024 * 1024;
/// The writer's one connection keeps 64 MiB: a write reads the inner pages of every
/// table and index it touches (contacts, tickets, messages, the read model, the search
/// source), about 50 MiB at a million contacts; at 8 MiB each write re-read some of them
/// from the OS (a tenth of the writer's time in `pread` at 1M).
const WRITER_CACHE_KIB: i64 = -64 * 1024;
const DEFAULT_CACHE_KIB: i64 = -8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database folder {}: {source}", path.display())]
    CreateFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "there is no database at {}; `contactd migrate`, `fixtures load` or `serve` make one",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error("cannot open the database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot use the database {}: {problem}", path.display())]
    Schema {
        path: PathBuf,
        problem: migrations::SchemaProblem,
    },
    #[error(
        "the database {} needs migrations {} first; run `contactd migrate`",
        path.display(), pending.join(", ")
    )]
    Pending { path: PathBuf, pending: Vec<String> },
    #[error("migration {name} failed: {source}")]
    Migration {
        name: String,
        source: rusqlite::Error,
    },
    #[error("cannot start the writer thread: {0}")]
    StartWriter(#[source] std::io::Error),
    #[error("the writer thread has stopped")]
    WriterStopped,
    #[error("a write panicked; it was rolled back")]
    WritePanicked,
    #[error("the write's transaction failed: {0}")]
    Transaction(#[source] Arc<rusqlite::Error>),
    #[error("cannot render a contact's /info answer: {0}")]
    Render(#[from] serde_json::Error),
    #[error("no pooled database connection: {0}")]
    Pool(#[from] r2d2::Error),
    /// A conversation write (SPEC 11) that the stored data refuses; its savepoint is
    /// rolled back, so nothing of it stays.
    #[error("the write was refused: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        maintenance::note_damage(&e);
        Self::Sqlite(e)
    }
}

impl StoreError {
    /// True when another connection held the write lock for longer than the busy
    /// timeout: a moment of load (such as a fixture load in another process), not a
    /// fault.
    pub fn is_busy(&self) -> bool {
        let sqlite = match self {
            Self::Sqlite(e) => e,
            Self::Transaction(e) => &**e,
            _ => return false,
        };
        sqlite.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
    }
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
    path: PathBuf,
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
        // One direct connection first, so that a bad file fails at once with SQLite's own
        // words rather than after the pool's connection timeout.
        let mut conn = connect(path, open_flags())?;
        use_wal(&conn).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let applied = migrations::apply(&mut conn, path)?;
        drop(conn);
        Ok((Self::with_pool(options)?, applied))
    }

    /// Opens a database that must already exist, changing nothing: for `backup` and
    /// `check`, which must not create, migrate or refuse what they are asked to copy or
    /// inspect.
    pub fn open_existing(options: &StoreOptions) -> Result<Self> {
        if !options.path.is_file() {
            return Err(StoreError::Missing {
                path: options.path.clone(),
            });
        }
        connect(&options.path, open_flags() - OpenFlags::SQLITE_OPEN_CREATE)?;
        Self::with_pool(options)
    }

    /// Opens a database that must already exist with every migration applied: for
    /// commands that read or change rows but must not create or migrate a database.
    pub fn open_current(options: &StoreOptions) -> Result<Self> {
        let store = Self::open_existing(options)?;
        let status = migrations::status(&*store.conn()?).map_err(|e| e.at(&options.path))?;
        if !status.pending.is_empty() {
            return Err(StoreError::Pending {
                path: options.path.clone(),
                pending: status.pending,
            });
        }
        Ok(store)
    }

    fn with_pool(options: &StoreOptions) -> Result<Self> {
        let path = &options.path;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(open_flags())
            .with_init(configure_connection);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size)
            // None kept open ahead of need: a load into a new database can leave WAL
            // mode only while it is the file's one connection (`write_direct`), and an
            // idle one the pool opened on the side would stop it. `open` and
            // `open_existing` have already tried the file with a connection of their own.
            .min_idle(Some(0))
            .connection_timeout(BUSY_TIMEOUT)
            .build(manager)?;
        Ok(Self {
            pool,
            path: path.clone(),
        })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>> {
        Ok(self.pool.get()?)
    }

    /// A connection of its own for one HTTP worker thread, held for the worker's life.
    pub fn reader(&self) -> Result<Reader> {
        Ok(Reader::new(self.conn()?))
    }

    /// Starts the thread that runs the API's writes, on a connection of its own that
    /// commits with `synchronous = FULL`: an acknowledged write is on disk.
    pub fn start_writer(&self, on_commit: Option<OnCommit>) -> Result<Writer> {
        let conn = connect(&self.path, open_flags())?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        Writer::start(conn, on_commit).map_err(StoreError::StartWriter)
    }

    /// The webhook sender's access to the outbox: reads on a connection of its own,
    /// writes through `writer`.
    pub fn outbox(&self, writer: Writer) -> Result<Outbox> {
        Ok(Outbox::new(connect(&self.path, open_flags())?, writer))
    }

    /// Contact `id`'s `/info` answer rendered now from its rows, not read from the read
    /// model: what the stored one must equal.
    pub fn render_from_source(&self, id: &ContactId) -> Result<Option<InfoBody>> {
        info_bodies::rendered_from_rows(&*self.conn()?, id)
    }

    /// True when no client has been stored yet: a new database.
    pub fn is_empty(&self) -> Result<bool> {
        api_keys::no_client(&*self.conn()?)
    }

    /// Runs `f` in one immediate transaction: committed when it returns `Ok`, rolled back
    /// (leaving the database exactly as it was) when it returns `Err`.
    pub fn write<T, E>(&self, f: impl FnOnce(&FixtureWriter<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.conn()?;
        let direct = api_keys::no_client(&conn)? && write_direct(&conn);
        // A bulk load touches index pages all over the file; SQLite's default 2 MB page
        // cache makes it re-read them. The larger cache is dropped with the transaction,
        // so the serving connections stay small.
        conn.pragma_update(None, "cache_size", BULK_CACHE_KIB)
            .map_err(StoreError::from)?;
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let writer = FixtureWriter::new(&tx)?;
            let value = f(&writer)?;
            writer.build_indexes()?;
            drop(writer);
            tx.commit().map_err(StoreError::from)?;
            Ok(value)
        })();
        if direct {
            back_to_wal(&conn);
        } else if result.is_ok() {
            // A big load leaves a WAL the size of what it wrote, and while a server has
            // the file open nobody shrinks it: copy it into the file and truncate it now
            // (this waits for the server's readers at most the busy timeout; should one
            // hold on longer, the WAL stays until the next chance, which is harmless).
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                tracing::debug!(error = %e, "the WAL was not truncated after the load");
            }
        }
        conn.pragma_update(None, "cache_size", DEFAULT_CACHE_KIB)
            .map_err(StoreError::from)?;
        result
    }
}

/// Opens and configures one connection, with SQLite's own words on failure (such as
/// "file is not a database").
fn connect(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let open_error = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
    configure_connection(&mut conn).map_err(open_error)?;
    Ok(conn)
}

/// Turns the file to WAL mode (a no-op once it is). Turning a new file needs it to
/// itself for a moment, and SQLite answers "database is locked" at once rather than wait
/// when another process has it open just then (several `migrate`s or servers started on a
/// new file together), so this waits as a busy handler would.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    while_busy(BUSY_TIMEOUT, || {
        conn.pragma_update(None, "journal_mode", "WAL")
    })
}

/// Runs `f` again while SQLite answers "database is locked", for at most `wait`: a change
/// of journal mode is refused at once, without the busy handler, while another
/// connection has the file open.
fn while_busy<T>(
    wait: Duration,
    mut f: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match f() {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

/// Whether a load into a new database may write its pages straight into the file: in
/// WAL mode each page is written twice, once into the WAL and again by the checkpoint
/// (25 of 122 s of a million-contact load). Possible only when no other connection has
/// the file open (SQLite refuses to leave WAL mode otherwise, and the load then goes
/// through the WAL as any other write). A crash during such a load leaves a hot rollback
/// journal, which the next connection plays back: the file is the new database it was.
/// Commits sync the journal and the file (`synchronous = FULL`): in rollback mode that
/// is what keeps a power cut from corrupting it.
fn write_direct(conn: &Connection) -> bool {
    // Another process may have the file open for a moment (a `migrate`, a `check`); a
    // server's connections stay, and the load goes through the WAL after this short wait.
    let mode = while_busy(DIRECT_WAIT, || {
        conn.query_row("PRAGMA journal_mode = DELETE", [], |row| {
            row.get::<_, String>(0)
        })
    });
    match mode {
        Ok(mode) if mode.eq_ignore_ascii_case("delete") => {
            if conn.pragma_update(None, "synchronous", "FULL").is_ok() {
                return true;
            }
            back_to_wal(conn);
            false
        }
        Ok(_) => false,
        Err(e) => {
            tracing::debug!(error = %e, "the load goes through the WAL: the file is in use");
            false
        }
    }
}

/// Undoes `write_direct`. Should another process have opened the file meanwhile, it
/// stays in rollback mode until the next `Store::open`, which turns WAL on again.
fn back_to_wal(conn: &Connection) {
    if let Err(e) = use_wal(conn).and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL")) {
        tracing::warn!(error = %e, "the database stays in rollback-journal mode after the load");
    }
}

fn open_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// Per-connection settings, in one place for the direct connection and the pool.
///
/// Never run `ANALYZE` or `PRAGMA optimize` on these databases: the bundled SQLite is
/// built with STAT4, and with its statistics present `prepare_cached` statements are
/// re-prepared for every new bound value, which halves the endpoint's throughput.
///
/// No `mmap_size` here: SQLite drops a connection's whole map at every commit it sees,
/// which under the API's writes costs reads more than the map saves (BENCHMARKS.md,
/// "Writes"). The HTTP workers' readers map the file only while nobody writes
/// (`Reader`, in reader.rs).
fn configure_connection(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // temp_store: statement journals of upserts go to memory, not to a temp file.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
    )?;
    conn.pragma_update(None, "cache_size", DEFAULT_CACHE_KIB)
}

#[cfg(test)]
pub(crate) fn open_in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("in-memory database");
    configure_connection(&mut conn).expect("pragmas");
    conn
}

/// An in-memory database with every migration applied.
#[cfg(test)]
pub(crate) fn migrated_in_memory() -> Connection {
    let mut conn = open_in_memory();
    migrations::apply(&mut conn, Path::new(":memory:")).expect("migrations");
    conn
}

/// Inserts a contact with only what the schema requires, `metadata` and an optional
/// active ticket (whose row the caller writes; the reference is checked at commit).
#[cfg(test)]
pub(crate) fn insert_bare_contact(
    conn: &Connection,
    id: &crate::model::ContactId,
    client: &crate::model::ClientId,
    metadata: &str,
    active_ticket: Option<&crate::model::ContactId>,
) {
    conn.prepare_cached(
        "INSERT INTO contacts (id, client_id, ai_customer_id, name, platform, created_at,
             last_message_at, chat_status, is_chat_read, blocked, metadata, updated_at,
             active_ticket_v2_id)
         VALUES (?1, ?2, ?1, 'n', 'webchat', 0, 0, 'ATTENDED', 0, 0, ?3, 0, ?4)",
    )
    .expect("insert")
    .execute((id, client, metadata, active_ticket))
    .expect("a bare contact");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ChatStatus, ClientId, Contact, ContactId, CustomerId, JsonObject, Platform, Routing,
        Ticket, TicketId, TicketStatus, Timestamp,
    };

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            path: dir.path().join("nested/folder/test.db"),
            pool_size: 2,
        };
        let (store, applied) = Store::open(&options).unwrap();
        assert_eq!(
            applied,
            vec![
                "V1__initial".to_owned(),
                "V2__family".to_owned(),
                "V3__read_model".to_owned(),
                "V4__search_bounds".to_owned(),
                "V5__webhooks".to_owned(),
                "V6__list_and_search_paths".to_owned(),
                "V7__custom_field_index".to_owned(),
                "V8__conversation".to_owned()
            ]
        );
        (dir, store)
    }

    fn schema(store: &Store) -> Vec<(String, String, String)> {
        let conn = store.conn().unwrap();
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY 2")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// A load into a new database sets its indexes aside: one that fails after that,
    /// with rows written, leaves the database empty and its schema whole.
    #[test]
    fn a_failed_load_into_an_empty_database_leaves_it_empty_with_every_index() {
        let (_dir, store) = temp_store();
        let before = schema(&store);
        let client = ClientId::new_random();
        let result: Result<()> = store.write(|w| {
            w.upsert_client(&client, "c")?;
            w.upsert_contact(
                &contact(client, None),
                &Routing::default(),
                Timestamp::now(),
                false,
            )?;
            Err(StoreError::from(rusqlite::Error::InvalidQuery))
        });
        assert!(result.is_err());
        assert!(store.is_empty().unwrap());
        assert_eq!(schema(&store), before);
    }

    fn contact(client: ClientId, active: Option<TicketId>) -> Contact {
        Contact {
            id: ContactId::new_random(),
            client_id: client,
            ai_customer_id: CustomerId::new_random(),
            name: "Zoë".to_owned(),
            email: None,
            phone: Some("+56 9".to_owned()),
            platform: Platform::WebWhatsapp,
            created_at: Timestamp::parse_rfc3339("2024-01-01T00:00:00.001Z").unwrap(),
            last_message_at: Timestamp::parse_rfc3339("2024-01-02T00:00:00Z").unwrap(),
            last_message_content: None,
            chat_status: ChatStatus::Pending,
            is_chat_read: true,
            blocked: false,
            default_stage_id: None,
            active_ticket_v2_id: active,
            last_closed_ticket_v2_id: None,
            current_integration_data: Some(JsonObject::parse(r#"{"n":1e400}"#).unwrap()),
            metadata: JsonObject::parse(r#"{ "spaced" : [ 1 , 2 ] }"#).unwrap(),
            updated_at: Timestamp::parse_rfc3339("2024-01-03T00:00:00Z").unwrap(),
        }
    }

    #[test]
    fn a_written_contact_reads_back_with_its_ticket_and_minified_json() {
        let (_dir, store) = temp_store();
        let client = ClientId::new_random();
        let ticket_id = TicketId::new_random();
        let mut written = contact(client, Some(ticket_id));
        let ticket = Ticket {
            id: ticket_id,
            ai_contact_id: written.id,
            status: TicketStatus::parse("OPEN").unwrap(),
            created_at: written.created_at,
            updated_at: written.last_message_at,
            ticket_summary: Some("s".to_owned()),
            metadata: JsonObject::empty(),
            stage_id: None,
        };
        store
            .write(|w| {
                w.upsert_client(&client, "c")?;
                w.upsert_contact(&written, &Routing::default(), written.updated_at, true)?;
                w.upsert_ticket(&ticket)?;
                w.refresh_info_bodies([&written.id])
            })
            .unwrap();

        let read = contacts::contact_info(&store.conn().unwrap(), &written.id)
            .unwrap()
            .unwrap();

        written.metadata = JsonObject::parse(r#"{"spaced":[1,2]}"#).unwrap();
        assert_eq!(read.contact, written);
        assert_eq!(read.active_ticket, Some(ticket));
        assert_eq!(read.last_closed_ticket, None);
        let reader = store.reader().unwrap();
        let served = reader.contact_body(&client, &written.id).unwrap().unwrap();
        assert_eq!(served, InfoBody::render(&read).unwrap());
        let text = String::from_utf8(served.body).unwrap();
        assert!(text.contains(r#""metadata":{"spaced":[1,2]}"#), "{text}");
        let other = ClientId::new_random();
        assert_eq!(reader.contact_body(&other, &written.id).unwrap(), None);
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let (_dir, store) = temp_store();
        let client = ClientId::new_random();

        let result: Result<()> = store.write(|w| {
            w.upsert_client(&client, "c")?;
            // A contact whose active ticket does not exist breaks a deferred foreign key.
            let c = contact(client, Some(TicketId::new_random()));
            w.upsert_contact(&c, &Routing::default(), c.updated_at, true)
                .map(|_| ())
        });

        assert!(result.is_err());
        assert!(store.is_empty().unwrap());
    }

    #[test]
    fn a_row_outside_the_model_is_an_error_not_a_wrong_answer() {
        let (_dir, store) = temp_store();
        let client = ClientId::new_random();
        let c = contact(client, None);
        store
            .write(|w| {
                w.upsert_client(&client, "c")?;
                w.upsert_contact(&c, &Routing::default(), c.updated_at, true)
                    .map(|_| ())
            })
            .unwrap();
        store
            .conn()
            .unwrap()
            .execute_batch(
                "PRAGMA ignore_check_constraints = ON;
                 UPDATE contacts SET chat_status = 'LOST';",
            )
            .unwrap();

        let err = contacts::contact_info(&store.conn().unwrap(), &c.id).unwrap_err();

        let said = err.to_string();
        assert!(said.contains("not a chat status (4 bytes)"), "{said}");
        assert!(
            !said.contains("LOST"),
            "row contents are never quoted: {said}"
        );
    }
}
