//! Reads of a contact's conversation, a page at a time.

use rusqlite::{Connection, Row};

use super::Result;
use crate::model::{ContactId, MESSAGES_PER_PAGE, Message};

/// One page of a conversation, oldest first, and how many messages it has in all.
pub(super) fn page(
    conn: &Connection,
    contact: &ContactId,
    page: u32,
) -> Result<(Vec<Message>, u64)> {
    let mut count =
        conn.prepare_cached("SELECT count(*) FROM messages WHERE ai_contact_id = ?1")?;
    let total: i64 = count.query_row([contact], |r| r.get(0))?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(MESSAGES_PER_PAGE);
    let mut stmt = conn.prepare_cached(
        "SELECT id, ai_contact_id, body, created_at, direction, \"from\", \"to\", type, status,
                media_url
         FROM messages WHERE ai_contact_id = ?1
         ORDER BY created_at, id LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt.query_map((contact, MESSAGES_PER_PAGE, offset), message_from_row)?;
    let messages = rows.collect::<rusqlite::Result<_>>()?;
    Ok((messages, u64::try_from(total).unwrap_or(0)))
}

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        ai_contact_id: row.get(1)?,
        body: row.get(2)?,
        created_at: row.get(3)?,
        direction: row.get(4)?,
        from: row.get(5)?,
        to: row.get(6)?,
        kind: row.get(7)?,
        status: row.get(8)?,
        media_url: row.get(9)?,
    })
}
