//! The API's writes (SPEC 7.5–7.7): one thread with one connection, group commit.
//!
//! SQLite lets one connection write at a time, so writes from every HTTP worker — and
//! the webhook sender's records of its attempts — queue here instead of contending for
//! the lock (a connection that finds the lock taken sleeps in SQLite's busy handler, up
//! to 100 ms a turn, which no queue ever does). The thread takes every write waiting, runs
//! them in one transaction, each in a savepoint of its own (a write that fails is undone
//! alone), and commits once: the commit's fsync is shared by the whole batch. A request
//! is answered only after the commit holding its write has returned, and this
//! connection commits with `synchronous = FULL`, so an acknowledged write survives a
//! crash of the process and a loss of power alike (RELIABILITY.md).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::outbox::{self, RetryWrite};
use super::webhooks::{self, WebhookWrite};
use super::{Result, StoreError, contacts, conversation, tickets};
use crate::model::{
    ClientId, ContactId, CustomerUpsert, DeliveryId, InboundMessage, MergeError, Message,
    MessageId, MetadataPatch, NewWebhook, SessionMessage, TicketId, TicketOpen, TicketTarget,
    Timestamp, WebhookChange, WebhookId,
};

/// Called after every commit of a batch of writes: the webhook sender's bell, so that a
/// new event's deliveries go out at once rather than at its next look.
pub type OnCommit = Arc<dyn Fn() + Send + Sync>;

/// Writes that may wait for the thread; past this, requests wait to enqueue.
const QUEUE_DEPTH: usize = 1024;
/// Writes per transaction at most, so one commit never holds the lock for long.
const MAX_BATCH: usize = 512;

/// What a metadata write did.
#[derive(Debug, PartialEq, Eq)]
pub enum MetadataWrite {
    Written,
    ContactNotFound,
    TicketNotFound,
    /// The merged metadata would be `bytes` long, over the bound; nothing was written.
    TooLarge {
        bytes: usize,
    },
}

impl From<MergeError> for MetadataWrite {
    fn from(e: MergeError) -> Self {
        match e {
            MergeError::TooLarge { bytes } => Self::TooLarge { bytes },
        }
    }
}

/// A handle on the writer thread; cheap to clone. The thread ends when the last handle
/// is dropped, after the writes already queued.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    pub(super) fn start(conn: Connection, on_commit: Option<OnCommit>) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        thread::Builder::new()
            .name("contactd-writer".to_owned())
            .spawn(move || run(conn, jobs, on_commit))?;
        Ok(Self { queue })
    }

    /// Merges `patch` into the metadata of `client`'s contact `id` (SPEC 7.5).
    pub async fn update_contact_metadata(
        &self,
        client: ClientId,
        id: ContactId,
        patch: MetadataPatch,
    ) -> Result<MetadataWrite> {
        self.submit(move |conn| contacts::update_metadata(conn, &client, &id, &patch, now()))
            .await
    }

    /// Merges `patch` into the metadata of the ticket `target` names (SPEC 7.6).
    pub async fn update_ticket_metadata(
        &self,
        client: ClientId,
        target: TicketTarget,
        allow_closed_ticket: bool,
        patch: MetadataPatch,
    ) -> Result<MetadataWrite> {
        self.submit(move |conn| {
            let Some(ticket) = tickets::resolve(conn, &client, &target, allow_closed_ticket)?
            else {
                return Ok(match target {
                    TicketTarget::Ticket(_) => MetadataWrite::TicketNotFound,
                    _ if tickets::target_contact_exists(conn, &client, &target)? => {
                        MetadataWrite::TicketNotFound
                    }
                    _ => MetadataWrite::ContactNotFound,
                });
            };
            tickets::update_metadata(conn, &ticket, &patch, now())
        })
        .await
    }

    /// Finds or makes a contact and updates it (SPEC 11.1); the contact and whether it was
    /// made.
    pub async fn upsert_customer(
        &self,
        client: ClientId,
        request: CustomerUpsert,
    ) -> Result<(ContactId, bool)> {
        self.submit(move |conn| conversation::upsert_customer(conn, &client, &request, now()))
            .await
    }

    /// Opens a ticket, or moves the active one, with a first message (SPEC 11.2).
    pub async fn open_ticket(&self, client: ClientId, request: TicketOpen) -> Result<ContactId> {
        self.submit(move |conn| conversation::open_ticket(conn, &client, &request, now()))
            .await
    }

    /// Sends a text inside the contact's 24-hour window (SPEC 11.3).
    pub async fn send_session_message(
        &self,
        client: ClientId,
        request: SessionMessage,
    ) -> Result<MessageId> {
        self.submit(move |conn| conversation::send_session_message(conn, &client, &request, now()))
            .await
    }

    /// The customer writes (SPEC 11.4); the message as stored.
    pub async fn inbound_message(
        &self,
        client: ClientId,
        contact: ContactId,
        request: InboundMessage,
    ) -> Result<Message> {
        self.submit(move |conn| {
            conversation::inbound_message(conn, &client, &contact, &request, now())
        })
        .await
    }

    /// An agent closes a ticket (SPEC 11.4).
    pub async fn close_ticket(&self, client: ClientId, ticket: TicketId) -> Result<()> {
        self.submit(move |conn| conversation::close_ticket(conn, &client, &ticket, now()))
            .await
    }

    /// Creates a subscription for `client` (SPEC 10.1).
    pub async fn create_webhook(&self, client: ClientId, new: NewWebhook) -> Result<WebhookWrite> {
        self.submit(move |conn| webhooks::create(conn, &client, &new, now()))
            .await
    }

    /// Changes a live subscription; made inactive, its pending deliveries are cancelled.
    pub async fn update_webhook(
        &self,
        client: ClientId,
        id: WebhookId,
        change: WebhookChange,
    ) -> Result<WebhookWrite> {
        self.submit(move |conn| webhooks::update(conn, &client, &id, &change, now()))
            .await
    }

    /// Deletes a subscription softly and cancels its pending deliveries.
    pub async fn delete_webhook(&self, client: ClientId, id: WebhookId) -> Result<WebhookWrite> {
        self.submit(move |conn| webhooks::delete(conn, &client, &id, now()))
            .await
    }

    /// Makes a deleted subscription live again.
    pub async fn restore_webhook(&self, client: ClientId, id: WebhookId) -> Result<WebhookWrite> {
        self.submit(move |conn| webhooks::restore(conn, &client, &id, now()))
            .await
    }

    /// Queues a delivery for an attempt now.
    pub async fn retry_delivery(&self, client: ClientId, id: DeliveryId) -> Result<RetryWrite> {
        self.submit(move |conn| outbox::retry(conn, &client, &id, now()))
            .await
    }

    /// Runs `work` in the next batch from a thread outside any async runtime (the
    /// webhook sender's), and waits for its commit.
    pub(super) fn submit_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .blocking_send(Box::new(Queued { work, reply }))
            .map_err(|_| StoreError::WriterStopped)?;
        answer
            .blocking_recv()
            .map_err(|_| StoreError::WriterStopped)?
    }

    async fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Box::new(Queued { work, reply }))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// The time a write happens: read on the writer thread, so later commits never carry
