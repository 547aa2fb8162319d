//! `POST /api/public/whatsapp/message/session` (SPEC 11.3): a free-form text inside
//! WhatsApp's 24-hour window.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::answer::plain_json;
use super::auth::ApiKey;
use super::body;
use super::body_fields::{self as read, BodyFields};
use super::error::ApiError;
use super::limits::RequestLimits;
use super::worker::WorkerContext;
use crate::model::{
    ContactId, MAX_MESSAGE_CHARS, Members, MessageId, SessionMessage, SessionTarget,
};
use crate::store::Writer;

pub const SESSION_ROUTE: &str = "/api/public/whatsapp/message/session";

/// 401 as `/info`; 415, 413 and 400 for the body as every write, and 400 naming every
/// bad field; 404 `Contact not found`; 400 when the contact is not on WhatsApp or its
/// window is closed; 404 `Channel not found`; else 201 `{"status":"ok","message_id"}`.
pub async fn session_message(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let members = body::json_object(&req, payload, &limits).await?;
    let request = read_session(members).map_err(ApiError::Validation)?;
    let id = writer.send_session_message(client, request).await?;
    Ok(plain_json(
        HttpResponse::Created(),
        &Sent {
            status: "ok",
            message_id: id,
        },
    ))
}

#[derive(Serialize)]
struct Sent {
    status: &'static str,
    message_id: MessageId,
}

fn read_session(members: Members) -> Result<SessionMessage, Vec<String>> {
    let mut f = BodyFields::new(members);
    let text = f.required("message", read::text::<MAX_MESSAGE_CHARS>);
    let contact = f.optional("contact_id", |v| read::uuid(v, ContactId::parse));
    let phone = f.optional("phone", read::phone);
    let target = match (contact, phone) {
        (Some(Some(id)), Some(None)) => Some(SessionTarget::Contact(id)),
        (Some(None), Some(Some(phone))) => Some(SessionTarget::Phone(phone)),
        (Some(None), Some(None)) | (Some(Some(_)), Some(Some(_))) => {
            f.note("exactly one of contact_id, phone must be given".into());
            None
        }
        _ => None,
    };
    let from = f.optional("from_phone_number", read::phone);
    let kind = f.optional("type", |v| match read::string(v)?.as_str() {
        "text" => Ok(()),
        _ => Err("must be text".into()),
    });
    f.optional("reply_message_id", read::string);
    f.optional("pause_assistant", read::boolean);
    f.finish(|| {
        kind?;
        Some(SessionMessage {
            target: target?,
            from: from?,
            text: text?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<SessionMessage, Vec<String>> {
        read_session(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn exactly_one_target_and_a_bounded_text() {
        let ok = read(r#"{"message":"hi","phone":"+56 9 1","pause_assistant":false}"#).unwrap();
        assert!(matches!(ok.target, SessionTarget::Phone(ref p) if p.digits() == "5691"));
        let long = "x".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            read(&format!(
                r#"{{"message":"{long}","phone":"1","contact_id":"7b1a3e0c-33f4-4a4e-9a52-0d9c1f2b8e11","type":"image"}}"#
            ))
            .unwrap_err(),
            [
                "message must be at most 4096 characters (it has 4097)",
                "exactly one of contact_id, phone must be given",
                "type must be text",
            ]
        );
        assert_eq!(
            read(r#"{"message":""}"#).unwrap_err(),
            [
                "message should not be empty",
                "exactly one of contact_id, phone must be given"
            ]
        );
    }
}
