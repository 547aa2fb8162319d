//! Search (SPEC 7.2): contacts whose phone digits or email contain a piece, through the
//! trigram index or a newest-first walk.

use rusqlite::Connection;
use rusqlite::types::Value;

use super::Result;
use super::contacts::{SUMMARY_COLUMNS, summary_from_row};
use crate::model::{ClientId, ContactSearch, ContactSummary, SEARCH_LIMIT};

/// The newest contacts of `client` whose phone digits or email contain the search's.
///
/// Two plans, chosen per search. The trigram index is read first, for at most a bound
/// of matches (over all clients); a piece shorter than a trigram is looked for in the
/// client's entries of the covering indexes by phone digits and by email instead. Below
/// the bound, those few are looked up and sorted. A common piece (`@example.com`, `5`)
/// reaches it: sorting every match would cost more than walking the client's contacts
/// newest first, each tested, until fifty match, which is the plan then.
pub(super) fn search(
    conn: &Connection,
    client: &ClientId,
    search: &ContactSearch,
) -> Result<Vec<ContactSummary>> {
    let Some(search) = within_stored_lengths(conn, search)? else {
        return Ok(Vec::new());
    };
    let search = &search;
    let matches = match match_expression(search) {
        Some(expression) => index_matches(conn, &expression)?,
        None => short_piece_matches(conn, client, search)?,
    };
    if matches.is_empty() {
        return Ok(Vec::new());
    }
    let plan = if matches.len() < RARE_PIECE_MATCHES {
        SearchPlan::Index(matches)
    } else {
        SearchPlan::Walk
    };
    let (sql, params) = search_sql(client, search, &plan);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), summary_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The search without the pieces longer than every stored value of their kind, or
/// holding a NUL (they cannot match); `None` when no piece is left. The longest stored phone and email are
/// read from their length indexes (migration V4), a step each.
fn within_stored_lengths(
    conn: &Connection,
    search: &ContactSearch,
) -> Result<Option<ContactSearch>> {
    let fits = |piece: &Option<String>, column: &str| -> Result<Option<String>> {
        let Some(piece) = piece else { return Ok(None) };
        // SQLite ends text at a NUL in FTS5 queries and in its string functions, so a
        // piece holding one cannot be asked for; it matches nothing (addresses and
        // phone digits hold none).
        if piece.contains('\0') {
            return Ok(None);
        }
        let longest = longest_stored(conn, column)?;
        Ok((piece.chars().count() as i64 <= longest).then(|| piece.clone()))
    };
    let phone_digits = fits(&search.phone_digits, "phone_digits")?;
    let email = fits(&search.email, "email")?;
    Ok(
        (phone_digits.is_some() || email.is_some()).then_some(ContactSearch {
            phone_digits,
            email,
        }),
    )
}

/// The length of the longest value stored in `column` (0 when there is none).
fn longest_stored(conn: &Connection, column: &str) -> Result<i64> {
    let sql = format!(
        "SELECT coalesce((SELECT length({column}) FROM contact_search_source
                          WHERE length({column}) IS NOT NULL
                          ORDER BY length({column}) DESC LIMIT 1), 0)"
    );
    Ok(conn.prepare_cached(&sql)?.query_row([], |r| r.get(0))?)
}

/// Below this many index matches (over all clients), sorting them beats walking.
const RARE_PIECE_MATCHES: usize = 2000;

enum SearchPlan {
    /// These rows of the index matched: fewer than `RARE_PIECE_MATCHES`.
    Index(Vec<i64>),
    /// The client's contacts newest first, each tested.
    Walk,
}

/// The MATCH expression for the search's pieces; `None` when one is shorter than a
/// trigram and the index cannot answer it.
fn match_expression(search: &ContactSearch) -> Option<String> {
    let phrase = |column: &str, piece: &str| {
        (piece.chars().count() >= 3)
            .then(|| format!("{column} : \"{}\"", piece.replace('"', "\"\"")))
    };
    let mut terms = Vec::new();
    if let Some(p) = &search.phone_digits {
        terms.push(phrase("phone_digits", p)?);
    }
    if let Some(e) = &search.email {
        terms.push(phrase("email", e)?);
    }
    Some(terms.join(" OR "))
}

