//! The web console (SPEC 9): one page, its stylesheet and its script, compiled into the
//! binary. It calls only the public API, from the same origin, with the key the person
//! pastes; this module just serves its files.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::answer::{self, Rendered};
use super::get_or_head;

/// Nothing from anywhere but this server: no CDN, no inline script or style, no frames,
/// no forms posting elsewhere. `img-src data:` is for the empty favicon only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    rendered: LazyLock<Rendered>,
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            rendered: LazyLock::new(|| Rendered::from_static(include_str!($file).as_bytes())),
        }
    };
}

static PAGE: Asset = asset!("/", "console/index.html", "text/html; charset=utf-8");
static STYLE: Asset = asset!(
    "/console.css",
    "console/console.css",
    "text/css; charset=utf-8"
);
static SCRIPT: Asset = asset!(
    "/console.js",
    "console/console.js",
    "text/javascript; charset=utf-8"
);

static WEBHOOKS_SCRIPT: Asset = asset!(
    "/webhooks.js",
    "console/webhooks.js",
    "text/javascript; charset=utf-8"
);

static REQUESTS_SCRIPT: Asset = asset!(
    "/requests.js",
    "console/requests.js",
    "text/javascript; charset=utf-8"
);

static CARD_SCRIPT: Asset = asset!(
    "/card.js",
    "console/card.js",
    "text/javascript; charset=utf-8"
);

static LIVE_SCRIPT: Asset = asset!(
    "/live.js",
    "console/live.js",
    "text/javascript; charset=utf-8"
);

/// Registers `/`, `/console.css` and the scripts: `/console.js`, `/card.js`,
/// `/webhooks.js`, `/requests.js` and `/live.js`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_or_head(PAGE.path, |req: HttpRequest| async move {
        serve(&req, &PAGE)
    }))
    .service(get_or_head(STYLE.path, |req: HttpRequest| async move {
        serve(&req, &STYLE)
    }))
    .service(get_or_head(SCRIPT.path, |req: HttpRequest| async move {
        serve(&req, &SCRIPT)
    }))
    .service(get_or_head(
        WEBHOOKS_SCRIPT.path,
        |req: HttpRequest| async move { serve(&req, &WEBHOOKS_SCRIPT) },
    ))
    .service(get_or_head(
        REQUESTS_SCRIPT.path,
        |req: HttpRequest| async move { serve(&req, &REQUESTS_SCRIPT) },
    ))
    .service(get_or_head(
        CARD_SCRIPT.path,
        |req: HttpRequest| async move { serve(&req, &CARD_SCRIPT) },
    ))
    .service(get_or_head(
        LIVE_SCRIPT.path,
        |req: HttpRequest| async move { serve(&req, &LIVE_SCRIPT) },
    ));
}

/// The file with its type and an `ETag`: browsers revalidate (`no-cache`), so a new
/// binary's console is picked up at once, and an unchanged one costs a 304.
fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let mut response =
        answer::with_type(req, asset.rendered.clone(), asset.content_type, "no-cache");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
