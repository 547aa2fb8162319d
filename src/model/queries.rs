//! What the family's read endpoints ask of the store, as typed values: every parameter
//! already checked, so the store only translates them into SQL.

use super::{PipelineId, StageId, Timestamp};

/// `GET /api/public/contacts` (SPEC 7.1).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactListQuery {
    /// `days`: contacts whose last message is at or after this instant.
    pub last_message_since: Option<Timestamp>,
    pub created_after: Option<Timestamp>,
    pub updated_after: Option<Timestamp>,
    pub stage_id: Option<StageId>,
    pub pipeline_id: Option<PipelineId>,
    pub custom_field: Option<CustomField>,
    pub limit: u32,
    pub offset: u64,
}

/// A metadata value to match: strings as they are, other JSON by its compact text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomField {
    pub key: String,
    pub value: String,
    pub entity: EntityType,
}

/// Whose metadata a custom field is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    /// The contact's own metadata.
    Customer,
    /// The metadata of the contact's active ticket.
    Ticket,
}

/// The order of a list, fixed by which time filters it has (ties always by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    UpdatedAscending,
    CreatedAscending,
    LastMessageDescending,
}

impl ContactListQuery {
    pub fn order(&self) -> ListOrder {
        if self.updated_after.is_some() {
            ListOrder::UpdatedAscending
        } else if self.created_after.is_some() {
            ListOrder::CreatedAscending
        } else {
            ListOrder::LastMessageDescending
        }
    }
}

/// `GET /api/public/contacts/search` (SPEC 7.2): at least one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSearch {
    /// The digits of the phone asked for, nothing else.
    pub phone_digits: Option<String>,
    /// A piece of an email, lower-cased.
    pub email: Option<String>,
}

/// At most this many contacts answer a search.
pub const SEARCH_LIMIT: u32 = 50;

/// Messages per page of a conversation.
pub const MESSAGES_PER_PAGE: u32 = 50;

/// Only the digits of a phone number: how phones are compared everywhere.
pub fn phone_digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}
