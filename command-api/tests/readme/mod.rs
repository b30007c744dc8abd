//! The README's `sh` blocks as a newcomer pastes them, for the tests that run them
//! (`walkthroughs.rs` here, `loadgen/tests/walkthrough.rs`). A block is taken as it stands,
//! with these changes only: each `cargo run … --` becomes the binary under test, the address
//! `127.0.0.1:8080` a free port (tests run side by side), a line that starts a server in the
//! background (`… serve … &`) waits until `/readyz` answers, and `orders tail`, which the
//! README runs in a second terminal, runs in the background into `tail.jsonl` until it says
//! it listens.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

pub(crate) const README: &str = include_str!("../../../README.md");

/// The lines of the README section whose heading is `heading`, up to the next heading.
fn section(heading: &str) -> impl Iterator<Item = &'static str> {
    let mut lines = README.lines().skip_while(move |line| *line != heading);
    assert!(
        lines.next().is_some(),
        "README.md has no section {heading:?}"
    );
    let mut fenced = false;
    lines.take_while(move |line| {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        fenced || line.starts_with("```") || !line.starts_with('#')
    })
}

/// The blocks fenced as `fence` (```` ```sh ````, or ```` ``` ```` for output) of the section
/// `heading`.
fn fenced(heading: &str, fence: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut block: Option<String> = None;
    let mut other = false;
    for line in section(heading) {
        match &mut block {
            None if other => other = line != "```",
            None if line == fence => block = Some(String::new()),
            None if line.starts_with("```") => other = true,
            None => {}
            Some(text) if line == "```" => {
                blocks.push(std::mem::take(text));
                block = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(
        !blocks.is_empty(),
        "the section {heading:?} has no {fence} block"
    );
    blocks
}

/// The `sh` blocks of the section `heading`.
pub(crate) fn blocks(heading: &str) -> Vec<String> {
    fenced(heading, "```sh")
}

/// The unlabelled blocks of the section `heading`: the output the README shows.
pub(crate) fn outputs(heading: &str) -> Vec<String> {
    fenced(heading, "```")
}

/// `line` without its trailing `# comment` (the README's comments hold no `#` of their own).
fn without_comment(line: &str) -> &str {
    line.split(" #").next().unwrap_or(line).trim_end()
}

/// A block as the test runs it: each `(cargo run …, "$BIN")` of `binaries` replaced, the
/// test's port for 8080, a server started in the background until it is ready, and
/// `orders tail` in the background until it listens.
pub(crate) fn as_run(block: &str, binaries: &[(&str, &str)]) -> String {
    let block = binaries
        .iter()
        .fold(block.to_owned(), |block, (from, to)| {
            block.replace(from, to)
        })
        .replace("127.0.0.1:8080", "127.0.0.1:$PORT");
    block
        .lines()
        .map(|line| {
            let command = without_comment(line);
            if command.ends_with(" serve") {
                format!("{command} >>server.log 2>&1 & SERVER=$!; wait_ready")
            } else if command.contains(" serve ") && command.ends_with(" &") {
                let command = command.trim_end_matches(" &");
                format!("{command} >>server.log 2>&1 & SERVER=$!; wait_ready")
            } else if command == "orders tail" {
                "orders tail >tail.jsonl 2>tail.log & TAIL=$!; wait_tailing".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// What every script starts with: stop on the first failure, stop the server and the tail at
/// the end, and wait for them to be ready.
/// A process started in the background through a shell function (`orders serve &`) is a
/// subshell with the binary as its child, and a background job of a script ignores SIGINT:
/// `stop PID [SIGNAL]` signals the children of `PID` first, then `PID`, and waits for it.
pub(crate) const PRELUDE: &str = r#"set -eo pipefail
SERVER=
TAIL=
stop() {
  pkill "-${2:-TERM}" -P "$1" 2>/dev/null || true
  kill "-${2:-TERM}" "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
trap 'for p in "$SERVER" "$TAIL"; do if [ -n "$p" ]; then stop "$p"; fi; done' EXIT
wait_ready() {
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not get ready" >&2
  cat server.log >&2
  return 1
}
wait_tailing() {
  for _ in $(seq 300); do
    grep -q tailing tail.log 2>/dev/null && return 0
    sleep 0.1
  done
  echo "orders tail did not start listening" >&2
  cat tail.log >&2
  return 1
}
stop_server() { stop "$SERVER"; SERVER=; }
"#;

/// Runs `script` with bash in `dir` with `env` and the port `port` (as `$PORT`); fails the test
/// with the script's output and the server's log unless it succeeds. Answers its stdout.
pub(crate) fn run(script: &str, dir: &Path, port: u16, env: &[(&str, &str)]) -> String {
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("ORDERS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        // the defaults a newcomer has: no database, no NATS, no settings of the test run
        .env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .env_remove("RUST_LOG")
        .env_remove("ORDERS_JWT_SECRET")
        .env_remove("ORDERS_PAYMENT_CALLBACK_SECRET")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "the walk-through failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server\n{log}",
        output.status
    );
    stdout
}

/// A free port on the loopback interface.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
