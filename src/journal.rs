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
#[derive(Debug)]
pub struct Entry {
    pub client: ClientId,
    pub key: ApiKeyId,
    pub time: Timestamp,
    pub method: Box<str>,
    /// The path with its query string, as sent.
    pub path: Box<str>,
    /// The route template that answered; `None` for a path no route matches.
    pub route: Option<Box<str>>,
    pub status: u16,
    pub latency_ms: f64,
    pub request_id: Box<str>,
    /// The text of a JSON object of header names to values (`x-api-key` never among
    /// them); checked as JSON only when shown, off the request's path.
    pub request_headers: Box<str>,
    /// At most [`REQUEST_BODY_BYTES`]; `None` for a request without a body.
    pub request_body: Option<Box<[u8]>>,
    /// At most [`RESPONSE_BODY_BYTES`].
    pub response_body: Box<[u8]>,
    /// The fault rule that delayed or answered this request.
    pub fault: Option<FaultId>,
}

impl Entry {
    /// What the entry holds in memory: its own size, its heap parts, and what the
    /// allocator and the `Arc` add to each (so the bound holds in RSS, not just in sums).
    fn bytes(&self) -> usize {
        /// Eight heap blocks an entry, each with up to 16 bytes of allocator bookkeeping,
        /// and the `Arc`'s two counts.
        const OVERHEAD: usize = 8 * 16 + 16;
        OVERHEAD
            + size_of::<Stored>()
            + self.method.len()
            + self.path.len()
            + self.route.as_deref().map_or(0, str::len)
            + self.request_id.len()
            + self.request_headers.len()
            + self.request_body.as_deref().map_or(0, <[u8]>::len)
            + self.response_body.len()
    }
}

/// An entry with the id the journal gave it.
#[derive(Debug)]
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
                .is_none_or(|r| e.route.as_deref() == Some(r))
            && self.method.as_deref().is_none_or(|m| *e.method == *m)
            && self.status.is_none_or(|s| e.status == s)
            && self.since.is_none_or(|t| e.time >= t)
    }
}

pub struct Journal {
    limits: JournalLimits,
    next_id: AtomicU64,
    ring: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Arc<Stored>>,
    bytes: usize,
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

    /// Keeps `entry`, dropping the oldest entries until both bounds hold again.
    pub fn record(&self, entry: Entry) {
        let size = entry.bytes();
        let stored = Arc::new(Stored {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            entry,
        });
        let mut dropped = Vec::new();
        {
            let mut ring = self.lock();
            ring.bytes += size;
            ring.entries.push_back(stored);
            while ring.entries.len() > self.limits.entries || ring.bytes > self.limits.bytes {
                let Some(oldest) = ring.entries.pop_front() else {
                    break;
                };
                ring.bytes -= oldest.entry.bytes();
                dropped.push(oldest);
            }
        }
        // Freed outside the lock: a dropped entry may hold 64 KiB of body.
        drop(dropped);
    }

    /// `client`'s entries that pass `query`, newest first.
    pub fn entries(&self, client: &ClientId, query: &JournalQuery) -> Vec<Arc<Stored>> {
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
            let kept: VecDeque<Arc<Stored>> = std::mem::take(&mut ring.entries)
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
    request_headers: &'a RawValue,
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
            method: &e.method,
            path: &e.path,
            route: e.route.as_deref(),
            status: e.status,
            latency_ms: e.latency_ms,
            request_id: &e.request_id,
            key_id: e.key,
            request_headers: serde_json::from_str(&e.request_headers)
                .unwrap_or_else(|_| empty_object()),
            request_body: e.request_body.as_deref().map(text),
            response_body: text(&e.response_body),
            fault: e.fault,
        }
    }
}

fn empty_object() -> &'static RawValue {
    serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("{{}} is JSON"))
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

/// At most `max` bytes of `bytes`, as an owned copy.
pub fn prefix(bytes: &[u8], max: usize) -> Box<[u8]> {
    bytes[..bytes.len().min(max)].into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(client: ClientId, status: u16, body: usize) -> Entry {
        Entry {
            client,
            key: ApiKeyId::new_random(),
            time: Timestamp::now(),
            method: "GET".into(),
            path: "/api/public/pipeline".into(),
            route: Some("/api/public/pipeline".into()),
            status,
            latency_ms: 0.1,
            request_id: "r".into(),
            request_headers: "{}".into(),
            request_body: Some(vec![b'x'; body].into()),
            response_body: Box::new([]),
            fault: None,
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
        assert_eq!(&*prefix(b"abcdef", 4), b"abcd");
    }
}
