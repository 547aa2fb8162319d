//! The webhook outbox (SPEC 10.2–10.4): events and their deliveries, written in the
//! transaction of the change that made them; cancelling and retrying; the delivery
//! log. The sender's claims, attempts and retention are in `claims`.
//!
//! Every write that makes an event calls `record` (through one of the helpers below)
//! inside its own transaction, so the event commits or rolls back with the change.

mod claims;

use rusqlite::{Connection, OptionalExtension, Row};

pub use claims::{Attempt, Claimed, Outcome, Step};
pub(in crate::store) use claims::{any_due, prune, record_and_claim};

use super::{Result, info_bodies, tickets};
use crate::model::{
    ClientId, ContactId, Delivery, DeliveryId, DeliveryQuery, EventId, Message, PipelineId,
    StageId, TicketId, Timestamp, Topic, WebhookId, contact_updated_data, event_body, message_json,
    stage_changed_data, ticket_event_data,
};

/// The live, active subscriptions of `client` to `topic`, with their URLs.
fn subscribers(
    conn: &Connection,
    client: &ClientId,
    topic: Topic,
) -> Result<Vec<(WebhookId, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, url FROM webhooks INDEXED BY webhooks_live_by_topic
         WHERE client_id = ?1 AND topic = ?2 AND deleted_at IS NULL AND active = 1",
    )?;
    let rows = stmt.query_map((client, topic), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Stores one event and a pending delivery of it for each of `subscribers` (looked up
/// in this transaction), all due at once. An event nobody subscribes to is not stored:
/// no delivery could ever carry it.
fn record(
    conn: &Connection,
    subscribers: &[(WebhookId, String)],
    client: &ClientId,
    contact: &ContactId,
    topic: Topic,
    at: Timestamp,
    data: impl FnOnce() -> Result<String>,
) -> Result<usize> {
    if subscribers.is_empty() {
        return Ok(0);
    }
    let id = EventId::new_time_ordered();
    let body = event_body(&id, topic, at, client, contact, &data()?);
    conn.prepare_cached(
        "INSERT INTO webhook_events (id, client_id, topic, created_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute((&id, client, topic, at, &body))?;
    let event = conn.last_insert_rowid();
    let mut insert = conn.prepare_cached(
        "INSERT INTO webhook_deliveries
             (id, webhook_id, event_rowid, client_id, topic, url, status, created_at,
              next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
    )?;
    for (webhook, url) in subscribers {
        insert.execute((
            DeliveryId::new_time_ordered(),
            webhook,
            event,
            client,
            topic,
            url,
            at,
        ))?;
    }
    Ok(subscribers.len())
}

/// What a `contact.updated` event needs from before its change: who subscribes (looked
/// up once, before the change, in its transaction) and the contact's `/info` answer
/// (the event lists what changed).
pub(super) struct BeforeContactChange {
    subscribers: Vec<(WebhookId, String)>,
    body: Vec<u8>,
}

/// The contact's state before a change that makes a `contact.updated` event, when
/// anyone subscribes to it.
pub(super) fn before_contact_change(
    conn: &Connection,
    client: &ClientId,
    contact: &ContactId,
) -> Result<Option<BeforeContactChange>> {
    let subscribers = subscribers(conn, client, Topic::ContactUpdated)?;
    if subscribers.is_empty() {
        return Ok(None);
    }
    Ok(
        info_bodies::body(conn, client, contact)?.map(|b| BeforeContactChange {
            subscribers,
            body: b.body,
        }),
    )
}

/// `contact.updated`, with the contact's `/info` answer as the refreshed read model
/// stored it.
pub(super) fn contact_updated(
    conn: &Connection,
    client: &ClientId,
    contact: &ContactId,
    before: &BeforeContactChange,
    after: &[u8],
    at: Timestamp,
) -> Result<usize> {
    record(
        conn,
        &before.subscribers,
        client,
        contact,
        Topic::ContactUpdated,
        at,
        || Ok(contact_updated_data(&before.body, after)?),
    )
}

/// A ticket event (`ticket.updated`, …) for one of the contact's two tickets, after the
/// change.
pub(super) fn ticket_changed(
    conn: &Connection,
    client: &ClientId,
    contact: &ContactId,
    ticket: &TicketId,
    topic: Topic,
    at: Timestamp,
) -> Result<usize> {
    let subscribers = subscribers(conn, client, topic)?;
    record(conn, &subscribers, client, contact, topic, at, || {
        let ticket =
            tickets::ticket(conn, contact, ticket)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        Ok(ticket_event_data(&ticket)?)
    })
}

/// `contact.created`, with the contact's `/info` answer as the read model stored it.
pub(super) fn contact_created(
    conn: &Connection,
    client: &ClientId,
    contact: &ContactId,
    body: &[u8],
    at: Timestamp,
) -> Result<usize> {
    let subscribers = subscribers(conn, client, Topic::ContactCreated)?;
    record(
        conn,
        &subscribers,
        client,
        contact,
        Topic::ContactCreated,
        at,
        || Ok(String::from_utf8_lossy(body).into_owned()),
    )
}

/// What a `stage.changed` event tells.
pub(super) struct StageChange {
    pub ticket: TicketId,
    pub pipeline: PipelineId,
    pub stage: StageId,
    pub previous: Option<StageId>,
}

/// `stage.changed`: a ticket of `contact` moved.
pub(super) fn stage_changed(
    conn: &Connection,
    client: &ClientId,
    contact: &ContactId,
    change: &StageChange,
    at: Timestamp,
) -> Result<usize> {
    let subscribers = subscribers(conn, client, Topic::StageChanged)?;
    record(
        conn,
        &subscribers,
        client,
        contact,
        Topic::StageChanged,
        at,
        || {
            Ok(stage_changed_data(
                contact,
                &change.ticket,
                &change.pipeline,
                &change.stage,
                change.previous.as_ref(),
            )?)
        },
    )
}

/// `message.sent` or `message.received`: the message as the conversation route answers
/// it.
pub(super) fn message_event(
    conn: &Connection,
    client: &ClientId,
    message: &Message,
    topic: Topic,
    at: Timestamp,
) -> Result<usize> {
    let subscribers = subscribers(conn, client, topic)?;
    let contact = &message.ai_contact_id;
    record(conn, &subscribers, client, contact, topic, at, || {
        Ok(message_json(message, *client)?)
    })
}

/// Cancels the pending deliveries of `webhook`; how many there were.
pub(super) fn cancel_pending(
    conn: &Connection,
    webhook: &WebhookId,
    at: Timestamp,
) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "UPDATE webhook_deliveries
             SET status = 'cancelled', next_attempt_at = NULL, finished_at = ?2
             WHERE webhook_id = ?1 AND status = 'pending'",
        )?
        .execute((webhook, at))?)
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, e.id, d.topic, d.url, d.status, d.attempts,
     d.created_at, d.last_attempt_at, d.next_attempt_at, d.response_status,
     d.response_time_ms, d.error, e.body";

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let body: String = row.get(13)?;
    Ok(Delivery {
        id: row.get(0)?,
        webhook_id: row.get(1)?,
        event_id: row.get(2)?,
        topic: row.get(3)?,
        url: row.get(4)?,
        status: row.get(5)?,
        attempts: row.get(6)?,
        created_at: row.get(7)?,
        last_attempt_at: row.get(8)?,
        next_attempt_at: row.get(9)?,
        response_status: row.get(10)?,
        response_time_ms: row
            .get::<_, Option<i64>>(11)?
            .map(|ms| ms.max(0).unsigned_abs()),
        error: row.get(12)?,
        event: serde_json::value::RawValue::from_string(body).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(13, rusqlite::types::Type::Text, e.into())
        })?,
    })
}

