//! The request journal (SPEC 12.1): what each client's requests sent and got back,
//! kept in memory, bounded by entries and by bytes, oldest dropped first.
//!
//! The HTTP layer reserves a range of a segment for an entry's text (under the lock:
//! a pointer moved), copies into it with no lock held, and hands the [`Entry`] over; the
//! lock is held again only to push it and drop the oldest ones, and to pick the entries
//! a query answers with. One stage a file: `segment` (the memory texts live in), `entry`
//! (an entry and its text), this ring, `view` (an entry as answered).

mod entry;
mod segment;
mod view;

pub use entry::{Entry, EntryText, REQUEST_BODY_BYTES, RESPONSE_BODY_BYTES, TextParts};
pub use segment::Reservation;
pub use view::{EntryView, text};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use segment::Segment;

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
    /// The size of a segment: a sixteenth of the byte bound (so that whole segments
    /// bound it closely), between 64 KiB and 1 MiB.
    segment_len: usize,
    ring: Mutex<Ring>,
    /// Whether the kernel has refused a segment yet (said once in the log).
    refused: AtomicBool,
}

/// An entry is its metadata in the ring and its text in a segment; the bound counts the
/// metadata and every segment the ring holds, whole (written or not).
const ENTRY_BYTES: usize = size_of::<Stored>();

#[derive(Default)]
struct Ring {
    entries: VecDeque<Stored>,
    /// Segments that hold entries or are being written, oldest first; texts are reserved
    /// in the last one.
    segments: VecDeque<Slot>,
    /// Bytes of the last segment reserved so far.
    used: usize,
    /// A segment given back, kept for the next one needed (mapping one costs a system
    /// call and a page fault for each of its pages).
    spare: Option<Arc<Segment>>,
    /// The bytes of every segment in `segments` and of `spare`.
    segment_bytes: usize,
    next_segment: u64,
    /// The id of the next entry kept (given under the lock: one count fewer that both
    /// workers change on every request).
    next_entry: u64,
}

struct Slot {
    id: u64,
    segment: Arc<Segment>,
    /// Entries of the ring whose text is in this segment.
    entries: usize,
}

impl Ring {
    fn bytes(&self) -> usize {
        self.segment_bytes + self.entries.len() * ENTRY_BYTES
    }

    /// The slot of segment `id`, or where it would go.
    fn slot(&mut self, id: u64) -> Result<&mut Slot, usize> {
        // Ids follow one another but where a segment given back came again.
        let guess = self
            .segments
            .front()
            .and_then(|f| usize::try_from(id.checked_sub(f.id)?).ok())
            .filter(|&at| self.segments.get(at).is_some_and(|s| s.id == id));
        let at = match guess {
            Some(at) => at,
            None => self.segments.binary_search_by_key(&id, |s| s.id)?,
        };
        Ok(&mut self.segments[at])
    }
}

/// The segments a change of the ring gave back, unmapped once the lock is released.
/// (An entry dropped is dropped under the lock: it owns no memory but its part of a
/// segment the ring still holds.)
#[derive(Default)]
struct Dropped {
    segments: Vec<Arc<Segment>>,
}

const MIN_SEGMENT: usize = 64 * 1024;
const MAX_SEGMENT: usize = 1024 * 1024;

impl Journal {
    pub fn new(limits: JournalLimits) -> Self {
        Self {
            limits,
            segment_len: (limits.bytes / 16)
                .clamp(MIN_SEGMENT, MAX_SEGMENT)
                .next_multiple_of(4096),
            ring: Mutex::new(Ring::default()),
            refused: AtomicBool::new(false),
        }
    }

    pub fn limits(&self) -> JournalLimits {
        self.limits
    }

