//! The writes that move a conversation (SPEC 11): a customer upsert, a ticket opened
//! with a first message, a session message, and the sandbox's inbound message and
//! close. Each runs inside one savepoint of the writer's batch (7.7): its rows, the
//! contact's `/info` answer rendered again, and its events (10.2) through the outbox.
//! A refusal is an error, so the savepoint rolls back whatever was written before it.

mod contact_row;
mod open;
mod sandbox;
mod session;
mod upsert;

pub(super) use open::open_ticket;
pub(super) use sandbox::{close_ticket, inbound_message};
pub(super) use session::send_session_message;
pub(super) use upsert::upsert_customer;

use rusqlite::Connection;

use super::{Result, StoreError, info_bodies};
use crate::model::{ContactId, JsonObject, MergeError, MetadataPatch};

/// Why a conversation write wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Channel not found")]
    ChannelNotFound,
    #[error("Stage not found")]
    StageNotFound,
    #[error("Team member not found")]
    TeamMemberNotFound,
    #[error("Contact not found")]
    ContactNotFound,
    #[error("Ticket not found")]
    TicketNotFound,
    #[error("Ticket is already closed")]
    AlreadyClosed,
    /// A rule only the stored data can break (a 400): the sentence says which.
    #[error("{0}")]
    Invalid(String),
    /// A merged object over the bound of 7.5.
    #[error("{field} would be {bytes} bytes once merged")]
    TooLarge { field: &'static str, bytes: usize },
}

/// `stored` with `patch` merged in (7.5's rules and bound); `field` names it in the
/// refusal.
pub(super) fn merged(
    stored: &JsonObject,
    patch: &MetadataPatch,
    field: &'static str,
) -> Result<JsonObject> {
    stored.merged(patch).map_err(|e| match e {
        MergeError::TooLarge { bytes } => StoreError::Refused(Refusal::TooLarge { field, bytes }),
    })
}

/// The contact's `/info` answer rendered again after a write, as the read model
/// stores it.
fn refreshed(conn: &Connection, id: &ContactId) -> Result<Vec<u8>> {
    info_bodies::refresh(conn, id)?.ok_or_else(|| Refusal::ContactNotFound.into())
}
