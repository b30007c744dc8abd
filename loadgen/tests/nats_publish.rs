//! `loadgen nats-publish` against the real NATS of the test run ($NATS_URL, else
//! 127.0.0.1:4222, as scripts/test provides): a few publishes of each kind, checked, and the
//! throwaway stream gone afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use async_nats::jetstream;
use loadgen::nats::{PublishConfig, measure};

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

#[tokio::test]
async fn publishing_reports_both_rates_and_deletes_its_stream() {
    let config = PublishConfig {
        messages: 300,
        // not a divisor of the messages: the last batch is a short one
        batch: 64,
        rounds: 2,
    };
    let report = measure(&nats_url(), &config).await.expect("the publishes");

    assert_eq!(report.pipelined_rounds_per_s.len(), 2);
    assert_eq!(report.one_at_a_time_rounds_per_s.len(), 2);
    assert!(report.nats_publish_per_s > 0.0, "{report:?}");
    assert!(report.nats_publish_one_at_a_time_per_s > 0.0, "{report:?}");
    assert_eq!((report.messages, report.batch), (300, 64));
    assert!(report.payload_bytes > 500, "{report:?}");

    let js = jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    assert!(
        js.get_stream(&report.stream).await.is_err(),
        "the stream {} is still there",
        report.stream
    );
}

#[tokio::test]
async fn a_batch_of_zero_is_refused_before_connecting() {
    let config = PublishConfig {
        messages: 10,
        batch: 0,
        rounds: 1,
    };
    // nothing listens on port 1: the refusal must come from the arguments
    let err = measure("nats://127.0.0.1:1", &config).await.unwrap_err();
    assert!(err.to_string().contains("--batch"), "{err}");
}
