//! `orders tail` as a process: it needs NATS_URL (exit 2 without), prints one JSON envelope
//! per line, and with --durable a second run resumes after the last line the first printed.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use event_store::{EventMetadata, RecordedEvent};
use relay::RelaySettings;
use serde_json::Value;

fn orders_tail(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orders"));
    command
        .arg("tail")
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", "sqlite::memory:");
    command
}

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn event(sequence: u64) -> RecordedEvent {
    RecordedEvent {
        position: i64::try_from(sequence).unwrap(),
        txid: 0,
        aggregate_type: "Order".to_owned(),
        aggregate_id: "2048".to_owned(),
        sequence,
        event_type: "OrderPlaced".to_owned(),
        event_version: "1.0".to_owned(),
        payload: serde_json::value::RawValue::from_string(format!(r#"{{"n":{sequence}}}"#))
            .unwrap(),
        metadata: EventMetadata::default(),
        copied_from: None,
        recorded_at: chrono::Utc::now(),
    }
}

async fn publish(
    js: &jetstream::Context,
    settings: &RelaySettings,
    sequences: std::ops::RangeInclusive<u64>,
) {
    let events: Vec<RecordedEvent> = sequences.map(event).collect();
    relay::testing::publish(js, settings, &events).await;
}

/// Reads `count` lines of the child's stdout (on a thread: reading blocks).
async fn read_lines(child: &mut Child, count: usize) -> (Vec<Value>, std::process::ChildStdout) {
    let stdout = child.stdout.take().unwrap();
    tokio::time::timeout(
        Duration::from_secs(15),
        tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut lines = Vec::new();
            for _ in 0..count {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                lines.push(serde_json::from_str(&line).unwrap());
            }
            (lines, reader.into_inner())
        }),
    )
    .await
    .expect("orders tail printed its lines in time")
    .unwrap()
}

/// Interrupts `child` as Ctrl-C does and waits for it to exit.
fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

#[test]
fn without_nats_url_tail_exits_2_saying_so() {
    let output = orders_tail(&[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NATS_URL"), "{stderr}");
}

#[tokio::test]
async fn a_durable_tail_resumes_after_the_last_line_it_printed() {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let settings = RelaySettings {
        stream: format!("TAIL_TEST_{}", &suffix[..12]),
        subject_prefix: format!("tailtest{}", &suffix[..12]),
        max_age: Duration::from_secs(600),
        ..RelaySettings::default()
    };
    let js = jetstream::new(relay::connect(&nats_url(), "tail-test").await.unwrap());
    relay::ensure_stream(&js, &settings).await.unwrap();
    publish(&js, &settings, 1..=3).await;
    let subject = settings.all_subjects();
    let args = [
        "--nats-url",
        &nats_url(),
        "--stream",
        &settings.stream,
        "--subject",
        &subject,
        "--durable",
        "cli-tail",
        "--from-start",
    ];

    let mut first = orders_tail(&args).stdout(Stdio::piped()).spawn().unwrap();
    let (lines, _stdout) = read_lines(&mut first, 3).await;
    let ids: Vec<_> = lines.iter().map(|line| line["event_id"].clone()).collect();
    assert_eq!(ids, ["Order/2048/1", "Order/2048/2", "Order/2048/3"]);
    assert_eq!(lines[0]["envelope_version"], 1);
    assert_eq!(lines[0]["payload"], serde_json::json!({"n": 1}));
    assert!(interrupt(&mut first).success());

    publish(&js, &settings, 4..=5).await;
    let mut second = orders_tail(&args).stdout(Stdio::piped()).spawn().unwrap();
    let (lines, _stdout) = read_lines(&mut second, 2).await;
    let ids: Vec<_> = lines.iter().map(|line| line["event_id"].clone()).collect();
    assert_eq!(ids, ["Order/2048/4", "Order/2048/5"]);
    assert!(interrupt(&mut second).success());
    js.delete_stream(&settings.stream).await.unwrap();
}
