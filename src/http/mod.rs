//! Everything actix: the application, its routes and the server around them.

mod answer;
mod auth;
mod auth_limit;
mod body;
mod body_fields;
mod connections;
mod console;
mod contact_metadata;
mod contacts;
mod customers;
mod error;
mod faults;
mod journal;
mod limits;
mod messages;
mod metrics;
mod ops;
mod params;
mod pipelines;
mod query_pool;
mod request_context;
mod sandbox;
mod team_members;
mod ticket_open;
mod tickets;
mod webhooks;
mod whatsapp;
mod worker;

use std::net::SocketAddr;
use std::time::Duration;

use actix_cors::Cors;

use actix_web::dev::Server;
use actix_web::middleware::{Condition, from_fn};
use actix_web::{
    App, FromRequest, Handler, HttpRequest, HttpResponse, HttpServer, Resource, Responder, web,
};

pub use error::ApiError;
pub use limits::RequestLimits;

use crate::faults::Faults;
use crate::journal::{Journal, JournalLimits};
use crate::store::{Store, Writer};
use crate::webhooks::DeliveryMetrics;
use worker::WorkerContext;

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub workers: usize,
    /// Origins allowed by CORS; empty leaves CORS off.
    pub cors_origins: Vec<String>,
    /// Time a client has to send a request's headers.
    pub request_timeout: Duration,
    /// Time requests in flight get to finish on SIGINT/SIGTERM.
    pub shutdown_timeout: Duration,
    /// Failed API-key attempts allowed per client address and minute; 0 for no limit.
    pub auth_failures_per_minute: u32,
    pub limits: RequestLimits,
    /// Serve the web console at `/`.
    pub console: bool,
    /// The request journal's bounds; `None` keeps no journal.
    pub journal: Option<JournalLimits>,
    /// Serve the routes under `/api/sandbox/` (SPEC 11.4, 12).
    pub sandbox: bool,
}

/// The routes the request journal keeps and fault rules may name (SPEC 12): every route
/// under `/api/` but the sandbox's own. A test holds it to the OpenAPI document.
pub const RECORDED_ROUTES: &[&str] = &[
    contacts::INFO_ROUTE,
    contacts::LIST_ROUTE,
    contacts::SEARCH_ROUTE,
    messages::ROUTE,
    pipelines::ROUTE,
    contact_metadata::ROUTE,
    tickets::METADATA_ROUTE,
    team_members::ROUTE,
    customers::UPSERT_ROUTE,
    ticket_open::ROUTE,
    whatsapp::SESSION_ROUTE,
    webhooks::TOPICS_ROUTE,
    webhooks::COLLECTION_ROUTE,
    webhooks::CALLS_ROUTE,
    webhooks::RETRY_ROUTE,
    webhooks::ITEM_ROUTE,
    webhooks::RESTORE_ROUTE,
];

/// Registers every route of the app.
fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_or_head(contacts::INFO_ROUTE, contacts::contact_info))
        .service(get_or_head(contacts::LIST_ROUTE, contacts::list))
        .service(get_or_head(contacts::SEARCH_ROUTE, contacts::search))
        .service(get_or_head(messages::ROUTE, messages::messages))
        .service(get_or_head(pipelines::ROUTE, pipelines::pipelines))
        .service(post(
            contact_metadata::ROUTE,
            contact_metadata::update_metadata,
        ))
        .service(post(tickets::METADATA_ROUTE, tickets::update_metadata))
        .service(get_or_head(team_members::ROUTE, team_members::all))
        .service(post(customers::UPSERT_ROUTE, customers::upsert))
        .service(post(ticket_open::ROUTE, ticket_open::open))
        .service(post(whatsapp::SESSION_ROUTE, whatsapp::session_message))
        // The fixed paths before `{id}`, which would take them.
        .service(get_or_head(webhooks::TOPICS_ROUTE, webhooks::topics))
        .service(get_or_head(webhooks::CALLS_ROUTE, webhooks::calls))
        .service(post(webhooks::RETRY_ROUTE, webhooks::retry))
        .service(
            web::resource(webhooks::COLLECTION_ROUTE)
                .route(web::get().to(webhooks::list))
                .route(web::head().to(webhooks::list))
                .route(web::post().to(webhooks::create))
                .default_service(not_allowed("GET, HEAD, POST")),
        )
        .service(post(webhooks::RESTORE_ROUTE, webhooks::restore))
        .service(
            web::resource(webhooks::ITEM_ROUTE)
                .route(web::get().to(webhooks::get))
                .route(web::head().to(webhooks::get))
                .route(web::put().to(webhooks::update))
                .route(web::delete().to(webhooks::delete))
                .default_service(not_allowed("GET, HEAD, PUT, DELETE")),
        )
        .service(get_or_head("/healthz", ops::healthz))
        .service(get_or_head("/readyz", ops::readyz))
        .service(get_or_head("/metrics", ops::metrics))
        .service(get_or_head("/openapi.json", ops::openapi));
}

