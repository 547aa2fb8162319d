//! Operations on the database as a whole: backups, integrity and readiness checks.

use std::path::Path;
use std::sync::OnceLock;

use super::migrations::{self, StatusError};
use super::{Result, Store, contact_fields, info_bodies, outbox};

/// The first sign this process saw of a damaged database file: an error of any query,
/// or the check `serve` runs at start-up. One process serves one file, so it is kept
/// here rather than in every handle on the store.
static DAMAGE: OnceLock<String> = OnceLock::new();

/// Notes `e` when it says the file is damaged.
pub(super) fn note_damage(e: &rusqlite::Error) {
    if is_damage(e) && DAMAGE.set(e.to_string()).is_ok() {
        tracing::error!(error = %e, "the database file is damaged; run `contactd check`");
    }
}

/// What this process has seen of a damaged file, if anything.
pub fn damage_found() -> Option<&'static str> {
    DAMAGE.get().map(String::as_str)
}

/// The biggest file whose every page `serve` reads at start-up.
const PAGE_CHECK_WHOLE_UP_TO: u64 = 1 << 30;

/// How many contacts with a stale `/info` answer `check` names before it stops looking.
pub const STALE_REPORTED: usize = 20;

/// What `contactd check` found; healthy when every list is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Lines of `PRAGMA integrity_check` other than its lone "ok".
    pub integrity: Vec<String>,
    /// Rows of `PRAGMA foreign_key_check`: references to rows that are not there.
    pub foreign_keys: Vec<String>,
    /// Contacts whose stored `/info` answer is not the one their rows render (at most
    /// `STALE_REPORTED` of them).
    pub info_bodies: Vec<String>,
    /// Entries the custom-field index lacks or has in excess (at most `STALE_REPORTED`).
    pub field_index: Vec<String>,
    /// Migrations this binary knows that the database has not applied.
    pub pending_migrations: Vec<String>,
    /// Migrations the database has applied, oldest first.
    pub applied_migrations: Vec<String>,
    /// Why `serve` and `migrate` would refuse this database's schema history.
    pub schema_problem: Option<String>,
    /// The file is damaged (`integrity` says how): nothing else was checked, as reading
    /// rows of a damaged file gives errors about the rows, not about the file.
    pub damaged: bool,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        !self.damaged
            && self.integrity.is_empty()
            && self.foreign_keys.is_empty()
            && self.info_bodies.is_empty()
            && self.field_index.is_empty()
            && self.pending_migrations.is_empty()
            && self.schema_problem.is_none()
    }
}

/// Rows counted for the metrics gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub contacts: i64,
    pub live_keys: i64,
    /// Webhook deliveries waiting for an attempt or a retry.
    pub pending_deliveries: i64,
}

/// Whether the server can answer from the database right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

