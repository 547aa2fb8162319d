//! The contact list (SPEC 7.1): one page of a client's contacts, filtered and ordered.

use rusqlite::Connection;
use rusqlite::types::Value;

use super::Result;
use super::contacts::{SUMMARY_COLUMNS, summary_from_row};
use crate::model::{ClientId, ContactListQuery, ContactSummary, EntityType, ListOrder};

/// The summaries of one page of `client`'s contacts that pass every filter of `query`.
///
/// Two plans, as for search. A stage, pipeline or custom-field filter first reads the
/// contacts it may match from its index (`tickets_by_stage`, `contact_field_values`),
/// for at most a bound of them: below it, those few are looked up, tested and sorted.
/// Past it, and for every other filter, the client's contacts are walked in the list's
/// order, each tested, until the page is full.
pub(super) fn list(
    conn: &Connection,
    client: &ClientId,
    query: &ContactListQuery,
) -> Result<Vec<ContactSummary>> {
    let candidates = candidates(conn, client, query)?;
    if candidates.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let (sql, params) = list_sql(client, query, candidates.as_deref());
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), summary_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Below this many contacts that an index says may match, looking them up and sorting
/// them beats walking the client's contacts.
const RARE_MATCHES: usize = 2000;

/// The contacts the query's indexed filters may match, when one of them is rare (fewer
/// than `RARE_MATCHES`): the smallest such set; `None` when no filter is rare.
fn candidates(
    conn: &Connection,
    client: &ClientId,
    query: &ContactListQuery,
) -> Result<Option<Vec<String>>> {
    let in_stage = in_stage(conn, client, query)?;
    if in_stage.as_ref().is_some_and(Vec::is_empty) {
        return Ok(in_stage);
    }
    let with_field = with_field(conn, client, query)?;
    Ok([in_stage, with_field]
        .into_iter()
        .flatten()
        .min_by_key(Vec::len))
}

