//! Contacts: one with its tickets (`/info`), the list's summaries, and the metadata
//! write.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};

use super::{MetadataWrite, Result, info_bodies, outbox};
use crate::model::{
    ClientId, Contact, ContactId, ContactInfo, ContactListQuery, ContactSummary, EntityType,
    JsonObject, ListOrder, MetadataPatch, Ticket, TicketRef, Timestamp,
};

/// The contact's columns, in the order `contact_from_row` reads them (a macro, so that
/// the hot path's SQL is one literal, not a string built per request).
macro_rules! contact_columns {
    () => {
        "c.id, c.client_id, c.ai_customer_id, c.name, c.email, c.phone, c.platform,
         c.created_at, c.last_message_at, c.last_message_content, c.chat_status,
         c.is_chat_read, c.blocked, c.default_stage_id, c.active_ticket_v2_id,
         c.last_closed_ticket_v2_id, c.current_integration_data, c.metadata, c.updated_at"
    };
}
const CONTACT_COLUMNS: usize = 19;
const TICKET_COLUMNS: usize = 7;

/// A contact with its two tickets: the contact stores its ticket ids, so both tickets
/// are joins on the tickets' primary key (contact, ticket), with no sort. These are the
/// source rows of the `/info` read model (`info_bodies`): its columns, then its tables.
macro_rules! contact_info_columns {
    () => {
        concat!(
            contact_columns!(),
            ",
             a.id, a.status, a.created_at, a.updated_at, a.ticket_summary, a.metadata, a.stage_id,
             l.id, l.status, l.created_at, l.updated_at, l.ticket_summary, l.metadata, l.stage_id"
        )
    };
}
macro_rules! contact_info_tables {
    () => {
        "FROM contacts c
         LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id
         LEFT JOIN tickets l ON l.ai_contact_id = c.id AND l.id = c.last_closed_ticket_v2_id"
    };
}
pub(super) use {contact_columns, contact_info_columns, contact_info_tables};
/// Columns `contact_info_from_row` reads; a query may select more after them.
pub(super) const CONTACT_INFO_COLUMNS: usize = CONTACT_COLUMNS + 2 * TICKET_COLUMNS;

const CONTACT_INFO: &str = concat!(
    "SELECT ",
    contact_info_columns!(),
    " ",
    contact_info_tables!(),
    " WHERE c.id = ?1"
);

/// A contact summary: the contact and its active ticket's id and stage.
pub(super) const SUMMARY_COLUMNS: &str = concat!(contact_columns!(), ", a.id, a.stage_id");
const SUMMARY_SELECT: &str = concat!(
    "SELECT ",
    contact_columns!(),
    ", a.id, a.stage_id FROM contacts c
     LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id"
);

/// The contact `id` with its tickets, whichever client it belongs to.
pub(super) fn contact_info(conn: &Connection, id: &ContactId) -> Result<Option<ContactInfo>> {
    let mut stmt = conn.prepare_cached(CONTACT_INFO)?;
    Ok(stmt.query_row([id], contact_info_from_row).optional()?)
}

/// Whether `client` has a contact `id`.
pub(super) fn contact_exists(conn: &Connection, client: &ClientId, id: &ContactId) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ?1 AND client_id = ?2)",
    )?;
    Ok(stmt.query_row((id, client), |r| r.get(0))?)
}

/// Merges `patch` into the metadata of `client`'s contact `id` and stamps the contact
/// as changed at `at`. An empty patch writes nothing (SPEC 7.5), not even the stamp.
pub(super) fn update_metadata(
    conn: &Connection,
    client: &ClientId,
    id: &ContactId,
    patch: &MetadataPatch,
    at: Timestamp,
) -> Result<MetadataWrite> {
    let mut read =
        conn.prepare_cached("SELECT metadata FROM contacts WHERE id = ?1 AND client_id = ?2")?;
    let Some(stored) = read
        .query_row((id, client), |r| r.get::<_, JsonObject>(0))
        .optional()?
    else {
        return Ok(MetadataWrite::ContactNotFound);
    };
    if patch.is_empty() {
        return Ok(MetadataWrite::Written);
    }
    let merged = match stored.merged(patch) {
        Ok(merged) => merged,
        Err(refused) => return Ok(refused.into()),
    };
    let before = outbox::before_contact_change(conn, client, id)?;
    let mut write =
        conn.prepare_cached("UPDATE contacts SET metadata = ?2, updated_at = ?3 WHERE id = ?1")?;
    write.execute((id, &merged, at))?;
    info_bodies::refresh(conn, id)?;
    if let Some(before) = before {
        outbox::contact_updated(conn, client, id, &before, at)?;
    }
    Ok(MetadataWrite::Written)
}

/// The summaries of one page of `client`'s contacts that pass every filter of `query`.
pub(super) fn list(
    conn: &Connection,
    client: &ClientId,
    query: &ContactListQuery,
) -> Result<Vec<ContactSummary>> {
    let (sql, params) = list_sql(client, query);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), summary_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The list's SQL for this query's filters, and its parameters.
