//! `x-api-key` as an extractor: a handler that takes an `ApiKey` cannot forget the
//! 401/429 rules, and learns its client only through `ApiKey::client`.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::auth_limit::AuthFailureLimit;
use super::error::ApiError;
use super::request_context::record_client;
use super::worker::Snapshot;
use crate::api_key::{self, KeyHash};
use crate::model::ClientId;

const API_KEY_HEADER: &str = "x-api-key";

/// A request's API key, not yet checked against the store.
pub struct ApiKey {
    hash: KeyHash,
    peer: Option<IpAddr>,
    limit: Option<web::Data<AuthFailureLimit>>,
}

impl ApiKey {
    /// The client of this key as of `snapshot`; 401 (429 past the failure limit) when no
    /// live key has this value.
    pub fn client(&self, snapshot: &Snapshot<'_>) -> Result<ClientId, ApiError> {
        match snapshot.client_for_key(&self.hash)? {
            Some(client) => {
                record_client(&tracing::Span::current(), &client);
                Ok(client)
            }
            None => Err(refused(self.peer, self.limit.as_ref().map(|l| l.get_ref()))),
        }
    }
}

impl FromRequest for ApiKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let peer = req.peer_addr().map(|a| a.ip());
        let limit = req.app_data::<web::Data<AuthFailureLimit>>().cloned();
        // A repeated header is refused rather than read by position: proxies and clients
        // disagree on which of two values counts.
        let mut sent = req.headers().get_all(API_KEY_HEADER);
        let key = match (sent.next(), sent.next()) {
            (Some(value), None) => value.to_str().ok().filter(|k| !k.is_empty()),
            _ => None,
        };
        ready(match key {
            Some(key) => Ok(Self {
                hash: api_key::hash(key),
                peer,
                limit,
            }),
            None => Err(refused(peer, limit.as_ref().map(|l| l.get_ref()))),
        })
    }
}

/// A failed attempt: counted against its address, and 429 once that is over the limit.
fn refused(peer: Option<IpAddr>, limit: Option<&AuthFailureLimit>) -> ApiError {
    match (peer, limit) {
        (Some(peer), Some(limit)) => match limit.record_failure(peer) {
            Err(retry_after) => ApiError::TooManyFailedAttempts { retry_after },
            Ok(()) => ApiError::Unauthorized,
        },
        _ => ApiError::Unauthorized,
    }
}
