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

/// Appends `m` to its contact's conversation.
pub(super) fn insert(conn: &Connection, m: &Message) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO messages (id, ai_contact_id, created_at, body, direction, \"from\", \"to\",
                               type, status, media_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(rusqlite::params![
        m.id,
        m.ai_contact_id,
        m.created_at,
        m.body,
        m.direction,
        m.from,
        m.to,
        m.kind,
        m.status,
        m.media_url,
    ])?;
    Ok(())
}

/// When `contact`'s newest inbound message was written, if it has one. The
/// conversation is clustered by contact and time, so this walks back from its end.
pub(super) fn last_inbound_at(
    conn: &Connection,
    contact: &ContactId,
) -> Result<Option<crate::model::Timestamp>> {
    Ok(conn
        .prepare_cached(
            "SELECT max(created_at) FROM messages
             WHERE ai_contact_id = ?1 AND direction = 'INBOUND'",
        )?
        .query_row([contact], |r| r.get(0))?)
}
