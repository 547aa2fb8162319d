//! An entry of the journal: what one request sent and got back, its text copied into
//! one range of a segment the journal reserved for it, with no lock held.

use std::sync::Arc;

use super::segment::{Reservation, Segment};
use crate::model::{ApiKeyId, ClientId, FaultId, Timestamp};

/// The most of a request's body an entry keeps.
pub const REQUEST_BODY_BYTES: usize = 64 * 1024;
/// The most of an answer's body an entry keeps.
pub const RESPONSE_BODY_BYTES: usize = 4 * 1024;

/// One request with a valid key, as it was answered.
#[derive(Debug, Clone)]
pub struct Entry {
    pub client: ClientId,
    pub key: ApiKeyId,
    pub time: Timestamp,
    pub status: u16,
    pub latency_ms: f64,
    /// The fault rule that delayed or answered this request.
    pub fault: Option<FaultId>,
    pub text: EntryText,
}

/// An entry's text as sent and answered, in one range of a [`Segment`]: a request pays
/// no allocation for its entry, whatever its number of headers. Headers are kept as sent
/// and shown as JSON only when asked for, off the request's path.
#[derive(Debug, Clone)]
pub struct EntryText {
    pub(super) segment: Arc<Segment>,
    /// The journal's name for `segment`.
    pub(super) segment_id: u64,
    start: usize,
    len: usize,
    /// Where each part ends, from `start`: method, path, route, request id, request
    /// body, answer; the headers fill the rest.
    ends: [u32; 6],
    has_route: bool,
    has_request_body: bool,
}

/// The parts of an [`EntryText`] but its headers.
pub struct TextParts<'a> {
    pub method: &'a str,
    /// The path with its query string, as sent.
    pub path: &'a str,
    /// The route template that answered; `None` for a path no route matches.
    pub route: Option<&'a str>,
    pub request_id: &'a str,
    /// At most [`REQUEST_BODY_BYTES`] are kept; `None` for a request without a body.
    pub request_body: Option<&'a [u8]>,
    /// At most [`RESPONSE_BODY_BYTES`] are kept.
    pub response_body: &'a [u8],
}

/// How far ahead of its own text an entry has the CPU fetch the segment for the next
/// ones (about one `/info` entry). Each entry moves that window by its own size and
/// fetches only the lines it newly covers: fetching the whole window again each time
/// cost more than it saved, the lines already in cache still taking the CPU's time.
const PREFETCH_BYTES: usize = 4096;

/// A header as kept: its name, NUL, its value, LF (neither byte can be in a header).
const HEADER_SEPARATORS: usize = 2;

