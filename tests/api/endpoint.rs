//! The contact-info endpoint, over real HTTP, against SPEC section 1.

use crate::helpers::*;

/// The body SPEC section 1 asks for, written out by hand from `tests/data/tenants.json`.
const FULL_BODY: &str = concat!(
    r#"{"id":"11111111-1111-4111-8111-111111111111","#,
    r#""name":"Ana Pérez 🌵","#,
    r#""email":"ana@example.com","#,
    r#""phone":"+56912345678","#,
    r#""platform":"whatsapp","#,
    r#""created_at":"2024-01-15T10:00:00.000Z","#,
    r#""last_message_at":"2024-09-30T13:00:00.123Z","#,
    r#""last_message_content":"Hola, \"¿qué tal?\"\nadiós","#,
    r#""chat_status":"ATTENDED","#,
    r#""is_chat_read":true,"#,
    r#""blocked":false,"#,
    r#""client_id":"aaaaaaaa-0000-4000-8000-000000000001","#,
    r#""ai_customer_id":"c0ffee00-0000-4000-8000-00000000000a","#,
    r#""default_stage_id":"stage-7","#,
    r#""active_ticket_v2_id":"a0000000-0000-4000-8000-000000000001","#,
    r#""last_closed_ticket_v2_id":"c0000000-0000-4000-8000-000000000002","#,
    r#""current_integration_data":{"crm":{"id":42,"big":123456789012345678901234567890,"ratio":1.50}},"#,
    r#""metadata":{"plan":"gold","nested":{"list":[1,"dos",null,true,{"z":"\u00e9"}]},"emoji":"☕"},"#,
    r#""active_ticket":{"id":"a0000000-0000-4000-8000-000000000001","#,
    r#""ai_contact_id":"11111111-1111-4111-8111-111111111111","status":"IN_PROGRESS","#,
    r#""created_at":"2024-09-30T12:00:00.000Z","updated_at":"2024-09-30T13:00:00.007Z","#,
    r#""ticket_summary":"Quiere cambiar la talla","metadata":{"priority":"high"}},"#,
    r#""active_ticket_v2":{"id":"a0000000-0000-4000-8000-000000000001","#,
    r#""ai_contact_id":"11111111-1111-4111-8111-111111111111","status":"IN_PROGRESS","#,
    r#""created_at":"2024-09-30T12:00:00.000Z","updated_at":"2024-09-30T13:00:00.007Z","#,
    r#""ticket_summary":"Quiere cambiar la talla","metadata":{"priority":"high"}},"#,
    r#""last_closed_ticket":{"id":"c0000000-0000-4000-8000-000000000002","#,
    r#""ai_contact_id":"11111111-1111-4111-8111-111111111111","status":"CLOSED","#,
    r#""created_at":"2024-05-01T06:00:00.000Z","updated_at":"2024-05-03T16:30:00.500Z","#,
    r#""ticket_summary":null,"metadata":{"csat":5}}}"#,
);

const CONTACT_KEYS: [&str; 21] = [
    "id",
    "name",
    "email",
    "phone",
    "platform",
    "created_at",
    "last_message_at",
    "last_message_content",
    "chat_status",
    "is_chat_read",
    "blocked",
    "client_id",
    "ai_customer_id",
    "default_stage_id",
    "active_ticket_v2_id",
    "last_closed_ticket_v2_id",
    "current_integration_data",
    "metadata",
    "active_ticket",
    "active_ticket_v2",
    "last_closed_ticket",
];

