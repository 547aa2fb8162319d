//! What every write promises (SPEC 7.7) under load and faults: every worker and every
//! process sees it at once, concurrent writers lose nothing, a killed server keeps what
//! it acknowledged, and a write that cannot get the lock says so and changes nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::writes::{
    ANA, BEA, CARLA, DORA, KEY, info, info_text, serve, ticket_write, update_path, workspace,
};

/// SPEC 7.7: once a write is answered, every worker of this server and every other
/// process on the file answers with it, though each had the old body cached.
#[test]
fn every_worker_and_every_process_sees_a_write_at_once() {
    let ws = workspace();
    let first = ws.serve(&["--no-demo", "--workers", "4"]);
    let second = ws.serve(&["--no-demo", "--workers", "4"]);
    let servers = [&first, &second];
    // Warm every worker's body cache: keep-alive connections spread over workers, so
    // fresh agents (new connections) reach all of them.
    let old = info_text(&first, ANA);
    for server in servers {
        for _ in 0..40 {
            assert_eq!(fresh_info(server, ANA).body, old);
        }
    }

    for (round, writer) in [&first, &second, &first].into_iter().enumerate() {
        let reply = writer.post_json(&update_path(ANA), KEY, &format!(r#"{{"round":{round}}}"#));
        assert_eq!(reply.status, 201, "{}", reply.body);
        let fresh = info_text(writer, ANA);
        assert!(fresh.contains(&format!(r#""round":{round}"#)), "{fresh}");
        for server in servers {
            for _ in 0..40 {
                let seen = fresh_info(server, ANA);
                assert_eq!(seen.body, fresh, "round {round}: a stale body was served");
            }
        }
    }
}

/// `/info` on a new connection (a new agent), so requests land on every worker.
fn fresh_info(server: &TestServer, id: &str) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent
        .get(server.url(&TestServer::info_path(id)))
        .header("x-api-key", KEY)
        .call()
        .expect("GET /info");
    Reply {
        status: response.status().as_u16(),
        headers: Vec::new(),
        body: response.body_mut().read_to_string().unwrap(),
    }
}

/// N writers at once, half through each of two processes on one file, each adding keys
/// of its own to one contact: a lost update would drop keys.
#[test]
fn concurrent_writers_to_one_contact_lose_no_key() {
    const WRITERS: usize = 16;
    const WRITES_EACH: usize = 15;
    let ws = workspace();
    let servers = [
        ws.serve(&["--no-demo", "--workers", "2"]),
        ws.serve(&["--no-demo", "--workers", "2"]),
    ];
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let server = &servers[writer % 2];
            scope.spawn(move || {
                for n in 0..WRITES_EACH {
                    let body = format!(r#"{{"writer{writer}Key{n}": {n}}}"#);
                    let reply = server.post_json(&update_path(ANA), KEY, &body);
                    assert_eq!(reply.status, 201, "{}", reply.body);
                    let tickets =
                        json!({"ai_contact_id": ANA, "metadata": {format!("w{writer}-{n}"): "x"}});
                    let reply = ticket_write(server, tickets);
                    assert_eq!(reply.status, 201, "{}", reply.body);
                }
            });
        }
    });

    let ana = info(&servers[0], ANA);
    let keys: BTreeSet<&str> = ana["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let ticket_keys = ana["active_ticket"]["metadata"].as_object().unwrap().len();
    for writer in 0..WRITERS {
        for n in 0..WRITES_EACH {
            let key = format!("writer{writer}_key{n}");
            assert!(keys.contains(key.as_str()), "{key} was lost");
        }
    }
    assert_eq!(
        keys.len(),
        3 + WRITERS * WRITES_EACH,
        "the fixture's keys stay too"
    );
    assert_eq!(ticket_keys, 1 + WRITERS * WRITES_EACH);
}

/// `kill -9` in the middle of a stream of writes: every write that was answered 201 is
/// there after a restart (bench/crash.sh does the same at 200k contacts).
#[test]
fn a_killed_server_keeps_every_acknowledged_write() {
    let ws = workspace();
    let server = ws.serve(&["--no-demo", "--workers", "2"]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acknowledged = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let (server, stop) = (&server, &stop);
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(5)))
                        .build()
                        .into();
                    let url = server.url(&update_path([ANA, BEA, CARLA, DORA][writer]));
                    let mut acked = Vec::new();
                    for n in 0.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let result = agent
                            .post(&url)
                            .header("x-api-key", KEY)
                            .header("content-type", "application/json")
                            .send(format!(r#"{{"k{n}":{n}}}"#));
                        match result {
                            Ok(reply) if reply.status() == 201 => acked.push(n),
                            Ok(reply) => panic!("write answered {}", reply.status()),
                            Err(_) => break,
                        }
                    }
                    (writer, acked)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        std::process::Command::new("kill")
            .args(["-KILL", &server.pid().to_string()])
            .status()
            .expect("kill");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    drop(server);
    let total: usize = acknowledged.iter().map(|(_, a)| a.len()).sum();
    assert!(
        total > 20,
        "too few writes before the kill to tell anything: {total}"
    );

    let restarted = ws.serve(&["--no-demo"]);
    for (writer, acked) in acknowledged {
        let id = [ANA, BEA, CARLA, DORA][writer];
        let metadata = info(&restarted, id)["metadata"].clone();
        for n in acked {
            assert_eq!(
                metadata[format!("k{n}")],
                json!(n),
                "{id}: acknowledged k{n} lost"
            );
        }
    }
    ws.run(&["check"]).assert_success();
}

/// Another process holds the write lock past the busy timeout (5 s): the write answers
/// 503 with `Retry-After` and changes nothing, and reads answer at once meanwhile.
#[test]
fn a_write_that_cannot_get_the_lock_answers_503_and_reads_go_on() {
    let (ws, server) = serve(&[]);
    let before = info_text(&server, ANA);
    let holder = rusqlite::Connection::open(ws.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE;").unwrap();

    let started = std::time::Instant::now();
    let (write, read_took) = std::thread::scope(|scope| {
        let write = scope.spawn(|| server.post_json(&update_path(ANA), KEY, r#"{"a":1}"#));
        std::thread::sleep(Duration::from_millis(300));
        let read_started = std::time::Instant::now();
        let answer = server.raw(
            format!(
                "GET {} HTTP/1.1\r\nHost: t\r\nx-api-key: {KEY}\r\nconnection: close\r\n\r\n",
                TestServer::info_path(ANA)
            )
            .as_bytes(),
        );
        assert!(answer.ends_with(&before), "{answer}");
        let read_took = read_started.elapsed();
        (write.join().unwrap(), read_took)
    });

    write.assert_error(503, "The database is busy; retry shortly");
    assert_eq!(write.header("retry-after"), Some("1"));
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        read_took < Duration::from_secs(1),
        "a read waited {read_took:?}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(info_text(&server, ANA), before);
    let retried = server.post_json(&update_path(ANA), KEY, r#"{"a":1}"#);
    assert_eq!(retried.status, 201, "{}", retried.body);
}
