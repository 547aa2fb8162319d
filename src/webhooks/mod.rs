//! The webhook sender (SPEC 10.3): reads due deliveries from the outbox, sends each
//! signed, and writes every attempt back. Neither HTTP server nor store: it uses the
//! store, and runs beside the server on threads of its own, so a dead or slow receiver
//! never holds an HTTP worker or a write.
//!
//! One thread owns the outbox connection and decides; a small tokio runtime makes the
//! requests. An attempt's end comes back to the thread as a message, and is written
//! together with the next claim in one transaction. The claim is a lease on the
//! subscription in the database file, so one subscription has at most one request in
//! flight, across servers too; a lease a dead server left runs out after the timeout and
//! a margin, and its delivery, still pending, is attempted again (at least once).

mod attempt;
mod signature;

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts};

use crate::model::{RetrySchedule, Timestamp, WebhookId};
use crate::store::{Attempt, Claimed, OnCommit, Outbox, Outcome, Store};

/// How often the sender looks for due work when nothing rang: retries coming due, and
/// deliveries another process made.
const POLL: Duration = Duration::from_millis(200);
/// Subscriptions with a request in flight at once, at most.
const MAX_IN_FLIGHT: usize = 256;
/// A lease outlives its attempt's timeout by this much before another sender may take
/// the subscription over.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How often finished deliveries past retention are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// After a failed database step, the sender waits this long before the next.
const BACKOFF: Duration = Duration::from_millis(500);

/// How the sender sends.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// A whole attempt, connection to last byte read, within this.
    pub timeout: Duration,
    pub schedule: RetrySchedule,
    /// Delivered, failed and cancelled deliveries are removed this long after they ended.
    pub retention: Duration,
}

/// The sender's counters, served on `/metrics` (the pending gauge is read from the
/// database there).
#[derive(Clone)]
pub struct DeliveryMetrics {
    pub deliveries: IntCounterVec,
    pub attempt_duration: Histogram,
}

impl DeliveryMetrics {
    pub fn new() -> prometheus::Result<Self> {
        Ok(Self {
            deliveries: IntCounterVec::new(
                Opts::new(
                    "webhook_deliveries_total",
                    "Webhook attempts by topic and what became of the delivery",
                ),
                &["topic", "outcome"],
            )?,
            attempt_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "webhook_attempt_duration_seconds",
                    "Time from sending a webhook attempt to its end",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ]),
            )?,
        })
    }

    /// Deliveries of `topic` cancelled by a subscription's change.
    pub fn cancelled(&self, topic: &str, count: usize) {
        self.deliveries
            .with_label_values(&[topic, "cancelled"])
            .inc_by(count as u64);
    }
}

enum Signal {
    /// Something was committed: there may be new deliveries.
    Wake,
    Finished(Box<Attempt>),
}

/// A running sender; dropping it leaves it running until the process ends.
pub struct Sender {
    bell: mpsc::Sender<Signal>,
}

impl Sender {
    /// Starts the sender over `store`'s outbox.
    pub fn start(
        store: &Store,
        options: SenderOptions,
        metrics: DeliveryMetrics,
    ) -> anyhow::Result<Self> {
        let outbox = store
            .outbox()
            .context("the webhook sender cannot open the database")?;
        let client = attempt::client(options.timeout).context("cannot build the HTTP client")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("contactd-webhook-io")
            .enable_all()
            .build()
            .context("cannot start the webhook sender's runtime")?;
        let (bell, signals) = mpsc::channel();
        let loop_bell = bell.clone();
        thread::Builder::new()
            .name("contactd-webhooks".to_owned())
            .spawn(move || {
                SendLoop {
                    outbox,
                    client,
                    runtime,
                    options,
                    metrics,
                    owner: uuid::Uuid::new_v4().to_string(),
                    bell: loop_bell,
                    finished: Vec::new(),
                    in_flight: 0,
                }
                .run(signals)
            })
            .context("cannot start the webhook sender's thread")?;
        Ok(Self { bell })
    }

    /// What the writer calls after each commit.
    pub fn on_commit(&self) -> OnCommit {
        let bell = self.bell.clone();
        Arc::new(move || {
            let _ = bell.send(Signal::Wake);
        })
    }
}

struct SendLoop {
    outbox: Outbox,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    options: SenderOptions,
    metrics: DeliveryMetrics,
    /// This sender's name on its leases.
    owner: String,
    bell: mpsc::Sender<Signal>,
    /// Attempts ended and not yet written.
    finished: Vec<Attempt>,
    in_flight: usize,
}