/// The top-level keys of a JSON object, in the order they appear in the text.
fn keys_in_order(body: &str) -> Vec<String> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(body).unwrap();
    // serde_json's map is sorted, so find each key's position in the text instead.
    let mut keys: Vec<(usize, String)> = map
        .keys()
        .map(|k| (body.find(&format!("\"{k}\":")).unwrap(), k.clone()))
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn full_contact_matches_the_contract_key_by_key_and_byte_for_byte() {
    let (_ws, server) = server_with_tenants();

    let reply = server.info(FULL_CONTACT, Some(KEY_A));

    assert_eq!(reply.status, 200, "body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let expected: serde_json::Value = serde_json::from_str(FULL_BODY).unwrap();
    let actual = reply.json();
    for key in CONTACT_KEYS {
        assert_eq!(actual[key], expected[key], "key {key}");
    }
    assert_eq!(keys_in_order(&reply.body), CONTACT_KEYS);
    assert_eq!(reply.body, FULL_BODY);
}

#[test]
fn a_contact_without_optional_values_still_has_every_key() {
    let (_ws, server) = server_with_tenants();

    let reply = server.info(MINIMAL_CONTACT, Some(KEY_A));

    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        concat!(
            r#"{"id":"22222222-2222-4222-8222-222222222222","name":"Visitante","#,
            r#""email":null,"phone":null,"platform":"webchat","#,
            r#""created_at":"2024-03-01T05:00:00.000Z","last_message_at":"2024-03-01T05:00:00.000Z","#,
            r#""last_message_content":null,"chat_status":"UNATTENDED","is_chat_read":false,"#,
            r#""blocked":false,"client_id":"aaaaaaaa-0000-4000-8000-000000000001","#,
            r#""ai_customer_id":"c0ffee00-0000-4000-8000-00000000000b","default_stage_id":null,"#,
            r#""active_ticket_v2_id":null,"last_closed_ticket_v2_id":null,"#,
            r#""current_integration_data":null,"metadata":{},"active_ticket":null,"#,
            r#""active_ticket_v2":null,"last_closed_ticket":null}"#,
        )
    );
}

#[test]
fn checks_answer_in_the_documented_order() {
    let (_ws, server) = server_with_tenants();
    let unknown = "99999999-9999-4999-8999-999999999999";
    let upper_full = FULL_CONTACT.to_uppercase();
    let bad_key = "Invalid or missing API key";
    let bad_id = "Validation failed (uuid is expected)";
    let cases: &[(&str, Option<&str>, &str, u16, &str)] = &[
        ("no key, bad id", None, "not-a-uuid", 401, bad_key),
        ("empty key, bad id", Some(""), "not-a-uuid", 401, bad_key),
        (
            "unknown key, unknown id",
            Some("nope"),
            unknown,
            401,
            bad_key,
        ),
        (
            "unknown key, good id",
            Some("nope"),
            FULL_CONTACT,
            401,
            bad_key,
        ),
        ("key, short id", Some(KEY_A), "1234", 400, bad_id),
        (
            "key, simple form",
            Some(KEY_A),
            "11111111111141118111111111111111",
            400,
            bad_id,
        ),
        (
            "key, braced",
            Some(KEY_A),
            "{11111111-1111-4111-8111-111111111111}",
            400,
            bad_id,
        ),
        (
            "key, urn",
            Some(KEY_A),
            "urn:uuid:11111111-1111-4111-8111-111111111111",
            400,
            bad_id,
        ),
        (
            "key, non-hex",
            Some(KEY_A),
            "1111111g-1111-4111-8111-111111111111",
            400,
            bad_id,
        ),
        (
            "key, encoded space",
            Some(KEY_A),
            "%2011111111-1111-4111-8111-11111111111",
            400,
            bad_id,
        ),
        ("key, non-UTF-8", Some(KEY_A), "%FF%FE", 400, bad_id),
        (
            "key, unknown id",
            Some(KEY_A),
            unknown,
            404,
            "Contact not found",
        ),
        (
            "other client's key",
            Some(KEY_B),
            FULL_CONTACT,
            404,
            "Contact not found",
        ),
    ];
    for (name, key, id, status, message) in cases {
        let reply = server.info(id, *key);
        assert_eq!(reply.status, *status, "{name}: {}", reply.body);
        reply.assert_error(*status, message);
    }

    let reply = server.info(&upper_full, Some(KEY_A));
    assert_eq!(reply.status, 200, "an upper-case UUID is canonical too");
    assert_eq!(reply.json()["id"], FULL_CONTACT);
}

