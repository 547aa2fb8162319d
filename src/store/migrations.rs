//! The schema, as refinery migrations embedded from `migrations/` at compile time.
//!
//! refinery names, orders and checksums the migrations, and its history table
//! (`refinery_schema_history`) is the record of what a database has applied. Applying
//! them is done here rather than by refinery's runner, for two reasons: the check of the
//! history and the writes must happen under one write lock (`BEGIN IMMEDIATE`), or two
//! processes starting on a new file race to create the same tables; and a history row
//! that refinery cannot parse makes its runner panic, where this reads each row itself
//! and names the one that is wrong. The history rows are written exactly as refinery
//! writes them, so databases from either stay readable by both.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StoreError, info_bodies};

mod embedded {
    refinery::embed_migrations!("migrations");
}

const HISTORY_TABLE: &str = "refinery_schema_history";

/// What the history says, against the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Applied migrations, oldest first (`V1__initial`).
    pub applied: Vec<String>,
    /// Known migrations not applied yet, oldest first.
    pub pending: Vec<String>,
}

/// Why the history does not fit this binary. `serve`, `migrate` and `check` all refuse
/// a database for exactly these reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaProblem {
    #[error(
        "the database has schema version {found}, newer than the {known} this contactd \
         knows; use the contactd release that wrote it (or newer)"
    )]
    Newer { found: i64, known: i64 },
    #[error(
        "migration {version} in the database ({applied}) differs from the one this contactd \
         carries ({known}); the schema was changed outside contactd"
    )]
    Divergent {
        version: i64,
        applied: String,
        known: String,
    },
    #[error("migration {0} was never applied, but later ones were; the history is inconsistent")]
    Missing(String),
    #[error("row {row} of {HISTORY_TABLE} is malformed: {problem}")]
    MalformedHistory { row: usize, problem: String },
}

/// One row of the history table, as read and checked here.
struct Applied {
    version: i64,
    name: String,
    checksum: u64,
}

/// Applies every pending migration in one `IMMEDIATE` transaction and returns their
/// names. Refuses a database whose history this binary does not fit.
pub fn apply(conn: &mut Connection, path: &Path) -> Result<Vec<String>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read under the write lock: another process that migrated meanwhile is seen here.
    let status = status_of(&tx).map_err(|e| e.at(path))?;
    let pending: Vec<_> = known()
        .into_iter()
        .filter(|m| status.pending.contains(&m.to_string()))
        .collect();
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
             version int4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255),
             checksum VARCHAR(255));"
    ))?;
    let applied_on = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for m in &pending {
        let sql = m.sql().unwrap_or_default();
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migration {
                name: m.to_string(),
                source,
            })?;
        data_step(&tx, m)?;
        tx.execute(
            &format!(
                "INSERT INTO {HISTORY_TABLE} (version, name, applied_on, checksum)
                 VALUES (?1, ?2, ?3, ?4)"
            ),
            (
                i64::from(m.version()),
                m.name(),
                &applied_on,
                m.checksum().to_string(),
            ),
        )?;
    }
    tx.commit()?;
    Ok(pending.iter().map(|m| m.to_string()).collect())
}

/// The part of a migration that SQL cannot do, run right after its script in the same
/// transaction.
fn data_step(conn: &Connection, m: &refinery::Migration) -> Result<()> {
    match m.name() {
        // Rendering the answers of the contacts already stored is Rust, not SQL.
        "read_model" => info_bodies::rebuild(conn),
        _ => Ok(()),
    }
}

/// Which migrations a database has applied and which are pending; an error for every
/// history that `apply` would refuse.
pub fn status(conn: &Connection) -> Result<Status, StatusError> {
    status_of(conn)
}

/// A problem with the history, or a failure to read it.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Schema(#[from] SchemaProblem),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl StatusError {
    pub(super) fn at(self, path: &Path) -> StoreError {
        match self {
            Self::Schema(problem) => StoreError::Schema {
                path: path.to_owned(),
                problem,
            },
            Self::Sqlite(e) => e.into(),
        }
    }
}

fn status_of(conn: &Connection) -> Result<Status, StatusError> {
    let applied = history(conn)?;
    let known = known();
    let latest_known = known
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0);
    let latest_applied = applied.iter().map(|a| a.version).max();
    if let Some(found) = latest_applied.filter(|v| *v > latest_known) {
        return Err(SchemaProblem::Newer {
            found,
            known: latest_known,
        }
        .into());
    }
    for a in &applied {
        if let Some(m) = known.iter().find(|m| i64::from(m.version()) == a.version)
            && (m.name() != a.name || m.checksum() != a.checksum)
        {
            return Err(SchemaProblem::Divergent {
                version: a.version,
                applied: format!("V{}__{}, checksum {}", a.version, a.name, a.checksum),
                known: format!("{m}, checksum {}", m.checksum()),
            }
            .into());
        }
    }
    let mut pending = Vec::new();
    for m in &known {
        let version = i64::from(m.version());
        if applied.iter().any(|a| a.version == version) {
            continue;
        }
        if latest_applied.is_some_and(|latest| latest > version) {
            return Err(SchemaProblem::Missing(m.to_string()).into());
        }
        pending.push(m.to_string());
    }
    Ok(Status {
        applied: applied
            .iter()
            .map(|a| format!("V{}__{}", a.version, a.name))
            .collect(),
        pending,
    })
}

