//! Webhook subscriptions and the delivery log (SPEC 10.1, 10.4), under `/api/webhooks`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::value::RawValue;

use super::answer::plain_json;
use super::auth::ApiKey;
use super::body::{self, fields};
use super::error::ApiError;
use super::limits::RequestLimits;
use super::params::{self, Params, Problems, path_id};
use super::worker::WorkerContext;
use crate::model::{
    DeliveryId, MAX_LIVE_WEBHOOKS, Members, NewWebhook, Topic, Webhook, WebhookChange, WebhookId,
    WebhookSecret, WebhookUrl,
};
use crate::store::{RetryWrite, WebhookWrite, Writer};
use crate::webhooks::DeliveryMetrics;

pub const TOPICS_ROUTE: &str = "/api/webhooks/topics";
pub const COLLECTION_ROUTE: &str = "/api/webhooks";
pub const CALLS_ROUTE: &str = "/api/webhooks/calls";
pub const RETRY_ROUTE: &str = "/api/webhooks/calls/{id}/retry";
pub const ITEM_ROUTE: &str = "/api/webhooks/{id}";
pub const RESTORE_ROUTE: &str = "/api/webhooks/{id}/restore";

/// 200 with every topic; no key needed.
pub async fn topics() -> HttpResponse {
    let names: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
    plain_json(HttpResponse::Ok(), &names)
}

/// 200 with every subscription of the key's client, deleted ones too, oldest first.
pub async fn list(key: ApiKey, worker: web::Data<WorkerContext>) -> Result<HttpResponse, ApiError> {
    let webhooks = worker.read(|s| {
        let client = key.client(s)?;
        Ok::<_, ApiError>(s.reader().webhooks(&client)?)
    })?;
    Ok(plain_json(HttpResponse::Ok(), &webhooks))
}

/// 200 with one subscription (a deleted one too); 400 for a bad id, 404 for an unknown
/// one or another client's.
pub async fn get(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
) -> Result<HttpResponse, ApiError> {
    let webhook = worker.read(|s| {
        let client = key.client(s)?;
        let id = path_id(&req, "id", WebhookId::parse)?;
        Ok::<_, ApiError>(s.reader().webhook(&client, &id)?)
    })?;
    let webhook = webhook.ok_or(ApiError::WebhookNotFound)?;
    Ok(plain_json(HttpResponse::Ok(), &webhook))
}

/// 201 `{"status":"created","id"}`; 400 naming every bad field, or the limit of live
/// subscriptions.
pub async fn create(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    limits: web::Data<RequestLimits>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let members = body::json_object(&req, payload, &limits).await?;
    let new = read_new(members).map_err(ApiError::Validation)?;
    let webhook = written(writer.create_webhook(client, new).await?, None)?;
    Ok(plain_json(
        HttpResponse::Created(),
        &WebhookStatus {
            status: "created",
            id: webhook.id,
        },
    ))
}

/// 200 with the subscription as it now is; 400 naming every bad field (or none given);
/// 404 for an unknown or deleted one.
pub async fn update(
    req: HttpRequest,
    key: ApiKey,
    payload: web::Payload,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    limits: web::Data<RequestLimits>,
    metrics: web::Data<DeliveryMetrics>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let id = path_id(&req, "id", WebhookId::parse)?;
    let members = body::json_object(&req, payload, &limits).await?;
    let change = read_change(members).map_err(ApiError::Validation)?;
    let webhook = written(
        writer.update_webhook(client, id, change).await?,
        Some(&metrics),
    )?;
    Ok(plain_json(HttpResponse::Ok(), &webhook))
}

/// 200 `{"status":"deleted","id"}`, again on a deleted one; pending deliveries are
/// cancelled.
pub async fn delete(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
    metrics: web::Data<DeliveryMetrics>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let id = path_id(&req, "id", WebhookId::parse)?;
    let webhook = written(writer.delete_webhook(client, id).await?, Some(&metrics))?;
    Ok(plain_json(
        HttpResponse::Ok(),
        &WebhookStatus {
            status: "deleted",
            id: webhook.id,
        },
    ))
}

/// 200 with the subscription, live again; 400 past the limit of live subscriptions.
pub async fn restore(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let id = path_id(&req, "id", WebhookId::parse)?;
    let webhook = written(writer.restore_webhook(client, id).await?, None)?;
    Ok(plain_json(HttpResponse::Ok(), &webhook))
}

/// 200 with one page of the delivery log, newest first; 400 naming every bad parameter.
pub async fn calls(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
) -> Result<HttpResponse, ApiError> {
    let deliveries = worker.read(|s| {
        let client = key.client(s)?;
        let query = params::delivery_query(&Params::parse(req.query_string()))
            .map_err(ApiError::Validation)?;
        Ok::<_, ApiError>(s.reader().deliveries(&client, &query)?)
    })?;
    Ok(plain_json(HttpResponse::Ok(), &deliveries))
}

