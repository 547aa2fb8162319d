//! A load into a database with no rows yet: its secondary indexes and the triggers its
//! inserts would fire are set aside for the load and built once after the rows, each
//! index by one sort instead of a million inserts at random places.
//!
//! Everything happens inside the load's one transaction, so a failed or killed load
//! leaves the schema as it was, and no reader ever sees the tables without their
//! indexes. The statements that build them again are the ones the migrations wrote,
//! read back from the schema, so the result is the same schema, byte for byte.

use rusqlite::Transaction;

use super::super::Result;

/// The tables a load writes row by row.
const TABLES: [&str; 4] = ["contacts", "tickets", "messages", "contact_search_source"];

/// The `AFTER INSERT` triggers on [`TABLES`] whose work is done at once after the rows,
/// by [`FIELD_VALUES_AT_ONCE`]. (The search index's trigger stays: its rows are inserted
/// in one statement already.)
const INSERT_TRIGGERS: [&str; 2] = ["contact_fields_inserted", "ticket_fields_inserted"];

/// What those two triggers add, for every contact at once and in the index's order (as
/// migration V7 fills it for the contacts it finds).
const FIELD_VALUES_AT_ONCE: &str =
    "INSERT OR IGNORE INTO contact_field_values (client_id, entity, key, value, contact_id)
     SELECT client_id, entity, key, value, contact_id FROM contact_field_values_expected
     ORDER BY client_id, entity, key, value, contact_id";

/// The indexes and triggers set aside, as the statements that make them again.
#[derive(Debug)]
pub(super) struct SetAside {
    indexes: Vec<String>,
    triggers: Vec<String>,
}

/// Drops the secondary indexes of [`TABLES`] and the [`INSERT_TRIGGERS`], keeping what
/// makes them again. Indexes SQLite made for a `UNIQUE` or primary key constraint have
/// no statement and stay: the rows are checked against them as they go in.
pub(super) fn set_aside(tx: &Transaction<'_>) -> Result<SetAside> {
    let tables = TABLES.map(|t| format!("'{t}'")).join(", ");
    let triggers = INSERT_TRIGGERS.map(|t| format!("'{t}'")).join(", ");
    let schema = |kind: &str, filter: &str| -> Result<Vec<(String, String)>> {
        let mut stmt = tx.prepare(&format!(
            "SELECT name, sql FROM sqlite_schema
             WHERE type = '{kind}' AND sql IS NOT NULL AND {filter} ORDER BY name"
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    };
    let indexes = schema("index", &format!("tbl_name IN ({tables})"))?;
    let triggers = schema("trigger", &format!("name IN ({triggers})"))?;
    for (name, _) in &indexes {
        tx.execute_batch(&format!("DROP INDEX \"{name}\""))?;
    }
    for (name, _) in &triggers {
        tx.execute_batch(&format!("DROP TRIGGER \"{name}\""))?;
    }
    Ok(SetAside {
        indexes: indexes.into_iter().map(|(_, sql)| sql).collect(),
        triggers: triggers.into_iter().map(|(_, sql)| sql).collect(),
    })
}

/// Does the set-aside triggers' work for every row, then makes the indexes and the
/// triggers again.
pub(super) fn restore(tx: &Transaction<'_>, set_aside: SetAside) -> Result<()> {
    if !set_aside.triggers.is_empty() {
        let t = std::time::Instant::now();
        tx.execute_batch(FIELD_VALUES_AT_ONCE)?;
        tracing::debug!(elapsed = ?t.elapsed(), "custom-field index filled");
    }
    for sql in set_aside.indexes.iter().chain(&set_aside.triggers) {
        let t = std::time::Instant::now();
        tx.execute_batch(sql)?;
        tracing::debug!(elapsed = ?t.elapsed(), sql = %sql.lines().next().unwrap_or(""), "rebuilt");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrated_in_memory;

    /// A trigger a later migration adds on a table the load writes would be dropped or
    /// missed without anyone doing its work: the list above must be exactly the
    /// schema's.
    #[test]
    fn every_insert_trigger_on_the_loaded_tables_is_one_whose_work_is_done_at_once() {
        let conn = migrated_in_memory();
        let mut stmt = conn
            .prepare(
                "SELECT name, tbl_name FROM sqlite_schema
                 WHERE type = 'trigger' AND sql LIKE '%AFTER INSERT ON%' ORDER BY name",
            )
            .unwrap();
        let found: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .filter(|(_, table): &(String, String)| TABLES.contains(&table.as_str()))
            .collect();
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "contact_fields_inserted",
                "contact_search_inserted",
                "ticket_fields_inserted"
            ]
        );
        // The search index's own trigger stays; the other two are the list.
        assert!(INSERT_TRIGGERS.iter().all(|t| names.contains(t)));
    }

    #[test]
    fn the_schema_after_a_restore_is_the_schema_before() {
        let mut conn = migrated_in_memory();
        let dump = |conn: &rusqlite::Connection| -> Vec<(String, String, String)> {
            let mut stmt = conn
                .prepare(
                    "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL
                     ORDER BY type, name",
                )
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let before = dump(&conn);
        let tx = conn.transaction().unwrap();
        let set_aside = set_aside(&tx).unwrap();
        assert!(set_aside.indexes.len() >= 8, "{set_aside:?}");
        assert_eq!(set_aside.triggers.len(), 2);
        restore(&tx, set_aside).unwrap();
        tx.commit().unwrap();
        assert_eq!(dump(&conn), before);
    }
}
