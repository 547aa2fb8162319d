//! `GET /metrics`: Prometheus text format, through the `prometheus` crate.
//!
//! Requests are labelled by route template (`/api/public/contact/{aiContactId}/info`),
//! never by raw path, so contact ids cannot blow up the label set; methods outside the
//! standard set share one label, so invented ones cannot either. Every label has a
//! fixed, small set of values: nobody without a key can grow this registry.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::journal::Journal;
use crate::store::{Store, StoreError};
use crate::webhooks::DeliveryMetrics;

/// The label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// Latency buckets, in seconds: the endpoint answers in tens of microseconds when all
/// is well, so the low end is fine-grained; the top reaches past the header timeout and
/// an injected delay, so a stalled request shows as what it was, not as "over 1 s".
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// The label of a method outside the standard set.
const OTHER_METHOD: &str = "OTHER";

/// A method as labelled: the standard ones as themselves, anything else as `OTHER`.
fn method_label(method: &str) -> &str {
    const STANDARD: &[&str] = &[
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or(OTHER_METHOD)
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    contacts: IntGauge,
    live_keys: IntGauge,
    pending_deliveries: IntGauge,
    journal_entries: IntGauge,
    journal_bytes: IntGauge,
}

impl Metrics {
    pub fn new(deliveries: &DeliveryMetrics) -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("contactd".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route template, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer, by route template and status",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "status"],
        )?;
        let pool_connections = IntGauge::new(
            "db_pool_connections",
            "Open connections in the database pool",
        )?;
        let pool_idle = IntGauge::new(
            "db_pool_idle_connections",
            "Idle connections in the database pool",
        )?;
        let contacts = IntGauge::new("contacts", "Contacts stored")?;
        let live_keys = IntGauge::new("api_keys_live", "API keys stored and not revoked")?;
        let pending_deliveries = IntGauge::new(
            "webhook_pending",
            "Webhook deliveries waiting for an attempt or a retry",
        )?;
        let journal_entries = IntGauge::new(
            "journal_entries",
            "Requests the request journal holds, all clients together",
        )?;
        let journal_bytes = IntGauge::new(
            "journal_bytes",
            "Memory the request journal's entries take, in bytes",
        )?;
        registry.register(Box::new(journal_entries.clone()))?;
        registry.register(Box::new(journal_bytes.clone()))?;
        registry.register(Box::new(pending_deliveries.clone()))?;
        registry.register(Box::new(deliveries.deliveries.clone()))?;
        registry.register(Box::new(deliveries.attempt_duration.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(contacts.clone()))?;
        registry.register(Box::new(live_keys.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            contacts,
            live_keys,
            pending_deliveries,
            journal_entries,
            journal_bytes,
        })
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        let status = status.to_string();
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route, status.as_str()])
            .observe(seconds);
    }

    /// Reads the gauges from the database (a blocking call) and the journal, and renders
    /// everything.
    pub fn render(&self, store: &Store, journal: Option<&Journal>) -> Result<String, StoreError> {
        let (entries, bytes) = journal.map_or((0, 0), Journal::held);
        self.journal_entries.set(entries as i64);
        self.journal_bytes.set(bytes as i64);
        let pool = store.pool_state();
        self.pool_connections.set(i64::from(pool.connections));
        self.pool_idle.set(i64::from(pool.idle_connections));
        let counts = store.counts()?;
        self.contacts.set(counts.contacts);
        self.live_keys.set(counts.live_keys);
        self.pending_deliveries.set(counts.pending_deliveries);
        let mut text = Vec::new();
        // Encoding plain counters into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("get"), "OTHER");
        assert_eq!(method_label("FROBNICATE"), "OTHER");
    }
}
