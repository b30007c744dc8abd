//! The durable consumer: dead letters after the last delivery, and redelivery of what was
//! handled but not acknowledged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use event_store::follower::HandlerError;
use relay::consumer::{
    HEADER_DEAD_LETTER_CONSUMER, HEADER_DEAD_LETTER_DELIVERIES, HEADER_DEAD_LETTER_ERROR,
    HEADER_DEAD_LETTER_SEQUENCE, HEADER_DEAD_LETTER_STREAM, HEADER_DEAD_LETTER_SUBJECT,
};
use relay::testing::read_stream;
use relay::{
    ConsumerMetrics, ConsumerSettings, Envelope, EnvelopeHandler, HEADER_EVENT_TYPE, RelaySettings,
    run_consumer,
};
use tokio_util::sync::CancellationToken;

use crate::fixture::{
    delete_streams, jetstream_with_stream, nats_url, publish, recorded, unique_settings,
    wait_for_messages,
};

/// Every event id a handler was given, in order, shared with the test.
type Seen = Arc<Mutex<Vec<String>>>;

struct AlwaysFails(Seen);

impl EnvelopeHandler for AlwaysFails {
    fn name(&self) -> &'static str {
        "always-fails"
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(envelope.event_id.clone());
        Err("the downstream service refused it".into())
    }
}

/// Records what it handles; with `hang`, never returns from its first call: the process
/// "crashes" after the effect and before the acknowledgement.
struct Recorder {
    seen: Seen,
    hang: bool,
}

