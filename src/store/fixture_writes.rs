//! Upserts for fixture loading, all inside the one transaction that `Store::write` opens.

use rusqlite::{OptionalExtension, Transaction};

use super::{Result, api_keys};
use crate::api_key::KeyHash;
use crate::model::{
    ApiKeyId, ClientId, Contact, ContactId, Ticket, TicketId, TicketStatus, Timestamp,
};

/// Writes and the look-ups that validation needs, on one open transaction.
pub struct FixtureWriter<'t> {
    tx: &'t Transaction<'t>,
}

impl<'t> FixtureWriter<'t> {
    pub(super) fn new(tx: &'t Transaction<'t>) -> Self {
        Self { tx }
    }

    pub fn client_exists(&self, id: &ClientId) -> Result<bool> {
        api_keys::client_exists(self.tx, id)
    }

    /// The client a stored contact belongs to.
    pub fn contact_client(&self, id: &ContactId) -> Result<Option<ClientId>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT client_id FROM contacts WHERE id = ?1")?;
        Ok(stmt.query_row([id], |r| r.get(0)).optional()?)
    }

    /// The client a stored key belongs to, found by its digest.
    pub fn key_client(&self, hash: &KeyHash) -> Result<Option<ClientId>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT client_id FROM api_keys WHERE key_hash = ?1")?;
        Ok(stmt.query_row([hash], |r| r.get(0)).optional()?)
    }

    /// The contact a stored ticket belongs to, and its status.
    pub fn ticket_owner(&self, id: &TicketId) -> Result<Option<(ContactId, TicketStatus)>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT ai_contact_id, status FROM tickets WHERE id = ?1")?;
        Ok(stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    pub fn upsert_client(&self, id: &ClientId, name: &str) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO clients (id, name) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )?;
        stmt.execute((id, name))?;
        Ok(())
    }

    /// Keys are matched by digest: loading the same key again keeps its id, client,
    /// creation time and revocation (a key never changes client; the load checks that
    /// first and says so).
    pub fn upsert_api_key(&self, client: &ClientId, name: &str, hash: &KeyHash) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO api_keys (id, client_id, name, key_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key_hash) DO UPDATE SET name = excluded.name",
        )?;
        stmt.execute((ApiKeyId::new_random(), client, name, hash, Timestamp::now()))?;
        Ok(())
    }

    pub fn upsert_contact(&self, c: &Contact) -> Result<()> {
        // json() stores the objects minified; their numbers and strings keep their text.
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO contacts (
                 id, client_id, ai_customer_id, name, email, phone, platform, created_at,
                 last_message_at, last_message_content, chat_status, is_chat_read, blocked,
                 default_stage_id, active_ticket_v2_id, last_closed_ticket_v2_id,
                 current_integration_data, metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     json(?17), json(?18))
             ON CONFLICT (id) DO UPDATE SET
                 ai_customer_id = excluded.ai_customer_id,
                 name = excluded.name,
                 email = excluded.email,
                 phone = excluded.phone,
                 platform = excluded.platform,
                 created_at = excluded.created_at,
                 last_message_at = excluded.last_message_at,
                 last_message_content = excluded.last_message_content,
                 chat_status = excluded.chat_status,
                 is_chat_read = excluded.is_chat_read,
                 blocked = excluded.blocked,
                 default_stage_id = excluded.default_stage_id,
                 active_ticket_v2_id = excluded.active_ticket_v2_id,
                 last_closed_ticket_v2_id = excluded.last_closed_ticket_v2_id,
                 current_integration_data = excluded.current_integration_data,
                 metadata = excluded.metadata",
        )?;
        stmt.execute(rusqlite::params![
            c.id,
            c.client_id,
            c.ai_customer_id,
            c.name,
            c.email,
            c.phone,
            c.platform,
            c.created_at,
            c.last_message_at,
            c.last_message_content,
            c.chat_status,
            c.is_chat_read,
            c.blocked,
            c.default_stage_id,
            c.active_ticket_v2_id,
            c.last_closed_ticket_v2_id,
            c.current_integration_data,
            c.metadata,
        ])?;
        Ok(())
    }

    pub fn upsert_ticket(&self, t: &Ticket) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO tickets (
                 id, ai_contact_id, status, created_at, updated_at, ticket_summary, metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, json(?7))
             ON CONFLICT (id) DO UPDATE SET
                 ai_contact_id = excluded.ai_contact_id,
                 status = excluded.status,
                 created_at = excluded.created_at,
                 updated_at = excluded.updated_at,
                 ticket_summary = excluded.ticket_summary,
                 metadata = excluded.metadata",
        )?;
        stmt.execute((
            &t.id,
            &t.ai_contact_id,
            &t.status,
            &t.created_at,
            &t.updated_at,
            &t.ticket_summary,
            &t.metadata,
        ))?;
        Ok(())
    }
}
