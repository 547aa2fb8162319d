//! Fixture loading: the format, all-or-nothing, upserts, problems with file and path.

use serde_json::{Value, json};

use crate::helpers::*;

const CLIENT_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";

/// A valid file with one new contact of client A (loaded on top of the tenants).
fn valid_file() -> Value {
    json!({
        "contacts": [{
            "id": "44444444-4444-4444-8444-444444444444",
            "client_id": CLIENT_A,
            "ai_customer_id": "c0ffee00-0000-4000-8000-00000000000d",
            "name": "Nuevo",
            "platform": "sms",
            "created_at": "2024-06-01T00:00:00Z",
            "chat_status": "PENDING",
            "is_chat_read": false,
            "metadata": {},
            "active_ticket_v2_id": "a4444444-0000-4000-8000-000000000001",
            "last_closed_ticket_v2_id": "c4444444-0000-4000-8000-000000000001",
            "tickets": [
                {"id": "a4444444-0000-4000-8000-000000000001", "status": "OPEN",
                 "created_at": "2024-06-02T00:00:00Z", "updated_at": "2024-06-02T00:00:00Z"},
                {"id": "c4444444-0000-4000-8000-000000000001", "status": "CLOSED",
                 "created_at": "2024-06-01T00:00:00Z", "updated_at": "2024-06-01T12:00:00Z"}
            ]
        }]
    })
}

fn with(mut file: Value, pointer: &str, value: Value) -> String {
    *file
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = value;
    file.to_string()
}

fn without(mut file: Value, pointer: &str, key: &str) -> String {
    file.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no {pointer}"))
        .remove(key);
    file.to_string()
}

#[test]
fn the_valid_base_file_loads() {
    let ws = Workspace::with_tenants();
    let file = ws.write("new.json", &valid_file().to_string());

    let result = ws.run(&["fixtures", "load", file.to_str().unwrap()]);

    result.assert_success();
    assert!(
        result.stdout.contains("1 contact(s), 2 ticket(s)"),
        "{}",
        result.stdout
    );
}

