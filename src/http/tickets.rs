//! `POST /api/public/ticket/metadata` (SPEC 7.6).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::value::RawValue;

use super::auth::ApiKey;
use super::body;
use super::contact_metadata::too_large;
use super::error::{ApiError, mime_json};
use super::limits::RequestLimits;
use super::params::Problems;
use super::worker::WorkerContext;
use crate::model::{
    ContactId, Members, MetadataPatch, TicketId, TicketTarget, abbreviate, phone_digits,
};
use crate::store::{MetadataWrite, Writer};

pub const METADATA_ROUTE: &str = "/api/public/ticket/metadata";

/// Answers 401 as `/info`; 415, 413 and 400 for the body as the contact's metadata
/// write does, and 400 with every bad field named; 404 `Contact not found` when the
/// contact named by `ai_contact_id` or `contact_number` does not exist, 404 `Ticket not
/// found` when there is no ticket to write; else 201 `{"status":"ok"}`.
pub async fn update_metadata(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let members = body::json_object(&req, payload, &limits).await?;
    let request = TicketMetadataRequest::read(members).map_err(ApiError::Validation)?;
    let written = writer
        .update_ticket_metadata(
            client,
            request.target,
            request.allow_closed_ticket,
            request.metadata,
        )
        .await?;
    match written {
        MetadataWrite::Written => Ok(HttpResponse::Created()
            .content_type(mime_json())
            .body(r#"{"status":"ok"}"#)),
        MetadataWrite::ContactNotFound => Err(ApiError::ContactNotFound),
        MetadataWrite::TicketNotFound => Err(ApiError::TicketNotFound),
        MetadataWrite::TooLarge { bytes } => Err(too_large(bytes)),
    }
}

/// The body of a ticket-metadata write, checked.
#[derive(Debug)]
struct TicketMetadataRequest {
    target: TicketTarget,
    allow_closed_ticket: bool,
    metadata: MetadataPatch,
}

impl TicketMetadataRequest {
    /// Reads the body's fields (`null` counts as absent; other keys are ignored), and
    /// reports every problem at once.
    fn read(members: Members) -> Result<Self, Vec<String>> {
        let mut fields: [(&str, Option<Box<RawValue>>); 5] = [
            ("ticket_id", None),
            ("ai_contact_id", None),
            ("contact_number", None),
            ("metadata", None),
            ("allow_closed_ticket", None),
        ];
        for (key, value) in members.0 {
            if let Some(field) = fields.iter_mut().find(|(name, _)| *name == key) {
                field.1 = Some(value).filter(|v| v.get() != "null");
            }
        }
        let [
            ticket_id,
            ai_contact_id,
            contact_number,
            metadata,
            allow_closed_ticket,
        ] = fields.map(|(_, value)| value);
        let mut problems = Problems::default();

        let given = [&ticket_id, &ai_contact_id, &contact_number]
            .iter()
            .filter(|v| v.is_some())
            .count();
        let ticket_id = ticket_id.map(|v| problems.check(uuid("ticket_id", &v, TicketId::parse)));
        let ai_contact_id =
            ai_contact_id.map(|v| problems.check(uuid("ai_contact_id", &v, ContactId::parse)));
        let contact_number = contact_number.map(|v| problems.check(digits(&v)));
        problems.check(if given == 1 {
            Ok(())
        } else {
            Err("exactly one of ticket_id, ai_contact_id, contact_number must be given".into())
        });
        let metadata = problems.check(string_values(metadata.as_deref()));
        let allow_closed_ticket =
            problems.check(match allow_closed_ticket.as_deref().map(RawValue::get) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(_) => Err("allow_closed_ticket must be a boolean".into()),
            });

        let target = match (ticket_id, ai_contact_id, contact_number) {
            (Some(Some(id)), None, None) => Some(TicketTarget::Ticket(id)),
            (None, Some(Some(id)), None) => Some(TicketTarget::Contact(id)),
            (None, None, Some(Some(digits))) => Some(TicketTarget::PhoneDigits(digits)),
            _ => None,
        };
        match (target, metadata, allow_closed_ticket) {
            (Some(target), Some(metadata), Some(allow_closed_ticket)) if problems.0.is_empty() => {
                Ok(Self {
                    target,
                    allow_closed_ticket,
                    metadata,
                })
            }
            _ => Err(problems.0),
        }
    }
}

fn uuid<T>(name: &str, value: &RawValue, parse: impl Fn(&str) -> Option<T>) -> Result<T, String> {
    serde_json::from_str::<String>(value.get())
        .ok()
        .and_then(|s| parse(&s))
        .ok_or_else(|| format!("{name} must be a UUID"))
}

fn digits(value: &RawValue) -> Result<String, String> {
    let number = serde_json::from_str::<String>(value.get())
        .map_err(|_| "contact_number must be a string".to_owned())?;
    let digits = phone_digits(&number);
    if digits.is_empty() {
        return Err("contact_number must contain at least one digit".into());
    }
    Ok(digits)
}

/// `metadata`: an object of strings, keys kept as sent.
fn string_values(value: Option<&RawValue>) -> Result<MetadataPatch, String> {
    let members = value
        .filter(|v| v.get().starts_with('{'))
        .and_then(|v| serde_json::from_str::<Members>(v.get()).ok())
        .ok_or("metadata must be an object of strings")?;
    let mut patch = MetadataPatch::default();
    let mut wrong = Vec::new();
    for (key, value) in members.0 {
        if value.get().starts_with('"') {
            patch.insert(key, &value);
        } else {
            wrong.push(abbreviate(&format!("{key:?}")));
        }
    }
    if wrong.is_empty() {
        Ok(patch)
    } else {
        Err(format!(
            "metadata values must be strings; not so for {}",
            wrong.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<TicketMetadataRequest, Vec<String>> {
        TicketMetadataRequest::read(serde_json::from_str(text).unwrap())
    }

    const TICKET: &str = "7b1a3e0c-33f4-4a4e-9a52-0d9c1f2b8e11";

    #[test]
    fn exactly_one_target_with_string_metadata() {
        let ok = read(&format!(
            r#"{{"ticket_id":"{TICKET}","ai_contact_id":null,"metadata":{{"a":"1"}},"x":1}}"#
        ))
        .unwrap();
        assert_eq!(
            ok.target,
            TicketTarget::Ticket(TicketId::parse(TICKET).unwrap())
        );
        assert!(!ok.allow_closed_ticket);
        let phone = read(
            r#"{"contact_number":"+56 9 1234-5678","metadata":{},"allow_closed_ticket":true}"#,
        )
        .unwrap();
        assert_eq!(
            phone.target,
            TicketTarget::PhoneDigits("56912345678".into())
        );
        assert!(phone.allow_closed_ticket);
    }

    #[test]
    fn every_problem_is_reported_and_rules_name_all_their_fields() {
        let both = format!(r#"{{"ticket_id":"{TICKET}","contact_number":"5","metadata":{{}}}}"#);
        assert_eq!(
            read(&both).unwrap_err(),
            ["exactly one of ticket_id, ai_contact_id, contact_number must be given"]
        );
        assert_eq!(
            read(r#"{"ticket_id":"nope","metadata":{"a":1,"b":"x","c":null},"allow_closed_ticket":"yes"}"#)
                .unwrap_err(),
            [
                "ticket_id must be a UUID",
                r#"metadata values must be strings; not so for "a", "c""#,
                "allow_closed_ticket must be a boolean",
            ]
        );
        assert_eq!(
            read(r#"{"contact_number":"n/a"}"#).unwrap_err(),
            [
                "contact_number must contain at least one digit",
                "metadata must be an object of strings",
            ]
        );
        assert_eq!(
            read(r#"{"metadata":{}}"#).unwrap_err(),
            ["exactly one of ticket_id, ai_contact_id, contact_number must be given"]
        );
    }
}
