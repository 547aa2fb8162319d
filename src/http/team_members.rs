//! `GET /api/public/team-members/all` (SPEC 11.0): the key's client's team.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::answer::{self, Rendered};
use super::auth::ApiKey;
use super::error::ApiError;
use super::worker::WorkerContext;
use crate::model::{TeamMember, TeamMemberId};

pub const ROUTE: &str = "/api/public/team-members/all";

/// 401 as `/info`; 200 with the team members in fixture order.
pub async fn all(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
) -> Result<HttpResponse, ApiError> {
    let rendered = worker.read(|snapshot| {
        let client = key.client(snapshot)?;
        let members = snapshot.reader().team_members(&client)?;
        Rendered::of(&members.iter().map(MemberBody::from).collect::<Vec<_>>())
    })?;
    Ok(answer::json(&req, rendered))
}

#[derive(Serialize)]
struct MemberBody<'a> {
    id: TeamMemberId,
    name: Option<String>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    email: Option<&'a str>,
    phone: Option<&'a str>,
}

impl<'a> From<&'a TeamMember> for MemberBody<'a> {
    fn from(m: &'a TeamMember) -> Self {
        Self {
            id: m.id,
            name: m.name(),
            first_name: m.first_name.as_deref(),
            last_name: m.last_name.as_deref(),
            email: m.email.as_deref(),
            phone: m.phone.as_deref(),
        }
    }
}