#[test]
fn every_class_of_bad_fixture_is_refused_with_file_and_path_and_changes_nothing() {
    let ws = Workspace::with_tenants();
    let before = ws.dump();
    let c = "/contacts/0";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "bad JSON",
            r#"{"contacts": [ {"id": "#.to_owned(),
            ": $.contacts[0]: EOF while parsing a value at line 1 column 22",
        ),
        (
            "trailing garbage",
            format!("{} x", valid_file()),
            ": $: trailing characters at line 1 column",
        ),
        (
            "not an object",
            "[]".to_owned(),
            ": $: expected a JSON object, got []",
        ),
        (
            "a record as an array",
            r#"{"clients": [["aaaaaaaa-0000-4000-8000-000000000001", "x"]]}"#.to_owned(),
            ": $.clients[0]: expected a JSON object, got [\"aaaaaaaa",
        ),
        (
            "unknown top-level key",
            r#"{"contact": []}"#.to_owned(),
            ": $.contact: unknown field `contact`, expected `clients` or `contacts`",
        ),
        (
            "wrong type",
            with(valid_file(), &format!("{c}/name"), json!(7)),
            ": $.contacts[0].name: invalid type: integer `7`, expected a string",
        ),
        (
            "wrong bool",
            with(valid_file(), &format!("{c}/is_chat_read"), json!("yes")),
            r#": $.contacts[0].is_chat_read: invalid type: string "yes", expected a boolean"#,
        ),
        (
            "bad enum",
            with(valid_file(), &format!("{c}/chat_status"), json!("open")),
            r#": $.contacts[0].chat_status: expected one of UNATTENDED, ATTENDED, CLOSED, PENDING, got "open""#,
        ),
        (
            "bad platform",
            with(valid_file(), &format!("{c}/platform"), json!("telegram")),
            r#": $.contacts[0].platform: expected one of whatsapp, web-whatsapp, instagram, webchat, tiktok, sms, messenger, voice, playground, got "telegram""#,
        ),
        (
            "bad timestamp",
            with(
                valid_file(),
                &format!("{c}/created_at"),
                json!("2024-06-01 00:00"),
            ),
            r#": $.contacts[0].created_at: expected an RFC 3339 timestamp such as 2024-09-30T10:00:00Z, got "2024-06-01 00:00""#,
        ),
        (
            "bad ticket timestamp",
            with(
                valid_file(),
                &format!("{c}/tickets/1/updated_at"),
                json!("noon"),
            ),
            ": $.contacts[0].tickets[1].updated_at: expected an RFC 3339 timestamp",
        ),
        (
            "bad uuid",
            with(
                valid_file(),
                &format!("{c}/ai_customer_id"),
                json!("c0ffee"),
            ),
            r#": $.contacts[0].ai_customer_id: expected a UUID in 8-4-4-4-12 hex form, got "c0ffee""#,
        ),
        (
            "metadata not an object",
            with(valid_file(), &format!("{c}/metadata"), json!([1])),
            ": $.contacts[0].metadata: expected a JSON object, got [1]",
        ),
        (
            "lower-case ticket status",
            with(
                valid_file(),
                &format!("{c}/tickets/0/status"),
                json!("open"),
            ),
            ": $.contacts[0].tickets[0].status: expected an upper-case word",
        ),
        (
            "missing required key",
            without(valid_file(), c, "chat_status"),
            ": $.contacts[0]: missing field `chat_status`",
        ),
        (
            "dangling ticket reference",
            with(
                valid_file(),
                &format!("{c}/active_ticket_v2_id"),
                json!("a4444444-0000-4000-8000-0000000000ff"),
            ),
            ": $.contacts[0].active_ticket_v2_id: no ticket a4444444-0000-4000-8000-0000000000ff among this contact's tickets",
        ),
        (
            "closed active ticket",
            with(
                valid_file(),
                &format!("{c}/tickets/0/status"),
                json!("CLOSED"),
            ),
            ": $.contacts[0].active_ticket_v2_id: ticket a4444444-0000-4000-8000-000000000001 has status CLOSED; the active ticket cannot be CLOSED",
        ),
        (
            "open last closed ticket",
            with(
                valid_file(),
                &format!("{c}/tickets/1/status"),
                json!("OPEN"),
            ),
            ": $.contacts[0].last_closed_ticket_v2_id: ticket c4444444-0000-4000-8000-000000000001 has status OPEN; the last closed ticket must be CLOSED",
        ),
        (
            "unknown client",
            with(
                valid_file(),
                &format!("{c}/client_id"),
                json!("dddddddd-0000-4000-8000-000000000009"),
            ),
            ": $.contacts[0].client_id: no client with id dddddddd-0000-4000-8000-000000000009 in these files or the database",
        ),
        (
            "another contact's ticket",
            with(
                valid_file(),
                &format!("{c}/tickets/1/id"),
                json!("c0000000-0000-4000-8000-000000000001"),
            )
            .replace(
                "c4444444-0000-4000-8000-000000000001",
                "c0000000-0000-4000-8000-000000000001",
            ),
            ": $.contacts[0].tickets[1].id: ticket c0000000-0000-4000-8000-000000000001 already belongs to contact 11111111-1111-4111-8111-111111111111",
        ),
    ];

    for (name, text, expected) in cases {
        let file = ws.write("bad.json", &text);
        let result = ws.run(&["fixtures", "load", file.to_str().unwrap()]);

        result.assert_failure();
        let line = format!("{}{expected}", file.display());
        assert!(
            result.stderr.contains(&line),
            "{name}: expected {line:?} in:\n{}",
            result.stderr
        );
        assert!(
            result.stderr.contains("nothing was loaded"),
            "{name}: {}",
            result.stderr
        );
        assert_eq!(ws.dump(), before, "{name}: the database changed");
    }
}

#[test]
fn an_unknown_key_names_the_key_and_the_record() {
    let ws = Workspace::new();
    let mut file = valid_file();
    file["contacts"][0]["colour"] = json!("red");
    file["contacts"][0]["tickets"][0]["owner"] = json!("me");
    let path = ws.write("bad.json", &file.to_string());

    let result = ws.run(&["fixtures", "load", path.to_str().unwrap()]);

    result.assert_failure();
    assert!(
        result.stderr.contains(
            "bad.json: $.contacts[0].colour: unknown field `colour`, expected one of `id`"
        ),
        "{}",
        result.stderr
    );
}