    /// A range of `size` bytes for an entry's text, only the caller's to write: the rest
    /// of the segment being written when it has room, else a new segment (the oldest
    /// entries dropped if it takes the journal past its bound). `None` when the kernel has
    /// no memory for a segment: that request is not kept.
    pub fn reserve(&self, size: usize) -> Option<Reservation> {
        let mut dropped = Dropped::default();
        let reservation = {
            let mut ring = self.lock();
            let used = ring.used;
            let room = ring
                .segments
                .back()
                .filter(|last| last.segment.len() - used >= size)
                .map(|last| (last.segment.clone(), last.id));
            match room {
                Some((segment, id)) => {
                    ring.used += size;
                    Some(Reservation::new(segment, id, used, size))
                }
                None => self.next_segment(&mut ring, size, &mut dropped),
            }
        };
        drop(dropped);
        if reservation.is_none() && !self.refused.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                size,
                "request journal: no memory for its entries' text; requests are not kept"
            );
        }
        reservation
    }

    fn next_segment(
        &self,
        ring: &mut Ring,
        size: usize,
        dropped: &mut Dropped,
    ) -> Option<Reservation> {
        let segment = match ring.spare.take() {
            Some(spare) if size <= spare.len() => {
                ring.segment_bytes -= spare.len();
                spare
            }
            spare => {
                ring.spare = spare;
                // A text bigger than a segment gets one of its own size.
                Arc::new(Segment::map(size.max(self.segment_len))?)
            }
        };
        let id = ring.next_segment;
        ring.next_segment += 1;
        ring.segment_bytes += segment.len();
        ring.segments.push_back(Slot {
            id,
            segment: segment.clone(),
            entries: 0,
        });
        ring.used = size;
        self.trim(ring, dropped);
        Some(Reservation::new(segment, id, 0, size))
    }

    /// Keeps `entry`, dropping the oldest entries until both bounds hold again.
    pub fn record(&self, entry: Entry) {
        let mut dropped = Dropped::default();
        {
            let mut ring = self.lock();
            ring.next_entry += 1;
            let stored = Stored {
                id: ring.next_entry,
                entry,
            };
            let text = &stored.entry.text;
            match ring.slot(text.segment_id) {
                Ok(slot) => slot.entries += 1,
                // Given back while this text was written (its entries all dropped, which
                // only a bound far smaller than the traffic does): counted again.
                Err(at) => {
                    ring.segment_bytes += text.segment.len();
                    ring.segments.insert(
                        at,
                        Slot {
                            id: text.segment_id,
                            segment: text.segment.clone(),
                            entries: 1,
                        },
                    );
                }
            }
            ring.entries.push_back(stored);
            self.trim(&mut ring, &mut dropped);
        }
        drop(dropped);
    }

    /// Drops the oldest entries, and gives back the segments no entry is in any more,
    /// until both bounds hold.
    fn trim(&self, ring: &mut Ring, dropped: &mut Dropped) {
        loop {
            // Never the last: texts are being reserved in it.
            while ring.segments.len() > 1 && ring.segments.front().is_some_and(|s| s.entries == 0) {
                let Some(slot) = ring.segments.pop_front() else {
                    break;
                };
                ring.segment_bytes -= slot.segment.len();
                // Used again only if nothing else holds it: not a query that still reads
                // one of its entries, nor a text still being written into it.
                if ring.spare.is_none()
                    && slot.segment.len() == self.segment_len
                    && Arc::strong_count(&slot.segment) == 1
                {
                    ring.segment_bytes += slot.segment.len();
                    ring.spare = Some(slot.segment);
                } else {
                    dropped.segments.push(slot.segment);
                }
            }
            if ring.entries.len() <= self.limits.entries && ring.bytes() <= self.limits.bytes {
                return;
            }
            if ring.bytes() > self.limits.bytes
                && let Some(spare) = ring.spare.take()
            {
                ring.segment_bytes -= spare.len();
                dropped.segments.push(spare);
                continue;
            }
            let Some(oldest) = ring.entries.pop_front() else {
                return;
            };
            if let Ok(slot) = ring.slot(oldest.entry.text.segment_id) {
                slot.entries -= 1;
            }
            drop(oldest);
        }
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
        let mut dropped = Dropped::default();
        let mut count = 0;
        {
            let mut ring = self.lock();
            let (gone, kept): (VecDeque<Stored>, VecDeque<Stored>) =
                std::mem::take(&mut ring.entries)
                    .into_iter()
                    .partition(|s| s.entry.client == *client);
            ring.entries = kept;
            for stored in gone {
                if let Ok(slot) = ring.slot(stored.entry.text.segment_id) {
                    slot.entries -= 1;
                }
                count += 1;
                drop(stored);
            }
            self.trim(&mut ring, &mut dropped);
        }
        count
    }

    /// Entries and bytes held now, for `/metrics` and the tests of the bounds.
    pub fn held(&self) -> (usize, usize) {
        let ring = self.lock();
        (ring.entries.len(), ring.bytes())
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

    fn entry(journal: &Journal, client: ClientId, status: u16, body: usize) -> Entry {
        // Each status its own bytes, so that a text written over shows.
        let body = vec![b'a' + (status % 26) as u8; body];
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
                |size| journal.reserve(size),
                &parts,
                || [("host", &b"h"[..])].into_iter(),
            )
            .unwrap(),
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
            journal.record(entry(&journal, client, status, 0));
        }
        let statuses: Vec<u16> = journal
            .entries(&client, &all())
            .iter()
            .map(|s| s.entry.status)
            .collect();
        assert_eq!(statuses, [204, 203, 202]);
    }

    /// Where an entry's text is in memory.
    fn text_at(stored: &Stored) -> std::ops::Range<usize> {
        let bytes = stored.entry.text.bytes();
        bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len()
    }

    fn newest(journal: &Journal, client: &ClientId) -> Stored {
        journal.entries(client, &all()).remove(0)
    }

    #[test]
    fn texts_follow_one_another_and_a_segment_is_used_again_once_nothing_holds_it() {
        let journal = bounded_by_count(1);
        let client = ClientId::new_random();
        // About 60 KiB an entry: 17 to a segment of 1 MiB.
        let record = || journal.record(entry(&journal, client, 200, 60_000));
        record();
        let first = text_at(&newest(&journal, &client));
        record();
        let second = text_at(&newest(&journal, &client));
        assert_eq!(second.start, first.end, "written right after the first");
        let segment = first.start..first.start + MAX_SEGMENT;

        let in_segment = |at: &std::ops::Range<usize>| segment.contains(&at.start);
        let mut reused = None;
        for i in 0..40 {
            record();
            let at = text_at(&newest(&journal, &client));
            if i > 17 && in_segment(&at) {
                reused = Some(i);
                break;
            }
        }
        assert!(
            reused.is_some(),
            "the first segment, given back, was used again"
        );

        // A query holds an entry: its segment is not written over while it reads.
        let held = newest(&journal, &client);
        let held_text = held.entry.text.bytes().to_vec();
        for status in (0..80).filter(|s| s % 26 != 200 % 26) {
            journal.record(entry(&journal, client, status, 60_000));
        }
        assert_eq!(held.entry.text.bytes(), held_text);
        assert!(journal.held().1 <= 3 * MAX_SEGMENT, "{:?}", journal.held());
    }

    #[test]
    fn a_text_written_while_its_segment_was_given_back_is_kept_and_counted() {
        let journal = bounded_by_count(1);
        let client = ClientId::new_random();
        let slow = entry(&journal, client, 201, 60_000);
        let text = slow.text.bytes().to_vec();
        // Its segment fills, and every entry recorded in it goes.
        for _ in 0..40 {
            journal.record(entry(&journal, client, 200, 60_000));
        }
        let before = journal.held().1;
        journal.record(slow);
        let kept = newest(&journal, &client);
        assert_eq!(
            (kept.entry.status, kept.entry.text.bytes()),
            (201, &text[..])
        );
        assert_eq!(
            journal.held().1,
            before + MAX_SEGMENT,
            "its segment counted again"
        );
        journal.record(entry(&journal, client, 200, 60_000));
        assert_eq!(
            journal.held().1,
            before,
            "and given back with its last entry"
        );
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
            journal.record(entry(&journal, client, 200, (i % 7) * 10_000));
            assert!(journal.held().1 <= limit, "{:?}", journal.held());
        }
        let (count, bytes) = journal.held();
        assert!(
            count >= 3 && bytes > limit / 2,
            "{count} entries, {bytes} bytes"
        );
        assert_eq!(journal.clear(&client), count);
        let (count, bytes) = journal.held();
        assert_eq!(count, 0);
        assert!(
            bytes <= 2 * MIN_SEGMENT,
            "the segment written into and a spare: {bytes}"
        );
    }

    #[test]
    fn a_client_sees_and_clears_only_its_own_entries() {
        let journal = Journal::new(JournalLimits::default());
        let (a, b) = (ClientId::new_random(), ClientId::new_random());
        journal.record(entry(&journal, a, 200, 1));
        journal.record(entry(&journal, b, 404, 1));
        journal.record(entry(&journal, a, 500, 1));
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
