//! The index of custom-field values (`contact_field_values`, migration V7) that the
//! list's custom-field filter reads: kept by triggers, compared here with what the rows
//! say it should hold, for `contactd check`.

use rusqlite::Connection;

use super::Result;

/// Entries the index lacks (a filter would miss those contacts) and entries it has
/// that no row makes (harmless to answers, as the list tests each contact it finds, but
/// a sign the triggers or a hand-made change went wrong). At most `limit` lines.
pub(super) fn stale(conn: &Connection, limit: usize) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT 'missing', * FROM (SELECT * FROM contact_field_values_expected
                                   EXCEPT SELECT * FROM contact_field_values)
         UNION ALL
         SELECT 'left over', * FROM (SELECT * FROM contact_field_values
                                     EXCEPT SELECT * FROM contact_field_values_expected)
         LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(format!(
            "custom-field index entry {} for contact {} ({} metadata key {:?})",
            r.get::<_, String>(0)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
