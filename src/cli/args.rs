//! The command line as clap reads it: every flag with its env variable and default.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::api_key;
use crate::fixture_generator;
use crate::model::{ApiKeyId, ClientId, Timestamp};

/// Serves a customer-messaging platform's contact API from one SQLite file.
#[derive(Debug, Parser)]
#[command(name = "contactd", version)]
pub struct Cli {
    /// The SQLite database file. `serve`, `migrate` and `fixtures load` create it (and
    /// its folder) as needed; every other command needs it to exist.
    #[arg(
        long,
        global = true,
        env = "CONTACTD_DB",
        value_name = "PATH",
        default_value = "data/contactd.db"
    )]
    pub db: PathBuf,

    /// Log lines for people (human) or for log shippers (json, one object per line).
    #[arg(long, global = true, env = "CONTACTD_LOG_FORMAT", value_name = "FORMAT",
          value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// With no subcommand, contactd serves (serve's flags then go before nothing else).
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// Parses the command line. `serve`'s flags may stand before no subcommand at all
    /// (`contactd --bind …` serves); before a subcommand they would be ignored, so they
    /// are refused there.
    pub fn parse_args() -> Result<Self, clap::Error> {
        let mut command = Self::command();
        // `fixtures generate` writes a file and opens no database: its help should not
        // offer --db. The flag is global, so it exists there only once the command is
        // built (which copies global flags into every subcommand).
        command.build();
        // (In place: mut_subcommand and mut_arg move what they change to the end.)
        command = command.mut_subcommands(|sub| {
            sub.mut_subcommands(|sub| match sub.get_name() {
                "generate" => sub.mut_args(|arg| {
                    let db = arg.get_id() == "db";
                    arg.hide(db)
                }),
                _ => sub,
            })
        });
        let matches = command.try_get_matches_from_mut(std::env::args_os())?;
        if let Some((name, _)) = matches.subcommand()
            && let Some(flag) = serve_flag_given(&matches)
        {
            let message = if name == "serve" {
                format!("--{flag} goes after `serve`: contactd serve --{flag} …")
            } else {
                format!("--{flag} is a flag of `serve`, not of `{name}`")
            };
            return Err(command.error(clap::error::ErrorKind::ArgumentConflict, message));
        }
        Self::from_arg_matches(&matches)
    }
}

