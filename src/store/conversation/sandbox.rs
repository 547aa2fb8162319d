//! The sandbox's writes (SPEC 11.4): what a customer and an agent do outside the API.

use rusqlite::Connection;

use super::contact_row::ContactRow;
use super::{Refusal, refreshed};
use crate::model::{
    ChatStatus, ClientId, ContactId, Direction, InboundMessage, Message, MessageId, MessageStatus,
    TicketId, Timestamp, Topic,
};
use crate::store::{Result, channels, messages, outbox, tickets};

/// The customer writes: an inbound message, the contact's chat unattended and unread.
pub(in crate::store) fn inbound_message(
    conn: &Connection,
    client: &ClientId,
    contact: &ContactId,
    request: &InboundMessage,
    at: Timestamp,
) -> Result<Message> {
    let before = ContactRow::load(conn, client, contact)?;
    // To the client's first channel of the contact's platform, when it has a number.
    let to = channels::of_type(conn, client, before.platform)?
        .into_iter()
        .next()
        .and_then(|c| c.phone_number);
    let message = Message {
        id: MessageId::new_time_ordered(),
        ai_contact_id: *contact,
        body: Some(request.body.clone()),
        created_at: at,
        direction: Direction::Inbound,
        from: before.phone.clone(),
        to,
        kind: request.kind,
        status: MessageStatus::Delivered,
        media_url: request.media_url.clone(),
    };
    messages::insert(conn, &message)?;
    let mut row = before.clone();
    row.last_message_at = at;
    row.last_message_content.clone_from(&message.body);
    row.chat_status = ChatStatus::Unattended;
    row.is_chat_read = false;
    row.save(conn, &before, at)?;
    refreshed(conn, contact)?;
    outbox::message_event(conn, client, &message, Topic::MessageReceived, at)?;
    Ok(message)
}

/// An agent closes ticket `id`: it becomes the contact's last closed ticket, and no
/// longer its active one.
pub(in crate::store) fn close_ticket(
    conn: &Connection,
    client: &ClientId,
    id: &TicketId,
    at: Timestamp,
) -> Result<()> {
    let (contact, status) =
        tickets::owner_and_status(conn, client, id)?.ok_or(Refusal::TicketNotFound)?;
    if status.is_closed() {
        return Err(Refusal::AlreadyClosed.into());
    }
    tickets::close(conn, id, at)?;
    let before = ContactRow::load(conn, client, &contact)?;
    let mut row = before.clone();
    row.last_closed_ticket = Some(*id);
    if row.active_ticket == Some(*id) {
        row.active_ticket = None;
    }
    row.save(conn, &before, at)?;
    refreshed(conn, &contact)?;
    outbox::ticket_changed(conn, client, &contact, id, Topic::TicketClosed, at)?;
    Ok(())
}
