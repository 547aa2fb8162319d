//! Reads of a client's pipelines with their stages.

use rusqlite::Connection;

use super::Result;
use crate::model::{ClientId, Pipeline, PipelineId, Stage, StageId};

/// `client`'s pipelines in fixture order, each with its stages in order.
pub(super) fn list(conn: &Connection, client: &ClientId) -> Result<Vec<Pipeline>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.name, p.description, s.id, s.name, s.description
         FROM pipelines p LEFT JOIN stages s ON s.pipeline_id = p.id
         WHERE p.client_id = ?1
         ORDER BY p.position, p.id, s.position, s.id",
    )?;
    let mut rows = stmt.query([client])?;
    let mut pipelines: Vec<Pipeline> = Vec::new();
    while let Some(row) = rows.next()? {
        let id: PipelineId = row.get(0)?;
        if pipelines.last().is_none_or(|p| p.id != id) {
            pipelines.push(Pipeline {
                id,
                client_id: *client,
                name: row.get(1)?,
                description: row.get(2)?,
                stages: Vec::new(),
            });
        }
        let stage: Option<StageId> = row.get(3)?;
        if let (Some(stage), Some(pipeline)) = (stage, pipelines.last_mut()) {
            pipeline.stages.push(Stage {
                id: stage,
                name: row.get(4)?,
                description: row.get(5)?,
            });
        }
    }
    Ok(pipelines)
}

/// The pipeline of `client`'s stage `id`, if the client has that stage.
pub(super) fn stage_pipeline(
    conn: &Connection,
    client: &ClientId,
    id: &StageId,
) -> Result<Option<PipelineId>> {
    use rusqlite::OptionalExtension;
    let mut stmt = conn.prepare_cached(
        "SELECT s.pipeline_id FROM stages s JOIN pipelines p ON p.id = s.pipeline_id
         WHERE s.id = ?1 AND p.client_id = ?2",
    )?;
    Ok(stmt.query_row((id, client), |r| r.get(0)).optional()?)
}