/// The first of `serve`'s flags given on the command line (environment variables meant
/// for the server are fine: other commands share the environment).
fn serve_flag_given(matches: &ArgMatches) -> Option<String> {
    let serve = ServeArgs::augment_args(clap::Command::new("serve"));
    serve
        .get_arguments()
        .find(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
        .map(|arg| arg.get_long().unwrap_or(arg.get_id().as_str()).to_owned())
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
    /// Load fixture files, or generate one.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a consistent copy of the live database (safe while the server runs).
    Backup {
        /// The new file, or an existing folder to put a timestamped file in. Never
        /// overwritten.
        #[arg(value_name = "DEST")]
        dest: PathBuf,
    },
    /// Check integrity, references and migrations; exits non-zero on any problem.
    Check,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (host:port; port 0 picks a free one).
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
    #[arg(long, env = "CONTACTD_NO_DEMO", value_name = "BOOL", num_args = 0..=1,
          default_value_t = false, default_missing_value = "true", value_parser = parse_bool)]
    pub no_demo: bool,

    /// Do not serve the web console at `/` (it answers 404 like any unknown path).
    /// The environment turns it off with CONTACTD_CONSOLE=false.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value_t = false,
          default_missing_value = "true", value_parser = parse_bool)]
    pub no_console: bool,

    /// Serve the web console at `/` (on unless --no-console or CONTACTD_CONSOLE=false).
    #[arg(long, env = "CONTACTD_CONSOLE", value_name = "BOOL", hide = true,
          default_value_t = true, value_parser = parse_bool)]
    pub console: bool,

    /// HTTP worker threads [default: one per CPU core, or one less than --pool-size].
    #[arg(long, env = "CONTACTD_WORKERS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=512))]
    pub workers: Option<u16>,

    /// Connections in the database pool; more than the workers, as each keeps one
    /// [default: the workers and 4 more, for health checks, metrics and the like].
    #[arg(long, env = "CONTACTD_POOL_SIZE", value_name = "N",
          value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub pool_size: Option<u32>,

    /// Browser origin allowed by CORS (repeatable, or comma-separated in the env
    /// variable). None by default: CORS stays off.
    #[arg(long = "cors-origin", env = "CONTACTD_CORS_ORIGINS", value_name = "ORIGIN",
          value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// Seconds a client has to send a request's headers, and again its body.
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

    /// Store webhook events and deliveries but send nothing (a server without the flag
    /// sends them). The environment says so with CONTACTD_WEBHOOKS=false.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value_t = false,
          default_missing_value = "true", value_parser = parse_bool)]
    pub no_webhooks: bool,

    /// Send webhook deliveries (on unless --no-webhooks or CONTACTD_WEBHOOKS=false).
    #[arg(long, env = "CONTACTD_WEBHOOKS", value_name = "BOOL", hide = true,
          default_value_t = true, value_parser = parse_bool)]
    pub webhooks: bool,

    /// Seconds a webhook receiver has to answer an attempt, whole body included.
    #[arg(long, env = "CONTACTD_WEBHOOK_TIMEOUT", value_name = "SECS", default_value_t = 5.0,
          value_parser = parse_timeout)]
    pub webhook_timeout: f64,

    /// Seconds between a failed webhook attempt and the next, one per retry
    /// (comma-separated, decimals allowed; each ±10 % at random).
    #[arg(long, env = "CONTACTD_WEBHOOK_RETRY_SCHEDULE", value_name = "LIST",
          default_value = "5,30,120,600,1800,3600,7200,14400,28800",
          value_parser = crate::model::RetrySchedule::parse)]
    pub webhook_retry_schedule: crate::model::RetrySchedule,

    /// Days delivered, failed and cancelled webhook deliveries are kept.
    #[arg(long, env = "CONTACTD_WEBHOOK_RETENTION_DAYS", value_name = "N", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub webhook_retention_days: u32,

    /// Requests the journal keeps (SPEC 12.1), all clients together; the oldest go first.
    #[arg(long, env = "CONTACTD_JOURNAL_SIZE", value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub journal_size: u32,

    /// Most memory the journal's entries take, in MiB, whatever their count.
    #[arg(long, env = "CONTACTD_JOURNAL_MEMORY", value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=16_384))]
    pub journal_memory: u32,

    /// Do not serve the sandbox: every route under `/api/sandbox/` (inbound messages,
    /// closing tickets, the journal, faults) answers 404 like any unknown path. The
    /// environment turns it off with CONTACTD_SANDBOX=false.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value_t = false,
          default_missing_value = "true", value_parser = parse_bool)]
    pub no_sandbox: bool,

    /// Serve the sandbox (on unless --no-sandbox or CONTACTD_SANDBOX=false).
    #[arg(long, env = "CONTACTD_SANDBOX", value_name = "BOOL", hide = true,
          default_value_t = true, value_parser = parse_bool)]
    pub sandbox: bool,

    /// Keep the demo data alive: every few seconds a demo contact writes, and now and
    /// then a ticket opens or closes, through the sandbox's own code (webhooks fire).
    #[arg(long, env = "CONTACTD_LIVE_DEMO", value_name = "BOOL", num_args = 0..=1,
          default_value_t = false, default_missing_value = "true", value_parser = parse_bool)]
    pub live_demo: bool,

    /// Seconds between two moves of --live-demo.
    #[arg(long, env = "CONTACTD_LIVE_DEMO_INTERVAL", value_name = "SECS", default_value_t = 8.0,
          value_parser = parse_interval)]
    pub live_demo_interval: f64,

    /// Keep no request journal: `/api/sandbox/requests` then answers an empty list.
    #[arg(long, env = "CONTACTD_NO_JOURNAL", value_name = "BOOL", num_args = 0..=1,
          default_value_t = false, default_missing_value = "true", value_parser = parse_bool)]
    pub no_journal: bool,

    #[command(flatten)]
    pub fixture_limits: FixtureLimits,
}

/// A webhook timeout: more than 0 and at most 5 minutes.
fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text)
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 300.0 => Ok(s),
        _ => Err(format!(
            "expected seconds above 0 and at most 300, got {text:?}"
        )),
    }
}

fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.05..=3600.0).contains(&s) => Ok(s),
        _ => Err(format!("expected seconds from 0.05 to 3600, got {text:?}")),
    }
}

