//! The domain: contacts, tickets and the values they are made of.
//!
//! Plain types only: no actix, no rusqlite. Each value that arrives from outside has a
//! `parse` that can fail, so the rest of the program never holds an unchecked string.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

mod conversation;
mod info_body;
mod json;
mod message_body;
mod metadata;
mod queries;
mod records;

pub use conversation::{
    ChannelRef, ContactKey, CustomerUpsert, InboundMessage, MAX_MESSAGE_CHARS, OutboundContent,
    Phone, SESSION_WINDOW_MS, SessionMessage, SessionTarget, TicketOpen,
};
pub use info_body::{
    InfoBody, body_tag, contact_updated_data, is_body_tag, stage_changed_data, ticket_event_data,
};
pub use json::{JsonObject, Members};
pub use message_body::{MessageBody, message_json};
pub use metadata::{MAX_METADATA_BYTES, MergeError, MetadataPatch, TicketTarget, snake_case};

pub use queries::{
    ContactListQuery, ContactSearch, CustomField, EntityType, ListOrder, MESSAGES_PER_PAGE,
    SEARCH_LIMIT, phone_digits,
};
pub use records::{
    Channel, Contact, ContactInfo, ContactSummary, Message, Pipeline, Routing, Stage, TeamMember,
    Ticket, TicketRef,
};

/// Parses a UUID in the canonical 8-4-4-4-12 hex form, either case, and nothing else.
///
/// `Uuid::parse_str` also takes the simple, braced and URN forms, which the hosted API
/// refuses, so the shape is checked first.
fn parse_canonical_uuid(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    let shaped = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if shaped {
        Uuid::parse_str(s).ok()
    } else {
        None
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Accepts only the canonical 8-4-4-4-12 form (either case).
            pub fn parse(s: &str) -> Option<Self> {
                parse_canonical_uuid(s).map(Self)
            }

            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The id as one number, for comparing many of them cheaply.
            pub fn as_u128(&self) -> u128 {
                self.0.as_u128()
            }

            /// A UUIDv7: ids made one after another sort one after another, so rows made
            /// in bulk (events, deliveries) go to the end of their id index instead of
            /// dirtying a random page of it each.
            #[allow(dead_code)]
            pub fn new_time_ordered() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            // Lowercase and hyphenated, as the contract renders every UUID.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "expected a UUID in 8-4-4-4-12 hex form, got {:?}",
                        abbreviate(&s)
                    ))
                })
            }
        }
    };
}

uuid_id!(
    /// The id of a contact (`aiContactId` in the route).
    ContactId
);
uuid_id!(
    /// The id of a client: the tenant that owns contacts and API keys.
    ClientId
);
uuid_id!(
    /// The id of a ticket.
    TicketId
);
uuid_id!(
    /// The id of the customer profile a contact is linked to.
    CustomerId
);
uuid_id!(
    /// The id under which an API key is listed and revoked (never the key itself).
    ApiKeyId
);
uuid_id!(
    /// The id of a message of a contact's conversation.
    MessageId
);
uuid_id!(
    /// The id of a pipeline: a client's sequence of stages.
    PipelineId
);
uuid_id!(
    /// The id of a stage of a pipeline, where a ticket stands.
    StageId
);
uuid_id!(
    /// The id of a fault rule of the sandbox (SPEC 12.2).
    FaultId
);
uuid_id!(
    /// The id of a client's channel: a number or widget it talks to contacts through.
    ChannelId
);
uuid_id!(
    /// The id of a member of a client's team: an agent a contact can be assigned to.
    TeamMemberId
);

/// Declares a closed set of wire strings, with parsing that names the whole set on error.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnexpectedValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(UnexpectedValue {
                        expected: Self::ALL.iter().map(|v| v.as_str()).collect(),
                        got: abbreviate(s),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A string outside a closed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected one of {}, got {got:?}", expected.join(", "))]
pub struct UnexpectedValue {
    pub expected: Vec<&'static str>,
    pub got: String,
}

wire_enum!(
    /// Where the conversation with a contact takes place.
    Platform {
        Whatsapp = "whatsapp",
        WebWhatsapp = "web-whatsapp",
        Instagram = "instagram",
        Webchat = "webchat",
        Tiktok = "tiktok",
        Sms = "sms",
        Messenger = "messenger",
        Voice = "voice",
        Playground = "playground",
    }
);

wire_enum!(
    /// The state of the contact's chat from the agents' point of view.
    ChatStatus {
        Unattended = "UNATTENDED",
        Attended = "ATTENDED",
        Closed = "CLOSED",
        Pending = "PENDING",
    }
);

wire_enum!(
    /// Who sent a message.
    Direction {
        Inbound = "INBOUND",
        Outbound = "OUTBOUND",
    }
);

wire_enum!(
    /// What a message carries.
    MessageType {
        Text = "text",
        Image = "image",
        Video = "video",
        Audio = "audio",
        Document = "document",
        Sticker = "sticker",
        Location = "location",
        Template = "template",
    }
);

wire_enum!(
    /// How far a message got.
    MessageStatus {
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Failed = "failed",
    }
);

/// A ticket's status: an upper-case word such as `OPEN` or `IN_PROGRESS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TicketStatus(String);

impl TicketStatus {
    const CLOSED: &'static str = "CLOSED";

