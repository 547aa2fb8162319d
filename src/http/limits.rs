//! Request size limits (SPEC section 6), answered with the JSON envelope.
//!
//! actix reads a request's head whole before the app sees it, so these checks come after
//! the bytes are in; they keep oversized requests from reaching handlers and say why in
//! the envelope. actix's own hard limits lie beyond them (96 headers, 128 KiB of head)
//! and answer without the envelope, as does its header timeout (408).

use actix_web::dev::ServiceRequest;
use actix_web::http::header;

use super::error::ApiError;

/// Limits on one request; every one has a flag and an env variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// The request target (path and query), in bytes.
    pub max_url_bytes: usize,
    /// All header names and values together, in bytes.
    pub max_header_bytes: usize,
    /// A declared body (`Content-Length`), in bytes.
    pub max_body_bytes: u64,
    /// The whole body, from the handler's first read: a body that stalls holds a
    /// connection and its memory no longer than this.
    pub body_timeout: std::time::Duration,
}

impl RequestLimits {
    /// The first limit `req` goes beyond, as the error to answer with.
    pub fn check(&self, req: &ServiceRequest) -> Result<(), ApiError> {
        let url_bytes = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
        if url_bytes > self.max_url_bytes {
            return Err(ApiError::UriTooLong);
        }
        let header_bytes: usize = req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if header_bytes > self.max_header_bytes {
            return Err(ApiError::HeadersTooLarge);
        }
        let body_bytes = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if body_bytes > self.max_body_bytes {
            return Err(ApiError::PayloadTooLarge);
        }
        Ok(())
    }
}
