//! Progress of a long command (a fixture load, a generated file): a bar on a terminal, a
//! log line every few seconds otherwise, nothing with `--quiet`.
//!
//! The work reports into a [`Progress`] as stages (what is being done, and how much of
//! it when that is known) and counts; how that is shown is decided once, here, from
//! where stderr goes. Both shows read the same counter: the bar is indicatif's, and
//! the log lines are made from that bar's position, rate and estimate.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget};
use indicatif::{ProgressState, ProgressStyle};

/// How often a log line is written when stderr is not a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// A bar on stderr, redrawn in place and cleared at the end.
    Bar,
    /// A log line (through `tracing`) every `every`, and one at the end when there was
    /// one before: a command done sooner says nothing more than its result.
    Log {
        every: Duration,
    },
    Quiet,
}

impl Show {
    /// A bar when stderr is a terminal, else log lines; nothing when `quiet`.
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet {
            Show::Quiet
        } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            Show::Bar
        } else {
            Show::Log { every: log_every() }
        }
    }
}

/// `LOG_EVERY`, or `CONTACTD_PROGRESS_EVERY_MS` when set (the tests' way to see lines
/// from a load of a second).
fn log_every() -> Duration {
    std::env::var("CONTACTD_PROGRESS_EVERY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(LOG_EVERY, Duration::from_millis)
}

/// What is counted, for the bar's and the log line's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Records,
    Bytes,
}

/// The progress of one command. Cheap to share: `&Progress` is all the work needs.
pub struct Progress {
    what: &'static str,
    bar: ProgressBar,
    stage: Arc<Mutex<Stage>>,
    logger: Option<(mpsc::Sender<()>, JoinHandle<bool>)>,
    started: Instant,
}

#[derive(Debug, Clone)]
struct Stage {
    name: &'static str,
    unit: Unit,
    /// `None`: a step whose size is not known (one SQL statement, a commit).
    total: Option<u64>,
}

impl Progress {
    /// Progress of `what` (`"fixtures load"`), shown as `show` says.
    pub fn new(what: &'static str, show: Show) -> Self {
        let target = match show {
            Show::Bar => ProgressDrawTarget::stderr(),
            Show::Log { .. } | Show::Quiet => ProgressDrawTarget::hidden(),
        };
        let bar = ProgressBar::with_draw_target(None, target);
        let stage = Arc::new(Mutex::new(Stage {
            name: "starting",
            unit: Unit::Records,
            total: None,
        }));
        let logger = match show {
            Show::Log { every } => Some(spawn_logger(what, bar.clone(), stage.clone(), every)),
            Show::Bar | Show::Quiet => None,
        };
        if show == Show::Bar {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        Self {
            what,
            bar,
            stage,
            logger,
            started: Instant::now(),
        }
    }

    /// Progress shown nowhere (a library caller, the tests).
    pub fn hidden() -> Self {
        Self::new("", Show::Quiet)
    }

    /// Starts a stage named `name` (`"writing"`) of `total` things, or of an unknown
    /// amount; its count starts at 0.
    pub fn stage(&self, name: &'static str, unit: Unit, total: Option<u64>) {
        *self.stage.lock().unwrap_or_else(PoisonError::into_inner) = Stage { name, unit, total };
        // Named and styled first: a frame drawn between these calls shows the new stage.
        self.bar.set_style(style(unit, total.is_some()));
        self.bar.set_message(name);
        self.bar.set_length(total.unwrap_or(0));
        self.bar.reset();
    }

    /// Runs `f`, which writes to the terminal, with the bar out of its way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// `n` more done in this stage.
    pub fn add(&self, n: u64) {
        self.bar.inc(n);
    }
}

impl Drop for Progress {
    /// The bar goes away whole, whether the command succeeded or not, before anything
    /// else is written to the terminal; the log says how long it took.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        if let Some((stop, thread)) = self.logger.take() {
            drop(stop);
            if thread.join().unwrap_or(false) {
                tracing::info!(
                    "{}: done in {}",
                    self.what,
                    HumanDuration(self.started.elapsed())
                );
            }
        }
    }
}

/// The thread that writes a line every `every` until its sender is dropped; it answers
/// whether it wrote any.
fn spawn_logger(
    what: &'static str,
    bar: ProgressBar,
    stage: Arc<Mutex<Stage>>,
    every: Duration,
) -> (mpsc::Sender<()>, JoinHandle<bool>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut wrote = false;
        // Dropping the sender ends the wait at once: no line after the work's end.
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            let Stage { name, unit, total } =
                stage.lock().unwrap_or_else(PoisonError::into_inner).clone();
            tracing::info!("{what}: {}", line(name, unit, total, &bar));
            wrote = true;
        }
        wrote
    });
    (stop, thread)
}

/// `writing: 340,000 of 1,000,000 (45,210/s, 15s left)`, or for a step of unknown size,
/// `indexing for search (12s so far)`.
fn line(name: &str, unit: Unit, total: Option<u64>, bar: &ProgressBar) -> String {
    let Some(total) = total else {
        return format!("{name} ({} so far)", HumanDuration(bar.elapsed()));
    };
    let done = bar.position();
    let rate = bar.per_sec();
    let amount = |n: u64| match unit {
        Unit::Records => HumanCount(n).to_string(),
        Unit::Bytes => HumanBytes(n).to_string(),
    };
    let mut text = format!("{name}: {} of {}", amount(done), amount(total));
    if done > 0 && rate.is_finite() && rate > 0.0 {
        let left = Duration::from_secs_f64(total.saturating_sub(done) as f64 / rate);
        text.push_str(&format!(
            " ({}/s, {} left)",
            amount(rate as u64),
            HumanDuration(left)
        ));
    }
    text
}

fn style(unit: Unit, counted: bool) -> ProgressStyle {
    let template = match (counted, unit) {
        (false, _) => "{spinner} {msg} {elapsed}",
        (true, Unit::Records) => {
            "{msg:>20} [{bar:30}] {human_pos}/{human_len} ({per_sec_records}, {eta} left)"
        }
        (true, Unit::Bytes) => {
            "{msg:>20} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta} left)"
        }
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "per_sec_records",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", HumanCount(state.per_sec() as u64));
            },
        )
        .progress_chars("=> ")
}
