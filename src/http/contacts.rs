//! Contacts: `GET /api/public/contact/{aiContactId}/info`, the list and the search.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::answer::{self, Rendered};
use super::auth::ApiKey;
use super::error::ApiError;
use super::params::{self, Params};
use super::query_pool::QueryPool;
use super::worker::WorkerContext;
use crate::model::{
    ChatStatus, ClientId, ContactId, ContactSummary, CustomerId, Platform, StageId, TicketId,
    Timestamp,
};

pub const INFO_ROUTE: &str = "/api/public/contact/{aiContactId}/info";
pub const LIST_ROUTE: &str = "/api/public/contacts";
pub const SEARCH_ROUTE: &str = "/api/public/contacts/search";

/// Answers, in this order: 401 for a missing, repeated, unknown or revoked `x-api-key`
/// (429 with `Retry-After` once its address has failed too often); 400 when
/// `aiContactId` is not a canonical UUID; 404 when the key's client has no such contact;
/// 200 with the contact, an `ETag` and `Cache-Control: private, no-cache`, or 304 when
/// `If-None-Match` names the current tag. `HEAD` answers the same without a body.
///
/// The lookups run on the worker thread, on the worker's own connection: no hop to a
/// thread pool. The answer is read as stored (the read model of V3): one row, sent as
/// it is, tag and all.
pub async fn contact_info(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
) -> Result<HttpResponse, ApiError> {
    let contact_id = req.match_info().get("aiContactId").map(ContactId::parse);
    let stored = worker.read(|snapshot| {
        let client = key.client(snapshot)?;
        // Checked only now that the key is known good: 401 comes before 400.
        let id = contact_id.flatten().ok_or(ApiError::InvalidPathId)?;
        snapshot
            .reader()
            .contact_body(&client, &id)?
            .ok_or(ApiError::ContactNotFound)
    })?;
    Ok(answer::json(&req, Rendered::stored(stored)))
}

/// `GET /api/public/contacts` (SPEC 7.1): 401 as `/info`; 400 with one message per bad
/// parameter; 200 with a page of contact summaries (`ETag`, 304 as `/info`).
///
/// The key is checked on the worker; the query runs on the query threads, since its
/// cost grows with the client's contacts.
pub async fn list(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    queries: web::Data<QueryPool>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let query = params::contact_list(&Params::parse(req.query_string()), Timestamp::now())
        .map_err(ApiError::Validation)?;
    let rendered = queries
        .run(move |reader| {
            let contacts = reader.list_contacts(&client, &query)?;
            Rendered::of(&summaries(&contacts))
        })
        .await?;
    Ok(answer::json(&req, rendered))
}

/// `GET /api/public/contacts/search` (SPEC 7.2): 401 as `/info`; 400 `Neither phone nor
/// email provided`; 200 with at most 50 contact summaries, newest first.
/// Runs on the query threads, as the list does.
pub async fn search(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    queries: web::Data<QueryPool>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let search = params::contact_search(&Params::parse(req.query_string()))
        .ok_or(ApiError::BadRequest("Neither phone nor email provided"))?;
    let rendered = queries
        .run(move |reader| {
            let contacts = reader.search_contacts(&client, &search)?;
            Rendered::of(&summaries(&contacts))
        })
        .await?;
    Ok(answer::json(&req, rendered))
}

fn summaries(contacts: &[ContactSummary]) -> Vec<SummaryBody<'_>> {
    contacts.iter().map(SummaryBody::from).collect()
}

/// A contact in a list or search answer, keys in the contract's order.
#[derive(Serialize)]
struct SummaryBody<'a> {
    id: ContactId,
    name: &'a str,
    phone: Option<&'a str>,
    email: Option<&'a str>,
    platform: Platform,
    last_message_at: Timestamp,
    chat_status: ChatStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
    client_id: ClientId,
    ai_customer_id: CustomerId,
    default_stage_id: Option<&'a str>,
    blocked: bool,
    is_chat_read: bool,
    active_ticket_v2: Option<TicketRefBody>,
}

#[derive(Serialize)]
struct TicketRefBody {
    id: TicketId,
    current_stage_id: Option<StageId>,
}

impl<'a> From<&'a ContactSummary> for SummaryBody<'a> {
    fn from(s: &'a ContactSummary) -> Self {
        let c = &s.contact;
        Self {
            id: c.id,
            name: &c.name,
            phone: c.phone.as_deref(),
            email: c.email.as_deref(),
            platform: c.platform,
            last_message_at: c.last_message_at,
            chat_status: c.chat_status,
            created_at: c.created_at,
            updated_at: c.updated_at,
            client_id: c.client_id,
            ai_customer_id: c.ai_customer_id,
            default_stage_id: c.default_stage_id.as_deref(),
            blocked: c.blocked,
            is_chat_read: c.is_chat_read,
            active_ticket_v2: s.active_ticket.map(|t| TicketRefBody {
                id: t.id,
                current_stage_id: t.current_stage_id,
            }),
        }
    }
}
