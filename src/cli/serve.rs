//! `contactd serve`: workers and pool, the listening socket, the data, the server.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use super::{ServeArgs, open, output};
use crate::fixtures;
use crate::http::{self, RequestLimits, ServerOptions};
use crate::journal::JournalLimits;
use crate::live_demo;
use crate::progress::{Progress, Show};
use crate::store::StoreOptions;
use crate::webhooks;

/// Connections the pool keeps beyond one per worker: for readiness checks, metrics and
/// other work that runs off the workers.
const SPARE_CONNECTIONS: u32 = 4;

/// Connections beyond the workers' own: the spares, and one per query thread.
fn spare(workers: usize) -> u32 {
    SPARE_CONNECTIONS + http::query_threads(workers) as u32
}

/// Workers and pool size: either may be derived from the other; only an explicit pair
/// that contradicts itself is refused.
fn workers_and_pool(workers: Option<u16>, pool: Option<u32>) -> anyhow::Result<(usize, u32)> {
    let cores = || std::thread::available_parallelism().map_or(2, |n| n.get());
    Ok(match (workers.map(u32::from), pool) {
        (Some(w), Some(p)) if p <= w => bail!(
            "--pool-size (CONTACTD_POOL_SIZE) is {p} but must be more than the {w} workers \
             (--workers, CONTACTD_WORKERS): each worker keeps a connection"
        ),
        (Some(w), Some(p)) => (w as usize, p),
        (Some(w), None) => (w as usize, w + spare(w as usize)),
        (None, Some(p)) => (cores().min(p as usize - 1), p),
        (None, None) => {
            let w = cores().min(512);
            (w, w as u32 + spare(w))
        }
    })
}

pub(super) fn serve(db: PathBuf, args: ServeArgs) -> anyhow::Result<()> {
    let (workers, pool_size) = workers_and_pool(args.workers, args.pool_size)?;
    // The address is taken before the database is touched: a bad or busy address must
    // not cost a load of the demo data whose key is printed only on the first start.
    let sockets = reserve(&args.bind)?;
    let store_options = StoreOptions {
        path: db,
        pool_size,
    };
    let store = open(&store_options)?;
    // The banner goes to stdout; a server whose stdout was closed still serves.
    let note = |text: String| {
        let _ = output::line(format_args!("{text}"));
    };
    note(format!("database: {}", store_options.path.display()));

    let mut sample = None;
    if !args.fixtures.is_empty() {
        // Shown as `fixtures load` shows it, and gone before the port opens.
        let progress = Progress::new("fixtures load", Show::for_stderr(false));
        let sources = fixtures::read_sources(
            &args.fixtures,
            args.fixture_limits.max_fixture_bytes,
            &progress,
        )?;
        let summary = fixtures::load(&store, sources, &progress);
        drop(progress);
        note(format!("loaded {}", summary?));
    } else if !args.no_demo && store.is_empty()? {
        let summary = fixtures::load_demo(&store).context("the bundled demo data does not load")?;
        note(format!("new database: loaded the demo data, {summary}"));
        sample = summary.sample;
    }

    let options = ServerOptions {
        workers,
        cors_origins: args.cors_origins.clone(),
        request_timeout: Duration::from_secs(args.request_timeout),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        auth_failures_per_minute: args.auth_failures_per_minute,
        limits: RequestLimits {
            max_url_bytes: args.max_url_bytes as usize,
            max_header_bytes: args.max_header_bytes as usize,
            max_body_bytes: args.max_body_bytes,
            body_timeout: Duration::from_secs(args.request_timeout),
        },
        console: args.console && !args.no_console,
        journal: (!args.no_journal).then(|| JournalLimits {
            entries: args.journal_size as usize,
            bytes: args.journal_memory as usize * 1024 * 1024,
        }),
        sandbox: args.sandbox && !args.no_sandbox,
    };
    if !options.sandbox {
        note("sandbox: off (--no-sandbox)".to_owned());
    }
    if args.live_demo && !live_demo::has_demo_data(&store)? {
        bail!(
            "--live-demo drives the bundled demo data, and this database has none of its \
             clients; start it on a new database (or load fixtures/demo.json)"
        );
    }
    if options.journal.is_none() {
        note("journal: off (--no-journal)".to_owned());
    }
    store.check_pages_in_background();
    let delivery_metrics = webhooks::DeliveryMetrics::new()?;
    let sender = (args.webhooks && !args.no_webhooks).then(webhooks::Sender::new);
    let writer = store.start_writer(sender.as_ref().map(webhooks::Sender::on_commit))?;
    match sender {
        Some(sender) => sender.start(
            &store,
            writer.clone(),
            webhooks::SenderOptions {
                timeout: Duration::from_secs_f64(args.webhook_timeout),
                schedule: args.webhook_retry_schedule.clone(),
                retention: Duration::from_secs(u64::from(args.webhook_retention_days) * 86_400),
            },
            delivery_metrics.clone(),
        )?,
        None => note("webhooks: deliveries are stored, not sent (--no-webhooks)".to_owned()),
    }
    let live_demo = args.live_demo.then(|| {
        let interval = Duration::from_secs_f64(args.live_demo_interval);
        (writer.clone(), interval)
    });
    let companions = http::Companions {
        delivery_metrics,
        writer,
    };
    let bind = args.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let mut listeners = Vec::new();
        for (addr, socket) in sockets {
            socket
                .listen(1024)
                .with_context(|| format!("cannot listen on {addr}"))?;
            listeners.push(TcpListener::from(socket));
        }
        if let Some((writer, interval)) = live_demo {
            note(format!(
                "live demo: a demo contact moves every {} s",
                interval.as_secs_f64()
            ));
            actix_web::rt::spawn(live_demo::run(store.clone(), writer, interval));
        }
        let (server, addrs) = http::serve(store, listeners, &options, companions)
            .with_context(|| format!("cannot listen on {bind}"))?;
        if let (Some((key, contact)), Some(addr)) = (sample, addrs.first()) {
            note(format!("demo API key: {key}"));
            let addr = reachable(*addr);
            note(format!(
                "try: curl -s -H 'x-api-key: {key}' http://{addr}/api/public/contact/{contact}/info"
            ));
            note(format!(
                "     curl -s -H 'x-api-key: {key}' 'http://{addr}/api/public/contacts?days=7'"
            ));
        }
        if let (true, Some(addr)) = (options.console, addrs.first()) {
            note(format!("console: http://{}/", reachable(*addr)));
        }
        for addr in &addrs {
            note(format!("listening on http://{addr}"));
        }
        // actix stops on SIGINT/SIGTERM: it stops accepting, lets requests in flight
        // finish, then this returns.
        server.await.context("the server stopped with an error")
    })
}

