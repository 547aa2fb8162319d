//! Operations on the database as a whole: backups, integrity and readiness checks.

use std::path::Path;

use super::migrations::{self, StatusError};
use super::{Result, Store, info_bodies, outbox};

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
    /// Migrations this binary knows that the database has not applied.
    pub pending_migrations: Vec<String>,
    /// Migrations the database has applied, oldest first.
    pub applied_migrations: Vec<String>,
    /// Why `serve` and `migrate` would refuse this database's schema history.
    pub schema_problem: Option<String>,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.integrity.is_empty()
            && self.foreign_keys.is_empty()
            && self.info_bodies.is_empty()
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
        let integrity = column_strings(&conn, "PRAGMA integrity_check")?
            .into_iter()
            .filter(|line| line != "ok")
            .collect();
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
        // A database before V3 has no read model to compare.
        let info_bodies = if status.pending.is_empty() && schema_problem.is_none() {
            info_bodies::stale(&conn, STALE_REPORTED)?
        } else {
            Vec::new()
        };
        Ok(Health {
            integrity,
            foreign_keys,
            info_bodies,
            pending_migrations: status.pending,
            applied_migrations: status.applied,
            schema_problem,
        })
    }

    /// Ready when a pooled connection answers and every migration is applied.
    pub fn readiness(&self) -> Readiness {
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

fn column_strings(conn: &rusqlite::Connection, sql: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
}
