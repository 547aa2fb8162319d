//! A load into a new database takes a faster path (plain inserts, its indexes built after
//! the rows); what it stores must be exactly what the path for a used database stores.

use serde_json::{Value, json};

use crate::helpers::{Workspace, rows_of};

/// Every row of the tables a load writes or derives, and the schema, in a stable order.
fn stored(ws: &Workspace) -> Vec<String> {
    let conn = rusqlite::Connection::open(ws.db()).expect("open db");
    let mut rows = Vec::new();
    let mut add = |sql: &str| {
        let mut these = rows_of(&conn, sql, sql);
        // Rows in their text's order: a table's own order is not what is compared.
        these.sort();
        rows.extend(these);
    };
    for table in [
        "clients",
        "contacts",
        "tickets",
        "messages",
        "pipelines",
        "stages",
        "contact_info_bodies",
        "contact_field_values",
    ] {
        add(&format!("SELECT * FROM {table}"));
    }
    add("SELECT contact_id, client_id, phone_digits, email FROM contact_search_source");
    // What the trigram index finds for a few pieces, as contact ids.
    for piece in ["569", "1234", "gmail", "@ex"] {
        add(&format!(
            "SELECT s.contact_id FROM contact_search f
             JOIN contact_search_source s ON s.rowid = f.rowid
             WHERE contact_search MATCH '\"{piece}\"'"
        ));
    }
    add("SELECT type, name, tbl_name, sql FROM sqlite_schema");
    rows
}

/// Generates 400 contacts, each with its own `updated_at` (otherwise it is the time of
/// the load, which two loads cannot share).
fn generated(ws: &Workspace) -> Value {
    let file = ws.path("generated.json");
    ws.run(&[
        "fixtures",
        "generate",
        "--quiet",
        "--contacts",
        "400",
        "--end",
        "2026-11-01T00:00:00Z",
        "--out",
        file.to_str().unwrap(),
    ])
    .assert_success();
    let mut generated: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for contact in generated["contacts"].as_array_mut().unwrap() {
        contact["updated_at"] = json!("2026-11-01T00:00:00.000Z");
    }
    generated
}

/// Loads `text` (a fixture with the clients `clients`) into a new database, and into one
/// that already holds its clients, where every contact, ticket and message goes through
/// the upserts of a used database; asserts the two store exactly the same, and that
/// `contactd check` finds both clean.
fn assert_new_and_used_database_store_the_same(text: &str, clients: &Value) -> Workspace {
    let fast = Workspace::new();
    let file = fast.write("fixture.json", text);
    fast.load(file.to_str().unwrap());

    let slow = Workspace::new();
    let clients = slow.write("clients.json", &json!({ "clients": clients }).to_string());
    slow.load(clients.to_str().unwrap());
    let file = slow.write("fixture.json", text);
    slow.load(file.to_str().unwrap());

    let (fast_rows, slow_rows) = (stored(&fast), stored(&slow));
    assert!(fast_rows.len() > 3000, "{} rows", fast_rows.len());
    let first_difference = fast_rows
        .iter()
        .zip(&slow_rows)
        .find(|(a, b)| a != b)
        .map(|(a, b)| format!("new database: {a}\nused database: {b}"));
    assert_eq!(first_difference, None);
    assert_eq!(fast_rows.len(), slow_rows.len());
    for ws in [&fast, &slow] {
        let check = ws.run(&["check"]);
        check.assert_success();
        for line in ["custom-field index: ok", "stored /info answers: ok"] {
            assert!(check.stdout.contains(line), "{}", check.stdout);
        }
    }
    fast
}

#[test]
fn a_load_into_a_new_database_stores_exactly_what_a_load_into_a_used_one_does() {
    let ws = Workspace::new();
    let generated = generated(&ws);
    let fast =
        assert_new_and_used_database_store_the_same(&generated.to_string(), &generated["clients"]);
    // The new database was loaded outside WAL mode, its pages written once; it is back
    // in WAL mode, so servers read beside the next load, and no journal is left behind.
    let conn = rusqlite::Connection::open(fast.db()).expect("open db");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let mut journal = fast.db().into_os_string();
    journal.push("-journal");
    assert!(!std::path::Path::new(&journal).exists());
}

/// A new database renders its answers from the parsed records, not from the rows: JSON
/// spelt with spaces, escapes, duplicate keys and long numbers must come out as the
/// rows keep it.
#[test]
fn answers_rendered_from_a_new_databases_records_are_the_rows_answers_for_any_spelling() {
    let ws = Workspace::new();
    let mut generated = generated(&ws);
    let spellings = [
        "{ \"plan\" : \"gold\" ,\n  \"tags\" : [ \"a\" , \"b\" ] }",
        r#"{"e":"\u00e9","slash":"\/","q":"\" \\ ","n":[1.50e3,-0,1e400,12345678901234567890123]}"#,
        r#"{"dup":1,"dup":{ "x" : [ ] },"Pérez":"☕ \ud83d\ude00"}"#,
    ];
    for (i, contact) in generated["contacts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        contact["metadata"] = json!(format!("@@spelling-{}@@", i % 3));
        contact["current_integration_data"] = json!(format!("@@spelling-{}@@", (i + 1) % 3));
        for ticket in contact["tickets"].as_array_mut().into_iter().flatten() {
            ticket["metadata"] = json!(format!("@@spelling-{}@@", (i + 2) % 3));
        }
    }
    let mut text = generated.to_string();
    for (i, spelling) in spellings.iter().enumerate() {
        text = text.replace(&format!("\"@@spelling-{i}@@\""), spelling);
    }
    assert!(!text.contains("@@spelling"), "every placeholder replaced");
    assert_new_and_used_database_store_the_same(&text, &generated["clients"]);
}
