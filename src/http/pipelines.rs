//! `GET /api/public/pipeline`: the key's client's pipelines with their stages.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::answer::{self, Rendered};
use super::auth::ApiKey;
use super::error::ApiError;
use super::worker::WorkerContext;
use crate::model::{Pipeline, PipelineId, Stage, StageId};

pub const ROUTE: &str = "/api/public/pipeline";

/// 401 as `/info`; 200 with the pipelines in fixture order, stages in their order.
pub async fn pipelines(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
) -> Result<HttpResponse, ApiError> {
    let rendered = worker.read(|snapshot| {
        let client = key.client(snapshot)?;
        let pipelines = snapshot.reader().pipelines(&client)?;
        Rendered::of(&pipelines.iter().map(PipelineBody::from).collect::<Vec<_>>())
    })?;
    Ok(answer::json(&req, rendered))
}

#[derive(Serialize)]
struct PipelineBody<'a> {
    id: PipelineId,
    name: &'a str,
    description: Option<&'a str>,
    stages: Vec<StageBody<'a>>,
}

#[derive(Serialize)]
struct StageBody<'a> {
    id: StageId,
    name: &'a str,
    description: Option<&'a str>,
}

impl<'a> From<&'a Pipeline> for PipelineBody<'a> {
    fn from(p: &'a Pipeline) -> Self {
        Self {
            id: p.id,
            name: &p.name,
            description: p.description.as_deref(),
            stages: p.stages.iter().map(StageBody::from).collect(),
        }
    }
}

impl<'a> From<&'a Stage> for StageBody<'a> {
    fn from(s: &'a Stage) -> Self {
        Self {
            id: s.id,
            name: &s.name,
            description: s.description.as_deref(),
        }
    }
}
