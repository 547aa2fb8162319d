//! The request journal's HTTP side (SPEC 12.1): what a request sent and got back is
//! captured around the handler, and `/api/sandbox/requests` answers it.
//!
//! Capturing costs a request almost nothing until its key is known to be valid: the
//! body is copied as it streams past the handler (up to 64 KiB), and everything else
//! (headers, the answer's first 4 KiB) is copied only for a request the journal keeps.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_core::Stream;

use super::answer::{self, Rendered};
use super::auth::{self, ApiKey, KeyCheck};
use super::error::ApiError;
use super::params::{self, Params};
use super::request_context::REQUEST_ID;
use super::worker::WorkerContext;
use crate::journal::{Entry, EntryText, EntryView, Journal, REQUEST_BODY_BYTES, TextParts};
use crate::model::{FaultId, Timestamp};
use crate::store::KeyOwner;

pub const ROUTE: &str = "/api/sandbox/requests";

/// Whether a request to `path` is kept and may be faulted: every route under `/api/`
/// but the sandbox's own.
pub fn is_recorded(path: &str) -> bool {
    path.starts_with("/api/") && !(path.starts_with("/api/sandbox/") || path == "/api/sandbox")
}

/// Whether the journal is on and keeps `req`.
pub fn is_journaled(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<Journal>>().is_some() && is_recorded(req.path())
}

/// One request on its way through the handler, for the journal.
pub struct Capture {
    time: Timestamp,
    body: Option<Rc<RefCell<Vec<u8>>>>,
}

impl Capture {
    /// Starts capturing `req` when the journal is on and keeps requests to its path.
    pub fn begin(req: &mut ServiceRequest) -> Option<Self> {
        // Not cloned: a count both workers change on every request costs more than
        // looking the journal up again in `finish`.
        req.app_data::<web::Data<Journal>>()?;
        if !is_recorded(req.path()) {
            return None;
        }
        let body = has_body(req.headers()).then(|| {
            let kept = Rc::new(RefCell::new(Vec::new()));
            let inner = req.take_payload();
            req.set_payload(Payload::Stream {
                payload: Box::pin(Tee {
                    inner,
                    kept: kept.clone(),
                }),
            });
            kept
        });
        Some(Self {
            time: Timestamp::now(),
            body,
        })
    }

    /// Keeps the request and its answer when its key is valid; the answer goes on as it
    /// was.
    pub fn finish(
        self,
        res: ServiceResponse<BoxBody>,
        route: Option<&str>,
        latency: Duration,
        fault: Option<FaultId>,
    ) -> ServiceResponse<BoxBody> {
        let check = res.request().extensions().get::<KeyCheck>().copied();
        let owner = match check {
            Some(KeyCheck::Valid(owner)) => owner,
            Some(KeyCheck::Refused) => return res,
            // Answered before any handler looked at the key: look now.
            None => match auth::owner_of_request(res.request()) {
                Some(owner) => owner,
                None => return res,
            },
        };
        let (req, response) = res.into_parts();
        let (response, body) = response.into_parts();
        // There when `begin` was: the same app's data.
        let Some(journal) = req.app_data::<web::Data<Journal>>().map(|j| j.get_ref()) else {
            return ServiceResponse::new(req, response.set_body(body));
        };
        let request_body = self
            .body
            .as_ref()
            .map(|kept| kept.take())
            .filter(|b| !b.is_empty());
        let (body, entry) = match body.try_into_bytes() {
            Ok(bytes) => {
                let answer: &[u8] = if req.method() == Method::HEAD {
                    b""
                } else {
                    &bytes
                };
                let entry = self.entry(
                    journal,
                    &req,
                    &response,
                    owner,
                    route,
                    answer,
                    request_body.as_deref(),
                    latency,
                    fault,
                );
                (BoxBody::new(bytes), entry)
            }
            // A streamed answer (none of the API's are) is not held back to be copied.
            Err(body) => {
                let entry = self.entry(
                    journal,
                    &req,
                    &response,
                    owner,
                    route,
                    b"",
                    request_body.as_deref(),
                    latency,
                    fault,
                );
                (body, entry)
            }
        };
        if let Some(entry) = entry {
            journal.record(entry);
        }
        ServiceResponse::new(req, response.set_body(body))
    }
}

impl Capture {
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        journal: &Journal,
        req: &HttpRequest,
        response: &HttpResponse<()>,
        owner: KeyOwner,
        route: Option<&str>,
        answer: &[u8],
        request_body: Option<&[u8]>,
        latency: Duration,
        fault: Option<FaultId>,
    ) -> Option<Entry> {
        let parts = TextParts {
            method: req.method().as_str(),
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.path(), |p| p.as_str()),
            route,
            request_id: response
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
            request_body,
            response_body: answer,
        };
        let headers = || {
            req.headers()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
        };
        let text = EntryText::new(|size| journal.reserve(size), &parts, headers)?;
        Some(Entry {
            client: owner.client,
            key: owner.key,
            time: self.time,
            status: response.status().as_u16(),
            // As the request's log line has it: to the microsecond.
            latency_ms: (latency.as_secs_f64() * 1_000_000.0).round() / 1000.0,
            fault,
            text,
        })
    }
}

/// Whether the request says a body follows.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// The request's body on its way to the handler, its first bytes copied as they pass.
struct Tee {
    inner: Payload,
    kept: Rc<RefCell<Vec<u8>>>,
}

impl Stream for Tee {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            let mut kept = self.kept.borrow_mut();
            let room = REQUEST_BODY_BYTES.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        polled
    }
}

/// Reads what is left of a request's body and drops it, so the journal sees the body of
/// a request answered without its handler (an injected fault); bounded in bytes and time.
pub async fn read_rest(req: &mut ServiceRequest, max_bytes: u64, timeout: Duration) {
    let mut payload = req.take_payload();
    let read = async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) =
            std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await
        {
            seen += chunk.len() as u64;
            if seen > max_bytes {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(timeout, read).await;
}

/// 200 with the key's client's entries, newest first; 400 naming every bad parameter.
/// A server started with `--no-journal` keeps none.
pub async fn entries(
    req: HttpRequest,
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    journal: Option<web::Data<Journal>>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let query =
        params::journal_query(&Params::parse(req.query_string())).map_err(ApiError::Validation)?;
    let stored = journal.map_or_else(Vec::new, |j| j.entries(&client, &query));
    let views: Vec<EntryView<'_>> = stored.iter().map(EntryView::from).collect();
    Ok(answer::json(&req, Rendered::of(&views)?))
}

/// 200 `{"status":"ok","deleted":N}`: the key's client's entries are gone.
pub async fn clear(
    key: ApiKey,
    worker: web::Data<WorkerContext>,
    journal: Option<web::Data<Journal>>,
) -> Result<HttpResponse, ApiError> {
    let client = worker.read(|s| key.client(s))?;
    let deleted = journal.map_or(0, |j| j.clear(&client));
    Ok(answer::plain_json(
        HttpResponse::Ok(),
        &answer::Cleared::of(deleted),
    ))
}
