//! Operations endpoints: no API key, for load balancers and supervisors.

use actix_web::HttpResponse;

/// `GET /healthz`: 200 while the process runs. Touches no database, so it is also the
/// ceiling the benchmark compares the contact endpoint against.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}
