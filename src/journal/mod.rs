//! The request journal (SPEC 12.1): what each client's requests sent and got back,
//! kept in memory, bounded by entries and by bytes, oldest dropped first.
//!
//! The HTTP layer builds an [`Entry`] (its copies of the bodies made before any lock is
//! taken) and hands it over; the lock is held only to push a pointer and drop the
//! oldest ones, and to pick the pointers a query answers with. One stage a file:
//! `entry` (an entry and its text), this ring, `view` (an entry as answered).

mod entry;
mod view;

pub use entry::{Entry, EntryText, REQUEST_BODY_BYTES, RESPONSE_BODY_BYTES, TextParts};
pub use view::{EntryView, text};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::model::{ClientId, Timestamp};

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
/// New buffers are rounded up to this: two `/info` answers of one data set differ by a
/// few hundred bytes, and a buffer sized exactly for one fitted the next only half the
/// time (each miss a malloc and a free among 10,000 live blocks).
const BUFFER_GRAIN: usize = 1024;

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

    /// An empty buffer for an entry's text of `size` bytes: one a dropped entry left
    /// that is big enough, when there is one, else a new one a little bigger (so that it
    /// fits the next entries of about its size when it is dropped in turn).
    pub fn buffer(&self, size: usize) -> Vec<u8> {
        let spare = {
            let mut ring = self.lock();
            let fits = ring.spare.iter().position(|b| b.capacity() >= size);
            fits.map(|i| ring.spare.swap_remove(i))
        };
        let spare = spare.map(|mut b| {
            b.clear();
            b
        });
        spare.unwrap_or_else(|| Vec::with_capacity(size.next_multiple_of(BUFFER_GRAIN)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApiKeyId;

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
            text: EntryText::new(
                |size| Vec::with_capacity(size.next_multiple_of(BUFFER_GRAIN)),
                &parts,
                || [("host", &b"h"[..])].into_iter(),
            ),
        }
    }

    /// A journal bounded by its number of entries only.
    fn bounded_by_count(entries: usize) -> Journal {
        Journal::new(JournalLimits {
            entries,
            bytes: usize::MAX,
        })
    }

    fn all() -> JournalQuery {
        JournalQuery {
            limit: usize::MAX,
            ..JournalQuery::default()
        }
    }

    #[test]
    fn the_oldest_entries_go_first_when_the_count_is_reached() {
        let journal = bounded_by_count(3);
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
        let journal = bounded_by_count(1);
        let client = ClientId::new_random();
        let block = |e: &Entry| e.text.bytes.as_ptr();
        assert_eq!(journal.buffer(100).capacity(), 1024, "new, rounded up");

        let first = entry(client, 200, 100);
        let first_block = block(&first);
        journal.record(first);
        let held = journal.entries(&client, &all());
        let second = entry(client, 201, 100);
        let second_block = block(&second);
        journal.record(second);
        let fresh = journal.buffer(100);
        assert_ne!(fresh.as_ptr(), first_block, "a query holds it");
        drop((held, fresh));

        let third = entry(client, 202, 100);
        let third_block = block(&third);
        journal.record(third);
        journal.record(entry(client, 203, 100));
        let again = [journal.buffer(300), journal.buffer(300)];
        assert_eq!(
            again.each_ref().map(|b| b.as_ptr()),
            [second_block, third_block],
            "the dropped entries' buffers, emptied"
        );
        assert!(again.iter().all(Vec::is_empty));

        journal.record(entry(client, 204, 20_000));
        journal.record(entry(client, 205, 1));
        assert_eq!(
            journal.buffer(10).capacity(),
            1024,
            "a big buffer is not kept"
        );
    }

    #[test]
    fn a_spare_too_small_for_an_entry_is_passed_over_for_one_that_fits() {
        let journal = bounded_by_count(1);
        let client = ClientId::new_random();
        for body in [100, 2500, 1] {
            journal.record(entry(client, 200, body));
        }
        // Spares now: the 100-byte entry's (1 KiB) and the 2,500-byte one's (3 KiB).
        let fits = journal.buffer(2000);
        assert_eq!(fits.capacity(), 3072);
        assert_eq!(
            journal.buffer(2000).capacity(),
            2048,
            "none left: a new one"
        );
        assert_eq!(journal.buffer(10).capacity(), 1024, "the small spare");
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
}
