//! Commands as a stranger uses them: wrong paths, flags in the wrong place, closed
//! pipes, damaged histories, concurrent starts, full disks, big machines.

use std::process::{Command, Stdio};

use crate::helpers::*;

#[test]
fn read_only_commands_never_create_a_database() {
    let ws = Workspace::new();
    let client = "aaaaaaaa-0000-4000-8000-000000000001";
    let key_id = "bbbbbbbb-0000-4000-8000-000000000001";
    let backup = ws.path("backup.db");

    for args in [
        &["keys", "list"][..],
        &["keys", "create", "--client", client],
        &["keys", "revoke", key_id],
        &["check"],
        &["backup", backup.to_str().unwrap()],
    ] {
        let result = ws.run(args);
        result.assert_failure();
        assert!(
            result.stderr.contains("there is no database at"),
            "{args:?}: {}",
            result.stderr
        );
        assert!(!ws.db().exists(), "{args:?} created {}", ws.db().display());
        assert!(!backup.exists());
    }
}

#[test]
fn key_commands_refuse_a_database_that_needs_migrating_and_leave_it_alone() {
    let ws = Workspace::with_tenants();
    rusqlite::Connection::open(ws.db())
        .unwrap()
        .execute(
            "DELETE FROM refinery_schema_history
             WHERE version = (SELECT max(version) FROM refinery_schema_history)",
            [],
        )
        .unwrap();

    let result = ws.run(&["keys", "list"]);

    result.assert_failure();
    assert!(
        result.stderr.contains("run `contactd migrate`"),
        "{}",
        result.stderr
    );
}

#[test]
fn serve_flags_before_another_command_are_refused_with_a_usage_line() {
    let ws = Workspace::with_tenants();

    for args in [
        &["--bind", "127.0.0.1:1", "keys", "list"][..],
        &["--workers", "3", "check"],
        &["--fixtures", "x.json", "migrate"],
        &["--pool-size", "9", "serve"],
    ] {
        let result = ws.run(args);
        result.assert_failure();
        assert_eq!(result.status.code(), Some(2), "{args:?}");
        assert!(
            result.stderr.contains("is a flag of `serve`")
                || result.stderr.contains("goes after `serve`"),
            "{args:?}: {}",
            result.stderr
        );
        assert!(result.stderr.contains("Usage:"), "{}", result.stderr);
    }
}

#[test]
fn a_bad_bind_address_is_refused_before_the_database_is_touched() {
    let ws = Workspace::new();

    for bind in ["nonsense", "127.0.0.1:99999", "256.0.0.1:80"] {
        let result = ws.run(&["serve", "--bind", bind]);
        result.assert_failure();
        assert!(
            result.stderr.contains(&format!("cannot listen on {bind}")),
            "{bind}: {}",
            result.stderr
        );
        assert!(!ws.db().exists(), "{bind}: the database was created");
    }

    // A busy port, too: the demo data is not loaded, so the next start still shows it.
    let other = Workspace::new();
    let busy = other.serve(&["--no-demo"]);
    ws.run(&["serve", "--bind", busy.addr()]).assert_failure();
    assert!(!ws.db().exists());
    let server = ws.serve(&[]);
    assert!(
        server.banner.join("\n").contains("demo API key"),
        "{:?}",
        server.banner
    );
}

#[test]
fn a_boolean_env_variable_that_is_not_one_is_a_usage_error() {
    let ws = Workspace::new();

    let result = Workspace::run_with_env(
        &["--db", ws.db().to_str().unwrap(), "serve"],
        &[("CONTACTD_NO_DEMO", "maybe")],
    );

    assert_eq!(result.status.code(), Some(2), "{}", result.stderr);
    assert!(
        result.stderr.contains("expected a boolean"),
        "{}",
        result.stderr
    );
    assert!(!ws.db().exists());
}

#[test]
fn no_demo_from_the_environment_is_honoured() {
    for (value, demo) in [
        ("yes", false),
        ("1", false),
        ("TRUE", false),
        ("", true),
        ("off", true),
        ("No", true),
    ] {
        let ws = Workspace::new();
        let server = TestServer::start_with_env(&ws, &[], &[("CONTACTD_NO_DEMO", value)]);
        assert_eq!(
            server.banner.join("\n").contains("demo API key"),
            demo,
            "CONTACTD_NO_DEMO={value:?}: {:?}",
            server.banner
        );
    }
}

