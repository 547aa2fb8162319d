//! The webhook outbox (SPEC 10.2–10.4): events and their deliveries, written in the
//! transaction of the change that made them; the sender's claims and attempts; the
//! delivery log; retention.
//!
//! Every write that makes an event calls `record` (through one of the helpers below)
//! inside its own transaction, so the event commits or rolls back with the change.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row};

use super::{Result, info_bodies, tickets};
use crate::model::{
    ClientId, ContactId, Delivery, DeliveryId, DeliveryQuery, DeliveryStatus, EventId, Timestamp,
    Topic, WebhookId, contact_updated_data, event_body, ticket_event_data,
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
    ticket: &crate::model::TicketId,
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

/// A delivery a sender has claimed: everything its attempt needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub rowid: i64,
    pub delivery: DeliveryId,
    pub webhook: WebhookId,
    pub topic: Topic,
    pub event: EventId,
    pub url: String,
    pub secret: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What one write of the sender did.
pub struct Step {
    /// Each attempt recorded, with where it left its delivery.
    pub recorded: Vec<(Attempt, Outcome)>,
    /// Per subscription claimed, its due deliveries in the order they are to be sent.
    pub claimed: Vec<Vec<Claimed>>,
}

/// How one attempt ended.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub claimed: Claimed,
    pub at: Timestamp,
    pub response_status: Option<u16>,
    pub response_time: Duration,
    /// Why it failed, in words; `None` for a success.
    pub error: Option<String>,
    /// When to try again after a failure; `None` when there is no attempt left.
    pub retry_after: Option<Duration>,
}

/// Where an attempt left its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retry,
    Failed,
    /// Cancelled (or retried by hand) while the attempt was in flight: kept as it is.
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Unchanged => "unchanged",
        }
    }
}

/// Subscriptions with a delivery due that no sender holds. A first attempt is due from
/// its event's time, so by due time is by event order; a retry waiting does not hold
/// back later deliveries, as it is not due.
const DUE_SUBSCRIPTIONS: &str = "SELECT w.id, w.url, w.secret FROM webhooks w
     WHERE w.deleted_at IS NULL AND w.active = 1
       AND (w.lease_until IS NULL OR w.lease_until < ?1)
       AND EXISTS (SELECT 1 FROM webhook_deliveries x INDEXED BY webhook_deliveries_due
                   WHERE x.webhook_id = w.id AND x.status = 'pending'
                     AND x.next_attempt_at <= ?1)
     LIMIT ?2";

/// A subscription's due deliveries in the order they are to be sent.
const DUE_DELIVERIES: &str = "SELECT d.rowid, d.id, d.topic, e.id, e.body, d.attempts
     FROM webhook_deliveries d INDEXED BY webhook_deliveries_due
     JOIN webhook_events e ON e.rowid = d.event_rowid
     WHERE d.webhook_id = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2
     ORDER BY d.next_attempt_at, d.rowid
     LIMIT ?3";

/// Deliveries one claim takes of a subscription at most, sent one after another: one
/// write then records them all, instead of one write per delivery.
const CHAIN_DELIVERIES: usize = 64;
/// Event bytes one claim holds at most (a first delivery is taken whatever its size), so
/// claims in memory stay bounded by count × this.
const CHAIN_BYTES: usize = 256 * 1024;

