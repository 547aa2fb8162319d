//! Operations endpoints: no API key, for load balancers, supervisors and scrapers.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::error::{ApiError, envelope};
use super::metrics::Metrics;
use super::worker::WorkerContext;
use crate::journal::Journal;
use crate::store::Readiness;

/// `GET /healthz`: 200 while the process runs. Touches no database, so it is also the
/// ceiling the benchmark compares the contact endpoint against.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /readyz`: 200 when a pooled connection answers, every migration is applied and
/// no damage was seen, else 503 with the envelope (the reason goes to the log).
pub async fn readyz(worker: web::Data<WorkerContext>) -> Result<HttpResponse, ApiError> {
    let store = worker.store().clone();
    match web::block(move || store.readiness()).await? {
        Readiness::Ready => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ready"}"#)),
        Readiness::NotReady(reason) => {
            tracing::warn!(%reason, "not ready");
            // Damage is the one reason an operator must act on at once: said here too.
            let message = if crate::store::damage_found().is_some() {
                "The database file is damaged; stop the server and run `contactd check`"
            } else {
                "Service Unavailable"
            };
            Ok(envelope(StatusCode::SERVICE_UNAVAILABLE, message))
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(
    worker: web::Data<WorkerContext>,
    metrics: web::Data<Metrics>,
    journal: Option<web::Data<Journal>>,
) -> Result<HttpResponse, ApiError> {
    let store = worker.store().clone();
    let text =
        web::block(move || metrics.render(&store, journal.as_ref().map(|j| j.get_ref()))).await??;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// The OpenAPI 3.1 document of every public route. Kept as a file; `tests/api/openapi.rs`
/// validates real answers of every status against it, so it cannot drift.
pub(super) const OPENAPI: &str = include_str!("openapi.json");

/// `GET /openapi.json`.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}
