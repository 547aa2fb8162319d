//! `POST /api/public/contact/{aiContactId}/update-metadata` (SPEC 7.5).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::value::RawValue;

use super::auth::ApiKey;
use super::body;
use super::error::{ApiError, mime_json};
use super::limits::RequestLimits;
use super::params::path_id;
use super::worker::WorkerContext;
use crate::model::{ContactId, MAX_METADATA_BYTES, Members, MetadataPatch, abbreviate, snake_case};
use crate::store::{MetadataWrite, Writer};

pub const ROUTE: &str = "/api/public/contact/{aiContactId}/update-metadata";

/// Answers 401 as `/info`; 400 for a bad contact id, then 415 for a body that is not
/// `application/json`, 413 past the body limit, 400 for malformed JSON, another value
/// than an object, or a key that is empty in snake_case; 404 when the key's client has
/// no such contact; 400 when the merged metadata would pass 256 KiB; else 201 with each
/// key written and its value.
pub async fn update_metadata(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let id = path_id(&req, "aiContactId", ContactId::parse)?;
    let members = body::json_object(&req, payload, &limits).await?;
    let patch = patch_of(members).map_err(ApiError::Validation)?;
    let answer = written(&patch)?;
    match writer.update_contact_metadata(client, id, patch).await? {
        MetadataWrite::Written => Ok(HttpResponse::Created()
            .content_type(mime_json())
            .body(answer)),
        MetadataWrite::ContactNotFound => Err(ApiError::ContactNotFound),
        MetadataWrite::TicketNotFound => Err(ApiError::TicketNotFound),
        MetadataWrite::TooLarge { bytes } => Err(too_large(bytes)),
    }
}

/// The keys and values to write: the body's `metadata` when that is its only key and
/// holds an object, else the body itself; keys in snake_case.
fn patch_of(members: Members) -> Result<MetadataPatch, Vec<String>> {
    let mut members = members.0;
    let wrapped = matches!(
        members.as_slice(),
        [(key, value)] if key == "metadata" && value.get().starts_with('{')
    );
    if wrapped {
        let (_, inner) = members.remove(0);
        members = serde_json::from_str::<Members>(inner.get())
            .map_err(|e| vec![format!("metadata could not be read: {e}")])?
            .0;
    }
    let mut patch = MetadataPatch::default();
    let mut problems = Vec::new();
    for (key, value) in members {
        let stored = snake_case(&key);
        if stored.is_empty() {
            problems.push(format!(
                "metadata key {} is empty once written in snake_case",
                abbreviate(&format!("{key:?}"))
            ));
        } else {
            patch.insert(stored, &value);
        }
    }
    if problems.is_empty() {
        Ok(patch)
    } else {
        Err(problems)
    }
}

/// The 201 body: `[{"key":…,"value":…}]`, one entry per key written.
fn written(patch: &MetadataPatch) -> Result<String, ApiError> {
    #[derive(Serialize)]
    struct Entry<'a> {
        key: &'a str,
        value: &'a RawValue,
    }
    let entries: Vec<Entry<'_>> = patch
        .entries()
        .map(|(key, value)| Entry { key, value })
        .collect();
    serde_json::to_string(&entries).map_err(|e| ApiError::Unexpected(e.into()))
}

pub(super) fn too_large(bytes: usize) -> ApiError {
    ApiError::Validation(vec![format!(
        "metadata must not be larger than {MAX_METADATA_BYTES} bytes once merged \
         (it would be {bytes})"
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(text: &str) -> Members {
        serde_json::from_str(text).unwrap()
    }

    fn pairs(patch: &MetadataPatch) -> Vec<(String, String)> {
        patch
            .entries()
            .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
            .collect()
    }

    #[test]
    fn the_body_is_the_metadata_unless_it_wraps_an_object_in_metadata_alone() {
        let wrapped = patch_of(members(r#"{"metadata":{"companyName":"Acme"}}"#)).unwrap();
        assert_eq!(
            pairs(&wrapped),
            [("company_name".into(), r#""Acme""#.into())]
        );
        let bare = patch_of(members(r#"{"metadata":"x"}"#)).unwrap();
        assert_eq!(pairs(&bare), [("metadata".into(), r#""x""#.into())]);
        let beside = patch_of(members(r#"{"metadata":{"a":1},"b":2}"#)).unwrap();
        assert_eq!(
            pairs(&beside),
            [
                ("metadata".into(), r#"{"a":1}"#.into()),
                ("b".into(), "2".into())
            ]
        );
    }

    #[test]
    fn colliding_keys_keep_the_first_place_and_the_last_value() {
        let patch = patch_of(members(r#"{"companyName":1,"other":2,"company_name":3}"#)).unwrap();
        assert_eq!(
            pairs(&patch),
            [
                ("company_name".into(), "3".into()),
                ("other".into(), "2".into())
            ]
        );
    }

    #[test]
    fn every_empty_key_is_named() {
        let problems = patch_of(members(r#"{"":1,"ok":2,"--":3}"#)).unwrap_err();
        assert_eq!(
            problems,
            [
                r#"metadata key "" is empty once written in snake_case"#,
                r#"metadata key "--" is empty once written in snake_case"#,
            ]
        );
    }
}
