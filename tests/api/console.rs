//! The web console (SPEC 9): served compiled in, with a policy that allows nothing from
//! elsewhere (plain tests), and used in a real browser, headless Chromium driven over
//! WebDriver (ignored where chromium and chromium-driver are missing; `.ci/run`
//! installs both and runs them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::Receiver;

const DEMO_KEY: &str = "demo-key-1";
/// The demo's richest contact: two pages of conversation, both tickets, nested metadata.
const SOREN: &str = "c851da52-2a6d-4488-887e-2e66d94b1d14";

#[test]
fn the_console_is_served_compiled_in_with_a_strict_policy() {
    let ws = Workspace::new();
    let server = ws.serve(&[]);
    assert!(
        server
            .banner
            .contains(&format!("console: {}/", server.base_url)),
        "{:?}",
        server.banner
    );

    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/console.js", "text/javascript; charset=utf-8"),
        ("/webhooks.js", "text/javascript; charset=utf-8"),
        ("/requests.js", "text/javascript; charset=utf-8"),
        ("/card.js", "text/javascript; charset=utf-8"),
        ("/live.js", "text/javascript; charset=utf-8"),
        ("/console.css", "text/css; charset=utf-8"),
    ] {
        let reply = server.get(path, None, &[]);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"));
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        let policy = reply.header("content-security-policy").unwrap();
        assert!(
            policy.starts_with("default-src 'none'; script-src 'self';"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe"), "{policy}");
        // Nothing is fetched from elsewhere: no absolute URL in any of the files.
        assert!(!reply.body.contains("http://"), "{path}");
        assert!(!reply.body.contains("https://"), "{path}");
        let etag = reply.header("etag").unwrap();
        let again = server.get(path, None, &[("if-none-match", etag)]);
        assert_eq!((again.status, again.body.as_str()), (304, ""), "{path}");
    }
    let page = server.get("/", None, &[]).body;
    assert!(page.contains(r#"<script src="/console.js" defer></script>"#));
    assert!(
        !page.contains("<script>"),
        "no inline script: the policy would block it"
    );
    assert!(
        !page.contains("style="),
        "no inline style: the policy would block it"
    );
    let head = server.request("HEAD", "/", None, &[]);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[test]
fn no_console_turns_the_page_into_the_404_envelope() {
    let ws = Workspace::new();
    for (args, env) in [
        (&["--no-console"][..], &[][..]),
        (&[][..], &[("CONTACTD_CONSOLE", "false")][..]),
    ] {
        let server = TestServer::start_with_env(&ws, args, env);
        server.get("/", None, &[]).assert_error(404, "Cannot GET /");
        server
            .get("/console.js", None, &[])
            .assert_error(404, "Cannot GET /console.js");
        assert!(
            !server.banner.iter().any(|l| l.starts_with("console:")),
            "{:?}",
            server.banner
        );
        assert_eq!(
            server.info(SOREN, Some(DEMO_KEY)).status,
            200,
            "the API stays"
        );
    }
}

// ---- in a real browser ----------------------------------------------------------

/// `chromedriver` on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} (apt-get install chromium-driver): {e}")
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Screenshots of each view, kept as test artefacts in `target/console-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/")
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

struct Browser {
    client: Client,
    shots: PathBuf,
}

impl Browser {
    async fn open(driver: &Driver) -> Self {
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": binary, "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--lang=en-US"]}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session");
        Self {
            client,
            shots: screenshot_dir(),
        }
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(name), png).expect("write screenshot");
    }

    async fn text(&self, css: &str) -> String {
        let element = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        element.text().await.expect("text")
    }

    /// Waits until the text of `css` passes `test`, and returns it.
    async fn text_until(&self, css: &str, test: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if test(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never passed; last text: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
        {
            texts.push(element.text().await.expect("text"));
        }
        texts
    }

    async fn type_into(&self, css: &str, text: &str) {
        let input = self.client.find(Locator::Css(css)).await.expect(css);
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    async fn select(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("{css} = {value:?}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// The page is a phone's width and nothing on it is wider.
    async fn assert_fits_a_phone(&self) {
        let width = self
            .script("return [document.documentElement.scrollWidth, window.innerWidth]")
            .await;
        assert!(
            width[1].as_u64().unwrap() <= 400,
            "not a phone's width: {width}"
        );
        assert!(
            width[0].as_u64() <= width[1].as_u64(),
            "wider than the screen: {width}"
        );
    }

    async fn script(&self, code: &str) -> Value {
        self.client.execute(code, vec![]).await.expect("script")
    }
}

/// The names in a list of contact summaries, at most `page` of them (the console's page).
fn names_of(summaries: &Value, page: usize) -> Vec<String> {
    summaries
        .as_array()
        .unwrap()
        .iter()
        .take(page)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn api(server: &TestServer, path: &str) -> Value {
    let reply = server.get(path, Some(DEMO_KEY), &[]);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.json()
}

/// Runs `visit` in a fresh headless Chromium, closed afterwards.
fn in_a_browser(server: TestServer, visit: impl AsyncFnOnce(&Browser, TestServer)) {
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let browser = Browser::open(&driver).await;
        visit(&browser, server).await;
        let _ = browser.client.close().await;
    });
}

#[test]
#[ignore = "needs chromium and chromium-driver"]
fn the_console_in_a_real_browser() {
    let ws = Workspace::new();
    in_a_browser(ws.serve(&[]), use_the_console);
}

#[test]
#[ignore = "needs chromium and chromium-driver"]
fn the_webhooks_view_in_a_real_browser() {
    let ws = Workspace::new();
    // A retry a minute away: the attempt after the first comes from the retry button.
    in_a_browser(
        ws.serve(&["--webhook-retry-schedule", "60"]),
        use_the_webhooks_view,
    );
}

async fn use_the_console(b: &Browser, server: TestServer) {
    b.client
        .goto(&format!("{}/", server.base_url))
        .await
        .unwrap();

    // A wrong key is refused in words, and nothing else shows.
    b.type_into("#key", "not-a-key").await;
    b.click("#key-form button[type=submit]").await;
    let refused = b.text_until("#key-error", |t| !t.is_empty()).await;
    assert_eq!(
        refused,
        "The API key was refused: it is unknown or has been revoked."
    );
    b.shot("1-wrong-key.png").await;
    let stored = b
        .script("return sessionStorage.getItem('contactd.apiKey')")
        .await;
    assert_eq!(stored, Value::Null, "a refused key is not kept");

    // The demo key opens the list: as many contacts as the API lists.
    b.type_into("#key", DEMO_KEY).await;
    b.click("#key-form button[type=submit]").await;
    let listed = api(&server, "/api/public/contacts?days=365&limit=1000");
    let all = listed.as_array().unwrap();
    let status = b.text_until("#list-status", |t| t.contains("page 1")).await;
    assert!(
        status.starts_with(&format!("{} contacts ", all.len())),
        "{status}"
    );
    assert_eq!(b.texts("#contacts li").await.len(), all.len().min(20));
    assert!(
        !b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains(DEMO_KEY)
    );
    b.shot("2-list.png").await;

    // The channel filter keeps exactly the API's contacts of that channel.
    let tiktok = all.iter().filter(|c| c["platform"] == "tiktok").count();
    b.select("#platform", "tiktok").await;
    let status = b
        .text_until("#list-status", |t| {
            t.starts_with(&format!("{tiktok} contact"))
        })
        .await;
    assert!(status.contains("page 1 of 1"), "{status}");
    let badges = b.texts("#contacts .badge-platform").await;
    assert_eq!(badges.len(), tiktok);
    assert!(badges.iter().all(|b| b == "tiktok"), "{badges:?}");

    // Search by a piece of a phone: the API's answer, by name.
    let with_phone = all.iter().find(|c| c["phone"].is_string()).unwrap();
    let digits: String = with_phone["phone"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let piece = &digits[digits.len() - 6..];
    b.select("#platform", "").await;
    b.type_into("#q", piece).await;
    b.click("#filters button[type=submit]").await;
    // Digits search phones and emails alike (123 in user123@…): either matches.
    let found = api(
        &server,
        &format!("/api/public/contacts/search?phone={piece}&email={piece}"),
    );
    b.text_until("#list-status", |t| t.contains("matching"))
        .await;
    let names = b.texts("#contacts .contact-name").await;
    assert_eq!(names, names_of(&found, 20));
    b.shot("3-search.png").await;

    // Punctuation alone has nothing to search by: one message, no call, no error.
    b.type_into("#q", "-- ()").await;
    b.click("#filters button[type=submit]").await;
    let said = b
        .text_until("#list-status", |t| t.starts_with("Type a piece"))
        .await;
    assert_eq!(
        said,
        "Type a piece of a phone number (with digits) or of an email to search."
    );
    assert!(
        b.client
            .find(Locator::Css("#notice"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .is_empty()
    );

    // Anything but phone characters searches emails.
    let domain = api(&server, "/api/public/contacts/search?email=%40EXAMPLE.com");
    b.type_into("#q", "@EXAMPLE.com").await;
    b.click("#filters button[type=submit]").await;
    b.text_until("#list-status", |t| t.contains("matching “@EXAMPLE.com”"))
        .await;
    let names = b.texts("#contacts .contact-name").await;
    let expected = names_of(&domain, 20);
    assert!(!expected.is_empty(), "the demo has example.com addresses");
    assert_eq!(names, expected);

    // The card shows what /info says.
    b.client
        .goto(&format!("{}/#/contact/{SOREN}", server.base_url))
        .await
        .unwrap();
    let info = api(&server, &TestServer::info_path(SOREN));
    let name = b.text_until(".card h1", |t| !t.is_empty()).await;
    assert_eq!(name, info["name"].as_str().unwrap());
    let badges = b.texts(".card-head .badge").await;
    assert!(
        badges.contains(&info["platform"].as_str().unwrap().to_owned()),
        "{badges:?}"
    );
    assert!(
        badges.contains(&info["chat_status"].as_str().unwrap().to_owned()),
        "{badges:?}"
    );
    let facts = b.text(".card > .facts").await;
    // The default stage by its pipeline's and its own name.
    let pipelines = api(&server, "/api/public/pipeline");
    let stage = pipelines
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| {
            p["stages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == info["default_stage_id"])
                .map(|s| {
                    format!(
                        "{} › {}",
                        p["name"].as_str().unwrap(),
                        s["name"].as_str().unwrap()
                    )
                })
        })
        .unwrap();
    assert!(
        facts.contains(&stage),
        "{stage} is not on the card: {facts}"
    );
    for id in ["id", "ai_customer_id", "client_id"] {
        let value = info[id].as_str().unwrap();
        assert!(
            facts.contains(value),
            "{id} {value} is not on the card: {facts}"
        );
    }
    let tickets = b.text(".tickets").await;
    for which in ["active_ticket", "last_closed_ticket"] {
        if let Some(status) = info[which]["status"].as_str() {
            assert!(
                tickets.contains(status),
                "{which} {status} missing: {tickets}"
            );
        }
    }
    let mut shown_keys = b.texts("#metadata > table > tbody > tr > th").await;
    shown_keys.sort();
    let keys: Vec<String> = info["metadata"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(shown_keys, keys, "every metadata key, one row each");
    let exact = b
        .script("return document.querySelector('.facts time').getAttribute('title')")
        .await;
    assert!(
        exact
            .as_str()
            .unwrap()
            .starts_with(info["created_at"].as_str().unwrap()),
        "the exact time on hover: {exact}"
    );
    b.shot("4-card.png").await;

    // The conversation opens at its newest page; "Older" goes back one page.
    let first = api(
        &server,
        &format!("/api/public/contact/v2/{SOREN}/messages?page=1"),
    );
    let total = first["total"].as_u64().unwrap();
    let pages = total.div_ceil(50);
    assert!(pages >= 2, "the demo contact has more than a page");
    let heading = format!("Page {pages} of {pages} · {total} messages");
    b.text_until("#conversation nav span", |t| t == heading)
        .await;
    let last_page = api(
        &server,
        &format!("/api/public/contact/v2/{SOREN}/messages?page={pages}"),
    );
    assert_eq!(
        b.texts("#conversation .message").await.len(),
        last_page["messages"].as_array().unwrap().len()
    );
    b.click("#older").await;
    let older = format!("Page {} of {pages} · {total} messages", pages - 1);
    b.text_until("#conversation nav span", |t| t == older).await;
    assert_eq!(b.texts("#conversation .message").await.len(), 50);
    let first_body = first["messages"][0]["body"].as_str().unwrap_or("");
    if pages == 2 {
        assert!(b.text("#conversation").await.contains(first_body));
    }

    // The editor writes through the API and shows the stored snake_case key.
    b.type_into("#editor .edit-key", "companyName").await;
    b.type_into("#editor .edit-value", "Acme Demo").await;
    b.click("#editor button[type=submit]").await;
    let result = b
        .text_until("#edit-result", |t| t.starts_with("Stored"))
        .await;
    assert_eq!(result, "Stored as: company_name.");
    b.text_until("#metadata", |t| {
        t.contains("company_name") && t.contains("Acme Demo")
    })
    .await;
    let stored = api(&server, &TestServer::info_path(SOREN));
    assert_eq!(stored["metadata"]["company_name"], "Acme Demo");
    b.shot("5-metadata-written.png").await;

    // Numbers go in as typed and come out as stored, never through a double.
    b.type_into("#editor .edit-key", "big").await;
    b.type_into("#editor .edit-value", "9007199254740993").await;
    b.click("#editor button[type=submit]").await;
    b.text_until("#edit-result", |t| t == "Stored as: big.")
        .await;
    let raw = server.info(SOREN, Some(DEMO_KEY)).body;
    assert!(raw.contains(r#""big":9007199254740993"#), "{raw}");
    let path = format!("{CONTACT_ROUTE}/{SOREN}/update-metadata");
    let exact = r#"{"tiny":1.50,"huge":1e400,"long":123456789012345678901234567890}"#;
    assert_eq!(server.post_json(&path, DEMO_KEY, exact).status, 201);
    b.client.refresh().await.unwrap();
    let shown = b.text_until("#metadata", |t| t.contains("tiny")).await;
    for number in [
        "9007199254740993",
        "1.50",
        "1e400",
        "123456789012345678901234567890",
    ] {
        assert!(
            shown.contains(number),
            "{number} is not shown as stored: {shown}"
        );
    }

    // A phone's width: nothing wider than the screen, ten levels of metadata included.
    let deep = format!(
        r#"{{"deep":{}"bottom of ten levels"{}}}"#,
        r#"{"level":"#.repeat(10),
        "}".repeat(10)
    );
    assert_eq!(server.post_json(&path, DEMO_KEY, &deep).status, 201);
    b.client.set_window_size(360, 780).await.unwrap();
    b.client.refresh().await.unwrap();
    b.text_until(".card h1", |t| !t.is_empty()).await;
    b.assert_fits_a_phone().await;
    b.shot("6-card-360px.png").await;
    b.click(".back").await;
    b.text_until("#list-status", |t| t.contains("page")).await;
    b.assert_fits_a_phone().await;
    b.shot("7-list-360px.png").await;

    // The server stops in the middle of use: the console says so in words.
    let status = server.stop("KILL");
    assert!(!status.success());
    b.click("#filters button[type=submit]").await;
    let notice = b.text_until("#notice", |t| !t.is_empty()).await;
    assert!(notice.starts_with("Could not reach contactd"), "{notice}");
    b.shot("8-server-stopped.png").await;
}

async fn use_the_webhooks_view(b: &Browser, server: TestServer) {
    // The first request is answered 503, the rest 200.
    let receiver = Receiver::start(|n| (if n == 0 { 503 } else { 200 }, Duration::ZERO));
    let hooks = |server: &TestServer| api(server, "/api/webhooks");
    b.client
        .goto(&format!("{}/", server.base_url))
        .await
        .unwrap();
    b.type_into("#key", DEMO_KEY).await;
    b.click("#key-form button[type=submit]").await;
    b.text_until("#list-status", |t| t.contains("page 1")).await;
    b.click("#to-webhooks").await;
    b.text_until("#hooks-status", |t| {
        t == "No subscriptions yet: add one below."
    })
    .await;
    let topics = b.texts("#hook-topic option").await;
    assert_eq!(topics, names(&api(&server, "/api/webhooks/topics")));

    // A bad URL and a short secret: the server's words, each field named; nothing stored.
    b.type_into("#hook-url", "ftp://example.org/hook").await;
    b.type_into("#hook-secret", "short").await;
    b.click("#hook-form button[type=submit]").await;
    let refused = b
        .text_until("#hook-result", |t| t.starts_with("Not subscribed"))
        .await;
    assert!(
        refused.contains("url") && refused.contains("secret"),
        "{refused}"
    );
    assert_eq!(hooks(&server), json!([]));

    // A good one is listed as the API lists it.
    b.select("#hook-topic", "contact.updated").await;
    b.type_into("#hook-url", &receiver.url).await;
    b.type_into("#hook-secret", "a-secret-of-the-receiver")
        .await;
    b.click("#hook-form button[type=submit]").await;
    b.text_until("#hooks-status", |t| t == "1 live subscription.")
        .await;
    let listed = hooks(&server);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&listed[0]["topic"], &listed[0]["url"], &listed[0]["active"]),
        (
            &json!("contact.updated"),
            &json!(receiver.url),
            &json!(true)
        )
    );
    let item = b.text(&format!(".hook[data-id='{id}']")).await;
    assert!(
        item.contains(&receiver.url) && item.contains("active"),
        "{item}"
    );
    assert!(
        !b.text("#webhooks-view")
            .await
            .contains("a-secret-of-the-receiver"),
        "the secret is never shown"
    );

    // A write makes a delivery; its failed first attempt is in the log with the answer.
    let path = format!("{CONTACT_ROUTE}/{SOREN}/update-metadata");
    let written = server.post_json(&path, DEMO_KEY, r#"{"plan":"gold"}"#);
    assert_eq!(written.status, 201, "{}", written.body);
    let sent = receiver.wait_for(1, Duration::from_secs(15));
    let call = ".calls .call";
    let text = b
        .text_until(call, |t| t.contains("503 in") && t.contains("1 attempt"))
        .await;
    assert!(text.contains("pending"), "{text}");
    let logged = api(&server, "/api/webhooks/calls");
    let error = logged[0]["error"].as_str().unwrap();
    assert!(text.contains(error), "the error {error:?} is shown: {text}");
    b.click(&format!("{call} summary")).await;
    let event: Value = serde_json::from_str(&b.text(&format!("{call} pre")).await).unwrap();
    assert_eq!(event, sent[0].json(), "the event as it was sent");
    b.shot("webhooks-1-pending.png").await;

    // Retry now: the next attempt comes at once and is delivered.
    b.click(&format!("{call} .retry")).await;
    let sent = receiver.wait_for(2, Duration::from_secs(15));
    assert_eq!(sent[1].header("webhook-id"), sent[0].header("webhook-id"));
    let text = b
        .text_until(call, |t| {
            t.contains("delivered") && t.contains("2 attempts")
        })
        .await;
    assert!(text.contains("200 in"), "{text}");
    let logged = api(&server, "/api/webhooks/calls");
    assert_eq!(
        (&logged[0]["status"], &logged[0]["attempts"]),
        (&json!("delivered"), &json!(2))
    );

    // The status filter asks the server: no failed deliveries.
    b.select("#calls-status", "failed").await;
    b.text_until("#calls-line", |t| t == "No deliveries pass these filters.")
        .await;
    assert!(b.texts(call).await.is_empty());
    b.select("#calls-status", "").await;
    b.text_until("#calls-line", |t| t.starts_with("Deliveries 1–1"))
        .await;

    // Pause, delete and restore, each read back from the API.
    let one = format!(".hook[data-id='{id}']");
    b.click(&format!("{one} .toggle")).await;
    b.text_until(&one, |t| t.contains("paused") && t.contains("Resume"))
        .await;
    assert_eq!(hooks(&server)[0]["active"], false);
    b.click(&format!("{one} .delete")).await;
    b.text_until(&one, |t| t.contains("deleted") && t.contains("Restore"))
        .await;
    assert!(hooks(&server)[0]["deleted_at"].is_string());
    b.text_until("#hooks-status", |t| t == "0 live subscriptions, 1 deleted.")
        .await;
    b.click(&format!("{one} .restore")).await;
    b.text_until(&one, |t| t.contains("Pause") || t.contains("Resume"))
        .await;
    assert_eq!(hooks(&server)[0]["deleted_at"], Value::Null);
    b.shot("webhooks-2-restored.png").await;

    b.client.set_window_size(360, 780).await.unwrap();
    b.client.refresh().await.unwrap();
    b.text_until("#hooks-status", |t| t == "1 live subscription.")
        .await;
    b.assert_fits_a_phone().await;
    b.shot("webhooks-3-360px.png").await;
}

#[test]
#[ignore = "needs chromium and chromium-driver"]
fn the_requests_view_in_a_real_browser() {
    let ws = Workspace::new();
    in_a_browser(ws.serve(&[]), use_the_requests_view);
}

async fn use_the_requests_view(b: &Browser, server: TestServer) {
    let info_route = "/api/public/contact/{aiContactId}/info";
    b.client
        .goto(&format!("{}/", server.base_url))
        .await
        .unwrap();
    b.type_into("#key", DEMO_KEY).await;
    b.click("#key-form button[type=submit]").await;
    b.text_until("#list-status", |t| t.contains("page 1")).await;
    b.click("#to-requests").await;
    b.text_until("#faults-line", |t| t.starts_with("No fault rules"))
        .await;
    // The console's own list request is the client's, kept like any other.
    b.text_until("#journal", |t| t.contains("/api/public/contacts?"))
        .await;

    // A write from elsewhere shows up without a reload, its body as sent.
    let path = format!("{CONTACT_ROUTE}/{SOREN}/update-metadata");
    let written = server.post_json(&path, DEMO_KEY, r#"{"plan":"journal-test"}"#);
    assert_eq!(written.status, 201, "{}", written.body);
    let first = "#journal .entry:first-child";
    let text = b.text_until(first, |t| t.contains(&path)).await;
    assert!(text.starts_with("201 POST"), "{text}");
    b.click(&format!("{first} summary")).await;
    let sent: Value =
        serde_json::from_str(&b.text(&format!("{first} pre.request-body")).await).unwrap();
    assert_eq!(sent, json!({"plan": "journal-test"}));
    let answered = b.text(&format!("{first} pre.response-body")).await;
    assert_eq!(
        serde_json::from_str::<Value>(&answered).unwrap(),
        written.json()
    );
    assert!(
        !b.text("#requests-view").await.contains(DEMO_KEY),
        "the key is never shown"
    );

    // The method filter asks the server.
    b.select("#journal-method", "POST").await;
    b.text_until("#journal-line", |t| t == "1 request, newest first.")
        .await;
    b.select("#journal-method", "").await;

    // A bad rule is refused in the server's words; a good one is listed and applies.
    b.type_into("#fault-status", "abc").await;
    b.click("#fault-form button[type=submit]").await;
    let refused = b
        .text_until("#fault-result", |t| t.starts_with("Not added"))
        .await;
    assert!(
        refused.contains("status must be an integer number"),
        "{refused}"
    );
    b.select("#fault-route", info_route).await;
    b.select("#fault-method", "GET").await;
    b.type_into("#fault-status", "503").await;
    b.type_into("#fault-times", "1").await;
    b.click("#fault-form button[type=submit]").await;
    b.text_until("#fault-result", |t| t.starts_with("Added"))
        .await;
    b.text_until("#faults-line", |t| t.starts_with("1 rule"))
        .await;
    let rule = b.text("#faults .fault").await;
    assert!(
        rule.contains(info_route) && rule.contains("answer 503") && rule.contains("next 1 match"),
        "{rule}"
    );
    let rules = api(&server, "/api/sandbox/faults");
    assert_eq!(
        (&rules[0]["route"], &rules[0]["status"], &rules[0]["times"]),
        (&json!(info_route), &json!(503), &json!(1))
    );
    server
        .info(SOREN, Some(DEMO_KEY))
        .assert_error(503, "Injected fault");
    let text = b.text_until(first, |t| t.contains("injected")).await;
    assert!(text.starts_with("503 GET"), "{text}");
    assert_eq!(server.info(SOREN, Some(DEMO_KEY)).status, 200);
    b.shot("requests-1-injected.png").await;

    // Remove a rule; clear the journal.
    b.type_into("#fault-status", "").await;
    b.type_into("#fault-times", "").await;
    b.type_into("#fault-delay", "5").await;
    b.click("#fault-form button[type=submit]").await;
    b.text_until("#faults-line", |t| t.starts_with("1 rule"))
        .await;
    b.click("#faults .fault .remove").await;
    b.text_until("#faults-line", |t| t.starts_with("No fault rules"))
        .await;
    assert_eq!(api(&server, "/api/sandbox/faults"), json!([]));
    b.click("#journal-clear").await;
    b.text_until("#journal-line", |t| t.starts_with("Cleared "))
        .await;
    assert_eq!(api(&server, "/api/sandbox/requests"), json!([]));

    b.client.set_window_size(360, 780).await.unwrap();
    b.client.refresh().await.unwrap();
    b.text_until("#faults-line", |t| t.starts_with("No fault rules"))
        .await;
    b.assert_fits_a_phone().await;
    b.shot("requests-2-360px.png").await;
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "needs chromium and chromium-driver"]
fn the_console_says_when_a_list_or_search_holds_only_the_first_of_more() {
    let ws = Workspace::new();
    let key = ws.load_generated(2400);
    let server = ws.serve(&["--no-demo"]);
    in_a_browser(server, async move |b: &Browser, server: TestServer| {
        b.client
            .goto(&format!("{}/", server.base_url))
            .await
            .unwrap();
        b.type_into("#key", &key).await;
        b.click("#key-form button[type=submit]").await;
        // 1,200 contacts of this client wrote in the last 365 days; one page holds 1,000.
        let status = b.text_until("#list-status", |t| t.contains("page 1")).await;
        assert!(
            status.starts_with(
                "the newest 1,000 of more contacts with messages in the last 365 days"
            ),
            "{status}"
        );
        b.select("#platform", "sms").await;
        let status = b
            .text_until("#list-status", |t| t.contains("among the newest 1,000"))
            .await;
        assert!(
            status.contains("there are more: narrow the period"),
            "{status}"
        );
        // Every generated email is at example.org or the like: a search full at 50.
        b.select("#platform", "").await;
        b.type_into("#q", "@").await;
        b.click("#filters button[type=submit]").await;
        let status = b
            .text_until("#list-status", |t| t.contains("matching"))
            .await;
        assert!(
            status.starts_with("at least 50 contacts matching “@”"),
            "{status}"
        );
    });
}

#[test]
#[ignore = "needs chromium and chromium-driver"]
fn the_console_follows_the_conversation_and_plays_the_customer() {
    let ws = Workspace::new();
    in_a_browser(ws.serve(&[]), use_the_live_console);
}

/// Waits until the text of `css` passes `test`, at most five seconds (SPEC 9: an open
/// list or card shows a change within 5 s without a reload).
async fn within_five_seconds(b: &Browser, css: &str, test: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    let text = b.text_until(css, test).await;
    assert!(
        started.elapsed() <= Duration::from_secs(5),
        "{css} took {:?}",
        started.elapsed()
    );
    text
}

async fn use_the_live_console(b: &Browser, server: TestServer) {
    b.client
        .goto(&format!("{}/", server.base_url))
        .await
        .unwrap();
    b.type_into("#key", DEMO_KEY).await;
    b.click("#key-form button[type=submit]").await;
    b.text_until("#list-status", |t| t.contains("page 1")).await;

    // "All time" lists every contact of the client, the newest message first.
    let every = api(
        &server,
        "/api/public/contacts?created_after=1970-01-01T00:00:00Z&limit=1000",
    );
    b.select("#period", "all").await;
    let status = b
        .text_until("#list-status", |t| t.contains("of all time"))
        .await;
    let count = every.as_array().unwrap().len();
    assert!(
        status.starts_with(&format!("{count} contacts of all time")),
        "{status}"
    );

    // A contact made by an integration shows up in the open list without a reload.
    let made = server.post_json(
        "/api/public/customer/upsert/info",
        DEMO_KEY,
        r#"{"channel":"whatsapp","channel_phone_number":"+56229400100",
            "contact_phone_number":"+56 9 4444 0000","contact_name":"Recién Llegada"}"#,
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let first = within_five_seconds(b, "#contacts li:first-child .contact-name", |t| {
        t == "Recién Llegada"
    })
    .await;
    assert_eq!(first, "Recién Llegada");

    // On the card: write as the customer, and see it in the conversation.
    b.script(&format!("location.hash = '#/contact/{SOREN}'"))
        .await;
    b.text_until("#card-head h1", |t| !t.is_empty()).await;
    b.text_until("#conversation", |t| t.contains("messages"))
        .await;
    b.type_into("#inbound-text", "¿Me confirman el envío?")
        .await;
    b.click("#inbound button[type=submit]").await;
    b.text_until(".messages li:last-child .message-body", |t| {
        t == "¿Me confirman el envío?"
    })
    .await;
    let result = b.text("#inbound-result").await;
    assert!(result.starts_with("Sent as the customer"), "{result}");
    assert!(b.text("#card-head").await.contains("unread"));

    // A message that arrives from elsewhere shows on the open card without a reload.
    let path = format!("/api/sandbox/contact/{SOREN}/inbound-message");
    let reply = server.post_json(&path, DEMO_KEY, r#"{"body":"Escribo desde afuera"}"#);
    assert_eq!(reply.status, 201, "{}", reply.body);
    within_five_seconds(b, ".messages li:last-child .message-body", |t| {
        t == "Escribo desde afuera"
    })
    .await;
    let facts = b.text("#card-facts").await;
    assert!(facts.contains("Escribo desde afuera"), "{facts}");
    b.shot("live-card.png").await;

    // Close the active ticket as an agent: it becomes the last closed one.
    let active = api(&server, &TestServer::info_path(SOREN))["active_ticket_v2_id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.click("#close-ticket").await;
    let tickets = b
        .text_until("#card-tickets", |t| t.starts_with("Active ticket\nNone."))
        .await;
    assert!(tickets.contains(&active), "{tickets}");
    let info = api(&server, &TestServer::info_path(SOREN));
    assert_eq!(info["active_ticket"], Value::Null);
    assert_eq!(info["last_closed_ticket"]["id"], active.as_str());

    // Fits a phone too.
    b.client.set_window_size(375, 800).await.unwrap();
    b.assert_fits_a_phone().await;
    b.shot("live-card-phone.png").await;
}
