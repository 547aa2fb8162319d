//! `contactd fixtures generate`: a deterministic, realistic fixture file of any size, for
//! benchmarks and big demos. The same `--contacts` and `--seed` always give the same file.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::model::{ChatStatus, MessageStatus, MessageType, Platform, Timestamp};
use crate::progress::{Progress, Unit};

/// Contacts per generated client; a file always has at least two clients.
const CONTACTS_PER_CLIENT: u64 = 100_000;
const MAX_CLIENTS: u64 = 50;

const FIRST_NAMES: &[&str] = &[
    "Ana",
    "João",
    "Zoë",
    "Mateo",
    "Søren",
    "Chloé",
    "Łukasz",
    "Aiko",
    "Olga",
    "Fatima",
    "Emeka",
    "María José",
    "An",
    "Sofía",
    "Liam",
    "Priya",
    "Camila",
    "Björn",
    "Hana",
    "Diego",
    "Isabella",
    "Tomás",
    "Noa",
    "Valentina",
    "Kwame",
    "Élodie",
    "Ahmet",
    "Lucía",
    "Pedro",
    "Yuki",
];
const LAST_NAMES: &[&str] = &[
    "Pérez",
    "Silva",
    "Müller",
    "González",
    "Nowak",
    "Tanaka",
    "Ivanova",
    "Al-Sayed",
    "Okafor",
    "Fernández",
    "Nguyễn",
    "Rodríguez",
    "O'Connor",
    "Sharma",
    "Rojas",
    "Andersson",
    "Kim",
    "Martínez",
    "Rossi",
    "Herrera",
    "Levi",
    "Castro",
    "Mensah",
    "Laurent",
    "Yılmaz",
    "Vargas",
];
const MESSAGES: &[&str] = &[
    "Hola, ¿tienen stock de la talla M?",
    "Gracias por la ayuda 🙌",
    "¿A qué hora abren mañana?",
    "Necesito cambiar mi hora para el jueves",
    "Olá! Vocês entregam em Santiago?",
    "The package arrived damaged",
    "Where is my order?",
];
const OPEN_STATUSES: &[&str] = &["OPEN", "IN_PROGRESS", "WAITING_CUSTOMER", "ESCALATED"];
const SUMMARIES: &[&str] = &[
    "Customer asks about delivery times.",
    "Cambio de talla solicitado; se envió etiqueta de devolución.",
    "Paciente reagenda control para la próxima semana.",
    "Refund approved after photo of damaged box.",
];
const TAGS: &[&str] = &[
    "vip",
    "nuevo",
    "mayorista",
    "recurrente",
    "promo",
    "newsletter",
];

const PIPELINES: &[(&str, &[&str])] = &[
    (
        "Ventas",
        &["Nuevo lead", "Calificado", "Propuesta", "Ganado"],
    ),
    (
        "Soporte",
        &["Recibido", "En curso", "Esperando cliente", "Resuelto"],
    ),
];
const INBOUND: &[&str] = &[
    "Hola, ¿tienen stock de la talla M?",
    "¿A qué hora abren mañana?",
    "Olá! Vocês entregam em Santiago?",
    "Where is my order?",
    "The package arrived damaged",
    "Gracias por la ayuda 🙌",
    "Necesito cambiar mi hora para el jueves",
];
const OUTBOUND: &[&str] = &[
    "¡Hola! ¿En qué te podemos ayudar?",
    "Sí, tenemos stock. ¿Te lo reservo?",
    "El despacho demora 2 a 3 días hábiles.",
    "Sorry about that — could you send a photo?",
    "Listo, quedó confirmada tu hora ✅",
];

/// The average conversation length when none is asked for: a million contacts then
/// make about 5 million messages, a few GB of fixture and database.
pub const DEFAULT_MESSAGES_PER_CONTACT: u32 = 5;

const YEAR_MS: u64 = 365 * 24 * 3600 * 1000;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub contacts: u64,
    /// The same seed and end write the same file.
    pub seed: u64,
    pub messages_per_contact: u32,
    /// Every generated time is before this: contacts are created in the year before
    /// it, and write until it.
    pub end: Timestamp,
}

/// A generated client: its id and the one plain key the file gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedClient {
    pub id: String,
    pub key: String,
    /// Its pipelines' stage ids, first pipeline first.
    stages: Vec<String>,
    pipelines: Value,
}

