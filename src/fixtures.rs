//! Fixture files: parsing with a JSON path for every problem, and the all-or-nothing load.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api_key::{self, KeyHash};
use crate::model::{
    ChatStatus, ClientId, Contact, ContactId, CustomerId, JsonObject, Platform, Ticket, TicketId,
    TicketStatus, Timestamp,
};
use crate::store::{FixtureWriter, Store, StoreError};

/// The demo data set, compiled into the binary.
const DEMO_JSON: &str = include_str!("../fixtures/demo.json");

/// The text of one fixture file and the name problems are reported under.
#[derive(Debug, Clone)]
pub struct FixtureSource {
    pub name: String,
    pub text: String,
}

impl FixtureSource {
    pub fn demo() -> Self {
        Self {
            name: "fixtures/demo.json (bundled)".to_owned(),
            text: DEMO_JSON.to_owned(),
        }
    }
}

/// One thing wrong with the input, located by file and JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} problem(s) in the fixtures; nothing was loaded:\n{}",
        problems.len(),
        problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("\n")
    )]
    Invalid { problems: Vec<Problem> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a successful load wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub files: usize,
    pub clients: usize,
    pub api_keys: usize,
    pub contacts: usize,
    pub tickets: usize,
    /// A key and one of its client's contacts, to show a ready request with.
    pub sample: Option<(String, ContactId)>,
}

impl fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} file(s): {} client(s), {} API key(s), {} contact(s), {} ticket(s)",
            self.files, self.clients, self.api_keys, self.contacts, self.tickets
        )
    }
}

/// Reads the files named, taking every `*.json` of a folder in name order.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<FixtureSource>, LoadError> {
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |source| LoadError::Read { path, source }
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut in_folder = Vec::new();
            for entry in std::fs::read_dir(path).map_err(read_error(path))? {
                let file = entry.map_err(read_error(path))?.path();
                if file.extension().is_some_and(|e| e == "json") && file.is_file() {
                    in_folder.push(file);
                }
            }
            if in_folder.is_empty() {
                return Err(LoadError::Read {
                    path: path.clone(),
                    source: std::io::Error::other("the folder has no *.json file"),
                });
            }
            in_folder.sort();
            files.extend(in_folder);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).map_err(read_error(&file))?;
            // Editors on some systems start UTF-8 files with a byte-order mark; JSON
            // parsers do not expect one.
            let text = match text.strip_prefix('\u{feff}') {
                Some(rest) => rest.to_owned(),
                None => text,
            };
            Ok(FixtureSource {
                name: file.display().to_string(),
                text,
            })
        })
        .collect()
}

/// The problems that can be found without a database (everything but references to
/// stored clients and tickets). The fuzz target drives this.
pub fn validate(sources: &[FixtureSource]) -> Vec<Problem> {
    parse(sources).1
}

/// Validates every source and writes them all in one transaction, or writes nothing and
/// returns every problem found.
pub fn load(store: &Store, sources: &[FixtureSource]) -> Result<LoadSummary, LoadError> {
    let started = std::time::Instant::now();
    let (fixture, mut problems) = parse(sources);
    tracing::debug!(elapsed = ?started.elapsed(), "fixtures parsed");
    store.write(|writer| {
        problems.extend(check_against_store(&fixture, writer)?);
        tracing::debug!(elapsed = ?started.elapsed(), "fixtures checked against the database");
        if !problems.is_empty() {
            return Err(LoadError::Invalid {
                problems: std::mem::take(&mut problems),
            });
        }
        write(&fixture, writer)?;
        tracing::debug!(elapsed = ?started.elapsed(), "fixtures written");
        Ok(fixture.summary(sources.len()))
    })
}

