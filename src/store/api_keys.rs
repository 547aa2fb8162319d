//! API keys: stored as SHA-256 digests, looked up by digest, listed and revoked by id.

use rusqlite::{Connection, OptionalExtension, Row};

use super::{Result, Store};
use crate::api_key::KeyHash;
use crate::model::{ApiKeyId, ClientId, Timestamp};

/// A stored key as `keys list` shows it; it never holds the key itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub client_id: ClientId,
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// What `revoke_key` found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Revocation {
    Revoked,
    AlreadyRevoked(Timestamp),
    NoSuchKey,
}

/// Who a live key speaks for: its client, and the key's own id (the request journal
/// names the key by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOwner {
    pub client: ClientId,
    pub key: ApiKeyId,
}

/// The owner of a live (not revoked) key.
pub(super) fn owner_of_key(conn: &Connection, hash: &KeyHash) -> Result<Option<KeyOwner>> {
    let mut stmt = conn.prepare_cached(
        "SELECT client_id, id FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL",
    )?;
    let owner = |r: &Row<'_>| {
        Ok(KeyOwner {
            client: r.get(0)?,
            key: r.get(1)?,
        })
    };
    Ok(stmt.query_row([hash], owner).optional()?)
}

/// Whether a client is stored; fixture loads ask it inside their transaction.
pub(super) fn client_exists(conn: &Connection, client: &ClientId) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM clients WHERE id = ?1)")?;
    Ok(stmt.query_row([client], |r| r.get(0))?)
}

/// True when no client is stored, so no row at all is (every row belongs to a client):
/// a new database.
pub(super) fn no_client(conn: &Connection) -> Result<bool> {
    Ok(
        conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM clients)", [], |r| {
            r.get(0)
        })?,
    )
}

impl Store {
    pub fn client_exists(&self, client: &ClientId) -> Result<bool> {
        client_exists(&*self.conn()?, client)
    }

    pub fn insert_key(&self, record: &ApiKeyRecord, hash: &KeyHash) -> Result<()> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO api_keys (id, client_id, name, key_hash, created_at, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            (
                &record.id,
                &record.client_id,
                &record.name,
                hash,
                &record.created_at,
                &record.revoked_at,
            ),
        )?;
        Ok(())
    }

    /// Every key, or those of one client, oldest first.
    pub fn list_keys(&self, client: Option<&ClientId>) -> Result<Vec<ApiKeyRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, client_id, name, created_at, revoked_at FROM api_keys
             WHERE ?1 IS NULL OR client_id = ?1
             ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([client], key_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks a key revoked; every later request with it answers 401.
    pub fn revoke_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<Revocation> {
        let conn = self.conn()?;
        let revoked_at: Option<Option<Timestamp>> = conn
            .query_row("SELECT revoked_at FROM api_keys WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(match revoked_at {
            None => Revocation::NoSuchKey,
            Some(Some(at)) => Revocation::AlreadyRevoked(at),
            Some(None) => {
                conn.execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    (id, at),
                )?;
                Revocation::Revoked
            }
        })
    }
}

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        client_id: row.get(1)?,
        name: row.get(2)?,
        created_at: row.get(3)?,
        revoked_at: row.get(4)?,
    })
}
