//! Webhooks (SPEC 10): subscriptions, the events a write makes, and their delivery to a
//! real receiver on loopback — signed, retried, logged, and kept through `kill -9`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::Receiver;

const HOOKS: &str = "/api/webhooks";
const CALLS: &str = "/api/webhooks/calls";
const CLIENT_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const ACTIVE_TICKET: &str = "a0000000-0000-4000-8000-000000000001";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WAIT: Duration = Duration::from_secs(15);

fn subscribe(server: &TestServer, topic: &str, url: &str, secret: &str) -> String {
    let reply = server.post_json(
        HOOKS,
        KEY_A,
        &json!({"topic": topic, "url": url, "secret": secret}).to_string(),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.body, format!(r#"{{"status":"created","id":"{id}"}}"#));
    id
}

fn write_metadata(server: &TestServer, body: &str) {
    let path = format!("{CONTACT_ROUTE}/{FULL_CONTACT}/update-metadata");
    let reply = server.post_json(&path, KEY_A, body);
    assert_eq!(reply.status, 201, "{}", reply.body);
}

fn calls(server: &TestServer, query: &str) -> Vec<Value> {
    let reply = server.get(&format!("{CALLS}{query}"), Some(KEY_A), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json().as_array().unwrap().clone()
}

#[test]
fn subscriptions_are_created_changed_deleted_and_restored_per_client() {
    let (_ws, server) = server_with_tenants();
    let topics = server.get("/api/webhooks/topics", None, &[]);
    assert_eq!(
        topics.json(),
        json!([
            "message.received",
            "message.sent",
            "ticket.created",
            "ticket.updated",
            "ticket.closed",
            "contact.created",
            "contact.updated",
            "stage.changed"
        ])
    );

    let id = subscribe(
        &server,
        "ticket.opened",
        "http://127.0.0.1:9/hook",
        "s3cret-value",
    );
    let one = server.get(&format!("{HOOKS}/{id}"), Some(KEY_A), &[]);
    assert_eq!(one.status, 200);
    let keys: Vec<String> = one.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        one.body.find("\"id\"").unwrap(),
        1,
        "keys in order: {keys:?}"
    );
    for (a, b) in [
        ("id", "topic"),
        ("topic", "url"),
        ("url", "active"),
        ("active", "created_at"),
        ("created_at", "updated_at"),
        ("updated_at", "deleted_at"),
    ] {
        assert!(
            one.body.find(&format!("\"{a}\"")) < one.body.find(&format!("\"{b}\"")),
            "{}",
            one.body
        );
    }
    assert_eq!(one.json()["topic"], "ticket.created");
    assert_eq!(one.json()["active"], true);
    assert_eq!(one.json()["deleted_at"], Value::Null);
    assert!(!one.body.contains("s3cret"), "the secret is never answered");

    let changed = server.send_json(
        "PUT",
        &format!("{HOOKS}/{id}"),
        KEY_A,
        r#"{"active":false,"url":null,"topic":"contact.updated"}"#,
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json()["active"], false);
    assert_eq!(changed.json()["topic"], "contact.updated");
    assert_eq!(changed.json()["url"], "http://127.0.0.1:9/hook");

    // Another client sees none of it.
    assert_eq!(server.get(HOOKS, Some(KEY_B), &[]).json(), json!([]));
    server
        .get(&format!("{HOOKS}/{id}"), Some(KEY_B), &[])
        .assert_error(404, "Webhook not found");
    server
        .send_json("DELETE", &format!("{HOOKS}/{id}"), KEY_B, "")
        .assert_error(404, "Webhook not found");

    let deleted = server.send_json("DELETE", &format!("{HOOKS}/{id}"), KEY_A, "");
    assert_eq!(
        deleted.body,
        format!(r#"{{"status":"deleted","id":"{id}"}}"#)
    );
    let again = server.send_json("DELETE", &format!("{HOOKS}/{id}"), KEY_A, "");
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), json!({"status": "deleted", "id": id}));
    let listed = server.get(HOOKS, Some(KEY_A), &[]).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0]["deleted_at"].is_string());
    server
        .send_json("PUT", &format!("{HOOKS}/{id}"), KEY_A, r#"{"active":true}"#)
        .assert_error(404, "Webhook not found");

    let restored = server.post_json(&format!("{HOOKS}/{id}/restore"), KEY_A, "");
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.json()["deleted_at"], Value::Null);

    server
        .get(&format!("{HOOKS}/not-a-uuid"), Some(KEY_A), &[])
        .assert_error(400, "Validation failed (uuid is expected)");
    server
        .get(HOOKS, None, &[])
        .assert_error(401, "Invalid or missing API key");
    let log = server.log();
    assert!(!log.contains("s3cret"), "the secret is never logged");
}

