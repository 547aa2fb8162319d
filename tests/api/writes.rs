//! The API's writes (SPEC 7.5–7.7): contact metadata and ticket metadata, what they
//! store and what they refuse without changing anything. What every reader, writer and
//! crash sees of them is in `write_consistency`.

use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const KEY: &str = "writes-a";
const OTHER_KEY: &str = "writes-b";
const CLIENT: &str = "aaaaaaaa-1111-4000-8000-00000000000a";
const OTHER_CLIENT: &str = "bbbbbbbb-2222-4000-8000-00000000000b";

/// Active ticket and last closed ticket; phone digits 56912345678, newest of that number.
pub(crate) const ANA: &str = "10000000-0000-4000-8000-0000000000a1";
/// Same phone digits as Ana, older; no tickets.
pub(crate) const BEA: &str = "20000000-0000-4000-8000-0000000000b2";
/// Only a closed ticket.
pub(crate) const CARLA: &str = "30000000-0000-4000-8000-0000000000c3";
/// No tickets at all.
pub(crate) const DORA: &str = "40000000-0000-4000-8000-0000000000d4";
/// Client B's, with Ana's phone digits too.
const OTTO: &str = "50000000-0000-4000-8000-0000000000e5";

const ANA_OPEN: &str = "a1000000-0000-4000-8000-000000000001";
const ANA_CLOSED: &str = "a1000000-0000-4000-8000-000000000002";
const CARLA_CLOSED: &str = "c3000000-0000-4000-8000-000000000003";
const OTTO_OPEN: &str = "e5000000-0000-4000-8000-000000000005";

const TICKET_METADATA: &str = "/api/public/ticket/metadata";

pub(crate) fn update_path(id: &str) -> String {
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

pub(crate) fn workspace() -> Workspace {
    let ws = Workspace::new();
    let file = ws.write("writes.json", &data().to_string());
    ws.load(file.to_str().unwrap());
    ws
}

pub(crate) fn serve(args: &[&str]) -> (Workspace, TestServer) {
    let ws = workspace();
    let mut all = vec!["--no-demo"];
    all.extend_from_slice(args);
    let server = ws.serve(&all);
    (ws, server)
}

pub(crate) fn info(server: &TestServer, id: &str) -> Value {
    let reply = server.info(id, Some(KEY));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// The raw text of a contact's `/info` answer, to compare byte for byte.
pub(crate) fn info_text(server: &TestServer, id: &str) -> String {
    server.info(id, Some(KEY)).body
}

/// The ids the list finds with `updated_after=after`.
fn updated_after(server: &TestServer, after: &str) -> Vec<String> {
    ids(&server.get(
        &format!("/api/public/contacts?updated_after={after}"),
        Some(KEY),
        &[],
    ))
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

/// What was written is what the list's metadata filters match, for the contact's
/// metadata and for its active ticket's.
#[test]
fn written_metadata_is_what_the_list_filters_on() {
    let (_ws, server) = serve(&[]);
    let filtered = |query: &str| {
        ids(&server.get(
            &format!("/api/public/contacts?created_after=2000-01-01T00:00:00Z&{query}"),
            Some(KEY),
            &[],
        ))
    };
    let by_stage = "custom_field_key=crm_stage&custom_field_value=won";
    assert!(filtered(by_stage).is_empty());

    let contact = server.post_json(&update_path(CARLA), KEY, r#"{"crmStage":"won","Score":7}"#);
    assert_eq!(contact.status, 201, "{}", contact.body);
    let ticket = ticket_write(
        &server,
        json!({"ai_contact_id": ANA, "metadata": {"queue": "vip"}}),
    );
    assert_eq!(ticket.status, 201, "{}", ticket.body);

    assert_eq!(filtered(by_stage), [CARLA]);
    assert_eq!(
        filtered("custom_field_key=score&custom_field_value=7"),
        [CARLA]
    );
    assert_eq!(
        filtered("custom_field_key=queue&custom_field_value=vip&entity_type=ticket"),
        [ANA]
    );
    assert!(filtered("custom_field_key=queue&custom_field_value=vip").is_empty());
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
    // A lone surrogate would be kept as sent and make /info unreadable to strict readers.
    assert_problems(
        &server.post(
            &ana,
            Some(KEY),
            json,
            r#"{"ok":"\ud83d\ude00","s":{"t":["\ud800"]}}"#,
        ),
        &[
            "body has a lone UTF-16 surrogate at s.t[0]: a \\uD800-\\uDFFF escape without its pair is not text (JSON readers refuse it)",
        ],
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

#[test]
fn the_size_limit_measures_the_stored_utf8_and_nested_duplicates_are_kept_once() {
    let (_ws, server) = serve(&[]);
    // 360,000 bytes as sent, 120,000 as stored: é is two bytes of UTF-8, not six.
    let escaped = "\\u00e9".repeat(60_000);
    let body = format!(r#"{{"word":"{escaped}","nested":{{"k":1,"k":{{"z":2,"z":3}}}}}}"#);
    let written = server.post_json(&update_path(DORA), KEY, &body);
    assert_eq!(written.status, 201, "{}", written.body);

    let info = server.info(DORA, Some(KEY)).body;
    assert!(info.contains(&format!(r#""word":"{}""#, "é".repeat(60_000))));
    assert!(
        info.contains(r#""nested":{"k":{"z":3}}"#),
        "last value wins, once"
    );
}

pub(crate) fn ticket_write(server: &TestServer, body: Value) -> Reply {
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
