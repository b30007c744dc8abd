//! The NATS baseline: how many event-sized messages one client gets acknowledged by JetStream
//! per second, the ceiling of the relay that publishes the log (DESIGN section 8).
//!
//! Each run makes a throwaway stream (file storage, a unique name, deleted at the end whatever
//! happened) and publishes envelopes like the relay's (about 600 bytes of JSON), each with a
//! unique `Nats-Msg-Id`, in two ways, round after round:
//! - pipelined, as the relay does: a batch of publishes, then their acknowledgements;
//! - one at a time: each publish waits for its acknowledgement before the next.
//!
//! Every acknowledgement is checked (none may be a duplicate) and so is the stream's message
//! count after each round; the stream is purged between rounds, so each starts alike.

use std::time::Instant;

use async_nats::jetstream::{self, stream};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The most publishes in flight at once: a batch's acknowledgements are held in memory.
pub const BATCH_MAX: usize = 100_000;
/// The most rounds of each kind.
pub const ROUNDS_MAX: usize = 25;
/// Subjects the messages spread over, as the relay's `orders.<aggregate>.<partition>.<event>`
/// spread over partitions.
const PARTITIONS: usize = 16;

/// How much to publish.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// Messages in each round.
    pub messages: usize,
    /// Publishes in flight before their acknowledgements are awaited (pipelined rounds).
    pub batch: usize,
    /// Rounds of each kind; the report gives each kind's median.
    pub rounds: usize,
}

/// What `loadgen nats-publish` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishReport {
    /// Median over the rounds of acknowledged publishes per second, pipelined in batches.
    pub nats_publish_per_s: f64,
    /// Median over the rounds of acknowledged publishes per second, one at a time.
    pub nats_publish_one_at_a_time_per_s: f64,
    /// Each pipelined round's rate, in the order run.
    pub pipelined_rounds_per_s: Vec<f64>,
    /// Each one-at-a-time round's rate, in the order run.
    pub one_at_a_time_rounds_per_s: Vec<f64>,
    /// Messages in each round.
    pub messages: usize,
    /// Publishes in flight per batch in the pipelined rounds.
    pub batch: usize,
    /// Size of each message's payload.
    pub payload_bytes: usize,
    /// The throwaway stream (deleted by the time the report is made).
    pub stream: String,
}

/// Publishes `config.rounds` rounds of each kind to a throwaway stream on the server at
/// `nats_url`, and deletes the stream afterwards, also when a round failed.
pub async fn measure(nats_url: &str, config: &PublishConfig) -> anyhow::Result<PublishReport> {
    anyhow::ensure!(config.messages > 0, "--messages must be at least 1");
    anyhow::ensure!(
        (1..=BATCH_MAX).contains(&config.batch),
        "--batch must be 1 to {BATCH_MAX}"
    );
    anyhow::ensure!(
        (1..=ROUNDS_MAX).contains(&config.rounds),
        "--rounds must be 1 to {ROUNDS_MAX}"
    );
    let client = async_nats::connect(nats_url)
        .await
        .map_err(|err| anyhow::anyhow!("cannot connect to NATS at {nats_url}: {err}"))?;
    let js = jetstream::new(client.clone());
    let run = format!(
        "{}_{:x}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let name = format!("LOADGEN_PUBLISH_{run}");
    let prefix = format!("loadgen.publish.{run}");
    let created = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.>")],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await;
    let mut stream = match created {
        Ok(stream) => stream,
        Err(err) => {
            anyhow::bail!("cannot create the JetStream stream {name} (is JetStream on?): {err}")
        }
    };
    let rounds = run_rounds(&js, &mut stream, &prefix, config).await;
    let deleted = js.delete_stream(&name).await;
    client.flush().await.ok();
    let (pipelined, one_at_a_time) = rounds?;
    deleted.map_err(|err| anyhow::anyhow!("cannot delete the stream {name}: {err}"))?;
    Ok(PublishReport {
        nats_publish_per_s: median(&pipelined),
        nats_publish_one_at_a_time_per_s: median(&one_at_a_time),
        pipelined_rounds_per_s: pipelined,
        one_at_a_time_rounds_per_s: one_at_a_time,
        messages: config.messages,
        batch: config.batch,
        payload_bytes: envelope().len(),
        stream: name,
    })
}

/// Deletes the streams `names` on the server at `nats_url` (the bench's relay streams), with
/// their consumers; a stream that does not exist counts as deleted. Answers the ones deleted.
pub async fn delete_streams(nats_url: &str, names: &[String]) -> anyhow::Result<Vec<String>> {
    let client = async_nats::connect(nats_url)
        .await
        .map_err(|err| anyhow::anyhow!("cannot connect to NATS at {nats_url}: {err}"))?;
    let js = jetstream::new(client.clone());
    let mut deleted = Vec::new();
    for name in names {
        match js.delete_stream(name).await {
            Ok(_) => deleted.push(name.clone()),
            Err(err) => {
                let missing = matches!(
                    err.kind(),
                    jetstream::context::GetStreamErrorKind::JetStream(ref js_err)
                        if js_err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
                );
                anyhow::ensure!(missing, "cannot delete the stream {name}: {err}");
            }
        }
    }
    client.flush().await.ok();
    Ok(deleted)
}

/// The rounds, alternating pipelined and one at a time after a pipelined warm-up batch:
/// each kind's rates, in the order run.
async fn run_rounds(
    js: &jetstream::Context,
    stream: &mut stream::Stream,
    prefix: &str,
    config: &PublishConfig,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let publisher = Publisher::new(js, prefix);
    publisher.pipelined(config.batch, config.batch).await?;
    purge(stream, config.batch).await?;
    let mut pipelined = Vec::with_capacity(config.rounds);
    let mut one_at_a_time = Vec::with_capacity(config.rounds);
    for _ in 0..config.rounds {
        let started = Instant::now();
        publisher.pipelined(config.messages, config.batch).await?;
        pipelined.push(config.messages as f64 / started.elapsed().as_secs_f64());
        purge(stream, config.messages).await?;

        let started = Instant::now();
        publisher.one_at_a_time(config.messages).await?;
        one_at_a_time.push(config.messages as f64 / started.elapsed().as_secs_f64());
        purge(stream, config.messages).await?;
    }
    Ok((pipelined, one_at_a_time))
}

/// Empties the stream after checking that it holds the `expected` messages just published.
async fn purge(stream: &mut stream::Stream, expected: usize) -> anyhow::Result<()> {
    let held = stream.info().await?.state.messages;
    anyhow::ensure!(
        held == expected as u64,
        "the stream holds {held} messages after {expected} publishes"
    );
    stream.purge().await?;
    Ok(())
}

/// Publishes the envelope to the stream's subjects, each message with a new `Nats-Msg-Id`.
struct Publisher<'a> {
    js: &'a jetstream::Context,
    subjects: Vec<Subject>,
    payload: Bytes,
}