/// 200 with the delivery, queued for an attempt now; 404 `Delivery not found`, or
/// `Webhook not found` when its subscription is deleted.
pub async fn retry(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    writer: web::Data<Writer>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let id = path_id(&req, "id", DeliveryId::parse)?;
    match writer.retry_delivery(client, id).await? {
        RetryWrite::Queued(delivery) => Ok(plain_json(HttpResponse::Ok(), &delivery)),
        RetryWrite::DeliveryNotFound => Err(ApiError::DeliveryNotFound),
        RetryWrite::WebhookNotFound => Err(ApiError::WebhookNotFound),
    }
}

/// `{"status","id"}`, in that order.
#[derive(serde::Serialize)]
struct WebhookStatus {
    status: &'static str,
    id: WebhookId,
}

fn written(write: WebhookWrite, metrics: Option<&DeliveryMetrics>) -> Result<Webhook, ApiError> {
    match write {
        WebhookWrite::Written { webhook, cancelled } => {
            if let (Some(metrics), true) = (metrics, cancelled > 0) {
                metrics.cancelled(webhook.topic.as_str(), cancelled);
            }
            Ok(webhook)
        }
        WebhookWrite::NotFound => Err(ApiError::WebhookNotFound),
        WebhookWrite::TooMany => Err(ApiError::Validation(vec![format!(
            "webhooks: a client may have at most {MAX_LIVE_WEBHOOKS} live subscriptions; \
             delete one first"
        )])),
    }
}

fn string(name: &str, value: &RawValue) -> Result<String, String> {
    serde_json::from_str::<String>(value.get()).map_err(|_| format!("{name} must be a string"))
}

fn topic(value: &RawValue) -> Result<Topic, String> {
    let text = string("topic", value)?;
    Topic::parse_subscribed(&text).map_err(|e| {
        format!(
            "topic must be one of the following values: {}",
            e.expected.join(", ")
        )
    })
}

fn url(value: &RawValue) -> Result<WebhookUrl, String> {
    WebhookUrl::parse(&string("url", value)?)
}

fn secret(value: &RawValue) -> Result<WebhookSecret, String> {
    WebhookSecret::parse(&string("secret", value)?)
}

fn boolean(name: &str, value: &RawValue) -> Result<bool, String> {
    match value.get() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{name} must be a boolean value")),
    }
}

fn required<T>(
    name: &str,
    value: Option<Box<RawValue>>,
    read: impl FnOnce(&RawValue) -> Result<T, String>,
) -> Result<T, String> {
    match value {
        None => Err(format!("{name} should not be empty")),
        Some(v) if v.get() == "null" => Err(format!("{name} should not be empty")),
        Some(v) => read(&v),
    }
}

fn read_new(members: Members) -> Result<NewWebhook, Vec<String>> {
    let [t, u, s, a] = fields(members, ["topic", "url", "secret", "active"], false);
    let mut p = Problems::default();
    let topic = p.check(required("topic", t, topic));
    let url = p.check(required("url", u, url));
    let secret = p.check(required("secret", s, secret));
    let active = p.check(match a {
        None => Ok(true),
        Some(v) => boolean("active", &v),
    });
    match (topic, url, secret, active) {
        (Some(topic), Some(url), Some(secret), Some(active)) => Ok(NewWebhook {
            topic,
            url,
            secret,
            active,
        }),
        _ => Err(p.0),
    }
}

fn read_change(members: Members) -> Result<WebhookChange, Vec<String>> {
    let [t, u, s, a] = fields(members, ["topic", "url", "secret", "active"], true);
    if t.is_none() && u.is_none() && s.is_none() && a.is_none() {
        return Err(vec![
            "topic, url, secret or active: at least one of them must be provided".to_owned(),
        ]);
    }
    let mut p = Problems::default();
    let change = WebhookChange {
        topic: t.and_then(|v| p.check(topic(&v))),
        url: u.and_then(|v| p.check(url(&v))),
        secret: s.and_then(|v| p.check(secret(&v))),
        active: a.and_then(|v| p.check(boolean("active", &v))),
    };
    if p.0.is_empty() { Ok(change) } else { Err(p.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(text: &str) -> Members {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_new_subscription_names_every_bad_field() {
        let problems = read_new(members(
            r#"{"topic":"ticket.deleted","url":"ftp://x","active":"yes"}"#,
        ))
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("topic must be one of"));
        assert!(problems[1].starts_with("url must be an http or https URL"));
        assert_eq!(problems[2], "secret should not be empty");
        assert_eq!(problems[3], "active must be a boolean value");
        let ok = read_new(members(
            r#"{"topic":"ticket.opened","url":"http://127.0.0.1:1/h","secret":"12345678","x":1}"#,
        ))
        .unwrap();
        assert_eq!(ok.topic, Topic::TicketCreated);
        assert!(ok.active);
    }

    #[test]
    fn a_change_needs_a_field_and_null_is_absent() {
        assert_eq!(
            read_change(members(r#"{"topic":null,"other":1}"#)).unwrap_err(),
            ["topic, url, secret or active: at least one of them must be provided"]
        );
        let change = read_change(members(r#"{"active":false,"url":null}"#)).unwrap();
        assert_eq!(change.active, Some(false));
        assert!(change.url.is_none());
        assert_eq!(
            read_change(members(r#"{"secret":"short"}"#)).unwrap_err(),
            ["secret must be between 8 and 256 characters long"]
        );
    }
}
