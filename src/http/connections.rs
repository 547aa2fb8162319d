//! Connections that never sent a whole request. When the first request head does not
//! arrive within `--request-timeout`, actix answers 408 and closes the connection itself,
//! before any request exists for the middleware to log and count. A watch kept with each
//! connection tells at its end: no request was read, and it stayed open for the timeout
//! (actix's head timer starts with the connection, so only a connection cut by it does,
//! or one its client left open, silent, until within half a second of the timeout).

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::web;

use super::metrics::{Metrics, UNMATCHED_ROUTE};

/// actix sets the head timer from its cached clock, which ticks every 500 ms: the 408
/// comes up to this much before the timeout has passed.
const CLOCK_TICK: Duration = Duration::from_millis(500);

pub struct ConnectionWatch {
    opened: Instant,
    requests: Cell<u64>,
    peer: Option<SocketAddr>,
    timeout: Duration,
    metrics: web::Data<Metrics>,
}

impl ConnectionWatch {
    pub fn new(peer: Option<SocketAddr>, timeout: Duration, metrics: web::Data<Metrics>) -> Self {
        Self {
            opened: Instant::now(),
            requests: Cell::new(0),
            peer,
            timeout,
            metrics,
        }
    }

    /// A request head was read on this connection.
    pub fn saw_request(&self) {
        self.requests.set(self.requests.get() + 1);
    }
}

impl Drop for ConnectionWatch {
    fn drop(&mut self) {
        let open = self.opened.elapsed();
        if self.requests.get() > 0 || open < self.timeout.saturating_sub(CLOCK_TICK) {
            return;
        }
        self.metrics
            .observe(UNMATCHED_ROUTE, "-", 408, open.as_secs_f64());
        let client_addr = self
            .peer
            .map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
        let latency_ms = (open.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        tracing::info!(
            route = UNMATCHED_ROUTE,
            status = 408,
            latency_ms,
            %client_addr,
            "request: no whole request head within the request timeout; answered 408 and closed"
        );
    }
}
