//! An entry as `GET /api/sandbox/requests` answers it.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::value::RawValue;

use super::Stored;
use crate::model::{ApiKeyId, FaultId, Timestamp};

/// An entry as `GET /api/sandbox/requests` answers it, keys in the contract's order.
#[derive(Serialize)]
pub struct EntryView<'a> {
    id: u64,
    time: Timestamp,
    method: &'a str,
    path: &'a str,
    route: Option<&'a str>,
    status: u16,
    latency_ms: f64,
    request_id: &'a str,
    key_id: ApiKeyId,
    request_headers: Box<RawValue>,
    request_body: Option<Cow<'a, str>>,
    response_body: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<FaultId>,
}

impl<'a> From<&'a Stored> for EntryView<'a> {
    fn from(stored: &'a Stored) -> Self {
        let e = &stored.entry;
        Self {
            id: stored.id,
            time: e.time,
            method: e.text.method(),
            path: e.text.path(),
            route: e.text.route(),
            status: e.status,
            latency_ms: e.latency_ms,
            request_id: e.text.request_id(),
            key_id: e.key,
            request_headers: RawValue::from_string(e.text.headers_json())
                .unwrap_or_else(|_| empty_object()),
            request_body: e.text.request_body().map(text),
            response_body: text(e.text.response_body()),
            fault: e.fault,
        }
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable!("{{}} is JSON"))
}

/// Bytes as text: a character cut in two at the end of a kept prefix is left out rather
/// than shown as a replacement character; other invalid bytes are replaced.
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(without_cut_character(bytes)),
    }
}

/// `bytes` without a last character whose tail is missing (UTF-8 is at most 4 bytes).
fn without_cut_character(bytes: &[u8]) -> &[u8] {
    for back in 1..=bytes.len().min(3) {
        let start = bytes.len() - back;
        if let Err(e) = std::str::from_utf8(&bytes[start..])
            && e.valid_up_to() == 0
            && e.error_len().is_none()
        {
            return &bytes[..start];
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_by_the_prefix_is_left_out() {
        let text_of = |b: &[u8]| text(b).into_owned();
        assert_eq!(text_of("añ".as_bytes()), "añ");
        assert_eq!(text_of(&"añ".as_bytes()[..2]), "a");
        assert_eq!(text_of(b"a\xffb"), "a\u{fffd}b");
    }
}
