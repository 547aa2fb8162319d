//! The API's writes (SPEC 7.5–7.7): contact metadata and ticket metadata, what they
//! store, what they refuse without changing anything, and what every reader sees after.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const KEY: &str = "writes-a";
const OTHER_KEY: &str = "writes-b";
const CLIENT: &str = "aaaaaaaa-1111-4000-8000-00000000000a";
const OTHER_CLIENT: &str = "bbbbbbbb-2222-4000-8000-00000000000b";

/// Active ticket and last closed ticket; phone digits 56912345678, newest of that number.
const ANA: &str = "10000000-0000-4000-8000-0000000000a1";
/// Same phone digits as Ana, older; no tickets.
const BEA: &str = "20000000-0000-4000-8000-0000000000b2";
/// Only a closed ticket.
const CARLA: &str = "30000000-0000-4000-8000-0000000000c3";
/// No tickets at all.
const DORA: &str = "40000000-0000-4000-8000-0000000000d4";
/// Client B's, with Ana's phone digits too.
const OTTO: &str = "50000000-0000-4000-8000-0000000000e5";

const ANA_OPEN: &str = "a1000000-0000-4000-8000-000000000001";
const ANA_CLOSED: &str = "a1000000-0000-4000-8000-000000000002";
const CARLA_CLOSED: &str = "c3000000-0000-4000-8000-000000000003";
const OTTO_OPEN: &str = "e5000000-0000-4000-8000-000000000005";

const TICKET_METADATA: &str = "/api/public/ticket/metadata";

fn update_path(id: &str) -> String {
    format!("{CONTACT_ROUTE}/{id}/update-metadata")
}

fn contact(id: &str, client: &str, phone: &str, last_message_at: &str) -> Value {
    json!({
        "id": id, "client_id": client, "ai_customer_id": id, "name": format!("contact {id}"),
        "phone": phone, "platform": "whatsapp", "chat_status": "ATTENDED",
        "created_at": "2024-01-01T00:00:00Z", "last_message_at": last_message_at,
        "updated_at": "2024-06-01T00:00:00Z",
    })
}

fn ticket(id: &str, status: &str, metadata: Value) -> Value {
    json!({"id": id, "status": status, "created_at": "2024-02-01T00:00:00Z",
           "updated_at": "2024-02-02T00:00:00Z", "metadata": metadata})
}

/// The data set (`json!` writes object keys sorted, so stored metadata is in key order).
fn data() -> Value {
    let mut ana = contact(ANA, CLIENT, "+56 9 1234-5678", "2024-09-30T10:00:00Z");
    ana["metadata"] = json!({"plan": "gold", "nested": {"list": [1, "dos", null]}, "emoji": "☕"});
    ana["active_ticket_v2_id"] = json!(ANA_OPEN);
    ana["last_closed_ticket_v2_id"] = json!(ANA_CLOSED);
    ana["tickets"] = json!([
        ticket(ANA_OPEN, "OPEN", json!({"priority": "high"})),
        ticket(ANA_CLOSED, "CLOSED", json!({"csat": "5"})),
    ]);
    let bea = contact(BEA, CLIENT, "56912345678", "2024-09-01T00:00:00Z");
    let mut carla = contact(CARLA, CLIENT, "+1 555 0100", "2024-08-01T00:00:00Z");
    carla["last_closed_ticket_v2_id"] = json!(CARLA_CLOSED);
    carla["tickets"] = json!([ticket(CARLA_CLOSED, "CLOSED", json!({}))]);
    let dora = contact(DORA, CLIENT, "+1 555 0199", "2024-07-01T00:00:00Z");
    let mut otto = contact(
        OTTO,
        OTHER_CLIENT,
        "+56 9 1234 5678",
        "2024-10-01T00:00:00Z",
    );
    otto["active_ticket_v2_id"] = json!(OTTO_OPEN);
    otto["tickets"] = json!([ticket(OTTO_OPEN, "OPEN", json!({}))]);
    json!({
        "clients": [
            {"id": CLIENT, "name": "A", "api_keys": [{"name": "k", "key": KEY}]},
            {"id": OTHER_CLIENT, "name": "B", "api_keys": [{"name": "k", "key": OTHER_KEY}]},
        ],
        "contacts": [ana, bea, carla, dora, otto],
    })
}