/// Runs an index's question for at most `RARE_MATCHES` contacts: them, if fewer.
fn rare(
    mut stmt: rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> Result<Option<Vec<String>>> {
    let ids: Vec<String> = stmt
        .query_map(params, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((ids.len() < RARE_MATCHES).then_some(ids))
}

/// With a stage or pipeline filter, the contacts with an open ticket in its stages (of
/// `client`'s pipelines only), when rare.
fn in_stage(
    conn: &Connection,
    client: &ClientId,
    query: &ContactListQuery,
) -> Result<Option<Vec<String>>> {
    let limit = RARE_MATCHES as i64;
    match (query.stage_id, query.pipeline_id) {
        (Some(stage), _) => rare(
            conn.prepare_cached(
                "SELECT DISTINCT ai_contact_id FROM tickets INDEXED BY tickets_by_stage
                 WHERE stage_id = ?1 AND status <> 'CLOSED' LIMIT ?2",
            )?,
            (stage, limit),
        ),
        (None, Some(pipeline)) => rare(
            conn.prepare_cached(
                "SELECT DISTINCT t.ai_contact_id FROM tickets t INDEXED BY tickets_by_stage
                 WHERE t.stage_id IN (SELECT s.id FROM stages s
                                      JOIN pipelines p ON p.id = s.pipeline_id
                                      WHERE p.id = ?1 AND p.client_id = ?2)
                   AND t.status <> 'CLOSED'
                 LIMIT ?3",
            )?,
            (pipeline, client, limit),
        ),
        (None, None) => Ok(None),
    }
}

/// With a custom-field filter, the contacts whose metadata (or active ticket's) has an
/// entry for that key and value in `contact_field_values`, when rare. The index keeps the
/// first 100 characters of a value, so the same cut is made of the one asked for.
fn with_field(
    conn: &Connection,
    client: &ClientId,
    query: &ContactListQuery,
) -> Result<Option<Vec<String>>> {
    let Some(field) = &query.custom_field else {
        return Ok(None);
    };
    let entity = match field.entity {
        EntityType::Customer => "customer",
        EntityType::Ticket => "ticket",
    };
    rare(
        conn.prepare_cached(
            "SELECT contact_id FROM contact_field_values
             WHERE client_id = ?1 AND entity = ?2 AND key = ?3 AND value = substr(?4, 1, 100)
             LIMIT ?5",
        )?,
        (
            client,
            entity,
            &field.key,
            &field.value,
            RARE_MATCHES as i64,
        ),
    )
}

/// The list's SQL for this query's filters, and its parameters; with `candidates`, those
/// contacts (by id) are the outer loop, each a lookup, instead of the client's index.
fn list_sql(
    client: &ClientId,
    query: &ContactListQuery,
    candidates: Option<&[String]>,
) -> (String, Vec<Value>) {
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = vec![client.to_string().into()];
    let mut param = |value: Value| {
        params.push(value);
        format!("?{}", params.len())
    };
    let from = match candidates {
        Some(ids) => format!(
            "FROM json_each({}) m CROSS JOIN contacts c ON c.id = m.value",
            param(serde_json::to_string(ids).unwrap_or_default().into())
        ),
        None => "FROM contacts c".to_owned(),
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
        "SELECT {SUMMARY_COLUMNS} {from}
         LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id
         WHERE c.client_id = ?1{filters} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    );
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContactId, CustomField, StageId, Timestamp};
    use crate::store::contacts::tests::plan;

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
            let (sql, params) = list_sql(&client, &q, None);
            let plan = plan(&sql, params);
            assert!(plan.contains(index), "{q:?}:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{q:?} sorts:\n{plan}");
        }
    }

    #[test]
    fn a_rare_stage_drives_the_list_from_its_contacts_a_common_one_walks() {
        let client = ClientId::new_random();
        let q = ContactListQuery {
            last_message_since: Some(Timestamp::now()),
            stage_id: Some(StageId::new_random()),
            ..query()
        };
        let ids = vec![ContactId::new_random().to_string()];
        let (sql, params) = list_sql(&client, &q, Some(&ids));
        let looked_up = plan(&sql, params);
        assert!(looked_up.starts_with("SCAN m VIRTUAL TABLE"), "{looked_up}");
        assert!(looked_up.lines().all(|l| l != "SCAN c"), "{looked_up}");
        let (sql, params) = list_sql(&client, &q, None);
        let walked = plan(&sql, params);
        assert!(walked.contains("contacts_by_last_message"), "{walked}");
        assert!(!walked.contains("TEMP B-TREE"), "{walked}");
    }

    #[test]
    fn a_rare_custom_field_value_is_read_from_its_index_a_common_one_is_not() {
        let conn = crate::store::migrated_in_memory();
        let client = ClientId::new_random();
        conn.execute("INSERT INTO clients (id, name) VALUES (?1, 'A')", [&client])
            .unwrap();
        let rare = ContactId::new_random();
        let insert = |id: &ContactId, metadata| {
            crate::store::insert_bare_contact(&conn, id, &client, metadata, None);
        };
        insert(&rare, r#"{"plan":"gold","n":1.50}"#);
        for _ in 0..RARE_MATCHES {
            insert(&ContactId::new_random(), r#"{"plan":"silver"}"#);
        }
        let field = |key: &str, value: &str| ContactListQuery {
            custom_field: Some(CustomField {
                key: key.into(),
                value: value.into(),
                entity: EntityType::Customer,
            }),
            ..query()
        };
        let found = |q: &ContactListQuery| candidates(&conn, &client, q).unwrap();
        assert_eq!(found(&field("plan", "gold")), Some(vec![rare.to_string()]));
        assert_eq!(found(&field("n", "1.50")), Some(vec![rare.to_string()]));
        assert_eq!(found(&field("plan", "bronze")), Some(vec![]));
        assert_eq!(found(&field("plan", "silver")), None, "common: walked");
        assert_eq!(
            found(&ContactListQuery {
                custom_field: None,
                ..query()
            }),
            None
        );
        let other = ClientId::new_random();
        assert_eq!(
            candidates(&conn, &other, &field("plan", "gold")).unwrap(),
            Some(vec![]),
            "another client's entries are not ours"
        );
    }
}
