//! The command line: clap definitions and one small function per subcommand.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::api_key;
use crate::fixture_generator;
use crate::fixtures::{self, FixtureSource};
use crate::http::{self, ServerOptions};
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

    #[command(subcommand)]
    pub command: Option<Command>,

    /// With no subcommand, contactd serves.
    #[command(flatten)]
    pub serve: ServeArgs,
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

    /// Fixture file or folder to load before serving (repeatable).
    #[arg(long = "fixtures", value_name = "PATH")]
    pub fixtures: Vec<PathBuf>,

    /// Do not load the bundled demo data into a new, empty database.
    #[arg(long)]
    pub no_demo: bool,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "CONTACTD_WORKERS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=512))]
    pub workers: Option<u16>,
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
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,refinery_core=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
        workers: args
            .workers
            .map(usize::from)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
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
