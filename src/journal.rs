//! The request journal (SPEC 12.1): what each client's requests sent and got back,
//! kept in memory, bounded by entries and by bytes, oldest dropped first.
//!
//! The HTTP layer builds an [`Entry`] (its copies of the bodies made before any lock is
//! taken) and hands it over; the lock is held only to push a pointer and drop the
//! oldest ones, and to pick the pointers a query answers with.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::{ApiKeyId, ClientId, FaultId, Timestamp};

/// The most of a request's body an entry keeps.
pub const REQUEST_BODY_BYTES: usize = 64 * 1024;
/// The most of an answer's body an entry keeps.
pub const RESPONSE_BODY_BYTES: usize = 4 * 1024;

/// How much the journal holds before it drops its oldest entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalLimits {
    pub entries: usize,
    pub bytes: usize,
}

impl Default for JournalLimits {
    fn default() -> Self {
        Self {
            entries: 10_000,
            bytes: 64 * 1024 * 1024,
        }
    }
}

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
    bytes: Arc<Vec<u8>>,
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
    /// block, once to fill it), `x-api-key` left out, written into `buffer` (from
    /// [`Journal::buffer`]).
    pub fn new<'h, I>(mut buffer: Vec<u8>, parts: &TextParts<'_>, headers: impl Fn() -> I) -> Self
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
        // A spare too small is not grown: a realloc leaves its old block behind, and
        // those holes cost RSS the journal's count never sees.
        let mut bytes = if buffer.capacity() >= size {
            buffer.clear();
            buffer
        } else {
            Vec::with_capacity(size)
        };
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
    fn bytes(&self) -> usize {
        /// Two heap blocks an entry (the `Arc`'s and the buffer's), each with up to 16
        /// bytes of allocator bookkeeping, and the `Arc`'s two counts.
        const OVERHEAD: usize = 2 * 16 + 16;
        OVERHEAD + size_of::<Stored>() + self.text.bytes.capacity()
    }
}

/// An entry with the id the journal gave it. Cheap to clone (two reference counts):
/// a query clones what it answers and lets go of the lock before reading any of it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: u64,
    pub entry: Entry,
}

/// `GET /api/sandbox/requests`'s filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalQuery {
    pub route: Option<String>,
    pub method: Option<String>,
    pub status: Option<u16>,
    pub since: Option<Timestamp>,
    pub limit: usize,
}

impl JournalQuery {
    fn admits(&self, client: &ClientId, stored: &Stored) -> bool {
        let e = &stored.entry;
        e.client == *client
            && self
                .route
                .as_deref()
                .is_none_or(|r| e.text.route() == Some(r))
            && self.method.as_deref().is_none_or(|m| e.text.method() == m)
            && self.status.is_none_or(|s| e.status == s)
            && self.since.is_none_or(|t| e.time >= t)
    }
}

pub struct Journal {
    limits: JournalLimits,
    next_id: AtomicU64,
    ring: Mutex<Ring>,
}

/// Buffers of dropped entries kept for the next ones: a full journal drops one entry for
/// each it keeps, and glibc's allocator, asked for and given back a block of a few KiB
/// per request among 10,000 live ones, cost `/info` about 7 % of its rate at 1M contacts
/// (BENCHMARKS.md, "Request journal"); a reused buffer costs nothing.
const SPARE_BUFFERS: usize = 32;
/// Larger buffers (a request's big body) go back to the allocator: kept, they would
/// count against the bound for every small entry written into them later.
const SPARE_BUFFER_BYTES: usize = 8 * 1024;

#[derive(Default)]
struct Ring {
    entries: VecDeque<Stored>,
    bytes: usize,
    spare: Vec<Vec<u8>>,
}

impl Journal {
    pub fn new(limits: JournalLimits) -> Self {
        Self {
            limits,
            next_id: AtomicU64::new(1),
            ring: Mutex::new(Ring::default()),
        }
    }

    pub fn limits(&self) -> JournalLimits {
        self.limits
    }

    /// An empty buffer for an entry's text: one a dropped entry left, when there is one.
    pub fn buffer(&self) -> Vec<u8> {
        self.lock().spare.pop().unwrap_or_default()
    }

    /// Keeps `entry`, dropping the oldest entries until both bounds hold again.
    pub fn record(&self, entry: Entry) {
        let size = entry.bytes();
        let stored = Stored {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            entry,
        };
        // Usually one entry goes for one that comes: no list is made for it.
        let mut first_dropped = None;
        let mut more_dropped = Vec::new();
        {
            let mut ring = self.lock();
            ring.bytes += size;
            ring.entries.push_back(stored);
            while ring.entries.len() > self.limits.entries || ring.bytes > self.limits.bytes {
                let Some(oldest) = ring.entries.pop_front() else {
                    break;
                };
                ring.bytes -= oldest.entry.bytes();
                // A buffer no query holds any more goes to the spares (a move, no copy).
                match Arc::try_unwrap(oldest.entry.text.bytes) {
                    Ok(buffer)
                        if ring.spare.len() < SPARE_BUFFERS
                            && buffer.capacity() <= SPARE_BUFFER_BYTES =>
                    {
                        ring.spare.push(buffer);
                    }
                    Ok(buffer) => match first_dropped {
                        None => first_dropped = Some(buffer),
                        Some(_) => more_dropped.push(buffer),
                    },
                    // A query still reads it; it is freed when the query is done.
                    Err(_) => {}
                }
            }
        }
        // Freed outside the lock.
        drop((first_dropped, more_dropped));
    }

