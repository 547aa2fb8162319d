//! Crashes and storage faults lose nothing: a killed load, a killed server, a locked
//! database and a full disk each leave the data as it was, with a clear message.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::*;

/// A workspace with the tenants loaded and a generated file of `contacts` beside it.
fn with_big_file(contacts: &str) -> (Workspace, String) {
    let ws = Workspace::with_tenants();
    let file = ws.path("big.json").display().to_string();
    ws.run(&[
        "fixtures",
        "generate",
        "--contacts",
        contacts,
        "--seed",
        "5",
        "--out",
        &file,
    ])
    .assert_success();
    (ws, file)
}

/// Starts `contactd fixtures load FILE` over `ws` and kills it (SIGKILL: no chance to
/// clean up) after `delay_ms`. A load that has already ended must have succeeded: one
/// that failed on its own would leave the data as before and prove nothing.
fn kill_load_after(ws: &Workspace, file: &str, delay_ms: u64) {
    let mut load = Command::new(BIN)
        .args(["--db", ws.db().to_str().unwrap(), "fixtures", "load", file])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(delay_ms));
    if let Some(status) = load.try_wait().unwrap() {
        assert!(status.success(), "the load failed by itself: {status}");
    }
    let _ = load.kill();
    let _ = load.wait();
}

#[test]
fn a_load_killed_at_any_point_leaves_the_data_from_before_or_all_of_it() {
    let (reference, file) = with_big_file("20000");
    reference.load(&file);
    // API key rows get fresh ids in every database; compare the rest.
    let without_keys = |dump: Vec<String>| -> Vec<String> {
        dump.into_iter()
            .filter(|row| !row.starts_with("api_keys:"))
            .collect()
    };
    let after = without_keys(reference.dump());

    // Kill points spread over parsing, writing and committing.
    for delay_ms in [50u64, 400, 900, 1500, 2500] {
        let ws = Workspace::with_tenants();
        let before = ws.dump();
        kill_load_after(&ws, &file, delay_ms);

        ws.run(&["check"]).assert_success();
        let now = ws.dump();
        assert!(
            now == before || without_keys(now.clone()) == after,
            "killed after {delay_ms} ms: {} rows, neither before ({}) nor after ({})",
            now.len(),
            before.len(),
            after.len()
        );
    }
}

/// The schema, for a load into a new database: it drops indexes and triggers and makes
/// them again inside its transaction.
fn schema(ws: &Workspace) -> Vec<String> {
    let conn = rusqlite::Connection::open(ws.db()).expect("open db");
    rows_of(
        &conn,
        "schema",
        "SELECT type, name, sql FROM sqlite_schema ORDER BY 2",
    )
}

#[test]
fn a_load_into_a_new_database_killed_at_any_point_leaves_it_empty_and_whole_or_loaded() {
    // The file lives in this workspace's folder: it is kept to the end.
    let (_file_owner, file) = with_big_file("20000");
    let new = Workspace::new();
    new.run(&["migrate"]).assert_success();
    let empty_schema = schema(&new);
    let empty = new.dump();
    new.load(&file);
    let loaded = new.dump();
    assert_eq!(schema(&new), empty_schema, "a whole load keeps the schema");
    // Contacts are stamped with each load's own time; API keys get fresh ids.
    let keyless = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .filter(|r| !r.starts_with("api_keys:") && !r.starts_with("contacts:"))
            .cloned()
            .collect()
    };

    for delay_ms in [50u64, 400, 900, 1500, 2500] {
        let ws = Workspace::new();
        ws.run(&["migrate"]).assert_success();
        kill_load_after(&ws, &file, delay_ms);

        ws.run(&["check"]).assert_success();
        assert_eq!(schema(&ws), empty_schema, "killed after {delay_ms} ms");
        let now = ws.dump();
        assert!(
            now == empty || keyless(&now) == keyless(&loaded),
            "killed after {delay_ms} ms: {} rows, neither none nor all {}",
            now.len(),
            loaded.len()
        );
    }
}

#[test]
fn a_server_killed_under_load_restarts_and_serves_the_same_bodies() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo"]);
    let before = server.info(FULL_CONTACT, Some(KEY_A)).body;
    let readers = Hammer::start(&server, 2);

    let status = server.stop("KILL");
    readers.finish();
    let restarted = ws.serve(&["--no-demo"]);

    assert!(!status.success());
    assert_eq!(restarted.info(FULL_CONTACT, Some(KEY_A)).body, before);
    ws.run(&["check"]).assert_success();
}

#[test]
fn a_database_locked_by_another_writer_is_a_clear_error_and_changes_nothing() {
    let (ws, file) = with_big_file("50");
    let before = ws.dump();
    let holder = rusqlite::Connection::open(ws.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    let result = ws.run(&["fixtures", "load", &file]);

    result.assert_failure();
    assert!(
        result.stderr.contains("database is locked"),
        "{}",
        result.stderr
    );
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(ws.dump(), before);
}

#[test]
fn a_full_disk_during_a_load_is_a_clear_error_and_changes_nothing() {
    let (ws, file) = with_big_file("5000");
    let before = ws.dump();
    let db_kib = std::fs::metadata(ws.db()).unwrap().len() / 1024;

    // The file size limit stands in for a full disk: writes past it fail with EFBIG,
    // which SQLite reports as a full disk (SIGXFSZ ignored so the write just fails).
    let script = format!(
        "trap '' XFSZ; ulimit -f {}; exec \"$0\" --db \"$1\" fixtures load \"$2\"",
        db_kib + 256
    );
    let output = Command::new("bash")
        .args(["-c", &script, BIN, ws.db().to_str().unwrap(), &file])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let result = CommandResult::from(output);

    result.assert_failure();
    assert!(
        result.stderr.contains("disk is full") || result.stderr.contains("disk I/O error"),
        "{}",
        result.stderr
    );
    ws.run(&["check"]).assert_success();
    assert_eq!(ws.dump(), before);
}
