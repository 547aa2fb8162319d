//! The command line: clap definitions in `args`, and one small function per subcommand.

mod args;
pub mod output;
mod serve;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

pub use args::{Cli, Command, FixtureLimits, FixturesCommand, KeysCommand, LogFormat, ServeArgs};
use output::say;

use crate::api_key;
use crate::fixture_generator;
use crate::fixtures;
use crate::model::{ApiKeyId, Timestamp};
use crate::progress::{Progress, Show};
use crate::store::{ApiKeyRecord, Revocation, Store, StoreOptions};

/// Commands other than `serve` use a connection or two at a time.
const COMMAND_POOL_SIZE: u32 = 2;

/// Logs go to stderr, filtered by `RUST_LOG` (default: `info`, with refinery's
/// step-by-step notes kept to warnings; `migrate` says what it applied itself).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,refinery_core=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let db = cli.db;
    match cli.command {
        None => serve::serve(db, cli.serve),
        Some(Command::Serve(args)) => serve::serve(db, args),
        Some(Command::Migrate) => migrate(&command_store(db)),
        Some(Command::Fixtures(FixturesCommand::Load {
            paths,
            limits,
            quiet,
        })) => load_fixtures(&command_store(db), &paths, limits, Show::for_stderr(quiet)),
        Some(Command::Fixtures(FixturesCommand::Generate {
            contacts,
            seed,
            out,
            force,
            end,
            messages_per_contact,
            quiet,
        })) => generate_fixtures(
            &fixture_generator::Shape {
                contacts,
                seed,
                messages_per_contact,
                end: end.unwrap_or_else(Timestamp::now),
            },
            &out,
            force,
            Show::for_stderr(quiet),
        ),
        Some(Command::Keys(command)) => keys(&command_store(db), command),
        Some(Command::Backup { dest }) => backup(&command_store(db), &dest),
        Some(Command::Check) => check(&command_store(db)),
    }
}

fn command_store(path: PathBuf) -> StoreOptions {
    StoreOptions {
        path,
        pool_size: COMMAND_POOL_SIZE,
    }
}

/// Opens (creating and migrating as needed) and says what it applied.
fn open(options: &StoreOptions) -> anyhow::Result<Store> {
    let (store, applied) = Store::open(options)?;
    if !applied.is_empty() {
        say!("applied migrations: {}", applied.join(", "));
    }
    Ok(store)
}

fn migrate(store_options: &StoreOptions) -> anyhow::Result<()> {
    let (_, applied) = Store::open(store_options)?;
    if applied.is_empty() {
        say!("the database is up to date; no migration to apply");
    } else {
        say!("applied migrations: {}", applied.join(", "));
    }
    Ok(())
}

fn load_fixtures(
    store_options: &StoreOptions,
    paths: &[PathBuf],
    limits: FixtureLimits,
    show: Show,
) -> anyhow::Result<()> {
    let progress = Progress::new("fixtures load", show);
    // Read and size-checked before the database is created or touched.
    let started = std::time::Instant::now();
    let sources = fixtures::read_sources(paths, limits.max_fixture_bytes, &progress)?;
    tracing::debug!(elapsed = ?started.elapsed(), "fixture files read");
    // It may say which migrations it applied: not across the bar.
    let store = progress.suspend(|| open(store_options))?;
    let summary = fixtures::load(&store, sources, &progress);
    // The bar is cleared before the summary or the error is printed.
    drop(progress);
    say!("loaded {}", summary?);
    Ok(())
}

/// A temporary name beside `dest` (same folder, so the finished file can be put in
/// place whole): a failed write leaves nothing that looks like the real thing.
fn partial_beside(dest: &Path) -> anyhow::Result<PathBuf> {
    let file_name = dest
        .file_name()
        .with_context(|| format!("{} is not a file name", dest.display()))?;
    Ok(dest.with_file_name(format!(
        ".{}.partial-{}",
        file_name.to_string_lossy(),
        std::process::id()
    )))
}

/// Removes a partial file, and the journal SQLite may have left beside it.
fn discard_partial(partial: &Path) {
    for suffix in ["", "-journal", "-wal"] {
        let mut leftover = partial.to_owned().into_os_string();
        leftover.push(suffix);
        let _ = std::fs::remove_file(leftover);
    }
}

/// Writes to a temporary file beside the destination and links it into place only once
/// it is whole: a failed backup leaves nothing that looks like a backup.
fn backup(store_options: &StoreOptions, dest: &Path) -> anyhow::Result<()> {
    let store = Store::open_existing(store_options)?;
    let into_folder = dest.is_dir();
    // A backup into a folder is named by its time, to the millisecond; should another
    // have the name already (two in one millisecond), it gets the next free number.
    let candidates: Box<dyn Iterator<Item = PathBuf>> = if into_folder {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let folder = dest.to_owned();
        Box::new((1..).map(move |n| match n {
            1 => folder.join(format!("contactd-{stamp}.db")),
            n => folder.join(format!("contactd-{stamp}-{n}.db")),
        }))
    } else {
        if dest.exists() {
            bail!(
                "{} already exists; a backup never overwrites a file",
                dest.display()
            );
        }
        let folder = dest.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(folder) = folder.filter(|f| !f.is_dir()) {
            bail!(
                "cannot write the backup {}: the folder {} does not exist",
                dest.display(),
                folder.display()
            );
        }
        Box::new(std::iter::once(dest.to_owned()))
    };
    let mut candidates = candidates.peekable();
    let first = candidates
        .peek()
        .cloned()
        .unwrap_or_else(|| dest.to_owned());
    let partial = partial_beside(&first)?;
    let written = store
        .backup(&partial)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            // A hard link, unlike a rename, never replaces a file that appeared meanwhile.
            for candidate in candidates.by_ref().take(1000) {
                match std::fs::hard_link(&partial, &candidate) {
                    Ok(()) => return Ok(candidate),
                    Err(e) if into_folder && e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        bail!(
                            "{} already exists; a backup never overwrites a file",
                            candidate.display()
                        )
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            bail!("no free backup name in {}", dest.display())
        });
    discard_partial(&partial);
    let dest = written.with_context(|| format!("cannot write the backup {}", first.display()))?;
    let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    say!(
        "backed up {} to {} ({size} bytes)",
        store_options.path.display(),
        dest.display()
    );
    Ok(())
}