/// For pieces shorter than a trigram: the search rows of `client` that match, up to
/// `RARE_PIECE_MATCHES` of them, each piece tested in its covering index (a pass over
/// the client's entries at worst, without reading a contact).
fn short_piece_matches(
    conn: &Connection,
    client: &ClientId,
    search: &ContactSearch,
) -> Result<Vec<i64>> {
    let limit = RARE_PIECE_MATCHES as i64;
    let mut rows: Vec<i64> = Vec::new();
    for (piece, index, column) in [
        (
            &search.phone_digits,
            "contact_search_by_phone",
            "phone_digits",
        ),
        (&search.email, "contact_search_by_email", "email"),
    ] {
        let Some(piece) = piece else { continue };
        let sql = format!(
            "SELECT rowid FROM contact_search_source INDEXED BY {index}
             WHERE client_id = ?1 AND instr({column}, ?2) > 0 LIMIT ?3"
        );
        let found = conn
            .prepare_cached(&sql)?
            .query_map((client, piece, limit), |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        rows.extend(found);
    }
    // Both pieces may match one row.
    rows.sort_unstable();
    rows.dedup();
    Ok(rows)
}

/// The index rows that match, up to `RARE_PIECE_MATCHES` of them.
fn index_matches(conn: &Connection, expression: &str) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid FROM contact_search WHERE contact_search MATCH ?1 LIMIT ?2",
    )?;
    let rows = stmt.query_map((expression, RARE_PIECE_MATCHES as i64), |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The search's SQL under `plan`, and its parameters.
fn search_sql(
    client: &ClientId,
    search: &ContactSearch,
    plan: &SearchPlan,
) -> (String, Vec<Value>) {
    let client = Value::from(client.to_string());
    match plan {
        SearchPlan::Index(rows) => (
            // The matched rows go in as one JSON array; CROSS JOIN keeps them the outer
            // loop, each a primary-key lookup.
            format!(
                "SELECT {} FROM json_each(?2) m
                 CROSS JOIN contact_search_source s ON s.rowid = m.value
                 CROSS JOIN contacts c ON c.id = s.contact_id
                 LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id
                 WHERE s.client_id = ?1
                 ORDER BY c.last_message_at DESC, c.id LIMIT {SEARCH_LIMIT}",
                SUMMARY_COLUMNS
            ),
            vec![client, json_array(rows).into()],
        ),
        SearchPlan::Walk => (
            format!(
                "SELECT {} FROM contacts c INDEXED BY contacts_by_last_message
                 JOIN contact_search_source s ON s.contact_id = c.id
                 LEFT JOIN tickets a ON a.ai_contact_id = c.id AND a.id = c.active_ticket_v2_id
                 WHERE c.client_id = ?1
                   AND (instr(s.phone_digits, ?2) > 0 OR instr(s.email, ?3) > 0)
                 ORDER BY c.last_message_at DESC, c.id LIMIT {SEARCH_LIMIT}",
                SUMMARY_COLUMNS
            ),
            vec![
                client,
                search.phone_digits.clone().map_or(Value::Null, Value::from),
                search.email.clone().map_or(Value::Null, Value::from),
            ],
        ),
    }
}

fn json_array(numbers: &[i64]) -> String {
    let items: Vec<String> = numbers.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contacts::tests::plan;

    #[test]
    fn a_rare_piece_is_found_through_the_trigram_index_a_common_one_by_walking() {
        let client = ClientId::new_random();
        let search = ContactSearch {
            phone_digits: Some("12345678".into()),
            email: Some("example".into()),
        };
        let expression = match_expression(&search).unwrap();
        assert_eq!(
            expression,
            r#"phone_digits : "12345678" OR email : "example""#
        );
        let (sql, params) = search_sql(&client, &search, &SearchPlan::Index(vec![1, 2]));
        let indexed = plan(&sql, params);
        assert!(indexed.starts_with("SCAN m VIRTUAL TABLE"), "{indexed}");
        assert!(
            indexed.contains("SEARCH s USING INTEGER PRIMARY KEY"),
            "{indexed}"
        );
        assert!(indexed.lines().all(|l| l != "SCAN c"), "{indexed}");

        let (sql, params) = search_sql(&client, &search, &SearchPlan::Walk);
        let walked = plan(&sql, params);
        assert!(
            walked.contains("SEARCH c USING INDEX contacts_by_last_message"),
            "{walked}"
        );
        assert!(!walked.contains("TEMP B-TREE"), "{walked}");

        let short = ContactSearch {
            phone_digits: Some("12".into()),
            email: None,
        };
        assert_eq!(match_expression(&short), None);
    }

    #[test]
    fn a_short_piece_is_looked_for_in_a_covering_index_of_the_client_only() {
        for (index, column) in [
            ("contact_search_by_phone", "phone_digits"),
            ("contact_search_by_email", "email"),
        ] {
            let sql = format!(
                "SELECT rowid FROM contact_search_source INDEXED BY {index}
                 WHERE client_id = ?1 AND instr({column}, ?2) > 0 LIMIT ?3"
            );
            let found = plan(
                &sql,
                vec![
                    Value::from("k".to_owned()),
                    Value::from("5".to_owned()),
                    Value::from(10),
                ],
            );
            assert_eq!(
                found,
                format!("SEARCH contact_search_source USING COVERING INDEX {index} (client_id=?)")
            );
        }
    }

    #[test]
    fn a_piece_longer_than_every_stored_value_never_reaches_the_index() {
        let conn = crate::store::migrated_in_memory();
        // Only the search table matters here: no contacts behind its rows.
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO contact_search_source (contact_id, client_id, phone_digits, email)
             VALUES ('c1', 'k', '56912345678', 'ana@example.com'),
                    ('c2', 'k', '5691234', NULL)",
        )
        .unwrap();
        let search = |phone: &str, email: Option<&str>| ContactSearch {
            phone_digits: Some(phone.to_owned()),
            email: email.map(str::to_owned),
        };
        let long = "569".repeat(2634);
        assert_eq!(
            within_stored_lengths(&conn, &search(&long, None)).unwrap(),
            None
        );
        let kept = within_stored_lengths(&conn, &search(&long, Some("example"))).unwrap();
        assert_eq!(
            kept,
            Some(ContactSearch {
                phone_digits: None,
                email: Some("example".into())
            })
        );
        let whole = search("56912345678", None);
        assert_eq!(
            within_stored_lengths(&conn, &whole).unwrap(),
            Some(whole.clone())
        );
        assert_eq!(
            within_stored_lengths(&conn, &search("569123456789", None)).unwrap(),
            None
        );
        for column in ["phone_digits", "email"] {
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT length({column}) FROM contact_search_source
                 WHERE length({column}) IS NOT NULL ORDER BY length({column}) DESC LIMIT 1"
            );
            // The index read backwards from its end, stopping at the first row: no sort.
            let plan: String = conn.query_row(&sql, [], |r| r.get(3)).unwrap();
            assert!(plan.contains("COVERING INDEX contact_search_by_"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
}