#[test]
fn every_problem_of_every_file_gets_its_own_line_and_a_good_file_is_not_loaded_either() {
    let ws = Workspace::new();
    ws.run(&["migrate"]).assert_success();
    let before = ws.dump();
    let good = ws.write(
        "a-good.json",
        &std::fs::read_to_string(fixture_path(TENANTS)).unwrap(),
    );
    let mut bad = valid_file();
    bad["contacts"][0]["chat_status"] = json!("open");
    let mut second = bad["contacts"][0].clone();
    second["id"] = json!("55555555-5555-4555-8555-555555555555");
    second["chat_status"] = json!("ATTENDED");
    second["platform"] = json!("fax");
    second["tickets"] = json!([]);
    second["active_ticket_v2_id"] = Value::Null;
    second["last_closed_ticket_v2_id"] = Value::Null;
    bad["contacts"].as_array_mut().unwrap().push(second);
    let bad = ws.write("b-bad.json", &bad.to_string());

    let result = ws.run(&[
        "fixtures",
        "load",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);

    result.assert_failure();
    let problems: Vec<&str> = result
        .stderr
        .lines()
        .filter(|l| l.contains("b-bad.json: $"))
        .collect();
    assert_eq!(problems.len(), 2, "{}", result.stderr);
    assert!(
        problems[0].contains("$.contacts[0].chat_status"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains("$.contacts[1].platform"),
        "{}",
        problems[1]
    );
    assert_eq!(ws.dump(), before, "the good file must not be loaded either");
}

#[test]
fn ids_given_twice_across_files_are_problems() {
    let ws = Workspace::new();
    let tenants = fixture_path(TENANTS);

    let result = ws.run(&["fixtures", "load", &tenants, &tenants]);

    result.assert_failure();
    assert!(
        result.stderr.contains("client id is given twice; first at"),
        "{}",
        result.stderr
    );
    assert!(
        result
            .stderr
            .contains("$.contacts[2].id: contact id is given twice"),
        "{}",
        result.stderr
    );
    assert!(
        result
            .stderr
            .contains("api_keys[0].key: this API key is given twice"),
        "{}",
        result.stderr
    );
    assert!(
        !result.stderr.contains(KEY_A),
        "keys are never printed: {}",
        result.stderr
    );
}

#[test]
fn loading_the_same_files_twice_changes_nothing() {
    let ws = Workspace::with_tenants();
    let once = ws.dump();

    ws.load(&fixture_path(TENANTS));

    assert_eq!(ws.dump(), once);
}

#[test]
fn a_reload_updates_records_by_id_and_the_server_sees_it() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo"]);
    let before = server.info(MINIMAL_CONTACT, Some(KEY_A));
    let update = json!({"contacts": [{
        "id": MINIMAL_CONTACT, "client_id": CLIENT_A,
        "ai_customer_id": "c0ffee00-0000-4000-8000-00000000000b",
        "name": "Visitante Renombrado", "platform": "webchat",
        "created_at": "2024-03-01T00:00:00-05:00", "chat_status": "ATTENDED",
        "metadata": {"n": 1}
    }]});
    let file = ws.write("update.json", &update.to_string());

    ws.load(file.to_str().unwrap());
    let after = server.info(MINIMAL_CONTACT, Some(KEY_A));

    assert_eq!(after.json()["name"], "Visitante Renombrado");
    assert_eq!(after.json()["chat_status"], "ATTENDED");
    assert_eq!(after.json()["metadata"], json!({"n": 1}));
    assert_ne!(before.header("etag"), after.header("etag"));
}

#[test]
fn a_folder_loads_its_json_files_in_name_order() {
    let ws = Workspace::new();
    let tenants: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path(TENANTS)).unwrap()).unwrap();
    // Contacts in the first file by name refer to clients in the second: one transaction.
    ws.write(
        "fx/2-clients.json",
        &json!({"clients": tenants["clients"]}).to_string(),
    );
    ws.write(
        "fx/1-contacts.json",
        &json!({"contacts": tenants["contacts"]}).to_string(),
    );
    ws.write("fx/notes.txt", "not a fixture");

    let result = ws.run(&["fixtures", "load", ws.path("fx").to_str().unwrap()]);

    result.assert_success();
    assert!(
        result
            .stdout
            .contains("2 file(s): 2 client(s), 3 API key(s), 3 contact(s), 3 ticket(s)"),
        "{}",
        result.stdout
    );
}

#[test]
fn missing_files_and_empty_folders_are_clear_errors() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path("empty")).unwrap();

    let missing = ws.run(&["fixtures", "load", ws.path("nope.json").to_str().unwrap()]);
    let empty = ws.run(&["fixtures", "load", ws.path("empty").to_str().unwrap()]);

    missing.assert_failure();
    assert!(
        missing.stderr.contains("cannot read") && missing.stderr.contains("nope.json"),
        "{}",
        missing.stderr
    );
    empty.assert_failure();
    assert!(empty.stderr.contains("no *.json file"), "{}", empty.stderr);
}

