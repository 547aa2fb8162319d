use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = contactd::cli::Cli::parse();
    contactd::cli::init_logging();
    match contactd::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
