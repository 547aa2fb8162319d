//! `GET /api/public/contact/{aiContactId}/info`: the contact-info endpoint.

use actix_web::http::header::{self, EntityTag, Header, HeaderValue, IfNoneMatch};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::auth_limit::AuthFailureLimit;
use super::error::{ApiError, mime_json};
use super::request_context::record_client;
use super::worker::{Rendered, WorkerContext};
use crate::api_key;
use crate::model::{
    ChatStatus, ClientId, ContactId, ContactInfo, CustomerId, JsonObject, Platform, Ticket,
    TicketId, TicketStatus, Timestamp,
};

pub const ROUTE: &str = "/api/public/contact/{aiContactId}/info";

const API_KEY_HEADER: &str = "x-api-key";

/// Answers, in this order: 401 for a missing, repeated, unknown or revoked `x-api-key`
/// (429 with
/// `Retry-After` once its address has failed too often); 400 when
/// `aiContactId` is not a canonical UUID; 404 when the key's client has no such contact;
/// 200 with the contact, an `ETag` and `Cache-Control: private, no-cache`, or 304 when
/// `If-None-Match` names the current tag. `HEAD` answers the same without a body.
///
/// The lookups run on the worker thread, on the worker's own connection: no hop to a
/// thread pool. They are point reads of a few microseconds.
pub async fn contact_info(
    req: HttpRequest,
    worker: web::Data<WorkerContext>,
    auth_limit: web::Data<AuthFailureLimit>,
) -> Result<HttpResponse, ApiError> {
    match answer(&req, &worker) {
        Err(ApiError::Unauthorized) => {
            let refused = req
                .peer_addr()
                .map(|peer| auth_limit.record_failure(peer.ip()));
            match refused {
                Some(Err(retry_after)) => Err(ApiError::TooManyFailedAttempts { retry_after }),
                _ => Err(ApiError::Unauthorized),
            }
        }
        other => other,
    }
}

fn answer(req: &HttpRequest, worker: &WorkerContext) -> Result<HttpResponse, ApiError> {
    // A repeated header is refused rather than read by position: proxies and clients
    // disagree on which of two values counts.
    let mut sent = req.headers().get_all(API_KEY_HEADER);
    let key_hash = match (sent.next(), sent.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
    .and_then(|v| v.to_str().ok())
    .filter(|k| !k.is_empty())
    .map(api_key::hash)
    .ok_or(ApiError::Unauthorized)?;

    let contact_id = req.match_info().get("aiContactId").map(ContactId::parse);
    let rendered = worker.read(|snapshot| {
        let client = snapshot
            .client_for_key(&key_hash)?
            .ok_or(ApiError::Unauthorized)?;
        record_client(&tracing::Span::current(), &client);
        // Checked only now that the key is known good: 401 comes before 400.
        let id = contact_id.flatten().ok_or(ApiError::InvalidContactId)?;
        snapshot
            .contact(client, id, render)?
            .ok_or(ApiError::ContactNotFound)
    })?;

    let cache_control = HeaderValue::from_static("private, no-cache");
    if is_fresh(req, &rendered.etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, rendered.etag))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime_json()))
        .insert_header((header::ETAG, rendered.etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .body(rendered.body))
}

fn render(info: &ContactInfo) -> Result<Rendered, ApiError> {
    let body = serde_json::to_vec(&ContactInfoBody::from(info))
        .map_err(|e| ApiError::Unexpected(e.into()))?;
    let etag = etag_of(&body);
    Ok(Rendered {
        body: body.into(),
        etag,
    })
}

/// A strong tag from the body's SHA-256 digest (128 bits of it).
fn etag_of(body: &[u8]) -> EntityTag {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    EntityTag::new_strong(hex)
}

/// True when the client's `If-None-Match` already names `etag` (weak comparison, as
/// RFC 9110 asks for this header).
fn is_fresh(req: &HttpRequest, etag: &EntityTag) -> bool {
    match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(etag)),
        Err(_) => false,
    }
}

/// The 200 body: every key always present, in the contract's order.
#[derive(Serialize)]
struct ContactInfoBody<'a> {
    id: ContactId,
    name: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    platform: Platform,
    created_at: Timestamp,
    last_message_at: Timestamp,
    last_message_content: Option<&'a str>,
    chat_status: ChatStatus,
    is_chat_read: bool,
    blocked: bool,
    client_id: ClientId,
    ai_customer_id: CustomerId,
    default_stage_id: Option<&'a str>,
    active_ticket_v2_id: Option<TicketId>,
    last_closed_ticket_v2_id: Option<TicketId>,
    current_integration_data: Option<&'a JsonObject>,
    metadata: &'a JsonObject,
    active_ticket: Option<TicketBody<'a>>,
    /// The same object as `active_ticket`, kept for older clients.
    active_ticket_v2: Option<TicketBody<'a>>,
    last_closed_ticket: Option<TicketBody<'a>>,
}

#[derive(Serialize, Clone, Copy)]
struct TicketBody<'a> {
    id: TicketId,
    ai_contact_id: ContactId,
    status: &'a TicketStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
    ticket_summary: Option<&'a str>,
    metadata: &'a JsonObject,
}

impl<'a> From<&'a Ticket> for TicketBody<'a> {
    fn from(t: &'a Ticket) -> Self {
        Self {
            id: t.id,
            ai_contact_id: t.ai_contact_id,
            status: &t.status,
            created_at: t.created_at,
            updated_at: t.updated_at,
            ticket_summary: t.ticket_summary.as_deref(),
            metadata: &t.metadata,
        }
    }
}

impl<'a> From<&'a ContactInfo> for ContactInfoBody<'a> {
    fn from(info: &'a ContactInfo) -> Self {
        let c = &info.contact;
        let active_ticket = info.active_ticket.as_ref().map(TicketBody::from);
        Self {
            id: c.id,
            name: &c.name,
            email: c.email.as_deref(),
            phone: c.phone.as_deref(),
            platform: c.platform,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            last_message_content: c.last_message_content.as_deref(),
            chat_status: c.chat_status,
            is_chat_read: c.is_chat_read,
            blocked: c.blocked,
            client_id: c.client_id,
            ai_customer_id: c.ai_customer_id,
            default_stage_id: c.default_stage_id.as_deref(),
            active_ticket_v2_id: c.active_ticket_v2_id,
            last_closed_ticket_v2_id: c.last_closed_ticket_v2_id,
            current_integration_data: c.current_integration_data.as_ref(),
            metadata: &c.metadata,
            active_ticket,
            active_ticket_v2: active_ticket,
            last_closed_ticket: info.last_closed_ticket.as_ref().map(TicketBody::from),
        }
    }
}