/// earlier times (unless the clock itself goes back).
fn now() -> Timestamp {
    Timestamp::now()
}

fn run(conn: Connection, mut jobs: mpsc::Receiver<Box<dyn Job>>, on_commit: Option<OnCommit>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, batch);
        if let Some(on_commit) = &on_commit {
            on_commit();
        }
    }
}

/// Runs `batch` in one transaction and answers every write in it once the commit is in.
fn run_batch(conn: &Connection, batch: Vec<Box<dyn Job>>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        super::maintenance::note_damage(&e);
        let e = Arc::new(e);
        for job in batch {
            job.abandon(e.clone());
        }
        return;
    }
    let done: Vec<_> = batch.into_iter().map(|job| job.run(conn)).collect();
    let committed = conn.execute_batch("COMMIT").map_err(|e| {
        // A failed COMMIT may leave the transaction open; end it so nothing half-done
        // stays, and so the next batch can begin.
        let _ = conn.execute_batch("ROLLBACK");
        super::maintenance::note_damage(&e);
        Arc::new(e)
    });
    for job in done {
        job.answer(committed.clone());
    }
}

/// One queued write, as the writer thread sees it.
trait Job: Send {
    /// Runs the write inside the batch's transaction, in a savepoint of its own.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Done>;
    /// The batch's transaction could not begin: the write did not run.
    fn abandon(self: Box<Self>, cause: Arc<rusqlite::Error>);
}

/// A write that ran, waiting for its batch's commit before it answers.
trait Done: Send {
    fn answer(self: Box<Self>, committed: Result<(), Arc<rusqlite::Error>>);
}

struct Queued<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T>>,
}

struct Ran<T> {
    result: Result<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, T> Job for Queued<F, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Done> {
        let result = in_savepoint(conn, self.work);
        Box::new(Ran {
            result,
            reply: self.reply,
        })
    }

    fn abandon(self: Box<Self>, cause: Arc<rusqlite::Error>) {
        // The requester may have gone (client disconnected); nothing to tell then.
        let _ = self.reply.send(Err(StoreError::Transaction(cause)));
    }
}

impl<T: Send> Done for Ran<T> {
    fn answer(self: Box<Self>, committed: Result<(), Arc<rusqlite::Error>>) {
        let result = match committed {
            Ok(()) => self.result,
            Err(cause) => self.result.and(Err(StoreError::Transaction(cause))),
        };
        let _ = self.reply.send(result);
    }
}

/// Runs `work` in a savepoint: released when it returns `Ok`, rolled back when it fails,
/// so a failed write leaves the batch's other writes and the database as they were.
fn in_savepoint<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT api_write")?;
    // A bug in one write must not take the thread, and every later write, with it.
    let result =
        catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or(Err(StoreError::WritePanicked));
    let end = match result {
        Ok(_) => "RELEASE api_write",
        Err(_) => "ROLLBACK TO api_write; RELEASE api_write",
    };
    conn.execute_batch(end)?;
    result
}
