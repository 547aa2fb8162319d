//! The webhook sender (SPEC 10.3): reads due deliveries from the outbox, sends each
//! signed, and writes every attempt back. Neither HTTP server nor store: it uses the
//! store, and runs beside the server on threads of its own, so a dead or slow receiver
//! never holds an HTTP worker or a write.
//!
//! One thread owns the outbox connection and decides; a small tokio runtime makes the
//! requests. An attempt's end comes back to the thread as a message, and is written
//! together with the next claim in one write, through the API's writer (one writer per
//! process: the sender and the API never wait for each other on SQLite's lock). A claim
//! takes a chain of a subscription's due deliveries, sent one after another, so one
//! write records many attempts. The claim is a lease on the
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
use crate::store::{Attempt, Claimed, OnCommit, Outbox, Outcome, Store, Writer};

/// How often the sender looks for due work when nothing rang: retries coming due, and
/// deliveries another process made.
const POLL: Duration = Duration::from_millis(200);
/// The sender writes (records attempts, claims) at most once per this: each write is a
/// commit in the API's writer, and under load one write then carries many attempts and
/// claims long chains, instead of a commit per attempt crowding out the API's writes.
const STEP_GAP: Duration = Duration::from_millis(10);
/// Subscriptions with a request in flight at once, at most.
const MAX_IN_FLIGHT: usize = 256;
/// A claim's chain starts no attempt after running this long.
const CHAIN_TIME: Duration = Duration::from_millis(500);
/// A lease outlives its chain's longest run (`CHAIN_TIME` and one attempt's timeout) by
/// this much before another sender may take the subscription over.
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
    /// A claim's chain ended: its attempts, in order.
    Finished(Vec<Attempt>),
}

/// The sender before it runs. Its bell comes first: the writer it rings after each
/// commit is also the writer the sender records its attempts through.
pub struct Sender {
    bell: mpsc::Sender<Signal>,
    signals: mpsc::Receiver<Signal>,
}

impl Sender {
    pub fn new() -> Self {
        let (bell, signals) = mpsc::channel();
        Self { bell, signals }
    }

    /// What the writer calls after each commit.
    pub fn on_commit(&self) -> OnCommit {
        let bell = self.bell.clone();
        Arc::new(move || {
            let _ = bell.send(Signal::Wake);
        })
    }

    /// Starts sending from `store`'s outbox, writing through `writer`; it runs until the
    /// process ends.
    pub fn start(
        self,
        store: &Store,
        writer: Writer,
        options: SenderOptions,
        metrics: DeliveryMetrics,
    ) -> anyhow::Result<()> {
        let outbox = store
            .outbox(writer)
            .context("the webhook sender cannot open the database")?;
        let client = attempt::client(options.timeout).context("cannot build the HTTP client")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("contactd-webhook-io")
            .on_thread_start(crate::background::yield_to_the_api)
            .enable_all()
            .build()
            .context("cannot start the webhook sender's runtime")?;
        let Self { bell, signals } = self;
        thread::Builder::new()
            .name("contactd-webhooks".to_owned())
            .spawn(move || {
                crate::background::yield_to_the_api();
                SendLoop {
                    outbox,
                    client,
                    runtime,
                    options,
                    metrics,
                    owner: uuid::Uuid::new_v4().to_string(),
                    bell,
                    finished: Vec::new(),
                    in_flight: 0,
                }
                .run(signals)
            })
            .context("cannot start the webhook sender's thread")?;
        Ok(())
    }
}

impl Default for Sender {
    fn default() -> Self {
        Self::new()
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
        let mut next_step = Instant::now();
        loop {
            let wait = if look || !self.finished.is_empty() {
                next_step.saturating_duration_since(Instant::now())
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
            if (look || !self.finished.is_empty()) && Instant::now() >= next_step {
                next_step = Instant::now() + STEP_GAP;
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
            Signal::Finished(attempts) => {
                self.in_flight -= 1;
                self.finished.extend(attempts);
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
        let lease = self.options.timeout + CHAIN_TIME + LEASE_MARGIN;
        // Should this write fail, these records go with it: their leases run out and the
        // deliveries, still pending, are attempted again (at least once).
        let finished = std::mem::take(&mut self.finished);
        let step = self
            .outbox
            .record_and_claim(self.owner.clone(), finished, lease, room)?;
        for (attempt, outcome) in step.recorded {
            log_attempt(&attempt, outcome);
            if outcome != Outcome::Unchanged {
                self.metrics
                    .deliveries
                    .with_label_values(&[attempt.claimed.topic.as_str(), outcome.as_str()])
                    .inc();
            }
        }
        for chain in step.claimed {
            self.spawn(chain);
        }
        Ok(())
    }

    /// Sends one subscription's chain, one request at a time and in order. It stops at
    /// the first failure (the rest stay pending for the next claim, so a failing receiver
    /// gets one request per claim) and once it has run for `CHAIN_TIME`, so that results
    /// are written often and a lease is never held long.
    fn spawn(&mut self, chain: Vec<Claimed>) {
        self.in_flight += 1;
        let client = self.client.clone();
        let bell = self.bell.clone();
        let timeout = self.options.timeout;
        let schedule = self.options.schedule.clone();
        let duration = self.metrics.attempt_duration.clone();
        self.runtime.spawn(async move {
            let chain_started = Instant::now();
            let mut attempts = Vec::with_capacity(chain.len());
            for claimed in chain {
                let at = Timestamp::now();
                let started = Instant::now();
                let answer = attempt::send(&client, &claimed, at.as_millis(), timeout).await;
                let response_time = started.elapsed();
                duration.observe(response_time.as_secs_f64());
                let retry_after = answer.error.as_ref().and_then(|_| {
                    schedule.after(claimed.attempts + 1, fastrand::f64() * 2.0 - 1.0)
                });
                let failed = answer.error.is_some();
                attempts.push(Attempt {
                    claimed,
                    at,
                    response_status: answer.status,
                    response_time,
                    error: answer.error,
                    retry_after,
                });
                if failed || chain_started.elapsed() >= CHAIN_TIME {
                    break;
                }
            }
            let _ = bell.send(Signal::Finished(attempts));
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