#[test]
fn serve_refuses_bad_fixtures_before_it_listens() {
    let ws = Workspace::new();
    let file = ws.write("bad.json", r#"{"clients": [{"id": "x"}]}"#);

    let result = ws.run(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--fixtures",
        file.to_str().unwrap(),
    ]);

    result.assert_failure();
    assert!(
        result
            .stderr
            .contains("bad.json: $.clients[0].id: expected a UUID"),
        "{}",
        result.stderr
    );
    assert!(!result.stdout.contains("listening"), "{}", result.stdout);
}

#[test]
fn a_file_starting_with_a_byte_order_mark_loads() {
    let ws = Workspace::new();
    let text = format!(
        "\u{feff}{}",
        std::fs::read_to_string(fixture_path(TENANTS)).unwrap()
    );
    let file = ws.write("bom.json", &text);

    ws.run(&["fixtures", "load", file.to_str().unwrap()])
        .assert_success();
}

const CLIENT_B: &str = "bbbbbbbb-0000-4000-8000-000000000002";

/// Loads `text` as a file on top of the tenants; asserts it is refused, with a line that
/// contains each of `expected`, and that nothing changed.
fn assert_refused(text: &str, expected: &[&str]) -> CommandResult {
    let ws = Workspace::with_tenants();
    let before = ws.dump();
    let file = ws.write("bad.json", text);

    let result = ws.run(&["fixtures", "load", file.to_str().unwrap()]);

    result.assert_failure();
    for line in expected {
        assert!(
            result.stderr.contains(line),
            "expected {line:?} in:\n{}",
            result.stderr
        );
    }
    assert_eq!(ws.dump(), before, "the database changed");
    result
}

#[test]
fn a_load_never_moves_a_contact_or_a_key_to_another_client() {
    let tenants: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path(TENANTS)).unwrap()).unwrap();
    let mut moved_contact = tenants["contacts"][0].clone();
    moved_contact["client_id"] = json!(CLIENT_B);
    let contact_file = json!({"contacts": [moved_contact]}).to_string();
    let key_file = json!({"clients": [{
        "id": CLIENT_B, "name": "Tienda Dos",
        "api_keys": [{"name": "stolen", "key": KEY_A}]
    }]})
    .to_string();

    assert_refused(
        &contact_file,
        &[&format!(
            "bad.json: $.contacts[0].client_id: contact {FULL_CONTACT} belongs to client \
             aaaaaaaa-0000-4000-8000-000000000001; a load never moves a contact to another client"
        )],
    );
    let result = assert_refused(
        &key_file,
        &["bad.json: $.clients[0].api_keys[0].key: this API key belongs to client aaaaaaaa"],
    );
    assert!(
        !result.stderr.contains(KEY_A),
        "the key must not be printed"
    );
}

#[test]
fn keys_and_key_names_that_can_never_work_are_refused_at_load() {
    let file = |key: &str, name: &str| {
        json!({"clients": [{
            "id": "cccccccc-0000-4000-8000-000000000003", "name": "Tres",
            "api_keys": [{"name": name, "key": key}]
        }]})
        .to_string()
    };
    for key in [" padded", "padded ", "clé", "new\nline", ""] {
        assert_refused(
            &file(key, "ok"),
            &["bad.json: $.clients[0].api_keys[0].key: an API key must be 1 to 1024 characters"],
        );
    }
    for name in ["tab\there", "new\nline", ""] {
        assert_refused(
            &file("fine-key", name),
            &["bad.json: $.clients[0].api_keys[0].name: a key name must be"],
        );
    }
}

#[test]
fn keys_create_refuses_keys_and_names_that_can_never_work() {
    let ws = Workspace::with_tenants();
    let client = "aaaaaaaa-0000-4000-8000-000000000001";

    for args in [
        &["keys", "create", "--client", client, "--key", " padded"][..],
        &["keys", "create", "--client", client, "--key", "clé"],
        &["keys", "create", "--client", client, "--name", "a\tb"],
        &["keys", "create", "--client", client, "--name", "a\nb"],
    ] {
        let result = ws.run(args);
        result.assert_failure();
        assert_eq!(result.status.code(), Some(2), "{args:?}");
        assert!(
            result.stderr.contains("an API key must be")
                || result.stderr.contains("a key name must be"),
            "{args:?}: {}",
            result.stderr
        );
    }

    let made = ws.run(&[
        "keys",
        "create",
        "--client",
        client,
        "--key",
        "chosen key-1",
    ]);
    made.assert_success();
    assert_eq!(made.stdout.trim(), "chosen key-1");
    let server = ws.serve(&["--no-demo"]);
    assert_eq!(server.info(FULL_CONTACT, Some("chosen key-1")).status, 200);
}

