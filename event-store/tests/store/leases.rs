//! Leases on both backends: one holder at a time, renewal, expiry and release.

use std::time::Duration;

use crate::harness::Harness;

const TTL: Duration = Duration::from_millis(400);

pub async fn a_lease_has_one_holder_until_it_expires(h: Harness) {
    let store = h.store();
    assert!(store.acquire_lease("relay", "node-a", TTL).await.unwrap());
    assert!(!store.acquire_lease("relay", "node-b", TTL).await.unwrap());
    // another lease is another row
    assert!(store.acquire_lease("timer", "node-b", TTL).await.unwrap());
    // the holder renews its own
    assert!(store.acquire_lease("relay", "node-a", TTL).await.unwrap());
    let leases = store.leases().await.unwrap();
    let relay = leases.iter().find(|l| l.name == "relay").unwrap();
    assert_eq!(relay.holder, "node-a");
    assert!(relay.is_live(), "{relay:?}");
    assert!(relay.expires_in_ms <= 400, "{relay:?}");

    // not renewed, it expires and another node takes it; the old holder cannot renew it
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    assert!(!store.leases().await.unwrap()[0].is_live());
    assert!(store.acquire_lease("relay", "node-b", TTL).await.unwrap());
    assert!(!store.acquire_lease("relay", "node-a", TTL).await.unwrap());
    let leases = store.leases().await.unwrap();
    assert_eq!(leases[0].holder, "node-b");
}

pub async fn a_released_lease_is_taken_at_once(h: Harness) {
    let store = h.store();
    let long = Duration::from_secs(60);
    assert!(store.acquire_lease("relay", "node-a", long).await.unwrap());
    // only the holder gives it back
    store.release_lease("relay", "node-b").await.unwrap();
    assert!(!store.acquire_lease("relay", "node-b", long).await.unwrap());
    store.release_lease("relay", "node-a").await.unwrap();
    assert!(store.acquire_lease("relay", "node-b", long).await.unwrap());
}