// ---------------------------------------------------------------------------------------
// The file format, as serde reads it. Unknown keys are errors everywhere.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRecord<'a> {
    #[serde(default, borrow)]
    clients: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    contacts: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientRecord {
    id: ClientId,
    name: String,
    #[serde(default)]
    api_keys: Vec<ApiKeyRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyRecord {
    name: String,
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactRecord {
    id: ContactId,
    client_id: ClientId,
    ai_customer_id: CustomerId,
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    platform: Platform,
    created_at: Timestamp,
    #[serde(default)]
    last_message_at: Option<Timestamp>,
    #[serde(default)]
    last_message_content: Option<String>,
    chat_status: ChatStatus,
    #[serde(default)]
    is_chat_read: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    default_stage_id: Option<String>,
    #[serde(default)]
    current_integration_data: Option<JsonObject>,
    #[serde(default = "JsonObject::empty")]
    metadata: JsonObject,
    #[serde(default)]
    active_ticket_v2_id: Option<TicketId>,
    #[serde(default)]
    last_closed_ticket_v2_id: Option<TicketId>,
    #[serde(default)]
    tickets: Vec<TicketRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketRecord {
    id: TicketId,
    status: TicketStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(default)]
    ticket_summary: Option<String>,
    #[serde(default = "JsonObject::empty")]
    metadata: JsonObject,
}

// ---------------------------------------------------------------------------------------
// The validated fixture, each record with the place it came from.

/// Where a record stands: the file and the JSON path of the record itself.
#[derive(Debug, Clone)]
struct Origin {
    file: usize,
    path: String,
}

struct ClientFixture {
    origin: Origin,
    id: ClientId,
    name: String,
    keys: Vec<KeyFixture>,
}

struct KeyFixture {
    name: String,
    plain: String,
    hash: KeyHash,
}

struct ContactFixture {
    origin: Origin,
    contact: Contact,
    tickets: Vec<Ticket>,
}

#[derive(Default)]
struct Fixture {
    files: Vec<String>,
    clients: Vec<ClientFixture>,
    contacts: Vec<ContactFixture>,
}

impl Fixture {
    fn problem(&self, origin: &Origin, suffix: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: self.files[origin.file].clone(),
            path: format!("{}{suffix}", origin.path),
            message: message.into(),
        }
    }

    fn place(&self, origin: &Origin, suffix: &str) -> String {
        format!("{}: {}{suffix}", self.files[origin.file], origin.path)
    }

    fn summary(&self, files: usize) -> LoadSummary {
        let sample = self.clients.iter().find_map(|client| {
            let key = client.keys.first()?;
            let contact = self
                .contacts
                .iter()
                .find(|c| c.contact.client_id == client.id)?;
            Some((key.plain.clone(), contact.contact.id))
        });
        LoadSummary {
            files,
            clients: self.clients.len(),
            api_keys: self.clients.iter().map(|c| c.keys.len()).sum(),
            contacts: self.contacts.len(),
            tickets: self.contacts.iter().map(|c| c.tickets.len()).sum(),
            sample,
        }
    }
}

/// Parses every source; the checks that need no database happen here.
fn parse(sources: &[FixtureSource]) -> (Fixture, Vec<Problem>) {
    let mut fixture = Fixture {
        files: sources.iter().map(|s| s.name.clone()).collect(),
        ..Fixture::default()
    };
    let mut problems = Vec::new();
    for (file, source) in sources.iter().enumerate() {
        let mut problem_at = |path: String, message: String| {
            problems.push(Problem {
                file: source.name.clone(),
                path,
                message,
            });
        };
        let record: FileRecord<'_> = match from_json(&source.text, "$", true) {
            Ok(record) => record,
            Err((path, message)) => {
                problem_at(path, message);
                continue;
            }
        };
        for (i, raw) in record.clients.iter().enumerate() {
            let origin = Origin {
                file,
                path: format!("$.clients[{i}]"),
            };
            match from_json::<ClientRecord>(raw.get(), &origin.path, false) {
                Ok(r) => fixture.clients.push(client_fixture(origin, r)),
                Err((path, message)) => problem_at(path, message),
            }
        }
        for (i, raw) in record.contacts.iter().enumerate() {
            let origin = Origin {
                file,
                path: format!("$.contacts[{i}]"),
            };
            match from_json::<ContactRecord>(raw.get(), &origin.path, false) {
                Ok(r) => fixture.contacts.push(contact_fixture(origin, r)),
                Err((path, message)) => problem_at(path, message),
            }
        }
    }
    problems.extend(check_within(&fixture));
    (fixture, problems)
}

