//! The read side of the family (SPEC 7.1–7.4): list, search, messages, pipelines, over a
//! data set built here so every filter, order and tie is known.

use serde_json::{Value, json};

use crate::helpers::*;

const KEY: &str = "fam-a";
const OTHER_KEY: &str = "fam-b";
const CLIENT: &str = "aaaaaaaa-1111-4000-8000-000000000001";
const OTHER_CLIENT: &str = "bbbbbbbb-2222-4000-8000-000000000002";

const ANA: &str = "10000000-0000-4000-8000-000000000001";
const BEA: &str = "20000000-0000-4000-8000-000000000002";
const CARLA: &str = "30000000-0000-4000-8000-000000000003";
const DORA: &str = "40000000-0000-4000-8000-000000000004";
const OTHERS: &str = "50000000-0000-4000-8000-000000000005";

const SALES: &str = "b1000000-0000-4000-8000-000000000001";
const SUPPORT: &str = "b2000000-0000-4000-8000-000000000002";
const NEW_LEAD: &str = "c1000000-0000-4000-8000-000000000001";
const WON: &str = "c2000000-0000-4000-8000-000000000002";
const OPEN_CASE: &str = "c3000000-0000-4000-8000-000000000003";
const OTHER_STAGE: &str = "c4000000-0000-4000-8000-000000000004";

const LIST: &str = "/api/public/contacts";
const SEARCH: &str = "/api/public/contacts/search";
const PIPELINE: &str = "/api/public/pipeline";

fn ago(days: f64) -> String {
    let ms = chrono_free_now_ms() - (days * 86_400_000.0) as i64;
    millis_to_rfc3339(ms)
}

