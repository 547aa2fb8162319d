//! A client's channels (SPEC 11.0): found by number, by `phone_id` or by id. A client
//! has a handful, so each lookup reads the client's rows of one type, in order.

use rusqlite::{Connection, OptionalExtension, Row};

use super::Result;
use crate::model::{Channel, ChannelId, ClientId, Platform, phone_digits};

const COLUMNS: &str = "id, client_id, type, phone_number, phone_id, name";

fn channel_from_row(row: &Row<'_>) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: row.get(0)?,
        client_id: row.get(1)?,
        kind: row.get(2)?,
        phone_number: row.get(3)?,
        phone_id: row.get(4)?,
        name: row.get(5)?,
    })
}

/// `client`'s channels of type `kind`, in fixture order.
pub(super) fn of_type(
    conn: &Connection,
    client: &ClientId,
    kind: Platform,
) -> Result<Vec<Channel>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM channels WHERE client_id = ?1 AND type = ?2
         ORDER BY position, id"
    ))?;
    let rows = stmt.query_map((client, kind), channel_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The first of `client`'s channels of type `kind` whose number has the digits of
/// `number`, or whose `phone_id` is `number` (SPEC 11.1).
pub(super) fn by_number_or_phone_id(
    conn: &Connection,
    client: &ClientId,
    kind: Platform,
    number: &str,
) -> Result<Option<Channel>> {
    let digits = phone_digits(number);
    Ok(of_type(conn, client, kind)?.into_iter().find(|c| {
        c.phone_id.as_deref() == Some(number)
            || (!digits.is_empty()
                && c.phone_number.as_deref().map(phone_digits).as_deref() == Some(&digits))
    }))
}

/// The first of `client`'s channels of type `kind` with this `phone_id` (SPEC 11.2).
pub(super) fn by_phone_id(
    conn: &Connection,
    client: &ClientId,
    kind: Platform,
    phone_id: &str,
) -> Result<Option<Channel>> {
    Ok(of_type(conn, client, kind)?
        .into_iter()
        .find(|c| c.phone_id.as_deref() == Some(phone_id)))
}

/// `client`'s channel `id`, if it has type `kind`.
pub(super) fn by_id(
    conn: &Connection,
    client: &ClientId,
    kind: Platform,
    id: &ChannelId,
) -> Result<Option<Channel>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM channels WHERE id = ?1 AND client_id = ?2 AND type = ?3"
    ))?;
    Ok(stmt
        .query_row((id, client, kind), channel_from_row)
        .optional()?)
}
