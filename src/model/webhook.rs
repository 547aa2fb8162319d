//! Webhooks (SPEC 10): subscriptions, events and deliveries as plain values, and the
//! rules a subscription's fields obey.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{ClientId, ContactId, Timestamp, UnexpectedValue, abbreviate, parse_canonical_uuid};

uuid_id!(
    /// The id of a webhook subscription.
    WebhookId
);
uuid_id!(
    /// The id of an event: the same for every subscription and every attempt.
    EventId
);
uuid_id!(
    /// The id of one event's delivery to one subscription.
    DeliveryId
);

wire_enum!(
    /// What an event is about (SPEC 10.2), in the order `GET /api/webhooks/topics` lists.
    Topic {
        MessageReceived = "message.received",
        MessageSent = "message.sent",
        TicketCreated = "ticket.created",
        TicketUpdated = "ticket.updated",
        TicketClosed = "ticket.closed",
        ContactCreated = "contact.created",
        ContactUpdated = "contact.updated",
        StageChanged = "stage.changed",
    }
);

impl Topic {
    /// A topic as a subscription may name it: older documentation's `ticket.opened` is
    /// `ticket.created`.
    pub fn parse_subscribed(s: &str) -> Result<Self, UnexpectedValue> {
        if s == "ticket.opened" {
            return Ok(Self::TicketCreated);
        }
        s.parse()
    }
}

wire_enum!(
    /// Where a delivery stands.
    DeliveryStatus {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

/// Longest subscription URL, in bytes.
pub const MAX_WEBHOOK_URL_BYTES: usize = 2048;
/// Live subscriptions a client may have.
pub const MAX_LIVE_WEBHOOKS: u32 = 100;
/// Secret lengths allowed, in characters.
pub const WEBHOOK_SECRET_CHARS: std::ops::RangeInclusive<usize> = 8..=256;

/// A subscription's URL: absolute, `http` or `https`, with a host, no fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_WEBHOOK_URL_BYTES {
            return Err(format!(
                "url must not be longer than {MAX_WEBHOOK_URL_BYTES} bytes"
            ));
        }
        let url = url::Url::parse(text).map_err(|e| {
            format!(
                "url must be an absolute http or https URL ({e}): {}",
                abbreviate(text)
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "url must be an http or https URL, not {}:",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("url must name a host".to_owned());
        }
        if url.fragment().is_some() {
            return Err("url must not have a fragment (#…)".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    /// As stored; only a value `parse` accepted may be read back through it.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A subscription's secret: 8–256 characters. Never answered, logged or shown.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<Self, String> {
        let chars = text.chars().count();
        if !WEBHOOK_SECRET_CHARS.contains(&chars) {
            return Err(format!(
                "secret must be between {} and {} characters long",
                WEBHOOK_SECRET_CHARS.start(),
                WEBHOOK_SECRET_CHARS.end()
            ));
        }
        if let Some(encoded) = text.strip_prefix("whsec_") {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded);
            if decoded.is_err() {
                return Err(
                    "secret starts with whsec_, so the rest must be base64 (Standard Webhooks)"
                        .to_owned(),
                );
            }
        }
        Ok(Self(text.to_owned()))
    }

    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// A subscription as answered (the secret is never part of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub topic: Topic,
    #[serde(serialize_with = "serialize_url")]
    pub url: WebhookUrl,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

fn serialize_url<S: serde::Serializer>(url: &WebhookUrl, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(url.as_str())
}

/// A new subscription, every field checked.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub topic: Topic,
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
    pub active: bool,
}

/// A change to a subscription: the fields given, each checked; at least one.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub topic: Option<Topic>,
    pub url: Option<WebhookUrl>,
    pub secret: Option<WebhookSecret>,
    pub active: Option<bool>,
}

/// One entry of the delivery log (SPEC 10.4), keys in the contract's order.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub topic: Topic,
    pub url: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub last_attempt_at: Option<Timestamp>,
    pub next_attempt_at: Option<Timestamp>,
    pub response_status: Option<u16>,
    pub response_time_ms: Option<u64>,
    pub error: Option<String>,
    /// The event body exactly as sent.
    pub event: Box<RawValue>,
}

