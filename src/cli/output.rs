//! Lines for people on stdout. A reader that goes away (`contactd keys list | head -1`)
//! ends the command quietly instead of with a panic: Rust ignores SIGPIPE, so a closed
//! pipe arrives as an `EPIPE` write error, and `println!` would panic on it.

use std::fmt;
use std::io::{ErrorKind, Write};

/// Returned when stdout's reader has gone away; `main` ends the process quietly on it.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct StdoutClosed;

/// Writes one line to stdout.
pub fn line(text: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// `say!("…", args)`: one line to stdout, `?` on a closed pipe.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))?
    };
}
pub(crate) use say;