/// Up to `limit` subscriptions with work due, each with its due deliveries in order.
fn due(conn: &Connection, now: Timestamp, limit: usize) -> Result<Vec<Vec<Claimed>>> {
    let subscriptions: Vec<(WebhookId, String, String)> = conn
        .prepare_cached(DUE_SUBSCRIPTIONS)?
        .query_map((now, limit as i64), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut deliveries = conn.prepare_cached(DUE_DELIVERIES)?;
    let mut chains = Vec::with_capacity(subscriptions.len());
    for (webhook, url, secret) in subscriptions {
        let mut chain = Vec::new();
        let mut bytes = 0;
        let mut rows = deliveries.query((&webhook, now, CHAIN_DELIVERIES as i64))?;
        while let Some(r) = rows.next()? {
            let body: String = r.get(4)?;
            bytes += body.len();
            if !chain.is_empty() && bytes > CHAIN_BYTES {
                break;
            }
            chain.push(Claimed {
                rowid: r.get(0)?,
                delivery: r.get(1)?,
                webhook,
                topic: r.get(2)?,
                event: r.get(3)?,
                url: url.clone(),
                secret: secret.clone(),
                body,
                attempts: r.get(5)?,
            });
        }
        if !chain.is_empty() {
            chains.push(chain);
        }
    }
    Ok(chains)
}

/// Whether any delivery is due for a subscription no sender holds (a read, no lock).
pub(super) fn any_due(conn: &Connection, now: Timestamp) -> Result<bool> {
    let mut stmt = conn.prepare_cached(DUE_SUBSCRIPTIONS)?;
    Ok(stmt.exists((now, 1))?)
}

/// Records finished attempts, releases their subscriptions and claims up to `limit`
/// subscriptions with work due for `owner` until `lease_until`, each with a chain of its
/// due deliveries. Runs inside the writer's immediate transaction, so two senders never
/// claim one subscription.
pub(super) fn record_and_claim(
    conn: &Connection,
    owner: &str,
    attempts: Vec<Attempt>,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Step> {
    let mut outcomes = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        let outcome = record_attempt(conn, &attempt)?;
        conn.prepare_cached(
            "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL
             WHERE id = ?1 AND lease_owner = ?2",
        )?
        .execute((&attempt.claimed.webhook, owner))?;
        outcomes.push((attempt, outcome));
    }
    let mut claimed = Vec::new();
    if limit > 0 {
        let mut lease = conn.prepare_cached(
            "UPDATE webhooks SET lease_owner = ?2, lease_until = ?3
             WHERE id = ?1 AND (lease_until IS NULL OR lease_until < ?4)",
        )?;
        for chain in due(conn, now, limit)? {
            if lease.execute((&chain[0].webhook, owner, lease_until, now))? == 1 {
                claimed.push(chain);
            }
        }
    }
    Ok(Step {
        recorded: outcomes,
        claimed,
    })
}

fn record_attempt(conn: &Connection, attempt: &Attempt) -> Result<Outcome> {
    let made = attempt.claimed.attempts + 1;
    let (status, next, outcome) = match (&attempt.error, attempt.retry_after) {
        (None, _) => (DeliveryStatus::Delivered, None, Outcome::Delivered),
        (Some(_), Some(wait)) => (
            DeliveryStatus::Pending,
            Some(
                attempt
                    .at
                    .shifted(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
            ),
            Outcome::Retry,
        ),
        (Some(_), None) => (DeliveryStatus::Failed, None, Outcome::Failed),
    };
    let finished = (status != DeliveryStatus::Pending).then_some(attempt.at);
    let response_ms = i64::try_from(attempt.response_time.as_millis()).unwrap_or(i64::MAX);
    // The attempt is logged whatever became of the delivery meanwhile; its state moves
    // only if it is still the pending delivery this attempt was for.
    let moved = conn
        .prepare_cached(
            "UPDATE webhook_deliveries
             SET attempts = ?2, last_attempt_at = ?3, url = ?4, response_status = ?5,
                 response_time_ms = ?6, error = ?7,
                 status = ?8, next_attempt_at = ?9, finished_at = ?10
             WHERE rowid = ?1 AND status = 'pending' AND attempts = ?11",
        )?
        .execute((
            attempt.claimed.rowid,
            made,
            attempt.at,
            &attempt.claimed.url,
            attempt.response_status,
            response_ms,
            &attempt.error,
            status,
            next,
            finished,
            attempt.claimed.attempts,
        ))?;
    if moved == 1 {
        return Ok(outcome);
    }
    conn.prepare_cached(
        "UPDATE webhook_deliveries
         SET attempts = attempts + 1, last_attempt_at = ?2, url = ?3, response_status = ?4,
             response_time_ms = ?5, error = ?6
         WHERE rowid = ?1",
    )?
    .execute((
        attempt.claimed.rowid,
        attempt.at,
        &attempt.claimed.url,
        attempt.response_status,
        response_ms,
        &attempt.error,
    ))?;
    Ok(Outcome::Unchanged)
}

/// Removes up to `limit` deliveries finished before `cutoff`, and the events none is
/// left for; how many deliveries went.
pub(super) fn prune(conn: &Connection, cutoff: Timestamp, limit: usize) -> Result<usize> {
    let events: Vec<i64> = conn
        .prepare_cached(
            "DELETE FROM webhook_deliveries WHERE rowid IN (
                 SELECT rowid FROM webhook_deliveries INDEXED BY webhook_deliveries_finished
                 WHERE status <> 'pending' AND finished_at < ?1 LIMIT ?2)
             RETURNING event_rowid",
        )?
        .query_map((cutoff, limit as i64), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut orphan = conn.prepare_cached(
        "DELETE FROM webhook_events WHERE rowid = ?1
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE event_rowid = ?1)",
    )?;
    for event in &events {
        orphan.execute([event])?;
    }
    Ok(events.len())
}
