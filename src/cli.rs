//! The command line: clap definitions and one small function per subcommand.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::api_key;
use crate::fixture_generator;
use crate::fixtures::{self, FixtureSource};
use crate::http::{self, RequestLimits, ServerOptions};
use crate::model::{ApiKeyId, ClientId, Timestamp};
use crate::store::{ApiKeyRecord, Revocation, Store, StoreOptions};

/// Serves the contact-info endpoint of a customer-messaging API from one SQLite file.
#[derive(Debug, Parser)]
#[command(name = "contactd", version)]
pub struct Cli {
    /// The SQLite database file; its folder is created as needed.
    #[arg(
        long,
        global = true,
        env = "CONTACTD_DB",
        value_name = "PATH",
        default_value = "data/contactd.db"
    )]
    pub db: PathBuf,

    /// Connections in the database pool.
    #[arg(long, global = true, env = "CONTACTD_POOL_SIZE", value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pool_size: u32,

    /// Log lines for people (human) or for log shippers (json, one object per line).
    #[arg(long, global = true, env = "CONTACTD_LOG_FORMAT", value_name = "FORMAT",
          value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// With no subcommand, contactd serves.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate, load the given fixtures (or the demo data on a new database) and serve.
    Serve(ServeArgs),
    /// Apply pending migrations and say which.
    Migrate,
    /// Load fixture files.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a consistent copy of the live database (safe while the server runs).
    Backup {
        /// The new file, or an existing folder to put a timestamped file in.
        #[arg(value_name = "DEST")]
        dest: PathBuf,
    },
    /// Check integrity, references and migrations; exits non-zero on any problem.
    Check,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "CONTACTD_BIND",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: String,

    /// Fixture file or folder to load before serving (repeatable, or comma-separated in
    /// the env variable).
    #[arg(
        long = "fixtures",
        env = "CONTACTD_FIXTURES",
        value_name = "PATH",
        value_delimiter = ','
    )]
    pub fixtures: Vec<PathBuf>,

    /// Do not load the bundled demo data into a new, empty database.
    #[arg(long, env = "CONTACTD_NO_DEMO")]
    pub no_demo: bool,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "CONTACTD_WORKERS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=512))]
    pub workers: Option<u16>,

    /// Browser origin allowed by CORS (repeatable, or comma-separated in the env
    /// variable). None by default: CORS stays off.
    #[arg(long = "cors-origin", env = "CONTACTD_CORS_ORIGINS", value_name = "ORIGIN",
          value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "CONTACTD_REQUEST_TIMEOUT", value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,

    /// Failed API-key attempts per client address and minute before they answer 429
    /// (0: no limit). Valid keys are never slowed by it.
    #[arg(
        long,
        env = "CONTACTD_AUTH_FAILURES_PER_MINUTE",
        value_name = "N",
        default_value_t = 60
    )]
    pub auth_failures_per_minute: u32,

    /// Longest request target (path and query) in bytes; beyond it, 414.
    #[arg(long, env = "CONTACTD_MAX_URL_BYTES", value_name = "BYTES", default_value_t = 8 * 1024,
          value_parser = clap::value_parser!(u32).range(64..=65_536))]
    pub max_url_bytes: u32,

    /// Most bytes of request headers, all together; beyond it, 431.
    #[arg(long, env = "CONTACTD_MAX_HEADER_BYTES", value_name = "BYTES", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=131_072))]
    pub max_header_bytes: u32,

    /// Largest declared request body in bytes; beyond it, 413.
    #[arg(long, env = "CONTACTD_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Seconds requests in flight get to finish after SIGINT/SIGTERM.
    #[arg(long, env = "CONTACTD_SHUTDOWN_TIMEOUT", value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_timeout: u64,
}