/// `GET /api/webhooks/calls`'s filters and page.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub webhook_id: Option<WebhookId>,
    pub status: Option<DeliveryStatus>,
    pub topic: Option<Topic>,
    pub limit: u32,
    pub offset: u64,
}

/// The body of an event (SPEC 10.2), keys in order; `data` is JSON text already.
pub fn event_body(
    id: &EventId,
    topic: Topic,
    at: Timestamp,
    client: &ClientId,
    contact: &ContactId,
    data: &str,
) -> String {
    format!(
        r#"{{"id":"{id}","event":"{topic}","timestamp":"{at}","client_id":"{client}","aiContactId":"{contact}","data":{data}}}"#
    )
}

/// When failed attempts are tried again: the interval after the first failure, the
/// second, …; after the last, a delivery is failed.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// `5,30,120,600,1800,3600,7200,14400,28800`: ten attempts over about 16 hours.
    pub fn standard() -> Self {
        Self::parse("5,30,120,600,1800,3600,7200,14400,28800")
            .unwrap_or_else(|_| unreachable!("the standard schedule parses"))
    }

    /// Seconds, comma-separated, decimals allowed (`0.5,2,10`); at least one, each
    /// positive and at most a week.
    pub fn parse(text: &str) -> Result<Self, String> {
        const WEEK: f64 = 7.0 * 24.0 * 3600.0;
        let intervals = text
            .split(',')
            .map(|item| {
                let item = item.trim();
                match item.parse::<f64>() {
                    Ok(s) if s > 0.0 && s <= WEEK => Ok(Duration::from_secs_f64(s)),
                    _ => Err(format!(
                        "expected seconds above 0 and at most {WEEK} (a week), got {:?}",
                        abbreviate(item)
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(intervals))
    }

    /// The wait after the `attempts`-th failed attempt, ±10 % at random (`jitter` in
    /// −1..=1 picks where); `None` when that was the last attempt.
    pub fn after(&self, attempts: u32, jitter: f64) -> Option<Duration> {
        let base = self
            .0
            .get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
        Some(base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0)))
    }

    /// Attempts a delivery gets before it is failed.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_absolute_http_with_a_host_and_no_fragment() {
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook?x=1").is_ok());
        assert!(WebhookUrl::parse("https://example.com").is_ok());
        for bad in [
            "",
            "/relative",
            "ftp://example.com/",
            "http://example.com/#top",
            "mailto:a@b.c",
            "http://",
            "http://:80/",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("http://h/{}", "a".repeat(MAX_WEBHOOK_URL_BYTES));
        assert!(WebhookUrl::parse(&long).unwrap_err().contains("2048"));
    }

    #[test]
    fn secrets_are_8_to_256_characters_and_never_printed() {
        assert!(WebhookSecret::parse("1234567").is_err());
        assert!(WebhookSecret::parse("ññññññññ").is_ok());
        assert!(WebhookSecret::parse(&"s".repeat(257)).is_err());
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert!(!format!("{secret:?}").contains("MfKQ"));
    }

    #[test]
    fn the_schedule_gives_ten_attempts_with_ten_percent_jitter() {
        let s = RetrySchedule::standard();
        assert_eq!(s.attempts(), 10);
        assert_eq!(s.after(1, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(s.after(1, 1.0), Some(Duration::from_millis(5500)));
        assert_eq!(s.after(9, -1.0), Some(Duration::from_secs(25920)));
        assert_eq!(s.after(10, 0.0), None);
        assert_eq!(s.after(0, 0.0), None);
        assert_eq!(
            RetrySchedule::parse("0.5, 2").unwrap().after(1, 0.0),
            Some(Duration::from_millis(500))
        );
        assert!(RetrySchedule::parse("1,,2").is_err());
        assert!(RetrySchedule::parse("0").is_err());
        assert!(RetrySchedule::parse("-3").is_err());
    }

    #[test]
    fn ticket_opened_is_ticket_created() {
        assert_eq!(
            Topic::parse_subscribed("ticket.opened"),
            Ok(Topic::TicketCreated)
        );
        assert!(Topic::parse_subscribed("ticket.deleted").is_err());
    }
}
