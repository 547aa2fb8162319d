//! Reading a contact with its active and last closed tickets.

use rusqlite::{Connection, OptionalExtension, Row};

use super::Result;
use crate::model::{ClientId, Contact, ContactId, ContactInfo, Ticket};

/// One indexed lookup: the contact stores its ticket ids, so both tickets are joins on
/// the tickets' primary key (contact, ticket), with no sort. Asking for the client too makes another client's contact
/// indistinguishable from a missing one.
const CONTACT_INFO: &str = "
SELECT c.id, c.client_id, c.ai_customer_id, c.name, c.email, c.phone, c.platform,
       c.created_at, c.last_message_at, c.last_message_content, c.chat_status,
       c.is_chat_read, c.blocked, c.default_stage_id, c.active_ticket_v2_id,
       c.last_closed_ticket_v2_id, c.current_integration_data, c.metadata,
       a.id, a.status, a.created_at, a.updated_at, a.ticket_summary, a.metadata,
       l.id, l.status, l.created_at, l.updated_at, l.ticket_summary, l.metadata
FROM contacts c
LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id
LEFT JOIN tickets l ON l.ai_contact_id = c.id AND l.id = c.last_closed_ticket_v2_id
WHERE c.id = ?1 AND c.client_id = ?2";

const CONTACT_COLUMNS: usize = 18;
const TICKET_COLUMNS: usize = 6;

/// The contact `id` as `client` may see it, or `None` when it does not exist or
/// belongs to another client.
pub(super) fn contact_info(
    conn: &Connection,
    client: &ClientId,
    id: &ContactId,
) -> Result<Option<ContactInfo>> {
    let mut stmt = conn.prepare_cached(CONTACT_INFO)?;
    Ok(stmt
        .query_row((id, client), contact_info_from_row)
        .optional()?)
}

fn contact_info_from_row(row: &Row<'_>) -> rusqlite::Result<ContactInfo> {
    let contact = contact_from_row(row)?;
    let active_ticket = ticket_from_row(row, CONTACT_COLUMNS, &contact)?;
    let last_closed_ticket = ticket_from_row(row, CONTACT_COLUMNS + TICKET_COLUMNS, &contact)?;
    Ok(ContactInfo {
        contact,
        active_ticket,
        last_closed_ticket,
    })
}

fn contact_from_row(row: &Row<'_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        id: row.get(0)?,
        client_id: row.get(1)?,
        ai_customer_id: row.get(2)?,
        name: row.get(3)?,
        email: row.get(4)?,
        phone: row.get(5)?,
        platform: row.get(6)?,
        created_at: row.get(7)?,
        last_message_at: row.get(8)?,
        last_message_content: row.get(9)?,
        chat_status: row.get(10)?,
        is_chat_read: row.get(11)?,
        blocked: row.get(12)?,
        default_stage_id: row.get(13)?,
        active_ticket_v2_id: row.get(14)?,
        last_closed_ticket_v2_id: row.get(15)?,
        current_integration_data: row.get(16)?,
        metadata: row.get(17)?,
    })
}

/// The ticket whose columns start at `at`, or `None` when the join found none.
fn ticket_from_row(
    row: &Row<'_>,
    at: usize,
    contact: &Contact,
) -> rusqlite::Result<Option<Ticket>> {
    let Some(id) = row.get(at)? else {
        return Ok(None);
    };
    Ok(Some(Ticket {
        id,
        ai_contact_id: contact.id,
        status: row.get(at + 1)?,
        created_at: row.get(at + 2)?,
        updated_at: row.get(at + 3)?,
        ticket_summary: row.get(at + 4)?,
        metadata: row.get(at + 5)?,
    }))
}
