//! Spawns the real `contactd` binary over a SQLite file in a temp folder, on a random
//! loopback port, and speaks HTTP to it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_contactd");
pub const CONTACT_ROUTE: &str = "/api/public/contact";

/// The test data set: two clients and three contacts (see the file for their values).
pub const TENANTS: &str = "tests/data/tenants.json";
pub const KEY_A: &str = "key-a";
pub const KEY_B: &str = "key-b";
pub const FULL_CONTACT: &str = "11111111-1111-4111-8111-111111111111";
pub const MINIMAL_CONTACT: &str = "22222222-2222-4222-8222-222222222222";
pub const CONTACT_OF_B: &str = "33333333-3333-4333-8333-333333333333";

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A temp folder holding one database; every command and server of a test uses it.
pub struct Workspace {
    dir: TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp folder"),
        }
    }

    /// A workspace whose database holds `tests/data/tenants.json`.
    pub fn with_tenants() -> Self {
        let ws = Self::new();
        ws.load(&fixture_path(TENANTS));
        ws
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Deliberately in a folder that does not exist yet: contactd must create it.
    pub fn db(&self) -> PathBuf {
        self.path("data/contactd.db")
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Runs `contactd --db <db> ARGS…` to completion.
    pub fn run(&self, args: &[&str]) -> CommandResult {
        let db = self.db();
        let mut all = vec!["--db", db.to_str().expect("UTF-8 path")];
        all.extend_from_slice(args);
        Self::run_bare(&all)
    }

    /// Runs `contactd ARGS…` with no `--db` of the workspace's.
    pub fn run_bare(args: &[&str]) -> CommandResult {
        Self::run_with_env(args, &[])
    }

    /// Runs `contactd ARGS…` with these environment variables set.
    pub fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> CommandResult {
        let output = Command::new(BIN)
            .args(args)
            .env_clear_contactd()
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run contactd");
        CommandResult::from(output)
    }

    /// Loads `path` with `contactd fixtures load`, failing the test if it does not load.
    /// Generates `contacts` contacts without conversations, loads them, and returns the
    /// key of the first generated client.
    pub fn load_generated(&self, contacts: u32) -> String {
        let file = self.path("generated.json");
        let file = file.to_str().unwrap();
        let count = contacts.to_string();
        let generated = self.run(&[
            "fixtures",
            "generate",
            "--contacts",
            &count,
            "--messages-per-contact",
            "0",
            "--out",
            file,
        ]);
        generated.assert_success();
        let key = generated
            .stdout
            .lines()
            .find_map(|l| l.split(" key ").nth(1))
            .expect("a generated key")
            .to_owned();
        self.load(file);
        key
    }

    pub fn load(&self, path: &str) {
        self.run(&["fixtures", "load", path]).assert_success();
    }

    /// Starts `contactd serve` on a random loopback port and waits until it listens.
    pub fn serve(&self, args: &[&str]) -> TestServer {
        TestServer::start(self, args)
    }

    /// Every row of every table, for checking that a failed command changed nothing.
    pub fn dump(&self) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.db()).expect("open db");
        let mut rows = Vec::new();
        for table in [
            "clients",
            "api_keys",
            "contacts",
            "tickets",
            "pipelines",
            "stages",
            "channels",
            "team_members",
            "messages",
            "contact_search_source",
            "webhooks",
            "webhook_events",
            "webhook_deliveries",
        ] {
            rows.extend(rows_of(
                &conn,
                table,
                &format!("SELECT * FROM {table} ORDER BY 1"),
            ));
        }
        rows
    }
}

/// Each row `sql` selects, as `label: value | value | …` (text shown as text).
pub fn rows_of(conn: &rusqlite::Connection, label: &str, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).expect("select");
    let columns = stmt.column_count();
    let mut q = stmt.query([]).expect("query");
    let mut rows = Vec::new();
    while let Some(row) = q.next().expect("row") {
        let values: Vec<String> = (0..columns)
            .map(|i| match row.get_ref(i).expect("value") {
                rusqlite::types::ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
                other => format!("{other:?}"),
            })
            .collect();
        rows.push(format!("{label}: {}", values.join(" | ")));
    }
    rows
}

