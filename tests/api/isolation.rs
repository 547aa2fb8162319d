//! Tenant isolation over many clients: no key ever reads another client's contact, and
//! "exists elsewhere" is byte-identical to "does not exist".

use crate::helpers::*;

#[test]
fn no_key_reads_another_clients_contact_and_the_404s_are_identical() {
    let ws = Workspace::new();
    let fixture = ws.path("many.json");
    // 500 contacts spread over 2 clients; their ids and keys come from the generator.
    let generated = ws.run(&[
        "fixtures",
        "generate",
        "--contacts",
        "500",
        "--seed",
        "11",
        "--out",
        fixture.to_str().unwrap(),
    ]);
    generated.assert_success();
    let keys: Vec<(String, String)> = generated
        .stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("client")).then(|| {
                (
                    words.next().unwrap().to_owned(),
                    words.nth(1).unwrap().to_owned(),
                )
            })
        })
        .collect();
    assert!(keys.len() >= 2, "{}", generated.stdout);
    ws.load(fixture.to_str().unwrap());
    let server = ws.serve(&["--no-demo"]);
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let contacts: Vec<(String, String)> = conn
        .prepare("SELECT id, client_id FROM contacts ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let missing = server.info("99999999-9999-4999-8999-999999999999", Some(&keys[0].1));

    // Every contact, asked with every client's key.
    let mut own = 0;
    for (contact, owner) in contacts.iter().step_by(3) {
        for (client, key) in &keys {
            let reply = server.info(contact, Some(key));
            if client == owner {
                assert_eq!(reply.status, 200);
                assert_eq!(reply.json()["client_id"], owner.as_str());
                own += 1;
            } else {
                assert_eq!(reply.status, 404, "{key} read {contact} of {owner}");
                assert_eq!(reply.body, missing.body);
            }
        }
    }
    assert!(own > 100, "{own}");
}
