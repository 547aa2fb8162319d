//! Webhook subscriptions (SPEC 10.1): one client's, each with its secret kept here and
//! nowhere else.

use rusqlite::{Connection, OptionalExtension, Row};

use super::{Result, outbox};
use crate::model::{
    ClientId, MAX_LIVE_WEBHOOKS, NewWebhook, Timestamp, Webhook, WebhookChange, WebhookId,
    WebhookUrl,
};

/// What a subscription write did.
#[derive(Debug)]
pub enum WebhookWrite {
    /// The subscription as it now is, and how many pending deliveries were cancelled.
    Written {
        webhook: Webhook,
        cancelled: usize,
    },
    NotFound,
    /// The client already has the most live subscriptions allowed.
    TooMany,
}

const COLUMNS: &str = "id, topic, url, active, created_at, updated_at, deleted_at";

fn webhook_from_row(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        id: row.get(0)?,
        topic: row.get(1)?,
        url: WebhookUrl::from_stored(row.get(2)?),
        active: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        deleted_at: row.get(6)?,
    })
}

/// Every subscription of `client`, deleted ones included, oldest first, ties by id.
pub(super) fn list(conn: &Connection, client: &ClientId) -> Result<Vec<Webhook>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE client_id = ?1 ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([client], webhook_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `client`'s subscription `id`, deleted or not.
pub(super) fn get(conn: &Connection, client: &ClientId, id: &WebhookId) -> Result<Option<Webhook>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE id = ?1 AND client_id = ?2"
    ))?;
    Ok(stmt.query_row((id, client), webhook_from_row).optional()?)
}

fn live_count(conn: &Connection, client: &ClientId) -> Result<u32> {
    let mut stmt = conn.prepare_cached(
        "SELECT count(*) FROM webhooks WHERE client_id = ?1 AND deleted_at IS NULL",
    )?;
    Ok(stmt.query_row([client], |r| r.get(0))?)
}

pub(super) fn create(
    conn: &Connection,
    client: &ClientId,
    new: &NewWebhook,
    at: Timestamp,
) -> Result<WebhookWrite> {
    if live_count(conn, client)? >= MAX_LIVE_WEBHOOKS {
        return Ok(WebhookWrite::TooMany);
    }
    let id = WebhookId::new_random();
    conn.prepare_cached(
        "INSERT INTO webhooks (id, client_id, topic, url, secret, active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute((
        &id,
        client,
        new.topic,
        new.url.as_str(),
        new.secret.expose(),
        new.active,
        at,
    ))?;
    written(conn, client, &id, 0)
}

fn written(
    conn: &Connection,
    client: &ClientId,
    id: &WebhookId,
    cancelled: usize,
) -> Result<WebhookWrite> {
    Ok(match get(conn, client, id)? {
        Some(webhook) => WebhookWrite::Written { webhook, cancelled },
        None => WebhookWrite::NotFound,
    })
}

/// Applies `change` to a live subscription; made inactive, its pending deliveries are
/// cancelled.
pub(super) fn update(
    conn: &Connection,
    client: &ClientId,
    id: &WebhookId,
    change: &WebhookChange,
    at: Timestamp,
) -> Result<WebhookWrite> {
    let changed = conn
        .prepare_cached(
            "UPDATE webhooks SET topic = coalesce(?3, topic), url = coalesce(?4, url),
                 secret = coalesce(?5, secret), active = coalesce(?6, active), updated_at = ?7
             WHERE id = ?1 AND client_id = ?2 AND deleted_at IS NULL",
        )?
        .execute((
            id,
            client,
            change.topic,
            change.url.as_ref().map(WebhookUrl::as_str),
            change.secret.as_ref().map(|s| s.expose()),
            change.active,
            at,
        ))?;
    if changed == 0 {
        return Ok(WebhookWrite::NotFound);
    }
    let cancelled = if change.active == Some(false) {
        outbox::cancel_pending(conn, id, at)?
    } else {
        0
    };
    written(conn, client, id, cancelled)
}

/// Deletes a subscription softly (a deleted one stays as it is) and cancels its pending
/// deliveries.
pub(super) fn delete(
    conn: &Connection,
    client: &ClientId,
    id: &WebhookId,
    at: Timestamp,
) -> Result<WebhookWrite> {
    conn.prepare_cached(
        "UPDATE webhooks SET deleted_at = ?3, updated_at = ?3
         WHERE id = ?1 AND client_id = ?2 AND deleted_at IS NULL",
    )?
    .execute((id, client, at))?;
    let cancelled = outbox::cancel_pending(conn, id, at)?;
    written(conn, client, id, cancelled)
}

/// Makes a deleted subscription live again (a live one stays as it is), within the
/// client's limit of live subscriptions.
pub(super) fn restore(
    conn: &Connection,
    client: &ClientId,
    id: &WebhookId,
    at: Timestamp,
) -> Result<WebhookWrite> {
    match get(conn, client, id)? {
        None => return Ok(WebhookWrite::NotFound),
        Some(w) if w.deleted_at.is_none() => {
            return Ok(WebhookWrite::Written {
                webhook: w,
                cancelled: 0,
            });
        }
        Some(_) if live_count(conn, client)? >= MAX_LIVE_WEBHOOKS => {
            return Ok(WebhookWrite::TooMany);
        }
        Some(_) => {}
    }
    conn.prepare_cached(
        "UPDATE webhooks SET deleted_at = NULL, updated_at = ?3 WHERE id = ?1 AND client_id = ?2",
    )?
    .execute((id, client, at))?;
    written(conn, client, id, 0)
}
