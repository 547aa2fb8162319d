//! Everything actix: the application, its routes and the server around them.

mod contacts;
mod error;
mod ops;
mod request_context;
mod worker;

use std::net::SocketAddr;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{
    App, FromRequest, Handler, HttpRequest, HttpResponse, HttpServer, Resource, Responder, web,
};

pub use error::ApiError;

use crate::store::Store;
use worker::WorkerContext;

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub bind: String,
    pub workers: usize,
}

/// Registers every route; the server and the in-process tests build the app with it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_or_head(contacts::ROUTE, contacts::contact_info))
        .service(get_or_head("/healthz", ops::healthz));
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
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow: "GET, HEAD" })
        }))
}

async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}

/// Binds the listening socket and returns the server (not yet running) with the
/// addresses it listens on. The socket accepts connections from here on.
pub fn bind(store: Store, options: &ServerOptions) -> std::io::Result<(Server, Vec<SocketAddr>)> {
    let server = HttpServer::new(move || {
        // Called once per worker thread: each worker gets a context of its own.
        App::new()
            .app_data(web::Data::new(WorkerContext::new(store.clone())))
            .configure(configure)
            .default_service(web::to(route_not_found))
            .wrap(from_fn(request_context::request_context))
    })
    .workers(options.workers)
    .bind(&options.bind)?;
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}