fn check(store_options: &StoreOptions) -> anyhow::Result<()> {
    let store = Store::open_existing(store_options)?;
    let health = store.health()?;
    // One line per check; problems, if any, each on a line of their own below it.
    let listed = |items: &[String], none: &str, separator: &str| {
        if items.is_empty() {
            none.to_owned()
        } else {
            items.join(separator)
        }
    };
    say!("integrity: {}", listed(&health.integrity, "ok", "\n  "));
    if health.damaged {
        bail!(
            "{} is damaged (see above); nothing else was checked. Restore a backup \
             (`contactd backup` makes one), and when restoring, replace or remove the \
             file's -wal and -shm beside it too",
            store_options.path.display()
        );
    }
    say!(
        "foreign keys: {}",
        listed(&health.foreign_keys, "ok", "\n  ")
    );
    // Rendered from every contact's rows and compared: the read model cannot drift
    // unnoticed.
    say!(
        "stored /info answers: {}",
        listed(&health.info_bodies, "ok", "\n  ")
    );
    say!(
        "custom-field index: {}",
        listed(&health.field_index, "ok", "\n  ")
    );
    match &health.schema_problem {
        Some(problem) => say!("schema history: {problem}"),
        None => {
            say!(
                "migrations applied: {}",
                listed(&health.applied_migrations, "none", ", ")
            );
            say!(
                "migrations pending: {}",
                listed(&health.pending_migrations, "none", ", ")
            );
        }
    }
    if !health.is_healthy() {
        bail!("{} has problems (see above)", store_options.path.display());
    }
    Ok(())
}

/// Needs no database: it only writes a file. Prints each client's id and key.
fn generate_fixtures(
    shape: &fixture_generator::Shape,
    out: &Path,
    force: bool,
    show: Show,
) -> anyhow::Result<()> {
    if !force && out.exists() {
        bail!(
            "{} exists; pass --force to replace it, or choose another --out",
            out.display()
        );
    }
    if let Some(folder) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    // Written beside and moved into place whole: a failed run (a full disk) leaves no
    // truncated file that a later load would refuse with a confusing message.
    let partial = partial_beside(out)?;
    let progress = Progress::new("fixtures generate", show);
    let written = std::fs::File::create(&partial)
        .map_err(anyhow::Error::from)
        .and_then(|file| {
            fixture_generator::generate(shape, file, &progress).map_err(anyhow::Error::from)
        })
        .and_then(|clients| {
            // Without --force a link, which fails if the file appeared meanwhile.
            let placed = if force {
                std::fs::rename(&partial, out)
            } else {
                std::fs::hard_link(&partial, out).and_then(|()| std::fs::remove_file(&partial))
            };
            placed.map(|()| clients).map_err(Into::into)
        });
    drop(progress);
    if written.is_err() {
        discard_partial(&partial);
    }
    let clients = written.with_context(|| format!("cannot write {}", out.display()))?;
    say!(
        "wrote {} contact(s) for {} client(s) to {}",
        shape.contacts,
        clients.len(),
        out.display()
    );
    for client in clients {
        say!("client {} key {}", client.id, client.key);
    }
    Ok(())
}

fn keys(store_options: &StoreOptions, command: KeysCommand) -> anyhow::Result<()> {
    let store = Store::open_current(store_options)?;
    match command {
        KeysCommand::Create { client, name, key } => {
            if !store.client_exists(&client)? {
                bail!("no client with id {client}; load it from a fixture first");
            }
            let key = match key {
                Some(key) => key,
                None => api_key::generate().context("the OS random source failed")?,
            };
            let record = ApiKeyRecord {
                id: ApiKeyId::new_random(),
                client_id: client,
                name,
                created_at: Timestamp::now(),
                revoked_at: None,
            };
            store.insert_key(&record, &api_key::hash(&key))?;
            let _ = writeln!(
                std::io::stderr(),
                "created key {} for client {client}; it is shown only this once:",
                record.id
            );
            say!("{key}");
        }
        KeysCommand::List { client } => {
            for k in store.list_keys(client.as_ref())? {
                let revoked = k.revoked_at.map_or("-".to_owned(), |t| t.to_string());
                say!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.client_id,
                    k.name,
                    k.created_at,
                    revoked
                );
            }
        }
        KeysCommand::Revoke { id } => match store.revoke_key(&id, Timestamp::now())? {
            Revocation::Revoked => say!("revoked key {id}"),
            Revocation::AlreadyRevoked(at) => say!("key {id} was already revoked at {at}"),
            Revocation::NoSuchKey => bail!("no key with id {id}; `contactd keys list` shows them"),
        },
    }
    Ok(())
}
