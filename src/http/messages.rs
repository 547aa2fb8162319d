//! `GET /api/public/contact/v2/{aiContactId}/messages?page=N`: a contact's conversation.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::answer::{self, Rendered};
use super::auth::ApiKey;
use super::error::ApiError;
use super::params::{self, Params};
use super::worker::WorkerContext;
use crate::model::{ContactId, MESSAGES_PER_PAGE, MessageBody};

pub const ROUTE: &str = "/api/public/contact/v2/{aiContactId}/messages";

/// Answers, in this order: 401 as `/info`; 400 `Validation failed (uuid is expected)`
/// for a bad id, then `Invalid page parameter` unless `page` is a whole number from 1;
/// 404 `Contact not found`; 200 with page `page` of 50 messages, oldest first.
pub async fn messages(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
) -> Result<HttpResponse, ApiError> {
    let contact_id = req.match_info().get("aiContactId").map(ContactId::parse);
    let page = params::page(&Params::parse(req.query_string()));
    let rendered = worker.read(|snapshot| {
        let client = key.client(snapshot)?;
        let id = contact_id.flatten().ok_or(ApiError::InvalidPathId)?;
        let page = page.ok_or(ApiError::BadRequest("Invalid page parameter"))?;
        let (messages, total) = snapshot
            .reader()
            .messages(&client, &id, page)?
            .ok_or(ApiError::ContactNotFound)?;
        Rendered::of(&PageBody {
            messages: messages
                .iter()
                .map(|m| MessageBody::new(m, client))
                .collect(),
            page,
            has_more: u64::from(page) * u64::from(MESSAGES_PER_PAGE) < total,
            total,
        })
    })?;
    Ok(answer::json(&req, rendered))
}

#[derive(Serialize)]
struct PageBody<'a> {
    messages: Vec<MessageBody<'a>>,
    page: u32,
    #[serde(rename = "hasMore")]
    has_more: bool,
    total: u64,
}
