//! A contact's row as the conversation writes change it: found by its key on a
//! platform or made new, read whole, changed in memory, written back once.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension};

use super::Refusal;
use crate::model::{
    ChatStatus, ClientId, ContactId, ContactKey, CustomerId, JsonObject, MetadataPatch, Platform,
    TeamMemberId, TicketId, Timestamp,
};
use crate::store::Result;

/// The columns of a contact these writes read and write.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ContactRow {
    pub id: ContactId,
    pub client: ClientId,
    pub platform: Platform,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub last_message_at: Timestamp,
    pub last_message_content: Option<String>,
    pub chat_status: ChatStatus,
    pub is_chat_read: bool,
    pub default_stage_id: Option<String>,
    pub active_ticket: Option<TicketId>,
    pub last_closed_ticket: Option<TicketId>,
    pub integration_data: Option<JsonObject>,
    pub metadata: JsonObject,
    pub assigned_agent: Option<TeamMemberId>,
}

/// A contact by phone digits on a platform: through the search source's
/// `(client_id, phone_digits)` index, never a scan (a test holds the plan).
const BY_PHONE: &str =
    "SELECT c.id FROM contact_search_source s JOIN contacts c ON c.id = s.contact_id
     WHERE s.client_id = ?1 AND s.phone_digits = ?2 AND c.platform = ?3
     ORDER BY c.last_message_at DESC, c.id LIMIT 1";

/// A webchat contact by its identity, through `contacts_by_external_user` (V8): named,
/// because without statistics SQLite would walk the client's contacts newest first.
const BY_EXTERNAL_ID: &str = "SELECT id FROM contacts INDEXED BY contacts_by_external_user
     WHERE client_id = ?1 AND external_user_id = ?2 AND platform = ?3
     ORDER BY last_message_at DESC, id LIMIT 1";

/// `client`'s contact on `platform` with `key`: by phone digits (of several, the latest
/// `last_message_at`, ties by id) or by webchat identity.
pub(super) fn find(
    conn: &Connection,
    client: &ClientId,
    platform: Platform,
    key: &ContactKey,
) -> Result<Option<ContactId>> {
    let found = match key {
        ContactKey::Phone(phone) => conn
            .prepare_cached(BY_PHONE)?
            .query_row((client, phone.digits(), platform), |r| r.get(0))
            .optional()?,
        ContactKey::External(external) => conn
            .prepare_cached(BY_EXTERNAL_ID)?
            .query_row((client, external, platform), |r| r.get(0))
            .optional()?,
    };
    Ok(found)
}

/// `client`'s contact on `platform` with `key`, made (named `name`) when there is none;
/// and whether it was made.
pub(super) fn find_or_create(
    conn: &Connection,
    client: &ClientId,
    platform: Platform,
    key: &ContactKey,
    name: Option<&str>,
    at: Timestamp,
) -> Result<(ContactId, bool)> {
    Ok(match find(conn, client, platform, key)? {
        Some(id) => (id, false),
        None => (create(conn, client, platform, key, name, at)?, true),
    })
}

/// Makes `client`'s new contact on `platform` (SPEC 11.1): named `name`, else by its
/// phone or identity; unattended, read, no metadata, everything at `at`.
fn create(
    conn: &Connection,
    client: &ClientId,
    platform: Platform,
    key: &ContactKey,
    name: Option<&str>,
    at: Timestamp,
) -> Result<ContactId> {
    let id = ContactId::new_random();
    let (phone, external) = match key {
        ContactKey::Phone(phone) => (Some(phone.stored()), None),
        ContactKey::External(external) => (None, Some(external.as_str())),
    };
    let name = name
        .map(str::to_owned)
        .or_else(|| phone.clone())
        .or_else(|| external.map(str::to_owned))
        .unwrap_or_default();
    conn.prepare_cached(
        "INSERT INTO contacts (
             id, client_id, ai_customer_id, name, phone, platform, created_at, last_message_at,
             chat_status, is_chat_read, blocked, metadata, updated_at, external_user_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'UNATTENDED', 1, 0, '{}', ?7, ?8)",
    )?
    .execute(rusqlite::params![
        id,
        client,
        CustomerId::new_random(),
        name,
        phone,
        platform,
        at,
        external
    ])?;
    conn.prepare_cached(
        "INSERT INTO contact_search_source (contact_id, client_id, phone_digits, email)
         VALUES (?1, ?2, ?3, NULL)",
    )?
    .execute((&id, client, key_digits(key)))?;
    Ok(id)
}

fn key_digits(key: &ContactKey) -> Option<&str> {
    match key {
        ContactKey::Phone(phone) => Some(phone.digits()),
        ContactKey::External(_) => None,
    }
}

