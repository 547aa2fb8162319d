//! The webhook sender's side of the outbox: reads on a connection of its own, writes
//! through the API's writer, in the same group-committed batches as the API's writes.

use std::time::Duration;

use rusqlite::Connection;

use super::Result;
use super::outbox::{self, Attempt, Step};
use super::writer::Writer;
use crate::model::Timestamp;

/// The outbox as the sender uses it.
pub struct Outbox {
    conn: Connection,
    writer: Writer,
}

impl Outbox {
    pub(super) fn new(conn: Connection, writer: Writer) -> Self {
        Self { conn, writer }
    }

    /// Whether a delivery is due for a subscription nobody holds: a read without the
    /// write lock, so that a sender with nothing to do never stands in the API's way.
    pub fn any_due(&self, now: Timestamp) -> Result<bool> {
        outbox::any_due(&self.conn, now)
    }

    /// Records finished attempts and claims up to `limit` subscriptions with deliveries
    /// due for `owner`, leased for `lease` from the claim, in one write (the claim is what
    /// keeps two servers on one file from sending the same attempt). Answers each
    /// attempt with where it left its delivery, and the claims: per subscription, its
    /// due deliveries in the order they are to be sent.
    pub fn record_and_claim(
        &self,
        owner: String,
        attempts: Vec<Attempt>,
        lease: Duration,
        limit: usize,
    ) -> Result<Step> {
        self.writer.submit_blocking(move |conn| {
            let now = Timestamp::now();
            let lease_until = now.shifted(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
            outbox::record_and_claim(conn, &owner, attempts, now, lease_until, limit)
        })
    }

    /// Removes deliveries finished before `cutoff` (and their events), a bounded batch
    /// per write so the API's writes are never held up for long; how many went.
    pub fn prune(&self, cutoff: Timestamp) -> Result<usize> {
        const BATCH: usize = 500;
        let mut total = 0;
        loop {
            let removed = self
                .writer
                .submit_blocking(move |conn| outbox::prune(conn, cutoff, BATCH))?;
            total += removed;
            if removed < BATCH {
                return Ok(total);
            }
        }
    }
}
