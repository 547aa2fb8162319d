use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use contactd::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// clap's message, with a usage line even where clap leaves it out (bad values).
fn usage_error(e: clap::Error) -> ExitCode {
    let text = e.render().to_string();
    if !e.use_stderr() {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    eprint!("{text}");
    if !text.contains("Usage:") {
        eprintln!(
            "
{}",
            Cli::command().render_usage()
        );
    }
    ExitCode::from(2)
}
