//! The relay's figures, read from the `/metrics` of the `orders serve` that runs it:
//! - [`lag`]: the p99 of `relay_commit_to_ack_seconds` (an event's commit to its JetStream
//!   acknowledgement) over everything the relay published, read once at the end of a step;
//! - [`drain`]: how fast a relay publishes a log that is already written, from its first
//!   acknowledged publish to the last, polling `relay_published_total`.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::metrics::{self, Histogram};

/// The relay's histogram of an event's commit to its acknowledgement.
pub const COMMIT_TO_ACK: &str = "relay_commit_to_ack_seconds";
/// The relay's count of acknowledged publishes.
pub const PUBLISHED: &str = "relay_published_total";
/// The relay's lag gauge, one series per shard (`relay="relay",shard="default"`, ...); its
/// followers measure it about once a second, so it confirms a drain's end rather than timing
/// it. [`drain`] reads it summed over the shards: the events left to publish in all.
pub const LAG_EVENTS: &str = "relay_lag_events";
/// The relay's follower name: its `relay` label on [`LAG_EVENTS`].
const RELAY: &str = "relay";
/// How often [`drain`] reads `/metrics`: the end of a drain is known to within this.
pub const DRAIN_POLL_INTERVAL_MS: u64 = 20;
/// How long [`drain`] waits, once every event was acknowledged, for the lag gauge to read 0.
const LAG_SETTLE_MAX_MS: u64 = 10_000;
/// Longest wait for one answer from `/metrics`.
const SCRAPE_TIMEOUT_MS: u64 = 5_000;

/// What `loadgen relay-lag` read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LagReport {
    /// p99 of commit to acknowledgement, in ms, interpolated within its bucket.
    pub relay_lag_p99_ms: f64,
    /// p50, likewise.
    pub relay_lag_p50_ms: f64,
    /// Events the histogram holds.
    pub relay_lag_events: u64,
}

/// What `loadgen relay-drain` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrainReport {
    /// Events acknowledged per second between the first poll that saw a publish and the one
    /// that saw the last.
    pub relay_events_per_s: f64,
    /// Events acknowledged in all (those of the first batches before the first poll too).
    pub relay_drained_events: u64,
    /// Events acknowledged within the timed interval.
    pub relay_timed_events: u64,
    /// Seconds of the timed interval.
    pub relay_drain_s: f64,
    /// Seconds from the start of polling to the first publish seen (lease, connection, the
    /// stream's state, the first read of the log).
    pub relay_first_publish_after_s: f64,
}

/// Reads `/metrics` at `url` once.
pub async fn scrape(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let answer = http
        .get(url)
        .timeout(Duration::from_millis(SCRAPE_TIMEOUT_MS))
        .send()
        .await?
        .error_for_status()?;
    Ok(answer.text().await?)
}

/// The relay's commit-to-ack quantiles as the metrics text `text` gives them.
pub fn lag_of(text: &str) -> anyhow::Result<LagReport> {
    let histogram = Histogram::read(text, COMMIT_TO_ACK)
        .ok_or_else(|| anyhow::anyhow!("no {COMMIT_TO_ACK} in the metrics: is the relay on?"))?;
    let quantile = |q: f64| {
        histogram.quantile(q).map(|s| s * 1_000.0).ok_or_else(|| {
            anyhow::anyhow!("{COMMIT_TO_ACK} holds no event: the relay published nothing")
        })
    };
    Ok(LagReport {
        relay_lag_p99_ms: quantile(0.99)?,
        relay_lag_p50_ms: quantile(0.5)?,
        relay_lag_events: histogram.count() as u64,
    })
}

/// [`lag_of`] the metrics at `url`.
pub async fn lag(url: &str) -> anyhow::Result<LagReport> {
    lag_of(&scrape(&reqwest::Client::new(), url).await?)
}

