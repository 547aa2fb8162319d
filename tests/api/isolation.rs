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

/// Heavy list queries of one client, four at a time, against a server with one worker:
/// another client's `/info` is answered meanwhile, not queued behind them.
#[test]
fn long_list_queries_of_one_client_do_not_hold_another_clients_info() {
    let ws = Workspace::with_tenants();
    let heavy_key = ws.load_generated(24000);
    let server = ws.serve(&["--no-demo", "--workers", "1"]);
    // A page deep into the client's 12,000 contacts: each one before it is read to be
    // skipped.
    let heavy = "/api/public/contacts?days=365&offset=11900";
    let one = std::time::Instant::now();
    assert_eq!(server.get(heavy, Some(&heavy_key), &[]).status, 200);
    let heavy_time = one.elapsed();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loads: Vec<_> = (0..4)
        .map(|_| {
            let (stop, key) = (stop.clone(), heavy_key.clone());
            let url = format!("{}{heavy}", server.base_url);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let reply = ureq::get(&url).header("x-api-key", &key).call();
                    assert_eq!(reply.map(|r| r.status().as_u16()).ok(), Some(200));
                }
            })
        })
        .collect();
    std::thread::sleep(heavy_time * 2);
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..20 {
        let started = std::time::Instant::now();
        assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 200);
        slowest = slowest.max(started.elapsed());
        std::thread::sleep(heavy_time / 4);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for load in loads {
        load.join().unwrap();
    }
    // On the one worker, /info would wait for the heavy query in progress (seen: 1.4×
    // one heavy query); beside them it waits for none, only for its share of the cores
    // (seen: 0.3×).
    assert!(
        slowest < heavy_time * 3 / 4,
        "/info took {slowest:?} beside list queries of {heavy_time:?} each"
    );
}