/// Deserialises the JSON object `text`, returning on failure the JSON path (below
/// `base`) and serde's message. Positions are kept only for whole files: inside a record they would count
/// from the record's first character, which misleads more than it helps.
fn from_json<'a, T: Deserialize<'a>>(
    text: &'a str,
    base: &str,
    keep_position: bool,
) -> Result<T, (String, String)> {
    // serde would also read a struct from an array, by position; the format has none.
    let first = text.trim_start().chars().next();
    if first.is_some_and(|c| c != '{') {
        let got = text.trim_start().chars().take(20).collect::<String>();
        return Err((
            base.to_owned(),
            format!("expected a JSON object, got {got}"),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let describe = |e: serde_json::Error| {
        let mut message = e.to_string();
        if !keep_position || !(e.is_syntax() || e.is_eof()) {
            let position = format!(" at line {} column {}", e.line(), e.column());
            if let Some(stripped) = message.strip_suffix(&position) {
                message.truncate(stripped.len());
            }
        }
        message
    };
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = path_from(base, e.path());
        (path, describe(e.into_inner()))
    })?;
    de.end().map_err(|e| (base.to_owned(), describe(e)))?;
    Ok(value)
}

/// Appends serde's path segments to a JSON path such as `$.contacts[3]`.
fn path_from(base: &str, segments: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut path = base.to_owned();
    for segment in segments {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                path.push('.');
                path.push_str(key);
            }
            Segment::Unknown => path.push_str(".?"),
        }
    }
    path
}

fn client_fixture(origin: Origin, r: ClientRecord) -> ClientFixture {
    ClientFixture {
        origin,
        id: r.id,
        name: r.name,
        keys: r
            .api_keys
            .into_iter()
            .map(|k| KeyFixture {
                hash: api_key::hash(&k.key),
                name: k.name,
                plain: k.key,
            })
            .collect(),
    }
}

fn contact_fixture(origin: Origin, r: ContactRecord) -> ContactFixture {
    let tickets = r
        .tickets
        .into_iter()
        .map(|t| Ticket {
            id: t.id,
            ai_contact_id: r.id,
            status: t.status,
            created_at: t.created_at,
            updated_at: t.updated_at,
            ticket_summary: t.ticket_summary,
            metadata: t.metadata,
        })
        .collect();
    let contact = Contact {
        id: r.id,
        client_id: r.client_id,
        ai_customer_id: r.ai_customer_id,
        name: r.name,
        email: r.email,
        phone: r.phone,
        platform: r.platform,
        created_at: r.created_at,
        last_message_at: r.last_message_at.unwrap_or(r.created_at),
        last_message_content: r.last_message_content,
        chat_status: r.chat_status,
        is_chat_read: r.is_chat_read,
        blocked: r.blocked,
        default_stage_id: r.default_stage_id,
        active_ticket_v2_id: r.active_ticket_v2_id,
        last_closed_ticket_v2_id: r.last_closed_ticket_v2_id,
        current_integration_data: r.current_integration_data,
        metadata: r.metadata,
    };
    ContactFixture {
        origin,
        contact,
        tickets,
    }
}

/// Checks across the records of all files: ids given twice, empty keys.
fn check_within(fixture: &Fixture) -> Vec<Problem> {
    let mut seen = FirstSeen::new(fixture);
    for client in &fixture.clients {
        seen.once("client id", client.id.to_string(), &client.origin, ".id");
        for (k, key) in client.keys.iter().enumerate() {
            let suffix = format!(".api_keys[{k}].key");
            if key.plain.trim().is_empty() {
                let problem =
                    fixture.problem(&client.origin, &suffix, "an API key cannot be empty");
                seen.problems.push(problem);
                continue;
            }
            // Compared by digest, so the key text never goes into a message.
            let digest = key.hash.iter().map(|b| format!("{b:02x}")).collect();
            seen.once("this API key", digest, &client.origin, &suffix);
        }
    }
    for c in &fixture.contacts {
        seen.once("contact id", c.contact.id.to_string(), &c.origin, ".id");
        for (t, ticket) in c.tickets.iter().enumerate() {
            let suffix = format!(".tickets[{t}].id");
            seen.once("ticket id", ticket.id.to_string(), &c.origin, &suffix);
        }
    }
    seen.problems
}

