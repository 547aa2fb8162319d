//! The one JSON error envelope, and the errors the API answers with.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::model::MAX_METADATA_BYTES;
use crate::store::{Refusal, StoreError};

/// Every error the API answers with. The `Display` text is the envelope's `message`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Invalid or missing API key")]
    Unauthorized,
    #[error("Validation failed (uuid is expected)")]
    InvalidPathId,
    #[error("Contact not found")]
    ContactNotFound,
    #[error("Ticket not found")]
    TicketNotFound,
    #[error("Webhook not found")]
    WebhookNotFound,
    #[error("Delivery not found")]
    DeliveryNotFound,
    #[error("Fault not found")]
    FaultNotFound,
    /// A conversation write the stored data refused (SPEC 11): 404, 409 or 400.
    #[error("{0}")]
    Refused(Refusal),
    /// A fault rule's answer (SPEC 12.2): its status, in the envelope.
    #[error("Injected fault")]
    InjectedFault(StatusCode),
    /// Bad query parameters or body fields: one string per problem, each starting with
    /// the parameter's name; the envelope's `message` is then a list.
    #[error("{}", .0.join("; "))]
    Validation(Vec<String>),
    /// A bad request the hosted API answers with one fixed sentence.
    #[error("{0}")]
    BadRequest(&'static str),
    /// A body that is not JSON at all: one sentence saying where it breaks.
    #[error("{0}")]
    MalformedBody(String),
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// Another connection (a fixture load in another process, say) held the write lock
    /// past the busy timeout.
    #[error("The database is busy; retry shortly")]
    Busy,
    /// No route matches: worded as the hosted API words it.
    #[error("Cannot {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("Method Not Allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("URI Too Long")]
    UriTooLong,
    #[error("Request Header Fields Too Large")]
    HeadersTooLarge,
    #[error("Payload Too Large")]
    PayloadTooLarge,
    /// The body did not arrive in time; the connection is closed after the answer.
    #[error("Request Timeout")]
    RequestTimeout,
    /// Too many failed API-key attempts from one address.
    #[error("Too many failed API key attempts; retry later")]
    TooManyFailedAttempts { retry_after: std::time::Duration },
    /// The cause is logged with the request id and never shown to the caller.
    #[error("Internal server error")]
    Unexpected(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Refused(refusal) = e {
            return Self::Refused(refusal);
        }
        if e.is_busy() {
            tracing::warn!(error = %e, "answered 503: the database stayed locked");
            return Self::Busy;
        }
        Self::Unexpected(e.into())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Unexpected(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InvalidPathId
            | Self::Validation(_)
            | Self::BadRequest(_)
            | Self::MalformedBody(_) => StatusCode::BAD_REQUEST,
            Self::ContactNotFound
            | Self::TicketNotFound
            | Self::WebhookNotFound
            | Self::DeliveryNotFound
            | Self::FaultNotFound
            | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyFailedAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InjectedFault(status) => *status,
            Self::Refused(refusal) => match refusal {
                Refusal::ChannelNotFound
                | Refusal::StageNotFound
                | Refusal::TeamMemberNotFound
                | Refusal::ContactNotFound
                | Refusal::TicketNotFound => StatusCode::NOT_FOUND,
                Refusal::AlreadyClosed => StatusCode::CONFLICT,
                Refusal::Invalid(_) | Refusal::TooLarge { .. } => StatusCode::BAD_REQUEST,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = match self {
            Self::Validation(problems) => envelope_of(self.status_code(), Message::List(problems)),
            // Broken rules of the body are named in a list, as validation names them.
            Self::Refused(refusal @ (Refusal::Invalid(_) | Refusal::TooLarge { .. })) => {
                let problems = [refusal_sentence(refusal)];
                envelope_of(self.status_code(), Message::List(&problems))
            }
            _ => envelope(self.status_code(), &self.to_string()),
        };
        match self {
            Self::MethodNotAllowed { allow } => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Busy => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            Self::RequestTimeout => {
                // The rest of the body may still come: the connection cannot be reused.
                response
                    .head_mut()
                    .set_connection_type(actix_web::http::ConnectionType::Close);
            }
            Self::TooManyFailedAttempts { retry_after } => {
                // Whole seconds, rounded up: never tell a client to come back too early.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            _ => {}
        }
        response
    }
}

fn refusal_sentence(refusal: &Refusal) -> String {
    match refusal {
        Refusal::TooLarge { field, bytes } => format!(
            "{field} must not be larger than {MAX_METADATA_BYTES} bytes once merged \
             (it would be {bytes})"
        ),
        other => other.to_string(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    status_code: u16,
    message: Message<'a>,
    error: &'a str,
}

/// The envelope's `message`: one sentence, or one string per bad parameter.
#[derive(Serialize)]
#[serde(untagged)]
enum Message<'a> {
    One(&'a str),
    List(&'a [String]),
}

fn envelope_text(status: StatusCode, message: Message<'_>) -> String {
    let body = Envelope {
        status_code: status.as_u16(),
        message,
        error: status.canonical_reason().unwrap_or("Unknown"),
    };
    serde_json::to_string(&body).unwrap_or_else(|_| unreachable!("the envelope is plain data"))
}

/// `{"statusCode":404,"message":"…","error":"Not Found"}`: the body of every error.
pub fn envelope_body(status: StatusCode, message: &str) -> String {
    envelope_text(status, Message::One(message))
}

pub fn envelope(status: StatusCode, message: &str) -> HttpResponse {
    envelope_of(status, Message::One(message))
}

fn envelope_of(status: StatusCode, message: Message<'_>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(mime_json())
        .body(envelope_text(status, message))
}

pub(super) fn mime_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_documented_keys_in_order() {
        assert_eq!(
            envelope_body(StatusCode::NOT_FOUND, "Contact not found"),
            r#"{"statusCode":404,"message":"Contact not found","error":"Not Found"}"#
        );
        assert_eq!(
            envelope_body(StatusCode::BAD_REQUEST, "say \"hi\""),
            r#"{"statusCode":400,"message":"say \"hi\"","error":"Bad Request"}"#
        );
        let problems = ["days must not be greater than 365".to_owned()];
        assert_eq!(
            envelope_text(StatusCode::BAD_REQUEST, Message::List(&problems)),
            r#"{"statusCode":400,"message":["days must not be greater than 365"],"error":"Bad Request"}"#
        );
    }
}