#[test]
fn a_bad_subscription_names_every_field_and_stores_nothing() {
    let (ws, server) = server_with_tenants();
    let before = ws.dump();
    let reply = server.post_json(HOOKS, KEY_A,
        r#"{"topic":"ticket.deleted","url":"http://example.com/#frag","secret":"short","active":1}"#);
    assert_problems(
        &reply,
        &[
            "topic must be one of the following values: message.received, message.sent, \
         ticket.created, ticket.updated, ticket.closed, contact.created, contact.updated, \
         stage.changed",
            "url must not have a fragment (#…)",
            "secret must be between 8 and 256 characters long",
            "active must be a boolean value",
        ],
    );
    let missing = server.post_json(HOOKS, KEY_A, "{}");
    assert_problems(
        &missing,
        &[
            "topic should not be empty",
            "url should not be empty",
            "secret should not be empty",
        ],
    );
    let unparsable = server.post_json(
        HOOKS,
        KEY_A,
        r#"{"topic":"message.sent","url":"not a url","secret":"12345678"}"#,
    );
    assert_eq!(unparsable.status, 400);
    assert!(
        unparsable
            .body
            .contains("url must be an absolute http or https URL"),
        "{}",
        unparsable.body
    );
    server
        .post(HOOKS, Some(KEY_A), Some("text/plain"), "{}")
        .assert_error(415, "Content-Type must be application/json");
    assert_eq!(ws.dump(), before);
}

#[test]
fn a_client_has_at_most_a_hundred_live_subscriptions() {
    let (_ws, server) = server_with_tenants();
    let ids: Vec<String> = (0..100)
        .map(|i| {
            subscribe(
                &server,
                "message.sent",
                &format!("http://127.0.0.1:9/{i}"),
                "12345678",
            )
        })
        .collect();
    let refused = server.post_json(
        HOOKS,
        KEY_A,
        r#"{"topic":"message.sent","url":"http://127.0.0.1:9/x","secret":"12345678"}"#,
    );
    assert_problems(
        &refused,
        &["webhooks: a client may have at most 100 live subscriptions; delete one first"],
    );
    server.send_json("DELETE", &format!("{HOOKS}/{}", ids[0]), KEY_A, "");
    subscribe(&server, "message.sent", "http://127.0.0.1:9/y", "12345678");
    let restore = server.post_json(&format!("{HOOKS}/{}/restore", ids[0]), KEY_A, "");
    assert_eq!(
        restore.status, 400,
        "restoring past the limit: {}",
        restore.body
    );
}

#[test]
fn a_write_is_delivered_signed_with_the_info_answer_and_what_changed() {
    let (_ws, server) = server_with_tenants();
    let receiver = Receiver::ok();
    let contact_hook = subscribe(&server, "contact.updated", &receiver.url, SECRET);
    let ticket_hook = subscribe(&server, "ticket.updated", &receiver.url, "plain-secret-1");

    write_metadata(&server, r#"{"leadScore": 7}"#);
    let got = receiver.wait_for(1, WAIT);
    let delivery = &got[0];
    delivery.verify(SECRET);
    assert_eq!(delivery.header("content-type"), "application/json");
    assert!(delivery.header("user-agent").starts_with("contactd/"));
    let event = delivery.json();
    assert_eq!(event["event"], "contact.updated");
    assert_eq!(event["id"], delivery.header("webhook-id"));
    assert_eq!(event["client_id"], CLIENT_A);
    assert_eq!(event["aiContactId"], FULL_CONTACT);
    let info = server.info(FULL_CONTACT, Some(KEY_A)).body;
    let data = serde_json::to_string(&event["data"]).unwrap();
    let expected = format!(
        r#"{{"id":{},"event":"contact.updated","timestamp":{},"client_id":"{CLIENT_A}","aiContactId":"{FULL_CONTACT}","data":{},"changed":["metadata"]}}}}"#,
        event["id"],
        event["timestamp"],
        info.strip_suffix('}').unwrap()
    );
    assert_eq!(
        delivery.body, expected,
        "data is the /info answer and the keys that changed ({data})"
    );

    let ticket_write = server.post_json(
        "/api/public/ticket/metadata",
        KEY_A,
        &json!({"ai_contact_id": FULL_CONTACT, "metadata": {"note": "llamar"}}).to_string(),
    );
    assert_eq!(ticket_write.status, 201, "{}", ticket_write.body);
    let got = receiver.wait_for(2, WAIT);
    got[1].verify("plain-secret-1");
    let ticket_event = got[1].json();
    assert_eq!(ticket_event["event"], "ticket.updated");
    let info: Value = server.info(FULL_CONTACT, Some(KEY_A)).json();
    let mut ticket = info["active_ticket"].clone();
    ticket["current_stage_id"] = json!("e1000000-0000-4000-8000-000000000001");
    assert_eq!(ticket_event["data"], ticket);
    assert_eq!(ticket_event["data"]["id"], ACTIVE_TICKET);

    let log = server.wait_until(CALLS, KEY_A, WAIT, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered")
    });
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["webhook_id"], ticket_hook.as_str(), "newest first");
    assert_eq!(log[1]["webhook_id"], contact_hook.as_str());
    assert_eq!(log[1]["attempts"], 1);
    assert_eq!(log[1]["response_status"], 200);
    assert_eq!(log[1]["next_attempt_at"], Value::Null);
    assert_eq!(log[1]["error"], Value::Null);
    assert_eq!(log[1]["event"], event);
    assert_eq!(
        calls(&server, &format!("?webhook_id={contact_hook}")).len(),
        1
    );
    assert_eq!(calls(&server, "?topic=ticket.updated").len(), 1);
    assert_eq!(calls(&server, "?status=pending").len(), 0);
    assert_problems(
        &server.get(&format!("{CALLS}?status=lost&limit=501"), Some(KEY_A), &[]),
        &[
            "status must be one of the following values: pending, delivered, failed, cancelled",
            "limit must not be greater than 500",
        ],
    );
    // Another client's log is its own.
    assert_eq!(server.get(CALLS, Some(KEY_B), &[]).json(), json!([]));

    // An empty write writes nothing, and so makes no event.
    write_metadata(&server, "{}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.received().len(), 2);
}

#[test]
fn failed_attempts_are_retried_on_schedule_then_failed_and_retried_by_hand() {
    let (_ws, server) = {
        let ws = Workspace::with_tenants();
        let server = ws.serve(&["--no-demo", "--webhook-retry-schedule", "0.2,0.2"]);
        (ws, server)
    };
    // 500, then a redirect, then 200 from the fourth request on.
    let receiver = Receiver::start(|n| match n {
        0 => (500, Duration::ZERO),
        1 | 2 => (302, Duration::ZERO),
        _ => (200, Duration::ZERO),
    });
    subscribe(&server, "contact.updated", &receiver.url, SECRET);
    write_metadata(&server, r#"{"a": 1}"#);

    let log = server.wait_until(CALLS, KEY_A, WAIT, |v| v[0]["status"] == "failed");
    let delivery = &log[0];
    assert_eq!(delivery["attempts"], 3, "{delivery}");
    assert_eq!(delivery["response_status"], 302);
    assert!(
        delivery["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{delivery}"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one event id for every attempt"
    );
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(170),
        "±10 % of 0.2 s"
    );

    let id = delivery["id"].as_str().unwrap();
    let retried = server.post_json(&format!("{CALLS}/{id}/retry"), KEY_A, "");
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.json()["status"], "pending");
    let log = server.wait_until(CALLS, KEY_A, WAIT, |v| v[0]["status"] == "delivered");
    assert_eq!(log[0]["attempts"], 4);
    assert_eq!(log[0]["response_status"], 200);

    server
        .post_json(
            &format!("{CALLS}/{}/retry", "00000000-0000-4000-8000-000000000000"),
            KEY_A,
            "",
        )
        .assert_error(404, "Delivery not found");
    server
        .post_json(&format!("{CALLS}/{id}/retry"), KEY_B, "")
        .assert_error(404, "Delivery not found");
    let metrics = server.get("/metrics", None, &[]).body;
    assert!(
        metrics.contains(
            r#"contactd_webhook_deliveries_total{outcome="retry",topic="contact.updated"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"contactd_webhook_deliveries_total{outcome="failed",topic="contact.updated"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"contactd_webhook_deliveries_total{outcome="delivered",topic="contact.updated"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("contactd_webhook_pending 0"), "{metrics}");
}

#[test]
fn a_receiver_that_is_down_hangs_or_resolves_nowhere_is_a_failed_attempt_with_words() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&[
        "--no-demo",
        "--webhook-timeout",
        "0.5",
        "--webhook-retry-schedule",
        "60",
    ]);
    let hanging = Receiver::start(|_| (200, Duration::from_secs(5)));
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}/hook")
    };
    subscribe(&server, "contact.updated", &closed, "12345678");
    subscribe(&server, "contact.updated", &hanging.url, "12345678");
    subscribe(
        &server,
        "contact.updated",
        "http://no-such-host.invalid/hook",
        "12345678",
    );
    write_metadata(&server, r#"{"a": 1}"#);
    let log = server.wait_until(CALLS, KEY_A, WAIT, |v| {
        v.as_array().unwrap().iter().all(|d| d["attempts"] == 1)
    });
    let by_url: HashMap<&str, &Value> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["url"].as_str().unwrap(), d))
        .collect();
    for (url, words) in [
        (closed.as_str(), "cannot connect"),
        (hanging.url.as_str(), "within"),
        ("http://no-such-host.invalid/hook", "cannot connect"),
    ] {
        let d = by_url[url];
        assert_eq!(d["status"], "pending", "{d}");
        assert!(d["next_attempt_at"].is_string(), "{d}");
        assert_eq!(d["response_status"], Value::Null, "{d}");
        assert!(d["error"].as_str().unwrap().contains(words), "{url}: {d}");
    }
    // The API did not wait for any of it.
    let started = std::time::Instant::now();
    write_metadata(&server, r#"{"b": 2}"#);
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[test]
fn pausing_or_deleting_a_subscription_cancels_what_it_has_pending() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--no-webhooks"]);
    let receiver = Receiver::ok();
    let paused = subscribe(&server, "contact.updated", &receiver.url, "12345678");
    let deleted = subscribe(&server, "contact.updated", &receiver.url, "12345678");
    write_metadata(&server, r#"{"a": 1}"#);
    assert_eq!(calls(&server, "?status=pending").len(), 2);
    server.send_json(
        "PUT",
        &format!("{HOOKS}/{paused}"),
        KEY_A,
        r#"{"active":false}"#,
    );
    server.send_json("DELETE", &format!("{HOOKS}/{deleted}"), KEY_A, "");
    let log = calls(&server, "");
    assert!(
        log.iter()
            .all(|d| d["status"] == "cancelled" && d["next_attempt_at"].is_null()),
        "{log:?}"
    );
    // Neither gets new deliveries.
    write_metadata(&server, r#"{"a": 2}"#);
    assert_eq!(calls(&server, "").len(), 2);
    let id = log[0]["id"].as_str().unwrap();
    let of_deleted = log
        .iter()
        .find(|d| d["webhook_id"] == deleted.as_str())
        .unwrap();
    server
        .post_json(
            &format!("{CALLS}/{}/retry", of_deleted["id"].as_str().unwrap()),
            KEY_A,
            "",
        )
        .assert_error(404, "Webhook not found");
    assert!(!id.is_empty());
    assert!(
        receiver.received().is_empty(),
        "--no-webhooks sends nothing"
    );
}

#[test]
fn deliveries_stored_without_a_sender_or_cut_by_kill_9_are_sent_by_the_next_server() {
    let ws = Workspace::with_tenants();
    let quiet = ws.serve(&["--no-demo", "--no-webhooks"]);
    // The first request hangs long enough to kill the server under it.
    let receiver = Receiver::start(|n| {
        (
            200,
            if n == 0 {
                Duration::from_secs(30)
            } else {
                Duration::ZERO
            },
        )
    });
    subscribe(&quiet, "contact.updated", &receiver.url, SECRET);
    for i in 0..3 {
        write_metadata(&quiet, &format!(r#"{{"n": {i}}}"#));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(receiver.received().is_empty());
    drop(quiet);

    let first = ws.serve(&["--no-demo", "--webhook-timeout", "1"]);
    receiver.wait_for(1, WAIT);
    send_kill(&first);
    drop(first);

    let second = ws.serve(&["--no-demo", "--webhook-timeout", "1"]);
    let got = receiver.wait_for(4, Duration::from_secs(30));
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids[0], ids[1], "the attempt cut by kill -9 is made again");
    let ns: Vec<Value> = got[1..]
        .iter()
        .map(|r| r.json()["data"]["metadata"]["n"].clone())
        .collect();
    assert_eq!(
        ns,
        [json!(0), json!(1), json!(2)],
        "first attempts in event order"
    );
    ids.dedup();
    assert_eq!(ids.len(), 3);
    for r in &got {
        r.verify(SECRET);
    }
    second.wait_until(CALLS, KEY_A, WAIT, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered")
    });
}

#[test]
fn a_subscription_has_one_request_in_flight_and_gets_its_events_in_order() {
    let ws = Workspace::with_tenants();
    let quiet = ws.serve(&["--no-demo", "--no-webhooks"]);
    const ANSWER: Duration = Duration::from_millis(20);
    let receiver = Receiver::start(|_| (200, ANSWER));
    subscribe(&quiet, "contact.updated", &receiver.url, SECRET);
    const EVENTS: i64 = 30;
    for i in 0..EVENTS {
        write_metadata(&quiet, &format!(r#"{{"n": {i}}}"#));
    }
    drop(quiet);

    let server = ws.serve(&["--no-demo"]);
    let got = receiver.wait_for(EVENTS as usize, WAIT);
    let ns: Vec<i64> = got
        .iter()
        .map(|r| r.json()["data"]["metadata"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, (0..EVENTS).collect::<Vec<_>>(), "in event order");
    for pair in got.windows(2) {
        // The receiver notes a request as it arrives and answers it ANSWER later.
        assert!(
            pair[1].at.duration_since(pair[0].at) >= ANSWER,
            "a request arrived before the one before it was answered"
        );
    }
    server.wait_until(CALLS, KEY_A, WAIT, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1)
    });
}

#[test]
fn two_servers_on_one_file_send_each_attempt_once() {
    let ws = Workspace::with_tenants();
    let one = ws.serve(&["--no-demo"]);
    let two = ws.serve(&["--no-demo"]);
    let receiver = Receiver::start(|_| (200, Duration::from_millis(5)));
    subscribe(&one, "contact.updated", &receiver.url, SECRET);
    subscribe(&two, "ticket.updated", &receiver.url, SECRET);
    const EACH: usize = 40;
    for i in 0..EACH {
        write_metadata(
            if i % 2 == 0 { &one } else { &two },
            &format!(r#"{{"n": {i}}}"#),
        );
        let ticket = json!({"ticket_id": ACTIVE_TICKET, "metadata": {"n": i.to_string()}});
        let reply = two.post_json("/api/public/ticket/metadata", KEY_A, &ticket.to_string());
        assert_eq!(reply.status, 201);
    }
    one.wait_until(
        &format!("{CALLS}?limit=500"),
        KEY_A,
        Duration::from_secs(30),
        |v| {
            let all = v.as_array().unwrap();
            all.len() == 2 * EACH && all.iter().all(|d| d["status"] == "delivered")
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let got = receiver.received();
    let mut ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(got.len(), 2 * EACH, "every event once, none twice");
    assert_eq!(ids.len(), 2 * EACH);
}

fn send_kill(server: &TestServer) {
    send_signal(server.pid(), "KILL");
    std::thread::sleep(Duration::from_millis(200));
}
