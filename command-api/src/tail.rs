//! `orders tail`: every event published to the JetStream stream, one JSON line each, as the
//! relay publishes them (the library side is [`relay::tail`]).

use std::io::Write;

use async_nats::jetstream;
use relay::{RelayError, Tail, TailOptions};

use crate::config::Settings;

/// What `orders tail` was asked for.
#[derive(Clone, Debug, Default)]
pub struct TailArgs {
    /// The stream (default: the `nats_stream` setting).
    pub stream: Option<String>,
    /// The subjects shown, a pattern (default: every event, `<nats_subject_prefix>.>`).
    pub subject: Option<String>,
    /// A durable consumer's name: a second run with it resumes after the last line printed.
    pub durable: Option<String>,
    /// Start at the stream's first message rather than at new ones.
    pub from_start: bool,
}

/// Why `orders tail` stopped.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// No NATS server is configured: the command line exits 2 for it.
    #[error("orders tail needs NATS: set NATS_URL (or nats_url in the config file, or --nats-url)")]
    NatsUrlMissing,
    /// NATS failed.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// Writing a line failed.
    #[error("writing to stdout: {0}")]
    Write(#[from] std::io::Error),
    /// A message could not be written as JSON.
    #[error("writing a message as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Prints every message of `args`' stream and subjects to `out`, one JSON line each, flushed
/// per line, until interrupted (Ctrl-C) or `out` is closed. With a durable name, each message
/// is acknowledged once printed.
pub async fn run(
    settings: &Settings,
    args: TailArgs,
    mut out: impl Write,
) -> Result<(), TailError> {
    let url = settings
        .nats_url
        .as_deref()
        .ok_or(TailError::NatsUrlMissing)?;
    // the stream and subjects the relay publishes to, as the settings name them
    let relay = settings.relay_settings();
    let options = TailOptions {
        stream: args.stream.unwrap_or(relay.stream.clone()),
        subject: args.subject.unwrap_or_else(|| relay.all_subjects()),
        durable: args.durable,
        from_start: args.from_start,
    };
    let js = jetstream::new(relay::connect(url, "orders-tail").await?);
    let mut tail = Tail::open(&js, &options).await?;
    tracing::info!(
        stream = %options.stream,
        subject = %options.subject,
        from_start = options.from_start,
        "tailing: one JSON line per event on stdout; Ctrl-C stops"
    );
    // one future for the whole run: an interrupt while a line is written is not missed
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let tailed = tokio::select! {
            biased;
            _ = &mut interrupted => return Ok(()),
            tailed = tail.next() => tailed?,
        };
        let mut line = serde_json::to_vec(&tailed.body)?;
        line.push(b'\n');
        match out.write_all(&line).and_then(|()| out.flush()) {
            Ok(()) => {}
            // the reader went away (`orders tail | head`): done, and this one not acknowledged
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(err) => return Err(err.into()),
        }
        tailed.ack().await?;
    }
}