/// Writes a fixture file of `shape.contacts` contacts, each with a conversation of
/// `shape.messages_per_contact` messages on average, to `out`, streaming, and returns
/// the clients (with their keys) it holds. Each contact written counts in `progress`.
pub fn generate(
    shape: &Shape,
    out: impl Write,
    progress: &Progress,
) -> io::Result<Vec<GeneratedClient>> {
    let &Shape {
        contacts,
        seed,
        messages_per_contact,
        end,
    } = shape;
    let start = end.as_millis() - YEAR_MS as i64;
    let mut rng = fastrand::Rng::with_seed(seed);
    let client_count = contacts.div_ceil(CONTACTS_PER_CLIENT).clamp(2, MAX_CLIENTS);
    let clients: Vec<GeneratedClient> = (0..client_count)
        .map(|i| {
            let id = uuid(&mut rng);
            let key = format!("gen-{seed}-{i}-{:016x}", rng.u64(..));
            let mut stages = Vec::new();
            let pipelines: Vec<Value> = PIPELINES
                .iter()
                .map(|(name, stage_names)| {
                    let stage_list: Vec<Value> = stage_names
                        .iter()
                        .map(|s| {
                            let stage = uuid(&mut rng);
                            stages.push(stage.clone());
                            json!({"id": stage, "name": s, "description": null})
                        })
                        .collect();
                    json!({"id": uuid(&mut rng), "name": name, "description": null,
                           "stages": stage_list})
                })
                .collect();
            GeneratedClient {
                id,
                key,
                stages,
                pipelines: Value::Array(pipelines),
            }
        })
        .collect();

    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    out.write_all(b"{\"clients\":[")?;
    for (i, client) in clients.iter().enumerate() {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        let record = json!({
            "id": client.id,
            "name": format!("Generated Store {}", i + 1),
            "api_keys": [{"name": "generated", "key": client.key}],
            "pipelines": client.pipelines,
            "channels": channels_of(i),
            "team_members": team_of(i),
        });
        serde_json::to_writer(&mut out, &record)?;
    }
    out.write_all(b"],\n\"contacts\":[\n")?;
    progress.stage("generating contacts", Unit::Records, Some(contacts));
    for n in 0..contacts {
        if n > 0 {
            out.write_all(b",\n")?;
        }
        let client = &clients[(n % client_count) as usize];
        let record = contact(
            &mut rng,
            n,
            client,
            messages_per_contact,
            (start, end.as_millis() - 1),
        );
        serde_json::to_writer(&mut out, &record)?;
        progress.add(1);
    }
    out.write_all(b"\n]}\n")?;
    out.flush()?;
    Ok(clients)
}

fn contact(
    rng: &mut fastrand::Rng,
    n: u64,
    client: &GeneratedClient,
    messages_per_contact: u32,
    (start, end_ms): (i64, i64),
) -> Value {
    // Cycling by index guarantees every platform and status even in a small file.
    let platform = Platform::ALL[(n % Platform::ALL.len() as u64) as usize];
    let chat_status = ChatStatus::ALL[((n / 3) % ChatStatus::ALL.len() as u64) as usize];
    let created = start + rng.u64(..YEAR_MS) as i64;
    // The last message falls anywhere up to the end, most often lately (1 - u², u
    // uniform): about a fifth of the contacts wrote in the last week, as in a live demo.
    let u = rng.f64();
    let last = created + ((end_ms - created) as f64 * (1.0 - u * u)) as i64;
    let id = uuid(rng);
    let name = format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES));
    let phone_platform = matches!(
        platform,
        Platform::Whatsapp | Platform::WebWhatsapp | Platform::Sms | Platform::Voice
    );

    let mut metadata = serde_json::Map::new();
    metadata.insert("tags".into(), json!([pick(rng, TAGS), pick(rng, TAGS)]));
    if rng.bool() {
        metadata.insert(
            "plan".into(),
            json!(pick(rng, &["gold", "silver", "bronze"])),
        );
    }
    if rng.u8(..4) == 0 {
        metadata.insert(
            "lifetime_value".into(),
            json!(rng.u32(..500_000) as f64 / 100.0),
        );
    }
    let integration = match rng.u8(..4) {
        0 => json!({"crm": {"provider": "hubspot", "id": rng.u32(1000..1_000_000)}}),
        1 => {
            json!({"shopify": {"customer_id": 7_290_000_000_000_000_000u64 + rng.u64(..1_000_000_000_000_000), "orders": rng.u8(..40)}})
        }
        _ => Value::Null,
    };

    // Most contacts have tickets: a closed one, an active one, or both.
    let mut tickets = Vec::new();
    let (mut active, mut closed) = (Value::Null, Value::Null);
    let shape = rng.u8(..10);
    if (2..7).contains(&shape) {
        let stage = client.stages.last().map_or(Value::Null, |s| json!(s));
        let t = ticket(rng, "CLOSED", created, created + 3_600_000, stage);
        closed = t["id"].clone();
        tickets.push(t);
    }
    if shape >= 5 {
        let status = pick(rng, OPEN_STATUSES);
        let stage = json!(client.stages[rng.usize(..client.stages.len())]);
        let t = ticket(rng, status, last - 3_600_000, last, stage);
        active = t["id"].clone();
        tickets.push(t);
    }

    let phone = if phone_platform || rng.bool() {
        json!(format!("+569{:08}", rng.u32(..100_000_000)))
    } else {
        Value::Null
    };
    let content = if rng.u8(..5) == 0 {
        Value::Null
    } else {
        json!(pick(rng, MESSAGES))
    };
    let them = phone.as_str().map_or_else(|| name.clone(), str::to_owned);
    let messages = conversation(
        rng,
        n,
        messages_per_contact,
        (created, last),
        &content,
        &them,
    );

    json!({
        "id": id,
        "client_id": client.id,
        "ai_customer_id": uuid(rng),
        "name": name,
        "email": if rng.u8(..10) < 6 { json!(format!("contact{n}@example.com")) } else { Value::Null },
        "phone": phone,
        "platform": platform.as_str(),
        "created_at": timestamp(created),
        "last_message_at": timestamp(last),
        "last_message_content": content,
        "chat_status": chat_status.as_str(),
        "is_chat_read": rng.bool(),
        "blocked": rng.u8(..50) == 0,
        "default_stage_id": if rng.bool() { json!(client.stages[0]) } else { Value::Null },
        "current_integration_data": integration,
        "metadata": metadata,
        "active_ticket_v2_id": active,
        "last_closed_ticket_v2_id": closed,
        "tickets": tickets,
        "messages": messages,
    })
}