#[test]
fn another_clients_contact_is_indistinguishable_from_a_missing_one() {
    let (_ws, server) = server_with_tenants();

    let elsewhere = server.info(CONTACT_OF_B, Some(KEY_A));
    let nowhere = server.info("99999999-9999-4999-8999-999999999999", Some(KEY_A));
    let own = server.info(CONTACT_OF_B, Some(KEY_B));

    assert_eq!(elsewhere.status, 404);
    assert_eq!(elsewhere.body, nowhere.body);
    assert_eq!(own.status, 200);
    assert_eq!(
        own.json()["client_id"],
        "bbbbbbbb-0000-4000-8000-000000000002"
    );
    let header_names = |r: &Reply| {
        let mut names: Vec<String> = r
            .headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .filter(|k| k != "date" && k != "x-request-id")
            .collect();
        names.sort();
        names
    };
    assert_eq!(header_names(&elsewhere), header_names(&nowhere));
}

#[test]
fn a_second_key_of_the_same_client_reads_the_same_contact() {
    let (_ws, server) = server_with_tenants();

    let first = server.info(FULL_CONTACT, Some(KEY_A));
    let second = server.info(FULL_CONTACT, Some("key-a-2"));

    assert_eq!(second.status, 200);
    assert_eq!(first.body, second.body);
}

#[test]
fn etag_and_if_none_match_answer_304_without_a_body() {
    let (_ws, server) = server_with_tenants();
    let path = TestServer::info_path(FULL_CONTACT);

    let first = server.get(&path, Some(KEY_A), &[]);
    let etag = first.header("etag").expect("ETag on a 200").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(first.header("cache-control"), Some("private, no-cache"));

    let weak = format!("W/{etag}");
    let listed = format!("\"other\", {etag}");
    for matching in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
        let reply = server.get(&path, Some(KEY_A), &[("if-none-match", matching)]);
        assert_eq!(reply.status, 304, "If-None-Match: {matching}");
        assert_eq!(reply.body, "");
        assert_eq!(reply.header("etag"), Some(etag.as_str()));
        assert_eq!(reply.header("cache-control"), Some("private, no-cache"));
    }

    let stale = server.get(&path, Some(KEY_A), &[("if-none-match", "\"stale\"")]);
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, first.body);

    // The tag names the body: another contact has another tag.
    let other = server.info(MINIMAL_CONTACT, Some(KEY_A));
    assert_ne!(other.header("etag"), Some(etag.as_str()));

    // Revalidation never skips the key check.
    let no_key = server.get(&path, None, &[("if-none-match", etag.as_str())]);
    no_key.assert_error(401, "Invalid or missing API key");
}

#[test]
fn request_id_is_echoed_or_generated_and_in_the_log_line() {
    let (_ws, server) = server_with_tenants();

    let sent = server.get(
        &TestServer::info_path(FULL_CONTACT),
        Some(KEY_A),
        &[("x-request-id", "trace-me-123")],
    );
    assert_eq!(sent.header("x-request-id"), Some("trace-me-123"));

    let generated = server.info(CONTACT_OF_B, Some(KEY_A));
    let id = generated.header("x-request-id").expect("generated id");
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let errors = server.get("/nope", None, &[]);
    assert!(
        errors.header("x-request-id").is_some(),
        "error answers carry it too"
    );

    let too_long = "x".repeat(300);
    let replaced = server.get("/healthz", None, &[("x-request-id", &too_long)]);
    assert_ne!(replaced.header("x-request-id"), Some(too_long.as_str()));

    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("trace-me-123"))
        .unwrap_or_else(|| panic!("no log line with the request id:\n{log}"));
    assert!(line.contains("status=200"), "{line}");
    assert!(
        line.contains("aaaaaaaa-0000-4000-8000-000000000001"),
        "client id: {line}"
    );
    assert!(!log.contains(KEY_A), "the API key must never be logged");
    assert!(
        log.lines()
            .any(|l| l.contains(id) && l.contains("status=404"))
    );
}