pub struct CommandResult {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for CommandResult {
    fn from(o: Output) -> Self {
        Self {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl CommandResult {
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.status.success(),
            "expected failure\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "a failure must be a message, not a panic:\n{}",
            self.stderr
        );
        self
    }
}

/// A server over the tenants data set, without the demo data.
pub fn server_with_tenants() -> (Workspace, TestServer) {
    let ws = Workspace::with_tenants();
    let server = ws.serve(&["--no-demo"]);
    (ws, server)
}

/// A running `contactd serve`, killed when dropped.
pub struct TestServer {
    child: Child,
    pub base_url: String,
    /// What the server printed before it listened (banner, demo key, curl line).
    pub banner: Vec<String>,
    log: PathBuf,
    agent: ureq::Agent,
}

impl TestServer {
    fn start(ws: &Workspace, args: &[&str]) -> Self {
        Self::start_with_env(ws, args, &[])
    }

    /// Starts `contactd serve ARGS…` with these environment variables set.
    pub fn start_with_env(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = ws.path(&format!("server-{}.log", next_log_number()));
        // Two workers unless a test asks otherwise: requests may meet either.
        let workers: &[&str] = if args.contains(&"--workers") {
            &[]
        } else {
            &["--workers", "2"]
        };
        let mut child = Command::new(BIN)
            .arg("--db")
            .arg(ws.db())
            .arg("serve")
            .args(["--bind", "127.0.0.1:0"])
            .args(workers)
            .args(args)
            .env_clear_contactd()
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn contactd");

        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let deadline = Instant::now() + START_TIMEOUT;
        let mut banner = Vec::new();
        let base_url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.to_owned();
                    }
                    banner.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "contactd did not start ({status:?})\nstdout:\n{}\nlog:\n{}",
                        banner.join("\n"),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});

        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Self {
            child,
            base_url,
            banner,
            log,
            agent,
        }
    }

    pub fn addr(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn info_path(id: &str) -> String {
        format!("{CONTACT_ROUTE}/{id}/info")
    }

    /// `GET /api/public/contact/{id}/info` with the given key (if any).
    pub fn info(&self, id: &str, key: Option<&str>) -> Reply {
        self.get(&Self::info_path(id), key, &[])
    }

    pub fn get(&self, path: &str, key: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, key, headers)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = self.url(path);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(()).expect("request");
        self.send(request)
    }

    /// `POST path` with a body, an optional `Content-Type` and an optional key.
    pub fn post(
        &self,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: &str,
    ) -> Reply {
        let mut builder = ureq::http::Request::builder()
            .method("POST")
            .uri(self.url(path));
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        self.send(builder.body(body.to_owned()).expect("request"))
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, key: &str, body: &str) -> Reply {
        self.post(path, Some(key), Some("application/json"), body)
    }

    /// `METHOD path` with a JSON body and a key (PUT, DELETE, …).
    pub fn send_json(&self, method: &str, path: &str, key: &str, body: &str) -> Reply {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("x-api-key", key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .expect("request");
        self.send(request)
    }

    /// Polls `GET path` until `done` holds for its JSON answer, or panics after `timeout`.
    pub fn wait_until(
        &self,
        path: &str,
        key: &str,
        timeout: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.get(path, Some(key), &[]);
            assert_eq!(reply.status, 200, "{}", reply.body);
            let value = reply.json();
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} did not reach the expected state in {timeout:?}: {value}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn send(&self, request: ureq::http::Request<impl ureq::AsSendBody>) -> Reply {
        let mut response = self.agent.run(request).expect("HTTP request");
        let body = response.body_mut().read_to_string().expect("body");
        Reply {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body,
        }
    }

    /// Sends raw bytes and returns the raw answer, for what an HTTP library will not send.
    pub fn raw(&self, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(self.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(request).expect("send");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's anonymous resident memory (heap and stacks), in KiB.
    pub fn rss_anon_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssAnon:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("RssAnon in /proc/PID/status")
    }

    /// How many memory maps of the file at `path` the server holds (from
    /// /proc/PID/maps).
    pub fn maps_of(&self, path: &Path) -> usize {
        let maps =
            std::fs::read_to_string(format!("/proc/{}/maps", self.pid())).expect("/proc/PID/maps");
        let path = path.canonicalize().expect("the mapped file exists");
        let name = path.to_str().unwrap();
        maps.lines().filter(|l| l.ends_with(name)).count()
    }

    /// The server's log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (e.g. "TERM") and waits for the process to exit.
    pub fn stop(mut self, signal: &str) -> ExitStatus {
        send_signal(self.child.id(), signal);
        wait_with_timeout(&mut self.child, Duration::from_secs(30))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn next_log_number() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts the status and the exact error envelope.
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        let reason = ureq::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or_else(|| panic!("no reason phrase known for {status}"));
        let expected =
            serde_json::json!({"statusCode": status, "message": message, "error": reason});
        assert_eq!(
            self.body,
            format!(
                r#"{{"statusCode":{status},"message":{},"error":"{reason}"}}"#,
                serde_json::to_string(message).expect("message")
            ),
            "expected envelope {expected}"
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
}

/// The ids of a 200 answer that is a list of contact summaries, in order.
pub fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .json()
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", reply.body))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a 400 whose envelope's `message` is this list of problems.
pub fn assert_problems(reply: &Reply, expected: &[&str]) {
    assert_eq!(reply.status, 400, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], "Bad Request");
    let messages: Vec<&str> = body["message"]
        .as_array()
        .unwrap_or_else(|| panic!("message is not a list: {}", reply.body))
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(messages, expected, "{}", reply.body);
}

/// Asserts that `path` exists: a small guard for fixture paths given relative to the crate.
pub fn fixture_path(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    assert!(path.exists(), "{} is missing", path.display());
    path.display().to_string()
}

/// Tests set every option themselves: none may leak in from the environment.
pub trait ClearContactdEnv {
    fn env_clear_contactd(&mut self) -> &mut Self;
}

impl ClearContactdEnv for Command {
    fn env_clear_contactd(&mut self) -> &mut Self {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CONTACTD_") {
                self.env_remove(name);
            }
        }
        self
    }
}

