//! The request journal (SPEC 12.1): what each client's requests sent and got back, read
//! through `/api/sandbox/requests`.

use serde_json::Value;

use crate::helpers::*;

const JOURNAL: &str = "/api/sandbox/requests";
const INFO_ROUTE: &str = "/api/public/contact/{aiContactId}/info";
const UPDATE_ROUTE: &str = "/api/public/contact/{aiContactId}/update-metadata";

fn entries(server: &TestServer, key: &str, query: &str) -> Vec<Value> {
    let reply = server.get(&format!("{JOURNAL}{query}"), Some(key), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json().as_array().unwrap().clone()
}

fn update_path(contact: &str) -> String {
    format!("/api/public/contact/{contact}/update-metadata")
}

/// The id `keys list` shows for the key named `name` of client A.
fn key_id(ws: &Workspace, name: &str) -> String {
    let list = ws.run(&[
        "keys",
        "list",
        "--client",
        "aaaaaaaa-0000-4000-8000-000000000001",
    ]);
    list.assert_success();
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains(&format!("\t{name}\t")))
        .unwrap_or_else(|| panic!("no key {name}:\n{}", list.stdout));
    line.split('\t').next().unwrap().to_owned()
}

#[test]
fn an_entry_holds_what_was_sent_and_answered_and_never_the_key() {
    let (ws, server) = server_with_tenants();
    let info = server.get(
        &format!("{}?x=1", TestServer::info_path(FULL_CONTACT)),
        Some(KEY_A),
        &[("x-request-id", "trace-1"), ("x-custom", "yes")],
    );
    let body = r#"{"plan":"platinum","note":"ñandú"}"#;
    let written = server.post_json(&update_path(FULL_CONTACT), "key-a-2", body);
    assert_eq!(written.status, 201, "{}", written.body);

    let journal = entries(&server, KEY_A, "");
    assert_eq!(journal.len(), 2, "{journal:?}");
    let (newest, oldest) = (&journal[0], &journal[1]);

    // Keys in the contract's order (serde_json's Value would sort them): the first
    // occurrence of each in the raw answer, which starts with the newest entry.
    let raw = server.get(JOURNAL, Some(KEY_A), &[]).body;
    let order = [
        "id",
        "time",
        "method",
        "path",
        "route",
        "status",
        "latency_ms",
        "request_id",
        "key_id",
        "request_headers",
        "request_body",
        "response_body",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|k| {
            raw.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{order:?} at {at:?}");
    assert!(raw.starts_with(r#"[{"id":"#));
    assert_eq!(newest.as_object().unwrap().len(), order.len());
    assert_eq!(oldest["method"], "GET");
    assert_eq!(
        oldest["path"],
        format!("{}?x=1", TestServer::info_path(FULL_CONTACT))
    );
    assert_eq!(oldest["route"], INFO_ROUTE);
    assert_eq!(oldest["status"], 200);
    assert_eq!(oldest["request_id"], "trace-1");
    assert_eq!(oldest["key_id"], key_id(&ws, "primary"));
    assert_eq!(oldest["request_headers"]["x-custom"], "yes");
    assert!(oldest["request_headers"].get("x-api-key").is_none());
    assert_eq!(oldest["request_body"], Value::Null);
    // The answer's first 4 KiB, as text: the whole body when it is shorter.
    let answer = &info.body;
    let kept = oldest["response_body"].as_str().unwrap();
    assert_eq!(kept, &answer[..kept.len()]);
    assert!(kept.len() == answer.len() || (4093..=4096).contains(&kept.len()));

    assert_eq!(newest["method"], "POST");
    assert_eq!(newest["route"], UPDATE_ROUTE);
    assert_eq!(newest["status"], 201);
    assert_eq!(newest["key_id"], key_id(&ws, "dashboard"));
    assert_eq!(newest["request_body"], body);
    assert_eq!(newest["response_body"], written.body);
    assert_eq!(
        newest["request_id"].as_str(),
        written.header("x-request-id")
    );
    assert!(newest["id"].as_u64() > oldest["id"].as_u64());
    assert!(newest["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(
        !server.get(JOURNAL, Some(KEY_A), &[]).body.contains(KEY_A),
        "a key is never kept"
    );
}

#[test]
fn only_requests_with_a_valid_key_are_kept_and_each_client_sees_its_own() {
    let (_ws, server) = server_with_tenants();
    server.info(FULL_CONTACT, None);
    server.info(FULL_CONTACT, Some("not-a-key"));
    server.get("/healthz", Some(KEY_A), &[]);
    server.get("/api/sandbox/faults", Some(KEY_A), &[]);
    // A client's request for another's contact is its own request, kept as its own.
    assert_eq!(server.info(CONTACT_OF_B, Some(KEY_A)).status, 404);
    // Answered before any handler reads the key: still the client's.
    assert_eq!(
        server
            .request("PATCH", "/api/public/pipeline", Some(KEY_A), &[])
            .status,
        405
    );
    assert_eq!(server.get("/api/nowhere", Some(KEY_A), &[]).status, 404);
    // Refused by the limits before routing, with a valid key: the client's too.
    let long = format!("/api/public/pipeline?pad={}", "a".repeat(9000));
    assert_eq!(server.get(&long, Some(KEY_A), &[]).status, 414);
    server.info(CONTACT_OF_B, Some(KEY_B));

    let of_a = entries(&server, KEY_A, "");
    let seen: Vec<(&str, Value, u64)> = of_a
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap(),
                e["route"].clone(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("GET", "/api/public/pipeline".into(), 414),
            ("GET", Value::Null, 404),
            ("PATCH", "/api/public/pipeline".into(), 405),
            ("GET", INFO_ROUTE.into(), 404),
        ]
    );
    let of_b = entries(&server, KEY_B, "");
    assert_eq!(of_b.len(), 1);
    assert_eq!(of_b[0]["path"], TestServer::info_path(CONTACT_OF_B));

    let cleared = server.send_json("DELETE", JOURNAL, KEY_A, "");
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body, r#"{"status":"ok","deleted":4}"#);
    assert_eq!(entries(&server, KEY_A, "").len(), 0);
    assert_eq!(
        entries(&server, KEY_B, "").len(),
        1,
        "another client's stay"
    );
}

#[test]
fn the_filters_pick_entries_and_bad_ones_are_each_named() {
    let (_ws, server) = server_with_tenants();
    server.info(FULL_CONTACT, Some(KEY_A));
    let middle = server.post_json(&update_path(FULL_CONTACT), KEY_A, r#"{"a":1}"#);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let since = entries(&server, KEY_A, "")[0]["time"]
        .as_str()
        .unwrap()
        .to_owned();
    server.info("not-a-uuid", Some(KEY_A));
    server.post_json(&update_path(FULL_CONTACT), KEY_A, "{");

    let count = |query: &str| entries(&server, KEY_A, query).len();
    assert_eq!(count(""), 4);
    assert_eq!(
        count("?route=/api/public/contact/%7BaiContactId%7D/info"),
        2
    );
    assert_eq!(count("?method=post"), 2);
    assert_eq!(count("?status=400"), 2);
    assert_eq!(count("?status=400&method=GET"), 1);
    assert_eq!(count(&format!("?since={since}")), 3);
    let newest = entries(&server, KEY_A, "?limit=1");
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["request_body"], "{");
    let at = entries(&server, KEY_A, "?method=POST&status=201");
    assert_eq!(at[0]["request_id"].as_str(), middle.header("x-request-id"));

    let bad = server.get(
        &format!("{JOURNAL}?route=/nope&method=BREW&status=x&since=today&limit=1001"),
        Some(KEY_A),
        &[],
    );
    let problems = bad.json()["message"].clone();
    let problems: Vec<&str> = problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(problems[0].starts_with("route must be one of the following values: "));
    assert_eq!(
        &problems[1..],
        [
            "method must be one of the following values: GET, HEAD, POST, PUT, DELETE",
            "status must be an integer number",
            "since must be a valid ISO 8601 date string with a time zone (RFC 3339)",
            "limit must not be greater than 1000"
        ]
    );
}

#[test]
fn the_journal_keeps_its_bounds_by_count_and_by_memory() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--journal-size", "3"]);
    for _ in 0..5 {
        server.get("/api/public/pipeline", Some(KEY_A), &[]);
    }
    server.info(FULL_CONTACT, Some(KEY_A));
    let kept = entries(&server, KEY_A, "");
    assert_eq!(kept.len(), 3);
    assert_eq!(kept[0]["route"], INFO_ROUTE, "the newest stay");
    let metrics = server.get("/metrics", None, &[]).body;
    assert!(
        metrics.contains("contactd_journal_entries 3\n"),
        "{metrics}"
    );
    drop(server);

    // 1 MiB for 40 bodies of 60 KiB: only the newest ~16 fit, each cut at 64 KiB.
    let server = ws.serve(&["--no-demo", "--journal-memory", "1"]);
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(100 * 1024));
    server.post_json(&update_path(FULL_CONTACT), KEY_A, &big);
    let first = entries(&server, KEY_A, "");
    assert!(first[0]["request_body"].as_str().unwrap() == &big[..64 * 1024]);
    let body = format!(r#"{{"pad":"{}"}}"#, "y".repeat(60 * 1024));
    for _ in 0..40 {
        server.post_json(&update_path(FULL_CONTACT), KEY_A, &body);
    }
    let kept = entries(&server, KEY_A, "?limit=1000");
    assert!(
        (10..=17).contains(&kept.len()),
        "{} entries of ~61 KiB in 1 MiB",
        kept.len()
    );
    assert!(
        kept.iter()
            .all(|e| e["request_body"].as_str() == Some(&body))
    );
}

#[test]
fn without_a_journal_nothing_is_kept_and_the_routes_still_answer() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--no-journal"]);
    assert!(
        server.banner.iter().any(|l| l.contains("journal: off")),
        "{:?}",
        server.banner
    );
    server.info(FULL_CONTACT, Some(KEY_A));
    assert_eq!(entries(&server, KEY_A, ""), Vec::<Value>::new());
    let cleared = server.send_json("DELETE", JOURNAL, KEY_A, "");
    assert_eq!(cleared.body, r#"{"status":"ok","deleted":0}"#);
    server
        .get(JOURNAL, None, &[])
        .assert_error(401, "Invalid or missing API key");
}
