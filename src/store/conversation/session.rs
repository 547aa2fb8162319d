//! `POST /api/public/whatsapp/message/session` (SPEC 11.3).

use rusqlite::Connection;

use super::contact_row::{self, ContactRow};
use super::{Refusal, refreshed};
use crate::model::{
    ClientId, ContactKey, Direction, Message, MessageId, MessageStatus, MessageType, Platform,
    SESSION_WINDOW_MS, SessionMessage, SessionTarget, Timestamp, Topic, phone_digits,
};
use crate::store::{Result, channels, messages, outbox};

/// Appends an outbound text inside the contact's 24-hour window; the message's id.
pub(in crate::store) fn send_session_message(
    conn: &Connection,
    client: &ClientId,
    request: &SessionMessage,
    at: Timestamp,
) -> Result<MessageId> {
    let id = match &request.target {
        SessionTarget::Contact(id) => *id,
        SessionTarget::Phone(phone) => {
            let key = ContactKey::Phone(phone.clone());
            contact_row::find(conn, client, Platform::Whatsapp, &key)?
                .ok_or(Refusal::ContactNotFound)?
        }
    };
    let before = ContactRow::load(conn, client, &id)?;
    if before.platform != Platform::Whatsapp {
        return Err(Refusal::Invalid("contact is not on a whatsapp channel".into()).into());
    }
    match messages::last_inbound_at(conn, &id)? {
        None => {
            return Err(Refusal::Invalid(
                "the 24-hour window is closed: the contact has no inbound message".into(),
            )
            .into());
        }
        Some(last) if at.as_millis() - last.as_millis() > SESSION_WINDOW_MS => {
            return Err(Refusal::Invalid(
                "the 24-hour window is closed: the contact's last inbound message is older \
                 than 24 hours"
                    .into(),
            )
            .into());
        }
        Some(_) => {}
    }
    let whatsapp = channels::of_type(conn, client, Platform::Whatsapp)?;
    let channel = match &request.from {
        Some(from) => whatsapp.into_iter().find(|c| {
            c.phone_number.as_deref().map(phone_digits).as_deref() == Some(from.digits())
        }),
        None if whatsapp.len() > 1 => {
            return Err(Refusal::Invalid(
                "from_phone_number must be given: the client has more than one whatsapp channel"
                    .into(),
            )
            .into());
        }
        None => whatsapp.into_iter().next(),
    }
    .ok_or(Refusal::ChannelNotFound)?;

    let message = Message {
        id: MessageId::new_time_ordered(),
        ai_contact_id: id,
        body: Some(request.text.clone()),
        created_at: at,
        direction: Direction::Outbound,
        from: channel.phone_number,
        to: before.phone.clone(),
        kind: MessageType::Text,
        status: MessageStatus::Sent,
        media_url: None,
    };
    messages::insert(conn, &message)?;
    let mut row = before.clone();
    row.last_message_at = at;
    row.last_message_content.clone_from(&message.body);
    row.save(conn, &before, at)?;
    refreshed(conn, &id)?;
    outbox::message_event(conn, client, &message, Topic::MessageSent, at)?;
    Ok(message.id)
}
