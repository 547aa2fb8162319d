//! The schema, as refinery migrations embedded from `migrations/` at compile time.

use std::path::Path;

use rusqlite::Connection;

use super::{Result, StoreError};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Applies every pending migration in one transaction and returns their names
/// (`V1__initial`, …). Refuses a database written by a newer schema.
pub fn apply(conn: &mut Connection, path: &Path) -> Result<Vec<String>> {
    let runner = embedded::migrations::runner().set_grouped(true);
    let known = latest_known_version();
    if has_history(conn)?
        && let Some(last) = runner.get_last_applied_migration(conn)?
        && last.version() > known
    {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found: last.version(),
            known,
        });
    }
    let report = runner.run(conn)?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}

/// Which migrations a database has applied, and which this binary knows that it has not.
pub struct Status {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
}

pub fn status(conn: &mut Connection) -> Result<Status> {
    let runner = embedded::migrations::runner();
    let applied = if has_history(conn)? {
        runner.get_applied_migrations(conn)?
    } else {
        Vec::new()
    };
    let pending = runner
        .get_migrations()
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version() == m.version()))
        .map(|m| m.to_string())
        .collect();
    Ok(Status {
        applied: applied.iter().map(|m| m.to_string()).collect(),
        pending,
    })
}

/// refinery's own table exists once any migration has run; its queries fail before that.
fn has_history(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master
                        WHERE type = 'table' AND name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?)
}

fn latest_known_version() -> refinery::SchemaVersion {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_then_are_a_no_op() {
        let mut conn = crate::store::open_in_memory();
        let path = Path::new(":memory:");
        let first = apply(&mut conn, path).unwrap();
        assert_eq!(first, vec!["V1__initial".to_owned()]);
        let second = apply(&mut conn, path).unwrap();
        assert!(second.is_empty(), "second run applied {second:?}");
        let status = status(&mut conn).unwrap();
        assert!(status.pending.is_empty());
        assert_eq!(status.applied, vec!["V1__initial".to_owned()]);
    }

    #[test]
    fn a_database_from_a_newer_schema_is_refused() {
        let mut conn = crate::store::open_in_memory();
        let path = Path::new(":memory:");
        apply(&mut conn, path).unwrap();
        conn.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (999, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
            [],
        )
        .unwrap();
        let err = apply(&mut conn, path).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NewerSchema {
                    found: 999,
                    known: 1,
                    ..
                }
            ),
            "{err}"
        );
    }
}
