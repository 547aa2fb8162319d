//! The command line and the server's life: first start, restart, signals, bad input.

use crate::helpers::*;

#[test]
fn first_start_loads_the_demo_data_and_prints_a_working_curl_line() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);

    let banner = server.banner.join("\n");
    assert!(banner.contains("demo API key: demo-key-1"), "{banner}");
    let curl = server
        .banner
        .iter()
        .find(|l| l.contains("curl"))
        .unwrap_or_else(|| panic!("no curl line:\n{banner}"));
    let url = curl.split_whitespace().last().unwrap();
    let path = url
        .strip_prefix(&server.base_url)
        .unwrap_or_else(|| panic!("{url} is not on {}", server.base_url));
    let reply = server.get(path, Some("demo-key-1"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let contact = reply.json();
    for part in [
        "active_ticket",
        "last_closed_ticket",
        "current_integration_data",
    ] {
        assert!(
            contact[part].is_object(),
            "the sample has no {part}: {contact}"
        );
    }
    assert!(!contact["metadata"].as_object().unwrap().is_empty());
    let id = contact["id"].as_str().unwrap();
    let messages = server.get(
        &format!("{CONTACT_ROUTE}/v2/{id}/messages?page=1"),
        Some("demo-key-1"),
        &[],
    );
    assert!(
        messages.json()["total"].as_u64().unwrap() > 50,
        "{}",
        messages.body
    );

    // The second curl line lists a live inbox: the demo's newest message is now.
    let list = server
        .banner
        .iter()
        .find(|l| l.contains("/api/public/contacts?days=7"))
        .unwrap_or_else(|| panic!("no list curl line:\n{banner}"));
    let url = list.split_whitespace().last().unwrap().trim_matches('\'');
    let path = url.strip_prefix(&server.base_url).unwrap();
    let inbox = server.get(path, Some("demo-key-1"), &[]);
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert!(
        inbox.json().as_array().unwrap().len() >= 10,
        "{}",
        inbox.body
    );
    drop(server);

    let second = ws.serve(&[]);
    assert!(
        !second.banner.join("\n").contains("demo API key"),
        "the demo loads only into a new database"
    );
}

#[test]
fn no_demo_starts_empty() {
    let ws = Workspace::new();
    let server = ws.serve(&["--no-demo"]);

    let reply = server.info("4c08dc4a-6ec8-4ef2-865f-6a69f1507ace", Some("demo-key-1"));

    reply.assert_error(401, "Invalid or missing API key");
}

#[test]
fn data_survives_a_graceful_restart() {
    let ws = Workspace::with_tenants();
    let first = ws.serve(&["--no-demo"]);
    let before = first.info(FULL_CONTACT, Some(KEY_A));

    assert!(first.stop("TERM").success(), "SIGTERM exits 0");
    let second = ws.serve(&["--no-demo"]);
    let after = second.info(FULL_CONTACT, Some(KEY_A));

    assert_eq!(before.status, 200);
    assert_eq!(after.body, before.body);
    assert!(second.stop("INT").success(), "SIGINT exits 0");
}

#[test]
fn migrate_says_what_it_applied() {
    let ws = Workspace::new();

    let first = ws.run(&["migrate"]);
    let second = ws.run(&["migrate"]);

    first.assert_success();
    assert!(first.stdout.contains("V1__initial"), "{}", first.stdout);
    second.assert_success();
    assert!(second.stdout.contains("up to date"), "{}", second.stdout);
}

#[test]
fn bad_flags_get_a_usage_line() {
    let ws = Workspace::new();

    for (args, usage) in [
        (&["--bogus"][..], "Usage: contactd"),
        (&["keys", "frobnicate"], "Usage: contactd keys"),
        (
            &["serve", "--workers", "0"],
            "Usage: contactd serve [OPTIONS]",
        ),
        (&["fixtures", "load"], "Usage: contactd fixtures load"),
        (
            &["fixtures", "generate", "--contacts", "0", "--out", "x.json"],
            "Usage: contactd fixtures generate [OPTIONS] --contacts <N> --out <FILE>",
        ),
    ] {
        let result = ws.run(args);
        result.assert_failure();
        assert_eq!(result.status.code(), Some(2), "{args:?}");
        assert!(result.stderr.contains(usage), "{args:?}: {}", result.stderr);
    }
}

#[test]
fn generate_keeps_an_existing_file_unless_forced_and_ends_its_times_at_end() {
    let ws = Workspace::new();
    let out = ws.write("kept.json", "my own fixture");
    let out = out.to_str().unwrap();

    let refused = ws.run(&["fixtures", "generate", "--contacts", "5", "--out", out]);
    refused.assert_failure();
    assert!(
        refused.stderr.contains("exists; pass --force"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_to_string(out).unwrap(), "my own fixture");

    let end = "2025-06-30T12:00:00Z";
    let args = [
        "fixtures",
        "generate",
        "--contacts",
        "50",
        "--out",
        out,
        "--end",
        end,
    ];
    ws.run(&[&args[..], &["--force"]].concat()).assert_success();
    let text = std::fs::read_to_string(out).unwrap();
    let times: Vec<&str> = text
        .split("_at\":\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert!(!times.is_empty());
    assert!(times.iter().all(|t| *t < end), "every time before --end");
    assert!(
        times.iter().any(|t| *t > "2025-06-23"),
        "activity in its last week"
    );

    let help = ws.run(&["fixtures", "generate", "--help"]);
    assert!(
        help.stdout.contains("never give one access to real data"),
        "{}",
        help.stdout
    );
    // It opens no database, so its help offers no --db; the commands that do, do.
    assert!(!help.stdout.contains("--db"), "{}", help.stdout);
    let load_help = ws.run(&["fixtures", "load", "--help"]);
    assert!(load_help.stdout.contains("--db"), "{}", load_help.stdout);
}

#[test]
fn an_unusable_database_is_a_message_not_a_panic() {
    let ws = Workspace::new();
    let not_sqlite = ws.write("junk.db", &"this is not a database\n".repeat(200));
    let newer = ws.path("newer.db");
    Workspace::run_bare(&["--db", newer.to_str().unwrap(), "migrate"]).assert_success();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (99, 'future', '2030-01-01T00:00:00Z', '0')",
            [],
        )
        .unwrap();
    let under_a_file = ws.write("plain-file", "x").join("contactd.db");

    for (db, expected) in [
        (not_sqlite, "file is not a database"),
        (newer, "schema version 99"),
        (under_a_file, "cannot create the database folder"),
    ] {
        let result = Workspace::run_bare(&[
            "--db",
            db.to_str().unwrap(),
            "serve",
            "--bind",
            "127.0.0.1:0",
        ]);
        result.assert_failure();
        assert!(
            result.stderr.contains(expected),
            "{}: {}",
            db.display(),
            result.stderr
        );
    }
}

#[test]
fn a_port_in_use_is_a_message() {
    let ws = Workspace::new();
    let server = ws.serve(&["--no-demo"]);

    let result = ws.run(&["serve", "--no-demo", "--bind", server.addr()]);

    result.assert_failure();
    assert!(
        result.stderr.contains("cannot listen on"),
        "{}",
        result.stderr
    );
}

#[test]
fn sigterm_under_load_finishes_every_answer_it_starts_and_exits_0() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo"]);
    // Every answer a reader gets is checked to be complete; after the stop, refused
    // or closed connections are expected, half answers never.
    let readers = Hammer::start(&server, 4);

    let status = server.stop("TERM");
    let count = readers.finish();

    assert!(status.success(), "exit status {status}");
    assert!(count.answered > 10, "the load did run: {count:?}");
}
