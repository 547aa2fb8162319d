//! A message as the conversation route answers it (SPEC 7.3): the same object in a
//! page of messages, in a message event's `data` and in the sandbox's answer.

use serde::Serialize;

use super::{
    ClientId, ContactId, Direction, Message, MessageId, MessageStatus, MessageType, Timestamp,
};

/// A message, keys in the contract's order.
#[derive(Serialize)]
pub struct MessageBody<'a> {
    id: MessageId,
    body: Option<&'a str>,
    created_at: Timestamp,
    direction: Direction,
    from: Option<&'a str>,
    to: Option<&'a str>,
    #[serde(rename = "type")]
    kind: MessageType,
    status: MessageStatus,
    media_url: Option<&'a str>,
    client_id: ClientId,
    ai_contact_id: ContactId,
}

impl<'a> MessageBody<'a> {
    pub fn new(m: &'a Message, client_id: ClientId) -> Self {
        Self {
            id: m.id,
            body: m.body.as_deref(),
            created_at: m.created_at,
            direction: m.direction,
            from: m.from.as_deref(),
            to: m.to.as_deref(),
            kind: m.kind,
            status: m.status,
            media_url: m.media_url.as_deref(),
            client_id,
            ai_contact_id: m.ai_contact_id,
        }
    }
}

/// The JSON of a message as 7.3 answers it.
pub fn message_json(m: &Message, client_id: ClientId) -> serde_json::Result<String> {
    serde_json::to_string(&MessageBody::new(m, client_id))
}
