//! Progress of `fixtures load` and `fixtures generate` (issue 20): a bar under a
//! terminal that is gone at the end, log lines when stderr is a pipe, neither with
//! `--quiet`.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use crate::helpers::{BIN, ClearContactdEnv, Workspace};

/// Runs `contactd --db <db> ARGS…` with info logs and a progress line every 20 ms;
/// stdout and stderr.
fn run_logged(ws: &Workspace, args: &[&str]) -> (String, String) {
    let output = Command::new(BIN)
        .arg("--db")
        .arg(ws.db())
        .args(args)
        .env_clear_contactd()
        .env("RUST_LOG", "info")
        .env("CONTACTD_PROGRESS_EVERY_MS", "20")
        .stdin(Stdio::null())
        .output()
        .expect("run contactd");
    assert!(output.status.success(), "{output:?}");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn generated(ws: &Workspace, contacts: &str) -> String {
    let file = ws.path("generated.json");
    let file = file.to_str().unwrap().to_owned();
    ws.run(&[
        "fixtures",
        "generate",
        "--quiet",
        "--contacts",
        contacts,
        "--out",
        &file,
    ])
    .assert_success();
    file
}

#[test]
fn off_a_terminal_progress_is_a_log_line_each_interval_and_quiet_silences_it() {
    let ws = Workspace::new();
    let file = generated(&ws, "3000");

    let (stdout, stderr) = run_logged(&ws, &["fixtures", "load", &file]);
    assert!(
        stdout.lines().any(|l| l.starts_with("loaded 1 file(s)")),
        "{stdout}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("fixtures load: "))
        .collect();
    assert!(
        lines.len() >= 3,
        "a line every 20 ms of the load:\n{stderr}"
    );
    // Counted stages say how far they are; the last line says the load is over.
    assert!(
        lines.iter().any(|l| l.contains(" of ")),
        "no counted stage among:\n{stderr}"
    );
    assert!(
        lines.last().unwrap().contains("fixtures load: done in "),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no bar off a terminal: {stderr:?}"
    );

    let again = Workspace::new();
    let (stdout, stderr) = run_logged(&again, &["fixtures", "load", "--quiet", &file]);
    assert!(
        stdout.lines().any(|l| l.starts_with("loaded 1 file(s)")),
        "{stdout}"
    );
    assert!(!stderr.contains("fixtures load"), "--quiet: {stderr}");
}

#[test]
fn generating_a_file_off_a_terminal_logs_its_progress_too() {
    let ws = Workspace::new();
    let out = ws.path("g.json");
    let (stdout, stderr) = run_logged(
        &ws,
        &[
            "fixtures",
            "generate",
            "--contacts",
            "20000",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(stdout.starts_with("wrote 20000 contact(s)"), "{stdout}");
    assert!(
        stderr.contains("fixtures generate: generating contacts: ")
            && stderr.contains(" of 20,000"),
        "{stderr}"
    );
}

/// Output written to a pseudo-terminal by `contactd ARGS…` as its stderr, and its
/// stdout (a pipe).
fn run_under_a_terminal(args: &[&str]) -> (Vec<u8>, String) {
    let (mut controller, mut terminal) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the two ints, which are owned
    // below and nowhere else; the name and termios pointers may be null.
    let opened = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both are open descriptors that nothing else owns.
    let (controller, terminal) = unsafe {
        (
            OwnedFd::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    };
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear_contactd()
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(terminal));
    let child = command.spawn().expect("run contactd");
    // The parent's copy of the terminal side goes with the command, so reading the
    // controller ends (EIO) when the child has closed its own.
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut controller = File::from(controller);
        let mut chunk = [0u8; 4096];
        while let Ok(n) = controller.read(&mut chunk) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&chunk[..n]);
        }
        seen
    });
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{output:?}");
    (
        reader.join().expect("reader"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn on_a_terminal_a_load_draws_a_bar_and_clears_it_at_the_end() {
    let ws = Workspace::new();
    let file = generated(&ws, "3000");
    let db = ws.db();
    let (screen, stdout) =
        run_under_a_terminal(&["--db", db.to_str().unwrap(), "fixtures", "load", &file]);
    let screen = String::from_utf8_lossy(&screen);
    assert!(
        stdout.lines().any(|l| l.starts_with("loaded 1 file(s)")),
        "{stdout}"
    );
    // A bar of records: its stage, a count of the total and a rate.
    assert!(
        screen.contains("writing") && screen.contains("/s"),
        "no bar drawn: {screen:?}"
    );
    // Whatever was drawn last is erased: after the last line clear, nothing visible.
    let cleared = screen.rfind("\u{1b}[2K").expect("the bar is cleared");
    let rest = &screen[cleared + "\u{1b}[2K".len()..];
    assert!(
        rest.chars().all(|c| c.is_whitespace() || c.is_control()),
        "text left after the bar was cleared: {rest:?}"
    );
}