#[test]
fn deep_nesting_is_refused_with_the_path_and_the_limit() {
    let mut file = valid_file();
    let deep = format!("{}1{}", r#"{"a":"#.repeat(1000), "}".repeat(1000));
    file["contacts"][0]["metadata"] = json!("PLACEHOLDER");
    let text = file.to_string().replace("\"PLACEHOLDER\"", &deep);

    assert_refused(
        &text,
        &[
            "bad.json: $.contacts[0].metadata: nested 1000 levels deep; at most 64 levels are allowed",
        ],
    );
}

#[test]
fn lone_surrogates_are_refused_with_their_json_path() {
    let mut file = valid_file();
    file["contacts"][0]["metadata"] = json!("PLACEHOLDER");
    file["contacts"][0]["name"] = json!("NAME");
    let text = file
        .to_string()
        .replace("\"PLACEHOLDER\"", r#"{"s":"\ud800"}"#)
        .replace("\"NAME\"", r#""Ana \udfff""#);

    assert_refused(
        &text,
        &[
            "bad.json: $.contacts[0].metadata: has a lone UTF-16 surrogate at s",
            "bad.json: $.contacts[0].name:",
        ],
    );
}

#[test]
fn every_problem_of_a_record_gets_its_own_line() {
    let mut file = valid_file();
    let contact = &mut file["contacts"][0];
    contact["platform"] = json!("fax");
    contact["chat_status"] = json!("open");
    contact["is_chat_read"] = json!("no");
    contact["created_at"] = json!("yesterday");
    contact["tickets"][1]["status"] = json!("closed");
    contact.as_object_mut().unwrap().remove("name");

    let result = assert_refused(
        &file.to_string(),
        &[
            "$.contacts[0].platform: expected one of",
            "$.contacts[0].chat_status: expected one of",
            "$.contacts[0].is_chat_read: invalid type",
            "$.contacts[0].created_at: expected an RFC 3339 timestamp",
            "$.contacts[0].tickets[1].status: expected an upper-case word",
            "$.contacts[0]: missing field `name`",
        ],
    );
    assert!(result.stderr.contains("6 problem(s)"), "{}", result.stderr);
}

#[test]
fn a_huge_bad_value_is_named_not_reprinted() {
    let huge = "x".repeat(3_000_000);
    for field in ["chat_status", "is_chat_read", "id", "created_at"] {
        let text = with(valid_file(), &format!("/contacts/0/{field}"), json!(huge));
        let result = assert_refused(&text, &[&format!("$.contacts[0].{field}: ")]);
        let longest = result.stderr.lines().map(str::len).max().unwrap_or(0);
        assert!(longest < 400, "{field}: a {longest}-byte line");
    }
}

#[test]
fn files_that_are_not_fixtures_fail_fast_and_big_ones_are_capped() {
    let ws = Workspace::new();

    let zero = ws.run(&["fixtures", "load", "/dev/zero"]);
    zero.assert_failure();
    assert!(
        zero.stderr.contains("/dev/zero is not a JSON fixture file"),
        "{}",
        zero.stderr
    );
    assert!(!ws.db().exists(), "nothing was loaded, nothing created");

    let tenants = fixture_path(TENANTS);
    let capped = ws.run(&["fixtures", "load", "--max-fixture-bytes", "100", &tenants]);
    capped.assert_failure();
    assert!(
        capped.stderr.contains("is larger than 100 bytes")
            && capped.stderr.contains("--max-fixture-bytes"),
        "{}",
        capped.stderr
    );
    ws.run(&[
        "fixtures",
        "load",
        "--max-fixture-bytes",
        "100000",
        &tenants,
    ])
    .assert_success();
}

#[test]
fn an_unknown_key_is_refused_in_every_kind_of_record() {
    let file = json!({"clients": [{
        "id": "cccccccc-0000-4000-8000-000000000003", "name": "Tres",
        "api_keys": [{"name": "k", "key": "fine-key", "scope": "all"}],
        "pipelines": [{"id": "dddddddd-0000-4000-8000-000000000004", "name": "P",
                       "stages": [{"id": "eeeeeeee-0000-4000-8000-000000000005", "name": "S",
                                   "colour": "red"}]}]
    }]});

    assert_refused(
        &file.to_string(),
        &[
            "bad.json: $.clients[0].api_keys[0].scope: unknown field `scope`, expected one of `name`, `key`",
            "bad.json: $.clients[0].pipelines[0].stages[0].colour: unknown field `colour`",
        ],
    );
}
