//! One `orders serve` process: started, killed, stopped and started again on the same port
//! and database, its output appended to a log file.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

/// Longest a server may take from spawn to answering `/readyz` with 200 (a debug build,
/// migrating a fresh database on a busy machine).
const READY_TIMEOUT_SECS: u64 = 120;
/// How often readiness is polled.
const READY_POLL_INTERVAL_MS: u64 = 100;

/// What every server of an experiment is started with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The `orders` binary.
    pub bin: PathBuf,
    /// Its `database_url`.
    pub database_url: String,
    /// Environment for the server (secrets, short deadlines).
    pub env: Vec<(String, String)>,
}

/// A server process and where it listens.
#[derive(Debug)]
pub struct Node {
    config: ServerConfig,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Node {
    /// A node on a free port, logging to `log`; not started.
    pub fn new(config: ServerConfig, log: PathBuf) -> anyhow::Result<Self> {
        // the port stays this node's across restarts, so clients keep their base URL
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Ok(Self {
            config,
            port,
            log,
            child: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        })
    }

    /// The base URL clients use.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Whether the process is running (started and not yet reaped).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Starts the server and waits until it answers `/readyz` with 200.
    pub async fn start(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut command = Command::new(&self.config.bin);
        command
            .args(["serve", "--database-url", &self.config.database_url])
            .args(["--http-addr", &format!("127.0.0.1:{}", self.port)])
            .env_remove("DATABASE_URL")
            .env_remove("NATS_URL")
            .envs(self.config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.config.bin.display()))?;
        self.child = Some(child);
        let deadline = started + Duration::from_secs(READY_TIMEOUT_SECS);
        loop {
            if !self.is_running() {
                anyhow::bail!(
                    "the server on port {} exited while starting; see {}",
                    self.port,
                    self.log.display()
                );
            }
            let ready = self
                .http
                .get(format!("{}/readyz", self.url()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(started.elapsed());
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "the server on port {} was not ready within {READY_TIMEOUT_SECS} s; see {}",
                    self.port,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(READY_POLL_INTERVAL_MS)).await;
        }
    }

    /// SIGKILL: the process dies at once, mid-request.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill().ok();
            child.wait().await?;
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `limit` for the process to exit. Answers how long it took,
    /// or `None` when it was still running at `limit` (it is then SIGKILLed).
    pub async fn terminate(&mut self, limit: Duration) -> anyhow::Result<Option<Duration>> {
        let Some(mut child) = self.child.take() else {
            return Ok(Some(Duration::ZERO));
        };
        let Some(pid) = child.id() else {
            // already exited and reaped
            return Ok(Some(Duration::ZERO));
        };
        let started = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed: {status}");
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(exit) => {
                exit?;
                Ok(Some(started.elapsed()))
            }
            Err(_) => {
                child.start_kill().ok();
                child.wait().await?;
                Ok(None)
            }
        }
    }

    /// Lines the server logged at ERROR level so far.
    pub fn error_lines(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|text| text.lines().filter(|l| l.contains("ERROR")).count())
            .unwrap_or_default()
    }
}