/// Polls the metrics at `url` every [`DRAIN_POLL_INTERVAL_MS`] until the relay has
/// acknowledged `events` publishes, then waits for its lag gauge to read 0; fails after
/// `timeout`. The rate counts only what was acknowledged between the first poll that saw a
/// publish and the poll that saw the last, so the relay's start and the polling's granularity
/// do not enter it.
pub async fn drain(url: &str, events: u64, timeout: Duration) -> anyhow::Result<DrainReport> {
    anyhow::ensure!(events > 0, "--events must be at least 1");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let deadline = started + timeout;
    let mut interval = tokio::time::interval(Duration::from_millis(DRAIN_POLL_INTERVAL_MS));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first: Option<(Instant, u64)> = None;
    let mut published = 0;
    let (last_at, last) = loop {
        interval.tick().await;
        anyhow::ensure!(
            Instant::now() < deadline,
            "the relay acknowledged {published} of {events} events within {} s",
            timeout.as_secs()
        );
        // the node may still be starting: a failed scrape is tried again
        let Ok(text) = scrape(&http, url).await else {
            continue;
        };
        let now = Instant::now();
        published = metrics::value(&text, PUBLISHED, &[]).unwrap_or(0.0) as u64;
        if published == 0 {
            continue;
        }
        let (_, first_count) = *first.get_or_insert((now, published));
        if published >= events && published > first_count {
            break (now, published);
        }
        anyhow::ensure!(
            published < events,
            "the relay acknowledged all {events} events before a second poll: too few to time"
        );
    };
    let (first_at, first_count) = first.unwrap_or((last_at, last));
    settle(&http, url).await?;
    let seconds = (last_at - first_at).as_secs_f64();
    let timed = last - first_count;
    Ok(DrainReport {
        relay_events_per_s: timed as f64 / seconds,
        relay_drained_events: last,
        relay_timed_events: timed,
        relay_drain_s: seconds,
        relay_first_publish_after_s: (first_at - started).as_secs_f64(),
    })
}

/// The relay's lag in events as the metrics text `text` gives it: summed over the shards, so
/// it reads 0 only when every shard's follower has published its log; `None` before the
/// followers measured it.
fn lag_events_of(text: &str) -> Option<f64> {
    metrics::value(text, LAG_EVENTS, &[("relay", RELAY)])
}

/// Waits for the relay's lag gauge, summed over the shards, to read 0: nothing of any shard's
/// log left to publish.
async fn settle(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(LAG_SETTLE_MAX_MS);
    let mut lag = None;
    while Instant::now() < deadline {
        let text = scrape(http, url).await?;
        lag = lag_events_of(&text);
        if lag == Some(0.0) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(DRAIN_POLL_INTERVAL_MS * 5)).await;
    }
    anyhow::bail!(
        "{LAG_EVENTS} read {lag:?}, not 0, {LAG_SETTLE_MAX_MS} ms after the last event was \
         acknowledged"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_is_read_in_milliseconds() {
        let text = "relay_commit_to_ack_seconds_bucket{le=\"0.005\"} 90\n\
                    relay_commit_to_ack_seconds_bucket{le=\"0.01\"} 100\n\
                    relay_commit_to_ack_seconds_bucket{le=\"+Inf\"} 100\n";
        let lag = lag_of(text).unwrap();
        assert!((lag.relay_lag_p99_ms - 9.5).abs() < 1e-9, "{lag:?}");
        assert!((lag.relay_lag_p50_ms - 50.0 / 90.0 * 5.0).abs() < 1e-9);
        assert_eq!(lag.relay_lag_events, 100);
    }

    #[test]
    fn the_lag_in_events_is_every_shards() {
        let text = "relay_lag_events{relay=\"relay\",shard=\"default\"} 0\n\
                    relay_lag_events{relay=\"relay\",shard=\"s2\"} 4\n";
        assert_eq!(lag_events_of(text), Some(4.0));
        let caught_up = text.replace("} 4", "} 0");
        assert_eq!(lag_events_of(&caught_up), Some(0.0));
        assert_eq!(lag_events_of("relay_published_total 0\n"), None);
    }

    #[test]
    fn no_relay_or_no_event_is_an_error() {
        assert!(lag_of("relay_published_total 0\n").is_err());
        assert!(lag_of("relay_commit_to_ack_seconds_bucket{le=\"+Inf\"} 0\n").is_err());
    }
}