#[test]
fn many_workers_start_without_a_pool_size() {
    let ws = Workspace::new();

    let server = ws.serve(&["--no-demo", "--workers", "64"]);

    assert_eq!(server.get("/healthz", None, &[]).status, 200);
    assert_eq!(server.get("/readyz", None, &[]).status, 200);
}

#[test]
fn a_reader_that_goes_away_ends_a_command_quietly() {
    let ws = Workspace::with_tenants();
    for args in [&["keys", "list"][..], &["check"], &["--help"]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader); // Every write now fails with EPIPE.
        let db = ws.db();
        let output = Command::new(BIN)
            .arg("--db")
            .arg(&db)
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// Changes the schema history of a migrated database with `sql`.
fn damaged_history(sql: &str) -> Workspace {
    let ws = Workspace::with_tenants();
    rusqlite::Connection::open(ws.db())
        .unwrap()
        .execute_batch(sql)
        .unwrap();
    ws
}

#[test]
fn check_refuses_exactly_what_serve_and_migrate_refuse() {
    for (sql, expected) in [
        (
            "INSERT INTO refinery_schema_history VALUES (99, 'future', '2030-01-01T00:00:00Z', '1')",
            "schema version 99, newer",
        ),
        (
            "UPDATE refinery_schema_history SET checksum = '42' WHERE version = 1",
            "differs from the one this contactd carries",
        ),
        (
            "UPDATE refinery_schema_history SET applied_on = 'last tuesday' WHERE version = 1",
            "row 1 of refinery_schema_history is malformed",
        ),
        (
            "UPDATE refinery_schema_history SET checksum = NULL WHERE version = 1",
            "row 1 of refinery_schema_history is malformed",
        ),
    ] {
        let ws = damaged_history(sql);

        let check = ws.run(&["check"]);
        let migrate = ws.run(&["migrate"]);
        let serve = ws.run(&["serve", "--no-demo", "--bind", "127.0.0.1:0"]);

        for (command, result) in [("check", &check), ("migrate", &migrate), ("serve", &serve)] {
            result.assert_failure();
            assert_eq!(result.status.code(), Some(1), "{command} after {sql}");
            let output = format!("{}{}", result.stdout, result.stderr);
            assert!(output.contains(expected), "{command} after {sql}: {output}");
        }
    }
}

#[test]
fn processes_migrating_a_new_database_at_once_all_succeed() {
    for round in 0..3 {
        let ws = Workspace::new();
        std::fs::create_dir_all(ws.db().parent().unwrap()).unwrap();
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(BIN)
                    .args(["--db", ws.db().to_str().unwrap(), "migrate"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let results: Vec<CommandResult> = children
            .into_iter()
            .map(|c| CommandResult::from(c.wait_with_output().unwrap()))
            .collect();
        for r in &results {
            r.assert_success();
        }
        let applied = results
            .iter()
            .filter(|r| r.stdout.contains("applied migrations"))
            .count();
        assert_eq!(
            applied, 1,
            "round {round}: exactly one process applies them"
        );
        ws.run(&["check"]).assert_success();
    }
}

#[test]
fn a_backup_that_fails_leaves_no_file_and_the_retry_works() {
    let (ws, file) = {
        let ws = Workspace::with_tenants();
        let file = ws.path("big.json").display().to_string();
        ws.run(&["fixtures", "generate", "--contacts", "3000", "--out", &file])
            .assert_success();
        (ws, file)
    };
    ws.load(&file);
    let backups = ws.path("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let dest = backups.join("copy.db");

    // The file size limit stands in for a full disk (SIGXFSZ ignored so writes fail).
    let script = "trap '' XFSZ; ulimit -f 64; exec \"$0\" --db \"$1\" backup \"$2\"";
    let output = Command::new("bash")
        .args([
            "-c",
            script,
            BIN,
            ws.db().to_str().unwrap(),
            dest.to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let failed = CommandResult::from(output);

    failed.assert_failure();
    assert!(
        failed.stderr.contains("cannot write the backup"),
        "{}",
        failed.stderr
    );
    let left: Vec<_> = std::fs::read_dir(&backups).unwrap().collect();
    assert!(left.is_empty(), "a failed backup left {left:?}");

    ws.run(&["backup", dest.to_str().unwrap()]).assert_success();
    Workspace::run_bare(&["--db", dest.to_str().unwrap(), "check"]).assert_success();
}

#[test]
fn a_generated_file_that_cannot_be_finished_leaves_nothing_behind() {
    let ws = Workspace::new();
    let folder = ws.path("gen");
    std::fs::create_dir_all(&folder).unwrap();
    let out = folder.join("big.json");

    // A full disk, as for backups: 64 KiB of file at most, SIGXFSZ ignored.
    let script =
        "trap '' XFSZ; ulimit -f 64; exec \"$0\" fixtures generate --contacts 2000 --out \"$1\"";
    let output = Command::new("bash")
        .args(["-c", script, BIN, out.to_str().unwrap()])
        .output()
        .unwrap();
    let failed = CommandResult::from(output);

    failed.assert_failure();
    assert!(failed.stderr.contains("cannot write"), "{}", failed.stderr);
    let left: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
    assert!(left.is_empty(), "a failed generate left {left:?}");
}

#[test]
fn a_damaged_file_is_said_so_by_check_and_by_readyz_without_row_contents() {
    let ws = Workspace::with_tenants();
    let (root, page_size): (i64, i64) = {
        let conn = rusqlite::Connection::open(ws.db()).unwrap();
        let root = conn
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'contacts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let size = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        (root, size)
    };
    // A page overwritten in place, as a bad disk or a half-copied restore leaves it.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(ws.db())
            .unwrap();
        file.seek(SeekFrom::Start(((root - 1) * page_size) as u64))
            .unwrap();
        file.write_all(&vec![0xA5; page_size as usize]).unwrap();
    }

    let check = ws.run(&["check"]);
    assert_eq!(check.status.code(), Some(1), "{}", check.stderr);
    assert!(check.stdout.starts_with("integrity: "), "{}", check.stdout);
    assert!(check.stdout.contains("page"), "{}", check.stdout);
    assert!(
        check
            .stderr
            .contains("is damaged (see above); nothing else was checked"),
        "{}",
        check.stderr
    );
    let output = format!("{}{}", check.stdout, check.stderr);
    assert!(!output.contains("Conversion error"), "{output}");
    assert!(output.len() < 4000, "no row's text: {output}");

    let server = ws.serve(&["--no-demo"]);
    // The page check runs beside the server once the port is open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let said = loop {
        let reply = server.get("/readyz", None, &[]);
        if reply.status != 200 || std::time::Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    said.assert_error(
        503,
        "The database file is damaged; stop the server and run `contactd check`",
    );
}

#[test]
fn backups_into_one_folder_at_once_all_land_and_a_missing_folder_is_named() {
    let ws = Workspace::with_tenants();
    let folder = ws.path("backups");
    std::fs::create_dir_all(&folder).unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(BIN)
                .args(["--db", ws.db().to_str().unwrap(), "backup"])
                .arg(&folder)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        CommandResult::from(child.wait_with_output().unwrap()).assert_success();
    }
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("contactd-") && n.ends_with(".db"))
    );

    let missing = ws.path("nowhere").join("copy.db");
    let failed = ws.run(&["backup", missing.to_str().unwrap()]);
    failed.assert_failure();
    assert!(
        failed.stderr.contains("the folder") && failed.stderr.contains("does not exist"),
        "{}",
        failed.stderr
    );
    assert!(!failed.stderr.contains("partial"), "{}", failed.stderr);
}

#[test]
fn a_load_into_a_database_a_server_has_open_leaves_no_big_wal_behind() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo"]);
    let file = ws.path("big.json");
    ws.run(&[
        "fixtures",
        "generate",
        "--contacts",
        "3000",
        "--out",
        file.to_str().unwrap(),
    ])
    .assert_success();
    ws.load(file.to_str().unwrap());

    let wal = format!("{}-wal", ws.db().display());
    let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(size < 1 << 20, "the -wal is {size} bytes after the load");
    assert_eq!(server.get("/readyz", None, &[]).status, 200);
}