impl EnvelopeHandler for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        self.seen.lock().unwrap().push(envelope.event_id.clone());
        if self.hang {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

fn consumer_settings(settings: &RelaySettings, durable: &str) -> ConsumerSettings {
    ConsumerSettings {
        max_deliver: 3,
        ack_wait: Duration::from_secs(1),
        nak_delay: Duration::from_millis(50),
        ..ConsumerSettings::new(settings, durable)
    }
}

async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_dead_lettered_after_its_last_delivery() {
    let settings = unique_settings();
    let js = jetstream_with_stream(&nats_url(), &settings).await;
    relay::ensure_dead_letter_stream(&js, &settings)
        .await
        .unwrap();
    publish(&js, &settings, &[recorded(4242, 1)]).await;
    // and a body that is not an envelope at all
    let garbage_subject = format!("{}.Order.0.Garbage", settings.subject_prefix);
    js.publish(garbage_subject.clone(), "not json".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let seen = Seen::default();
    let shutdown = CancellationToken::new();
    let consumer = consumer_settings(&settings, "dead-letter-test");
    let metrics = ConsumerMetrics::new().unwrap();
    let running = tokio::spawn(run_consumer(
        js.clone(),
        consumer.clone(),
        AlwaysFails(seen.clone()),
        metrics.clone(),
        shutdown.clone(),
    ));
    wait_for_messages(
        &js,
        &settings.dead_letter_stream(),
        2,
        Duration::from_secs(15),
    )
    .await;
    // no fourth delivery, however long the consumer runs on
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    shutdown.cancel();
    running.await.unwrap();

    assert_eq!(
        *seen.lock().unwrap(),
        vec!["Order/4242/1".to_owned(); 3],
        "delivered max_deliver times, then never again"
    );
    let letters = read_stream(&js, &settings.dead_letter_stream()).await;
    assert_eq!(letters.len(), 2);
    let letter = letters
        .iter()
        .find(|letter| {
            letter.header(HEADER_DEAD_LETTER_SUBJECT).as_deref() != Some(&garbage_subject)
        })
        .unwrap();
    assert_eq!(letter.subject, consumer.dead_letter_subject);
    assert_eq!(letter.envelope().event_id, "Order/4242/1");
    assert_eq!(
        letter.header(HEADER_DEAD_LETTER_STREAM).unwrap(),
        settings.stream
    );
    assert_eq!(
        letter.header(HEADER_DEAD_LETTER_SUBJECT).unwrap(),
        format!(
            "{}.Order.{}.Changed",
            settings.subject_prefix,
            ids::gene_of_order(4242)
        )
    );
    assert_eq!(letter.header(HEADER_DEAD_LETTER_SEQUENCE).unwrap(), "1");
    assert_eq!(letter.header(HEADER_DEAD_LETTER_DELIVERIES).unwrap(), "3");
    assert_eq!(
        letter.header(HEADER_DEAD_LETTER_CONSUMER).unwrap(),
        "dead-letter-test"
    );
    assert_eq!(
        letter.header(HEADER_DEAD_LETTER_ERROR).unwrap(),
        "the downstream service refused it"
    );
    assert_eq!(letter.header(HEADER_EVENT_TYPE).unwrap(), "Changed");
    let garbage = letters
        .iter()
        .find(|letter| letter.payload == b"not json")
        .unwrap();
    assert!(
        garbage
            .header(HEADER_DEAD_LETTER_ERROR)
            .unwrap()
            .starts_with("not an envelope")
    );

    let label = ["always-fails"];
    assert_eq!(metrics.dead_lettered.with_label_values(&label).get(), 1 + 1);
    assert_eq!(metrics.failed.with_label_values(&label).get(), 2 + 2);
    assert_eq!(metrics.handled.with_label_values(&label).get(), 0);
    let info = js
        .get_stream(&settings.stream)
        .await
        .unwrap()
        .consumer_info("dead-letter-test")
        .await
        .unwrap();
    assert_eq!((info.num_ack_pending, info.num_pending), (0, 0));
    delete_streams(&js, &settings).await;
}

#[tokio::test]
async fn a_message_handled_but_not_acknowledged_before_a_crash_is_delivered_again() {
    let settings = unique_settings();
    let js: jetstream::Context = jetstream_with_stream(&nats_url(), &settings).await;
    publish(&js, &settings, &[recorded(77, 1)]).await;
    let consumer = consumer_settings(&settings, "crash-test");
    let seen = Seen::default();

    let crashing = tokio::spawn(run_consumer(
        js.clone(),
        consumer.clone(),
        Recorder {
            seen: seen.clone(),
            hang: true,
        },
        ConsumerMetrics::new().unwrap(),
        CancellationToken::new(),
    ));
    eventually("the first delivery", Duration::from_secs(10), || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    // the crash: the effect took place, the acknowledgement never leaves
    crashing.abort();
    let _ = crashing.await;

    let shutdown = CancellationToken::new();
    let metrics = ConsumerMetrics::new().unwrap();
    let restarted = tokio::spawn(run_consumer(
        js.clone(),
        consumer,
        Recorder {
            seen: seen.clone(),
            hang: false,
        },
        metrics.clone(),
        shutdown.clone(),
    ));
    eventually(
        "the redelivery after the ack wait",
        Duration::from_secs(10),
        || seen.lock().unwrap().len() >= 2,
    )
    .await;
    eventually("its acknowledgement", Duration::from_secs(5), || {
        metrics.handled.with_label_values(&["recorder"]).get() == 1
    })
    .await;
    // acknowledged this time: not delivered a third time
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    shutdown.cancel();
    restarted.await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec!["Order/77/1".to_owned(); 2]);
    delete_streams(&js, &settings).await;
}

#[tokio::test]
async fn a_consumer_rides_out_a_nats_outage() {
    let mut nats = relay::testing::ThrowawayNats::start_new();
    let settings = unique_settings();
    let js = jetstream_with_stream(&nats.url(), &settings).await;
    publish(&js, &settings, &[recorded(5, 1)]).await;
    let seen = Seen::default();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run_consumer(
        js.clone(),
        consumer_settings(&settings, "outage-test"),
        Recorder {
            seen: seen.clone(),
            hang: false,
        },
        ConsumerMetrics::new().unwrap(),
        shutdown.clone(),
    ));
    eventually("the first message", Duration::from_secs(10), || {
        seen.lock().unwrap().len() == 1
    })
    .await;

    nats.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !running.is_finished(),
        "the consumer gave up during the outage"
    );
    nats.start();
    // the test's own client reconnects too: publish once it has
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = relay::Envelope::of(&recorded(5, 2));
    loop {
        let sent = js
            .publish_with_headers(
                event.subject(&settings.subject_prefix),
                event.headers(),
                event.to_json().unwrap().into(),
            )
            .await;
        if let Ok(ack) = sent
            && ack.await.is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "NATS did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = Instant::now();
    eventually(
        "the message after the outage",
        Duration::from_secs(20),
        || seen.lock().unwrap().contains(&"Order/5/2".to_owned()),
    )
    .await;
    eprintln!("consumed again {:?} after NATS came back", back.elapsed());
    shutdown.cancel();
    running.await.unwrap();
    delete_streams(&js, &settings).await;
}
