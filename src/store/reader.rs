//! The read path of one HTTP worker: a connection it keeps, and a way to tell when any
//! other connection or process has committed since it last looked.

use std::cell::Cell;
use std::time::{Duration, Instant};

use r2d2::PooledConnection;
use r2d2_sqlite::SqliteConnectionManager;

use super::{
    Result, StoreError, api_keys, contact_list, contacts, info_bodies, messages, outbox, pipelines,
    search, team_members, webhooks,
};
use crate::api_key::KeyHash;
use crate::model::{
    ClientId, ContactId, ContactListQuery, ContactSearch, ContactSummary, Delivery, DeliveryQuery,
    InfoBody, Message, Pipeline, TeamMember, Webhook, WebhookId,
};

/// How long a reader must see no commit before it maps the file.
const QUIET_BEFORE_MAP: Duration = Duration::from_secs(1);
/// The most of the file a reader maps: all of it, in practice.
const MAP_BYTES: i64 = 1 << 40;

/// One worker's own connection. Queries run on the worker thread itself: a point lookup
/// costs less than the hop to a blocking thread pool would.
///
/// The connection memory-maps the database file while nobody writes, and reads it with
/// `pread` while anybody does. A map saves each read its copies from the OS page cache
/// (`/info` 8-10 % faster at 1M contacts), but SQLite drops a connection's whole map
/// whenever it sees another connection's commit, and under the API's writes that costs
/// more than it saves (reads beside 2,000 writes/s kept 0.44 of their rate with a map,
/// 0.66 without; BENCHMARKS.md). So the map goes on once this reader has seen no commit
/// for `QUIET_BEFORE_MAP`, and off at the first commit it sees.
pub struct Reader {
    conn: PooledConnection<SqliteConnectionManager>,
    mapped: Cell<bool>,
    seen_version: Cell<Option<i64>>,
    changed_at: Cell<Instant>,
}

impl Reader {
    pub(super) fn new(conn: PooledConnection<SqliteConnectionManager>) -> Self {
        Self {
            conn,
            mapped: Cell::new(false),
            seen_version: Cell::new(None),
            changed_at: Cell::new(Instant::now()),
        }
    }

    /// Maps or unmaps the file as the time since the last commit seen asks. Outside a
    /// transaction: SQLite remaps at once, and no page of the old map may be in use.
    fn adjust_map(&self) -> Result<()> {
        let quiet = self.changed_at.get().elapsed() >= QUIET_BEFORE_MAP;
        if quiet != self.mapped.get() {
            let bytes = if quiet { MAP_BYTES } else { 0 };
            self.conn.pragma_update(None, "mmap_size", bytes)?;
            self.mapped.set(quiet);
        }
        Ok(())
    }

    /// The owner of a live (not revoked) key.
    pub fn owner_of_key(&self, hash: &KeyHash) -> Result<Option<api_keys::KeyOwner>> {
        api_keys::owner_of_key(&self.conn, hash)
    }

    /// The `/info` answer for `client`'s contact `id`, as the read model keeps it; `None`
    /// for a missing contact and for another client's alike.
    pub fn contact_body(&self, client: &ClientId, id: &ContactId) -> Result<Option<InfoBody>> {
        info_bodies::body(&self.conn, client, id)
    }

    /// One page of `client`'s contacts that pass the query's filters.
    pub fn list_contacts(
        &self,
        client: &ClientId,
        query: &ContactListQuery,
    ) -> Result<Vec<ContactSummary>> {
        contact_list::list(&self.conn, client, query)
    }

    /// `client`'s newest contacts matching the search.
    pub fn search_contacts(
        &self,
        client: &ClientId,
        search: &ContactSearch,
    ) -> Result<Vec<ContactSummary>> {
        search::search(&self.conn, client, search)
    }

    /// Page `page` (from 1) of the conversation of `client`'s contact `id`, with the
    /// conversation's length; `None` when `client` has no such contact.
    pub fn messages(
        &self,
        client: &ClientId,
        id: &ContactId,
        page: u32,
    ) -> Result<Option<(Vec<Message>, u64)>> {
        if !contacts::contact_exists(&self.conn, client, id)? {
            return Ok(None);
        }
        messages::page(&self.conn, id, page).map(Some)
    }

    /// `client`'s pipelines with their stages.
    pub fn pipelines(&self, client: &ClientId) -> Result<Vec<Pipeline>> {
        pipelines::list(&self.conn, client)
    }

    /// `client`'s team members in fixture order.
    pub fn team_members(&self, client: &ClientId) -> Result<Vec<TeamMember>> {
        team_members::list(&self.conn, client)
    }

    /// Every subscription of `client`, deleted ones included, oldest first.
    pub fn webhooks(&self, client: &ClientId) -> Result<Vec<Webhook>> {
        webhooks::list(&self.conn, client)
    }

    /// `client`'s subscription `id`, deleted or not.
    pub fn webhook(&self, client: &ClientId, id: &WebhookId) -> Result<Option<Webhook>> {
        webhooks::get(&self.conn, client, id)
    }

    /// One page of `client`'s delivery log, newest first.
    pub fn deliveries(&self, client: &ClientId, query: &DeliveryQuery) -> Result<Vec<Delivery>> {
        outbox::deliveries(&self.conn, client, query)
    }

    /// Runs `f` in one read transaction: one lock taken and released for all the
    /// reads of a request, and all of them from the same snapshot.
    pub fn in_snapshot<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.adjust_map()?;
        self.execute("BEGIN")?;
        let result = f(self);
        // A read transaction has nothing to lose: end it whatever `f` returned.
        self.execute("COMMIT")?;
        result
    }

    fn execute(&self, sql: &str) -> Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    /// True when another connection, in this process or any other, has committed since
    /// this reader last asked (and at its first ask): SQLite's `data_version` moved.
    pub fn saw_commit(&self) -> Result<bool> {
        let mut stmt = self.conn.prepare_cached("PRAGMA data_version")?;
        let version: i64 = stmt.query_row([], |r| r.get(0))?;
        let moved = self.seen_version.replace(Some(version)) != Some(version);
        if moved {
            self.changed_at.set(Instant::now());
        }
        Ok(moved)
    }
}