impl<'a> Publisher<'a> {
    fn new(js: &'a jetstream::Context, prefix: &str) -> Self {
        Publisher {
            js,
            subjects: (0..PARTITIONS)
                .map(|p| Subject::from(format!("{prefix}.order.{p}.OrderPlaced")))
                .collect(),
            payload: Bytes::from(envelope()),
        }
    }

    async fn publish(&self, n: usize) -> anyhow::Result<jetstream::context::PublishAckFuture> {
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            uuid::Uuid::new_v4().to_string().as_str(),
        );
        let subject = self.subjects[n % PARTITIONS].clone();
        Ok(self
            .js
            .publish_with_headers(subject, headers, self.payload.clone())
            .await?)
    }

    /// `messages` publishes in batches of `batch`: each batch is sent, then its
    /// acknowledgements awaited.
    async fn pipelined(&self, messages: usize, batch: usize) -> anyhow::Result<()> {
        let mut acks = Vec::with_capacity(batch);
        let mut sent = 0;
        while sent < messages {
            let end = messages.min(sent + batch);
            for n in sent..end {
                acks.push(self.publish(n).await?);
            }
            for ack in acks.drain(..) {
                check(ack.await?)?;
            }
            sent = end;
        }
        Ok(())
    }

    /// `messages` publishes, each acknowledged before the next is sent.
    async fn one_at_a_time(&self, messages: usize) -> anyhow::Result<()> {
        for n in 0..messages {
            check(self.publish(n).await?.await?)?;
        }
        Ok(())
    }
}

fn check(ack: jetstream::publish::PublishAck) -> anyhow::Result<()> {
    anyhow::ensure!(
        !ack.duplicate,
        "JetStream took a message with a new Nats-Msg-Id for a duplicate (sequence {})",
        ack.sequence
    );
    Ok(())
}

/// An envelope like the relay's: an `OrderPlaced` of one line in its stored format
/// (domain/tests/fixtures/events/Order/OrderPlaced.v1.0.json), with the event's identity,
/// position and metadata around it.
pub fn envelope() -> Vec<u8> {
    let envelope = serde_json::json!({
        "event_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
        "aggregate_type": "Order",
        "aggregate_id": "1001",
        "sequence": 1,
        "event_type": "OrderPlaced",
        "event_version": "1.0",
        "metadata": {
            "correlation_id": "checkout:1001",
            "causation_id": "request:req-7f3a",
            "actor": "buyer:b-1",
        },
        "payload": { "OrderPlaced": {
            "order_id": "1001",
            "buyer": "b-1",
            "seller": "s-1",
            "items": [{
                "line": 0,
                "sku": "tea",
                "quantity": 3,
                "snapshot": {
                    "sku": "tea",
                    "seller": "s-1",
                    "title": "Product tea",
                    "unit_price": 1000,
                    "version": 1,
                },
                "list_total": 3000,
                "discount": 86,
                "paid_amount": 2914,
            }],
            "list_total": 3000,
            "discount": 86,
            "total": 2914,
            "placed_at": "2025-01-01T00:00:00Z",
            "payment_due_at": "2025-01-01T00:15:00Z",
        }},
    });
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// The median (the mean of the middle two for an even count; 0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_the_rounds_is_the_middle_one() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn the_envelope_is_the_size_of_the_relays() {
        let size = envelope().len();
        assert!((500..=700).contains(&size), "{size} bytes");
    }
}