/// Remembers where each id was first given, and reports every later repeat.
struct FirstSeen<'f> {
    fixture: &'f Fixture,
    places: HashMap<(&'static str, String), String>,
    problems: Vec<Problem>,
}

impl<'f> FirstSeen<'f> {
    fn new(fixture: &'f Fixture) -> Self {
        Self {
            fixture,
            places: HashMap::new(),
            problems: Vec::new(),
        }
    }

    fn once(&mut self, kind: &'static str, id: String, origin: &Origin, suffix: &str) {
        match self.places.entry((kind, id)) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let message = format!("{kind} is given twice; first at {}", first.get());
                self.problems
                    .push(self.fixture.problem(origin, suffix, message));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(self.fixture.place(origin, suffix));
            }
        }
    }
}

/// Checks that need the database: the client exists, tickets belong to their contact,
/// and the active and last closed tickets have the right status.
fn check_against_store(
    fixture: &Fixture,
    writer: &FixtureWriter<'_>,
) -> Result<Vec<Problem>, StoreError> {
    let mut problems = Vec::new();
    for c in &fixture.contacts {
        let contact = &c.contact;
        let client_known = fixture.clients.iter().any(|cl| cl.id == contact.client_id)
            || writer.client_exists(&contact.client_id)?;
        if !client_known {
            problems.push(fixture.problem(
                &c.origin,
                ".client_id",
                format!(
                    "no client with id {} in these files or the database",
                    contact.client_id
                ),
            ));
        }
        for (t, ticket) in c.tickets.iter().enumerate() {
            if let Some((owner, _)) = writer.ticket_owner(&ticket.id)?
                && owner != contact.id
            {
                problems.push(fixture.problem(
                    &c.origin,
                    &format!(".tickets[{t}].id"),
                    format!("ticket {} already belongs to contact {owner}", ticket.id),
                ));
            }
        }
        let references = [
            ("active_ticket_v2_id", contact.active_ticket_v2_id, false),
            (
                "last_closed_ticket_v2_id",
                contact.last_closed_ticket_v2_id,
                true,
            ),
        ];
        for (field, id, must_be_closed) in references {
            let Some(id) = id else { continue };
            let status = match c.tickets.iter().find(|t| t.id == id) {
                Some(t) => Some(t.status.clone()),
                None => writer
                    .ticket_owner(&id)?
                    .filter(|(owner, _)| *owner == contact.id)
                    .map(|(_, status)| status),
            };
            let suffix = format!(".{field}");
            match status {
                None => problems.push(fixture.problem(
                    &c.origin,
                    &suffix,
                    format!("no ticket {id} among this contact's tickets"),
                )),
                Some(s) if s.is_closed() != must_be_closed => {
                    let rule = if must_be_closed {
                        "the last closed ticket must be CLOSED"
                    } else {
                        "the active ticket cannot be CLOSED"
                    };
                    problems.push(fixture.problem(
                        &c.origin,
                        &suffix,
                        format!("ticket {id} has status {s}; {rule}"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(problems)
}

fn write(fixture: &Fixture, writer: &FixtureWriter<'_>) -> Result<(), StoreError> {
    for client in &fixture.clients {
        writer.upsert_client(&client.id, &client.name)?;
        for key in &client.keys {
            writer.upsert_api_key(&client.id, &key.name, &key.hash)?;
        }
    }
    // In id order, every index insert lands next to the previous one: the B-tree pages
    // stay in cache, instead of each row touching a random page of a large index.
    // Foreign keys are deferred, so contacts and tickets can go in separate passes.
    let mut contacts: Vec<&Contact> = fixture.contacts.iter().map(|c| &c.contact).collect();
    contacts.sort_unstable_by_key(|c| c.id);
    for contact in contacts {
        writer.upsert_contact(contact)?;
    }
    let mut tickets: Vec<&Ticket> = fixture.contacts.iter().flat_map(|c| &c.tickets).collect();
    tickets.sort_unstable_by_key(|t| (t.ai_contact_id, t.id));
    for ticket in tickets {
        writer.upsert_ticket(ticket)?;
    }
    Ok(())
}
