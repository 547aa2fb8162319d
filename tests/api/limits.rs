//! Bounded requests over real sockets: oversized URLs, headers and bodies get the
//! envelope; slow clients are cut off without stalling anyone else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::helpers::*;

fn status_and_body(answer: &str) -> (u16, &str) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    (status, answer.split("\r\n\r\n").nth(1).unwrap_or(""))
}

#[test]
fn oversized_urls_headers_and_bodies_get_the_envelope() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo"]);
    let info = TestServer::info_path(FULL_CONTACT);

    let long_url = format!(
        "GET {info}?pad={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    let near_url = format!(
        "GET {info}?pad={} HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY_A}\r\nConnection: close\r\n\r\n",
        "a".repeat(8000)
    );
    let big_header = format!(
        "GET {info} HTTP/1.1\r\nHost: x\r\nx-pad: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(17_000)
    );
    let big_body = format!(
        "POST {info} HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n"
    );

    let cases = [
        (long_url, 414, "URI Too Long"),
        (big_header, 431, "Request Header Fields Too Large"),
        (big_body, 413, "Payload Too Large"),
    ];
    for (request, status, message) in cases {
        let answer = server.raw(request.as_bytes());
        let (got, body) = status_and_body(&answer);
        assert_eq!(got, status, "{answer}");
        assert_eq!(
            body,
            format!(r#"{{"statusCode":{status},"message":"{message}","error":"{message}"}}"#)
        );
    }
    let (status, _) = status_and_body(&server.raw(near_url.as_bytes()));
    assert_eq!(status, 200, "just under the limit is served");

    // Beyond actix's own hard limit (96 headers) the answer is actix's, without a body.
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..120)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    let (status, _) = status_and_body(&server.raw(many.as_bytes()));
    assert_eq!(status, 431);
    assert_eq!(
        server.get("/healthz", None, &[]).status,
        200,
        "the server is unharmed"
    );
}

#[test]
fn the_limits_are_configurable() {
    let ws = Workspace::new();
    let server = ws.serve(&[
        "--no-demo",
        "--max-url-bytes",
        "100",
        "--max-body-bytes",
        "10",
    ]);

    let url = server.get(&format!("/healthz?{}", "a".repeat(200)), None, &[]);
    let body = server.raw(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world");

    url.assert_error(414, "URI Too Long");
    assert_eq!(status_and_body(&body).0, 413);
}

#[test]
fn a_slow_client_is_cut_off_without_stalling_others() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--request-timeout", "1", "--workers", "1"]);
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();

    // A byte now and then, never a whole head; meanwhile an ordinary client is served.
    let mut cut_off = false;
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n".iter() {
        if slow.write_all(&[*byte]).is_err() {
            cut_off = true;
            break;
        }
        let quick = Instant::now();
        assert_eq!(server.info(FULL_CONTACT, Some(KEY_A)).status, 200);
        assert!(
            quick.elapsed() < Duration::from_millis(500),
            "another client waited {:?}",
            quick.elapsed()
        );
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);

    assert!(
        cut_off || answer.starts_with("HTTP/1.1 408") || answer.is_empty(),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cut off in time: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_body_that_stalls_is_answered_408_logged_and_the_connection_closed() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--request-timeout", "1"]);
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let head = format!(
        "POST /api/public/contact/{FULL_CONTACT}/update-metadata HTTP/1.1\r\nHost: x\r\n\
         x-api-key: {KEY_A}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(br#"{"stalled":"#).unwrap();

    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    let waited = started.elapsed();

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.ends_with(
            r#"{"statusCode":408,"message":"Request Timeout","error":"Request Timeout"}"#
        ),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let info = server.info(FULL_CONTACT, Some(KEY_A));
    assert!(!info.body.contains("stalled"), "nothing was written");
    assert!(server.log().contains("status=408"), "{}", server.log());
    let metrics = server.get("/metrics", None, &[]).body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("contactd_http_requests_total") && l.contains("status=\"408\"")),
        "the 408 is counted"
    );
}

#[test]
fn a_connection_that_never_sends_a_whole_head_is_answered_408_logged_and_counted() {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo", "--request-timeout", "1"]);
    // One connection that sends half a head, one that sends nothing at all.
    let mut half = TcpStream::connect(server.addr()).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    for conn in [&mut half, &mut silent] {
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
    // An ordinary request on its own connection is not one of them.
    assert_eq!(server.get("/healthz", None, &[]).status, 200);

    // Each is counted when actix drops its connection, which may come a moment after
    // the client has read the 408: wait for both, then check there are no more.
    let deadline = Instant::now() + Duration::from_secs(5);
    let counted = loop {
        let metrics = server.get("/metrics", None, &[]).body;
        let line = metrics
            .lines()
            .find(|l| l.starts_with("contactd_http_requests_total") && l.contains("status=\"408\""))
            .map(str::to_owned);
        let both = line.as_deref().is_some_and(|l| !l.ends_with(" 1"));
        if both && server.log().matches("status=408").count() >= 2 || Instant::now() > deadline {
            break line;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let counted = counted.expect("the 408s are counted");
    assert!(counted.ends_with(" 2"), "{counted}");
    let log = server.log();
    assert_eq!(
        log.matches("status=408").count(),
        2,
        "each 408 is logged once: {log}"
    );
}
