//! 200 answers of JSON: `ETag`, `Cache-Control`, and 304 for a client that has the body.

use actix_web::http::header::{self, EntityTag, Header, HeaderValue, IfNoneMatch};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::{ApiError, mime_json};
use crate::model::{InfoBody, body_tag};

/// A 200 body as sent, with its tag.
#[derive(Clone)]
pub struct Rendered {
    pub body: Bytes,
    pub etag: EntityTag,
}

impl Rendered {
    pub fn of(value: &impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::Unexpected(e.into()))?;
        Ok(Self {
            etag: etag_of(&body),
            body: body.into(),
        })
    }

    /// A body the store kept rendered, tag and all (the `/info` read model).
    pub fn stored(stored: InfoBody) -> Self {
        Self {
            etag: EntityTag::new_strong(stored.etag),
            body: stored.body.into(),
        }
    }

    pub fn from_static(body: &'static [u8]) -> Self {
        Self {
            etag: etag_of(body),
            body: Bytes::from_static(body),
        }
    }
}

/// 200 with the body, or 304 when `If-None-Match` names its tag. The data is real-time:
/// clients may keep it but must revalidate.
pub fn json(req: &HttpRequest, rendered: Rendered) -> HttpResponse {
    with_type(req, rendered, "application/json", "private, no-cache")
}

/// 200 with the body as `content_type`, or 304 when `If-None-Match` names its tag.
pub fn with_type(
    req: &HttpRequest,
    rendered: Rendered,
    content_type: &'static str,
    cache_control: &'static str,
) -> HttpResponse {
    let cache_control = HeaderValue::from_static(cache_control);
    if is_fresh(req, &rendered.etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, rendered.etag))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::ETAG, rendered.etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .body(rendered.body)
}

/// `value` as a JSON body of the builder's status, without a tag: for answers to writes.
pub fn plain_json(
    mut builder: actix_web::HttpResponseBuilder,
    value: &impl Serialize,
) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => builder.content_type(mime_json()).body(body),
        Err(e) => actix_web::ResponseError::error_response(&ApiError::Unexpected(e.into())),
    }
}

/// `{"status":"ok","deleted":N}`: the answer of a route that empties a collection.
#[derive(Serialize)]
pub struct Cleared {
    status: &'static str,
    deleted: usize,
}

impl Cleared {
    pub fn of(deleted: usize) -> Self {
        Self {
            status: "ok",
            deleted,
        }
    }
}

fn etag_of(body: &[u8]) -> EntityTag {
    EntityTag::new_strong(body_tag(body))
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