/// Readers of one contact on keep-alive connections in background threads, until
/// `finish`: load for tests of what happens while the server is busy.
pub struct Hammer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<HammerCount>>,
}

/// What the readers of a `Hammer` got: every answer is checked to be a complete 200
/// with the expected body; anything else (refused, reset, timed out) is a failure.
#[derive(Debug, Default, Clone, Copy)]
pub struct HammerCount {
    pub answered: u32,
    pub failed: u32,
}

impl Hammer {
    pub fn start(server: &TestServer, threads: usize) -> Self {
        let expected = server.info(FULL_CONTACT, Some(KEY_A)).body;
        assert!(!expected.is_empty());
        let url = server.url(&TestServer::info_path(FULL_CONTACT));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let (url, stop, expected) = (url.clone(), stop.clone(), expected.clone());
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(5)))
                        .build()
                        .into();
                    let mut count = HammerCount::default();
                    // Stop on request, or once the server is plainly gone.
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) && count.failed < 50 {
                        match agent.get(&url).header("x-api-key", KEY_A).call() {
                            Ok(mut reply) => {
                                assert_eq!(reply.status().as_u16(), 200);
                                assert_eq!(reply.body_mut().read_to_string().unwrap(), expected);
                                count.answered += 1;
                            }
                            Err(_) => count.failed += 1,
                        }
                    }
                    count
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        Self { stop, threads }
    }

    pub fn finish(self) -> HammerCount {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads
            .into_iter()
            .fold(HammerCount::default(), |total, t| {
                let count = t.join().expect("a reader panicked");
                HammerCount {
                    answered: total.answered + count.answered,
                    failed: total.failed + count.failed,
                }
            })
    }
}
