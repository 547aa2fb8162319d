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

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;
    use crate::model::{ClientId, ContactId};

    /// A database of `contacts` contacts, each with two metadata keys and an active
    /// ticket with one, and the id of one of them.
    fn with_contacts(contacts: usize) -> (Connection, ContactId) {
        let mut conn = crate::store::migrated_in_memory();
        let client = ClientId::new_random();
        conn.execute("INSERT INTO clients (id, name) VALUES (?1, 'A')", [&client])
            .unwrap();
        let tx = conn.transaction().unwrap();
        let mut last = None;
        for i in 0..contacts {
            let id = ContactId::new_random();
            let ticket = ContactId::new_random();
            let metadata = format!(r#"{{"plan":"gold","n":{i}}}"#);
            crate::store::insert_bare_contact(&tx, &id, &client, &metadata, Some(&ticket));
            tx.execute(
                "INSERT INTO tickets (id, ai_contact_id, status, created_at, updated_at, metadata)
                 VALUES (?1, ?2, 'OPEN', 0, 0, json_object('priority', 'high'))",
                (&ticket, &id),
            )
            .unwrap();
            last = Some(id);
        }
        tx.commit().unwrap();
        (conn, last.unwrap())
    }

    /// The virtual machine's steps of `sql` on `contact`: a write that looks its
    /// entries up by key takes as many steps whatever the size of the index, one that
    /// scans it takes more with each entry.
    fn steps(conn: &Connection, sql: &str, contact: &ContactId) -> i32 {
        let tx = conn.unchecked_transaction().unwrap();
        let mut stmt = tx.prepare(sql).unwrap();
        stmt.execute([contact]).unwrap();
        let steps = stmt.get_status(StatementStatus::VmStep);
        drop(stmt);
        tx.rollback().unwrap();
        steps
    }

    #[test]
    fn a_write_costs_the_same_whatever_the_size_of_the_index() {
        let (small, in_small) = with_contacts(10);
        let (big, in_big) = with_contacts(2000);
        for sql in [
            "UPDATE contacts SET metadata = json_set(metadata, '$.n', 'x') WHERE id = ?1",
            "UPDATE contacts SET metadata = '{}' WHERE id = ?1",
            "UPDATE tickets SET metadata = json_object('priority', 'low')
             WHERE ai_contact_id = ?1",
            "UPDATE contacts SET active_ticket_v2_id = NULL WHERE id = ?1",
            "INSERT INTO contacts (id, client_id, ai_customer_id, name, platform, created_at,
                 last_message_at, chat_status, is_chat_read, blocked, metadata, updated_at)
             SELECT '00000000-0000-4000-8000-00000000000f', client_id, ai_customer_id, 'n',
                    'webchat', 0, 0, 'ATTENDED', 0, 0, '{\"plan\":\"x\"}', 0
             FROM contacts WHERE id = ?1",
            "INSERT INTO tickets (id, ai_contact_id, status, created_at, updated_at, metadata)
             VALUES ('00000000-0000-4000-8000-00000000000e', ?1, 'OPEN', 0, 0, '{\"a\":1}')",
            "DELETE FROM tickets WHERE ai_contact_id = ?1",
            "DELETE FROM contacts WHERE id = ?1",
        ] {
            // A few steps either way are where a row sits (the last of its table ends a
            // loop another way); a scan of the index would be thousands more.
            let (few, many) = (steps(&small, sql, &in_small), steps(&big, sql, &in_big));
            assert!(few.abs_diff(many) <= 8, "{sql}: {few} steps, then {many}");
        }
        for conn in [&small, &big] {
            assert_eq!(stale(conn, 10).unwrap(), Vec::<String>::new());
        }
    }
}
