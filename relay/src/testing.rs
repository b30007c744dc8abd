//! Helpers for tests that need NATS (the `testing` feature): a throwaway `nats-server` to
//! stop and start at will, and a reader of every message of a stream.
//!
//! Test support: these panic, with a message saying why, instead of returning errors.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use async_nats::{HeaderMap, HeaderName};
use futures::StreamExt;

use crate::Envelope;

/// Where `nats-server` is looked for when it is not on the `PATH`.
const NATS_SERVER_FALLBACK: &str = "/usr/sbin/nats-server";
/// How long a started server has to accept connections.
const SERVER_START_TIMEOUT_MS: u64 = 10_000;

/// A `nats-server -js` of its own, on a free port with a store in a temporary folder; killed
/// when dropped.
#[derive(Debug)]
pub struct ThrowawayNats {
    binary: PathBuf,
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl ThrowawayNats {
    /// Starts a server and waits until it accepts connections.
    ///
    /// # Panics
    /// When `nats-server` is neither on the `PATH` nor at `/usr/sbin/nats-server`, or does not
    /// start.
    pub fn start_new() -> Self {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "nats-server not found on the PATH nor at {NATS_SERVER_FALLBACK}: install it \
                 (apt-get install nats-server) to run the tests that need NATS"
            )
        });
        let port = free_port();
        let store = tempfile::tempdir()
            .unwrap_or_else(|err| panic!("cannot make a store folder for nats-server: {err}"));
        let mut nats = Self {
            binary,
            port,
            store,
            child: None,
        };
        nats.start();
        nats
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (an outage); [`start`](Self::start) brings it back with its streams.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // it may have died already: either way it is gone
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store, and waits until it accepts
    /// connections (a server already running is left as it is).
    ///
    /// # Panics
    /// When it does not start within 10 s.
    pub fn start(&mut self) {
        if self.child.is_some() {
            return;
        }
        let child = Command::new(&self.binary)
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_millis(SERVER_START_TIMEOUT_MS);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not accept connections on port {} within {SERVER_START_TIMEOUT_MS} ms",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ThrowawayNats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let fallback = PathBuf::from(NATS_SERVER_FALLBACK);
        fallback.is_file().then_some(fallback)
    })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|err| panic!("cannot find a free port: {err}"));
    listener
        .local_addr()
        .unwrap_or_else(|err| panic!("cannot find a free port: {err}"))
        .port()
}

/// One message of a stream as stored.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// Its sequence in the stream.
    pub sequence: u64,
    /// The subject it was published on.
    pub subject: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub payload: Vec<u8>,
}

impl StoredMessage {
    /// A header's value (by its name as written on the wire: `Nats-Msg-Id`).
    pub fn header(&self, name: &str) -> Option<String> {
        let name: HeaderName = name.parse().ok()?;
        self.headers
            .get(name)
            .map(|value| value.as_str().to_owned())
    }

    /// Its body as an envelope.
    ///
    /// # Panics
    /// When it is not one.
    pub fn envelope(&self) -> Envelope {
        Envelope::from_json(&self.payload).unwrap_or_else(|err| {
            panic!(
                "message {} on {} is not an envelope: {err}",
                self.sequence, self.subject
            )
        })
    }
}

/// Every message of `stream` as it is now, in stream order.
///
/// # Panics
/// When the stream cannot be read.
pub async fn read_stream(js: &jetstream::Context, stream: &str) -> Vec<StoredMessage> {
    let mut handle = js
        .get_stream(stream)
        .await
        .unwrap_or_else(|err| panic!("no stream {stream}: {err}"));
    let state = handle
        .info()
        .await
        .unwrap_or_else(|err| panic!("no info of stream {stream}: {err}"))
        .state
        .clone();
    let mut read = Vec::new();
    if state.messages == 0 {
        return read;
    }
    let mut messages = handle
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..pull::OrderedConfig::default()
        })
        .await
        .unwrap_or_else(|err| panic!("cannot read stream {stream}: {err}"))
        .messages()
        .await
        .unwrap_or_else(|err| panic!("cannot read stream {stream}: {err}"));
    while let Some(message) = messages.next().await {
        let message = message.unwrap_or_else(|err| panic!("reading stream {stream}: {err}"));
        let sequence = message
            .info()
            .unwrap_or_else(|err| panic!("a message of stream {stream} without info: {err}"))
            .stream_sequence;
        read.push(StoredMessage {
            sequence,
            subject: message.subject.to_string(),
            headers: message.headers.clone().unwrap_or_default(),
            payload: message.payload.to_vec(),
        });
        if sequence >= state.last_sequence {
            break;
        }
    }
    read
}

/// Publishes `events` to the stream of `settings` as the relay does (envelope, subject and
/// headers), one at a time, each acknowledged before the next.
///
/// # Panics
/// When a publish is not acknowledged.
pub async fn publish(
    js: &jetstream::Context,
    settings: &crate::RelaySettings,
    events: &[event_store::RecordedEvent],
) {
    for event in events {
        let envelope = Envelope::of(event);
        let body = envelope
            .to_json()
            .unwrap_or_else(|err| panic!("an envelope that cannot be written: {err}"));
        js.publish_with_headers(
            envelope.subject(&settings.subject_prefix),
            envelope.headers(),
            body.into(),
        )
        .await
        .unwrap_or_else(|err| panic!("publishing {}: {err}", envelope.event_id))
        .await
        .unwrap_or_else(|err| panic!("no ack for {}: {err}", envelope.event_id));
    }
}
