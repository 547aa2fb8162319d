//! The `/info` read model (schema V3): every answer served is the one the contact's rows
//! render now, after loads, reloads and API writes; `check` finds any that is not.

use std::collections::HashMap;

use serde_json::{Value, json};

use contactd::model::ContactId;
use contactd::store::{Store, StoreOptions};

use crate::helpers::*;

const CLIENT_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const CLIENT_B: &str = "bbbbbbbb-0000-4000-8000-000000000002";

/// Writes a generated fixture of `contacts` contacts and returns it with its keys by
/// client.
fn generated(ws: &Workspace, contacts: u32) -> (Value, HashMap<String, String>) {
    let file = ws.path("generated.json");
    let out = ws.run(&[
        "fixtures",
        "generate",
        "--contacts",
        &contacts.to_string(),
        "--seed",
        "12",
        "--out",
        file.to_str().unwrap(),
    ]);
    out.assert_success();
    let keys = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("client"), Some(client), Some("key"), Some(key)) => {
                    Some((client.to_owned(), key.to_owned()))
                }
                _ => None,
            }
        })
        .collect();
    let text = std::fs::read_to_string(&file).unwrap();
    (serde_json::from_str(&text).unwrap(), keys)
}

/// Asks `/info` for every stored contact with its client's key and compares the answer,
/// byte for byte and tag for tag, with the one rendered from its rows now.
fn assert_every_answer_matches_its_rows(
    ws: &Workspace,
    server: &TestServer,
    keys: &HashMap<String, String>,
    stage: &str,
) {
    let store = Store::open_existing(&StoreOptions {
        path: ws.db(),
        pool_size: 1,
    })
    .unwrap();
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let mut stmt = conn.prepare("SELECT id, client_id FROM contacts").unwrap();
    let contacts: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(contacts.len() >= 3, "{stage}: the data is loaded");
    for (id, client) in &contacts {
        let key = &keys[client];
        let expected = store
            .render_from_source(&ContactId::parse(id).unwrap())
            .unwrap()
            .unwrap();
        let served = server.info(id, Some(key));
        assert_eq!(served.status, 200, "{stage}: {id}");
        assert_eq!(
            served.body,
            String::from_utf8(expected.body).unwrap(),
            "{stage}: the answer for {id} is not its rows' answer"
        );
        assert_eq!(
            served.header("etag"),
            Some(format!("\"{}\"", expected.etag).as_str()),
            "{stage}: {id}"
        );
    }
    // The custom-field index the list filters by holds exactly what the rows say.
    let drift: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT 'missing', contact_id, key FROM (
                 SELECT * FROM contact_field_values_expected
                 EXCEPT SELECT * FROM contact_field_values)
             UNION ALL
             SELECT 'left over', contact_id, key FROM (
                 SELECT * FROM contact_field_values
                 EXCEPT SELECT * FROM contact_field_values_expected)",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(drift.is_empty(), "{stage}: custom-field index {drift:?}");
    let entries: i64 = conn
        .query_row("SELECT count(*) FROM contact_field_values", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(entries > 0, "{stage}: the index has entries");
}

#[test]
fn every_answer_served_is_its_rows_answer_after_loads_reloads_and_writes() {
    let (ws, server) = server_with_tenants();
    let (mut fixture, mut keys) = generated(&ws, 120);
    keys.insert(CLIENT_A.to_owned(), KEY_A.to_owned());
    keys.insert(CLIENT_B.to_owned(), KEY_B.to_owned());
    assert_every_answer_matches_its_rows(&ws, &server, &keys, "tenants loaded");

    // A load in another process, while the server runs.
    ws.load(ws.path("generated.json").to_str().unwrap());
    assert_every_answer_matches_its_rows(&ws, &server, &keys, "generated loaded");
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let count: i64 = conn
        .query_row("SELECT count(*) FROM contact_info_bodies", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 123, "one answer per contact");

    // A reload that changes contacts, tickets alone, and which ticket is active.
    let contacts = fixture["contacts"].as_array_mut().unwrap();
    let mut changed = 0;
    for (i, contact) in contacts.iter_mut().enumerate() {
        if i % 3 == 0 {
            contact["name"] = json!(format!("Renombrado {i}"));
        }
        let active = contact["active_ticket_v2_id"].clone();
        if active.is_null() {
            continue;
        }
        if i % 4 == 1 {
            // The active ticket alone changes: its contact's row stays as it was.
            let tickets = contact["tickets"].as_array_mut().unwrap();
            let ticket = tickets.iter_mut().find(|t| t["id"] == active).unwrap();
            ticket["status"] = json!("ESCALATED");
            ticket["metadata"] = json!({"reloaded": i, "nested": {"deep": [1, 2.50, "x"]}});
            changed += 1;
        } else if i % 4 == 2 {
            contact["active_ticket_v2_id"] = Value::Null;
        }
    }
    assert!(changed > 5, "the reload changes tickets");
    let reload = ws.write("reload.json", &fixture.to_string());
    ws.load(reload.to_str().unwrap());
    assert_every_answer_matches_its_rows(&ws, &server, &keys, "reloaded");

    // The API's writes: a contact's metadata, a ticket's by id, a ticket's by contact.
    let contacts = fixture["contacts"].as_array().unwrap();
    for (i, contact) in contacts.iter().enumerate().filter(|(i, _)| i % 7 == 0) {
        let id = contact["id"].as_str().unwrap();
        let key = &keys[contact["client_id"].as_str().unwrap()];
        let path = format!("{CONTACT_ROUTE}/{id}/update-metadata");
        let reply = server.post_json(
            &path,
            key,
            &json!({"Written By": "api", "n": i}).to_string(),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        if let Some(ticket) = contact["tickets"].as_array().unwrap().first() {
            let body = json!({"ticket_id": ticket["id"], "metadata": {"from api": i.to_string()}});
            let reply = server.post_json("/api/public/ticket/metadata", key, &body.to_string());
            assert!(matches!(reply.status, 201 | 404), "{}", reply.body);
        }
    }
    let reply = server.post_json(
        "/api/public/ticket/metadata",
        KEY_A,
        &json!({"ai_contact_id": FULL_CONTACT, "metadata": {"by contact": "yes"}}).to_string(),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_every_answer_matches_its_rows(&ws, &server, &keys, "after API writes");

    // Reloading the first file puts back what it says and keeps what the API wrote
    // elsewhere; either way the answers follow.
    ws.load(ws.path("generated.json").to_str().unwrap());
    assert_every_answer_matches_its_rows(&ws, &server, &keys, "first file again");
    ws.run(&["check"]).assert_success();
}

#[test]
fn check_names_every_contact_whose_stored_answer_drifted_from_its_rows() {
    let ws = Workspace::with_tenants();
    let healthy = ws.run(&["check"]);
    healthy.assert_success();
    assert!(
        healthy.stdout.contains("stored /info answers: ok"),
        "{}",
        healthy.stdout
    );
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    conn.execute_batch(&format!(
        "UPDATE contacts SET name = 'Cambiado a mano' WHERE id = '{FULL_CONTACT}';
         DELETE FROM contact_info_bodies WHERE contact_id = '{MINIMAL_CONTACT}';
         UPDATE contact_info_bodies SET client_id = '{CLIENT_A}'
          WHERE contact_id = '{CONTACT_OF_B}';
         DELETE FROM contact_field_values WHERE contact_id = '{FULL_CONTACT}' AND key = 'plan';"
    ))
    .unwrap();

    let out = ws.run(&["check"]);

    out.assert_failure();
    for expected in [
        format!("the stored /info answer of contact {FULL_CONTACT} differs from its rows"),
        format!("contact {MINIMAL_CONTACT} has no stored /info answer"),
        format!("contact {CONTACT_OF_B} is filed under client {CLIENT_A}"),
        format!(
            "custom-field index entry missing for contact {FULL_CONTACT} (customer metadata key \"plan\")"
        ),
    ] {
        assert!(
            out.stdout.contains(&expected),
            "{expected}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn an_answer_sits_whole_in_its_table_leaf() {
    let ws = Workspace::with_tenants();
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let bodies: i64 = conn
        .query_row("SELECT count(*) FROM contact_info_bodies", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bodies, 3);
    // No overflow page: reading an answer reads one table leaf.
    let overflow: i64 = conn
        .query_row(
            "SELECT count(*) FROM dbstat WHERE name = 'contact_info_bodies' AND pagetype = 'overflow'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(overflow, 0);
}

#[test]
fn a_reader_maps_the_file_while_nobody_writes_and_reads_it_plainly_while_anybody_does() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--workers", "1"]);
    let read = || assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 200);
    read();
    assert_eq!(server.maps_of(&ws.db()), 0, "not before a quiet second");

    std::thread::sleep(std::time::Duration::from_millis(1200));
    read();
    assert_eq!(server.maps_of(&ws.db()), 1, "mapped after a quiet second");

    // A commit seen by one read turns the map off for the next.
    let path = format!("{CONTACT_ROUTE}/{FULL_CONTACT}/update-metadata");
    let reply = server.post_json(&path, KEY_A, r#"{"tier":"gold"}"#);
    assert_eq!(reply.status, 201, "{}", reply.body);
    read();
    read();
    assert_eq!(server.maps_of(&ws.db()), 0, "unmapped while writes come");
    let served = server.info(FULL_CONTACT, Some(KEY_A)).json();
    assert_eq!(served["metadata"]["tier"], "gold");

    std::thread::sleep(std::time::Duration::from_millis(1200));
    read();
    assert_eq!(server.maps_of(&ws.db()), 1, "mapped again once quiet");
    assert_eq!(
        server.info(FULL_CONTACT, Some(KEY_A)).json()["metadata"]["tier"],
        "gold"
    );
}