/// A conversation between `created` and `last` (its last message), in both directions,
/// of every type, `average` messages long on average with a long tail: nine contacts
/// in ten have up to `average`, the tenth from `average` to ten times that.
fn conversation(
    rng: &mut fastrand::Rng,
    n: u64,
    average: u32,
    (created, last): (i64, i64),
    last_content: &Value,
    them: &str,
) -> Vec<Value> {
    if average == 0 {
        return Vec::new();
    }
    let count = if rng.u8(..10) == 0 {
        rng.u32(average..=average * 10)
    } else {
        rng.u32(..=average)
    };
    let us = "+56229400100";
    let span = (last - created).max(1) as u64;
    let mut times: Vec<i64> = (1..count)
        .map(|_| created + rng.u64(..span) as i64)
        .collect();
    times.sort_unstable();
    times.push(last);
    let count = count as usize;
    times
        .iter()
        .take(count)
        .enumerate()
        .map(|(i, &at)| {
            let newest = i + 1 == count;
            let inbound = newest || rng.u8(..2) == 0;
            // Cycling through the types guarantees each one even in a small file.
            let kind = if newest {
                MessageType::Text
            } else {
                MessageType::ALL[(n as usize + i) % MessageType::ALL.len()]
            };
            let body = match kind {
                _ if newest && !last_content.is_null() => last_content.clone(),
                MessageType::Text => json!(pick(rng, if inbound { INBOUND } else { OUTBOUND })),
                MessageType::Template => json!("Hola {{1}}, te recordamos tu hora de mañana."),
                MessageType::Location => json!("📍 Av. Providencia 1234, Santiago"),
                MessageType::Document => json!("Presupuesto.pdf"),
                _ => Value::Null,
            };
            let media = match kind {
                MessageType::Text | MessageType::Template | MessageType::Location => Value::Null,
                _ => json!(format!("https://cdn.example.com/m/{:016x}", rng.u64(..))),
            };
            let status = if inbound {
                MessageStatus::Read
            } else {
                MessageStatus::ALL[rng.usize(..MessageStatus::ALL.len())]
            };
            json!({
                "id": uuid(rng),
                "body": body,
                "created_at": timestamp(at),
                "direction": if inbound { "INBOUND" } else { "OUTBOUND" },
                "from": if inbound { them } else { us },
                "to": if inbound { us } else { them },
                "type": kind.as_str(),
                "status": status.as_str(),
                "media_url": media,
            })
        })
        .collect()
}

fn ticket(
    rng: &mut fastrand::Rng,
    status: &str,
    created: i64,
    updated: i64,
    stage: Value,
) -> Value {
    json!({
        "id": uuid(rng),
        "status": status,
        "created_at": timestamp(created),
        "updated_at": timestamp(updated),
        "ticket_summary": if rng.bool() { json!(pick(rng, SUMMARIES)) } else { Value::Null },
        "metadata": {"priority": pick(rng, &["low", "normal", "high"])},
        "stage_id": stage,
    })
}

