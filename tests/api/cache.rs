//! Answers and key lookups are never stale: a commit by another process is visible on
//! the very next request, through the stored answers of the read model and the
//! worker's key cache alike. One worker, so every request meets a warm cache.

use serde_json::json;

use crate::helpers::*;

const CLIENT_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";

fn one_worker_server() -> (Workspace, TestServer) {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--workers", "1"]);
    (ws, server)
}

#[test]
fn a_fixture_load_in_another_process_shows_on_the_next_request() {
    let (ws, server) = one_worker_server();
    let before = server.info(MINIMAL_CONTACT, Some(KEY_A));
    assert_eq!(
        server.info(MINIMAL_CONTACT, Some(KEY_A)).body,
        before.body,
        "warm"
    );
    let update = json!({"contacts": [{
        "id": MINIMAL_CONTACT, "client_id": CLIENT_A,
        "ai_customer_id": "c0ffee00-0000-4000-8000-00000000000b",
        "name": "Cambiado", "platform": "webchat",
        "created_at": "2024-03-01T00:00:00-05:00", "chat_status": "UNATTENDED"
    }]});
    let file = ws.write("update.json", &update.to_string());

    ws.load(file.to_str().unwrap());
    let after = server.info(MINIMAL_CONTACT, Some(KEY_A));

    assert_eq!(after.json()["name"], "Cambiado");
    assert_ne!(after.header("etag"), before.header("etag"));
    let stale = server.get(
        &TestServer::info_path(MINIMAL_CONTACT),
        Some(KEY_A),
        &[("if-none-match", before.header("etag").unwrap())],
    );
    assert_eq!(stale.status, 200, "the old tag no longer matches");
}

#[test]
fn a_ticket_change_alone_shows_on_the_next_request() {
    let (ws, server) = one_worker_server();
    let before = server.info(FULL_CONTACT, Some(KEY_A)).json();
    assert_eq!(before["active_ticket"]["status"], "IN_PROGRESS");
    let mut tenants: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path(TENANTS)).unwrap()).unwrap();
    tenants["contacts"][0]["tickets"][2]["status"] = json!("ESCALATED");
    let file = ws.write("tickets.json", &tenants.to_string());

    ws.load(file.to_str().unwrap());
    let after = server.info(FULL_CONTACT, Some(KEY_A)).json();

    assert_eq!(after["active_ticket"]["status"], "ESCALATED");
    assert_eq!(after["active_ticket_v2"]["status"], "ESCALATED");
}

#[test]
fn a_key_revoked_in_another_process_fails_on_the_next_request() {
    let (ws, server) = one_worker_server();
    assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 200);
    assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 200, "warm");
    let list = ws.run(&["keys", "list", "--client", CLIENT_A]);
    let key_id = list
        .stdout
        .lines()
        .find(|l| l.contains("\tprimary\t"))
        .and_then(|l| l.split('\t').next())
        .expect("key-a is listed")
        .to_owned();

    ws.run(&["keys", "revoke", &key_id]).assert_success();

    server
        .info(FULL_CONTACT, Some(KEY_A))
        .assert_error(401, "Invalid or missing API key");
    assert_eq!(server.info(FULL_CONTACT, Some("key-a-2")).status, 200);
}

#[test]
fn a_key_refused_once_works_as_soon_as_another_process_adds_it() {
    let (ws, server) = one_worker_server();
    // Unknown keys are cached as unknown; a commit must drop that too.
    assert_eq!(server.info(FULL_CONTACT, Some("key-late")).status, 401);
    assert_eq!(server.info(FULL_CONTACT, Some("key-late")).status, 401);
    let file = ws.write(
        "late-key.json",
        &json!({"clients": [{"id": CLIENT_A, "name": "Tienda Uno",
                             "api_keys": [{"name": "late", "key": "key-late"}]}]})
        .to_string(),
    );

    ws.load(file.to_str().unwrap());

    assert_eq!(server.info(FULL_CONTACT, Some("key-late")).status, 200);
}