    pub fn parse(s: &str) -> Result<Self, String> {
        let is_word = !s.is_empty()
            && !s.starts_with('_')
            && !s.ends_with('_')
            && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        if is_word {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "expected an upper-case word such as OPEN, IN_PROGRESS or CLOSED, got {:?}",
                abbreviate(s)
            ))
        }
    }

    pub fn is_closed(&self) -> bool {
        self.0 == Self::CLOSED
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TicketStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TicketStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A point in time, kept to the millisecond and rendered as `2024-09-30T10:00:00.000Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_millis(Utc::now().timestamp_millis()).unwrap_or(Self(DateTime::UNIX_EPOCH))
    }

    /// Any RFC 3339 offset is accepted; the instant is kept in UTC, to the millisecond.
    pub fn parse_rfc3339(s: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| Self::from_millis(t.timestamp_millis()))
            .ok_or_else(|| {
                format!(
                    "expected an RFC 3339 timestamp such as 2024-09-30T10:00:00Z, got {:?}",
                    abbreviate(s)
                )
            })
    }

    /// Milliseconds since the Unix epoch, as the store keeps them.
    pub fn from_millis(ms: i64) -> Option<Self> {
        // Four-digit years only: the rendered form has no room for more.
        const MAX_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        const MIN_MS: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
        if !(MIN_MS..=MAX_MS).contains(&ms) {
            return None;
        }
        DateTime::from_timestamp_millis(ms).map(Self)
    }

    pub fn as_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// This instant moved by `ms` milliseconds, kept within the representable years.
    pub fn shifted(self, ms: i64) -> Self {
        let moved = self.as_millis().saturating_add(ms);
        Self::from_millis(moved).unwrap_or(self)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// A value cut short for a message: messages name what they refuse, they do not
/// reprint megabytes of it.
pub fn abbreviate(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

// After the macros it uses.
mod webhook;
pub use webhook::{
    Delivery, DeliveryId, DeliveryQuery, DeliveryStatus, EventId, MAX_LIVE_WEBHOOKS, NewWebhook,
    RetrySchedule, Topic, Webhook, WebhookChange, WebhookId, WebhookSecret, WebhookUrl, event_body,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_id_takes_only_the_canonical_form() {
        let lower = "df98a3c2-3f4e-4b5a-9c1d-2e3f4a5b6c7d";
        let upper = lower.to_uppercase();
        assert_eq!(
            ContactId::parse(lower).map(|c| c.to_string()).as_deref(),
            Some(lower)
        );
        assert_eq!(
            ContactId::parse(&upper).map(|c| c.to_string()).as_deref(),
            Some(lower)
        );
        for bad in [
            "",
            "not-a-uuid",
            "df98a3c23f4e4b5a9c1d2e3f4a5b6c7d",
            "{df98a3c2-3f4e-4b5a-9c1d-2e3f4a5b6c7d}",
            "urn:uuid:df98a3c2-3f4e-4b5a-9c1d-2e3f4a5b6c7d",
            "df98a3c2-3f4e-4b5a-9c1d-2e3f4a5b6c7",
            "df98a3c2-3f4e-4b5a-9c1d-2e3f4a5b6c7dd",
            "df98a3c2_3f4e-4b5a-9c1d-2e3f4a5b6c7d",
            "gf98a3c2-3f4e-4b5a-9c1d-2e3f4a5b6c7d",
            " df98a3c2-3f4e-4b5a-9c1d-2e3f4a5b6c7",
            "df98a3c2-3f4e-4b5a-9c1d-2e3f4a5b6c7\u{e9}",
        ] {
            assert_eq!(ContactId::parse(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn enums_round_trip_and_name_the_whole_set_on_error() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(*p));
        }
        let err = "open".parse::<ChatStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"expected one of UNATTENDED, ATTENDED, CLOSED, PENDING, got "open""#
        );
    }

    #[test]
    fn ticket_status_is_an_upper_case_word() {
        assert!(TicketStatus::parse("IN_PROGRESS").is_ok());
        assert!(TicketStatus::parse("CLOSED").unwrap().is_closed());
        for bad in ["", "open", "Open", "IN PROGRESS", "_OPEN", "OPEN_", "OPEN1"] {
            assert!(TicketStatus::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn timestamps_convert_offsets_to_utc_milliseconds() {
        let t = Timestamp::parse_rfc3339("2024-09-30T10:00:00-03:00").unwrap();
        assert_eq!(t.to_string(), "2024-09-30T13:00:00.000Z");
        for spelling in [
            "2024-01-15t10:00:00z",
            "2024-01-15T10:00:00+00:00",
            "2024-01-15T07:00:00-03:00",
        ] {
            let t = Timestamp::parse_rfc3339(spelling).unwrap();
            assert_eq!(t.to_string(), "2024-01-15T10:00:00.000Z", "{spelling}");
        }
        let t = Timestamp::parse_rfc3339("2024-01-15T10:00:00.123456Z").unwrap();
        assert_eq!(t.to_string(), "2024-01-15T10:00:00.123Z");
        assert_eq!(Timestamp::from_millis(t.as_millis()), Some(t));
        for bad in [
            "2024-01-15",
            "2024-01-15 10:00:00",
            "yesterday",
            "2024-13-01T00:00:00Z",
        ] {
            assert!(
                Timestamp::parse_rfc3339(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        assert_eq!(Timestamp::from_millis(i64::MAX), None);
    }
}