impl Store {
    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// Contacts and live keys. Counting contacts reads the client index, the smallest
    /// one that holds them all: some tens of milliseconds at a million contacts.
    pub fn counts(&self) -> Result<Counts> {
        let conn = self.conn()?;
        Ok(Counts {
            contacts: conn.query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))?,
            live_keys: conn.query_row(
                "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL",
                [],
                |r| r.get(0),
            )?,
            pending_deliveries: outbox::pending_count(&conn)?,
        })
    }

    /// A consistent copy of the live database at `dest` (`VACUUM INTO`: one read
    /// snapshot, compacted, safe while the server runs). `dest` must not exist.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        let conn = self.conn()?;
        conn.execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
        Ok(())
    }

    /// Integrity, dangling references and migration status, for `contactd check`.
    pub fn health(&self) -> Result<Health> {
        let conn = self.conn()?;
        let integrity = integrity_findings(&conn)?;
        if !integrity.is_empty() {
            return Ok(Health {
                integrity,
                damaged: true,
                ..Health::default()
            });
        }
        let foreign_keys = {
            let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
            let rows = stmt.query_map([], |r| {
                Ok(format!(
                    "a row of {} (rowid {:?}) refers to a missing row of {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let (status, schema_problem) = match migrations::status(&conn) {
            Ok(status) => (status, None),
            Err(StatusError::Schema(problem)) => (
                migrations::Status {
                    applied: Vec::new(),
                    pending: Vec::new(),
                },
                Some(problem.to_string()),
            ),
            Err(StatusError::Sqlite(e)) => return Err(e.into()),
        };
        // A database with migrations pending may lack the read model to compare.
        let (info_bodies, field_index) = if status.pending.is_empty() && schema_problem.is_none() {
            (
                info_bodies::stale(&conn, STALE_REPORTED)?,
                contact_fields::stale(&conn, STALE_REPORTED)?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Health {
            integrity,
            foreign_keys,
            info_bodies,
            field_index,
            pending_migrations: status.pending,
            applied_migrations: status.applied,
            schema_problem,
            damaged: false,
        })
    }

    /// Reads every page of every table and index once (`PRAGMA quick_check`, a table at
    /// a time) on a low-priority thread of its own, so the port opens at once; damage
    /// found makes `/readyz` say so, and is logged. A file bigger than
    /// `PAGE_CHECK_WHOLE_UP_TO` has its schema checked only, and the log says so.
    ///
    /// A check is a read transaction: while one is open, checkpoints cannot pass its
    /// snapshot, the WAL grows, and every checkpoint tried meanwhile sorts the whole of it
    /// again. One check of a 3 GiB file made writes three times slower for the minute it
    /// took and left a 1.4 GiB WAL; a table at a time of a file of 1 GiB or less is over
    /// in seconds. Damage the check does not reach is still seen by the first query that
    /// meets it (`note_damage`), which turns `/readyz` to 503 from then on.
    pub fn check_pages_in_background(&self) {
        let store = self.clone();
        let spawned = std::thread::Builder::new()
            .name("contactd-page-check".to_owned())
            .spawn(move || {
                crate::background::yield_to_the_api();
                let started = std::time::Instant::now();
                let size = std::fs::metadata(&store.path).map_or(0, |m| m.len());
                let whole = size <= PAGE_CHECK_WHOLE_UP_TO;
                let findings = store.conn().map_err(|e| e.to_string()).and_then(|conn| {
                    quick_check_by_table(&conn, whole).map_err(|e| e.to_string())
                });
                match findings {
                    Ok(findings) if findings.is_empty() && whole => tracing::info!(
                        seconds = started.elapsed().as_secs_f64(),
                        "page check at start-up: no damage found"
                    ),
                    Ok(findings) if findings.is_empty() => tracing::info!(
                        mib = size >> 20,
                        "page check at start-up: the schema is sound; the file is too big \
                         to read whole beside the API (`contactd check` reads it all)"
                    ),
                    Ok(findings) => {
                        let found = findings.join("; ");
                        tracing::error!(%found, "the database file is damaged; run `contactd check`");
                        let _ = DAMAGE.set(found);
                    }
                    Err(e) => tracing::warn!(error = %e, "the page check at start-up did not run"),
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "the page check at start-up did not start");
        }
    }

    /// Ready when a pooled connection answers and every migration is applied, and no
    /// damage was seen.
    pub fn readiness(&self) -> Readiness {
        if let Some(damage) = damage_found() {
            return Readiness::NotReady(format!(
                "the database file is damaged ({damage}); stop the server and run \
                 `contactd check`"
            ));
        }
        let check = || -> Result<Vec<String>, String> {
            let conn = self.conn().map_err(|e| e.to_string())?;
            let status = migrations::status(&conn).map_err(|e| e.to_string())?;
            Ok(status.pending)
        };
        match check() {
            Ok(pending) if pending.is_empty() => Readiness::Ready,
            Ok(pending) => {
                Readiness::NotReady(format!("pending migrations: {}", pending.join(", ")))
            }
            Err(reason) => Readiness::NotReady(reason),
        }
    }
}

/// What `PRAGMA integrity_check` finds, as lines (none when the file is sound). On a file
/// damaged enough that the check itself stops, SQLite's words for why, after the lines
/// it gave before stopping. Its lines name pages and indexes, never row contents.
fn integrity_findings(conn: &rusqlite::Connection) -> Result<Vec<String>> {
    findings_of(conn, "PRAGMA integrity_check")
}

/// `integrity_check` without the index and constraint checks, one table (with its
/// indexes) at a time, each in a read transaction of its own: every page of every
/// b-tree read once, or only the schema's unless `whole`. Stops at the first table with
/// findings.
fn quick_check_by_table(conn: &rusqlite::Connection, whole: bool) -> Result<Vec<String>> {
    let tables = if whole {
        let listed = conn
            .prepare(
                "SELECT name FROM sqlite_schema
                 WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'
                 ORDER BY rootpage",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            });
        match listed {
            Ok(tables) => tables,
            Err(e) if is_damage(&e) => return Ok(vec![format!("the check stopped: {e}")]),
            Err(e) => return Err(e.into()),
        }
    } else {
        Vec::new()
    };
    for table in std::iter::once("sqlite_schema".to_owned()).chain(tables) {
        let pragma = format!("PRAGMA quick_check('{}')", table.replace('\'', "''"));
        let findings = findings_of(conn, &pragma)?;
        if !findings.is_empty() {
            return Ok(findings);
        }
    }
    Ok(Vec::new())
}

fn findings_of(conn: &rusqlite::Connection, pragma: &str) -> Result<Vec<String>> {
    let mut findings = Vec::new();
    let stopped = (|| {
        let mut stmt = conn.prepare(pragma)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let text: String = row.get(0)?;
            // A finding may span lines, under a "*** in database main ***" heading.
            findings.extend(
                text.lines()
                    .filter(|line| *line != "ok" && !line.starts_with("***"))
                    .map(str::to_owned),
            );
        }
        Ok::<_, rusqlite::Error>(())
    })();
    match stopped {
        Ok(()) => Ok(findings),
        Err(e) if is_damage(&e) => {
            findings.push(format!("the check stopped: {e}"));
            Ok(findings)
        }
        Err(e) => Err(e.into()),
    }
}

/// SQLite's errors for a file that is damaged or not a database at all.
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}
