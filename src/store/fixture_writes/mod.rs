//! Upserts for fixture loading, all inside the one transaction that `Store::write` opens.
//! Into a database with no rows yet they are plain inserts, with the indexes built after
//! them (`bulk`). A client's own records (keys, pipelines, channels, team members) are in
//! `clients`; the contacts, tickets and messages here.

mod bulk;
mod clients;

use std::cell::RefCell;

use rusqlite::types::{FromSql, ToSql};
use rusqlite::{OptionalExtension, Transaction};

use super::{Result, api_keys, info_bodies};
use crate::model::{
    ClientId, Contact, ContactId, InfoBody, Message, MessageId, Routing, Ticket, TicketId,
    TicketStatus, Timestamp, phone_digits,
};

/// Writes and the look-ups that validation needs, on one open transaction.
pub struct FixtureWriter<'t> {
    tx: &'t Transaction<'t>,
    /// The database had no client when the load began, so it had no row at all (every
    /// row belongs to a client): the owner lookups below, which run before the load
    /// writes, have nothing to find. A million-contact load made seven million of them.
    /// Nor can a row conflict with a stored one: every write is a plain insert.
    was_empty: bool,
    /// Into an empty database: the indexes and triggers to build once the rows are in.
    set_aside: RefCell<Option<bulk::SetAside>>,
}