/// The migrations this binary carries, oldest first.
fn known() -> Vec<refinery::Migration> {
    let mut all = embedded::migrations::runner().get_migrations().clone();
    all.sort();
    all
}

/// The history rows, oldest first; empty before any migration ran.
fn history(conn: &Connection) -> Result<Vec<Applied>, StatusError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [HISTORY_TABLE],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT version, name, applied_on, checksum FROM {HISTORY_TABLE} ORDER BY version"
    ))?;
    let mut rows = stmt.query([])?;
    let mut applied = Vec::new();
    while let Some(row) = rows.next()? {
        let number = applied.len() + 1;
        let malformed = |problem: String| SchemaProblem::MalformedHistory {
            row: number,
            problem,
        };
        let text = |i: usize| -> Result<String, SchemaProblem> {
            match row.get_ref(i).map_err(|e| malformed(e.to_string()))? {
                rusqlite::types::ValueRef::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
                other => Err(malformed(format!(
                    "column {i} holds {:?}, not text",
                    other.data_type()
                ))),
            }
        };
        let version: i64 = row
            .get(0)
            .map_err(|_| malformed("its version is not a whole number".to_owned()))?;
        let name = text(1)?;
        let applied_on = text(2)?;
        chrono::DateTime::parse_from_rfc3339(&applied_on).map_err(|_| {
            malformed(format!(
                "applied_on {applied_on:?} is not an RFC 3339 timestamp"
            ))
        })?;
        let checksum = text(3)?;
        let checksum = checksum
            .parse::<u64>()
            .map_err(|_| malformed(format!("checksum {checksum:?} is not a number")))?;
        applied.push(Applied {
            version,
            name,
            checksum,
        });
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrated() -> Connection {
        let mut conn = crate::store::open_in_memory();
        apply(&mut conn, Path::new(":memory:")).unwrap();
        conn
    }

    fn known_names() -> Vec<String> {
        known().iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn migrations_apply_once_and_then_are_a_no_op() {
        let mut conn = crate::store::open_in_memory();
        let path = Path::new(":memory:");
        let first = apply(&mut conn, path).unwrap();
        assert_eq!(first, known_names());
        let second = apply(&mut conn, path).unwrap();
        assert!(second.is_empty(), "second run applied {second:?}");
        let status = status(&conn).unwrap();
        assert!(status.pending.is_empty());
        assert_eq!(status.applied, known_names());
    }

    #[test]
    fn histories_this_binary_does_not_fit_are_refused_by_status_and_apply_alike() {
        type Expected = fn(&SchemaProblem) -> bool;
        let cases: [(&str, Expected); 4] = [
            (
                "INSERT INTO refinery_schema_history VALUES
                 (999, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
                |p| matches!(p, SchemaProblem::Newer { found: 999, .. }),
            ),
            (
                "UPDATE refinery_schema_history SET checksum = '12345' WHERE version = 1",
                |p| matches!(p, SchemaProblem::Divergent { version: 1, .. }),
            ),
            (
                "UPDATE refinery_schema_history SET applied_on = 'yesterday' WHERE version = 1",
                |p| matches!(p, SchemaProblem::MalformedHistory { row: 1, .. }),
            ),
            (
                "UPDATE refinery_schema_history SET checksum = 'abc' WHERE version = 1",
                |p| matches!(p, SchemaProblem::MalformedHistory { row: 1, .. }),
            ),
        ];
        for (sql, expected) in cases {
            let mut conn = migrated();
            conn.execute_batch(sql).unwrap();

            let from_status = match status(&conn) {
                Err(StatusError::Schema(p)) => p,
                other => panic!("{sql}: {other:?}"),
            };
            let from_apply = match apply(&mut conn, Path::new(":memory:")) {
                Err(StoreError::Schema { problem, .. }) => problem,
                other => panic!("{sql}: {other:?}"),
            };

            assert!(expected(&from_status), "{sql}: {from_status}");
            assert_eq!(from_status, from_apply);
        }
    }

    #[test]
    fn a_gap_in_the_history_is_refused() {
        let conn = migrated();
        conn.execute("DELETE FROM refinery_schema_history WHERE version = 1", [])
            .unwrap();
        assert!(matches!(
            status(&conn),
            Err(StatusError::Schema(SchemaProblem::Missing(name))) if name == "V1__initial"
        ));
    }
}