#[test]
fn head_answers_like_get_without_a_body() {
    let (_ws, server) = server_with_tenants();
    let path = TestServer::info_path(FULL_CONTACT);

    let get = server.get(&path, Some(KEY_A), &[]);
    let head = server.request("HEAD", &path, Some(KEY_A), &[]);

    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    assert_eq!(head.header("etag"), get.header("etag"));
    assert_eq!(head.header("content-type"), Some("application/json"));
    assert_eq!(
        head.header("content-length").map(str::to_owned),
        Some(get.body.len().to_string())
    );
    let unauthorized = server.request("HEAD", &path, None, &[]);
    assert_eq!(unauthorized.status, 401);
}

#[test]
fn unknown_routes_and_methods_get_the_envelope() {
    let (_ws, server) = server_with_tenants();
    let path = TestServer::info_path(FULL_CONTACT);

    server
        .get("/api/public/contact", None, &[])
        .assert_error(404, "Cannot GET /api/public/contact");
    server
        .get(&format!("{path}/"), Some(KEY_A), &[])
        .assert_error(404, &format!("Cannot GET {path}/"));
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let reply = server.request(method, &path, Some(KEY_A), &[]);
        reply.assert_error(405, "Method Not Allowed");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{method}");
    }
}

#[test]
fn a_corrupt_stored_answer_is_a_500_that_shows_nothing_and_is_logged_with_the_request_id() {
    let (ws, server) = server_with_tenants();
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute_batch(
        "UPDATE contact_info_bodies SET etag = 'fax'
         WHERE contact_id = '11111111-1111-4111-8111-111111111111';",
    )
    .unwrap();

    let reply = server.get(
        &TestServer::info_path(FULL_CONTACT),
        Some(KEY_A),
        &[("x-request-id", "corrupt-row-1")],
    );

    reply.assert_error(500, "Internal server error");
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("corrupt-row-1") && l.contains("status=500"))
        .unwrap_or_else(|| panic!("500 not logged with its request id:\n{log}"));
    assert!(line.contains("fax"), "the cause is logged: {line}");
}

#[test]
fn healthz_answers_without_a_key() {
    let (_ws, server) = server_with_tenants();

    let reply = server.get("/healthz", None, &[]);

    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[test]
fn a_key_that_is_not_text_is_a_401() {
    let (_ws, server) = server_with_tenants();
    let path = TestServer::info_path(FULL_CONTACT);
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-api-key: ").into_bytes();
    request.extend_from_slice(b"key-\xff\xfe\r\n\r\n");

    let answer = server.raw(&request);

    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.ends_with(
            r#"{"statusCode":401,"message":"Invalid or missing API key","error":"Unauthorized"}"#
        ),
        "{answer}"
    );
}

#[test]
fn failed_key_attempts_past_the_limit_get_429_but_valid_keys_pass() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--auth-failures-per-minute", "3"]);

    for _ in 0..3 {
        server
            .info(FULL_CONTACT, Some("guess"))
            .assert_error(401, "Invalid or missing API key");
    }
    let limited = server.info(FULL_CONTACT, Some("guess"));
    let no_key = server.info(FULL_CONTACT, None);
    let valid = server.info(FULL_CONTACT, Some(KEY_A));

    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(
        limited.body,
        r#"{"statusCode":429,"message":"Too many failed API key attempts; retry later","error":"Too Many Requests"}"#
    );
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(no_key.status, 429, "a missing key is a failed attempt too");
    assert_eq!(valid.status, 200, "valid keys are never slowed");
}

#[test]
fn a_repeated_api_key_header_is_refused_whichever_comes_first() {
    let (_ws, server) = server_with_tenants();
    let path = TestServer::info_path(FULL_CONTACT);

    for (first, second) in [(KEY_A, KEY_A), (KEY_A, "wrong"), ("wrong", KEY_A)] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nx-api-key: {first}\r\nx-api-key: {second}\r\n\
             Connection: close\r\n\r\n"
        );
        let answer = server.raw(request.as_bytes());
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{first}, {second}: {answer}"
        );
        assert!(answer.ends_with(
            r#"{"statusCode":401,"message":"Invalid or missing API key","error":"Unauthorized"}"#
        ));
    }
}