/// An origin as browsers send it: scheme, host and optional port, nothing else.
fn parse_origin(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or("expected an origin such as https://dashboard.example.com")?;
    if rest.is_empty() || rest.contains('/') || rest.contains(char::is_whitespace) {
        return Err("expected an origin (scheme://host[:port]), without a path".to_owned());
    }
    Ok(s.to_owned())
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Load files, or every *.json of a folder in name order, in one transaction.
    Load {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Write a deterministic, realistic fixture file of N contacts.
    Generate {
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        contacts: u64,
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new key for a client and print it (it is shown only this once).
    Create {
        #[arg(long, value_name = "CLIENT_ID", value_parser = parse_client_id)]
        client: ClientId,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// List keys: id, client, name, created, revoked. Never the key itself.
    List {
        #[arg(long, value_name = "CLIENT_ID", value_parser = parse_client_id)]
        client: Option<ClientId>,
    },
    /// Revoke a key by its id; it answers 401 from the next request on.
    Revoke {
        #[arg(value_name = "KEY_ID", value_parser = parse_key_id)]
        id: ApiKeyId,
    },
}

fn parse_client_id(s: &str) -> Result<ClientId, String> {
    ClientId::parse(s).ok_or_else(|| "expected a client id (a UUID)".to_owned())
}

fn parse_key_id(s: &str) -> Result<ApiKeyId, String> {
    ApiKeyId::parse(s).ok_or_else(|| "expected a key id (a UUID, as `keys list` shows)".to_owned())
}

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
    let store_options = StoreOptions {
        path: cli.db.clone(),
        pool_size: cli.pool_size,
    };
    match cli.command {
        None => serve(&store_options, cli.serve),
        Some(Command::Serve(args)) => serve(&store_options, args),
        Some(Command::Migrate) => migrate(&store_options),
        Some(Command::Fixtures(FixturesCommand::Load { paths })) => {
            load_fixtures(&store_options, &paths)
        }
        Some(Command::Fixtures(FixturesCommand::Generate {
            contacts,
            seed,
            out,
        })) => generate_fixtures(contacts, seed, &out),
        Some(Command::Keys(command)) => keys(&store_options, command),
        Some(Command::Backup { dest }) => backup(&store_options, &dest),
        Some(Command::Check) => check(&store_options),
    }
}

fn open(options: &StoreOptions) -> anyhow::Result<Store> {
    let (store, applied) = Store::open(options)?;
    if !applied.is_empty() {
        println!("applied migrations: {}", applied.join(", "));
    }
    Ok(store)
}

fn serve(store_options: &StoreOptions, args: ServeArgs) -> anyhow::Result<()> {
    let workers = args
        .workers
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    // Each worker keeps a connection; one more serves readiness checks and the like.
    if (store_options.pool_size as usize) <= workers {
        bail!(
            "--pool-size (CONTACTD_POOL_SIZE) is {} but must be more than the {workers} workers \
             (--workers, CONTACTD_WORKERS): each worker keeps a connection",
            store_options.pool_size
        );
    }
    let store = open(store_options)?;
    println!("database: {}", store_options.path.display());

    let mut sample = None;
    if !args.fixtures.is_empty() {
        let sources = fixtures::read_sources(&args.fixtures)?;
        let summary = fixtures::load(&store, &sources)?;
        println!("loaded {summary}");
    } else if !args.no_demo && store.is_empty()? {
        let summary = fixtures::load(&store, &[FixtureSource::demo()])
            .context("the bundled demo data does not load")?;
        println!("new database: loaded the demo data, {summary}");
        sample = summary.sample;
    }

    let options = ServerOptions {
        bind: args.bind.clone(),
        workers,
        cors_origins: args.cors_origins.clone(),
        request_timeout: Duration::from_secs(args.request_timeout),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        auth_failures_per_minute: args.auth_failures_per_minute,
        limits: RequestLimits {
            max_url_bytes: args.max_url_bytes as usize,
            max_header_bytes: args.max_header_bytes as usize,
            max_body_bytes: args.max_body_bytes,
        },
    };
    actix_web::rt::System::new().block_on(async move {
        let (server, addrs) = http::bind(store, &options)
            .with_context(|| format!("cannot listen on {}", options.bind))?;
        if let (Some((key, contact)), Some(addr)) = (sample, addrs.first()) {
            println!("demo API key: {key}");
            println!(
                "try: curl -s -H 'x-api-key: {key}' http://{}/api/public/contact/{contact}/info",
                reachable(*addr)
            );
        }
        for addr in &addrs {
            println!("listening on http://{addr}");
        }
        // actix stops on SIGINT/SIGTERM: it stops accepting, lets requests in flight
        // finish, then this returns.
        server.await.context("the server stopped with an error")
    })
}

/// An address a local curl can reach: a wildcard bind is reachable on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

fn migrate(store_options: &StoreOptions) -> anyhow::Result<()> {
    let (_, applied) = Store::open(store_options)?;
    if applied.is_empty() {
        println!("the database is up to date; no migration to apply");
    } else {
        println!("applied migrations: {}", applied.join(", "));
    }
    Ok(())
}

fn load_fixtures(store_options: &StoreOptions, paths: &[PathBuf]) -> anyhow::Result<()> {
    let store = open(store_options)?;
    let sources = fixtures::read_sources(paths)?;
    let summary = fixtures::load(&store, &sources)?;
    println!("loaded {summary}");
    Ok(())
}

fn backup(store_options: &StoreOptions, dest: &Path) -> anyhow::Result<()> {
    let store = Store::open_existing(store_options)?;
    let dest = if dest.is_dir() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        dest.join(format!("contactd-{stamp}.db"))
    } else {
        dest.to_owned()
    };
    if dest.exists() {
        bail!(
            "{} already exists; a backup never overwrites a file",
            dest.display()
        );
    }
    store
        .backup(&dest)
        .with_context(|| format!("cannot write the backup {}", dest.display()))?;
    let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    println!(
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
    println!("integrity: {}", listed(&health.integrity, "ok", "\n  "));
    println!(
        "foreign keys: {}",
        listed(&health.foreign_keys, "ok", "\n  ")
    );
    println!(
        "migrations applied: {}",
        listed(&health.applied_migrations, "none", ", ")
    );
    println!(
        "migrations pending: {}",
        listed(&health.pending_migrations, "none", ", ")
    );
    if !health.is_healthy() {
        bail!("{} has problems (see above)", store_options.path.display());
    }
    Ok(())
}

/// Needs no database: it only writes a file. Prints each client's id and key.
fn generate_fixtures(contacts: u64, seed: u64, out: &Path) -> anyhow::Result<()> {
    if let Some(folder) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let clients = fixture_generator::generate(contacts, seed, file)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {contacts} contact(s) for {} client(s) to {}",
        clients.len(),
        out.display()
    );
    for client in clients {
        println!("client {} key {}", client.id, client.key);
    }
    Ok(())
}

fn keys(store_options: &StoreOptions, command: KeysCommand) -> anyhow::Result<()> {
    let store = open(store_options)?;
    match command {
        KeysCommand::Create { client, name } => {
            if !store.client_exists(&client)? {
                bail!("no client with id {client}; load it from a fixture first");
            }
            let key = api_key::generate().context("the OS random source failed")?;
            let record = ApiKeyRecord {
                id: ApiKeyId::new_random(),
                client_id: client,
                name,
                created_at: Timestamp::now(),
                revoked_at: None,
            };
            store.insert_key(&record, &api_key::hash(&key))?;
            eprintln!(
                "created key {} for client {client}; it is shown only this once:",
                record.id
            );
            println!("{key}");
        }
        KeysCommand::List { client } => {
            for k in store.list_keys(client.as_ref())? {
                let revoked = k.revoked_at.map_or("-".to_owned(), |t| t.to_string());
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.id, k.client_id, k.name, k.created_at, revoked
                );
            }
        }
        KeysCommand::Revoke { id } => match store.revoke_key(&id, Timestamp::now())? {
            Revocation::Revoked => println!("revoked key {id}"),
            Revocation::AlreadyRevoked(at) => println!("key {id} was already revoked at {at}"),
            Revocation::NoSuchKey => bail!("no key with id {id}; `contactd keys list` shows them"),
        },
    }
    Ok(())
}
