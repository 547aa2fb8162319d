//! Writes that move a conversation (SPEC 11): each route called over HTTP, its effects
//! read back through `/info`, the conversation and the database, and its events counted
//! at a real receiver on loopback.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::Receiver;

const DATA: &str = "tests/data/conversation.json";
const KEY: &str = "key-conv";
const OTHER_KEY: &str = "key-other";
const ACTIVE: &str = "d4000000-0000-4000-8000-000000000001";
const ACTIVE_TICKET: &str = "d6000000-0000-4000-8000-000000000001";
const VISITOR: &str = "d4000000-0000-4000-8000-000000000002";
const OTHERS_CONTACT: &str = "e4000000-0000-4000-8000-000000000001";
const WEBCHAT: &str = "d2000000-0000-4000-8000-000000000003";
const STAGE_NEW: &str = "d1000000-0000-4000-8000-000000000001";
const STAGE_WON: &str = "d1000000-0000-4000-8000-000000000002";
const OTHERS_STAGE: &str = "e1000000-0000-4000-8000-0000000000aa";
const AGENT: &str = "d3000000-0000-4000-8000-000000000001";
const UPSERT: &str = "/api/public/customer/upsert/info";
const OPEN: &str = "/api/public/ticket/open/whatsapp/1048576001";
const SESSION: &str = "/api/public/whatsapp/message/session";
const SECRET: &str = "conversation-secret";
const WAIT: Duration = Duration::from_secs(15);

fn server() -> (Workspace, TestServer) {
    let ws = Workspace::new();
    ws.load(&fixture_path(DATA));
    let server = ws.serve(&["--no-demo"]);
    (ws, server)
}

