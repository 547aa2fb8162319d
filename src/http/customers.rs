//! `POST /api/public/customer/upsert/info` (SPEC 11.1): a contact found or made from a
//! CRM form or a webchat visitor, and updated.

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
use crate::model::{
    ChannelId, ChannelRef, ContactId, ContactKey, CustomerUpsert, Members, MetadataPatch, Platform,
    StageId, TeamMemberId, snake_case,
};
use crate::store::Writer;

pub const UPSERT_ROUTE: &str = "/api/public/customer/upsert/info";

/// 401 as `/info`; 415, 413 and 400 for the body as every write, and 400 naming every
/// bad field; 404 `Channel not found`, `Stage not found`, `Team member not found`; else
/// 201 `{"aiContactId","status":"ok","created"}`.
pub async fn upsert(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|snapshot| key.client(snapshot))?;
    let members = body::json_object(&req, payload, &limits).await?;
    let request = read_upsert(members).map_err(ApiError::Validation)?;
    let (id, created) = writer.upsert_customer(client, request).await?;
    Ok(plain_json(
        HttpResponse::Created(),
        &Upserted {
            ai_contact_id: id,
            status: "ok",
            created,
        },
    ))
}

#[derive(Serialize)]
struct Upserted {
    #[serde(rename = "aiContactId")]
    ai_contact_id: ContactId,
    status: &'static str,
    created: bool,
}

/// The channels a customer can be upserted through.
const CHANNELS: [Platform; 3] = [Platform::Whatsapp, Platform::WebWhatsapp, Platform::Webchat];

fn read_upsert(members: Members) -> Result<CustomerUpsert, Vec<String>> {
    let mut f = BodyFields::new(members);
    let channel = f.required("channel", |v| {
        let name = read::string(v)?;
        CHANNELS
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| "must be one of whatsapp, web-whatsapp, webchat".to_owned())
    });
    let (channel_ref, contact) = match channel {
        Some(Platform::Webchat) => {
            let id = f.required("channel_id", |v| read::uuid(v, ChannelId::parse));
            let external = f.required("external_user_id", read::text::<200>);
            (
                id.map(ChannelRef::Webchat),
                external.map(ContactKey::External),
            )
        }
        Some(kind) => {
            let number = f.required("channel_phone_number", |v| {
                let number = read::string(v)?;
                if number.is_empty() {
                    return Err("should not be empty".into());
                }
                Ok(number)
            });
            let phone = f.required("contact_phone_number", read::phone);
            (
                number.map(|number| ChannelRef::Phone { kind, number }),
                phone.map(ContactKey::Phone),
            )
        }
        None => (None, None),
    };
    let name = f.optional("contact_name", read::text::<200>);
    let email = f.optional("contact_email", read::email);
    let stage = f.optional("stageId", |v| read::uuid(v, StageId::parse));
    let agent = f.optional("agentId", |v| read::uuid(v, TeamMemberId::parse));
    let meta_data = f.optional("meta_data", read::snake_case_object);
    let custom_fields = f.optional("custom_field_values", custom_field_values);
    f.finish(|| {
        let mut metadata = meta_data?.unwrap_or_default();
        for (key, value) in custom_fields?.unwrap_or_default().entries() {
            metadata.insert(key.to_owned(), value);
        }
        Some(CustomerUpsert {
            channel: channel_ref?,
            contact: contact?,
            name: name?,
            email: email?,
            stage: stage?,
            agent: agent?,
            metadata,
        })
    })
}

/// `[{"key": string, "value": any}]`, each merged as `{key: value}` in snake_case.
fn custom_field_values(value: &RawValue) -> Result<MetadataPatch, String> {
    #[derive(serde::Deserialize)]
    struct Item {
        key: String,
        value: Option<Box<RawValue>>,
    }
    let items: Vec<Item> = serde_json::from_str(value.get())
        .map_err(|_| "must be a list of {\"key\": string, \"value\": any}".to_owned())?;
    let mut patch = MetadataPatch::default();
    for (i, item) in items.into_iter().enumerate() {
        let key = snake_case(&item.key);
        if key.is_empty() {
            return Err(format!("[{i}].key is empty once written in snake_case"));
        }
        patch.insert(key, item.value.as_deref().unwrap_or(RawValue::NULL));
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<CustomerUpsert, Vec<String>> {
        read_upsert(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn a_whatsapp_upsert_needs_both_numbers_and_reports_every_problem() {
        assert_eq!(
            read(r#"{"channel":"whatsapp","contact_email":"nope","stageId":"x"}"#).unwrap_err(),
            [
                "channel_phone_number should not be empty",
                "contact_phone_number should not be empty",
                r#"contact_email must be an email address, not "nope""#,
                "stageId must be a UUID",
            ]
        );
        assert_eq!(
            read(r#"{"channel":"whatsapp","channel_phone_number":"+1","contact_phone_number":56}"#)
                .unwrap_err(),
            ["contact_phone_number must be a string of digits"]
        );
    }

    #[test]
    fn custom_fields_follow_meta_data_in_snake_case() {
        let ok = read(
            r#"{"channel":"webchat","channel_id":"7b1a3e0c-33f4-4a4e-9a52-0d9c1f2b8e11",
                "external_user_id":"v-1","meta_data":{"Lead Score":1,"plan":"a"},
                "custom_field_values":[{"key":"leadScore","value":2},{"key":"x","value":null}]}"#,
        )
        .unwrap();
        let entries: Vec<(String, String)> = ok
            .metadata
            .entries()
            .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
            .collect();
        assert_eq!(
            entries,
            [
                ("lead_score".into(), "2".into()),
                ("plan".into(), r#""a""#.into()),
                ("x".into(), "null".into())
            ]
        );
        assert_eq!(ok.contact, ContactKey::External("v-1".into()));
    }

    #[test]
    fn an_unknown_channel_is_named() {
        assert_eq!(
            read(r#"{"channel":"sms"}"#).unwrap_err(),
            ["channel must be one of whatsapp, web-whatsapp, webchat"]
        );
        assert_eq!(read("{}").unwrap_err(), ["channel should not be empty"]);
    }
}
