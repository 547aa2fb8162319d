//! Faults on demand (SPEC 12.2): a client's rules delay or answer its requests instead
//! of the handler, and nothing else's.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

const FAULTS: &str = "/api/sandbox/faults";
const JOURNAL: &str = "/api/sandbox/requests";
const INFO_ROUTE: &str = "/api/public/contact/{aiContactId}/info";
const UPDATE_ROUTE: &str = "/api/public/contact/{aiContactId}/update-metadata";

fn add(server: &TestServer, key: &str, rule: &str) -> Value {
    let reply = server.post_json(FAULTS, key, rule);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()
}

#[test]
fn info_fails_twice_then_succeeds_and_the_journal_marks_the_injected_answers() {
    let (_ws, server) = server_with_tenants();
    let rule = add(
        &server,
        KEY_A,
        &format!(r#"{{"route":"{INFO_ROUTE}","method":"GET","status":503,"times":2}}"#),
    );
    assert_eq!(rule["route"], INFO_ROUTE);
    assert_eq!(rule["method"], "GET");
    assert_eq!(rule["status"], 503);
    assert_eq!(rule["delay_ms"], 0);
    assert_eq!(rule["probability"], 1.0);
    assert_eq!(rule["times"], 2);
    let id = rule["id"].as_str().unwrap();

    for _ in 0..2 {
        server
            .info(FULL_CONTACT, Some(KEY_A))
            .assert_error(503, "Injected fault");
    }
    assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 200);
    assert_eq!(
        server.get(FAULTS, Some(KEY_A), &[]).body,
        "[]",
        "a rule whose times are used up is gone"
    );

    let journal = server.get(JOURNAL, Some(KEY_A), &[]).json();
    let faults: Vec<Value> = journal
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fault"].clone())
        .collect();
    assert_eq!(faults, [Value::Null, id.into(), id.into()]);
    assert_eq!(journal[1]["status"], 503);
    let raw = server.get(JOURNAL, Some(KEY_A), &[]).body;
    let second = raw.split(r#"},{"id""#).nth(1).unwrap();
    assert!(
        second.ends_with(&format!(r#""fault":"{id}""#)),
        "fault is the last key: {second}"
    );
}

#[test]
fn an_injected_error_writes_nothing_and_the_journal_shows_the_body_sent() {
    let (_ws, server) = server_with_tenants();
    let before = server.info(FULL_CONTACT, Some(KEY_A)).body;
    add(
        &server,
        KEY_A,
        &format!(r#"{{"route":"{UPDATE_ROUTE}","status":500}}"#),
    );
    let path = format!("/api/public/contact/{FULL_CONTACT}/update-metadata");
    let body = r#"{"plan":"never-written"}"#;
    server
        .post_json(&path, KEY_A, body)
        .assert_error(500, "Injected fault");
    assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).body, before);
    let journal = server
        .get(&format!("{JOURNAL}?method=POST"), Some(KEY_A), &[])
        .json();
    assert_eq!(journal[0]["request_body"], body);
    assert_eq!(journal[0]["status"], 500);
    // The connection is still good for the next request.
    assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 200);
}

#[test]
fn a_rule_touches_only_its_clients_api_requests() {
    let (_ws, server) = server_with_tenants();
    add(&server, KEY_A, r#"{"route":"*","method":"*","status":418}"#);
    assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 418);
    assert_eq!(
        server
            .get("/api/public/pipeline", Some("key-a-2"), &[])
            .status,
        418,
        "every key of the client"
    );
    assert_eq!(server.info(CONTACT_OF_B, Some(KEY_B)).status, 200);
    assert_eq!(
        server.info(FULL_CONTACT, None).status,
        401,
        "without a valid key"
    );
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(server.get(path, Some(KEY_A), &[]).status, 200, "{path}");
    }
    // The sandbox's own routes still answer, so the rule can be removed.
    assert_eq!(server.get(JOURNAL, Some(KEY_A), &[]).status, 200);
    let cleared = server.send_json("DELETE", FAULTS, KEY_A, "");
    assert_eq!(cleared.body, r#"{"status":"ok","deleted":1}"#);
    assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 200);
}