/// A receiver subscribed to every topic of the conversation client.
fn receiver_for_all(server: &TestServer) -> Receiver {
    let receiver = Receiver::ok();
    let topics = server.get("/api/webhooks/topics", None, &[]).json();
    for topic in topics.as_array().unwrap() {
        let body = json!({"topic": topic, "url": receiver.url, "secret": SECRET});
        let reply = server.post_json("/api/webhooks", KEY, &body.to_string());
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    receiver
}

/// The events the receiver got, as (topic, body), in the order they were made.
fn events(receiver: &Receiver, n: usize) -> Vec<(String, Value)> {
    receiver.wait_for(n, WAIT);
    // A moment more: an event beyond the expected ones would arrive now.
    std::thread::sleep(Duration::from_millis(300));
    let got = receiver.received();
    assert_eq!(got.len(), n, "events: {:?}", topics_of(&got));
    let mut events: Vec<(String, Value)> = got
        .iter()
        .map(|r| {
            r.verify(SECRET);
            let body = r.json();
            (body["event"].as_str().unwrap().to_owned(), body)
        })
        .collect();
    // Event ids are time-ordered: the order the write made them.
    events.sort_by(|a, b| a.1["id"].as_str().cmp(&b.1["id"].as_str()));
    events
}

fn topics_of(got: &[crate::receiver::Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn info(server: &TestServer, id: &str) -> Value {
    let reply = server.info(id, Some(KEY));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn messages(server: &TestServer, id: &str) -> Vec<Value> {
    let path = format!("/api/public/contact/v2/{id}/messages?page=1");
    let reply = server.get(&path, Some(KEY), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["messages"].as_array().unwrap().clone()
}

#[test]
fn team_members_are_listed_in_fixture_order_with_a_joined_name() {
    let (_ws, server) = server();
    let reply = server.get("/api/public/team-members/all", Some(KEY), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!([
            {"id": AGENT, "name": "Camila Rojas", "first_name": "Camila", "last_name": "Rojas",
             "email": "camila@tienda.example", "phone": null},
            {"id": "d3000000-0000-4000-8000-000000000002", "name": "Diego",
             "first_name": "Diego", "last_name": null, "email": null, "phone": null},
            {"id": "d3000000-0000-4000-8000-000000000003", "name": null, "first_name": null,
             "last_name": null, "email": "bot@tienda.example", "phone": null}
        ])
    );
    let theirs = server.get("/api/public/team-members/all", Some(OTHER_KEY), &[]);
    assert_eq!(theirs.json().as_array().unwrap().len(), 1);
    server
        .get("/api/public/team-members/all", None, &[])
        .assert_error(401, "Invalid or missing API key");
}

#[test]
fn an_upsert_makes_a_contact_finds_it_again_and_a_repeat_changes_nothing() {
    let (ws, server) = server();
    let receiver = receiver_for_all(&server);
    let body = json!({
        "channel": "whatsapp", "channel_phone_number": "56229400100",
        "contact_phone_number": "+56 9 5555 0001", "contact_name": "Nueva Clienta",
        "contact_email": "nueva@example.com", "agentId": AGENT,
        "meta_data": {"Lead Score": 3, "plan": "free"},
        "custom_field_values": [{"key": "leadScore", "value": 5}]
    })
    .to_string();
    let made = server.post_json(UPSERT, KEY, &body);
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.json()["aiContactId"].as_str().unwrap().to_owned();
    assert_eq!(
        made.body,
        format!(r#"{{"aiContactId":"{id}","status":"ok","created":true}}"#)
    );
    let contact = info(&server, &id);
    assert_eq!(contact["name"], "Nueva Clienta");
    assert_eq!(contact["phone"], "+56955550001");
    assert_eq!(contact["platform"], "whatsapp");
    assert_eq!(contact["chat_status"], "UNATTENDED");
    assert_eq!(
        contact["metadata"],
        json!({"lead_score": 5, "plan": "free"})
    );
    let created = events(&receiver, 1);
    assert_eq!(created[0].0, "contact.created");
    assert_eq!(created[0].1["data"], contact, "the data is /info's answer");

    // By the channel's phone_id too, and by digits however they are written.
    let again = server.post_json(
        UPSERT,
        KEY,
        &body
            .replace("56229400100", "1048576001")
            .replace("+56 9 5555 0001", "56955550001"),
    );
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.json()["aiContactId"], id.as_str());
    assert_eq!(again.json()["created"], false);
    let before = ws.dump();
    server.post_json(UPSERT, KEY, &body);
    assert_eq!(ws.dump(), before, "a repeat changes nothing");
    assert_eq!(events(&receiver, 1).len(), 1, "and makes no event");

    // The same phone on another platform is another contact.
    let web = server.post_json(
        UPSERT,
        KEY,
        &body.replace(r#""whatsapp""#, r#""web-whatsapp""#),
    );
    assert_eq!(web.json()["created"], true, "{}", web.body);

    // A change: contact.updated names what changed; the stage moves the active ticket.
    let changed = server.post_json(
        UPSERT,
        KEY,
        &json!({"channel": "whatsapp", "channel_phone_number": "+56229400100",
                "contact_phone_number": "+56911111111", "contact_name": "Ana Cambiada",
                "stageId": STAGE_WON})
        .to_string(),
    );
    assert_eq!(changed.json()["aiContactId"], ACTIVE, "{}", changed.body);
    let all = events(&receiver, 4);
    let updated = &all[2].1;
    assert_eq!(all[2].0, "contact.updated");
    // The active ticket moved stage, so its updated_at is new too.
    assert_eq!(
        updated["data"]["changed"],
        json!([
            "name",
            "default_stage_id",
            "active_ticket",
            "active_ticket_v2"
        ])
    );
    assert_eq!(all[3].0, "stage.changed");
    assert_eq!(
        all[3].1["data"],
        json!({"ai_contact_id": ACTIVE, "ticket_id": ACTIVE_TICKET,
               "pipeline_id": "d0000000-0000-4000-8000-000000000001",
               "stage_id": STAGE_WON, "previous_stage_id": STAGE_NEW})
    );
    let list = server.get(
        "/api/public/contacts?updated_after=2025-01-01T00:00:00Z",
        Some(KEY),
        &[],
    );
    let listed = list.json();
    let ana = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == ACTIVE)
        .unwrap();
    assert_eq!(ana["active_ticket_v2"]["current_stage_id"], STAGE_WON);
}

#[test]
fn a_webchat_visitor_is_found_by_its_identity() {
    let (_ws, server) = server();
    let body = |external: &str| {
        json!({"channel": "webchat", "channel_id": WEBCHAT, "external_user_id": external,
               "agentId": AGENT})
        .to_string()
    };
    let found = server.post_json(UPSERT, KEY, &body("visitor-42"));
    assert_eq!(found.json()["aiContactId"], VISITOR, "{}", found.body);
    assert_eq!(found.json()["created"], false);
    let made = server.post_json(UPSERT, KEY, &body("visitor-43"));
    assert_eq!(made.json()["created"], true);
    let id = made.json()["aiContactId"].as_str().unwrap().to_owned();
    assert_eq!(info(&server, &id)["name"], "visitor-43");
    assert_eq!(info(&server, &id)["phone"], Value::Null);
}

#[test]
fn refused_upserts_name_every_problem_and_write_nothing() {
    let (ws, server) = server();
    let receiver = receiver_for_all(&server);
    let before = ws.dump();
    assert_problems(
        &server.post_json(
            UPSERT,
            KEY,
            r#"{"channel":"whatsapp","channel_phone_number":"+56229400100",
                "contact_phone_number":56955550001,"contact_email":"not-an-address",
                "stageId":"nope","custom_field_values":{"a":1}}"#,
        ),
        &[
            "contact_phone_number must be a string of digits",
            r#"contact_email must be an email address, not "not-an-address""#,
            "stageId must be a UUID",
            r#"custom_field_values must be a list of {"key": string, "value": any}"#,
        ],
    );
    assert_problems(
        &server.post_json(
            UPSERT,
            KEY,
            r#"{"channel":"whatsapp","channel_phone_number":"x","contact_phone_number":"n/a"}"#,
        ),
        &["contact_phone_number must contain at least one digit"],
    );
    let valid = |changes: Value| {
        let mut body = json!({"channel": "whatsapp", "channel_phone_number": "+56229400100",
                              "contact_phone_number": "+56 9 7777 0000"});
        body.as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        body.to_string()
    };
    for (changes, message) in [
        (
            json!({"channel_phone_number": "+1 555 0100"}),
            "Channel not found",
        ),
        (
            json!({"channel": "webchat", "channel_id": "e2000000-0000-4000-8000-000000000003",
                   "external_user_id": "v"}),
            "Channel not found",
        ),
        (json!({"stageId": OTHERS_STAGE}), "Stage not found"),
        (
            json!({"agentId": "e3000000-0000-4000-8000-000000000001"}),
            "Team member not found",
        ),
    ] {
        server
            .post_json(UPSERT, KEY, &valid(changes))
            .assert_error(404, message);
    }
    let huge = json!({"blob": "x".repeat(300 * 1024)});
    assert_problems(
        &server.post_json(UPSERT, KEY, &valid(json!({"meta_data": huge}))),
        &["metadata must not be larger than 262144 bytes once merged (it would be 307211)"],
    );
    assert_eq!(ws.dump(), before, "nothing was written");
    std::thread::sleep(Duration::from_millis(500));
    assert!(receiver.received().is_empty(), "and no event made");
}

#[test]
fn opening_a_ticket_makes_the_contact_the_ticket_and_the_first_message() {
    let (ws, server) = server();
    let receiver = receiver_for_all(&server);
    let opened = server.post_json(
        OPEN,
        KEY,
        &json!({"to_phone_number": 56955550002_u64, "stage_id": STAGE_NEW,
                "contact_name": "Pedro", "email": "pedro@example.com",
                "contact_metadata": {"origenLead": "ads"},
                "ticket_metadata": {"canal": "campaña"},
                "integration_data": {"crmId": 7},
                "message": {"content": "¡Hola Pedro!", "ai_generated": false}})
        .to_string(),
    );
    assert_eq!(opened.status, 201, "{}", opened.body);
    let id = opened.json()["aiContactId"].as_str().unwrap().to_owned();
    assert_eq!(
        opened.body,
        format!(r#"{{"aiContactId":"{id}","status":"ok"}}"#)
    );
    let contact = info(&server, &id);
    assert_eq!(contact["phone"], "+56955550002");
    assert_eq!(contact["metadata"], json!({"origen_lead": "ads"}));
    assert_eq!(contact["current_integration_data"], json!({"crmId": 7}));
    assert_eq!(contact["active_ticket"]["status"], "OPEN");
    assert_eq!(
        contact["active_ticket"]["metadata"],
        json!({"canal": "campaña"})
    );
    assert_eq!(contact["last_message_content"], "¡Hola Pedro!");
    let conversation = messages(&server, &id);
    assert_eq!(conversation.len(), 1);
    let first = &conversation[0];
    assert_eq!(
        (&first["direction"], &first["type"], &first["status"]),
        (&json!("OUTBOUND"), &json!("text"), &json!("sent"))
    );
    assert_eq!(first["from"], "+56 2 2940 0100");
    assert_eq!(first["to"], "+56955550002");
    let all = events(&receiver, 3);
    let topics: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        ["contact.created", "ticket.created", "message.sent"]
    );
    assert_eq!(all[1].1["data"]["current_stage_id"], STAGE_NEW);
    assert_eq!(
        all[2].1["data"], *first,
        "the message as the conversation shows it"
    );

    // Again into another stage: the active ticket moves, no second ticket.
    let tickets = |ws: &Workspace| {
        rows_of(
            &rusqlite::Connection::open(ws.db()).unwrap(),
            "tickets",
            &format!("SELECT id FROM tickets WHERE ai_contact_id = '{id}'"),
        )
    };
    let moved = server.post_json(
        OPEN,
        KEY,
        &json!({"to_phone_number": "+56 9 5555 0002", "stage_id": STAGE_WON,
                "message": {"templateId": "seguimiento", "ai_generated": true}})
        .to_string(),
    );
    assert_eq!(moved.json()["aiContactId"], id.as_str(), "{}", moved.body);
    assert_eq!(tickets(&ws).len(), 1);
    let all = events(&receiver, 5);
    assert_eq!(all[3].0, "stage.changed");
    assert_eq!(all[3].1["data"]["previous_stage_id"], STAGE_NEW);
    assert_eq!(all[4].0, "message.sent");
    assert_eq!(all[4].1["data"]["type"], "template");
    assert_eq!(all[4].1["data"]["body"], Value::Null);

    // Refusals, before anything is written.
    let before = ws.dump();
    let body = json!({"to_phone_number": "+56 9 5555 0003", "stage_id": STAGE_NEW}).to_string();
    server
        .post_json("/api/public/ticket/open/whatsapp/2000000001", KEY, &body)
        .assert_error(404, "Channel not found");
    server
        .post_json(
            "/api/public/ticket/open/web-whatsapp/1048576001",
            KEY,
            &body,
        )
        .assert_error(404, "Channel not found");
    server
        .post_json(OPEN, KEY, &body.replace(STAGE_NEW, OTHERS_STAGE))
        .assert_error(404, "Stage not found");
    server
        .post_json("/api/public/ticket/open/sms/1048576001", KEY, &body)
        .assert_error(404, "Cannot POST /api/public/ticket/open/sms/1048576001");
    assert_problems(
        &server.post_json(
            OPEN,
            KEY,
            r#"{"to_phone_number":"--","email":"x@y","message":{"content":"hi"}}"#,
        ),
        &[
            "to_phone_number must contain at least one digit",
            "stage_id should not be empty",
            r#"email must be an email address, not "x@y""#,
            "message.ai_generated should not be empty",
        ],
    );
    assert_eq!(ws.dump(), before);
    // The read model, the search source and the custom-field index kept up with it all.
    let check = ws.run(&["check"]);
    check.assert_success();
    assert!(
        check.stdout.contains("stored /info answers: ok"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("custom-field index: ok"),
        "{}",
        check.stdout
    );
}

#[test]
fn a_session_message_needs_a_whatsapp_contact_inside_its_window() {
    let (ws, server) = server();
    let receiver = receiver_for_all(&server);
    let before = ws.dump();
    let send = |body: Value| server.post_json(SESSION, KEY, &body.to_string());
    assert_problems(
        &send(json!({"contact_id": ACTIVE, "message": "hola"})),
        &[
            "the 24-hour window is closed: the contact's last inbound message is older than 24 hours",
        ],
    );
    assert_problems(
        &send(json!({"contact_id": VISITOR, "message": "hola"})),
        &["contact is not on a whatsapp channel"],
    );
    send(json!({"contact_id": OTHERS_CONTACT, "message": "hola"}))
        .assert_error(404, "Contact not found");
    send(json!({"phone": "+56 9 0000 0000", "message": "hola"}))
        .assert_error(404, "Contact not found");
    assert_eq!(ws.dump(), before);

    // The customer writes: the window opens.
    let inbound = server.post_json(
        &format!("/api/sandbox/contact/{ACTIVE}/inbound-message"),
        KEY,
        r#"{"body":"¿Sigue disponible?"}"#,
    );
    assert_eq!(inbound.status, 201, "{}", inbound.body);
    let sent = send(json!({"phone": "56911111111", "message": "Sí, ¡queda uno!",
                           "pause_assistant": false}));
    assert_eq!(sent.status, 201, "{}", sent.body);
    let message_id = sent.json()["message_id"].as_str().unwrap().to_owned();
    assert_eq!(
        sent.body,
        format!(r#"{{"status":"ok","message_id":"{message_id}"}}"#)
    );
    let conversation = messages(&server, ACTIVE);
    let last = conversation.last().unwrap();
    assert_eq!(last["id"], message_id.as_str());
    assert_eq!(last["body"], "Sí, ¡queda uno!");
    assert_eq!(last["from"], "+56 2 2940 0100");
    assert_eq!(last["to"], "+56 9 1111 1111");
    assert_eq!(
        info(&server, ACTIVE)["last_message_content"],
        "Sí, ¡queda uno!"
    );
    let all = events(&receiver, 2);
    assert_eq!(
        all.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["message.received", "message.sent"]
    );

    // A client with two WhatsApp numbers must say which one sends.
    let theirs = server.post_json(
        &format!("/api/sandbox/contact/{OTHERS_CONTACT}/inbound-message"),
        OTHER_KEY,
        r#"{"body":"hola"}"#,
    );
    assert_eq!(theirs.status, 201, "{}", theirs.body);
    let body = json!({"contact_id": OTHERS_CONTACT, "message": "hola"});
    assert_problems(
        &server.post_json(SESSION, OTHER_KEY, &body.to_string()),
        &["from_phone_number must be given: the client has more than one whatsapp channel"],
    );
    let mut from = body.clone();
    from["from_phone_number"] = json!("15550999");
    server
        .post_json(SESSION, OTHER_KEY, &from.to_string())
        .assert_error(404, "Channel not found");
    from["from_phone_number"] = json!("+1 (555) 0200");
    let ok = server.post_json(SESSION, OTHER_KEY, &from.to_string());
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[test]
fn the_sandbox_plays_the_customer_and_the_agent() {
    let (_ws, server) = server();
    let receiver = receiver_for_all(&server);
    let inbound = server.post_json(
        &format!("/api/sandbox/contact/{ACTIVE}/inbound-message"),
        KEY,
        r#"{"body":"Mi foto","type":"image","media_url":"https://example.com/a.jpg"}"#,
    );
    assert_eq!(inbound.status, 201, "{}", inbound.body);
    let message = inbound.json();
    assert_eq!(message["direction"], "INBOUND");
    assert_eq!(message["status"], "delivered");
    assert_eq!(message["from"], "+56 9 1111 1111");
    assert_eq!(message["to"], "+56 2 2940 0100");
    assert_eq!(message["type"], "image");
    let contact = info(&server, ACTIVE);
    assert_eq!(contact["last_message_content"], "Mi foto");
    assert_eq!(contact["last_message_at"], message["created_at"]);
    assert_eq!(contact["chat_status"], "UNATTENDED");
    assert_eq!(contact["is_chat_read"], false);
    assert_eq!(*messages(&server, ACTIVE).last().unwrap(), message);

    let close = format!("/api/sandbox/ticket/{ACTIVE_TICKET}/close");
    let closed = server.post(&close, Some(KEY), None, "");
    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(closed.body, r#"{"status":"ok"}"#);
    let contact = info(&server, ACTIVE);
    assert_eq!(contact["active_ticket"], Value::Null);
    assert_eq!(contact["last_closed_ticket"]["id"], ACTIVE_TICKET);
    assert_eq!(contact["last_closed_ticket"]["status"], "CLOSED");
    server
        .post(&close, Some(KEY), None, "")
        .assert_error(409, "Ticket is already closed");
    server
        .post(&close, Some(OTHER_KEY), None, "")
        .assert_error(404, "Ticket not found");
    server
        .post("/api/sandbox/ticket/nope/close", Some(KEY), None, "")
        .assert_error(400, "Validation failed (uuid is expected)");
    let all = events(&receiver, 2);
    assert_eq!(all[0].0, "message.received");
    assert_eq!(all[0].1["data"], message);
    assert_eq!(all[1].0, "ticket.closed");
    assert_eq!(all[1].1["data"]["status"], "CLOSED");

    // Never journaled: the journal shows only what the integration sent.
    let journal = server.get("/api/sandbox/requests", Some(KEY), &[]).json();
    assert!(
        journal.as_array().unwrap().iter().all(|e| !e["path"]
            .as_str()
            .unwrap_or("")
            .starts_with("/api/sandbox/")),
        "{journal}"
    );
}

#[test]
fn without_the_sandbox_its_routes_are_unknown() {
    let ws = Workspace::new();
    ws.load(&fixture_path(DATA));
    let server = ws.serve(&["--no-demo", "--no-sandbox"]);
    let path = format!("/api/sandbox/contact/{ACTIVE}/inbound-message");
    server
        .post_json(&path, KEY, r#"{"body":"hola"}"#)
        .assert_error(404, &format!("Cannot POST {path}"));
    server
        .get("/api/sandbox/requests", Some(KEY), &[])
        .assert_error(404, "Cannot GET /api/sandbox/requests");
    assert!(server.banner.iter().any(|l| l.contains("sandbox: off")));
}

#[test]
fn the_live_demo_keeps_the_demo_data_moving_through_the_sandbox() {
    let ws = Workspace::new();
    let server = ws.serve(&["--live-demo", "--live-demo-interval", "0.1"]);
    let receiver = Receiver::ok();
    for topic in ["message.received", "message.sent", "ticket.closed"] {
        let body = json!({"topic": topic, "url": receiver.url, "secret": SECRET});
        let reply = server.post_json("/api/webhooks", "demo-key-1", &body.to_string());
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let got = receiver.wait_for(3, WAIT);
    let first = got[0].json();
    let contact = first["aiContactId"].as_str().unwrap();
    let reply = server.info(contact, Some("demo-key-1"));
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Only the demo data moves: a database without it refuses the flag.
    let empty = Workspace::new();
    empty.load(&fixture_path(DATA));
    let refused = empty.run(&["serve", "--no-demo", "--live-demo", "--bind", "127.0.0.1:0"]);
    refused.assert_failure();
    assert!(
        refused
            .stderr
            .contains("--live-demo drives the bundled demo data"),
        "{}",
        refused.stderr
    );
}

#[test]
fn bad_channels_and_team_members_in_fixtures_are_named_by_path() {
    let ws = Workspace::new();
    let file = ws.write(
        "bad.json",
        r#"{"clients":[{"id":"dddddddd-0000-4000-8000-000000000009","name":"x",
            "channels":[{"id":"d2000000-0000-4000-8000-000000000009","type":"fax"},
                        {"id":"d2000000-0000-4000-8000-000000000009","type":"webchat",
                         "phone_number":"n/a"}],
            "team_members":[{"id":"nope","nick":"z"}]}]}"#,
    );
    let result = ws.run(&["fixtures", "load", file.to_str().unwrap()]);
    result.assert_failure();
    for line in [
        "$.clients[0].channels[0].type: expected one of whatsapp, web-whatsapp, instagram, webchat",
        "$.clients[0].channels[1].phone_number: a phone number needs at least one digit",
        "$.clients[0].team_members[0].id:",
        "$.clients[0].team_members[0].nick: unknown field `nick`",
    ] {
        assert!(result.stderr.contains(line), "{line}\n{}", result.stderr);
    }
    let twice = ws.write(
        "twice.json",
        r#"{"clients":[{"id":"dddddddd-0000-4000-8000-000000000009","name":"x",
            "channels":[{"id":"d2000000-0000-4000-8000-000000000009","type":"webchat"}],
            "team_members":[{"id":"d3000000-0000-4000-8000-000000000009"},
                            {"id":"d3000000-0000-4000-8000-000000000009"}]}]}"#,
    );
    let result = ws.run(&["fixtures", "load", twice.to_str().unwrap()]);
    result.assert_failure();
    assert!(
        result
            .stderr
            .contains("$.clients[0].team_members[1].id: team member id is given twice; first at"),
        "{}",
        result.stderr
    );
    // A channel never changes client.
    ws.load(&fixture_path(DATA));
    let moved = ws.write(
        "moved.json",
        r#"{"clients":[{"id":"dddddddd-0000-4000-8000-000000000009","name":"x",
            "channels":[{"id":"d2000000-0000-4000-8000-000000000003","type":"webchat"}]}]}"#,
    );
    let before = ws.dump();
    let result = ws.run(&["fixtures", "load", moved.to_str().unwrap()]);
    result.assert_failure();
    assert!(
        result
            .stderr
            .contains("channel d2000000-0000-4000-8000-000000000003 belongs to client"),
        "{}",
        result.stderr
    );
    assert_eq!(ws.dump(), before);
}

#[test]
fn concurrent_upserts_of_a_new_phone_make_one_contact() {
    // Two servers on one file: each has its own writer, and the find runs inside the
    // write's transaction.
    let (ws, server) = server();
    let other = ws.serve(&["--no-demo"]);
    let body = json!({"channel": "whatsapp", "channel_phone_number": "+56229400100",
                      "contact_phone_number": "+56 9 8888 0000"})
    .to_string();
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let posts: Vec<_> = (0..8)
            .map(|i| {
                let to = if i % 2 == 0 { &server } else { &other };
                let body = &body;
                scope.spawn(move || to.post_json(UPSERT, KEY, body))
            })
            .collect();
        posts
            .into_iter()
            .map(|p| {
                let reply = p.join().unwrap();
                assert_eq!(reply.status, 201, "{}", reply.body);
                reply.json()
            })
            .collect()
    });
    let made = answers.iter().filter(|a| a["created"] == true).count();
    assert_eq!(made, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|a| a["aiContactId"] == answers[0]["aiContactId"])
    );
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let count: i64 = conn
        .query_row(
            "SELECT count(*) FROM contacts WHERE phone = '+56988880000'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(count, 1);
}