#[derive(Debug, Clone, Copy, Args)]
pub struct FixtureLimits {
    /// Largest fixture file read, in bytes (the whole file is held in memory).
    #[arg(long, env = "CONTACTD_MAX_FIXTURE_BYTES", value_name = "BYTES",
          default_value_t = 8 * 1024 * 1024 * 1024)]
    pub max_fixture_bytes: u64,
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Load files, or every *.json of a folder in name order, in one transaction.
    Load {
        /// Fixture files or folders; all of them load together or not at all.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        limits: FixtureLimits,
        /// No progress bar on a terminal, no progress lines elsewhere (the summary is
        /// still printed).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write a deterministic, realistic fixture file of N contacts (for benchmarks and
    /// big demos); prints each client's id and API key.
    Generate {
        /// How many contacts to write.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        contacts: u64,
        /// Seed of the generator: the same seed (and --end) writes the same file, API
        /// keys included, so a generated key is known to anyone with contactd: never
        /// give one access to real data.
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,
        /// The file to write (its folder is created as needed); an existing file is
        /// kept unless --force is given.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the --out file if it exists.
        #[arg(long)]
        force: bool,
        /// The time the generated activity ends at (RFC 3339, e.g.
        /// 2026-12-01T00:00:00Z); it spans the 13 months before. Default: now, so the
        /// console's "last 7 days" shows contacts.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        end: Option<Timestamp>,
        /// Average messages per contact's conversation (0 for none); a tenth of the
        /// contacts have up to ten times as many.
        #[arg(long, value_name = "N", default_value_t = fixture_generator::DEFAULT_MESSAGES_PER_CONTACT,
              value_parser = clap::value_parser!(u32).range(0..=1000))]
        messages_per_contact: u32,
        /// No progress bar on a terminal, no progress lines elsewhere (the clients and
        /// keys are still printed).
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new key for a client and print it (it is shown only this once).
    Create {
        /// The client the key belongs to.
        #[arg(long, value_name = "CLIENT_ID", value_parser = parse_client_id)]
        client: ClientId,
        /// A name to tell keys apart in `keys list`.
        #[arg(long, default_value = "default", value_parser = parse_key_name)]
        name: String,
        /// Use this key instead of a random one (to match an existing integration's);
        /// visible ASCII and inner spaces only.
        #[arg(long, value_name = "KEY", value_parser = parse_key)]
        key: Option<String>,
    },
    /// List keys, one per line: id, client, name, created, revoked. Never the key itself.
    List {
        /// Only this client's keys.
        #[arg(long, value_name = "CLIENT_ID", value_parser = parse_client_id)]
        client: Option<ClientId>,
    },
    /// Revoke a key by its id; it answers 401 from the next request on.
    Revoke {
        /// The key's id, as `keys list` shows it (not the key itself).
        #[arg(value_name = "KEY_ID", value_parser = parse_key_id)]
        id: ApiKeyId,
    },
}

/// The usual spellings of a boolean, in either case; empty counts as false, the way an
/// unset variable would.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected a boolean: true/false, yes/no, on/off or 1/0".to_owned()),
    }
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

fn parse_client_id(s: &str) -> Result<ClientId, String> {
    ClientId::parse(s).ok_or_else(|| "expected a client id (a UUID)".to_owned())
}

fn parse_key_id(s: &str) -> Result<ApiKeyId, String> {
    ApiKeyId::parse(s).ok_or_else(|| "expected a key id (a UUID, as `keys list` shows)".to_owned())
}

fn parse_key(s: &str) -> Result<String, String> {
    api_key::check_plain(s).map(|()| s.to_owned())
}

fn parse_key_name(s: &str) -> Result<String, String> {
    api_key::check_name(s).map(|()| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_take_the_usual_spellings_in_any_case() {
        for yes in ["1", "true", "TRUE", "Yes", "on"] {
            assert_eq!(parse_bool(yes), Ok(true), "{yes}");
        }
        for no in ["", "0", "false", "No", "OFF"] {
            assert_eq!(parse_bool(no), Ok(false), "{no}");
        }
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn every_command_and_argument_says_what_it_is_for() {
        fn walk(cmd: &clap::Command, at: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.get_help().is_none() && !["help", "version"].contains(&id) {
                    missing.push(format!("{at} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let at = format!("{at} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(at.clone());
                }
                walk(sub, &at, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "contactd", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
