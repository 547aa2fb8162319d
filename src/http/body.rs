//! Request bodies: a JSON object sent as `application/json`, within the body limit.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::limits::RequestLimits;
use crate::model::{JsonObject, Members, abbreviate};

/// The body of a POST as a JSON object's members, in order. 415 unless the content type
/// is `application/json` (parameters such as `charset` allowed); 413 past the body limit
/// (for bodies sent without a `Content-Length`, which the limits middleware cannot see);
/// 408 when the whole body has not arrived within the body timeout;
/// 400 with a sentence for malformed JSON, and with a list for any other value than an
/// object or one nested too deeply.
pub async fn json_object(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &RequestLimits,
) -> Result<Members, ApiError> {
    if !is_json(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let read =
        payload.to_bytes_limited(usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX));
    let bytes = tokio::time::timeout(limits.body_timeout, read)
        .await
        .map_err(|_| ApiError::RequestTimeout)?
        .map_err(|_| ApiError::PayloadTooLarge)?
        .map_err(|e| ApiError::MalformedBody(format!("The body could not be read: {e}")))?;
    let raw: Box<RawValue> = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::MalformedBody(format!("The body is not valid JSON: {e}")))?;
    if !raw.get().starts_with('{') {
        return Err(ApiError::Validation(vec![format!(
            "body must be a JSON object, not {}",
            abbreviate(raw.get())
        )]));
    }
    let object = JsonObject::try_from(raw)
        .map_err(|problem| ApiError::Validation(vec![format!("body {problem}")]))?;
    Ok(object.members())
}

/// `application/json`, in any case, with or without parameters.
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The body's fields by name (`null` counts as absent when `null_is_absent`).
pub fn fields<const N: usize>(
    members: Members,
    names: [&'static str; N],
    null_is_absent: bool,
) -> [Option<Box<RawValue>>; N] {
    let mut found: [Option<Box<RawValue>>; N] = std::array::from_fn(|_| None);
    for (key, value) in members.0 {
        if let Some(at) = names.iter().position(|n| *n == key) {
            found[at] = Some(value).filter(|v| !(null_is_absent && v.get() == "null"));
        }
    }
    found
}
