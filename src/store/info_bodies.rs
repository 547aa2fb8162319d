//! The `/info` read model: each contact's answer, rendered and tagged, in
//! `contact_info_bodies` (migration V3).
//!
//! Every change to a contact or its tickets renders the contact again in the same
//! transaction: fixture loads (`FixtureWriter::refresh_info_bodies`), the API's metadata
//! writes, and V3 itself for the contacts it finds. `/info` then reads one row, one
//! B-tree probe, with nothing to join or serialise. `contactd check` renders every
//! contact from its source rows and compares (`stale`).

use rusqlite::{Connection, OptionalExtension};

use super::Result;
use super::contacts::{
    self, CONTACT_INFO_COLUMNS, contact_columns, contact_info_columns, contact_info_from_row,
    contact_info_tables,
};
use crate::model::{ClientId, ContactId, ContactInfo, InfoBody, abbreviate, is_body_tag};

/// The stored answer for `client`'s contact `id`; `None` for a missing contact and for
/// another client's alike.
pub(super) fn body(
    conn: &Connection,
    client: &ClientId,
    id: &ContactId,
) -> Result<Option<InfoBody>> {
    let mut stmt = conn.prepare_cached(
        "SELECT etag, body FROM contact_info_bodies WHERE contact_id = ?1 AND client_id = ?2",
    )?;
    Ok(stmt
        .query_row((id, client), |r| {
            let etag: String = r.get(0)?;
            if !is_body_tag(&etag) {
                let problem = format!("the stored tag {etag:?} is not a body tag");
                return Err(rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    problem.into(),
                ));
            }
            Ok(InfoBody {
                etag,
                body: r.get(1)?,
            })
        })
        .optional()?)
}

/// Contact `id`'s answer rendered from its rows now, whatever is stored.
pub(super) fn rendered_from_rows(conn: &Connection, id: &ContactId) -> Result<Option<InfoBody>> {
    match contacts::contact_info(conn, id)? {
        Some(info) => Ok(Some(InfoBody::render(&info)?)),
        None => Ok(None),
    }
}

/// Renders contact `id` from its source rows and stores the answer (or removes it, when
/// the contact is gone); the answer stored, for a caller that sends it on.
pub(super) fn refresh(conn: &Connection, id: &ContactId) -> Result<Option<Vec<u8>>> {
    match contacts::contact_info(conn, id)? {
        Some(info) => store(conn, &info).map(Some),
        None => {
            let mut stmt =
                conn.prepare_cached("DELETE FROM contact_info_bodies WHERE contact_id = ?1")?;
            stmt.execute([id])?;
            Ok(None)
        }
    }
}

fn store(conn: &Connection, info: &ContactInfo) -> Result<Vec<u8>> {
    let rendered = InfoBody::render(info)?;
    put(conn, &info.contact.id, &info.contact.client_id, &rendered)?;
    Ok(rendered.body)
}

/// Stores `rendered` as the answer for `client`'s contact `id`.
pub(super) fn put(
    conn: &Connection,
    id: &ContactId,
    client: &ClientId,
    rendered: &InfoBody,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO contact_info_bodies (contact_id, client_id, etag, body)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (contact_id) DO UPDATE SET
             client_id = excluded.client_id, etag = excluded.etag, body = excluded.body
         WHERE (client_id, etag) IS NOT (excluded.client_id, excluded.etag)",
    )?;
    stmt.execute((id, client, &rendered.etag, &rendered.body))?;
    Ok(())
}

/// Renders every contact again (migration V3).
pub(super) fn rebuild(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare(concat!(
        "SELECT ",
        contact_info_columns!(),
        " ",
        contact_info_tables!()
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        store(conn, &contact_info_from_row(row)?)?;
    }
    Ok(())
}

/// The contacts whose stored answer is missing, filed under another client, or not the
/// one their rows render now; and stored answers whose contact is gone. At most `limit`
/// lines, for `contactd check`.
pub(super) fn stale(conn: &Connection, limit: usize) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut stmt = conn.prepare(concat!(
        "SELECT ",
        contact_info_columns!(),
        ", b.client_id, b.etag, b.body ",
        contact_info_tables!(),
        " LEFT JOIN contact_info_bodies b ON b.contact_id = c.id"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        if problems.len() == limit {
            return Ok(problems);
        }
        let info = match contact_info_from_row(row) {
            Ok(info) => info,
            Err(e) => {
                let id = row
                    .get_ref(0)
                    .ok()
                    .and_then(|v| v.as_str().ok().map(abbreviate));
                problems.push(format!(
                    "contact {} cannot be read: {e}",
                    id.unwrap_or_default()
                ));
                continue;
            }
        };
        let id = info.contact.id;
        let Some(client) = row.get::<_, Option<ClientId>>(CONTACT_INFO_COLUMNS)? else {
            problems.push(format!("contact {id} has no stored /info answer"));
            continue;
        };
        let stored = InfoBody {
            etag: row.get(CONTACT_INFO_COLUMNS + 1)?,
            body: row.get(CONTACT_INFO_COLUMNS + 2)?,
        };
        if client != info.contact.client_id {
            problems.push(format!(
                "the stored /info answer of contact {id} is filed under client {client}, \
                 not {}",
                info.contact.client_id
            ));
        } else if stored != InfoBody::render(&info)? {
            problems.push(format!(
                "the stored /info answer of contact {id} differs from its rows"
            ));
        }
    }
    let mut orphans = conn.prepare(
        "SELECT contact_id FROM contact_info_bodies
         WHERE contact_id NOT IN (SELECT id FROM contacts)",
    )?;
    let ids = orphans.query_map([], |r| r.get::<_, String>(0))?;
    for id in ids {
        if problems.len() == limit {
            break;
        }
        problems.push(format!(
            "a stored /info answer for contact {} has no contact",
            id?
        ));
    }
    Ok(problems)
}