/// Client `i`'s channels (SPEC 11.0): a WhatsApp number with its `phone_id`, WhatsApp
/// Web and a webchat. Made from the index alone, so the contacts' random draws (and a
/// seed's file) stay as they were before channels existed.
fn channels_of(i: usize) -> Value {
    let id = |k: usize| format!("c4a{i:05x}-0000-4000-8000-{k:012x}");
    let number = format!("+1555{i:07}");
    json!([
        {"id": id(1), "type": "whatsapp", "phone_number": number,
         "phone_id": format!("gen-{i}-whatsapp"), "name": "WhatsApp"},
        {"id": id(2), "type": "web-whatsapp", "phone_number": number,
         "phone_id": format!("gen-{i}-web-whatsapp"), "name": "WhatsApp Web"},
        {"id": id(3), "type": "webchat", "phone_number": null, "phone_id": null,
         "name": "Web chat"}
    ])
}

/// Client `i`'s three team members.
fn team_of(i: usize) -> Value {
    let names = [("Alex", "Rivera"), ("Sam", "Torres"), ("Noa", "Castillo")];
    let members: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(k, (first, last))| {
            json!({"id": format!("7ea{i:05x}-0000-4000-8000-{k:012x}"), "first_name": first,
                   "last_name": last, "email": format!("{}@store{i}.example", first.to_lowercase()),
                   "phone": null})
        })
        .collect();
    Value::Array(members)
}

fn pick<'a>(rng: &mut fastrand::Rng, from: &[&'a str]) -> &'a str {
    from[rng.usize(..from.len())]
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes())
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn timestamp(ms: i64) -> String {
    // In range for any --end a Timestamp holds; an empty string would fail the load
    // visibly.
    Timestamp::from_millis(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, FixtureSource};

    /// 2026-12-01T00:00:00Z.
    const END_MS: i64 = 1_796_083_200_000;

    fn shape(contacts: u64, seed: u64, messages_per_contact: u32) -> Shape {
        Shape {
            contacts,
            seed,
            messages_per_contact,
            end: Timestamp::from_millis(END_MS).unwrap(),
        }
    }

    #[test]
    fn every_generated_time_is_before_the_end_and_the_last_weeks_are_busy() {
        let mut text = Vec::new();
        generate(&shape(300, 1, 5), &mut text, &Progress::hidden()).unwrap();
        let text = String::from_utf8(text).unwrap();
        let times: Vec<i64> = text
            .split("_at\":\"")
            .skip(1)
            .map(|rest| {
                let t = &rest[..rest.find('"').unwrap()];
                Timestamp::parse_rfc3339(t).unwrap().as_millis()
            })
            .collect();
        assert!(times.len() > 300);
        assert!(times.iter().all(|&t| t <= END_MS), "nothing after --end");
        let week = 7 * 24 * 3600 * 1000;
        let recent = times.iter().filter(|&&t| t > END_MS - week).count();
        assert!(
            recent > 0,
            "a generated demo has activity in its last 7 days"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_file_and_another_seed_another() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut c = Vec::new();
        generate(&shape(50, 7, 5), &mut a, &Progress::hidden()).unwrap();
        generate(&shape(50, 7, 5), &mut b, &Progress::hidden()).unwrap();
        generate(&shape(50, 8, 5), &mut c, &Progress::hidden()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_generated_file_loads_and_covers_every_platform_and_status() {
        let mut text = Vec::new();
        let clients = generate(&shape(200, 1, 5), &mut text, &Progress::hidden()).unwrap();
        let text = String::from_utf8(text).unwrap();
        for p in Platform::ALL {
            assert!(text.contains(&format!("\"platform\":\"{p}\"")), "{p}");
        }
        for s in ChatStatus::ALL {
            assert!(text.contains(&format!("\"chat_status\":\"{s}\"")), "{s}");
        }
        for t in MessageType::ALL {
            assert!(text.contains(&format!("\"type\":\"{t}\"")), "{t}");
        }
        for d in ["INBOUND", "OUTBOUND"] {
            assert!(text.contains(&format!("\"direction\":\"{d}\"")), "{d}");
        }
        assert_eq!(clients.len(), 2);

        let dir = tempfile::tempdir().unwrap();
        let options = crate::store::StoreOptions {
            path: dir.path().join("g.db"),
            pool_size: 1,
        };
        let (store, _) = crate::store::Store::open(&options).unwrap();
        let source = FixtureSource {
            name: "generated.json".into(),
            text,
        };
        let summary = fixtures::load(&store, vec![source], &Progress::hidden()).unwrap();
        assert_eq!(summary.contacts, 200);
        assert!(
            summary.tickets > 100,
            "most contacts have tickets: {summary}"
        );
        assert_eq!(summary.pipelines, 4);
        // An average of 5 (the long tail makes it noisy on 200 contacts).
        assert!((600..1600).contains(&summary.messages), "{summary}");
    }

    #[test]
    fn zero_messages_per_contact_makes_none() {
        let mut text = Vec::new();
        generate(&shape(20, 1, 0), &mut text, &Progress::hidden()).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("\"messages\":[]"));
        assert!(!text.contains("\"direction\""));
    }
}
