//! The writes that move a conversation (SPEC 11), as checked requests: what the HTTP
//! side hands the store once every field has been read.

use super::{
    ChannelId, ContactId, MessageType, MetadataPatch, Platform, StageId, TeamMemberId, phone_digits,
};

/// A phone as these routes compare and store it: by its digits alone (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    digits: String,
}

impl Phone {
    /// `None` for a phone without a digit, which no route accepts.
    pub fn parse(text: &str) -> Option<Self> {
        let digits = phone_digits(text);
        (!digits.is_empty()).then_some(Self { digits })
    }

    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The phone as contactd stores it: `+` and its digits.
    pub fn stored(&self) -> String {
        format!("+{}", self.digits)
    }
}

/// Which channel of the client a customer upsert comes through (SPEC 11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelRef {
    /// A `whatsapp` or `web-whatsapp` channel, by its number's digits or its `phone_id`.
    Phone { kind: Platform, number: String },
    /// A `webchat` channel by id.
    Webchat(ChannelId),
}

impl ChannelRef {
    pub fn platform(&self) -> Platform {
        match self {
            Self::Phone { kind, .. } => *kind,
            Self::Webchat(_) => Platform::Webchat,
        }
    }
}

/// How a contact is recognised on its platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactKey {
    Phone(Phone),
    /// A webchat visitor's identity.
    External(String),
}

/// `POST /api/public/customer/upsert/info`, checked.
#[derive(Debug)]
pub struct CustomerUpsert {
    pub channel: ChannelRef,
    pub contact: ContactKey,
    pub name: Option<String>,
    pub email: Option<String>,
    pub stage: Option<StageId>,
    pub agent: Option<TeamMemberId>,
    /// `meta_data`, then each of `custom_field_values`, keys in snake_case.
    pub metadata: MetadataPatch,
}

/// The first message of `POST /api/public/ticket/open/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundContent {
    pub content: Option<String>,
    pub template_id: Option<String>,
    pub ai_generated: bool,
}

impl OutboundContent {
    /// A message with a template is a `template` message; any other is `text`.
    pub fn kind(&self) -> MessageType {
        if self.template_id.is_some() {
            MessageType::Template
        } else {
            MessageType::Text
        }
    }
}

/// `POST /api/public/ticket/open/{whatsapp|web-whatsapp}/{phoneId}`, checked.
#[derive(Debug)]
pub struct TicketOpen {
    pub kind: Platform,
    pub phone_id: String,
    pub phone: Phone,
    pub stage: StageId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub contact_metadata: MetadataPatch,
    /// String values, keys as sent (7.6).
    pub ticket_metadata: MetadataPatch,
    /// Keys as sent.
    pub integration_data: MetadataPatch,
    pub message: Option<OutboundContent>,
}

/// Who a session message goes to (SPEC 11.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionTarget {
    Contact(ContactId),
    /// The client's `whatsapp` contact with these digits (the latest of several).
    Phone(Phone),
}

/// `POST /api/public/whatsapp/message/session`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMessage {
    pub target: SessionTarget,
    /// The sending channel's number; `None` picks the client's only `whatsapp` channel.
    pub from: Option<Phone>,
    pub text: String,
}

/// `POST /api/sandbox/contact/{aiContactId}/inbound-message`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub body: String,
    pub kind: MessageType,
    pub media_url: Option<String>,
}

/// The longest message these routes take, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// How long after a contact's last inbound message a session message may be sent.
pub const SESSION_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
