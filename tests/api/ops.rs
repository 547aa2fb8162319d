//! Operations: readiness, metrics, backups and checks, against the real binary.

use crate::helpers::*;

#[test]
fn readiness_flips_when_the_schema_is_not_what_the_binary_needs() {
    let (ws, server) = server_with_tenants();
    assert_eq!(server.get("/readyz", None, &[]).status, 200);

    // Another process rolls the schema history back: the binary now sees a pending migration.
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute("DELETE FROM refinery_schema_history", [])
        .unwrap();

    let not_ready = server.get("/readyz", None, &[]);
    not_ready.assert_error(503, "Service Unavailable");
    assert_eq!(
        server.get("/healthz", None, &[]).status,
        200,
        "alive all the same"
    );
    assert!(
        server.log().contains("pending migrations: V1__initial"),
        "{}",
        server.log()
    );
}

#[test]
fn metrics_count_the_request_just_made_by_route_template() {
    let (_ws, server) = server_with_tenants();
    server.info(FULL_CONTACT, Some(KEY_A));
    server.info(CONTACT_OF_B, Some(KEY_A));
    server.get("/no/such/route", None, &[]);

    let reply = server.get("/metrics", None, &[]);

    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = reply.body;
    let count = |labels: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with("contactd_http_requests_total{") && l.contains(labels))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let route = r#"route="/api/public/contact/{aiContactId}/info""#;
    assert_eq!(
        count(&format!(r#"method="GET",{route},status="200""#)),
        1,
        "{text}"
    );
    assert_eq!(
        count(&format!(r#"method="GET",{route},status="404""#)),
        1,
        "{text}"
    );
    assert!(text.contains(r#"status="404""#), "{text}");
    assert!(!text.contains(FULL_CONTACT), "no raw ids in labels");
    assert!(text.contains(r#"route="<unmatched>""#), "{text}");
    assert!(text.contains("contactd_contacts 3"), "{text}");
    assert!(text.contains("contactd_api_keys_live 3"), "{text}");
    assert!(text.contains("contactd_db_pool_connections"), "{text}");
    assert!(
        text.contains("contactd_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[test]
fn a_backup_taken_while_serving_restores_to_identical_bodies() {
    let (ws, server) = server_with_tenants();
    let before: Vec<String> = [FULL_CONTACT, MINIMAL_CONTACT]
        .iter()
        .map(|id| server.info(id, Some(KEY_A)).body)
        .collect();
    let backup = ws.path("backups/copy.db");
    std::fs::create_dir_all(ws.path("backups")).unwrap();
    // Readers keep the server busy while the backup is taken.
    let readers = Hammer::start(&server, 2);

    let result = ws.run(&["backup", backup.to_str().unwrap()]);
    let count = readers.finish();
    result.assert_success();
    assert!(count.answered > 0 && count.failed == 0, "{count:?}");
    drop(server);

    let restored = Workspace::new();
    std::fs::create_dir_all(restored.db().parent().unwrap()).unwrap();
    std::fs::copy(&backup, restored.db()).unwrap();
    let server = restored.serve(&["--no-demo"]);
    let after: Vec<String> = [FULL_CONTACT, MINIMAL_CONTACT]
        .iter()
        .map(|id| server.info(id, Some(KEY_A)).body)
        .collect();
    assert_eq!(after, before);
    restored.run(&["check"]).assert_success();
}

#[test]
fn backup_never_overwrites_and_names_a_file_in_a_folder() {
    let (ws, _server) = server_with_tenants();
    std::fs::create_dir_all(ws.path("into")).unwrap();
    let taken = ws.write("taken.db", "precious");

    let into_folder = ws.run(&["backup", ws.path("into").to_str().unwrap()]);
    let over_a_file = ws.run(&["backup", taken.to_str().unwrap()]);

    into_folder.assert_success();
    let made: Vec<_> = std::fs::read_dir(ws.path("into")).unwrap().collect();
    assert_eq!(made.len(), 1);
    over_a_file.assert_failure();
    assert!(
        over_a_file.stderr.contains("already exists"),
        "{}",
        over_a_file.stderr
    );
    assert_eq!(std::fs::read_to_string(taken).unwrap(), "precious");
}

#[test]
fn check_passes_a_good_database_and_fails_a_damaged_one() {
    let ws = Workspace::with_tenants();

    let good = ws.run(&["check"]);
    good.assert_success();
    assert!(good.stdout.contains("integrity: ok"), "{}", good.stdout);
    assert!(
        good.stdout.contains("migrations pending: none"),
        "{}",
        good.stdout
    );

    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         DELETE FROM tickets WHERE id = 'a0000000-0000-4000-8000-000000000001';",
    )
    .unwrap();
    drop(conn);
    let damaged = ws.run(&["check"]);
    damaged.assert_failure();
    assert!(
        damaged
            .stdout
            .contains("refers to a missing row of tickets"),
        "{}",
        damaged.stdout
    );

    let missing = Workspace::run_bare(&["--db", ws.path("nope.db").to_str().unwrap(), "check"]);
    missing.assert_failure();
    assert!(
        missing.stderr.contains("there is no database at"),
        "{}",
        missing.stderr
    );
    assert!(
        !ws.path("nope.db").exists(),
        "check must not create a database"
    );
}

#[test]
fn cors_is_off_by_default_and_answers_configured_origins_only() {
    let ws = Workspace::with_tenants();
    let off = ws.serve(&["--no-demo"]);
    let on = ws.serve(&["--no-demo", "--cors-origin", "https://dash.example"]);
    let path = TestServer::info_path(FULL_CONTACT);
    let preflight = [
        ("origin", "https://dash.example"),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "x-api-key"),
    ];

    let plain = off.get(&path, Some(KEY_A), &[("origin", "https://dash.example")]);
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("access-control-allow-origin"), None);

    let allowed = on.request("OPTIONS", &path, None, &preflight);
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://dash.example")
    );
    let read = on.get(&path, Some(KEY_A), &[("origin", "https://dash.example")]);
    assert_eq!(
        read.header("access-control-allow-origin"),
        Some("https://dash.example")
    );
    assert!(
        read.header("access-control-expose-headers")
            .unwrap_or("")
            .contains("etag")
    );

    let other = on.get(&path, Some(KEY_A), &[("origin", "https://evil.example")]);
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert_eq!(
        other.header("content-type"),
        Some("application/json"),
        "{}",
        other.body
    );
}

#[test]
fn json_logs_carry_the_request_id_and_client_but_never_the_key() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--log-format", "json"]);

    server.get(
        &TestServer::info_path(FULL_CONTACT),
        Some(KEY_A),
        &[("x-request-id", "json-log-1")],
    );

    let log = server.log();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["span"]["request_id"] == "json-log-1")
        .unwrap_or_else(|| panic!("no JSON line with the request id:\n{log}"));
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["fields"]["latency_ms"].is_number(), "{line}");
    assert_eq!(line["fields"]["client_addr"], "127.0.0.1", "{line}");
    assert_eq!(
        line["span"]["client_id"],
        "aaaaaaaa-0000-4000-8000-000000000001"
    );
    assert!(!log.contains(KEY_A));
}

#[test]
fn a_pool_too_small_for_the_workers_is_refused_naming_both_settings() {
    let ws = Workspace::new();

    let result = ws.run(&[
        "serve",
        "--pool-size",
        "2",
        "--workers",
        "4",
        "--bind",
        "127.0.0.1:0",
    ]);

    result.assert_failure();
    assert!(
        result.stderr.contains("--pool-size") && result.stderr.contains("--workers"),
        "{}",
        result.stderr
    );
}

/// Sends `count` requests with invented methods of about `method_len` bytes, pipelined
/// on a few connections, and returns how many answers came back.
fn junk_methods(server: &TestServer, first: usize, count: usize, method_len: usize) -> usize {
    let mut answered = 0;
    for batch in (first..first + count).collect::<Vec<_>>().chunks(100) {
        let mut request = Vec::new();
        for (i, n) in batch.iter().enumerate() {
            let close = if i + 1 == batch.len() {
                "close"
            } else {
                "keep-alive"
            };
            let method = format!("M{n}{}", "X".repeat(method_len));
            let path = if n % 2 == 0 {
                "/no/such/route".to_owned()
            } else {
                TestServer::info_path(FULL_CONTACT)
            };
            request.extend_from_slice(
                format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: {close}\r\n\r\n")
                    .as_bytes(),
            );
        }
        answered += server.raw(&request).matches("HTTP/1.1 ").count();
    }
    answered
}

#[test]
fn a_flood_of_invented_methods_leaves_metrics_and_memory_flat() {
    let (_ws, server) = server_with_tenants();
    assert_eq!(junk_methods(&server, 0, 300, 4000), 300);
    // /metrics counts itself once it has answered: the first call adds its own series.
    server.get("/metrics", None, &[]);
    let metrics_before = server.get("/metrics", None, &[]).body;
    let rss_before = server.rss_anon_kib();

    assert_eq!(junk_methods(&server, 300, 3000, 4000), 3000);

    let metrics_after = server.get("/metrics", None, &[]).body;
    let rss_after = server.rss_anon_kib();
    // Counters gain digits; nothing else may grow.
    assert!(
        metrics_after.len() < metrics_before.len() + 200,
        "/metrics grew from {} to {} bytes",
        metrics_before.len(),
        metrics_after.len()
    );
    assert!(
        metrics_after.contains(r#"method="OTHER""#),
        "{metrics_after}"
    );
    assert!(
        !metrics_after.contains("XXXX"),
        "an invented method became a label"
    );
    assert!(
        rss_after < rss_before + 4 * 1024,
        "RssAnon grew from {rss_before} KiB to {rss_after} KiB"
    );
}
