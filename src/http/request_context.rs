//! Per-request context: the request id, size limits, the request's log span, line and
//! metrics, and the envelope for any error response that does not carry one yet.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use tracing::Instrument;

use super::connections::ConnectionWatch;
use super::error::{ApiError, envelope_body, mime_json};
use super::faults;
use super::journal::{Capture, read_rest};
use super::limits::RequestLimits;
use super::metrics::{Metrics, UNMATCHED_ROUTE};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Client-sent ids longer than this, or with other than visible ASCII, are replaced:
/// they end up in logs, and a log line must not be forgeable.
const MAX_REQUEST_ID_LEN: usize = 128;

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    if let Some(watch) = req.conn_data::<ConnectionWatch>() {
        watch.saw_request();
    }
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| is_acceptable_id(v))
        .cloned()
        .unwrap_or_else(new_request_id);
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        client_id = tracing::field::Empty,
    );
    let method = req.method().clone();
    let client_addr = req
        .peer_addr()
        .map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let over_limit = req
        .app_data::<web::Data<RequestLimits>>()
        .and_then(|limits| limits.check(&req).err());

    let mut req = req;
    let capture = Capture::begin(&mut req);
    let mut fault = None;
    let mut res = match over_limit {
        // Too big to route: answered here, before any handler sees it.
        Some(error) => req.error_response(error).map_into_boxed_body(),
        None => {
            let injection = faults::apply(&req).await;
            fault = injection.map(|i| i.fault);
            match injection.and_then(|i| i.status) {
                Some(status) => injected(req, status, capture.is_some()).await,
                None => next
                    .call(req)
                    .instrument(span.clone())
                    .await?
                    .map_into_boxed_body(),
            }
        }
    };

    let status = res.status();
    let pattern = res.request().match_pattern();
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        let label = pattern.as_deref().unwrap_or(UNMATCHED_ROUTE);
        metrics.observe(
            label,
            method.as_str(),
            status.as_u16(),
            elapsed.as_secs_f64(),
        );
    }
    // Unmatched paths are logged as sent, cut short: not worth a line of their length.
    let route: std::borrow::Cow<'_, str> = match &pattern {
        Some(pattern) => pattern.into(),
        None => res
            .request()
            .path()
            .chars()
            .take(200)
            .collect::<String>()
            .into(),
    };
    // Likewise an invented method: actix takes any token as one.
    let method: String = method.as_str().chars().take(32).collect();
    // A number (in JSON logs too), to the microsecond.
    let latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    span.in_scope(|| {
        let cause = res.response().error().and_then(|e| match e.as_error::<ApiError>() {
            Some(ApiError::Unexpected(cause)) => Some(format!("{cause:#}")),
            Some(_) => None,
            None => Some(e.to_string()),
        });
        if status.is_server_error() {
            tracing::error!(%method, %route, status = status.as_u16(), latency_ms, %client_addr, cause, "request failed");
        } else {
            tracing::info!(%method, %route, status = status.as_u16(), latency_ms, %client_addr, "request");
        }
    });

    res.headers_mut().insert(REQUEST_ID, id);
    let res = with_envelope(res);
    Ok(match capture {
        Some(capture) => capture.finish(res, pattern.as_deref(), elapsed, fault),
        None => res,
    })
}

/// A fault rule's answer in place of the handler's: nothing is read or written but the
/// body, which the journal, when it keeps the request, shows as sent.
async fn injected(
    mut req: ServiceRequest,
    status: u16,
    journaled: bool,
) -> ServiceResponse<BoxBody> {
    if journaled && let Some(limits) = req.app_data::<web::Data<RequestLimits>>().cloned() {
        read_rest(&mut req, limits.max_body_bytes, limits.body_timeout).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    req.error_response(ApiError::InjectedFault(status))
        .map_into_boxed_body()
}

/// Errors raised by the framework itself (a body too large, a bad header…) come with a
/// plain-text body; they get the same JSON envelope as the API's own.
fn with_envelope<B: MessageBody + 'static>(res: ServiceResponse<B>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let has_envelope = res.headers().get(header::CONTENT_TYPE) == Some(&mime_json());
    if !(status.is_client_error() || status.is_server_error()) || has_envelope {
        return res.map_into_boxed_body();
    }
    res.map_body(|head, _| {
        head.headers.insert(header::CONTENT_TYPE, mime_json());
        let message = status.canonical_reason().unwrap_or("Error");
        BoxBody::new(envelope_body(status, message))
    })
}

fn is_acceptable_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| b.is_ascii_graphic())
}

fn new_request_id() -> HeaderValue {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Marks the request's span with the client its API key belongs to.
pub fn record_client(span: &tracing::Span, client: &impl std::fmt::Display) {
    span.record("client_id", tracing::field::display(client));
}
