//! A client's team (SPEC 11.0).

use rusqlite::Connection;

use super::Result;
use crate::model::{ClientId, TeamMember, TeamMemberId};

/// `client`'s team members in fixture order.
pub(super) fn list(conn: &Connection, client: &ClientId) -> Result<Vec<TeamMember>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, first_name, last_name, email, phone FROM team_members
         WHERE client_id = ?1 ORDER BY position, id",
    )?;
    let rows = stmt.query_map([client], |r| {
        Ok(TeamMember {
            id: r.get(0)?,
            client_id: *client,
            first_name: r.get(1)?,
            last_name: r.get(2)?,
            email: r.get(3)?,
            phone: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether `client` has team member `id`.
pub(super) fn exists(conn: &Connection, client: &ClientId, id: &TeamMemberId) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM team_members WHERE id = ?1 AND client_id = ?2)",
    )?;
    Ok(stmt.query_row((id, client), |r| r.get(0))?)
}
