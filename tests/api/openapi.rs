//! `/openapi.json` is in step with the server: every answer of every status that the
//! server gives on a documented route validates against the document.

use serde_json::{Value, json};

use crate::helpers::*;

const INFO: &str = "/api/public/contact/{aiContactId}/info";
const LIST: &str = "/api/public/contacts";
const SEARCH: &str = "/api/public/contacts/search";
const MESSAGES: &str = "/api/public/contact/v2/{aiContactId}/messages";
const PIPELINE: &str = "/api/public/pipeline";
const UPDATE_METADATA: &str = "/api/public/contact/{aiContactId}/update-metadata";
const TICKET_METADATA: &str = "/api/public/ticket/metadata";
const TOPICS: &str = "/api/webhooks/topics";
const HOOKS: &str = "/api/webhooks";
const ITEM: &str = "/api/webhooks/{id}";
const RESTORE: &str = "/api/webhooks/{id}/restore";
const CALLS: &str = "/api/webhooks/calls";
const RETRY: &str = "/api/webhooks/calls/{id}/retry";
const JOURNAL: &str = "/api/sandbox/requests";
const FAULTS: &str = "/api/sandbox/faults";
const FAULT: &str = "/api/sandbox/faults/{id}";

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

    /// The documented response for `status` on `METHOD path`, with `$ref`s followed.
    fn response(&self, path: &str, method: &str, status: u16) -> &Value {
        let mut response = &self.doc["paths"][path][method]["responses"][status.to_string()];
        assert!(!response.is_null(), "{status} is not documented for {path}");
        if let Some(reference) = response["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/responses/");
            response = &self.doc["components"]["responses"][name];
        }
        response
    }

    /// Asserts that `reply` is what the document says `GET path` answers with.
    fn check(&self, path: &str, reply: &Reply) {
        self.check_method(path, "get", reply);
    }

    /// Asserts that `reply` is what the document says `METHOD path` answers with.
    fn check_method(&self, path: &str, method: &str, reply: &Reply) {
        let response = self.response(path, method, reply.status);
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

    // The family, every status each route gives: on a second server, whose failed-key
    // budget the first's 429 has not used up.
    let limited = &server;
    let server = ws.serve(&["--no-demo"]);
    let family = |path: &str, query: &str, key: Option<&str>| {
        server.get(&format!("{path}{query}"), key, &[])
    };
    let listed = family(LIST, "?days=365", Some(KEY_A));
    let list_tag = listed.header("etag").unwrap().to_owned();
    let messages = MESSAGES.replace("{aiContactId}", FULL_CONTACT);
    let cases = [
        (LIST, listed, 200),
        (
            LIST,
            server.get(
                &format!("{LIST}?days=365"),
                Some(KEY_A),
                &[("if-none-match", &list_tag)],
            ),
            304,
        ),
        (LIST, family(LIST, "?days=0&limit=x", Some(KEY_A)), 400),
        (LIST, family(LIST, "?days=1", None), 401),
        (LIST, server.request("POST", LIST, Some(KEY_A), &[]), 405),
        (SEARCH, family(SEARCH, "?phone=12345678", Some(KEY_A)), 200),
        (SEARCH, family(SEARCH, "?phone=", Some(KEY_A)), 400),
        (
            SEARCH,
            limited.get(&format!("{SEARCH}?phone=1"), Some("wrong"), &[]),
            429,
        ),
        (MESSAGES, family(&messages, "?page=1", Some(KEY_A)), 200),
        (MESSAGES, family(&messages, "?page=0", Some(KEY_A)), 400),
        (
            MESSAGES,
            family(
                &MESSAGES.replace("{aiContactId}", "x"),
                "?page=1",
                Some(KEY_A),
            ),
            400,
        ),
        (
            MESSAGES,
            family(
                &MESSAGES.replace("{aiContactId}", CONTACT_OF_B),
                "?page=1",
                Some(KEY_A),
            ),
            404,
        ),
        (PIPELINE, family(PIPELINE, "", Some(KEY_A)), 200),
        (PIPELINE, family(PIPELINE, "", Some(KEY_B)), 200),
    ];
    for (path, reply, status) in &cases {
        assert_eq!(reply.status, *status, "{path}: {}", reply.body);
        spec.check(path, reply);
    }
    assert_eq!(cases[8].1.json()["total"], 2, "{}", cases[8].1.body);
    assert_eq!(cases[12].1.json()[0]["stages"][1]["name"], "Ganado");

    // The writes.
    let update = UPDATE_METADATA.replace("{aiContactId}", FULL_CONTACT);
    let write = |path: &str, content_type: &str, body: &str| {
        server.post(path, Some(KEY_A), Some(content_type), body)
    };
    let json = "application/json";
    let ticket = |body: &str| write(TICKET_METADATA, json, body);
    let contact = format!(r#"{{"ai_contact_id":"{FULL_CONTACT}","metadata":{{"a":"b"}}}}"#);
    let writes = [
        (UPDATE_METADATA, write(&update, json, r#"{"aB":1}"#), 201),
        (UPDATE_METADATA, write(&update, json, "[]"), 400),
        (UPDATE_METADATA, write(&update, json, "{"), 400),
        (
            UPDATE_METADATA,
            write(&UPDATE_METADATA.replace("{aiContactId}", "x"), json, "{}"),
            400,
        ),
        (
            UPDATE_METADATA,
            server.post(&update, None, Some(json), "{}"),
            401,
        ),
        (
            UPDATE_METADATA,
            write(
                &UPDATE_METADATA.replace("{aiContactId}", CONTACT_OF_B),
                json,
                "{}",
            ),
            404,
        ),
        (UPDATE_METADATA, server.get(&update, Some(KEY_A), &[]), 405),
        (UPDATE_METADATA, write(&update, "text/plain", "{}"), 415),
        (TICKET_METADATA, ticket(&contact), 201),
        (TICKET_METADATA, ticket(r#"{"metadata":{}}"#), 400),
        (
            TICKET_METADATA,
            ticket(&contact.replace("ai_contact_id", "ticket_id")),
            404,
        ),
        (
            TICKET_METADATA,
            write(TICKET_METADATA, "text/plain", "{}"),
            415,
        ),
    ];
    for (path, reply, status) in &writes {
        assert_eq!(reply.status, *status, "{path}: {}", reply.body);
        spec.check_method(path, "post", reply);
    }

    drop(server);
    let server = limited;
    // 500 and 503, from a database changed behind the server's back.
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute_batch(
        "UPDATE contact_info_bodies SET etag = 'not a tag';
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
fn every_status_of_the_webhook_routes_validates_against_the_document() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--no-webhooks"]);
    let spec = Spec::fetch(&server);
    let json = "application/json";
    let body = r#"{"topic":"contact.updated","url":"http://127.0.0.1:9/h","secret":"12345678"}"#;
    let created = server.post(HOOKS, Some(KEY_A), Some(json), body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let item = format!("{HOOKS}/{id}");
    let unknown = format!("{HOOKS}/00000000-0000-4000-8000-000000000000");
    let update = UPDATE_METADATA.replace("{aiContactId}", FULL_CONTACT);
    assert_eq!(
        server
            .post(&update, Some(KEY_A), Some(json), r#"{"a":1}"#)
            .status,
        201
    );
    let log = server.get(CALLS, Some(KEY_A), &[]);
    let delivery = log.json()[0]["id"].as_str().unwrap().to_owned();
    let retry = format!("{CALLS}/{delivery}/retry");
    let cases = [
        (TOPICS, "get", server.get(TOPICS, None, &[]), 200),
        (
            TOPICS,
            "get",
            server.request("POST", TOPICS, None, &[]),
            405,
        ),
        (HOOKS, "post", created, 201),
        (
            HOOKS,
            "post",
            server.post(HOOKS, Some(KEY_A), Some(json), "{}"),
            400,
        ),
        (
            HOOKS,
            "post",
            server.post(HOOKS, Some(KEY_A), Some(json), "{"),
            400,
        ),
        (
            HOOKS,
            "post",
            server.post(HOOKS, Some(KEY_A), Some("text/plain"), body),
            415,
        ),
        (
            HOOKS,
            "post",
            server.post(HOOKS, None, Some(json), body),
            401,
        ),
        (HOOKS, "get", server.get(HOOKS, Some(KEY_A), &[]), 200),
        (
            HOOKS,
            "get",
            server.request("PATCH", HOOKS, Some(KEY_A), &[]),
            405,
        ),
        (ITEM, "get", server.get(&item, Some(KEY_A), &[]), 200),
        (ITEM, "get", server.get(&unknown, Some(KEY_A), &[]), 404),
        (
            ITEM,
            "get",
            server.get(&format!("{HOOKS}/x"), Some(KEY_A), &[]),
            400,
        ),
        (
            ITEM,
            "put",
            server.send_json("PUT", &item, KEY_A, r#"{"active":false}"#),
            200,
        ),
        (
            ITEM,
            "put",
            server.send_json("PUT", &item, KEY_A, "{}"),
            400,
        ),
        (
            ITEM,
            "put",
            server.send_json("PUT", &unknown, KEY_A, r#"{"active":true}"#),
            404,
        ),
        (CALLS, "get", log, 200),
        (
            CALLS,
            "get",
            server.get(&format!("{CALLS}?limit=0"), Some(KEY_A), &[]),
            400,
        ),
        (
            RETRY,
            "post",
            server.post(&retry, Some(KEY_A), Some(json), ""),
            200,
        ),
        (
            RETRY,
            "post",
            server.post(&format!("{CALLS}/{id}/retry"), Some(KEY_A), Some(json), ""),
            404,
        ),
        (
            ITEM,
            "delete",
            server.send_json("DELETE", &item, KEY_A, ""),
            200,
        ),
        (
            RESTORE,
            "post",
            server.post(&format!("{item}/restore"), Some(KEY_A), None, ""),
            200,
        ),
        (
            RESTORE,
            "post",
            server.post(&format!("{unknown}/restore"), Some(KEY_A), None, ""),
            404,
        ),
    ];
    for (path, method, reply, status) in &cases {
        assert_eq!(reply.status, *status, "{method} {path}: {}", reply.body);
        spec.check_method(path, method, reply);
    }
    // Every topic of the server is a documented webhook payload.
    for topic in cases[0].2.json().as_array().unwrap() {
        let topic = topic.as_str().unwrap();
        assert!(spec.doc["webhooks"][topic]["post"].is_object(), "{topic}");
    }
}

#[test]
fn every_status_of_the_sandbox_routes_validates_against_the_document() {
    let (_ws, server) = server_with_tenants();
    let spec = Spec::fetch(&server);
    let json = "application/json";
    let rule = r#"{"route":"/api/public/pipeline","status":503,"times":1}"#;
    let created = server.post(FAULTS, Some(KEY_A), Some(json), rule);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let injected = server.get("/api/public/pipeline", Some(KEY_A), &[]);
    let update = UPDATE_METADATA.replace("{aiContactId}", FULL_CONTACT);
    let written = server.post(&update, Some(KEY_A), Some(json), r#"{"a":"é"}"#);
    assert_eq!(written.status, 201, "{}", written.body);
    let journal = server.get(JOURNAL, Some(KEY_A), &[]);
    let etag = journal.header("etag").unwrap().to_owned();
    let second = server.post(FAULTS, Some(KEY_A), Some(json), r#"{"delay_ms":1}"#);
    let second_id = second.json()["id"].as_str().unwrap().to_owned();
    let cases = [
        (FAULTS, "post", created, 201),
        (FAULTS, "post", second, 201),
        (
            FAULTS,
            "post",
            server.post(FAULTS, Some(KEY_A), Some(json), r#"{"status":"500"}"#),
            400,
        ),
        (
            FAULTS,
            "post",
            server.post(FAULTS, Some(KEY_A), Some("text/plain"), rule),
            415,
        ),
        (
            FAULTS,
            "post",
            server.post(FAULTS, None, Some(json), rule),
            401,
        ),
        (FAULTS, "get", server.get(FAULTS, Some(KEY_A), &[]), 200),
        (
            FAULTS,
            "get",
            server.request("PATCH", FAULTS, Some(KEY_A), &[]),
            405,
        ),
        (JOURNAL, "get", journal, 200),
        (
            JOURNAL,
            "get",
            server.get(JOURNAL, Some(KEY_A), &[("if-none-match", &etag)]),
            304,
        ),
        (
            JOURNAL,
            "get",
            server.get(&format!("{JOURNAL}?limit=0"), Some(KEY_A), &[]),
            400,
        ),
        (JOURNAL, "get", server.get(JOURNAL, None, &[]), 401),
        (
            FAULT,
            "delete",
            server.send_json("DELETE", &format!("{FAULTS}/{second_id}"), KEY_A, ""),
            200,
        ),
        (
            FAULT,
            "delete",
            server.send_json("DELETE", &format!("{FAULTS}/{id}"), KEY_A, ""),
            404,
        ),
        (
            FAULT,
            "delete",
            server.send_json("DELETE", &format!("{FAULTS}/x"), KEY_A, ""),
            400,
        ),
        (
            FAULTS,
            "delete",
            server.send_json("DELETE", FAULTS, KEY_A, ""),
            200,
        ),
        (
            JOURNAL,
            "delete",
            server.send_json("DELETE", JOURNAL, KEY_A, ""),
            200,
        ),
    ];
    assert_eq!(injected.status, 503, "{}", injected.body);
    for (path, method, reply, status) in &cases {
        assert_eq!(reply.status, *status, "{method} {path}: {}", reply.body);
        spec.check_method(path, method, reply);
    }
}

#[test]
fn every_status_of_the_conversation_routes_validates_against_the_document() {
    const TEAM: &str = "/api/public/team-members/all";
    const UPSERT: &str = "/api/public/customer/upsert/info";
    const OPEN: &str = "/api/public/ticket/open/{channel}/{phoneId}";
    const SESSION: &str = "/api/public/whatsapp/message/session";
    const INBOUND: &str = "/api/sandbox/contact/{aiContactId}/inbound-message";
    const CLOSE: &str = "/api/sandbox/ticket/{ticketId}/close";
    const KEY: &str = "key-conv";
    const CONTACT: &str = "d4000000-0000-4000-8000-000000000001";
    const TICKET: &str = "d6000000-0000-4000-8000-000000000001";
    const STAGE: &str = "d1000000-0000-4000-8000-000000000002";
    let ws = Workspace::new();
    ws.load(&fixture_path("tests/data/conversation.json"));
    let server = ws.serve(&["--no-demo"]);
    let spec = Spec::fetch(&server);
    let post = |path: &str, body: &str| server.post_json(path, KEY, body);
    let open = OPEN
        .replace("{channel}", "whatsapp")
        .replace("{phoneId}", "1048576001");
    let inbound = INBOUND.replace("{aiContactId}", CONTACT);
    let close = CLOSE.replace("{ticketId}", TICKET);
    let team = server.get(TEAM, Some(KEY), &[]);
    let etag = team.header("etag").unwrap().to_owned();
    let upsert = r#"{"channel":"whatsapp","channel_phone_number":"+56229400100",
                     "contact_phone_number":"+56 9 3333 0000"}"#;
    let cases = [
        (TEAM, "get", team, 200),
        (
            TEAM,
            "get",
            server.get(TEAM, Some(KEY), &[("if-none-match", &etag)]),
            304,
        ),
        (TEAM, "get", server.get(TEAM, None, &[]), 401),
        (UPSERT, "post", post(UPSERT, upsert), 201),
        (UPSERT, "post", post(UPSERT, r#"{"channel":"fax"}"#), 400),
        (
            UPSERT,
            "post",
            post(UPSERT, &upsert.replace("+56229400100", "+1 555")),
            404,
        ),
        (
            UPSERT,
            "post",
            server.post(UPSERT, Some(KEY), Some("text/plain"), upsert),
            415,
        ),
        (UPSERT, "post", server.post(UPSERT, None, None, upsert), 401),
        (
            OPEN,
            "post",
            post(
                &open,
                &format!(r#"{{"to_phone_number":56933330000,"stage_id":"{STAGE}"}}"#),
            ),
            201,
        ),
        (OPEN, "post", post(&open, "{}"), 400),
        (
            OPEN,
            "post",
            post(
                &open.replace("1048576001", "nope"),
                &format!(r#"{{"to_phone_number":"1","stage_id":"{STAGE}"}}"#),
            ),
            404,
        ),
        (
            SESSION,
            "post",
            post(
                SESSION,
                &format!(r#"{{"contact_id":"{CONTACT}","message":"x"}}"#),
            ),
            400,
        ),
        (INBOUND, "post", post(&inbound, r#"{"body":"hola"}"#), 201),
        (INBOUND, "post", post(&inbound, r#"{"body":""}"#), 400),
        (
            INBOUND,
            "post",
            post(
                &INBOUND.replace("{aiContactId}", "d4000000-0000-4000-8000-00000000dead"),
                r#"{"body":"hola"}"#,
            ),
            404,
        ),
        (
            SESSION,
            "post",
            post(
                SESSION,
                &format!(r#"{{"contact_id":"{CONTACT}","message":"x"}}"#),
            ),
            201,
        ),
        (
            SESSION,
            "post",
            post(SESSION, r#"{"phone":"+56 9 0000","message":"x"}"#),
            404,
        ),
        (CLOSE, "post", server.post(&close, Some(KEY), None, ""), 200),
        (CLOSE, "post", server.post(&close, Some(KEY), None, ""), 409),
        (
            CLOSE,
            "post",
            server.post(
                &CLOSE.replace("{ticketId}", "d6000000-0000-4000-8000-00000000dead"),
                Some(KEY),
                None,
                "",
            ),
            404,
        ),
        (
            CLOSE,
            "post",
            server.post(&CLOSE.replace("{ticketId}", "x"), Some(KEY), None, ""),
            400,
        ),
        (
            CLOSE,
            "post",
            server.request("GET", &close, Some(KEY), &[]),
            405,
        ),
    ];
    for (path, method, reply, status) in &cases {
        assert_eq!(reply.status, *status, "{method} {path}: {}", reply.body);
        spec.check_method(path, method, reply);
    }
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
            "/api/public/contact/v2/{aiContactId}/messages",
            "/api/public/contact/{aiContactId}/info",
            "/api/public/contact/{aiContactId}/update-metadata",
            "/api/public/contacts",
            "/api/public/contacts/search",
            "/api/public/customer/upsert/info",
            "/api/public/pipeline",
            "/api/public/team-members/all",
            "/api/public/ticket/metadata",
            "/api/public/ticket/open/{channel}/{phoneId}",
            "/api/public/whatsapp/message/session",
            "/api/sandbox/contact/{aiContactId}/inbound-message",
            "/api/sandbox/faults",
            "/api/sandbox/faults/{id}",
            "/api/sandbox/requests",
            "/api/sandbox/ticket/{ticketId}/close",
            "/api/webhooks",
            "/api/webhooks/calls",
            "/api/webhooks/calls/{id}/retry",
            "/api/webhooks/topics",
            "/api/webhooks/{id}",
            "/api/webhooks/{id}/restore",
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/readyz"
        ]
    );
    for path in documented.iter().filter(|p| !p.contains('{')) {
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
    // Typed values for generated clients: ids are uuids, times date-times.
    let schemas = &spec.doc["components"]["schemas"];
    assert_eq!(schemas["Uuid"]["format"], "uuid");
    assert_eq!(schemas["Timestamp"]["format"], "date-time");
    let list = &spec.doc["paths"]["/api/public/contacts"]["get"]["parameters"];
    let created_after = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "created_after")
        .unwrap();
    assert_eq!(created_after["schema"]["format"], "date-time");
}
