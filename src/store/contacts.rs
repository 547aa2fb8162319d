//! Reads of contacts: one with its tickets (`/info`), and the list and search summaries.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};

use super::Result;
use crate::model::{
    ClientId, Contact, ContactId, ContactInfo, ContactListQuery, ContactSearch, ContactSummary,
    EntityType, ListOrder, SEARCH_LIMIT, Ticket, TicketRef,
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

/// One indexed lookup: the contact stores its ticket ids, so both tickets are joins on
/// the tickets' primary key (contact, ticket), with no sort. Asking for the client too
/// makes another client's contact indistinguishable from a missing one.
const CONTACT_INFO: &str = concat!(
    "SELECT ",
    contact_columns!(),
    ",
       a.id, a.status, a.created_at, a.updated_at, a.ticket_summary, a.metadata, a.stage_id,
       l.id, l.status, l.created_at, l.updated_at, l.ticket_summary, l.metadata, l.stage_id
     FROM contacts c
     LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id
     LEFT JOIN tickets l ON l.ai_contact_id = c.id AND l.id = c.last_closed_ticket_v2_id
     WHERE c.id = ?1 AND c.client_id = ?2"
);

/// A contact summary: the contact and its active ticket's id and stage.
const SUMMARY_SELECT: &str = concat!(
    "SELECT ",
    contact_columns!(),
    ", a.id, a.stage_id FROM contacts c
     LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id"
);

/// The contact `id` as `client` may see it, or `None` when it does not exist or
/// belongs to another client.
pub(super) fn contact_info(
    conn: &Connection,
    client: &ClientId,
    id: &ContactId,
) -> Result<Option<ContactInfo>> {
    let mut stmt = conn.prepare_cached(CONTACT_INFO)?;
    Ok(stmt
        .query_row((id, client), contact_info_from_row)
        .optional()?)
}

/// Whether `client` has a contact `id`.
pub(super) fn contact_exists(conn: &Connection, client: &ClientId, id: &ContactId) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ?1 AND client_id = ?2)",
    )?;
    Ok(stmt.query_row((id, client), |r| r.get(0))?)
}

/// The summaries of one page of `client`'s contacts that pass every filter of `query`.
pub(super) fn list(
    conn: &Connection,
    client: &ClientId,
    query: &ContactListQuery,
) -> Result<Vec<ContactSummary>> {
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
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), summary_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The newest contacts of `client` whose phone digits or email contain the search's.
///
/// Pieces of three characters or more are found through the trigram index; a shorter
/// piece cannot use it, and those searches read the client's search rows instead.
pub(super) fn search(
    conn: &Connection,
    client: &ClientId,
    search: &ContactSearch,
) -> Result<Vec<ContactSummary>> {
    let indexable = |piece: &Option<String>| piece.as_ref().is_none_or(|p| p.chars().count() >= 3);
    let phone = search.phone_digits.clone();
    let email = search.email.clone();
    let (candidates, params): (&str, Vec<Value>) = if indexable(&search.phone_digits)
        && indexable(&search.email)
    {
        let phrase =
            |column: &str, piece: &str| format!("{column} : \"{}\"", piece.replace('"', "\"\""));
        let terms: Vec<String> = [
            phone.as_deref().map(|p| phrase("phone_digits", p)),
            email.as_deref().map(|e| phrase("email", e)),
        ]
        .into_iter()
        .flatten()
        .collect();
        (
            "SELECT s.contact_id FROM contact_search_source s
                 WHERE s.rowid IN (SELECT rowid FROM contact_search WHERE contact_search MATCH ?2)",
            vec![client.to_string().into(), terms.join(" OR ").into()],
        )
    } else {
        (
            "SELECT s.contact_id FROM contact_search_source s
                 WHERE s.client_id = ?1
                   AND (instr(s.phone_digits, ?2) > 0 OR instr(lower(s.email), ?3) > 0)",
            vec![
                client.to_string().into(),
                phone.map_or(Value::Null, Value::from),
                email.map_or(Value::Null, Value::from),
            ],
        )
    };
    let sql = format!(
        "{SUMMARY_SELECT} WHERE c.client_id = ?1 AND c.id IN ({candidates})
         ORDER BY c.last_message_at DESC, c.id LIMIT {SEARCH_LIMIT}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), summary_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<ContactSummary> {
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

fn contact_info_from_row(row: &Row<'_>) -> rusqlite::Result<ContactInfo> {
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
