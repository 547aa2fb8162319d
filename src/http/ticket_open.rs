//! `POST /api/public/ticket/open/{whatsapp|web-whatsapp}/{phoneId}` (SPEC 11.2): a
//! ticket opened in a stage (or the active one moved), with a first message.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::value::RawValue;

use super::answer::plain_json;
use super::auth::ApiKey;
use super::body;
use super::body_fields::{self as read, BodyFields};
use super::error::ApiError;
use super::limits::RequestLimits;
use super::worker::WorkerContext;
use crate::model::{ContactId, Members, OutboundContent, Platform, StageId, TicketOpen};
use crate::store::Writer;

pub const ROUTE: &str = "/api/public/ticket/open/{channel}/{phoneId}";

/// 401 as `/info`; 404 as an unknown route for a channel other than `whatsapp` or
/// `web-whatsapp`; 415, 413 and 400 for the body as every write, and 400 naming every
/// bad field; 404 `Channel not found`, `Stage not found`; else 201
/// `{"aiContactId","status":"ok"}`.
pub async fn open(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let kind = match req.match_info().get("channel") {
        Some("whatsapp") => Platform::Whatsapp,
        Some("web-whatsapp") => Platform::WebWhatsapp,
        _ => {
            return Err(ApiError::RouteNotFound {
                method: req.method().to_string(),
                path: req.path().to_owned(),
            });
        }
    };
    let phone_id = req
        .match_info()
        .get("phoneId")
        .unwrap_or_default()
        .to_owned();
    let members = body::json_object(&req, payload, &limits).await?;
    let request = read_open(kind, phone_id, members).map_err(ApiError::Validation)?;
    let id = writer.open_ticket(client, request).await?;
    Ok(plain_json(
        HttpResponse::Created(),
        &Opened {
            ai_contact_id: id,
            status: "ok",
        },
    ))
}

#[derive(Serialize)]
struct Opened {
    #[serde(rename = "aiContactId")]
    ai_contact_id: ContactId,
    status: &'static str,
}

fn read_open(
    kind: Platform,
    phone_id: String,
    members: Members,
) -> Result<TicketOpen, Vec<String>> {
    let mut f = BodyFields::new(members);
    let phone = f.required("to_phone_number", read::phone_or_number);
    let stage = f.required("stage_id", |v| read::uuid(v, StageId::parse));
    let name = f.optional("contact_name", read::text::<200>);
    let email = f.optional("email", read::email);
    let contact_metadata = f.optional("contact_metadata", read::snake_case_object);
    let ticket_metadata = f.optional("ticket_metadata", read::string_object);
    let integration_data = f.optional("integration_data", read::object_as_sent);
    let message = match f.optional("message", |v| Ok(v.to_owned())).flatten() {
        None => Some(None),
        Some(raw) => match message(&raw) {
            Ok(m) => Some(Some(m)),
            Err(problems) => {
                problems.into_iter().for_each(|p| f.note(p));
                None
            }
        },
    };
    f.finish(|| {
        Some(TicketOpen {
            kind,
            phone_id,
            phone: phone?,
            stage: stage?,
            name: name?,
            email: email?,
            contact_metadata: contact_metadata?.unwrap_or_default(),
            ticket_metadata: ticket_metadata?.unwrap_or_default(),
            integration_data: integration_data?.unwrap_or_default(),
            message: message?,
        })
    })
}

/// `{"content","templateId","ai_generated"}`: `ai_generated` required, and at least one
/// of the other two. Its problems are named `message.<field>`.
fn message(value: &RawValue) -> Result<OutboundContent, Vec<String>> {
    let members = read::object(value).map_err(|rule| vec![format!("message {rule}")])?;
    let mut f = BodyFields::new(members);
    let content = f.optional("content", read::text::<4096>);
    let template_id = f.optional("templateId", read::text::<512>);
    let ai_generated = f.required("ai_generated", read::boolean);
    if matches!((&content, &template_id), (Some(None), Some(None))) {
        f.note("must have at least one of content, templateId".into());
    }
    f.finish(|| {
        Some(OutboundContent {
            content: content?,
            template_id: template_id?,
            ai_generated: ai_generated?,
        })
    })
    .map_err(|problems| {
        let named = |p: String| match p.starts_with("must ") {
            true => format!("message {p}"),
            false => format!("message.{p}"),
        };
        problems.into_iter().map(named).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<TicketOpen, Vec<String>> {
        read_open(
            Platform::Whatsapp,
            "pid".into(),
            serde_json::from_str(text).unwrap(),
        )
    }

    const STAGE: &str = "7b1a3e0c-33f4-4a4e-9a52-0d9c1f2b8e11";

    #[test]
    fn a_number_of_digits_is_a_phone_and_the_message_is_checked_inside() {
        let ok = read(&format!(
            r#"{{"to_phone_number":56912345678,"stage_id":"{STAGE}",
                "message":{{"templateId":"welcome","ai_generated":false}}}}"#
        ))
        .unwrap();
        assert_eq!(ok.phone.stored(), "+56912345678");
        assert_eq!(
            ok.message.unwrap().kind(),
            crate::model::MessageType::Template
        );
        assert_eq!(
            read(&format!(
                r#"{{"to_phone_number":"x","stage_id":"{STAGE}","email":"a@b",
                    "ticket_metadata":{{"a":1}},"message":{{"content":""}}}}"#
            ))
            .unwrap_err(),
            [
                "to_phone_number must contain at least one digit",
                r#"email must be an email address, not "a@b""#,
                r#"ticket_metadata values must be strings; not so for "a""#,
                "message.content should not be empty",
                "message.ai_generated should not be empty",
            ]
        );
        assert_eq!(
            read(&format!(
                r#"{{"to_phone_number":"5","stage_id":"{STAGE}","message":{{"ai_generated":true}}}}"#
            ))
            .unwrap_err(),
            ["message must have at least one of content, templateId"]
        );
    }
}
