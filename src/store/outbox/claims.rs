//! The sender's side of the outbox, in SQL: which subscriptions have deliveries due, the
//! claims (leases in the file) that keep two senders from sending the same attempt, the
//! record of each attempt, and retention.

use std::time::Duration;

use rusqlite::Connection;

use super::super::Result;
use crate::model::{DeliveryId, DeliveryStatus, EventId, Timestamp, Topic, WebhookId};

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
pub(in crate::store) fn any_due(conn: &Connection, now: Timestamp) -> Result<bool> {
    let mut stmt = conn.prepare_cached(DUE_SUBSCRIPTIONS)?;
    Ok(stmt.exists((now, 1))?)
}

/// Records finished attempts, releases their subscriptions and claims up to `limit`
/// subscriptions with work due for `owner` until `lease_until`, each with a chain of its
/// due deliveries. Runs inside the writer's immediate transaction, so two senders never
/// claim one subscription.
pub(in crate::store) fn record_and_claim(
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
pub(in crate::store) fn prune(conn: &Connection, cutoff: Timestamp, limit: usize) -> Result<usize> {
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
