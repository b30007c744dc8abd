//! The query API under `/v1`, served from the read models: order detail, the buyer's and the
//! seller's order lists, stock per SKU.
//!
//! Every answer carries an ETag (`If-None-Match` gets 304). Read-your-writes: `min_version`
//! (query parameter or `X-Min-Version` header) makes a request wait, at most
//! [`MIN_VERSION_WAIT_MAX_MS`], until the view holds that version of the resource (on a list:
//! of the order named by `order_id`), then 503 with `Retry-After`. Archived orders are answered
//! by the order detail route as any other, and listed with `archived=true`. The rows come
//! from `projections::ReadModels`, registered as app data.

pub(crate) mod orders;
pub(crate) mod stock;

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use projections::ProjectionError;

use crate::limits::MIN_VERSION_MAX;
use crate::problem::Problem;

/// Longest a request waits for its view to reach `min_version`.
pub(crate) const MIN_VERSION_WAIT_MAX_MS: u64 = 3_000;
/// How often a waiting request looks at its view again.
const MIN_VERSION_POLL_INTERVAL_MS: u64 = 20;
/// `Retry-After` of a request whose view did not catch up in time.
const VIEW_BEHIND_RETRY_AFTER_SECS: u64 = 1;

/// The version a request wants to read at least: `?min_version=` or `X-Min-Version`, at most
/// [`MIN_VERSION_MAX`] (a version the log can hold).
fn min_version(req: &HttpRequest, query: Option<u64>) -> Result<Option<u64>, Problem> {
    let (name, wanted) = match (query, req.headers().get("X-Min-Version")) {
        (Some(version), _) => ("min_version", version),
        (None, None) => return Ok(None),
        (None, Some(value)) => (
            "X-Min-Version",
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| {
                    Problem::invalid_field("X-Min-Version", "must be a version number")
                })?,
        ),
    };
    if wanted > MIN_VERSION_MAX {
        return Err(Problem::invalid_field(
            name,
            format!("must be at most {MIN_VERSION_MAX}"),
        ));
    }
    Ok(Some(wanted))
}

/// Reads with `read` until it answers a row at `min_version` or later (`version_of`), for at
/// most [`MIN_VERSION_WAIT_MAX_MS`]. Without `min_version`, or with 0 (the version before any
/// write, which every resource has reached, existing or not), reads once.
async fn read_at_least<T, F, Fut>(
    min_version: Option<u64>,
    version_of: impl Fn(&T) -> u64,
    mut read: F,
) -> Result<Option<T>, Problem>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProjectionError>>,
{
    let Some(wanted) = min_version.filter(|wanted| *wanted > 0) else {
        return Ok(read().await?);
    };
    let deadline = Instant::now() + Duration::from_millis(MIN_VERSION_WAIT_MAX_MS);
    loop {
        let row = read().await?;
        if row.as_ref().is_some_and(|row| version_of(row) >= wanted) {
            return Ok(row);
        }
        if Instant::now() >= deadline {
            return Err(Problem::not_caught_up(wanted, VIEW_BEHIND_RETRY_AFTER_SECS));
        }
        tokio::time::sleep(Duration::from_millis(MIN_VERSION_POLL_INTERVAL_MS)).await;
    }
}
