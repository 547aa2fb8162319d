//! An entry of the journal: what one request sent and got back, its text copied into
//! one block before the journal's lock is taken.

use std::sync::Arc;

use super::Stored;
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

/// An entry's text as sent and answered, in one allocation: a request pays one block
/// for its entry, whatever its number of headers. Headers are kept as sent and shown as
/// JSON only when asked for, off the request's path.
#[derive(Debug, Clone)]
pub struct EntryText {
    pub(super) bytes: Arc<Vec<u8>>,
    /// Where each part ends: method, path, route, request id, request body, answer; the
    /// headers fill the rest.
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

/// A header as kept: its name, NUL, its value, LF (neither byte can be in a header).
const HEADER_SEPARATORS: usize = 2;

impl EntryText {
    /// The parts and the headers `headers()` yields (called twice: once to size the
    /// block, once to fill it), `x-api-key` left out, written into the buffer `buffer`
    /// gives for their size (one of [`Journal::buffer`]'s).
    pub fn new<'h, I>(
        buffer: impl FnOnce(usize) -> Vec<u8>,
        parts: &TextParts<'_>,
        headers: impl Fn() -> I,
    ) -> Self
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
        let mut bytes = buffer(size);
        // Never grown past what was asked for: a realloc leaves its old block behind,
        // and those holes cost RSS the journal's count never sees.
        bytes.clear();
        bytes.reserve_exact(size);
        let mut ends = [0u32; 6];
        for (end, part) in ends.iter_mut().zip(fixed) {
            append_uncached(&mut bytes, part);
            *end = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        }
        for (name, value) in kept() {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(value);
            bytes.push(b'\n');
        }
        Self {
            bytes: Arc::new(bytes),
            ends,
            has_route: parts.route.is_some(),
            has_request_body: request_body.is_some(),
        }
    }

    fn part(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self.ends.get(i).map_or(self.bytes.len(), |e| *e as usize);
        self.bytes.get(start..end).unwrap_or_default()
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

impl Entry {
    /// What the entry holds in memory: its own size, its text's whole buffer, and what
    /// the allocator and the `Arc` add (so the bound holds in RSS, not just in sums).
    pub(super) fn bytes(&self) -> usize {
        /// Two heap blocks an entry (the `Arc`'s and the buffer's), each with up to 16
        /// bytes of allocator bookkeeping, and the `Arc`'s two counts.
        const OVERHEAD: usize = 2 * 16 + 16;
        OVERHEAD + size_of::<Stored>() + self.text.bytes.capacity()
    }
}

/// Appends `src` to `dst`, bypassing the CPU caches where it can. An entry is written
/// once and read rarely; 10,000 of them, 45 MB, written through the caches would push out
/// the database pages the next requests read (measured: `/info` at 0.93× with plain
/// copies, BENCHMARKS.md "Request journal").
fn append_uncached(dst: &mut Vec<u8>, src: &[u8]) {
    /// Below this, a plain copy: a few cache lines are not worth the fence.
    const UNCACHED_FROM: usize = 512;
    dst.reserve(src.len());
    #[cfg(target_arch = "x86_64")]
    if src.len() >= UNCACHED_FROM {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
        let start = dst.len();
        // SAFETY: `reserve` made room for `src.len()` bytes after `start`; every byte of
        // that room is written below (head, 16-byte blocks, tail) before `set_len`
        // covers it. Streaming stores need a 16-byte aligned target, which `head`
        // reaches; loads are unaligned. SSE2 is part of x86_64. The fence orders the
        // streaming stores before anything after it (the entry's publication under the
        // journal's lock).
        unsafe {
            let out = dst.as_mut_ptr().add(start);
            let head = out.align_offset(16).min(src.len());
            std::ptr::copy_nonoverlapping(src.as_ptr(), out, head);
            let blocks = (src.len() - head) / 16;
            for i in 0..blocks {
                let at = head + i * 16;
                let block = _mm_loadu_si128(src.as_ptr().add(at).cast::<__m128i>());
                _mm_stream_si128(out.add(at).cast::<__m128i>(), block);
            }
            let done = head + blocks * 16;
            std::ptr::copy_nonoverlapping(src.as_ptr().add(done), out.add(done), src.len() - done);
            _mm_sfence();
            dst.set_len(start + src.len());
        }
        return;
    }
    dst.extend_from_slice(src);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncached_append_copies_every_byte_whatever_the_alignment() {
        let src: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for offset in 0..17 {
            for len in [0, 1, 511, 512, 513, 4096, 4999] {
                let mut dst = vec![9u8; offset];
                append_uncached(&mut dst, &src[..len]);
                assert_eq!(&dst[..offset], &vec![9u8; offset][..]);
                assert_eq!(&dst[offset..], &src[..len], "offset {offset}, {len} bytes");
            }
        }
    }

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
        let text = EntryText::new(Vec::with_capacity, &parts, || headers.into_iter());
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
        let text = EntryText::new(Vec::with_capacity, &none, std::iter::empty::<(&str, &[u8])>);
        assert_eq!((text.request_body(), text.route()), (None, Some("")));
        assert_eq!(text.headers_json(), "{}");
    }
}
