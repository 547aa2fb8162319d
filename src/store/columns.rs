//! How model values are written to and read from SQLite columns.
//!
//! A value that does not read back as a valid model value is a corrupt row: it surfaces
//! as a conversion error (a 500 for the caller), never as a silently wrong answer.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::model::{
    ApiKeyId, ChannelId, ChatStatus, ClientId, ContactId, CustomerId, DeliveryId, DeliveryStatus,
    Direction, EventId, JsonObject, MessageId, MessageStatus, MessageType, PipelineId, Platform,
    StageId, TeamMemberId, TicketId, TicketStatus, Timestamp, Topic, WebhookId,
};

fn corrupt(message: String) -> FromSqlError {
    FromSqlError::Other(message.into())
}

macro_rules! text_column {
    ($ty:ty, $what:literal, |$s:ident| $parse:expr) => {
        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let $s = value.as_str()?;
                // The value itself is never quoted: an error may reach a log or a
                // terminal, and a row's contents have no place there.
                $parse.ok_or_else(|| {
                    corrupt(format!(concat!("not a ", $what, " ({} bytes)"), $s.len()))
                })
            }
        }
    };
}

macro_rules! uuid_column {
    ($($ty:ty),+) => {$(
        text_column!($ty, "UUID", |s| <$ty>::parse(s));

        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.to_string()))
            }
        }
    )+};
}

uuid_column!(
    ContactId,
    ClientId,
    TicketId,
    CustomerId,
    ApiKeyId,
    MessageId,
    PipelineId,
    StageId,
    WebhookId,
    EventId,
    DeliveryId,
    ChannelId,
    TeamMemberId
);

text_column!(Platform, "platform", |s| s.parse::<Platform>().ok());
text_column!(ChatStatus, "chat status", |s| s.parse::<ChatStatus>().ok());
text_column!(TicketStatus, "ticket status", |s| TicketStatus::parse(s)
    .ok());
text_column!(JsonObject, "JSON object", |s| JsonObject::parse(s).ok());
text_column!(Direction, "message direction", |s| s
    .parse::<Direction>()
    .ok());
text_column!(MessageType, "message type", |s| s
    .parse::<MessageType>()
    .ok());
text_column!(MessageStatus, "message status", |s| s
    .parse::<MessageStatus>()
    .ok());
text_column!(Topic, "webhook topic", |s| s.parse::<Topic>().ok());
text_column!(DeliveryStatus, "delivery status", |s| s
    .parse::<DeliveryStatus>()
    .ok());

/// Values stored as their wire text.
macro_rules! as_str_column {
    ($($ty:ty),+) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
    )+};
}

as_str_column!(
    Platform,
    ChatStatus,
    TicketStatus,
    JsonObject,
    Direction,
    MessageType,
    MessageStatus,
    Topic,
    DeliveryStatus
);

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let ms = value.as_i64()?;
        Timestamp::from_millis(ms).ok_or_else(|| corrupt(format!("timestamp out of range: {ms}")))
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_millis()))
    }
}
