//! Tickets: finding the one a ticket-metadata write (SPEC 7.6) is for, and the write.

use rusqlite::{Connection, OptionalExtension};

use super::{MetadataWrite, Result, contacts, info_bodies, outbox};
use crate::model::{
    ClientId, ContactId, JsonObject, MetadataPatch, Ticket, TicketId, TicketStatus, TicketTarget,
    Timestamp, Topic,
};

/// The ticket a write goes to, with its contact.
pub(super) struct TargetTicket {
    id: TicketId,
    contact: ContactId,
    client: ClientId,
}

/// The ticket `target` names among `client`'s: a ticket by id when it is not closed (or
/// any with `allow_closed`); a contact's active ticket, or its last closed one when it has
/// none and `allow_closed`. `None` when there is no such ticket or contact.
pub(super) fn resolve(
    conn: &Connection,
    client: &ClientId,
    target: &TicketTarget,
    allow_closed: bool,
) -> Result<Option<TargetTicket>> {
    let contact = match target {
        TicketTarget::Ticket(id) => {
            let mut stmt = conn.prepare_cached(
                "SELECT t.ai_contact_id, t.status FROM tickets t
                 JOIN contacts c ON c.id = t.ai_contact_id
                 WHERE t.id = ?1 AND c.client_id = ?2",
            )?;
            let found = stmt
                .query_row((id, client), |r| {
                    Ok((r.get::<_, ContactId>(0)?, r.get::<_, TicketStatus>(1)?))
                })
                .optional()?;
            return Ok(found
                .filter(|(_, status)| allow_closed || !status.is_closed())
                .map(|(contact, _)| TargetTicket {
                    id: *id,
                    contact,
                    client: *client,
                }));
        }
        TicketTarget::Contact(id) => {
            let mut stmt = conn.prepare_cached(
                "SELECT id, active_ticket_v2_id, last_closed_ticket_v2_id FROM contacts
                 WHERE id = ?1 AND client_id = ?2",
            )?;
            stmt.query_row((id, client), tickets_of).optional()?
        }
        TicketTarget::PhoneDigits(digits) => {
            let mut stmt = conn.prepare_cached(
                "SELECT c.id, c.active_ticket_v2_id, c.last_closed_ticket_v2_id
                 FROM contact_search_source s JOIN contacts c ON c.id = s.contact_id
                 WHERE s.client_id = ?1 AND s.phone_digits = ?2
                 ORDER BY c.last_message_at DESC, c.id LIMIT 1",
            )?;
            stmt.query_row((client, digits), tickets_of).optional()?
        }
    };
    Ok(contact.and_then(|(contact, active, last_closed)| {
        let id = active.or(last_closed.filter(|_| allow_closed))?;
        Some(TargetTicket {
            id,
            contact,
            client: *client,
        })
    }))
}

type ContactTickets = (ContactId, Option<TicketId>, Option<TicketId>);

fn tickets_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<ContactTickets> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

/// Whether the contact a contact-based `target` names exists for `client` (to tell "no
/// such contact" from "no ticket to write").
pub(super) fn target_contact_exists(
    conn: &Connection,
    client: &ClientId,
    target: &TicketTarget,
) -> Result<bool> {
    let exists = match target {
        TicketTarget::Ticket(_) => false,
        TicketTarget::Contact(id) => contacts::contact_exists(conn, client, id)?,
        TicketTarget::PhoneDigits(digits) => conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM contact_search_source
                                WHERE client_id = ?1 AND phone_digits = ?2)",
            )?
            .query_row((client, digits), |r| r.get(0))?,
    };
    Ok(exists)
}

/// Ticket `id` of contact `contact`, as stored.
pub(super) fn ticket(
    conn: &Connection,
    contact: &ContactId,
    id: &TicketId,
) -> Result<Option<Ticket>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM tickets t WHERE t.ai_contact_id = ?1 AND t.id = ?2",
        contacts::TICKET_COLUMN_NAMES
    ))?;
    Ok(stmt
        .query_row((contact, id), |row| {
            let Some(id) = row.get(0)? else {
                return Ok(None);
            };
            Ok(Some(Ticket {
                id,
                ai_contact_id: *contact,
                status: row.get(1)?,
                created_at: row.get(2)?,
                updated_at: row.get(3)?,
                ticket_summary: row.get(4)?,
                metadata: row.get(5)?,
                stage_id: row.get(6)?,
            }))
        })
        .optional()?
        .flatten())
}