impl EntryText {
    /// The parts and the headers `headers()` yields (called twice: once to size the
    /// text, once to write it), `x-api-key` left out, written into the range `reserve`
    /// gives for their size (one of [`Journal::reserve`]'s). `None` when there is none.
    ///
    /// [`Journal::reserve`]: super::Journal::reserve
    pub fn new<'h, I>(
        reserve: impl FnOnce(usize) -> Option<Reservation>,
        parts: &TextParts<'_>,
        headers: impl Fn() -> I,
    ) -> Option<Self>
    where
        I: Iterator<Item = (&'h str, &'h [u8])>,
    {
        let kept = || headers().filter(|(name, _)| !name.eq_ignore_ascii_case("x-api-key"));
        let request_body = parts
            .request_body
            .map(|b| &b[..b.len().min(REQUEST_BODY_BYTES)]);
        let response_body =
            &parts.response_body[..parts.response_body.len().min(RESPONSE_BODY_BYTES)];
        let fixed: [&[u8]; 6] = [
            parts.method.as_bytes(),
            parts.path.as_bytes(),
            parts.route.unwrap_or_default().as_bytes(),
            parts.request_id.as_bytes(),
            request_body.unwrap_or_default(),
            response_body,
        ];
        let size = fixed.iter().map(|p| p.len()).sum::<usize>()
            + kept()
                .map(|(n, v)| n.len() + v.len() + HEADER_SEPARATORS)
                .sum::<usize>();
        let mut reservation = reserve(size)?;
        let mut out = Writer {
            buf: reservation.bytes_mut(),
            at: 0,
        };
        let mut ends = [0u32; 6];
        for (end, part) in ends.iter_mut().zip(fixed) {
            out.put(part);
            *end = u32::try_from(out.at).unwrap_or(u32::MAX);
        }
        for (name, value) in kept() {
            out.put(name.as_bytes());
            out.put(&[0]);
            out.put(value);
            out.put(b"\n");
        }
        let written = out.at;
        let (segment, segment_id, start) = reservation.into_parts();
        segment.prefetch(start + PREFETCH_BYTES, size);
        Some(Self {
            segment,
            segment_id,
            start,
            len: written,
            ends,
            has_route: parts.route.is_some(),
            has_request_body: request_body.is_some(),
        })
    }

    /// The whole text.
    pub(super) fn bytes(&self) -> &[u8] {
        self.segment.read(self.start, self.len)
    }

    fn part(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self.ends.get(i).map_or(self.len, |e| *e as usize);
        self.bytes().get(start..end).unwrap_or_default()
    }

    fn str(&self, i: usize) -> &str {
        // Written from a &str: always UTF-8.
        std::str::from_utf8(self.part(i)).unwrap_or_default()
    }

    pub fn method(&self) -> &str {
        self.str(0)
    }

    pub fn path(&self) -> &str {
        self.str(1)
    }

    pub fn route(&self) -> Option<&str> {
        self.has_route.then(|| self.str(2))
    }

    pub fn request_id(&self) -> &str {
        self.str(3)
    }

    pub fn request_body(&self) -> Option<&[u8]> {
        self.has_request_body.then(|| self.part(4))
    }

    pub fn response_body(&self) -> &[u8] {
        self.part(5)
    }

    /// The headers as a JSON object: names in order, a repeated header's values joined
    /// with `, `, values as text.
    pub fn headers_json(&self) -> String {
        let mut pairs: Vec<(&[u8], &[u8])> = self
            .part(6)
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| {
                let at = line.iter().position(|b| *b == 0)?;
                Some((&line[..at], &line[at + 1..]))
            })
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let mut object = serde_json::Map::new();
        for (name, value) in pairs {
            let value = String::from_utf8_lossy(value);
            let name = String::from_utf8_lossy(name).into_owned();
            match object.get_mut(&name) {
                Some(serde_json::Value::String(joined)) => {
                    joined.push_str(", ");
                    joined.push_str(&value);
                }
                _ => {
                    object.insert(name, value.into_owned().into());
                }
            }
        }
        serde_json::Value::Object(object).to_string()
    }
}

/// Writes an entry's text into its reservation, front to back.
///
/// Plain copies: segments are written in order, one after the other, and the caches
/// keep up with that. Streaming stores that bypass them (and the fence they need before
/// the entry is published) measured `/info` at 0.92× against 0.94× for plain copies
/// (BENCHMARKS.md, "Request journal").
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    /// Copies `src` next. Never past the end: the text was sized from the same parts.
    fn put(&mut self, src: &[u8]) {
        let n = src.len().min(self.buf.len() - self.at);
        self.buf[self.at..self.at + n].copy_from_slice(&src[..n]);
        self.at += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entrys_text_keeps_each_part_cut_to_its_bound_and_never_the_key() {
        let body = vec![b'b'; REQUEST_BODY_BYTES + 10];
        let answer = vec![b'a'; RESPONSE_BODY_BYTES + 10];
        let parts = TextParts {
            method: "POST",
            path: "/p?q=1",
            route: None,
            request_id: "id-1",
            request_body: Some(&body),
            response_body: &answer,
        };
        let headers: [(&str, &[u8]); 4] = [
            ("x-api-key", b"secret"),
            ("b-list", b"1"),
            ("a", b"\"quoted\" \xff"),
            ("b-list", b"2"),
        ];
        let text = EntryText::new(Reservation::standalone, &parts, || headers.into_iter()).unwrap();
        assert_eq!(text.method(), "POST");
        assert_eq!(text.path(), "/p?q=1");
        assert_eq!(text.route(), None);
        assert_eq!(text.request_id(), "id-1");
        assert_eq!(text.request_body().unwrap().len(), REQUEST_BODY_BYTES);
        assert_eq!(text.response_body().len(), RESPONSE_BODY_BYTES);
        assert_eq!(
            text.headers_json(),
            format!(r#"{{"a":"\"quoted\" {}","b-list":"1, 2"}}"#, '\u{fffd}')
        );
        let none = TextParts {
            request_body: None,
            route: Some(""),
            ..parts
        };
        let text = EntryText::new(
            Reservation::standalone,
            &none,
            std::iter::empty::<(&str, &[u8])>,
        )
        .unwrap();
        assert_eq!((text.request_body(), text.route()), (None, Some("")));
        assert_eq!(text.headers_json(), "{}");
    }
}
