//! `POST /api/public/ticket/open/{whatsapp|web-whatsapp}/{phoneId}` (SPEC 11.2).

use rusqlite::Connection;

use super::contact_row::{self, ContactRow};
use super::{Refusal, merged, refreshed};
use crate::model::{
    ClientId, ContactId, ContactKey, Direction, JsonObject, Message, MessageId, MessageStatus,
    TicketId, TicketOpen, Timestamp, Topic,
};
use crate::store::outbox::{self, StageChange};
use crate::store::{Result, channels, messages, pipelines, tickets};

/// Finds or makes the contact by phone, opens a ticket in the stage (or moves the active
/// one there), merges the three objects and appends the first message; the contact.
pub(in crate::store) fn open_ticket(
    conn: &Connection,
    client: &ClientId,
    request: &TicketOpen,
    at: Timestamp,
) -> Result<ContactId> {
    let channel = channels::by_phone_id(conn, client, request.kind, &request.phone_id)?
        .ok_or(Refusal::ChannelNotFound)?;
    let pipeline =
        pipelines::stage_pipeline(conn, client, &request.stage)?.ok_or(Refusal::StageNotFound)?;

    let key = ContactKey::Phone(request.phone.clone());
    let (id, created) = contact_row::find_or_create(
        conn,
        client,
        request.kind,
        &key,
        request.name.as_deref(),
        at,
    )?;
    let before = ContactRow::load(conn, client, &id)?;
    let mut row = before.clone();
    row.rename(request.name.as_ref(), request.email.as_ref());
    row.merge_metadata(&request.contact_metadata)?;
    row.merge_integration_data(&request.integration_data)?;

    let mut ticket_changed = false;
    let mut opened = None;
    let mut moved = None;
    match row.active_ticket {
        None => {
            let ticket = TicketId::new_time_ordered();
            let metadata = merged(
                &JsonObject::empty(),
                &request.ticket_metadata,
                "ticket_metadata",
            )?;
            tickets::insert_open(conn, &ticket, &id, &request.stage, &metadata, at)?;
            row.active_ticket = Some(ticket);
            opened = Some(ticket);
        }
        Some(ticket) => {
            if let Some(previous) = tickets::move_to_stage(conn, &ticket, &request.stage, at)? {
                moved = Some(StageChange {
                    ticket,
                    pipeline,
                    stage: request.stage,
                    previous,
                });
            }
            ticket_changed = tickets::merge_metadata(conn, &ticket, &request.ticket_metadata, at)?;
        }
    }
    let message = match &request.message {
        Some(content) => {
            let message = Message {
                id: MessageId::new_time_ordered(),
                ai_contact_id: id,
                body: content.content.clone(),
                created_at: at,
                direction: Direction::Outbound,
                from: channel.phone_number.clone(),
                to: row.phone.clone(),
                kind: content.kind(),
                status: MessageStatus::Sent,
                media_url: None,
            };
            messages::insert(conn, &message)?;
            row.last_message_at = at;
            row.last_message_content.clone_from(&message.body);
            Some(message)
        }
        None => None,
    };
    let changed = created || row != before || ticket_changed || moved.is_some();
    if !changed {
        return Ok(id);
    }
    row.save(conn, &before, at)?;
    let after = refreshed(conn, &id)?;
    if created {
        outbox::contact_created(conn, client, &id, &after, at)?;
    }
    if let Some(ticket) = &opened {
        outbox::ticket_changed(conn, client, &id, ticket, Topic::TicketCreated, at)?;
    }
    if let Some(change) = &moved {
        outbox::stage_changed(conn, client, &id, change, at)?;
    }
    if let Some(message) = &message {
        outbox::message_event(conn, client, message, Topic::MessageSent, at)?;
    }
    Ok(id)
}