/// One page of `client`'s delivery log, newest first, ties by id.
pub(super) fn deliveries(
    conn: &Connection,
    client: &ClientId,
    query: &DeliveryQuery,
) -> Result<Vec<Delivery>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
         INDEXED BY webhook_deliveries_by_client
         JOIN webhook_events e ON e.rowid = d.event_rowid
         WHERE d.client_id = ?1 AND (?2 IS NULL OR d.webhook_id = ?2)
           AND (?3 IS NULL OR d.status = ?3) AND (?4 IS NULL OR d.topic = ?4)
         ORDER BY d.created_at DESC, d.id LIMIT ?5 OFFSET ?6"
    ))?;
    let rows = stmt.query_map(
        (
            client,
            query.webhook_id,
            query.status,
            query.topic,
            query.limit,
            i64::try_from(query.offset).unwrap_or(i64::MAX),
        ),
        delivery_from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `client`'s delivery `id`.
fn delivery(conn: &Connection, client: &ClientId, id: &DeliveryId) -> Result<Option<Delivery>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d
         JOIN webhook_events e ON e.rowid = d.event_rowid
         WHERE d.id = ?1 AND d.client_id = ?2"
    ))?;
    Ok(stmt.query_row((id, client), delivery_from_row).optional()?)
}

/// What asking for a delivery to be retried did.
#[derive(Debug)]
pub enum RetryWrite {
    Queued(Box<Delivery>),
    DeliveryNotFound,
    /// The delivery's subscription is deleted.
    WebhookNotFound,
}

/// Queues `client`'s delivery `id` for an attempt now, whatever its state.
pub(super) fn retry(
    conn: &Connection,
    client: &ClientId,
    id: &DeliveryId,
    at: Timestamp,
) -> Result<RetryWrite> {
    let deleted: Option<bool> = conn
        .prepare_cached(
            "SELECT w.deleted_at IS NOT NULL FROM webhook_deliveries d
             JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.id = ?1 AND d.client_id = ?2",
        )?
        .query_row((id, client), |r| r.get(0))
        .optional()?;
    match deleted {
        None => return Ok(RetryWrite::DeliveryNotFound),
        Some(true) => return Ok(RetryWrite::WebhookNotFound),
        Some(false) => {}
    }
    conn.prepare_cached(
        "UPDATE webhook_deliveries
         SET status = 'pending', next_attempt_at = ?2, finished_at = NULL
         WHERE id = ?1",
    )?
    .execute((id, at))?;
    Ok(match delivery(conn, client, id)? {
        Some(d) => RetryWrite::Queued(Box::new(d)),
        None => RetryWrite::DeliveryNotFound,
    })
}

/// Deliveries waiting for an attempt or a retry, over all clients.
pub(super) fn pending_count(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")?
        .query_row([], |r| r.get(0))?)
}
