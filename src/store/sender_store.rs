//! The webhook sender's side of the outbox: one connection of its own, each step one
//! short transaction.

use rusqlite::{Connection, TransactionBehavior};

use super::Result;
use super::outbox::{self, Attempt, Claimed, Outcome};
use crate::model::Timestamp;

/// The outbox as the sender uses it.
pub struct Outbox {
    conn: Connection,
}

impl Outbox {
    pub(super) fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Whether a delivery is due for a subscription nobody holds: a read without the
    /// write lock, so that a sender with nothing to do never stands in the API's way.
    pub fn any_due(&self, now: Timestamp) -> Result<bool> {
        outbox::any_due(&self.conn, now)
    }

    /// Records finished attempts and claims up to `limit` due deliveries for `owner`, in
    /// one immediate transaction (the claim is what keeps two servers on one file from
    /// sending the same attempt).
    pub fn record_and_claim(
        &mut self,
        owner: &str,
        attempts: &[Attempt],
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<(Vec<Outcome>, Vec<Claimed>)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done = outbox::record_and_claim(&tx, owner, attempts, now, lease_until, limit)?;
        tx.commit()?;
        Ok(done)
    }

    /// Removes deliveries finished before `cutoff` (and their events), a bounded batch
    /// per transaction; how many went.
    pub fn prune(&mut self, cutoff: Timestamp) -> Result<usize> {
        const BATCH: usize = 1000;
        let mut total = 0;
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let removed = outbox::prune(&tx, cutoff, BATCH)?;
            tx.commit()?;
            total += removed;
            if removed < BATCH {
                return Ok(total);
            }
        }
    }
}