/// Merges `patch` into the ticket's metadata, and stamps the ticket and its contact as
/// changed at `at` (so the list's `updated_after` finds the contact). An empty patch
/// writes nothing, as in SPEC 7.5.
pub(super) fn update_metadata(
    conn: &Connection,
    ticket: &TargetTicket,
    patch: &MetadataPatch,
    at: Timestamp,
) -> Result<MetadataWrite> {
    if patch.is_empty() {
        return Ok(MetadataWrite::Written);
    }
    let stored: JsonObject = conn
        .prepare_cached("SELECT metadata FROM tickets WHERE id = ?1")?
        .query_row([&ticket.id], |r| r.get(0))?;
    let merged = match stored.merged(patch) {
        Ok(merged) => merged,
        Err(refused) => return Ok(refused.into()),
    };
    conn.prepare_cached("UPDATE tickets SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute((&ticket.id, &merged, at))?;
    conn.prepare_cached("UPDATE contacts SET updated_at = ?2 WHERE id = ?1")?
        .execute((&ticket.contact, at))?;
    info_bodies::refresh(conn, &ticket.contact)?;
    outbox::ticket_changed(
        conn,
        &ticket.client,
        &ticket.contact,
        &ticket.id,
        Topic::TicketUpdated,
        at,
    )?;
    Ok(MetadataWrite::Written)
}

// ---------------------------------------------------------------------------------------
// The conversation writes' ticket changes (SPEC 11.2, 11.4).

/// Inserts a new `OPEN` ticket of `contact` in `stage` with `metadata`, made at `at`.
pub(super) fn insert_open(
    conn: &Connection,
    id: &TicketId,
    contact: &ContactId,
    stage: &crate::model::StageId,
    metadata: &JsonObject,
    at: Timestamp,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO tickets (id, ai_contact_id, status, created_at, updated_at, metadata,
                              stage_id)
         VALUES (?1, ?2, 'OPEN', ?3, ?3, ?4, ?5)",
    )?
    .execute((id, contact, at, metadata, stage))?;
    Ok(())
}

/// Moves ticket `id` to `stage`; the stage it stood in before when that moved it (its
/// `Option` inside: a ticket may have had none), `None` when it stood there already.
pub(super) fn move_to_stage(
    conn: &Connection,
    id: &TicketId,
    stage: &crate::model::StageId,
    at: Timestamp,
) -> Result<Option<Option<crate::model::StageId>>> {
    let previous: Option<crate::model::StageId> = conn
        .prepare_cached("SELECT stage_id FROM tickets WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    if previous.as_ref() == Some(stage) {
        return Ok(None);
    }
    conn.prepare_cached("UPDATE tickets SET stage_id = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute((id, stage, at))?;
    Ok(Some(previous))
}

/// Merges `patch` into ticket `id`'s metadata; true when that changed it.
pub(super) fn merge_metadata(
    conn: &Connection,
    id: &TicketId,
    patch: &MetadataPatch,
    at: Timestamp,
) -> Result<bool> {
    if patch.is_empty() {
        return Ok(false);
    }
    let stored: JsonObject = conn
        .prepare_cached("SELECT metadata FROM tickets WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let merged = super::conversation::merged(&stored, patch, "ticket_metadata")?;
    if merged == stored {
        return Ok(false);
    }
    conn.prepare_cached("UPDATE tickets SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute((id, &merged, at))?;
    Ok(true)
}

/// `client`'s ticket `id`: its contact and status.
pub(super) fn owner_and_status(
    conn: &Connection,
    client: &ClientId,
    id: &TicketId,
) -> Result<Option<(ContactId, TicketStatus)>> {
    Ok(conn
        .prepare_cached(
            "SELECT t.ai_contact_id, t.status FROM tickets t
             JOIN contacts c ON c.id = t.ai_contact_id
             WHERE t.id = ?1 AND c.client_id = ?2",
        )?
        .query_row((id, client), |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Closes ticket `id` at `at`.
pub(super) fn close(conn: &Connection, id: &TicketId, at: Timestamp) -> Result<()> {
    conn.prepare_cached("UPDATE tickets SET status = 'CLOSED', updated_at = ?2 WHERE id = ?1")?
        .execute((id, at))?;
    Ok(())
}
