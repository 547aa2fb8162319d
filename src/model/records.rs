//! The records: contacts, tickets, messages, pipelines, as the program holds them.

use super::{
    ChannelId, ChatStatus, ClientId, ContactId, CustomerId, Direction, JsonObject, MessageId,
    MessageStatus, MessageType, PipelineId, Platform, StageId, TeamMemberId, TicketId,
    TicketStatus, Timestamp,
};

/// A support ticket of a contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: TicketId,
    pub ai_contact_id: ContactId,
    pub status: TicketStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub ticket_summary: Option<String>,
    pub metadata: JsonObject,
    /// The stage the ticket stands in, if any.
    pub stage_id: Option<StageId>,
}

/// A contact's profile as stored, without its tickets.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: ContactId,
    pub client_id: ClientId,
    pub ai_customer_id: CustomerId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub platform: Platform,
    pub created_at: Timestamp,
    pub last_message_at: Timestamp,
    pub last_message_content: Option<String>,
    pub chat_status: ChatStatus,
    pub is_chat_read: bool,
    pub blocked: bool,
    pub default_stage_id: Option<String>,
    pub active_ticket_v2_id: Option<TicketId>,
    pub last_closed_ticket_v2_id: Option<TicketId>,
    pub current_integration_data: Option<JsonObject>,
    pub metadata: JsonObject,
    /// When the contact, or one of its tickets or messages, last changed.
    pub updated_at: Timestamp,
}

/// Who a contact is to the channels and the team (SPEC 11.0); not part of `/info`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routing {
    /// The contact's identity on a webchat channel.
    pub external_user_id: Option<String>,
    /// The team member the contact is assigned to (not checked against the team, as
    /// stage ids are not checked against pipelines).
    pub assigned_agent_id: Option<TeamMemberId>,
}

/// Everything the info endpoint tells about one contact.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactInfo {
    pub contact: Contact,
    pub active_ticket: Option<Ticket>,
    pub last_closed_ticket: Option<Ticket>,
}

/// The active ticket as a contact summary shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketRef {
    pub id: TicketId,
    pub current_stage_id: Option<StageId>,
}

/// A contact as the list and search endpoints show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactSummary {
    pub contact: Contact,
    pub active_ticket: Option<TicketRef>,
}

/// One message of a contact's conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub ai_contact_id: ContactId,
    pub body: Option<String>,
    pub created_at: Timestamp,
    pub direction: Direction,
    pub from: Option<String>,
    pub to: Option<String>,
    pub kind: MessageType,
    pub status: MessageStatus,
    pub media_url: Option<String>,
}

/// A stage of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub id: StageId,
    pub name: String,
    pub description: Option<String>,
}

/// A client's pipeline: its stages in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub id: PipelineId,
    pub client_id: ClientId,
    pub name: String,
    pub description: Option<String>,
    pub stages: Vec<Stage>,
}

/// A number or widget a client talks to its contacts through (SPEC 11.0).
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: ChannelId,
    pub client_id: ClientId,
    /// A channel's type is one of the platforms a contact can be on.
    pub kind: Platform,
    pub phone_number: Option<String>,
    /// The provider's id of the sending number.
    pub phone_id: Option<String>,
    pub name: Option<String>,
}

/// A member of a client's team (SPEC 11.0).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamMember {
    pub id: TeamMemberId,
    pub client_id: ClientId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl TeamMember {
    /// The first and last name joined by one space; `None` when both are absent.
    pub fn name(&self) -> Option<String> {
        match (&self.first_name, &self.last_name) {
            (Some(first), Some(last)) => Some(format!("{first} {last}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        }
    }
}