fn list_sql(client: &ClientId, query: &ContactListQuery) -> (String, Vec<Value>) {
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = vec![client.to_string().into()];
    let mut param = |value: Value| {
        params.push(value);
        format!("?{}", params.len())
    };
    if let Some(t) = query.last_message_since {
        conditions.push(format!(
            "c.last_message_at >= {}",
            param(t.as_millis().into())
        ));
    }
    if let Some(t) = query.created_after {
        conditions.push(format!("c.created_at > {}", param(t.as_millis().into())));
    }
    if let Some(t) = query.updated_after {
        conditions.push(format!("c.updated_at > {}", param(t.as_millis().into())));
    }
    if let Some(stage) = query.stage_id {
        conditions.push(format!("a.stage_id = {}", param(stage.to_string().into())));
    }
    if let Some(pipeline) = query.pipeline_id {
        // Only the key's client's pipelines: another client's id matches nothing.
        conditions.push(format!(
            "a.stage_id IN (SELECT s.id FROM stages s JOIN pipelines p ON p.id = s.pipeline_id
                            WHERE p.id = {} AND p.client_id = ?1)",
            param(pipeline.to_string().into())
        ));
    }
    if let Some(field) = &query.custom_field {
        let metadata = match field.entity {
            EntityType::Customer => "c.metadata",
            EntityType::Ticket => "a.metadata",
        };
        // A string compares as itself, any other value by its stored compact text.
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM json_each({metadata}) j WHERE j.key = {}
                     AND (CASE WHEN j.type = 'text' THEN j.value
                               ELSE {metadata} -> j.fullkey END) = {})",
            param(field.key.clone().into()),
            param(field.value.clone().into())
        ));
    }
    let order = match query.order() {
        ListOrder::UpdatedAscending => "c.updated_at, c.id",
        ListOrder::CreatedAscending => "c.created_at, c.id",
        ListOrder::LastMessageDescending => "c.last_message_at DESC, c.id",
    };
    let limit = param(i64::from(query.limit).into());
    let offset = param(i64::try_from(query.offset).unwrap_or(i64::MAX).into());
    let filters: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
    let sql = format!(
        "{SUMMARY_SELECT} WHERE c.client_id = ?1{filters} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    );
    (sql, params)
}

pub(super) fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<ContactSummary> {
    let contact = contact_from_row(row)?;
    let active_ticket = match row.get(CONTACT_COLUMNS)? {
        Some(id) => Some(TicketRef {
            id,
            current_stage_id: row.get(CONTACT_COLUMNS + 1)?,
        }),
        None => None,
    };
    Ok(ContactSummary {
        contact,
        active_ticket,
    })
}

pub(super) fn contact_info_from_row(row: &Row<'_>) -> rusqlite::Result<ContactInfo> {
    let contact = contact_from_row(row)?;
    let active_ticket = ticket_from_row(row, CONTACT_COLUMNS, &contact)?;
    let last_closed_ticket = ticket_from_row(row, CONTACT_COLUMNS + TICKET_COLUMNS, &contact)?;
    Ok(ContactInfo {
        contact,
        active_ticket,
        last_closed_ticket,
    })
}

fn contact_from_row(row: &Row<'_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        id: row.get(0)?,
        client_id: row.get(1)?,
        ai_customer_id: row.get(2)?,
        name: row.get(3)?,
        email: row.get(4)?,
        phone: row.get(5)?,
        platform: row.get(6)?,
        created_at: row.get(7)?,
        last_message_at: row.get(8)?,
        last_message_content: row.get(9)?,
        chat_status: row.get(10)?,
        is_chat_read: row.get(11)?,
        blocked: row.get(12)?,
        default_stage_id: row.get(13)?,
        active_ticket_v2_id: row.get(14)?,
        last_closed_ticket_v2_id: row.get(15)?,
        current_integration_data: row.get(16)?,
        metadata: row.get(17)?,
        updated_at: row.get(18)?,
    })
}

/// A ticket's columns, in the order `ticket_from_row` reads them.
pub(super) const TICKET_COLUMN_NAMES: &str =
    "t.id, t.status, t.created_at, t.updated_at, t.ticket_summary, t.metadata, t.stage_id";

/// The ticket whose columns start at `at`, or `None` when the join found none.
fn ticket_from_row(
    row: &Row<'_>,
    at: usize,
    contact: &Contact,
) -> rusqlite::Result<Option<Ticket>> {
    let Some(id) = row.get(at)? else {
        return Ok(None);
    };
    Ok(Some(Ticket {
        id,
        ai_contact_id: contact.id,
        status: row.get(at + 1)?,
        created_at: row.get(at + 2)?,
        updated_at: row.get(at + 3)?,
        ticket_summary: row.get(at + 4)?,
        metadata: row.get(at + 5)?,
        stage_id: row.get(at + 6)?,
    }))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::{CustomField, Timestamp};

    /// `EXPLAIN QUERY PLAN` of `sql`, one line per step.
    pub(in crate::store) fn plan(sql: &str, params: Vec<Value>) -> String {
        let mut conn = crate::store::open_in_memory();
        crate::store::migrations::apply(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    fn query() -> ContactListQuery {
        ContactListQuery {
            last_message_since: None,
            created_after: None,
            updated_after: None,
            stage_id: None,
            pipeline_id: None,
            custom_field: None,
            limit: 100,
            offset: 0,
        }
    }

    #[test]
    fn each_list_order_walks_its_index_without_sorting() {
        let client = ClientId::new_random();
        let t = Some(Timestamp::now());
        for (q, index) in [
            (
                ContactListQuery {
                    last_message_since: t,
                    ..query()
                },
                "contacts_by_last_message",
            ),
            (
                ContactListQuery {
                    created_after: t,
                    ..query()
                },
                "contacts_by_created",
            ),
            (
                ContactListQuery {
                    updated_after: t,
                    created_after: t,
                    ..query()
                },
                "contacts_by_updated",
            ),
            (
                ContactListQuery {
                    last_message_since: t,
                    custom_field: Some(CustomField {
                        key: "k".into(),
                        value: "v".into(),
                        entity: EntityType::Ticket,
                    }),
                    ..query()
                },
                "contacts_by_last_message",
            ),
        ] {
            let (sql, params) = list_sql(&client, &q);
            let plan = plan(&sql, params);
            assert!(plan.contains(index), "{q:?}:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{q:?} sorts:\n{plan}");
        }
    }
}