#[test]
fn a_delay_alone_slows_the_real_answer_and_probability_zero_never_answers() {
    let (_ws, server) = server_with_tenants();
    add(
        &server,
        KEY_A,
        &format!(r#"{{"route":"{INFO_ROUTE}","status":null,"delay_ms":300}}"#),
    );
    let started = Instant::now();
    let reply = server.info(FULL_CONTACT, Some(KEY_A));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    let entry = &server.get(JOURNAL, Some(KEY_A), &[]).json()[0];
    assert!(entry["latency_ms"].as_f64().unwrap() >= 300.0, "{entry}");
    assert!(
        entry["fault"].is_string(),
        "a delay is an injected fault too"
    );
    server.send_json("DELETE", FAULTS, KEY_A, "");

    add(
        &server,
        KEY_A,
        r#"{"route":"/api/public/pipeline","status":500,"probability":0}"#,
    );
    for _ in 0..20 {
        assert_eq!(
            server.get("/api/public/pipeline", Some(KEY_A), &[]).status,
            200
        );
    }
    add(
        &server,
        KEY_A,
        r#"{"route":"/api/public/pipeline","method":"HEAD","status":500}"#,
    );
    assert_eq!(
        server
            .request("HEAD", "/api/public/pipeline", Some(KEY_A), &[])
            .status,
        200,
        "the first matching rule applies, and it never answers"
    );
}

#[test]
fn rules_are_checked_listed_and_removed_per_client() {
    let (_ws, server) = server_with_tenants();
    let bad = server.post_json(
        FAULTS,
        KEY_A,
        r#"{"route":"/api/nope","method":"TRACE","status":"503","delay_ms":-1,"probability":1.5,"times":0}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let problems = bad.json()["message"].as_array().unwrap().len();
    assert_eq!(problems, 6, "{}", bad.body);
    assert_problems(
        &server.post_json(FAULTS, KEY_A, r#"{"times":1}"#),
        &["status or delay_ms: at least one of them must be provided"],
    );
    assert_problems(
        &server.post_json(FAULTS, KEY_A, r#"{"status":200}"#),
        &["status must not be less than 400"],
    );
    assert_eq!(server.get(FAULTS, Some(KEY_A), &[]).body, "[]");

    let first = add(&server, KEY_A, r#"{"status":500,"route":"/api/webhooks"}"#);
    let second = add(&server, KEY_A, r#"{"delay_ms":5}"#);
    add(&server, KEY_B, r#"{"status":500}"#);
    let listed = server.get(FAULTS, Some(KEY_A), &[]).json();
    assert_eq!(listed, Value::Array(vec![first.clone(), second.clone()]));

    let item = |rule: &Value| format!("{FAULTS}/{}", rule["id"].as_str().unwrap());
    server
        .send_json("DELETE", &item(&first), KEY_B, "")
        .assert_error(404, "Fault not found");
    let deleted = server.send_json("DELETE", &item(&first), KEY_A, "");
    assert_eq!(
        deleted.body,
        format!(
            r#"{{"status":"deleted","id":"{}"}}"#,
            first["id"].as_str().unwrap()
        )
    );
    server
        .send_json("DELETE", &item(&first), KEY_A, "")
        .assert_error(404, "Fault not found");
    server
        .send_json("DELETE", &format!("{FAULTS}/42"), KEY_A, "")
        .assert_error(400, "Validation failed (uuid is expected)");
    assert_eq!(
        server.get(FAULTS, Some(KEY_A), &[]).json(),
        Value::Array(vec![second])
    );
    assert_eq!(
        server.get(FAULTS, Some(KEY_B), &[]).json()[0]["status"],
        500
    );
    server
        .post(FAULTS, None, Some("application/json"), r#"{"status":500}"#)
        .assert_error(401, "Invalid or missing API key");
}
