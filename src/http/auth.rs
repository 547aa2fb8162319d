//! `x-api-key` as an extractor: a handler that takes an `ApiKey` cannot forget the
//! 401/429 rules, and learns its client only through `ApiKey::client`.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::auth_limit::AuthFailureLimit;
use super::error::ApiError;
use super::journal::is_journaled;
use super::request_context::record_client;
use super::worker::{Snapshot, WorkerContext};
use crate::api_key::{self, KeyHash};
use crate::model::ClientId;
use crate::store::KeyOwner;

const API_KEY_HEADER: &str = "x-api-key";

/// What the handler's check of the key found, for the request journal: it keeps
/// requests with a valid key only, and names the key. In the request's extensions only
/// while the journal keeps the request, so a server without one allocates nothing for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    Refused,
    Valid(KeyOwner),
}

/// A request's API key, not yet checked against the store.
pub struct ApiKey {
    hash: KeyHash,
    peer: Option<IpAddr>,
    limit: Option<web::Data<AuthFailureLimit>>,
    /// The request, when the journal keeps it: the check is noted in its extensions.
    journaled: Option<HttpRequest>,
}

impl ApiKey {
    /// The client of this key as of `snapshot`; 401 (429 past the failure limit) when no
    /// live key has this value.
    pub fn client(&self, snapshot: &Snapshot<'_>) -> Result<ClientId, ApiError> {
        let owner = snapshot.owner_of_key(&self.hash)?;
        if let Some(req) = &self.journaled {
            req.extensions_mut()
                .insert(owner.map_or(KeyCheck::Refused, KeyCheck::Valid));
        }
        match owner {
            Some(owner) => {
                record_client(&tracing::Span::current(), &owner.client);
                Ok(owner.client)
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
        let journaled = is_journaled(req).then(|| req.clone());
        ready(match sent_key(req) {
            Some(key) => Ok(Self {
                hash: api_key::hash(key),
                peer,
                limit,
                journaled,
            }),
            None => {
                if journaled.is_some() {
                    req.extensions_mut().insert(KeyCheck::Refused);
                }
                Err(refused(peer, limit.as_ref().map(|l| l.get_ref())))
            }
        })
    }
}

/// The one `x-api-key` a request sent. A repeated header is refused rather than read by
/// position: proxies and clients disagree on which of two values counts.
fn sent_key(req: &HttpRequest) -> Option<&str> {
    let mut sent = req.headers().get_all(API_KEY_HEADER);
    match (sent.next(), sent.next()) {
        (Some(value), None) => value.to_str().ok().filter(|k| !k.is_empty()),
        _ => None,
    }
}

/// The owner of the request's key, for the code around the handlers (faults, the
/// journal): `None` for a missing or unknown key. Not a failed attempt either way; only
/// a handler's check counts those.
pub fn owner_of_request(req: &HttpRequest) -> Option<KeyOwner> {
    let hash = api_key::hash(sent_key(req)?);
    let worker = req.app_data::<web::Data<WorkerContext>>()?;
    worker.read(|s| s.owner_of_key(&hash)).ok().flatten()
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
