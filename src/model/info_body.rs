//! The `/info` answer as served: the JSON of a contact and its two tickets, and its tag.
//!
//! It lives in the model, not in `http`, because the store keeps it: every change to a
//! contact or its tickets renders the contact again in the same transaction (the read
//! model), so a request reads finished bytes instead of three rows to serialise.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{
    ChatStatus, ClientId, ContactId, ContactInfo, CustomerId, JsonObject, Members, PipelineId,
    Platform, StageId, Ticket, TicketId, TicketStatus, Timestamp,
};

/// A rendered `/info` body and its strong entity tag (without the quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoBody {
    pub etag: String,
    pub body: Vec<u8>,
}

impl InfoBody {
    /// The body of `info` as the contract spells it: every key always present, in order.
    pub fn render(info: &ContactInfo) -> serde_json::Result<Self> {
        let body = serde_json::to_vec(&ContactInfoBody::from(info))?;
        Ok(Self {
            etag: body_tag(&body),
            body,
        })
    }
}

/// A strong tag for a body: 128 bits of its SHA-256 digest, in hex.
pub fn body_tag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// True for what `body_tag` makes: 32 lower-case hex digits. A tag read back from the
/// database is checked before it goes into a header.
pub fn is_body_tag(tag: &str) -> bool {
    tag.len() == 32 && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A ticket as an event's `data` carries it (SPEC 10.2): as `/info` shows a ticket, and
/// its current stage.
pub fn ticket_event_data(ticket: &Ticket) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct TicketEvent<'a> {
        #[serde(flatten)]
        ticket: TicketBody<'a>,
        current_stage_id: Option<StageId>,
    }
    serde_json::to_string(&TicketEvent {
        ticket: TicketBody::from(ticket),
        current_stage_id: ticket.stage_id,
    })
}

/// A `stage.changed` event's `data` (SPEC 10.2), keys in order.
pub fn stage_changed_data(
    contact: &ContactId,
    ticket: &TicketId,
    pipeline: &PipelineId,
    stage: &StageId,
    previous: Option<&StageId>,
) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct StageChanged<'a> {
        ai_contact_id: &'a ContactId,
        ticket_id: &'a TicketId,
        pipeline_id: &'a PipelineId,
        stage_id: &'a StageId,
        previous_stage_id: Option<&'a StageId>,
    }
    serde_json::to_string(&StageChanged {
        ai_contact_id: contact,
        ticket_id: ticket,
        pipeline_id: pipeline,
        stage_id: stage,
        previous_stage_id: previous,
    })
}

/// A `contact.updated` event's `data`: the `/info` answer `after` the change, with a last
/// key `changed` listing the top-level keys whose value differs from `before`, in
/// `/info` order.
pub fn contact_updated_data(before: &[u8], after: &[u8]) -> serde_json::Result<String> {
    let old: Members = serde_json::from_slice(before)?;
    let new: Members = serde_json::from_slice(after)?;
    let changed: Vec<&str> = new
        .0
        .iter()
        .filter(|(key, value)| {
            !old.0
                .iter()
                .any(|(k, v)| k == key && v.get() == value.get())
        })
        .map(|(key, _)| key.as_str())
        .collect();
    let after = std::str::from_utf8(after).map_err(serde::ser::Error::custom)?;
    let open = after.strip_suffix('}').unwrap_or(after);
    Ok(format!(
        "{open},\"changed\":{}}}",
        serde_json::to_string(&changed)?
    ))
}

#[derive(Serialize)]
struct ContactInfoBody<'a> {
    id: ContactId,
    name: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    platform: Platform,
    created_at: Timestamp,
    last_message_at: Timestamp,
    last_message_content: Option<&'a str>,
    chat_status: ChatStatus,
    is_chat_read: bool,
    blocked: bool,
    client_id: ClientId,
    ai_customer_id: CustomerId,
    default_stage_id: Option<&'a str>,
    active_ticket_v2_id: Option<TicketId>,
    last_closed_ticket_v2_id: Option<TicketId>,
    current_integration_data: Option<&'a JsonObject>,
    metadata: &'a JsonObject,
    active_ticket: Option<TicketBody<'a>>,
    /// The same object as `active_ticket`, kept for older clients.
    active_ticket_v2: Option<TicketBody<'a>>,
    last_closed_ticket: Option<TicketBody<'a>>,
}

#[derive(Serialize, Clone, Copy)]
struct TicketBody<'a> {
    id: TicketId,
    ai_contact_id: ContactId,
    status: &'a TicketStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
    ticket_summary: Option<&'a str>,
    metadata: &'a JsonObject,
}

impl<'a> From<&'a Ticket> for TicketBody<'a> {
    fn from(t: &'a Ticket) -> Self {
        Self {
            id: t.id,
            ai_contact_id: t.ai_contact_id,
            status: &t.status,
            created_at: t.created_at,
            updated_at: t.updated_at,
            ticket_summary: t.ticket_summary.as_deref(),
            metadata: &t.metadata,
        }
    }
}

impl<'a> From<&'a ContactInfo> for ContactInfoBody<'a> {
    fn from(info: &'a ContactInfo) -> Self {
        let c = &info.contact;
        let active_ticket = info.active_ticket.as_ref().map(TicketBody::from);
        Self {
            id: c.id,
            name: &c.name,
            email: c.email.as_deref(),
            phone: c.phone.as_deref(),
            platform: c.platform,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            last_message_content: c.last_message_content.as_deref(),
            chat_status: c.chat_status,
            is_chat_read: c.is_chat_read,
            blocked: c.blocked,
            client_id: c.client_id,
            ai_customer_id: c.ai_customer_id,
            default_stage_id: c.default_stage_id.as_deref(),
            active_ticket_v2_id: c.active_ticket_v2_id,
            last_closed_ticket_v2_id: c.last_closed_ticket_v2_id,
            current_integration_data: c.current_integration_data.as_ref(),
            metadata: &c.metadata,
            active_ticket,
            active_ticket_v2: active_ticket,
            last_closed_ticket: info.last_closed_ticket.as_ref().map(TicketBody::from),
        }
    }
}