fn workspace() -> Workspace {
    let ws = Workspace::new();
    let file = ws.write("writes.json", &data().to_string());
    ws.load(file.to_str().unwrap());
    ws
}

fn serve(args: &[&str]) -> (Workspace, TestServer) {
    let ws = workspace();
    let mut all = vec!["--no-demo"];
    all.extend_from_slice(args);
    let server = ws.serve(&all);
    (ws, server)
}

fn info(server: &TestServer, id: &str) -> Value {
    let reply = server.info(id, Some(KEY));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// The raw text of a contact's `/info` answer, to compare byte for byte.
fn info_text(server: &TestServer, id: &str) -> String {
    server.info(id, Some(KEY)).body
}

/// The ids the list finds with `updated_after=after`.
fn updated_after(server: &TestServer, after: &str) -> Vec<String> {
    let reply = server.get(
        &format!("/api/public/contacts?updated_after={after}"),
        Some(KEY),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn updated_at(server: &TestServer, id: &str) -> String {
    let reply = server.get(
        "/api/public/contacts?updated_after=2000-01-01T00:00:00Z&limit=1000",
        Some(KEY),
        &[],
    );
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["updated_at"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{id} is not listed"))
}

#[test]
fn contact_metadata_is_merged_in_snake_case_and_the_written_keys_come_back() {
    let (_ws, server) = serve(&[]);
    let before = server.info(ANA, Some(KEY));
    let etag = before.header("etag").unwrap().to_owned();

    let reply = server.post_json(
        &update_path(ANA),
        KEY,
        r#"{"companyName": "Acme Corp", "Lead Score": 42, "HTTPServer": null,
            "plan": {"tier" : [ 1 , 2.50 ]}, "company_name": "Acme S.A.", "Ñandú Rojo": "sí"}"#,
    );

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.body,
        r#"[{"key":"company_name","value":"Acme S.A."},{"key":"lead_score","value":42},{"key":"http_server","value":null},{"key":"plan","value":{"tier":[1,2.50]}},{"key":"ñandú_rojo","value":"sí"}]"#
    );
    let after = server.info(ANA, Some(KEY));
    assert_ne!(
        after.header("etag").unwrap(),
        etag,
        "a write gives a new ETag"
    );
    let text = after.body;
    let metadata = &text[text.find(r#""metadata":{"emoji""#).expect(&text)..];
    assert!(
        metadata.starts_with(
            r#""metadata":{"emoji":"☕","nested":{"list":[1,"dos",null]},"plan":{"tier":[1,2.50]},"company_name":"Acme S.A.","lead_score":42,"http_server":null,"ñandú_rojo":"sí"},"#
        ),
        "stored keys replaced in place, new ones after, numbers as sent: {metadata}"
    );
    let old = server.get(
        &TestServer::info_path(ANA),
        Some(KEY),
        &[("if-none-match", &etag)],
    );
    assert_eq!(old.status, 200, "the old tag no longer matches");
}

#[test]
fn a_wrapped_body_writes_its_inner_object_and_an_empty_one_writes_nothing() {
    let (ws, server) = serve(&[]);

    let wrapped = server.post_json(&update_path(DORA), KEY, r#"{"metadata":{"crmId":"x-1"}}"#);
    assert_eq!(wrapped.status, 201, "{}", wrapped.body);
    assert_eq!(wrapped.body, r#"[{"key":"crm_id","value":"x-1"}]"#);
    assert_eq!(info(&server, DORA)["metadata"], json!({"crm_id": "x-1"}));

    let before = ws.dump();
    for empty in ["{}", r#"{"metadata":{}}"#] {
        let reply = server.post_json(&update_path(DORA), KEY, empty);
        assert_eq!((reply.status, reply.body.as_str()), (201, "[]"), "{empty}");
    }
    assert_eq!(
        ws.dump(),
        before,
        "an empty write changes nothing, updated_at included"
    );
}

#[test]
fn a_contact_write_moves_updated_at_so_the_list_finds_it() {
    let (_ws, server) = serve(&[]);
    assert_eq!(updated_at(&server, BEA), "2024-06-01T00:00:00.000Z");
    assert!(updated_after(&server, "2025-01-01T00:00:00Z").is_empty());

    let reply = server.post_json(&update_path(BEA), KEY, r#"{"a":"b"}"#);
    assert_eq!(reply.status, 201, "{}", reply.body);

    assert_eq!(updated_after(&server, "2025-01-01T00:00:00Z"), [BEA]);
    assert!(
        updated_at(&server, BEA).as_str() > "2025",
        "stamped with the time of the write"
    );
}

/// Every refused write, each answered in the envelope, none changing a row.
#[test]
fn bad_contact_writes_are_refused_and_change_nothing() {
    let (ws, server) = serve(&["--max-body-bytes", "4096"]);
    let before = ws.dump();
    let ana = update_path(ANA);
    let json = Some("application/json");

    let reply = server.post(&ana, Some(KEY), json, r#"{"a":"#);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.json()["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The body is not valid JSON: ")),
        "malformed JSON is one sentence: {}",
        reply.body
    );
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        server
            .post(&ana, Some(KEY), content_type, r#"{"a":1}"#)
            .assert_error(415, "Content-Type must be application/json");
    }
    let charset = server.post(
        &ana,
        Some(KEY),
        Some("Application/JSON; charset=utf-8"),
        "{}",
    );
    assert_eq!(
        charset.status, 201,
        "parameters and case are fine: {}",
        charset.body
    );
    assert_problems(
        &server.post(&ana, Some(KEY), json, "[1,2]"),
        &["body must be a JSON object, not [1,2]"],
    );
    assert_problems(
        &server.post(&ana, Some(KEY), json, r#""text""#),
        &[r#"body must be a JSON object, not "text""#],
    );
    assert_problems(
        &server.post(&ana, Some(KEY), json, r#"{"--":1,"ok":2,"":3}"#),
        &[
            r#"metadata key "--" is empty once written in snake_case"#,
            r#"metadata key "" is empty once written in snake_case"#,
        ],
    );
    let deep = format!("{}1{}", r#"{"a":"#.repeat(65), "}".repeat(65));
    assert_problems(
        &server.post(&ana, Some(KEY), json, &deep),
        &["body nested 65 levels deep; at most 64 levels are allowed"],
    );
    let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(5000));
    server
        .post(&ana, Some(KEY), json, &big)
        .assert_error(413, "Payload Too Large");
    server
        .post(
            &update_path(DORA.replace('d', "e").as_str()),
            Some(KEY),
            json,
            "{}",
        )
        .assert_error(404, "Contact not found");
    server
        .post(&update_path(OTTO), Some(KEY), json, r#"{"a":1}"#)
        .assert_error(404, "Contact not found");
    server
        .post(&update_path("not-a-uuid"), Some(KEY), json, r#"{"a":1}"#)
        .assert_error(400, "Validation failed (uuid is expected)");
    server
        .post(&ana, None, json, r#"{"a":1}"#)
        .assert_error(401, "Invalid or missing API key");
    server
        .post(&ana, Some("wrong"), Some("text/plain"), "[")
        .assert_error(401, "Invalid or missing API key");

    // A body without Content-Length, over the limit: only reading it can tell.
    let chunk = "x".repeat(3000);
    let request = format!(
        "POST {ana} HTTP/1.1\r\nHost: t\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         {len:x}\r\n{{\"a\":\"{chunk}\r\n{len:x}\r\n{chunk}\"}}\r\n0\r\n\r\n",
        len = chunk.len() + 6,
    );
    let answer = server.raw(request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""statusCode":413"#), "{answer}");

    assert_eq!(ws.dump(), before);
}

#[test]
fn merged_metadata_over_256_kib_is_refused_and_changes_nothing() {
    let (ws, server) = serve(&[]);
    let half = "x".repeat(140 * 1024);
    let first = server.post_json(&update_path(DORA), KEY, &format!(r#"{{"one":"{half}"}}"#));
    assert_eq!(first.status, 201, "{}", first.body);
    let before = ws.dump();

    let second = server.post_json(&update_path(DORA), KEY, &format!(r#"{{"two":"{half}"}}"#));

    assert_problems(
        &second,
        &["metadata must not be larger than 262144 bytes once merged (it would be 286739)"],
    );
    assert_eq!(ws.dump(), before);
    let replaced = server.post_json(&update_path(DORA), KEY, &format!(r#"{{"one":"{half}"}}"#));
    assert_eq!(
        replaced.status, 201,
        "replacing a key counts its new value only"
    );
}

fn ticket_write(server: &TestServer, body: Value) -> Reply {
    server.post_json(TICKET_METADATA, KEY, &body.to_string())
}

fn ticket_metadata(server: &TestServer, contact: &str, which: &str) -> Value {
    info(server, contact)[which]["metadata"].clone()
}

#[test]
fn a_ticket_is_found_by_ticket_contact_or_number_and_its_metadata_merged() {
    let (_ws, server) = serve(&[]);

    let by_ticket = ticket_write(
        &server,
        json!({"ticket_id": ANA_OPEN, "metadata": {"tag": "vip"}}),
    );
    assert_eq!(
        (by_ticket.status, by_ticket.body.as_str()),
        (201, r#"{"status":"ok"}"#)
    );
    let by_contact = ticket_write(
        &server,
        json!({"ai_contact_id": ANA, "metadata": {"Owner Name": "camila", "tag": "vip2"},
               "contact_number": null, "allow_closed_ticket": null, "unknown": [1]}),
    );
    assert_eq!(by_contact.status, 201, "{}", by_contact.body);
    // Ana is the newest of the client's two contacts with these digits; Otto (the other
    // client's, newer still) is never a candidate.
    let by_number = ticket_write(
        &server,
        json!({"contact_number": "+56 (9) 1234 5678", "metadata": {"via": "phone"}}),
    );
    assert_eq!(by_number.status, 201, "{}", by_number.body);

    assert_eq!(
        ticket_metadata(&server, ANA, "active_ticket"),
        json!({"priority": "high", "tag": "vip2", "Owner Name": "camila", "via": "phone"}),
        "keys kept as sent, merged into the active ticket"
    );
    let ana = info(&server, ANA);
    assert_eq!(ana["active_ticket_v2"], ana["active_ticket"]);
    assert!(ana["active_ticket"]["updated_at"].as_str().unwrap() > "2025");
    assert_eq!(ana["last_closed_ticket"]["metadata"], json!({"csat": "5"}));
    assert_eq!(
        updated_after(&server, "2025-01-01T00:00:00Z"),
        [ANA],
        "the contact moves too"
    );
    let otto = server.info(OTTO, Some(OTHER_KEY)).json();
    assert_eq!(otto["active_ticket"]["metadata"], json!({}));
}

#[test]
fn closed_tickets_are_written_only_when_allowed() {
    let (ws, server) = serve(&[]);
    let before = ws.dump();

    ticket_write(
        &server,
        json!({"ticket_id": ANA_CLOSED, "metadata": {"a": "1"}}),
    )
    .assert_error(404, "Ticket not found");
    ticket_write(
        &server,
        json!({"ai_contact_id": CARLA, "metadata": {"a": "1"}}),
    )
    .assert_error(404, "Ticket not found");
    ticket_write(
        &server,
        json!({"ai_contact_id": DORA, "metadata": {"a": "1"}, "allow_closed_ticket": true}),
    )
    .assert_error(404, "Ticket not found");
    assert_eq!(ws.dump(), before);

    let closed = ticket_write(
        &server,
        json!({"ticket_id": ANA_CLOSED, "metadata": {"a": "1"}, "allow_closed_ticket": true}),
    );
    assert_eq!(closed.status, 201, "{}", closed.body);
    assert_eq!(
        ticket_metadata(&server, ANA, "last_closed_ticket"),
        json!({"csat": "5", "a": "1"})
    );
    let carla = ticket_write(
        &server,
        json!({"contact_number": "15550100", "metadata": {"b": "2"}, "allow_closed_ticket": true}),
    );
    assert_eq!(carla.status, 201, "{}", carla.body);
    assert_eq!(
        ticket_metadata(&server, CARLA, "last_closed_ticket"),
        json!({"b": "2"})
    );
    let open_with_allow = ticket_write(
        &server,
        json!({"ai_contact_id": ANA, "metadata": {"c": "3"}, "allow_closed_ticket": true}),
    );
    assert_eq!(open_with_allow.status, 201);
    assert_eq!(
        ticket_metadata(&server, ANA, "active_ticket")["c"],
        "3",
        "active first"
    );
}

#[test]
fn bad_ticket_writes_are_refused_and_change_nothing() {
    let (ws, server) = serve(&[]);
    let before = ws.dump();

    ticket_write(
        &server,
        json!({"ai_contact_id": DORA.replace('d', "e"), "metadata": {}}),
    )
    .assert_error(404, "Contact not found");
    ticket_write(
        &server,
        json!({"ai_contact_id": OTTO, "metadata": {"a": "1"}}),
    )
    .assert_error(404, "Contact not found");
    ticket_write(
        &server,
        json!({"contact_number": "+56 9 1234", "metadata": {"a": "1"}}),
    )
    .assert_error(404, "Contact not found");
    ticket_write(
        &server,
        json!({"ticket_id": OTTO_OPEN, "metadata": {"a": "1"}}),
    )
    .assert_error(404, "Ticket not found");
    assert_problems(
        &ticket_write(&server, json!({"metadata": {"a": "1"}})),
        &["exactly one of ticket_id, ai_contact_id, contact_number must be given"],
    );
    assert_problems(
        &ticket_write(
            &server,
            json!({"ticket_id": ANA_OPEN, "ai_contact_id": ANA, "metadata": {"a": "1"}}),
        ),
        &["exactly one of ticket_id, ai_contact_id, contact_number must be given"],
    );
    assert_problems(
        &ticket_write(
            &server,
            json!({"ticket_id": 7, "metadata": {"a": 1, "b": {"c": "d"}}, "allow_closed_ticket": "true"}),
        ),
        &[
            "ticket_id must be a UUID",
            r#"metadata values must be strings; not so for "a", "b""#,
            "allow_closed_ticket must be a boolean",
        ],
    );
    assert_problems(
        &ticket_write(
            &server,
            json!({"contact_number": 56912345678_i64, "metadata": []}),
        ),
        &[
            "contact_number must be a string",
            "metadata must be an object of strings",
        ],
    );
    assert_problems(
        &ticket_write(&server, json!({"ai_contact_id": "not-a-uuid"})),
        &[
            "ai_contact_id must be a UUID",
            "metadata must be an object of strings",
        ],
    );
    assert_problems(
        &server.post_json(TICKET_METADATA, KEY, "[]"),
        &["body must be a JSON object, not []"],
    );
    server
        .post(TICKET_METADATA, Some(KEY), Some("text/json"), "{}")
        .assert_error(415, "Content-Type must be application/json");
    server
        .post(
            TICKET_METADATA,
            Some("nope"),
            Some("application/json"),
            "{}",
        )
        .assert_error(401, "Invalid or missing API key");
    let get = server.get(TICKET_METADATA, Some(KEY), &[]);
    get.assert_error(405, "Method Not Allowed");
    assert_eq!(get.header("allow"), Some("POST"));

    assert_eq!(ws.dump(), before);
}

#[test]
fn writes_are_logged_by_route_client_and_status_never_by_value() {
    let (_ws, server) = serve(&[]);
    let secret = "s3cr3t-value-never-logged";

    let reply = server.post_json(
        &update_path(ANA),
        KEY,
        &format!(r#"{{"token":"{secret}"}}"#),
    );
    assert_eq!(reply.status, 201);
    let ticket = ticket_write(
        &server,
        json!({"ticket_id": ANA_OPEN, "metadata": {"t": secret}}),
    );
    assert_eq!(ticket.status, 201);

    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("method=POST")).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("route=/api/public/contact/{aiContactId}/update-metadata"));
    assert!(lines[1].contains("route=/api/public/ticket/metadata"));
    for line in lines {
        assert!(line.contains(&format!("client_id={CLIENT}")), "{line}");
        assert!(line.contains("status=201"), "{line}");
    }
    assert!(!log.contains(secret), "{log}");
}

/// SPEC 7.7: once a write is answered, every worker of this server and every other
/// process on the file answers with it, though each had the old body cached.
#[test]
fn every_worker_and_every_process_sees_a_write_at_once() {
    let ws = workspace();
    let first = ws.serve(&["--no-demo", "--workers", "4"]);
    let second = ws.serve(&["--no-demo", "--workers", "4"]);
    let servers = [&first, &second];
    // Warm every worker's body cache: keep-alive connections spread over workers, so
    // fresh agents (new connections) reach all of them.
    let old = info_text(&first, ANA);
    for server in servers {
        for _ in 0..40 {
            assert_eq!(fresh_info(server, ANA).body, old);
        }
    }

    for (round, writer) in [&first, &second, &first].into_iter().enumerate() {
        let reply = writer.post_json(&update_path(ANA), KEY, &format!(r#"{{"round":{round}}}"#));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let fresh = info_text(writer, ANA);
        assert!(fresh.contains(&format!(r#""round":{round}"#)), "{fresh}");
        for server in servers {
            for _ in 0..40 {
                let seen = fresh_info(server, ANA);
                assert_eq!(seen.body, fresh, "round {round}: a stale body was served");
            }
        }
    }
}

/// `/info` on a new connection (a new agent), so requests land on every worker.
fn fresh_info(server: &TestServer, id: &str) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent
        .get(server.url(&TestServer::info_path(id)))
        .header("x-api-key", KEY)
        .call()
        .expect("GET /info");
    Reply {
        status: response.status().as_u16(),
        headers: Vec::new(),
        body: response.body_mut().read_to_string().unwrap(),
    }
}

/// N writers at once, half through each of two processes on one file, each adding keys
/// of its own to one contact: a lost update would drop keys.
#[test]
fn concurrent_writers_to_one_contact_lose_no_key() {
    const WRITERS: usize = 16;
    const WRITES_EACH: usize = 15;
    let ws = workspace();
    let servers = [
        ws.serve(&["--no-demo", "--workers", "2"]),
        ws.serve(&["--no-demo", "--workers", "2"]),
    ];
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let server = &servers[writer % 2];
            scope.spawn(move || {
                for n in 0..WRITES_EACH {
                    let body = format!(r#"{{"writer{writer}Key{n}": {n}}}"#);
                    let reply = server.post_json(&update_path(ANA), KEY, &body);
                    assert_eq!(reply.status, 201, "{}", reply.body);
                    let tickets =
                        json!({"ai_contact_id": ANA, "metadata": {format!("w{writer}-{n}"): "x"}});
                    let reply = ticket_write(server, tickets);
                    assert_eq!(reply.status, 201, "{}", reply.body);
                }
            });
        }
    });

    let ana = info(&servers[0], ANA);
    let keys: BTreeSet<&str> = ana["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let ticket_keys = ana["active_ticket"]["metadata"].as_object().unwrap().len();
    for writer in 0..WRITERS {
        for n in 0..WRITES_EACH {
            let key = format!("writer{writer}_key{n}");
            assert!(keys.contains(key.as_str()), "{key} was lost");
        }
    }
    assert_eq!(
        keys.len(),
        3 + WRITERS * WRITES_EACH,
        "the fixture's keys stay too"
    );
    assert_eq!(ticket_keys, 1 + WRITERS * WRITES_EACH);
}

/// `kill -9` in the middle of a stream of writes: every write that was answered 201 is
/// there after a restart (bench/crash.sh does the same at 200k contacts).
#[test]
fn a_killed_server_keeps_every_acknowledged_write() {
    let ws = workspace();
    let server = ws.serve(&["--no-demo", "--workers", "2"]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acknowledged = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let (server, stop) = (&server, &stop);
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(5)))
                        .build()
                        .into();
                    let url = server.url(&update_path([ANA, BEA, CARLA, DORA][writer]));
                    let mut acked = Vec::new();
                    for n in 0.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let result = agent
                            .post(&url)
                            .header("x-api-key", KEY)
                            .header("content-type", "application/json")
                            .send(format!(r#"{{"k{n}":{n}}}"#));
                        match result {
                            Ok(reply) if reply.status() == 201 => acked.push(n),
                            Ok(reply) => panic!("write answered {}", reply.status()),
                            Err(_) => break,
                        }
                    }
                    (writer, acked)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        std::process::Command::new("kill")
            .args(["-KILL", &server.pid().to_string()])
            .status()
            .expect("kill");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    drop(server);
    let total: usize = acknowledged.iter().map(|(_, a)| a.len()).sum();
    assert!(
        total > 20,
        "too few writes before the kill to tell anything: {total}"
    );

    let restarted = ws.serve(&["--no-demo"]);
    for (writer, acked) in acknowledged {
        let id = [ANA, BEA, CARLA, DORA][writer];
        let metadata = info(&restarted, id)["metadata"].clone();
        for n in acked {
            assert_eq!(
                metadata[format!("k{n}")],
                json!(n),
                "{id}: acknowledged k{n} lost"
            );
        }
    }
    ws.run(&["check"]).assert_success();
}

/// Another process holds the write lock past the busy timeout (5 s): the write answers
/// 503 with `Retry-After` and changes nothing, and reads answer at once meanwhile.
#[test]
fn a_write_that_cannot_get_the_lock_answers_503_and_reads_go_on() {
    let (ws, server) = serve(&[]);
    let before = info_text(&server, ANA);
    let holder = rusqlite::Connection::open(ws.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE;").unwrap();

    let started = std::time::Instant::now();
    let (write, read_took) = std::thread::scope(|scope| {
        let write = scope.spawn(|| server.post_json(&update_path(ANA), KEY, r#"{"a":1}"#));
        std::thread::sleep(Duration::from_millis(300));
        let read_started = std::time::Instant::now();
        let answer = server.raw(
            format!(
                "GET {} HTTP/1.1\r\nHost: t\r\nx-api-key: {KEY}\r\nconnection: close\r\n\r\n",
                TestServer::info_path(ANA)
            )
            .as_bytes(),
        );
        assert!(answer.ends_with(&before), "{answer}");
        let read_took = read_started.elapsed();
        (write.join().unwrap(), read_took)
    });

    write.assert_error(503, "The database is busy; retry shortly");
    assert_eq!(write.header("retry-after"), Some("1"));
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        read_took < Duration::from_secs(1),
        "a read waited {read_took:?}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(info_text(&server, ANA), before);
    let retried = server.post_json(&update_path(ANA), KEY, r#"{"a":1}"#);
    assert_eq!(retried.status, 201, "{}", retried.body);
}