impl ContactRow {
    /// `client`'s contact `id`, or `Contact not found`.
    pub(super) fn load(conn: &Connection, client: &ClientId, id: &ContactId) -> Result<Self> {
        let mut stmt = conn.prepare_cached(
            "SELECT platform, name, email, phone, last_message_at, last_message_content,
                    chat_status, is_chat_read, default_stage_id, active_ticket_v2_id,
                    last_closed_ticket_v2_id, current_integration_data, metadata,
                    assigned_agent_id
             FROM contacts WHERE id = ?1 AND client_id = ?2",
        )?;
        let row = stmt
            .query_row((id, client), |r| {
                Ok(Self {
                    id: *id,
                    client: *client,
                    platform: r.get(0)?,
                    name: r.get(1)?,
                    email: r.get(2)?,
                    phone: r.get(3)?,
                    last_message_at: r.get(4)?,
                    last_message_content: r.get(5)?,
                    chat_status: r.get(6)?,
                    is_chat_read: r.get(7)?,
                    default_stage_id: r.get(8)?,
                    active_ticket: r.get(9)?,
                    last_closed_ticket: r.get(10)?,
                    integration_data: r.get(11)?,
                    metadata: r.get(12)?,
                    assigned_agent: r.get(13)?,
                })
            })
            .optional()?;
        row.ok_or_else(|| Refusal::ContactNotFound.into())
    }

    /// The name and e-mail a request gives replace the stored ones.
    pub(super) fn rename(&mut self, name: Option<&String>, email: Option<&String>) {
        if let Some(name) = name {
            self.name.clone_from(name);
        }
        if let Some(email) = email {
            self.email = Some(email.clone());
        }
    }

    /// Merges `patch` into the metadata (7.5's rules).
    pub(super) fn merge_metadata(&mut self, patch: &MetadataPatch) -> Result<()> {
        if !patch.is_empty() {
            self.metadata = super::merged(&self.metadata, patch, "metadata")?;
        }
        Ok(())
    }

    /// Merges `patch` into `current_integration_data` at the top level.
    pub(super) fn merge_integration_data(&mut self, patch: &MetadataPatch) -> Result<()> {
        if !patch.is_empty() {
            let stored = self
                .integration_data
                .take()
                .unwrap_or_else(JsonObject::empty);
            self.integration_data = Some(super::merged(&stored, patch, "integration_data")?);
        }
        Ok(())
    }

    /// Writes the columns that differ from `before` and stamps the contact as changed
    /// at `at`; the search source follows a new email. Only changed columns are set:
    /// SQLite rewrites an index entry whenever a column of the index is in the SET list,
    /// changed or not, and `last_message_at` and the tickets each have one.
    pub(super) fn save(&self, conn: &Connection, before: &Self, at: Timestamp) -> Result<()> {
        let mut set: Vec<(&str, &dyn ToSql)> = Vec::new();
        macro_rules! changed {
            ($($field:ident => $column:literal),+ $(,)?) => {$(
                if self.$field != before.$field {
                    set.push(($column, &self.$field));
                }
            )+};
        }
        changed!(
            name => "name",
            email => "email",
            last_message_at => "last_message_at",
            last_message_content => "last_message_content",
            chat_status => "chat_status",
            is_chat_read => "is_chat_read",
            default_stage_id => "default_stage_id",
            active_ticket => "active_ticket_v2_id",
            last_closed_ticket => "last_closed_ticket_v2_id",
            integration_data => "current_integration_data",
            metadata => "metadata",
            assigned_agent => "assigned_agent_id",
        );
        set.push(("updated_at", &at));
        let columns: Vec<String> = set
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!("{column} = ?{}", i + 2))
            .collect();
        // One statement text per set of changed columns: a handful, each cached.
        let sql = format!("UPDATE contacts SET {} WHERE id = ?1", columns.join(", "));
        let mut params: Vec<&dyn ToSql> = vec![&self.id];
        params.extend(set.iter().map(|(_, value)| *value));
        conn.prepare_cached(&sql)?.execute(params.as_slice())?;
        if self.email != before.email {
            // Lower-cased with Unicode's rules, as fixture loads index it.
            conn.prepare_cached(
                "UPDATE contact_search_source SET email = ?2 WHERE contact_id = ?1",
            )?
            .execute((&self.id, self.email.as_deref().map(str::to_lowercase)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contacts::tests::plan;

    #[test]
    fn contacts_are_found_by_phone_and_by_identity_through_an_index() {
        let text = |s: &str| rusqlite::types::Value::Text(s.to_owned());
        let params = || vec![text("c"), text("569"), text("whatsapp")];
        let by_phone = plan(BY_PHONE, params());
        assert!(
            by_phone
                .contains("USING INDEX contact_search_by_phone (client_id=? AND phone_digits=?)"),
            "{by_phone}"
        );
        assert!(by_phone.contains("USING PRIMARY KEY (id=?)"), "{by_phone}");
        let by_external = plan(BY_EXTERNAL_ID, params());
        assert!(
            by_external.contains("USING INDEX contacts_by_external_user"),
            "{by_external}"
        );
        assert!(!by_external.contains("SCAN"), "{by_external}");
    }
}
