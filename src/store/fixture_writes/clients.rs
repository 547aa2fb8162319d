//! The client-level records of a load: the client itself, its keys, pipelines,
//! channels and team members, and the owner look-ups their checks need.

use super::FixtureWriter;
use crate::api_key::KeyHash;
use crate::model::{
    ApiKeyId, Channel, ChannelId, ClientId, Pipeline, PipelineId, StageId, TeamMember,
    TeamMemberId, Timestamp, phone_digits,
};
use crate::store::Result;

impl FixtureWriter<'_> {
    /// The client a stored key belongs to, found by its digest.
    pub fn key_client(&self, hash: &KeyHash) -> Result<Option<ClientId>> {
        self.lookup("SELECT client_id FROM api_keys WHERE key_hash = ?1", hash)
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

    /// Inserts or replaces a pipeline with its stages, whole: stages it no longer lists
    /// are removed.
    pub fn upsert_pipeline(&self, p: &Pipeline, position: usize) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO pipelines (id, client_id, name, description, position)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET
                 name = excluded.name,
                 description = excluded.description,
                 position = excluded.position",
        )?;
        stmt.execute((
            &p.id,
            &p.client_id,
            &p.name,
            &p.description,
            position as i64,
        ))?;
        let mut clear = self
            .tx
            .prepare_cached("DELETE FROM stages WHERE pipeline_id = ?1")?;
        clear.execute([&p.id])?;
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO stages (id, pipeline_id, name, description, position)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (i, stage) in p.stages.iter().enumerate() {
            insert.execute((&stage.id, &p.id, &stage.name, &stage.description, i as i64))?;
        }
        Ok(())
    }

    /// Inserts or replaces a channel (none is ever removed by a load).
    pub fn upsert_channel(&self, c: &Channel, position: usize) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO channels
                 (id, client_id, type, phone_number, phone_digits, phone_id, name, position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET
                 type = excluded.type,
                 phone_number = excluded.phone_number,
                 phone_digits = excluded.phone_digits,
                 phone_id = excluded.phone_id,
                 name = excluded.name,
                 position = excluded.position",
        )?;
        let digits = c.phone_number.as_deref().map(phone_digits);
        stmt.execute(rusqlite::params![
            c.id,
            c.client_id,
            c.kind,
            c.phone_number,
            digits,
            c.phone_id,
            c.name,
            position as i64,
        ])?;
        Ok(())
    }

    /// Inserts or replaces a team member (none is ever removed by a load).
    pub fn upsert_team_member(&self, m: &TeamMember, position: usize) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO team_members
                 (id, client_id, first_name, last_name, email, phone, position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET
                 first_name = excluded.first_name,
                 last_name = excluded.last_name,
                 email = excluded.email,
                 phone = excluded.phone,
                 position = excluded.position",
        )?;
        stmt.execute((
            &m.id,
            &m.client_id,
            &m.first_name,
            &m.last_name,
            &m.email,
            &m.phone,
            position as i64,
        ))?;
        Ok(())
    }

    /// The client a stored channel belongs to.
    pub fn channel_client(&self, id: &ChannelId) -> Result<Option<ClientId>> {
        self.lookup("SELECT client_id FROM channels WHERE id = ?1", id)
    }

    /// The client a stored team member belongs to.
    pub fn team_member_client(&self, id: &TeamMemberId) -> Result<Option<ClientId>> {
        self.lookup("SELECT client_id FROM team_members WHERE id = ?1", id)
    }

    /// The client a stored pipeline belongs to.
    pub fn pipeline_client(&self, id: &PipelineId) -> Result<Option<ClientId>> {
        self.lookup("SELECT client_id FROM pipelines WHERE id = ?1", id)
    }

    /// The pipeline a stored stage belongs to.
    pub fn stage_pipeline(&self, id: &StageId) -> Result<Option<PipelineId>> {
        self.lookup("SELECT pipeline_id FROM stages WHERE id = ?1", id)
    }
}