/// Resolves `bind` and binds a socket to each address without listening yet, so that a
/// malformed, unknown or busy address fails before anything else happens, while the port
/// still opens only once the data is in.
fn reserve(bind: &str) -> anyhow::Result<Vec<(SocketAddr, socket2::Socket)>> {
    use socket2::{Domain, Socket, Type};
    let addrs: Vec<SocketAddr> = bind
        .to_socket_addrs()
        .with_context(|| {
            format!("cannot listen on {bind}: expected host:port, such as 127.0.0.1:8080")
        })?
        .collect();
    if addrs.is_empty() {
        bail!("cannot listen on {bind}: the name resolves to no address");
    }
    addrs
        .into_iter()
        .map(|addr| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            // As std and actix do: a restart may take the port back from TIME_WAIT.
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.set_nonblocking(true)?;
            Ok((addr, socket))
        })
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot listen on {bind}"))
}

/// An address a local curl can reach: a wildcard bind is reachable on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_and_pool_derive_from_each_other_on_any_core_count() {
        // 4 spares and 8 query threads (a quarter of 64, at most 8).
        assert_eq!(workers_and_pool(Some(64), None).unwrap(), (64, 76));
        assert_eq!(workers_and_pool(Some(2), None).unwrap(), (2, 8));
        assert_eq!(workers_and_pool(Some(2), Some(3)).unwrap(), (2, 3));
        let (w, p) = workers_and_pool(None, None).unwrap();
        assert!(p as usize > w);
        let (w, p) = workers_and_pool(None, Some(2)).unwrap();
        assert_eq!((w, p), (1, 2));
        let err = workers_and_pool(Some(16), Some(16)).unwrap_err();
        assert!(
            err.to_string().contains("more than the 16 workers"),
            "{err}"
        );
    }
}
