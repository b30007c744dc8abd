//! The log's commit hints (ADR 44): a process that appended sends `NOTIFY` on
//! [`NOTIFY_CHANNEL`] after its appends have committed, and every process listens on one
//! connection, so that subscriptions wake on another process's commits instead of waiting for
//! their next poll. A hint only wakes: a lost one delays a subscription until it polls.
//!
//! The hint is not sent from inside the appends' transactions (a trigger did until migration
//! 0047): a transaction that queued a notification takes a lock of the whole server at its
//! commit and holds it through the commit's WAL flush, so every appending commit of every
//! database of the server went one at a time. Here one `NOTIFY` is in flight per process at a
//! time, and the commits it covers are already durable; its own commit is not waited for.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};

/// The channel the log's commit hints go on.
pub(crate) const NOTIFY_CHANNEL: &str = "orders_events";

/// Wait before listening again after the LISTEN connection failed.
const LISTEN_RETRY_MS: u64 = 1_000;

/// How often an idle sender of hints looks whether its store is still there.
const HINTS_IDLE_CHECK_MS: u64 = 1_000;

/// One hint, sent without waiting for its own commit's flush: it is only a hint.
const SEND_HINT: &str = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')";

/// The handle that asks for a hint after a commit; its task ends when every handle is gone or
/// the pool is closed.
#[derive(Clone, Debug)]
pub(crate) struct CommitHints {
    wanted: Arc<Notify>,
}

impl CommitHints {
    /// Starts the task sending the hints of `pool`'s database on the current tokio runtime.
    pub(crate) fn start(pool: &PgPool) -> Self {
        let wanted = Arc::new(Notify::new());
        tokio::spawn(send_hints(pool.clone(), Arc::downgrade(&wanted)));
        Self { wanted }
    }

    /// Appends have committed: a hint follows. Commits made while one is being sent are
    /// covered by the next, one for them all.
    pub(crate) fn committed(&self) {
        self.wanted.notify_one();
    }
}

async fn send_hints(pool: PgPool, wanted: Weak<Notify>) {
    loop {
        let Some(signal) = wanted.upgrade() else {
            return;
        };
        let asked = tokio::time::timeout(
            Duration::from_millis(HINTS_IDLE_CHECK_MS),
            signal.notified(),
        )
        .await
        .is_ok();
        drop(signal);
        if pool.is_closed() {
            return;
        }
        if !asked {
            continue;
        }
        if let Err(err) = sqlx::query(SEND_HINT)
            .bind(NOTIFY_CHANNEL)
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %err, "a commit hint was not sent; subscriptions poll");
        }
    }
}

/// Listens on [`NOTIFY_CHANNEL`] and counts each notification into `notified`, until the store
/// that holds `notified` is gone or its pool is closed. A lost connection is set up again;
/// until then, subscribers fall back on polling.
pub(crate) async fn forward_notifications(pool: PgPool, notified: Weak<watch::Sender<u64>>) {
    let bump = |notified: &watch::Sender<u64>| {
        notified.send_modify(|count| *count = count.wrapping_add(1));
    };
    while !pool.is_closed() {
        let mut listener = match listen(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "LISTEN failed; subscriptions poll until it works");
                tokio::time::sleep(Duration::from_millis(LISTEN_RETRY_MS)).await;
                continue;
            }
        };
        let Some(sender) = notified.upgrade() else {
            return;
        };
        bump(&sender);
        drop(sender);
        loop {
            let received = tokio::select! {
                received = listener.recv() => received,
                () = tokio::time::sleep(Duration::from_millis(LISTEN_RETRY_MS)) => {
                    if notified.strong_count() == 0 || pool.is_closed() {
                        return;
                    }
                    continue;
                }
            };
            let Some(sender) = notified.upgrade() else {
                return;
            };
            match received {
                Ok(_) => bump(&sender),
                Err(err) => {
                    tracing::warn!(error = %err, "the LISTEN connection was lost; listening again");
                    break;
                }
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    Ok(listener)
}