impl<'t> FixtureWriter<'t> {
    pub(super) fn new(tx: &'t Transaction<'t>) -> Result<Self> {
        // Per connection, in memory (temp_store); emptied by every load that fills it.
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS search_queue (
                 contact_id   TEXT NOT NULL PRIMARY KEY,
                 client_id    TEXT NOT NULL,
                 phone_digits TEXT,
                 email        TEXT
             ) WITHOUT ROWID;
             DELETE FROM temp.search_queue;",
        )?;
        let was_empty = api_keys::no_client(tx)?;
        let set_aside = if was_empty {
            Some(bulk::set_aside(tx)?)
        } else {
            None
        };
        Ok(Self {
            tx,
            was_empty,
            set_aside: RefCell::new(set_aside),
        })
    }

    /// Builds what a load into an empty database set aside (once; later calls do
    /// nothing). `Store::write` calls it before committing, whoever else did.
    pub fn build_indexes(&self) -> Result<()> {
        match self.set_aside.borrow_mut().take() {
            Some(set_aside) => bulk::restore(self.tx, set_aside),
            None => Ok(()),
        }
    }

    // The look-ups below answer for the database as it was before the load wrote.

    pub fn client_exists(&self, id: &ClientId) -> Result<bool> {
        if self.was_empty {
            return Ok(false);
        }
        api_keys::client_exists(self.tx, id)
    }

    /// The one column `sql` selects from the row keyed by `key`, if there is one.
    fn lookup<T: FromSql>(&self, sql: &str, key: impl ToSql) -> Result<Option<T>> {
        if self.was_empty {
            return Ok(None);
        }
        let mut stmt = self.tx.prepare_cached(sql)?;
        Ok(stmt.query_row([key], |r| r.get(0)).optional()?)
    }

    /// The client a stored contact belongs to.
    pub fn contact_client(&self, id: &ContactId) -> Result<Option<ClientId>> {
        self.lookup("SELECT client_id FROM contacts WHERE id = ?1", id)
    }

    /// The contact a stored ticket belongs to, and its status.
    pub fn ticket_owner(&self, id: &TicketId) -> Result<Option<(ContactId, TicketStatus)>> {
        if self.was_empty {
            return Ok(None);
        }
        let mut stmt = self
            .tx
            .prepare_cached("SELECT ai_contact_id, status FROM tickets WHERE id = ?1")?;
        Ok(stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Writes one row: `insert` into a database that was empty (nothing to conflict
    /// with), else `upsert`; true when that changed anything.
    fn write_row(&self, insert: &str, upsert: &str, params: impl rusqlite::Params) -> Result<bool> {
        let sql = if self.was_empty { insert } else { upsert };
        Ok(self.tx.prepare_cached(sql)?.execute(params)? > 0)
    }

    /// Inserts or replaces the contact; true when that changed anything. `updated_at`
    /// (rather than the contact's own) is written only with a change, or also alone when
    /// `explicit_updated_at` says the fixture gave it.
    pub fn upsert_contact(
        &self,
        c: &Contact,
        routing: &Routing,
        updated_at: Timestamp,
        explicit_updated_at: bool,
    ) -> Result<bool> {
        // json() stores the objects minified; their numbers and strings keep their text.
        macro_rules! insert {
            () => {
                "INSERT INTO contacts (
                 id, client_id, ai_customer_id, name, email, phone, platform, created_at,
                 last_message_at, last_message_content, chat_status, is_chat_read, blocked,
                 default_stage_id, active_ticket_v2_id, last_closed_ticket_v2_id,
                 current_integration_data, metadata, updated_at, external_user_id,
                 assigned_agent_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     json(?17), json(?18), ?19, ?20, ?21)"
            };
        }
        const UPSERT: &str = concat!(
            insert!(),
            "
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
                 metadata = excluded.metadata,
                 updated_at = excluded.updated_at,
                 external_user_id = excluded.external_user_id,
                 assigned_agent_id = excluded.assigned_agent_id
             WHERE (ai_customer_id, name, email, phone, platform, created_at, last_message_at,
                    last_message_content, chat_status, is_chat_read, blocked,
                    default_stage_id, active_ticket_v2_id, last_closed_ticket_v2_id,
                    current_integration_data, metadata, external_user_id, assigned_agent_id)
                IS NOT (excluded.ai_customer_id, excluded.name, excluded.email,
                    excluded.phone, excluded.platform, excluded.created_at,
                    excluded.last_message_at, excluded.last_message_content,
                    excluded.chat_status, excluded.is_chat_read, excluded.blocked,
                    excluded.default_stage_id, excluded.active_ticket_v2_id,
                    excluded.last_closed_ticket_v2_id, excluded.current_integration_data,
                    excluded.metadata, excluded.external_user_id, excluded.assigned_agent_id)
                OR (?22 AND updated_at IS NOT excluded.updated_at)"
        );
        let params = rusqlite::params![
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
            updated_at,
            routing.external_user_id,
            routing.assigned_agent_id,
        ];
        // The upsert alone reads ?22.
        let mut params = params.to_vec();
        if !self.was_empty {
            params.push(&explicit_updated_at);
        }
        let changed = self.write_row(insert!(), UPSERT, params.as_slice())?;
        if changed {
            self.index_for_search(c)?;
        }
        Ok(changed)
    }

    /// What search finds the contact by: its phone's digits and its email. Queued in a
    /// temporary table and indexed by `index_queued_for_search` in one statement: each
    /// statement that writes the full-text index flushes its pending terms to disk at its
    /// end, so a row at a time made one tiny segment per contact, merged over and over
    /// (a fifth of a load's time).
    fn index_for_search(&self, c: &Contact) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR REPLACE INTO temp.search_queue (contact_id, client_id, phone_digits, email)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        // Lower-cased here, with Unicode's rules, so that every search plan compares
        // lower-case text with lower-case text.
        let digits = c.phone.as_deref().map(phone_digits);
        let email = c.email.as_deref().map(str::to_lowercase);
        stmt.execute((&c.id, &c.client_id, digits, email))?;
        Ok(())
    }

    /// Writes what `index_for_search` queued to the search source (its triggers update
    /// the full-text index), in one statement.
    pub fn index_queued_for_search(&self) -> Result<()> {
        self.tx.execute_batch(
            "INSERT INTO contact_search_source (contact_id, client_id, phone_digits, email)
             SELECT contact_id, client_id, phone_digits, email FROM temp.search_queue
             WHERE true
             ORDER BY contact_id
             ON CONFLICT (contact_id) DO UPDATE SET
                 client_id = excluded.client_id,
                 phone_digits = excluded.phone_digits,
                 email = excluded.email
             WHERE (client_id, phone_digits, email)
                IS NOT (excluded.client_id, excluded.phone_digits, excluded.email);
             DELETE FROM temp.search_queue;",
        )?;
        Ok(())
    }

    /// Moves a contact's `updated_at` to `at`: one of its tickets or messages changed.
    pub fn touch_contact(&self, id: &ContactId, at: Timestamp) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached("UPDATE contacts SET updated_at = ?2 WHERE id = ?1")?;
        stmt.execute((id, at))?;
        Ok(())
    }

    /// True when the load began on a database with no rows: everything it writes is
    /// new, and an answer rendered from a contact's parsed records is the one its rows
    /// would render.
    pub fn is_new_database(&self) -> bool {
        self.was_empty
    }

    /// Stores contact `id`'s `/info` answer, rendered by the caller (the read model).
    pub fn put_info_body(&self, id: &ContactId, client: &ClientId, body: &InfoBody) -> Result<()> {
        info_bodies::put(self.tx, id, client, body)
    }

    /// Renders the `/info` answers of `ids` again from their rows, now that the load
    /// has written them (the read model).
    pub fn refresh_info_bodies<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a ContactId>,
    ) -> Result<()> {
        for id in ids {
            info_bodies::refresh(self.tx, id)?;
        }
        Ok(())
    }

    /// Inserts or replaces the ticket; true when that changed anything.
    pub fn upsert_ticket(&self, t: &Ticket) -> Result<bool> {
        macro_rules! insert {
            () => {
                "INSERT INTO tickets (
                 id, ai_contact_id, status, created_at, updated_at, ticket_summary, metadata,
                 stage_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, json(?7), ?8)"
            };
        }
        const UPSERT: &str = concat!(
            insert!(),
            "
             ON CONFLICT (id) DO UPDATE SET
                 ai_contact_id = excluded.ai_contact_id,
                 status = excluded.status,
                 created_at = excluded.created_at,
                 updated_at = excluded.updated_at,
                 ticket_summary = excluded.ticket_summary,
                 metadata = excluded.metadata,
                 stage_id = excluded.stage_id
             WHERE (status, created_at, updated_at, ticket_summary, metadata, stage_id)
                IS NOT (excluded.status, excluded.created_at, excluded.updated_at,
                        excluded.ticket_summary, excluded.metadata, excluded.stage_id)"
        );
        let params = (
            &t.id,
            &t.ai_contact_id,
            &t.status,
            &t.created_at,
            &t.updated_at,
            &t.ticket_summary,
            &t.metadata,
            &t.stage_id,
        );
        self.write_row(insert!(), UPSERT, params)
    }

    /// Inserts or replaces the message; true when that changed anything.
    pub fn upsert_message(&self, m: &Message) -> Result<bool> {
        macro_rules! insert {
            () => {
                "INSERT INTO messages (
                 id, ai_contact_id, created_at, body, direction, \"from\", \"to\", type, status,
                 media_url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            };
        }
        const UPSERT: &str = concat!(
            insert!(),
            "
             ON CONFLICT (id) DO UPDATE SET
                 created_at = excluded.created_at,
                 body = excluded.body,
                 direction = excluded.direction,
                 \"from\" = excluded.\"from\",
                 \"to\" = excluded.\"to\",
                 type = excluded.type,
                 status = excluded.status,
                 media_url = excluded.media_url
             WHERE (created_at, body, direction, \"from\", \"to\", type, status, media_url)
                IS NOT (excluded.created_at, excluded.body, excluded.direction,
                        excluded.\"from\", excluded.\"to\", excluded.type, excluded.status,
                        excluded.media_url)"
        );
        let params = rusqlite::params![
            m.id,
            m.ai_contact_id,
            m.created_at,
            m.body,
            m.direction,
            m.from,
            m.to,
            m.kind,
            m.status,
            m.media_url,
        ];
        self.write_row(insert!(), UPSERT, params)
    }

    /// The contact a stored message belongs to.
    pub fn message_owner(&self, id: &MessageId) -> Result<Option<ContactId>> {
        self.lookup("SELECT ai_contact_id FROM messages WHERE id = ?1", id)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::JsonObject;
    use crate::store::open_in_memory;

    /// The rows store metadata through SQLite's `json()`; a load into a new database
    /// renders its answers from `JsonObject::compact` of the parsed records instead.
    /// The two must agree on every well-formed object, whatever its spacing, escapes
    /// and numbers.
    #[test]
    fn compact_is_what_sqlite_stores() {
        let conn = open_in_memory();
        for text in [
            "{}",
            "{ }",
            r#"{"a":1}"#,
            " {\n  \"plan\" : \"gold\" ,\n  \"tags\" : [ \"a\" , \"b\" ]\n}\n",
            r#"{"e":"\u00e9\u00E9","slash":"\/","q":"\"","bs":"\\","nl":"\n\t\r\b\f"}"#,
            r#"{"n":[0,-0,1.0,1.50e3,1E-7,-2.5E+10,12345678901234567890123456789,1e400]}"#,
            r#"{"dup":1,"dup":2,"nested":{"dup":[],"dup":{}}}"#,
            r#"{"s":"Pérez ☕ 😀","emoji":"\ud83d\ude00","ctl":"\u0000\u001f"}"#,
            "{\"deep\":[[[[{\"x\" :\t[ true , false , null ]}]]]]}",
            r#"{"sp ace":"  inner  spaces  ","":""}"#,
        ] {
            let ours = JsonObject::parse(text).unwrap().compact();
            let sqlite: String = conn
                .query_row("SELECT json(?1)", [text], |r| r.get(0))
                .unwrap();
            assert_eq!(ours.as_str(), sqlite, "for {text:?}");
        }
    }
}
