//! The leases of several nodes on one database, as their `/readyz` shows them: which work of
//! the log each node runs. Two checks: no lease is ever held by two nodes at once (a
//! projection or reaction applied by one node at a time), and after a node is killed every
//! lease is held again within a bound (its work handed over).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::task::JoinHandle;

/// How often the watcher samples every node.
const SAMPLE_INTERVAL_MS: u64 = 250;
/// How long the set of leases must stay the same before it counts as complete at the start.
const SETTLED_FOR: Duration = Duration::from_secs(3);
/// Longest wait for every lease to be taken at the start.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// Longest a killed node's leases may stay untaken: the lease's TTL (5 s), a node's try
/// (1 s) and the start of the killed node again, with room for a busy machine.
pub const HANDOVER_LIMIT: Duration = Duration::from_secs(20);

#[derive(Deserialize)]
struct Readiness {
    leases: Vec<String>,
}

/// The leases `url`'s node holds, or `None` when it does not answer.
pub async fn held(http: &reqwest::Client, url: &str) -> Option<Vec<String>> {
    let res = http.get(format!("{url}/readyz")).send().await.ok()?;
    res.json::<Readiness>().await.ok().map(|r| r.leases)
}

/// Every lease held by some node of `urls`, with its holders.
async fn holders(http: &reqwest::Client, urls: &[String]) -> BTreeMap<String, Vec<usize>> {
    let mut holders: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (node, url) in urls.iter().enumerate() {
        for lease in held(http, url).await.unwrap_or_default() {
            holders.entry(lease).or_default().push(node);
        }
    }
    holders
}

/// Waits until the nodes of `urls` hold the same set of leases for [`SETTLED_FOR`]: the
/// leases of the work the nodes' roles run.
pub async fn settle(http: &reqwest::Client, urls: &[String]) -> anyhow::Result<BTreeSet<String>> {
    let started = Instant::now();
    let mut last = BTreeSet::new();
    let mut since = Instant::now();
    loop {
        let now: BTreeSet<String> = holders(http, urls).await.into_keys().collect();
        if now != last {
            last = now;
            since = Instant::now();
        } else if !last.is_empty() && since.elapsed() >= SETTLED_FOR {
            return Ok(last);
        }
        anyhow::ensure!(
            started.elapsed() < SETTLE_LIMIT,
            "the nodes' leases did not settle within {} s: {last:?}",
            SETTLE_LIMIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS)).await;
    }
}

/// Waits until every lease of `expected` is held by a node of `urls` again: how long that
/// took, or `Err` with the leases still untaken after [`HANDOVER_LIMIT`].
pub async fn handed_over(
    http: &reqwest::Client,
    urls: &[String],
    expected: &BTreeSet<String>,
    since: Instant,
) -> Result<Duration, Vec<String>> {
    loop {
        let held = holders(http, urls).await;
        let missing: Vec<String> = expected
            .iter()
            .filter(|lease| !held.contains_key(*lease))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(since.elapsed());
        }
        if since.elapsed() >= HANDOVER_LIMIT {
            return Err(missing);
        }
        tokio::time::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS)).await;
    }
}

/// Samples the nodes of `urls` until `stop`: answers every sample in which a lease was held
/// by two nodes at once.
pub fn watch_overlaps(
    http: reqwest::Client,
    urls: Vec<String>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut overlaps = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            for (lease, nodes) in holders(&http, &urls).await {
                if nodes.len() > 1 {
                    overlaps.push(format!("lease {lease} held by nodes {nodes:?} at once"));
                }
            }
            tokio::time::sleep(Duration::from_millis(SAMPLE_INTERVAL_MS)).await;
        }
        overlaps
    })
}
