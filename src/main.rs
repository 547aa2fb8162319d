use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use contactd::cli::{self, Cli, output::StdoutClosed};

fn main() -> ExitCode {
    let cli = match Cli::parse_args() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    cli::init_logging(cli.log_format);
    // A bug must still read as one log line, not a backtrace on the operator's screen.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "internal error; please report it");
    }));
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away: nothing is wrong, and nobody to tell.
        Err(e) if e.is::<StdoutClosed>() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: many errors repeat their
/// cause's words in their own message (rusqlite's, io's, ours).
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        // SQLite's own error restates the message above it behind its code number.
        let words = message
            .strip_prefix("Error code ")
            .and_then(|rest| rest.split_once(": "))
            .map_or(message.as_str(), |(_, words)| words);
        if text.contains(words) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

/// clap's message, with a usage line even where clap leaves it out (bad values).
fn usage_error(e: clap::Error) -> ExitCode {
    let text = e.render().to_string();
    if !e.use_stderr() {
        // --help and --version: a closed pipe (`contactd --help | head -1`) is fine.
        let _ = std::io::stdout().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    }
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(text.as_bytes());
    if !text.contains("Usage:") {
        let _ = writeln!(stderr, "\n{}", usage_of_the_command_given());
    }
    ExitCode::from(2)
}

/// The usage line of the (sub)command the arguments name: `fixtures generate`'s for a
/// bad `--contacts`, not the top level's.
fn usage_of_the_command_given() -> String {
    let mut command = Cli::command();
    command.build();
    let mut current = &mut command;
    for arg in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
        let Some(i) = current
            .get_subcommands()
            .position(|sub| sub.get_name() == arg)
        else {
            continue;
        };
        current = current
            .get_subcommands_mut()
            .nth(i)
            .unwrap_or_else(|| unreachable!("found just above"));
    }
    current.render_usage().to_string()
}