impl SendLoop {
    fn run(mut self, signals: mpsc::Receiver<Signal>) {
        let mut look = true;
        let mut next_prune = Instant::now();
        loop {
            let wait = if look || !self.finished.is_empty() {
                Duration::ZERO
            } else {
                POLL
            };
            match signals.recv_timeout(wait) {
                Ok(signal) => look |= self.take(signal),
                Err(RecvTimeoutError::Timeout) => look = true,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(signal) = signals.try_recv() {
                look |= self.take(signal);
            }
            if look || !self.finished.is_empty() {
                match self.step() {
                    Ok(()) => look = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook sender: database step failed; retrying");
                        thread::sleep(BACKOFF);
                    }
                }
            }
            if Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                self.prune();
            }
        }
    }

    /// Takes one signal in; true when it may have made work due.
    fn take(&mut self, signal: Signal) -> bool {
        match signal {
            Signal::Wake => true,
            Signal::Finished(attempt) => {
                self.in_flight -= 1;
                self.finished.push(*attempt);
                true
            }
        }
    }

    /// Writes the finished attempts and claims what is due, then sends it.
    fn step(&mut self) -> crate::store::Result<()> {
        let now = Timestamp::now();
        let room = MAX_IN_FLIGHT - self.in_flight;
        if self.finished.is_empty() && (room == 0 || !self.outbox.any_due(now)?) {
            return Ok(());
        }
        let lease = self.options.timeout + LEASE_MARGIN;
        let lease_until = now.shifted(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let (outcomes, claimed) =
            self.outbox
                .record_and_claim(&self.owner, &self.finished, now, lease_until, room)?;
        for (attempt, outcome) in self.finished.drain(..).zip(outcomes) {
            log_attempt(&attempt, outcome);
            if outcome != Outcome::Unchanged {
                self.metrics
                    .deliveries
                    .with_label_values(&[attempt.claimed.topic.as_str(), outcome.as_str()])
                    .inc();
            }
        }
        for claimed in claimed {
            self.spawn(claimed);
        }
        Ok(())
    }

    fn spawn(&mut self, claimed: Claimed) {
        self.in_flight += 1;
        let client = self.client.clone();
        let bell = self.bell.clone();
        let timeout = self.options.timeout;
        let schedule = self.options.schedule.clone();
        let duration = self.metrics.attempt_duration.clone();
        self.runtime.spawn(async move {
            let at = Timestamp::now();
            let started = Instant::now();
            let answer = attempt::send(&client, &claimed, at.as_millis(), timeout).await;
            let response_time = started.elapsed();
            duration.observe(response_time.as_secs_f64());
            let retry_after = answer
                .error
                .as_ref()
                .and_then(|_| schedule.after(claimed.attempts + 1, fastrand::f64() * 2.0 - 1.0));
            let attempt = Attempt {
                claimed,
                at,
                response_status: answer.status,
                response_time,
                error: answer.error,
                retry_after,
            };
            let _ = bell.send(Signal::Finished(Box::new(attempt)));
        });
    }

    fn prune(&mut self) {
        let retention = i64::try_from(self.options.retention.as_millis()).unwrap_or(i64::MAX);
        match self.outbox.prune(Timestamp::now().shifted(-retention)) {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "removed webhook deliveries past retention"),
            Err(e) => tracing::warn!(error = %e, "webhook retention: pruning failed"),
        }
    }
}

fn log_attempt(attempt: &Attempt, outcome: Outcome) {
    let c = &attempt.claimed;
    let webhook: &WebhookId = &c.webhook;
    match (&attempt.error, outcome) {
        (None, _) => tracing::debug!(
            delivery = %c.delivery, %webhook, topic = %c.topic, url = %c.url,
            status = attempt.response_status, "webhook delivered"
        ),
        (Some(error), Outcome::Failed) => tracing::warn!(
            delivery = %c.delivery, %webhook, topic = %c.topic, url = %c.url,
            attempts = c.attempts + 1, %error, "webhook delivery failed for good"
        ),
        (Some(error), _) => tracing::debug!(
            delivery = %c.delivery, %webhook, topic = %c.topic, url = %c.url,
            attempts = c.attempts + 1, %error, "webhook attempt failed"
        ),
    }
}