fn chrono_free_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Milliseconds since the epoch as `2024-09-30T10:00:00.000Z` (days from civil, after
/// Howard Hinnant), so the tests need no date crate of their own.
fn millis_to_rfc3339(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn contact(id: &str, client: &str, name: &str, last_message_days_ago: f64) -> Value {
    json!({
        "id": id, "client_id": client, "ai_customer_id": id, "name": name,
        "platform": "whatsapp", "chat_status": "UNATTENDED",
        "created_at": ago(last_message_days_ago + 30.0),
        "last_message_at": ago(last_message_days_ago),
    })
}

fn ticket(id: &str, status: &str, stage: Option<&str>, metadata: Value) -> Value {
    json!({"id": id, "status": status, "created_at": ago(40.0), "updated_at": ago(1.0),
           "stage_id": stage, "metadata": metadata})
}

/// Two clients; client A has four contacts with known ties, stages and metadata.
fn family() -> Value {
    let mut ana = contact(ANA, CLIENT, "Ana", 1.0);
    ana["phone"] = json!("+56 9 1234-5678");
    ana["email"] = json!("Ana.Perez@Example.com");
    // serde_json would write 1.50 as 1.5: `serve` puts the literal text in.
    ana["metadata"] = json!({"plan": "gold", "score": 42, "vip": true, "ratio": "1.50 as written",
                             "nested": {"a": [1, 2]}});
    ana["active_ticket_v2_id"] = json!("a1000000-0000-4000-8000-000000000001");
    ana["tickets"] = json!([ticket(
        "a1000000-0000-4000-8000-000000000001",
        "OPEN",
        Some(NEW_LEAD),
        json!({"priority": "high"})
    )]);
    // Bea ties with Ana on every time, so only the id orders them.
    let mut bea = ana.clone();
    bea["id"] = json!(BEA);
    bea["ai_customer_id"] = json!(BEA);
    bea["name"] = json!("Bea");
    bea["phone"] = json!("(+56) 9 8765 4321");
    bea["email"] = json!("bea_smith@shop.cl");
    bea["metadata"] = json!({"plan": "silver", "score": "42"});
    bea["active_ticket_v2_id"] = json!("a2000000-0000-4000-8000-000000000002");
    bea["tickets"] = json!([ticket(
        "a2000000-0000-4000-8000-000000000002",
        "IN_PROGRESS",
        Some(OPEN_CASE),
        json!({"priority": "low"})
    )]);
    let mut carla = contact(CARLA, CLIENT, "Carla", 10.0);
    carla["email"] = json!("100%real@x.com");
    carla["metadata"] = json!({"plan": "gold"});
    carla["last_closed_ticket_v2_id"] = json!("a3000000-0000-4000-8000-000000000003");
    carla["tickets"] = json!([ticket(
        "a3000000-0000-4000-8000-000000000003",
        "CLOSED",
        Some(WON),
        json!({})
    )]);
    let mut dora = contact(DORA, CLIENT, "Dora", 400.0);
    dora["phone"] = json!("+1 555 0100");
    dora["email"] = json!("dora@EXAMPLE.com");
    let mut other = contact(OTHERS, OTHER_CLIENT, "Otra", 1.0);
    other["phone"] = json!("+56912345678");
    other["email"] = json!("ana.perez@example.com");
    other["metadata"] = json!({"plan": "gold"});
    other["active_ticket_v2_id"] = json!("a5000000-0000-4000-8000-000000000005");
    other["tickets"] = json!([ticket(
        "a5000000-0000-4000-8000-000000000005",
        "OPEN",
        Some(OTHER_STAGE),
        json!({"priority": "high"})
    )]);
    json!({
        "clients": [
            {"id": CLIENT, "name": "A", "api_keys": [{"name": "k", "key": KEY}],
             "pipelines": [
                {"id": SALES, "name": "Ventas", "description": "De lead a venta", "stages": [
                    {"id": NEW_LEAD, "name": "Nuevo"},
                    {"id": WON, "name": "Ganado", "description": "Compró"}]},
                {"id": SUPPORT, "name": "Soporte", "stages": [
                    {"id": OPEN_CASE, "name": "Abierto", "description": null}]}]},
            {"id": OTHER_CLIENT, "name": "B", "api_keys": [{"name": "k", "key": OTHER_KEY}],
             "pipelines": [{"id": "b3000000-0000-4000-8000-000000000003", "name": "Otra",
                            "stages": [{"id": OTHER_STAGE, "name": "Suya"}]}]}
        ],
        "contacts": [dora, carla, bea, ana, other]
    })
}

fn serve(data: &Value) -> (Workspace, TestServer) {
    let ws = Workspace::new();
    let text = data.to_string().replace(r#""1.50 as written""#, "1.50");
    let file = ws.write("family.json", &text);
    ws.load(file.to_str().unwrap());
    let server = ws.serve(&["--no-demo"]);
    (ws, server)
}

/// The ids of a list or search answer, in order.
fn list(server: &TestServer, query: &str) -> Vec<String> {
    ids(&server.get(&format!("{LIST}?{query}"), Some(KEY), &[]))
}

#[test]
fn a_summary_has_every_key_in_order_and_nothing_else() {
    let (_ws, server) = serve(&family());

    let reply = server.get(&format!("{LIST}?days=2"), Some(KEY), &[]);

    let body = reply.json();
    let first = &body[0];
    let keys = [
        "id",
        "name",
        "phone",
        "email",
        "platform",
        "last_message_at",
        "chat_status",
        "created_at",
        "updated_at",
        "client_id",
        "ai_customer_id",
        "default_stage_id",
        "blocked",
        "is_chat_read",
        "active_ticket_v2",
    ];
    assert_eq!(first.as_object().unwrap().len(), keys.len(), "{first}");
    // serde_json's map sorts keys, so the order is checked on the raw text.
    let text = &reply.body;
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(first["id"], ANA);
    assert_eq!(
        first["active_ticket_v2"],
        json!({"id": "a1000000-0000-4000-8000-000000000001", "current_stage_id": NEW_LEAD})
    );
    assert_eq!(body[1]["email"], "bea_smith@shop.cl");
    assert!(text.starts_with(&format!(r#"[{{"id":"{ANA}","name":"Ana","phone":"+56 9 1234-5678","email":"Ana.Perez@Example.com","platform":"whatsapp","last_message_at":""#)), "{text}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("etag").is_some());
}

#[test]
fn each_filter_alone_and_combined() {
    let (_ws, server) = serve(&family());

    assert_eq!(list(&server, "days=2"), [ANA, BEA]);
    assert_eq!(list(&server, "days=11"), [ANA, BEA, CARLA]);
    assert_eq!(list(&server, "days=365"), [ANA, BEA, CARLA]);
    assert_eq!(
        list(&server, &format!("created_after={}", ago(35.0))),
        [ANA, BEA]
    );
    assert_eq!(
        list(&server, &format!("updated_after={}", ago(1.0))),
        [ANA, BEA, CARLA, DORA]
    );
    assert!(list(&server, &format!("updated_after={}", ago(-1.0))).is_empty());
    assert_eq!(
        list(&server, &format!("days=365&stage_id={NEW_LEAD}")),
        [ANA]
    );
    assert_eq!(
        list(&server, &format!("days=365&stage_id={OPEN_CASE}")),
        [BEA]
    );
    // Carla's only ticket is closed: a stage counts only on the active ticket.
    assert!(list(&server, &format!("days=365&stage_id={WON}")).is_empty());
    assert_eq!(
        list(&server, &format!("days=365&pipeline_id={SALES}")),
        [ANA]
    );
    assert_eq!(
        list(&server, &format!("days=365&pipeline_id={SUPPORT}")),
        [BEA]
    );
    let field = |key: &str, value: &str| {
        format!("days=365&custom_field_key={key}&custom_field_value={value}")
    };
    assert_eq!(list(&server, &field("plan", "gold")), [ANA, CARLA]);
    assert_eq!(
        list(&server, &field("score", "42")),
        [ANA, BEA],
        "number and string alike"
    );
    assert_eq!(list(&server, &field("vip", "true")), [ANA]);
    assert_eq!(list(&server, &field("ratio", "1.50")), [ANA]);
    assert_eq!(
        list(&server, &field("nested", "%7B%22a%22%3A%5B1%2C2%5D%7D")),
        [ANA]
    );
    assert!(list(&server, &field("plan", "GOLD")).is_empty());
    assert_eq!(
        list(
            &server,
            &format!("{}&entity_type=ticket", field("priority", "high"))
        ),
        [ANA]
    );
    assert!(
        list(
            &server,
            &format!("{}&entity_type=customer", field("priority", "high"))
        )
        .is_empty()
    );
    // Combined: AND.
    assert_eq!(
        list(
            &server,
            &format!("days=2&pipeline_id={SALES}&custom_field_key=plan&custom_field_value=gold")
        ),
        [ANA]
    );
    assert!(
        list(
            &server,
            &format!("days=2&stage_id={WON}&custom_field_key=plan&custom_field_value=gold")
        )
        .is_empty()
    );
}

#[test]
fn the_custom_field_filter_follows_writes_and_compares_long_values_whole() {
    let mut data = family();
    // Two values alike in their first 100 characters (what the filter's index keeps).
    let long = "x".repeat(100);
    for contact in data["contacts"].as_array_mut().unwrap() {
        let note = match contact["id"].as_str() {
            Some(ANA) => "ana",
            Some(BEA) => "bea",
            _ => continue,
        };
        contact["metadata"]["note"] = json!(format!("{long}-{note}"));
    }
    let (_ws, server) = serve(&data);
    let field = |key: &str, value: &str| {
        format!("days=365&custom_field_key={key}&custom_field_value={value}")
    };
    assert_eq!(list(&server, &field("note", &format!("{long}-bea"))), [BEA]);
    assert!(list(&server, &field("note", &long)).is_empty());

    // A contact's metadata written through the API moves it between values at once.
    let reply = server.post_json(
        &format!("/api/public/contact/{ANA}/update-metadata"),
        KEY,
        r#"{"plan":"silver"}"#,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(list(&server, &field("plan", "gold")), [CARLA]);
    assert_eq!(list(&server, &field("plan", "silver")), [ANA, BEA]);

    // So does its active ticket's.
    let reply = server.post_json(
        "/api/public/ticket/metadata",
        KEY,
        &json!({"ai_contact_id": BEA, "metadata": {"priority": "high"}}).to_string(),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let ticket_field = |value: &str| format!("{}&entity_type=ticket", field("priority", value));
    assert_eq!(list(&server, &ticket_field("high")), [ANA, BEA]);
    assert!(list(&server, &ticket_field("low")).is_empty());
}

#[test]
fn each_order_breaks_ties_by_ascending_id() {
    let (_ws, server) = serve(&family());

    // Newest message first; Ana and Bea tie on every time.
    assert_eq!(list(&server, "days=365"), [ANA, BEA, CARLA]);
    // Oldest creation first when created_after is given.
    assert_eq!(
        list(&server, &format!("created_after={}", ago(1000.0))),
        [DORA, CARLA, ANA, BEA]
    );
    // Oldest update first when updated_after is given: all share the load's time.
    assert_eq!(
        list(
            &server,
            &format!(
                "updated_after={}&created_after={}",
                ago(1000.0),
                ago(1000.0)
            )
        ),
        [ANA, BEA, CARLA, DORA]
    );
}

#[test]
fn limit_and_offset_at_their_edges() {
    let (_ws, server) = serve(&family());
    let all = format!("created_after={}", ago(1000.0));

    assert_eq!(list(&server, &format!("{all}&limit=1")), [DORA]);
    assert_eq!(
        list(&server, &format!("{all}&limit=2&offset=1")),
        [CARLA, ANA]
    );
    assert_eq!(list(&server, &format!("{all}&limit=1000")).len(), 4);
    assert!(
        list(&server, &format!("{all}&offset=4")).is_empty(),
        "past the end"
    );
    assert!(list(&server, &format!("{all}&offset=99999999999")).is_empty());
    for (query, problem) in [
        ("limit=0", "limit must not be less than 1"),
        ("limit=1001", "limit must not be greater than 1000"),
        ("limit=", "limit must be an integer number"),
        ("limit=ten", "limit must be an integer number"),
        ("offset=-1", "offset must not be less than 0"),
        ("offset=1.5", "offset must be an integer number"),
    ] {
        let reply = server.get(&format!("{LIST}?{all}&{query}"), Some(KEY), &[]);
        assert_problems(&reply, &[problem]);
    }
}

#[test]
fn every_bad_parameter_of_a_list_is_reported_by_name() {
    let (_ws, server) = serve(&family());
    let get = |query: &str| server.get(&format!("{LIST}?{query}"), Some(KEY), &[]);

    assert_problems(
        &get(""),
        &["days, created_after or updated_after: at least one of them must be provided"],
    );
    assert_problems(
        &get("unknown=1&limit=5"),
        &["days, created_after or updated_after: at least one of them must be provided"],
    );
    assert_problems(&get("days="), &["days must be an integer number"]);
    assert_problems(&get("days=366"), &["days must not be greater than 365"]);
    assert_problems(&get("days=0"), &["days must not be less than 1"]);
    assert_problems(
        &get("created_after=yesterday&updated_after=2024-01-01"),
        &[
            "created_after must be a valid ISO 8601 date string with a time zone (RFC 3339)",
            "updated_after must be a valid ISO 8601 date string with a time zone (RFC 3339)",
        ],
    );
    assert_problems(
        &get("days=1&stage_id=abc&pipeline_id=&entity_type=lead"),
        &[
            "stage_id must be a UUID",
            "pipeline_id must be a UUID",
            "entity_type must be one of the following values: customer, ticket",
        ],
    );
    assert_problems(
        &get("days=1&custom_field_key=plan"),
        &["custom_field_key and custom_field_value must be provided together"],
    );
    assert_problems(
        &get("days=1&custom_field_key=&custom_field_value=x"),
        &["custom_field_key must not be empty"],
    );
    // Every problem at once, each once.
    let reply = get("days=999&limit=0&offset=x&stage_id=1&custom_field_value=v");
    assert_problems(
        &reply,
        &[
            "days must not be greater than 365",
            "limit must not be less than 1",
            "offset must be an integer number",
            "stage_id must be a UUID",
            "custom_field_key and custom_field_value must be provided together",
        ],
    );
    // A `+` sent unencoded arrives as a space and still counts as `+`.
    let plus = ago(1000.0).replace('Z', "+00:00");
    assert_eq!(ids(&get(&format!("created_after={plus}&limit=1"))), [DORA]);
}

#[test]
fn search_by_phone_digits_and_email_pieces() {
    let (_ws, server) = serve(&family());
    let search = |query: &str| ids(&server.get(&format!("{SEARCH}?{query}"), Some(KEY), &[]));

    assert_eq!(search("phone=12345678"), [ANA]);
    assert_eq!(
        search("phone=%2B56%20(9)%201234-5678"),
        [ANA],
        "sanitized to digits"
    );
    assert_eq!(
        search("phone=56"),
        [ANA, BEA],
        "a short piece, without the index"
    );
    assert_eq!(search("phone=5"), [ANA, BEA, DORA]);
    assert_eq!(search("email=ana.perez"), [ANA]);
    assert_eq!(search("email=EXAMPLE.COM"), [ANA, DORA], "case-insensitive");
    assert_eq!(search("email=@example.com"), [ANA, DORA], "a whole domain");
    assert_eq!(search("email=100%25real"), [CARLA], "% is literal");
    assert!(search("email=1%25%25").is_empty());
    assert_eq!(search("email=a_s"), [BEA], "_ is literal");
    assert!(search("email=a_p").is_empty());
    assert_eq!(
        search("email=x"),
        [ANA, CARLA, DORA],
        "one character, without the index"
    );
    assert_eq!(
        search("phone=87654321&email=dora@"),
        [BEA, DORA],
        "either matches"
    );
    assert_eq!(
        search("phone=abc&email=dora@"),
        [DORA],
        "a phone with no digit is absent"
    );
    assert_eq!(search("phone=&email=carla"), Vec::<String>::new());
    assert!(search("phone=99999999").is_empty());
    // A NUL ends text in SQLite's FTS5 queries: once a 500 (found by schemathesis).
    assert!(search("email=%C3%BBV%00ana").is_empty());
    assert!(search("email=ana%00").is_empty());
    assert_eq!(search("phone=12345678&email=x%00y"), [ANA]);
    for query in ["", "phone=", "email=%20%20", "phone=abc", "phone=--&email="] {
        server
            .get(&format!("{SEARCH}?{query}"), Some(KEY), &[])
            .assert_error(400, "Neither phone nor email provided");
    }
}

#[test]
fn search_answers_at_most_fifty_newest_first_whichever_plan_it_takes() {
    // 60 matches are sorted from the trigram index; 2,100 are too many to sort, and the
    // client's contacts are walked newest first instead. The answer is the same.
    for matching in [60u32, 2100] {
        let mut data = family();
        let contacts = data["contacts"].as_array_mut().unwrap();
        for i in 0..matching {
            let id = format!("60000000-0000-4000-8000-{i:012}");
            let mut c = contact(&id, CLIENT, "Lote", f64::from(i) / 10.0 + 0.01);
            c["phone"] = json!(format!("+56 2 2555 {i:04}"));
            contacts.push(c);
        }
        let (_ws, server) = serve(&data);

        let found = ids(&server.get(&format!("{SEARCH}?phone=22555"), Some(KEY), &[]));

        let expected: Vec<String> = (0..50)
            .map(|i| format!("60000000-0000-4000-8000-{i:012}"))
            .collect();
        assert_eq!(found, expected, "{matching} matches");
        let theirs = ids(&server.get(&format!("{SEARCH}?phone=22555"), Some(OTHER_KEY), &[]));
        assert!(theirs.is_empty(), "{matching} matches");
    }
}

/// 2024-01-01T00:00:00Z: conversations in the messages test start here.
const BASE_MS: i64 = 1_704_067_200_000;

#[test]
fn messages_page_by_fifty_oldest_first() {
    let mut data = family();
    let contacts = data["contacts"].as_array_mut().unwrap();
    let sizes = [0usize, 49, 50, 51, 101];
    for (n, size) in sizes.iter().enumerate() {
        let id = format!("70000000-0000-4000-8000-{n:012}");
        let mut c = contact(&id, CLIENT, "Charla", 1.0);
        let messages: Vec<Value> = (0..*size)
            .map(|i| {
                // Pairs share a time, so ids order them.
                json!({"id": format!("7{n}000000-0000-4000-8000-{:012}", 1000 - i),
                       "created_at": millis_to_rfc3339(BASE_MS + (i / 2) as i64 * 1000),
                       "direction": if i % 2 == 0 { "INBOUND" } else { "OUTBOUND" },
                       "type": "text", "status": "read", "body": format!("m{i}")})
            })
            .collect();
        c["messages"] = json!(messages);
        contacts.push(c);
    }
    let (_ws, server) = serve(&data);
    let page = |n: usize, page: &str| {
        let id = format!("70000000-0000-4000-8000-{n:012}");
        server.get(
            &format!("{CONTACT_ROUTE}/v2/{id}/messages?page={page}"),
            Some(KEY),
            &[],
        )
    };

    for (n, size) in sizes.iter().enumerate() {
        let pages = size.div_ceil(50).max(1);
        let mut seen = Vec::new();
        for p in 1..=pages + 1 {
            let reply = page(n, &p.to_string());
            assert_eq!(reply.status, 200, "{}", reply.body);
            let body = reply.json();
            assert_eq!(body["page"], p);
            assert_eq!(body["total"], *size);
            let on_page = body["messages"].as_array().unwrap();
            let expected_len = size.saturating_sub((p - 1) * 50).min(50);
            assert_eq!(on_page.len(), expected_len, "{size} messages, page {p}");
            assert_eq!(body["hasMore"], p * 50 < *size, "{size} messages, page {p}");
            seen.extend(
                on_page
                    .iter()
                    .map(|m| m["body"].as_str().unwrap().to_owned()),
            );
        }
        // Chronological; within a shared time, by ascending id (here: odd before even).
        let expected: Vec<String> = (0..*size)
            .map(|i| if i % 2 == 0 { i + 1 } else { i - 1 })
            .map(|i| if i >= *size { i - 1 } else { i })
            .map(|i| format!("m{i}"))
            .collect();
        assert_eq!(seen, expected, "{size} messages");
    }
    let first = page(3, "1").json();
    let keys: Vec<&String> = first["messages"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 11);
    let text = page(3, "1").body;
    assert!(text.starts_with(r#"{"messages":[{"id":"#), "{text}");
    assert!(
        text.ends_with(r#""page":1,"hasMore":true,"total":51}"#),
        "{text}"
    );
    for bad in ["0", "-1", "", "x", "1.5", "99999999999"] {
        page(3, bad).assert_error(400, "Invalid page parameter");
    }
    let no_page = server.get(
        &format!("{CONTACT_ROUTE}/v2/70000000-0000-4000-8000-000000000003/messages"),
        Some(KEY),
        &[],
    );
    no_page.assert_error(400, "Invalid page parameter");
}

#[test]
fn messages_check_the_key_then_the_id_then_the_page_then_the_contact() {
    let (_ws, server) = serve(&family());
    let get = |id: &str, page: &str, key: Option<&str>| {
        server.get(
            &format!("{CONTACT_ROUTE}/v2/{id}/messages?page={page}"),
            key,
            &[],
        )
    };

    get("nope", "0", None).assert_error(401, "Invalid or missing API key");
    get("nope", "0", Some(KEY)).assert_error(400, "Validation failed (uuid is expected)");
    get(ANA, "0", Some(KEY)).assert_error(400, "Invalid page parameter");
    get(OTHERS, "1", Some(KEY)).assert_error(404, "Contact not found");
    get(&OTHERS.replace('5', "6"), "1", Some(KEY)).assert_error(404, "Contact not found");
    let own = get(OTHERS, "1", Some(OTHER_KEY));
    assert_eq!(own.status, 200);
    assert_eq!(own.json()["messages"], json!([]));
}

#[test]
fn pipelines_in_fixture_order_with_their_stages() {
    let (_ws, server) = serve(&family());

    let reply = server.get(PIPELINE, Some(KEY), &[]);

    assert_eq!(reply.status, 200);
    let expected = format!(
        concat!(
            r#"[{{"id":"{}","name":"Ventas","description":"De lead a venta","stages":["#,
            r#"{{"id":"{}","name":"Nuevo","description":null}},"#,
            r#"{{"id":"{}","name":"Ganado","description":"Compró"}}]}},"#,
            r#"{{"id":"{}","name":"Soporte","description":null,"stages":["#,
            r#"{{"id":"{}","name":"Abierto","description":null}}]}}]"#
        ),
        SALES, NEW_LEAD, WON, SUPPORT, OPEN_CASE
    );
    assert_eq!(reply.body, expected);
    let theirs = server.get(PIPELINE, Some(OTHER_KEY), &[]).json();
    assert_eq!(theirs.as_array().unwrap().len(), 1);
    assert_eq!(theirs[0]["stages"][0]["id"], OTHER_STAGE);
}

#[test]
fn no_route_of_the_family_shows_another_clients_data() {
    let (_ws, server) = serve(&family());

    assert_eq!(list(&server, "days=365"), [ANA, BEA, CARLA]);
    assert!(!list(&server, "days=365").contains(&OTHERS.to_owned()));
    // Their stage and pipeline match nothing for us, even though a contact of theirs
    // stands in them.
    assert!(list(&server, &format!("days=365&stage_id={OTHER_STAGE}")).is_empty());
    assert!(
        list(
            &server,
            "days=365&pipeline_id=b3000000-0000-4000-8000-000000000003"
        )
        .is_empty()
    );
    let searched = ids(&server.get(
        &format!("{SEARCH}?phone=12345678&email=ana.perez"),
        Some(KEY),
        &[],
    ));
    assert_eq!(searched, [ANA], "their contact shares the phone and email");
    let theirs = ids(&server.get(&format!("{SEARCH}?phone=12345678"), Some(OTHER_KEY), &[]));
    assert_eq!(theirs, [OTHERS]);
    for path in [
        format!("{LIST}?days=1"),
        format!("{SEARCH}?phone=1"),
        PIPELINE.to_owned(),
        format!("{CONTACT_ROUTE}/v2/{ANA}/messages?page=1"),
    ] {
        server
            .get(&path, None, &[])
            .assert_error(401, "Invalid or missing API key");
        server
            .get(&path, Some("wrong"), &[])
            .assert_error(401, "Invalid or missing API key");
    }
}

#[test]
fn updated_at_moves_only_when_a_load_changes_something() {
    let ws = Workspace::new();
    let data = family();
    let file = ws.write("family.json", &data.to_string());
    ws.load(file.to_str().unwrap());
    let server = ws.serve(&["--no-demo"]);
    let updated = |id: &str| {
        let reply = server.get(&format!("{LIST}?days=365&limit=1000"), Some(KEY), &[]);
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["updated_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ana, bea, carla) = (updated(ANA), updated(BEA), updated(CARLA));
    std::thread::sleep(std::time::Duration::from_millis(20));

    ws.load(file.to_str().unwrap());
    assert_eq!(
        (updated(ANA), updated(BEA), updated(CARLA)),
        (ana.clone(), bea.clone(), carla.clone())
    );

    let mut changed = data.clone();
    changed["contacts"][3]["tickets"][0]["ticket_summary"] = json!("new summary"); // Ana's ticket
    changed["contacts"][2]["messages"] = json!([{"id": "80000000-0000-4000-8000-000000000001",
        "created_at": ago(1.0), "direction": "INBOUND", "type": "text", "status": "read"}]); // Bea
    changed["contacts"][1]["updated_at"] = json!("2030-01-01T00:00:00Z"); // Carla, explicit
    let file = ws.write("changed.json", &changed.to_string());
    ws.load(file.to_str().unwrap());

    assert!(updated(ANA) > ana, "a ticket change moves its contact");
    assert!(updated(BEA) > bea, "a new message moves its contact");
    assert_eq!(updated(CARLA), "2030-01-01T00:00:00.000Z");
    let after = format!("updated_after={}", ana.replace('Z', "%2B00:00"));
    assert_eq!(list(&server, &after), [ANA, BEA, CARLA]);
}

#[test]
fn a_database_of_the_v1_schema_migrates_forward_with_its_data() {
    // A V1 database as the previous release made it: its schema, its history row, rows.
    let ws = Workspace::new();
    let fresh = ws.path("fresh.db");
    Workspace::run_bare(&["--db", fresh.to_str().unwrap(), "migrate"]).assert_success();
    let v1_history: (String, String, String) = rusqlite::Connection::open(&fresh)
        .unwrap()
        .query_row(
            "SELECT name, applied_on, checksum FROM refinery_schema_history WHERE version = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    std::fs::create_dir_all(ws.db().parent().unwrap()).unwrap();
    let v1 = rusqlite::Connection::open(ws.db()).unwrap();
    let schema = std::fs::read_to_string(fixture_path("migrations/V1__initial.sql")).unwrap();
    v1.execute_batch(&schema).unwrap();
    v1.execute_batch(
        "CREATE TABLE refinery_schema_history (version int4 PRIMARY KEY, name VARCHAR(255),
                                               applied_on VARCHAR(255), checksum VARCHAR(255))",
    )
    .unwrap();
    v1.execute(
        "INSERT INTO refinery_schema_history VALUES (1, ?1, ?2, ?3)",
        [&v1_history.0, &v1_history.1, &v1_history.2],
    )
    .unwrap();
    v1.execute_batch(&format!(
        "PRAGMA foreign_keys = ON;
         BEGIN;
         INSERT INTO clients VALUES ('{CLIENT}', 'Tienda');
         INSERT INTO contacts (id, client_id, ai_customer_id, name, email, phone, platform,
             created_at, last_message_at, chat_status, is_chat_read, blocked, metadata,
             active_ticket_v2_id)
         VALUES ('{ANA}', '{CLIENT}', '{ANA}', 'Ana', 'Ana@Example.com', '+56 9 1234-5678',
             'sms', 1704067200000, 1706745600000, 'PENDING', 0, 0, '{{\"plan\":\"gold\"}}',
             'a1000000-0000-4000-8000-000000000001');
         INSERT INTO tickets VALUES ('a1000000-0000-4000-8000-000000000001', '{ANA}', 'OPEN',
             1704067200000, 1709251200000, 'resumen', '{{}}');
         COMMIT;"
    ))
    .unwrap();
    drop(v1);
    // The V1 database has no key: one is made the way an operator would.
    let migrate = ws.run(&["migrate"]);
    migrate.assert_success();
    assert!(migrate.stdout.contains("V2__family"), "{}", migrate.stdout);
    // V3 renders the stored contacts' answers (`check` compares them with their rows).
    assert!(
        migrate.stdout.contains("V3__read_model"),
        "{}",
        migrate.stdout
    );
    ws.run(&["keys", "create", "--client", CLIENT, "--key", KEY])
        .assert_success();
    ws.run(&["check"]).assert_success();

    let server = ws.serve(&["--no-demo"]);
    let info = server.info(ANA, Some(KEY)).json();
    assert_eq!(info["name"], "Ana");
    assert_eq!(info["metadata"], json!({"plan": "gold"}));
    assert_eq!(info["active_ticket"]["ticket_summary"], "resumen");
    let listed = server.get(
        &format!("{LIST}?created_after=2023-01-01T00:00:00Z"),
        Some(KEY),
        &[],
    );
    // updated_at of a V1 row: the latest time it carries (the ticket's update).
    assert_eq!(
        listed.json()[0]["updated_at"],
        "2024-03-01T00:00:00.000Z",
        "{}",
        listed.body
    );
    for query in [
        "phone=12345678",
        "phone=56",
        "email=ana@example",
        "email=EXAMPLE",
    ] {
        let found = ids(&server.get(&format!("{SEARCH}?{query}"), Some(KEY), &[]));
        assert_eq!(found, [ANA], "{query}");
    }
}

#[test]
fn new_fixture_fields_are_validated_with_their_paths() {
    let ws = Workspace::new();
    let mut data = family();
    data["clients"][0]["pipelines"][0]["stages"][1]["id"] = json!("not-a-uuid");
    data["clients"][0]["pipelines"][1]["colour"] = json!("red");
    data["contacts"][3]["tickets"][0]["stage_id"] = json!(7);
    data["contacts"][3]["updated_at"] = json!("yesterday");
    data["contacts"][3]["messages"] = json!([
        {"id": "80000000-0000-4000-8000-000000000001", "created_at": ago(1.0),
         "direction": "IN", "type": "fax", "status": "seen"},
        {"created_at": ago(1.0), "direction": "INBOUND", "type": "text", "status": "read",
         "media_url": 5},
        {"id": "80000000-0000-4000-8000-000000000001", "created_at": ago(1.0),
         "direction": "OUTBOUND", "type": "text", "status": "read"}
    ]);
    let file = ws.write("bad.json", &data.to_string());

    let result = ws.run(&["fixtures", "load", file.to_str().unwrap()]);

    result.assert_failure();
    for line in [
        "bad.json: $.clients[0].pipelines[0].stages[1].id: expected a UUID",
        "bad.json: $.clients[0].pipelines[1].colour: unknown field `colour`",
        "bad.json: $.contacts[3].tickets[0].stage_id: invalid type: integer `7`",
        "bad.json: $.contacts[3].updated_at: expected an RFC 3339 timestamp",
        "bad.json: $.contacts[3].messages[0].direction: expected one of INBOUND, OUTBOUND",
        "bad.json: $.contacts[3].messages[0].type: expected one of text, image, video",
        "bad.json: $.contacts[3].messages[0].status: expected one of sent, delivered, read, failed",
        "bad.json: $.contacts[3].messages[1]: missing field `id`",
        "bad.json: $.contacts[3].messages[1].media_url: invalid type: integer `5`",
    ] {
        assert!(
            result.stderr.contains(line),
            "expected {line:?} in:\n{}",
            result.stderr
        );
    }
    assert!(!ws.db().exists() || ws.dump().is_empty());
}

#[test]
fn records_of_the_family_never_move_to_another_owner() {
    let ws = Workspace::new();
    let mut data = family();
    data["contacts"][3]["messages"] = json!([{"id": "80000000-0000-4000-8000-000000000001",
        "created_at": ago(1.0), "direction": "INBOUND", "type": "text", "status": "read"}]);
    let file = ws.write("family.json", &data.to_string());
    ws.load(file.to_str().unwrap());
    let before = ws.dump();

    let mut moved = family();
    // Ana's message under Bea, client A's pipeline under client B, a stage of one
    // pipeline under the other.
    moved["contacts"][2]["messages"] = data["contacts"][3]["messages"].clone();
    let sales = moved["clients"][0]["pipelines"][0].clone();
    moved["clients"][1]["pipelines"]
        .as_array_mut()
        .unwrap()
        .push(sales);
    moved["clients"][0]["pipelines"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    let mut support_stages = moved["clients"][0]["pipelines"][0]["stages"]
        .as_array()
        .unwrap()
        .clone();
    support_stages.push(json!({"id": NEW_LEAD, "name": "robada"}));
    moved["clients"][0]["pipelines"][0]["stages"] = json!(support_stages);
    let file = ws.write("moved.json", &moved.to_string());
    let result = ws.run(&["fixtures", "load", file.to_str().unwrap()]);

    result.assert_failure();
    for line in [
        "$.contacts[2].messages[0].id: message 80000000-0000-4000-8000-000000000001 already belongs to contact 10000000",
        "$.clients[1].pipelines[1].id: pipeline b1000000-0000-4000-8000-000000000001 belongs to client aaaaaaaa",
        "$.clients[0].pipelines[0].stages[1].id: stage c1000000-0000-4000-8000-000000000001 already belongs to pipeline b1000000",
    ] {
        assert!(
            result.stderr.contains(line),
            "expected {line:?} in:\n{}",
            result.stderr
        );
    }
    assert_eq!(ws.dump(), before);
}

#[test]
fn the_demo_moves_to_now_when_served_and_not_when_loaded() {
    let newest_message = |ws: &Workspace| -> i64 {
        rusqlite::Connection::open(ws.db())
            .unwrap()
            .query_row("SELECT max(created_at) FROM messages", [], |r| r.get(0))
            .unwrap()
    };
    let in_file: i64 = {
        let demo: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture_path("fixtures/demo.json")).unwrap(),
        )
        .unwrap();
        let newest = demo["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["messages"].as_array().unwrap().iter())
            .map(|m| m["created_at"].as_str().unwrap().to_owned())
            .max()
            .unwrap();
        let probe = Workspace::new();
        let file = probe.write(
            "probe.json",
            &json!({"clients": [{"id": CLIENT, "name": "p"}],
            "contacts": [{"id": ANA, "client_id": CLIENT, "ai_customer_id": ANA, "name": "p",
                          "platform": "sms", "chat_status": "PENDING", "created_at": newest}]})
            .to_string(),
        );
        probe.load(file.to_str().unwrap());
        rusqlite::Connection::open(probe.db())
            .unwrap()
            .query_row("SELECT created_at FROM contacts", [], |r| r.get(0))
            .unwrap()
    };

    let loaded = Workspace::new();
    loaded.load(&fixture_path("fixtures/demo.json"));
    assert_eq!(
        newest_message(&loaded),
        in_file,
        "fixtures load moves nothing"
    );

    let served = Workspace::new();
    let before = chrono_free_now_ms();
    let server = served.serve(&[]);
    let after = chrono_free_now_ms();
    drop(server);
    let newest = newest_message(&served);
    assert!(
        (before - 1000..=after).contains(&newest),
        "{before} <= {newest} <= {after}"
    );
}

#[test]
fn a_piece_common_in_another_client_still_finds_all_of_ours() {
    let mut data = family();
    let contacts = data["contacts"].as_array_mut().unwrap();
    for i in 0..2100u32 {
        let id = format!("90000000-0000-4000-8000-{i:012}");
        let mut c = contact(&id, OTHER_CLIENT, "Suyo", 1.0);
        c["phone"] = json!(format!("+56 2 2555 {i:04}"));
        contacts.push(c);
    }
    for i in 0..3u32 {
        let id = format!("91000000-0000-4000-8000-{i:012}");
        let mut c = contact(&id, CLIENT, "Nuestro", 1.0 + f64::from(i));
        c["phone"] = json!(format!("+56 2 2555 99{i:02}"));
        contacts.push(c);
    }
    let (_ws, server) = serve(&data);

    let ours = ids(&server.get(&format!("{SEARCH}?phone=22555"), Some(KEY), &[]));
    let none = ids(&server.get(&format!("{SEARCH}?phone=2255599"), Some(OTHER_KEY), &[]));

    let expected: Vec<String> = (0..3)
        .map(|i| format!("91000000-0000-4000-8000-{i:012}"))
        .collect();
    assert_eq!(ours, expected);
    assert!(none.is_empty());
}

#[test]
fn the_demo_tells_a_consistent_story() {
    let demo: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path("fixtures/demo.json")).unwrap())
            .unwrap();
    for c in demo["contacts"].as_array().unwrap() {
        let created = c["created_at"].as_str().unwrap();
        let name = c["name"].as_str().unwrap();
        let messages = c["messages"].as_array().unwrap();
        assert!(!messages.is_empty(), "{name} has no conversation");
        let times: Vec<&str> = messages
            .iter()
            .map(|m| m["created_at"].as_str().unwrap())
            .collect();
        // All in UTC with milliseconds, so text order is time order.
        assert!(
            times.iter().all(|t| *t >= created),
            "{name} wrote before they existed"
        );
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{name}'s messages are out of order"
        );
        if let Some(last) = c["last_message_at"].as_str() {
            assert_eq!(Some(&last), times.last(), "{name}'s last message");
        }
        for t in c["tickets"].as_array().into_iter().flatten() {
            assert!(
                t["created_at"].as_str().unwrap() >= created,
                "{name}'s ticket is older"
            );
        }
    }
}
