//! One attempt: a signed POST of the event to the subscription's URL, its answer read
//! to a bound and dropped.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};

use super::signature;
use crate::store::Claimed;

/// Most of a receiver's answer read before the connection is dropped: nothing of it is
/// kept, and an endless body must not hold the attempt.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How one attempt went: the status answered (if any) and, for a failure, why.
pub struct Answer {
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// The HTTP client every attempt shares: no redirects followed, no proxy from the
/// environment, no cookies; each request bounded by `timeout` as a whole.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

/// Sends `claimed` once, signed as of `now_ms`; everything, body included, within
/// `timeout`.
pub async fn send(
    client: &reqwest::Client,
    claimed: &Claimed,
    now_ms: i64,
    timeout: Duration,
) -> Answer {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("contactd/", env!("CARGO_PKG_VERSION"))),
    );
    let event_id = claimed.event.to_string();
    for (name, value) in signature::headers(&claimed.secret, &event_id, &claimed.body, now_ms) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let request = client
        .post(&claimed.url)
        .headers(headers)
        .body(claimed.body.clone());
    match tokio::time::timeout(timeout, exchange(request)).await {
        Ok(answer) => answer,
        Err(_) => Answer {
            status: None,
            error: Some(format!(
                "no complete answer within {} s (the timeout)",
                timeout.as_secs_f64()
            )),
        },
    }
}

async fn exchange(request: reqwest::RequestBuilder) -> Answer {
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            return Answer {
                status: None,
                error: Some(words(&e)),
            };
        }
    };
    let status = response.status();
    let mut read = 0;
    while read < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) => break,
            // The status is in; a body cut short does not change what it said.
            Err(_) => break,
        }
    }
    let error = if status.is_success() {
        None
    } else if status.is_redirection() {
        Some(format!(
            "answered {status} (redirects are not followed; subscribe the final URL)"
        ))
    } else {
        Some(format!("answered {status}"))
    };
    Answer {
        status: Some(status.as_u16()),
        error,
    }
}

/// A failed request in words: what failed and why, each cause once, without the
/// URL (the log already names it).
fn words(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer within the timeout".to_owned();
    }
    let mut text = if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut cause = e.source();
    while let Some(c) = cause {
        let message = c.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = c.source();
    }
    text
}
