//! Contacts: one with its tickets (`/info`), the list's summaries, and the metadata
//! write.

use rusqlite::{Connection, OptionalExtension, Row};

use super::{MetadataWrite, Result, info_bodies, outbox};
use crate::model::{
    ClientId, Contact, ContactId, ContactInfo, ContactSummary, JsonObject, MetadataPatch, Ticket,
    TicketRef, Timestamp,
};

/// The contact's columns, in the order `contact_from_row` reads them (a macro, so that
/// the hot path's SQL is one literal, not a string built per request).
macro_rules! contact_columns {
    () => {
        "c.id, c.client_id, c.ai_customer_id, c.name, c.email, c.phone, c.platform,
         c.created_at, c.last_message_at, c.last_message_content, c.chat_status,
         c.is_chat_read, c.blocked, c.default_stage_id, c.active_ticket_v2_id,
         c.last_closed_ticket_v2_id, c.current_integration_data, c.metadata, c.updated_at"
    };
}
const CONTACT_COLUMNS: usize = 19;
const TICKET_COLUMNS: usize = 7;

/// A contact with its two tickets: the contact stores its ticket ids, so both tickets
/// are joins on the tickets' primary key (contact, ticket), with no sort. These are the
/// source rows of the `/info` read model (`info_bodies`): its columns, then its tables.
macro_rules! contact_info_columns {
    () => {
        concat!(
            contact_columns!(),
            ",
             a.id, a.status, a.created_at, a.updated_at, a.ticket_summary, a.metadata, a.stage_id,
             l.id, l.status, l.created_at, l.updated_at, l.ticket_summary, l.metadata, l.stage_id"
        )
    };
}
macro_rules! contact_info_tables {
    () => {
        "FROM contacts c
         LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id
         LEFT JOIN tickets l ON l.ai_contact_id = c.id AND l.id = c.last_closed_ticket_v2_id"
    };
}
pub(super) use {contact_columns, contact_info_columns, contact_info_tables};
/// Columns `contact_info_from_row` reads; a query may select more after them.
pub(super) const CONTACT_INFO_COLUMNS: usize = CONTACT_COLUMNS + 2 * TICKET_COLUMNS;

const CONTACT_INFO: &str = concat!(
    "SELECT ",
    contact_info_columns!(),
    " ",
    contact_info_tables!(),
    " WHERE c.id = ?1"
);

/// A contact summary: the contact and its active ticket's id and stage.
pub(super) const SUMMARY_COLUMNS: &str = concat!(contact_columns!(), ", a.id, a.stage_id");

/// The contact `id` with its tickets, whichever client it belongs to.
pub(super) fn contact_info(conn: &Connection, id: &ContactId) -> Result<Option<ContactInfo>> {
    let mut stmt = conn.prepare_cached(CONTACT_INFO)?;
    Ok(stmt.query_row([id], contact_info_from_row).optional()?)
}

/// Whether `client` has a contact `id`.
pub(super) fn contact_exists(conn: &Connection, client: &ClientId, id: &ContactId) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ?1 AND client_id = ?2)",
    )?;
    Ok(stmt.query_row((id, client), |r| r.get(0))?)
}

/// Merges `patch` into the metadata of `client`'s contact `id` and stamps the contact
/// as changed at `at`. An empty patch writes nothing (SPEC 7.5), not even the stamp.
pub(super) fn update_metadata(
    conn: &Connection,
    client: &ClientId,
    id: &ContactId,
    patch: &MetadataPatch,
    at: Timestamp,
) -> Result<MetadataWrite> {
    let mut read =
        conn.prepare_cached("SELECT metadata FROM contacts WHERE id = ?1 AND client_id = ?2")?;
    let Some(stored) = read
        .query_row((id, client), |r| r.get::<_, JsonObject>(0))
        .optional()?
    else {
        return Ok(MetadataWrite::ContactNotFound);
    };
    if patch.is_empty() {
        return Ok(MetadataWrite::Written);
    }
    let merged = match stored.merged(patch) {
        Ok(merged) => merged,
        Err(refused) => return Ok(refused.into()),
    };
    let before = outbox::before_contact_change(conn, client, id)?;
    let mut write =
        conn.prepare_cached("UPDATE contacts SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?;
    write.execute((id, &merged, at))?;
    let after = info_bodies::refresh(conn, id)?;
    if let (Some(before), Some(after)) = (before, after) {
        outbox::contact_updated(conn, client, id, &before, &after, at)?;
    }
    Ok(MetadataWrite::Written)
}

pub(super) fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<ContactSummary> {
    let contact = contact_from_row(row)?;
    let active_ticket = match row.get(CONTACT_COLUMNS)? {
        Some(id) => Some(TicketRef {
            id,
            current_stage_id: row.get(CONTACT_COLUMNS + 1)?,
        }),
        None => None,
    };
    Ok(ContactSummary {
        contact,
        active_ticket,
    })
}

pub(super) fn contact_info_from_row(row: &Row<'_>) -> rusqlite::Result<ContactInfo> {
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
        updated_at: row.get(18)?,
    })
}

/// A ticket's columns, in the order `ticket_from_row` reads them.
pub(super) const TICKET_COLUMN_NAMES: &str =
    "t.id, t.status, t.created_at, t.updated_at, t.ticket_summary, t.metadata, t.stage_id";

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
        stage_id: row.get(at + 6)?,
    }))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `EXPLAIN QUERY PLAN` of `sql`, one line per step.
    pub(in crate::store) fn plan(sql: &str, params: Vec<rusqlite::types::Value>) -> String {
        let conn = crate::store::migrated_in_memory();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }
}