    /// `client`'s entries that pass `query`, newest first.
    pub fn entries(&self, client: &ClientId, query: &JournalQuery) -> Vec<Stored> {
        self.lock()
            .entries
            .iter()
            .rev()
            .filter(|s| query.admits(client, s))
            .take(query.limit)
            .cloned()
            .collect()
    }

    /// Drops every entry of `client`; the number dropped.
    pub fn clear(&self, client: &ClientId) -> usize {
        let mut dropped = Vec::new();
        {
            let mut ring = self.lock();
            let kept: VecDeque<Stored> = std::mem::take(&mut ring.entries)
                .into_iter()
                .filter_map(|s| {
                    if s.entry.client == *client {
                        dropped.push(s);
                        None
                    } else {
                        Some(s)
                    }
                })
                .collect();
            ring.entries = kept;
            ring.bytes -= dropped.iter().map(|s| s.entry.bytes()).sum::<usize>();
        }
        dropped.len()
    }

    /// Entries and bytes held now, for `/metrics` and the tests of the bounds.
    pub fn held(&self) -> (usize, usize) {
        let ring = self.lock();
        (ring.entries.len(), ring.bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic elsewhere while holding it leaves a consistent ring: every change
        // above is complete before anything that could panic.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

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
        let text = EntryText::new(Vec::new(), &parts, || headers.into_iter());
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
        let text = EntryText::new(Vec::new(), &none, std::iter::empty::<(&str, &[u8])>);
        assert_eq!((text.request_body(), text.route()), (None, Some("")));
        assert_eq!(text.headers_json(), "{}");
    }

    fn entry(client: ClientId, status: u16, body: usize) -> Entry {
        let body = vec![b'x'; body];
        let parts = TextParts {
            method: "GET",
            path: "/api/public/pipeline",
            route: Some("/api/public/pipeline"),
            request_id: "r",
            request_body: Some(&body),
            response_body: b"",
        };
        Entry {
            client,
            key: ApiKeyId::new_random(),
            time: Timestamp::now(),
            status,
            latency_ms: 0.1,
            fault: None,
            text: EntryText::new(Vec::new(), &parts, || [("host", &b"h"[..])].into_iter()),
        }
    }

    fn all() -> JournalQuery {
        JournalQuery {
            limit: usize::MAX,
            ..JournalQuery::default()
        }
    }

    #[test]
    fn the_oldest_entries_go_first_when_the_count_is_reached() {
        let journal = Journal::new(JournalLimits {
            entries: 3,
            bytes: usize::MAX,
        });
        let client = ClientId::new_random();
        for status in [200, 201, 202, 203, 204] {
            journal.record(entry(client, status, 0));
        }
        let statuses: Vec<u16> = journal
            .entries(&client, &all())
            .iter()
            .map(|s| s.entry.status)
            .collect();
        assert_eq!(statuses, [204, 203, 202]);
    }

    #[test]
    fn a_dropped_entrys_buffer_is_used_again_unless_a_query_holds_it() {
        let journal = Journal::new(JournalLimits {
            entries: 1,
            bytes: usize::MAX,
        });
        let client = ClientId::new_random();
        assert_eq!(journal.buffer().capacity(), 0, "nothing dropped yet");
        journal.record(entry(client, 200, 100));
        let held = journal.entries(&client, &all());
        journal.record(entry(client, 201, 100));
        assert_eq!(journal.buffer().capacity(), 0, "the query still holds it");
        drop(held);
        journal.record(entry(client, 202, 100));
        assert!(
            journal.buffer().capacity() >= 100,
            "the second entry's buffer"
        );
        journal.record(entry(client, 203, 20_000));
        journal.record(entry(client, 204, 1));
        assert!(journal.buffer().capacity() < 1000, "the third entry's");
        assert_eq!(journal.buffer().capacity(), 0, "a big buffer is not kept");
    }

    #[test]
    fn the_bytes_bound_holds_whatever_the_bodies() {
        let limit = 300 * 1024;
        let journal = Journal::new(JournalLimits {
            entries: 10_000,
            bytes: limit,
        });
        let client = ClientId::new_random();
        for i in 0..100 {
            journal.record(entry(client, 200, (i % 7) * 10_000));
            assert!(journal.held().1 <= limit, "{:?}", journal.held());
        }
        let (count, bytes) = journal.held();
        assert!(
            count > 5 && bytes > limit / 2,
            "{count} entries, {bytes} bytes"
        );
        assert_eq!(journal.clear(&client), count);
        assert_eq!(journal.held(), (0, 0));
    }

    #[test]
    fn a_client_sees_and_clears_only_its_own_entries() {
        let journal = Journal::new(JournalLimits::default());
        let (a, b) = (ClientId::new_random(), ClientId::new_random());
        journal.record(entry(a, 200, 1));
        journal.record(entry(b, 404, 1));
        journal.record(entry(a, 500, 1));
        let only_500 = JournalQuery {
            status: Some(500),
            ..all()
        };
        assert_eq!(journal.entries(&a, &only_500).len(), 1);
        assert_eq!(journal.entries(&b, &only_500).len(), 0);
        assert_eq!(journal.clear(&a), 2);
        assert_eq!(journal.entries(&b, &all()).len(), 1);
    }

    #[test]
    fn a_character_cut_by_the_prefix_is_left_out() {
        let text_of = |b: &[u8]| text(b).into_owned();
        assert_eq!(text_of("añ".as_bytes()), "añ");
        assert_eq!(text_of(&"añ".as_bytes()[..2]), "a");
        assert_eq!(text_of(b"a\xffb"), "a\u{fffd}b");
    }
}