/// The routes under `/api/sandbox/`: the customer's and agent's stand-ins, the journal
/// and the faults.
fn configure_sandbox(cfg: &mut web::ServiceConfig) {
    cfg.service(post(sandbox::INBOUND_ROUTE, sandbox::inbound_message))
        .service(post(sandbox::CLOSE_ROUTE, sandbox::close_ticket))
        .service(
            web::resource(journal::ROUTE)
                .route(web::get().to(journal::entries))
                .route(web::head().to(journal::entries))
                .route(web::delete().to(journal::clear))
                .default_service(not_allowed("GET, HEAD, DELETE")),
        )
        .service(
            web::resource(faults::COLLECTION_ROUTE)
                .route(web::get().to(faults::list))
                .route(web::head().to(faults::list))
                .route(web::post().to(faults::create))
                .route(web::delete().to(faults::clear))
                .default_service(not_allowed("GET, HEAD, POST, DELETE")),
        )
        .service(
            web::resource(faults::ITEM_ROUTE)
                .route(web::delete().to(faults::delete))
                .default_service(not_allowed("DELETE")),
        );
}

/// 405 with `Allow`: the default of a resource, for the methods it does not answer.
fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) })
}

/// A resource that answers GET and HEAD, and 405 with `Allow` to any other method.
fn get_or_head<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(not_allowed("GET, HEAD"))
}

/// A resource that answers POST, and 405 with `Allow` to any other method.
fn post<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(not_allowed("POST"))
}

/// CORS for browser dashboards on the given origins, with the headers the endpoints
/// take and the ones worth reading back.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "DELETE"])
        .allowed_headers(["x-api-key", "x-request-id", "if-none-match", "content-type"])
        .expose_headers(["etag", "x-request-id"])
        .max_age(600)
}

async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}

/// Threads for the queries that read much (list, search): a quarter of the workers,
/// at least two (so one long query does not queue the next) and at most eight.
pub fn query_threads(workers: usize) -> usize {
    (workers / 4).clamp(2, 8)
}

/// What runs beside the HTTP server and the server reports on or rings.
pub struct Companions {
    /// The webhook sender's counters, served on `/metrics`.
    pub delivery_metrics: DeliveryMetrics,
    /// The one writer of the process: the API's writes and the webhook sender's.
    pub writer: Writer,
}

/// The server (not yet running) on listening sockets, with the addresses it listens on.
pub fn serve(
    store: Store,
    listeners: Vec<std::net::TcpListener>,
    options: &ServerOptions,
    companions: Companions,
) -> anyhow::Result<(Server, Vec<SocketAddr>)> {
    let metrics = web::Data::new(metrics::Metrics::new(&companions.delivery_metrics)?);
    let delivery_metrics = web::Data::new(companions.delivery_metrics);
    let auth_limit = web::Data::new(auth_limit::AuthFailureLimit::new(
        options.auth_failures_per_minute,
    ));
    let cors_origins = options.cors_origins.clone();
    let limits = web::Data::new(options.limits);
    let writer = web::Data::new(companions.writer);
    let queries = web::Data::new(query_pool::QueryPool::start(
        &store,
        query_threads(options.workers),
    )?);
    let console = options.console;
    let sandbox = options.sandbox;
    let journal = options
        .journal
        .map(|limits| web::Data::new(Journal::new(limits)));
    let faults = web::Data::new(Faults::new());
    let connection_metrics = metrics.clone();
    let mut server = HttpServer::new(move || {
        // Called once per worker thread: each worker gets a context of its own.
        App::new()
            .app_data(web::Data::new(WorkerContext::new(store.clone())))
            .app_data(metrics.clone())
            .app_data(auth_limit.clone())
            .app_data(limits.clone())
            .app_data(writer.clone())
            .app_data(queries.clone())
            .app_data(delivery_metrics.clone())
            .app_data(faults.clone())
            .configure(|cfg| {
                // Absent, not empty, when off: requests then pay nothing for it.
                if let Some(journal) = &journal {
                    cfg.app_data(journal.clone());
                }
            })
            .configure(configure)
            .configure(|cfg| {
                if sandbox {
                    configure_sandbox(cfg);
                }
            })
            .configure(|cfg| {
                if console {
                    console::routes(cfg);
                }
            })
            .default_service(web::to(route_not_found))
            .wrap(Condition::new(
                !cors_origins.is_empty(),
                cors(&cors_origins),
            ))
            .wrap(from_fn(request_context::request_context))
    })
    .on_connect({
        let timeout = options.request_timeout;
        move |io: &dyn std::any::Any, extensions: &mut actix_web::dev::Extensions| {
            let peer = io
                .downcast_ref::<actix_web::rt::net::TcpStream>()
                .and_then(|s| s.peer_addr().ok());
            extensions.insert(connections::ConnectionWatch::new(
                peer,
                timeout,
                connection_metrics.clone(),
            ));
        }
    })
    .workers(options.workers)
    .client_request_timeout(options.request_timeout)
    .shutdown_timeout(options.shutdown_timeout.as_secs());
    for listener in listeners {
        server = server.listen(listener)?;
    }
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_recorded_routes_are_the_documented_routes_under_api() {
        let doc: serde_json::Value = serde_json::from_str(ops::OPENAPI).unwrap();
        let documented: BTreeSet<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|path| journal::is_recorded(path))
            .collect();
        let recorded: BTreeSet<&str> = RECORDED_ROUTES.iter().copied().collect();
        assert_eq!(documented, recorded);
    }
}
