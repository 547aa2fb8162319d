//! `/openapi.json` is in step with the server: every answer of every status that the
//! server gives on a documented route validates against the document.

use serde_json::{Value, json};

use crate::helpers::*;

const INFO: &str = "/api/public/contact/{aiContactId}/info";

struct Spec {
    doc: Value,
}

impl Spec {
    fn fetch(server: &TestServer) -> Self {
        let reply = server.get("/openapi.json", None, &[]);
        assert_eq!(reply.status, 200);
        let doc = reply.json();
        assert_eq!(doc["openapi"], "3.1.0");
        Self { doc }
    }

    /// The documented response for `status` on `GET path`, with `$ref`s followed.
    fn response(&self, path: &str, status: u16) -> &Value {
        let mut response = &self.doc["paths"][path]["get"]["responses"][status.to_string()];
        assert!(!response.is_null(), "{status} is not documented for {path}");
        if let Some(reference) = response["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/responses/");
            response = &self.doc["components"]["responses"][name];
        }
        response
    }

    /// Asserts that `reply` is what the document says `GET path` answers with.
    fn check(&self, path: &str, reply: &Reply) {
        let response = self.response(path, reply.status);
        let content = &response["content"];
        if content.is_null() {
            assert_eq!(
                reply.body, "",
                "{path} {}: documented without a body",
                reply.status
            );
            return;
        }
        let content_type = reply.header("content-type").unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        let schema = &content[media]["schema"];
        assert!(
            !schema.is_null(),
            "{path} {}: {media} is not documented",
            reply.status
        );
        if media == "application/json" {
            // Carry the components in the root so "#/components/…" references resolve.
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": self.doc["components"],
                "allOf": [schema],
            });
            let validator = jsonschema::validator_for(&root).expect("a valid schema");
            let body = reply.json();
            let errors: Vec<String> = validator
                .iter_errors(&body)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{path} {}: {errors:?}\n{}",
                reply.status,
                reply.body
            );
        }
        if let Some(headers) = response["headers"].as_object() {
            for name in headers.keys() {
                assert!(
                    reply.header(name).is_some(),
                    "{path} {}: no {name} header",
                    reply.status
                );
            }
        }
    }
}

#[test]
fn every_status_of_every_route_validates_against_the_document() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--auth-failures-per-minute", "1"]);
    let spec = Spec::fetch(&server);
    let info = TestServer::info_path(FULL_CONTACT);

    let full = server.info(FULL_CONTACT, Some(KEY_A));
    let etag = full.header("etag").unwrap().to_owned();
    let replies = vec![
        full,
        server.info(MINIMAL_CONTACT, Some(KEY_A)),
        server.get(&info, Some(KEY_A), &[("if-none-match", &etag)]),
        server.info("nope", Some(KEY_A)),
        server.info(FULL_CONTACT, None),
        server.info(CONTACT_OF_B, Some(KEY_A)),
        server.request("POST", &info, Some(KEY_A), &[]),
        server.info(FULL_CONTACT, Some("guess")),
        server.get(
            &format!("{info}?pad={}", "a".repeat(9000)),
            Some(KEY_A),
            &[],
        ),
        server.get(&info, Some(KEY_A), &[("x-pad", &"a".repeat(17_000))]),
    ];
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 304, 400, 401, 404, 405, 429, 414, 431]);
    for reply in &replies {
        spec.check(INFO, reply);
    }
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        spec.check(path, &server.get(path, None, &[]));
        spec.check(path, &server.request("DELETE", path, None, &[]));
    }

    // 500 and 503, from a database changed behind the server's back.
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute_batch(
        "PRAGMA ignore_check_constraints = ON;
         UPDATE contacts SET chat_status = 'LOST';
         DELETE FROM refinery_schema_history;",
    )
    .unwrap();
    let broken = server.info(FULL_CONTACT, Some(KEY_A));
    assert_eq!(broken.status, 500);
    spec.check(INFO, &broken);
    let not_ready = server.get("/readyz", None, &[]);
    assert_eq!(not_ready.status, 503);
    spec.check("/readyz", &not_ready);
}

#[test]
fn the_document_lists_exactly_the_routes_the_server_answers() {
    let ws = Workspace::new();
    let server = ws.serve(&["--no-demo"]);
    let spec = Spec::fetch(&server);

    let mut documented: Vec<&str> = spec.doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    documented.sort_unstable();

    assert_eq!(
        documented,
        [
            "/api/public/contact/{aiContactId}/info",
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/readyz"
        ]
    );
    for path in &documented[1..] {
        assert_ne!(
            server.get(path, None, &[]).status,
            404,
            "{path} is documented but not served"
        );
    }
    assert_eq!(
        spec.doc["components"]["securitySchemes"]["apiKey"]["name"],
        "x-api-key"
    );
}
