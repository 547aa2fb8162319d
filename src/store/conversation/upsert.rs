//! `POST /api/public/customer/upsert/info` (SPEC 11.1).

use rusqlite::Connection;

use super::contact_row::{self, ContactRow};
use super::{Refusal, refreshed};
use crate::model::{ChannelRef, ClientId, ContactId, CustomerUpsert, Platform, Timestamp};
use crate::store::outbox::{self, StageChange};
use crate::store::{Result, channels, pipelines, team_members, tickets};

/// Finds or makes the contact, then applies the request's changes in SPEC order; the
/// contact and whether it was made. A repeat changes nothing and makes no event.
pub(in crate::store) fn upsert_customer(
    conn: &Connection,
    client: &ClientId,
    request: &CustomerUpsert,
    at: Timestamp,
) -> Result<(ContactId, bool)> {
    let channel = match &request.channel {
        ChannelRef::Phone { kind, number } => {
            channels::by_number_or_phone_id(conn, client, *kind, number)?
        }
        ChannelRef::Webchat(id) => channels::by_id(conn, client, Platform::Webchat, id)?,
    };
    channel.ok_or(Refusal::ChannelNotFound)?;
    let stage = match request.stage {
        Some(stage) => {
            let pipeline =
                pipelines::stage_pipeline(conn, client, &stage)?.ok_or(Refusal::StageNotFound)?;
            Some((stage, pipeline))
        }
        None => None,
    };
    if let Some(agent) = &request.agent
        && !team_members::exists(conn, client, agent)?
    {
        return Err(Refusal::TeamMemberNotFound.into());
    }

    let platform = request.channel.platform();
    let (id, created) = contact_row::find_or_create(
        conn,
        client,
        platform,
        &request.contact,
        request.name.as_deref(),
        at,
    )?;
    let before_event = if created {
        None
    } else {
        outbox::before_contact_change(conn, client, &id)?
    };
    let before = ContactRow::load(conn, client, &id)?;
    let mut row = before.clone();
    row.rename(request.name.as_ref(), request.email.as_ref());
    row.merge_metadata(&request.metadata)?;
    if let Some(agent) = request.agent {
        row.assigned_agent = Some(agent);
    }
    let mut moved = None;
    if let Some((stage, pipeline)) = stage {
        row.default_stage_id = Some(stage.to_string());
        if let Some(ticket) = row.active_ticket
            && let Some(previous) = tickets::move_to_stage(conn, &ticket, &stage, at)?
        {
            moved = Some(StageChange {
                ticket,
                pipeline,
                stage,
                previous,
            });
        }
    }
    let contact_changed = row != before;
    if !(created || contact_changed || moved.is_some()) {
        return Ok((id, false));
    }
    row.save(conn, &before, at)?;
    let after = refreshed(conn, &id)?;
    if created {
        outbox::contact_created(conn, client, &id, &after, at)?;
    } else if let (true, Some(before)) = (contact_changed, &before_event) {
        outbox::contact_updated(conn, client, &id, before, &after, at)?;
    }
    if let Some(change) = &moved {
        outbox::stage_changed(conn, client, &id, change, at)?;
    }
    Ok((id, created))
}
