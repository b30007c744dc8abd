//! The README's walk-throughs, run as a newcomer pastes them: the server started as the Run
//! section says, the first walk-through against it, then the second one's server (short
//! deadlines, lost callbacks) on the same data directory and its commands. Each block is taken
//! from README.md as it stands, with two changes only: `cargo run … --bin orders --` becomes
//! the binary under test, and the address `127.0.0.1:8080` a free port (tests run side by
//! side). A server line (`… orders -- serve`) runs in the background until `/readyz` answers.
//!
//! The walk-through that watches events arrive over NATS (`orders tail` in a second terminal)
//! is not run from the text: `tests/tail.rs` runs the same steps.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::process::{Command, Stdio};

const README: &str = include_str!("../../README.md");

/// The `sh` blocks of the README section whose heading is `heading`, up to the next heading.
fn blocks(heading: &str) -> Vec<String> {
    let mut lines = README.lines().skip_while(|line| *line != heading);
    assert!(
        lines.next().is_some(),
        "README.md has no section {heading:?}"
    );
    let mut blocks = Vec::new();
    let mut block: Option<String> = None;
    for line in lines {
        match &mut block {
            None if line.starts_with('#') => break,
            None if line == "```sh" => block = Some(String::new()),
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
        "the section {heading:?} has no sh block"
    );
    blocks
}

/// A block as the test runs it: the binary under test for `cargo run`, the test's port for
/// 8080, and a server started in the background until it is ready.
fn as_run(block: &str) -> String {
    block
        .replace(
            "cargo run -q --release -p command-api --bin orders --",
            "\"$ORDERS_BIN\"",
        )
        .replace(
            "cargo run --release -p command-api --bin orders --",
            "\"$ORDERS_BIN\"",
        )
        .replace("127.0.0.1:8080", "127.0.0.1:$PORT")
        .lines()
        .map(
            |line| match line.trim_end().strip_suffix("\"$ORDERS_BIN\" serve") {
                Some(start) => {
                    format!(
                        "{start}\"$ORDERS_BIN\" serve >>server.log 2>&1 & SERVER=$!; wait_ready"
                    )
                }
                None => line.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

const PRELUDE: &str = r#"set -eo pipefail
SERVER=
trap 'if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi' EXIT
wait_ready() {
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not get ready" >&2
  cat server.log >&2
  return 1
}
stop_server() { kill "$SERVER"; wait "$SERVER" || true; }
"#;

#[test]
fn the_walk_throughs_pass_as_written() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::from(PRELUDE);
    for block in blocks("## Run") {
        script.push_str(&as_run(&block));
    }
    script.push('\n');
    for block in blocks("### Walk-through: from a token to a paid and shipped order") {
        script.push_str(&as_run(&block));
    }
    script.push_str("\necho '--- second walk-through'\nstop_server\n");
    for block in blocks("### Walk-through: payments and deadlines, with the simulator") {
        script.push_str(&as_run(&block));
    }
    script.push_str("\nstop_server\n");

    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("ORDERS_BIN", env!("CARGO_BIN_EXE_orders"))
        .env("PORT", port.to_string())
        .env("ORDERS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        // the defaults a newcomer has: no database, no NATS, no settings of the test run
        .env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "the walk-throughs failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server\n{log}",
        output.status
    );
    let (first, second) = stdout
        .split_once("--- second walk-through")
        .expect("the first walk-through ran to its end");
    for expected in [
        r#""status": "Paid""#,
        r#""status": "Shipped""#,
        r#""tracking_number": "SF1234567""#,
        r#"/problems/version-mismatch""#,
        r#""reserved":0"#,
        r#""sold":2"#,
        r#""items":[]"#,
    ] {
        assert!(first.contains(expected), "no {expected} in:\n{first}");
    }
    for expected in [
        r#""status": "Cancelled""#,
        r#""cancel_reason": "PaymentTimeout""#,
        r#""callback": "dropped""#,
        "\"PendingPayment\"",
        r#""status": "Paid""#,
        "payment_deadline_",
    ] {
        assert!(second.contains(expected), "no {expected} in:\n{second}");
    }
}
