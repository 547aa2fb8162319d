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

#[test]
fn a_load_into_a_new_database_stores_exactly_what_a_load_into_a_used_one_does() {
    let fast = Workspace::new();
    let file = fast.path("generated.json");
    fast.run(&[
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
    // Each contact with its own updated_at: otherwise it is the time of the load,
    // which two loads cannot share.
    let mut generated: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for contact in generated["contacts"].as_array_mut().unwrap() {
        contact["updated_at"] = json!("2026-11-01T00:00:00.000Z");
    }
    let file = fast.write("stamped.json", &generated.to_string());
    fast.load(file.to_str().unwrap());

    // The same file into a database that already holds its clients: every contact,
    // ticket and message goes through the upserts of a used database.
    let slow = Workspace::new();
    let clients = slow.write(
        "clients.json",
        &json!({ "clients": generated["clients"] }).to_string(),
    );
    slow.load(clients.to_str().unwrap());
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
    for ws in [&fast, &slow] {
        let check = ws.run(&["check"]);
        check.assert_success();
        assert!(
            check.stdout.contains("custom-field index: ok"),
            "{}",
            check.stdout
        );
    }
}
