//! API keys: created, listed and revoked from the command line while the server runs.

use crate::helpers::*;

const CLIENT_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const CLIENT_B: &str = "bbbbbbbb-0000-4000-8000-000000000002";

#[test]
fn a_created_key_works_at_once_and_a_revoked_one_fails_at_once_without_a_restart() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo"]);

    let created = ws.run(&["keys", "create", "--client", CLIENT_A, "--name", "ci"]);
    created.assert_success();
    let key = created.stdout.trim();
    assert_eq!(
        created.stdout.lines().count(),
        1,
        "the key alone on stdout: {:?}",
        created.stdout
    );
    assert!(key.starts_with("cdk_") && key.len() >= 4 + 32, "{key}");
    assert_eq!(server.info(FULL_CONTACT, Some(key)).status, 200);

    let list = ws.run(&["keys", "list", "--client", CLIENT_A]);
    list.assert_success();
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains("\tci\t"))
        .unwrap_or_else(|| panic!("new key not listed:\n{}", list.stdout));
    let key_id = line.split('\t').next().unwrap();
    assert!(
        !list.stdout.contains(key),
        "keys list must never show a key"
    );

    ws.run(&["keys", "revoke", key_id]).assert_success();

    server
        .info(FULL_CONTACT, Some(key))
        .assert_error(401, "Invalid or missing API key");
    assert_eq!(
        server.info(FULL_CONTACT, Some(KEY_A)).status,
        200,
        "other keys still work"
    );
    let again = ws.run(&["keys", "revoke", key_id]);
    again.assert_success();
    assert!(again.stdout.contains("already revoked"), "{}", again.stdout);
}

#[test]
fn list_shows_id_client_name_created_and_revoked_per_line() {
    let ws = Workspace::with_tenants();

    let all = ws.run(&["keys", "list"]);
    let of_b = ws.run(&["keys", "list", "--client", CLIENT_B]);

    all.assert_success();
    assert_eq!(all.stdout.lines().count(), 3, "{}", all.stdout);
    let fields: Vec<&str> = of_b.stdout.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 5, "{:?}", of_b.stdout);
    assert_eq!(fields[1], CLIENT_B);
    assert_eq!(fields[2], "primary");
    assert!(fields[3].ends_with('Z'), "created: {}", fields[3]);
    assert_eq!(fields[4], "-", "not revoked");
    assert!(!all.stdout.contains(KEY_A) && !all.stdout.contains(KEY_B));
}

#[test]
fn key_commands_refuse_unknown_clients_and_keys() {
    let ws = Workspace::with_tenants();
    let before = ws.dump();

    let no_client = ws.run(&[
        "keys",
        "create",
        "--client",
        "dddddddd-0000-4000-8000-000000000009",
    ]);
    let bad_client = ws.run(&["keys", "create", "--client", "acme"]);
    let no_key = ws.run(&["keys", "revoke", "dddddddd-0000-4000-8000-000000000009"]);

    no_client.assert_failure();
    assert!(
        no_client.stderr.contains("no client with id"),
        "{}",
        no_client.stderr
    );
    bad_client.assert_failure();
    assert!(
        bad_client.stderr.contains("expected a client id"),
        "{}",
        bad_client.stderr
    );
    no_key.assert_failure();
    assert!(
        no_key.stderr.contains("no key with id"),
        "{}",
        no_key.stderr
    );
    assert_eq!(ws.dump(), before);
}

#[test]
fn only_a_digest_of_each_key_is_stored() {
    let ws = Workspace::with_tenants();
    let created = ws.run(&["keys", "create", "--client", CLIENT_A]);
    let key = created.stdout.trim().to_owned();

    let dump = ws.dump().join("\n");
    let raw = std::fs::read(ws.db()).unwrap();

    for secret in [KEY_A, KEY_B, key.as_str()] {
        assert!(!dump.contains(secret), "{secret} stored in clear");
        assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}
