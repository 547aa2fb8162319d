//! The sandbox's stand-ins for the world outside the API (SPEC 11.4): a customer
//! writes, an agent closes a ticket. `--no-sandbox` leaves every `/api/sandbox/` route
//! unregistered, so they answer as unknown routes.

use actix_web::{HttpRequest, HttpResponse, web};

use super::answer::plain_json;
use super::auth::ApiKey;
use super::body;
use super::body_fields::{self as read, BodyFields};
use super::error::ApiError;
use super::limits::RequestLimits;
use super::params::path_id;
use super::worker::WorkerContext;
use crate::model::{
    ContactId, InboundMessage, MAX_MESSAGE_CHARS, Members, MessageBody, MessageType, TicketId,
};
use crate::store::Writer;

pub const INBOUND_ROUTE: &str = "/api/sandbox/contact/{aiContactId}/inbound-message";
pub const CLOSE_ROUTE: &str = "/api/sandbox/ticket/{ticketId}/close";

/// 401 as `/info`; 400 for a bad contact id; 415, 413 and 400 for the body; 404
/// `Contact not found`; else 201 with the message as the conversation route shows it.
pub async fn inbound_message(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let contact = path_id(&req, "aiContactId", ContactId::parse)?;
    let members = body::json_object(&req, payload, &limits).await?;
    let request = read_inbound(members).map_err(ApiError::Validation)?;
    let message = writer.inbound_message(client, contact, request).await?;
    Ok(plain_json(
        HttpResponse::Created(),
        &MessageBody::new(&message, client),
    ))
}

/// 401 as `/info`; 400 for a bad ticket id; 404 `Ticket not found`; 409 `Ticket is
/// already closed`; else 200 `{"status":"ok"}`.
pub async fn close_ticket(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let ticket = path_id(&req, "ticketId", TicketId::parse)?;
    writer.close_ticket(client, ticket).await?;
    Ok(plain_json(
        HttpResponse::Ok(),
        &serde_json::json!({"status": "ok"}),
    ))
}

fn read_inbound(members: Members) -> Result<InboundMessage, Vec<String>> {
    let mut f = BodyFields::new(members);
    let body = f.required("body", read::text::<MAX_MESSAGE_CHARS>);
    let kind = f.optional("type", |v| {
        read::string(v)?
            .parse::<MessageType>()
            .map_err(|e| format!("must be one of {}", e.expected.join(", ")))
    });
    let media_url = f.optional("media_url", read::string);
    f.finish(|| {
        Some(InboundMessage {
            body: body?,
            kind: kind?.unwrap_or(MessageType::Text),
            media_url: media_url?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbound_message_needs_a_body_and_a_known_type() {
        let read = |text: &str| read_inbound(serde_json::from_str(text).unwrap());
        let ok = read(r#"{"body":"hola","media_url":null}"#).unwrap();
        assert_eq!((ok.kind, ok.media_url), (MessageType::Text, None));
        assert_eq!(
            read(r#"{"type":"fax","media_url":3}"#).unwrap_err(),
            [
                "body should not be empty",
                "type must be one of text, image, video, audio, document, sticker, location, \
                 template",
                "media_url must be a string",
            ]
        );
    }
}
