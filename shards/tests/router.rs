//! The router on real PostgreSQL: three databases in the one server (made with random names
//! and dropped at the end), the map in the first, streams appended through the router and
//! found in the log of the database their gene is mapped to, and only there.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use event_store::{EventMetadata, EventStore};
use shards::{Assignment, FollowedMap, GeneRange, MapStore, ShardMap, ShardName, ShardRouter};
use sqlx::PgPool;

mod common;
use common::{Noted, Stream, TYPES, name};

/// A new database on the test's server: its URL.
async fn create_database(admin: &PgPool, server: &str) -> (String, String) {
    let db = format!("router_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(admin)
        .await
        .expect("created");
    (db.clone(), format!("{server}/{db}"))
}

/// The streams (type index, id) of the log of `store`.
async fn streams(store: &EventStore) -> Vec<(String, String)> {
    sqlx::query_as("SELECT aggregate_type, aggregate_id FROM events ORDER BY position")
        .fetch_all(store.postgres_pool().expect("PostgreSQL"))
        .await
        .expect("read")
}

async fn append<const K: usize>(router: &ShardRouter, id: &str) -> ShardName {
    let route = router.writes_for(TYPES[K], id).expect("routed");
    route
        .store
        .append::<Stream<K>>(id, 0, &[Noted], &EventMetadata::default())
        .await
        .expect("appended");
    route.shard
}

#[tokio::test]
async fn streams_appended_through_the_router_land_in_their_gene_s_database() {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let (server, _) = admin_url.rsplit_once('/').expect("a database in the URL");
    let admin = PgPool::connect(&admin_url)
        .await
        .expect("the server answers");
    let mut databases = Vec::new();
    for _ in 0..3 {
        databases.push(create_database(&admin, server).await);
    }

    let catalog_schema =
        event_store::migrations::assemble(&[&event_store::MIGRATOR, &shards::MIGRATOR]);
    let mut opened = Vec::new();
    for (index, (_, url)) in databases.iter().enumerate() {
        let store = EventStore::connect_with_pool(url, 4).await.expect("opened");
        let schema = if index == 0 {
            &catalog_schema
        } else {
            &event_store::MIGRATOR
        };
        store
            .migrate(schema, &event_store::SQLITE_MIGRATOR)
            .await
            .expect("migrated");
        opened.push(store);
    }
    let catalog = MapStore::new(opened[0].postgres_pool().expect("PostgreSQL").clone());
    let thirds = [(0, 340, "default"), (341, 681, "s2"), (682, 1023, "s3")];
    let ranges: Vec<GeneRange> = thirds
        .iter()
        .map(|(from, to, shard)| GeneRange {
            genes: *from..=*to,
            assignment: Assignment::on(name(shard)),
        })
        .collect();
    let map = ShardMap::from_ranges(2, &ranges).expect("a map");
    catalog.publish(&map, "thirds").await.expect("published");
    let followed = FollowedMap::start(catalog, Duration::from_millis(100))
        .await
        .expect("followed");
    let shard_urls: Vec<(ShardName, String)> = vec![
        (name("s2"), databases[1].1.clone()),
        (name("s3"), databases[2].1.clone()),
    ];
    let router = ShardRouter::connect(
        followed.subscribe(),
        opened[0].clone(),
        shard_urls.iter().map(|(n, u)| (n, u.as_str())),
        4,
    )
    .await
    .expect("connected");

    // genes: order 1029 -> 5, order 1535 -> 511, order 2047 -> 1023, cart b-42 -> 514,
    // SKU buyer-2 -> 823, SKU buyer-1 -> 234
    let mut expected: BTreeMap<ShardName, Vec<(String, String)>> = BTreeMap::new();
    let mut note = |shard: ShardName, kind: &str, id: &str| {
        expected
            .entry(shard)
            .or_default()
            .push((kind.to_owned(), id.to_owned()));
    };
    for id in ["1029", "1535", "2047"] {
        note(append::<0>(&router, id).await, "Order", id);
    }
    note(append::<1>(&router, "b-42").await, "Cart", "b-42");
    for id in ["buyer-2", "buyer-1"] {
        note(append::<2>(&router, id).await, "Sku", id);
    }
    let found: BTreeMap<ShardName, Vec<(String, String)>> = [
        (ShardName::default_shard(), streams(&opened[0]).await),
        (
            name("s2"),
            streams(router.store(&name("s2")).expect("s2")).await,
        ),
        (
            name("s3"),
            streams(router.store(&name("s3")).expect("s3")).await,
        ),
    ]
    .into_iter()
    .filter(|(_, streams)| !streams.is_empty())
    .collect();
    assert_eq!(found, expected);
    let on = |shard: &str| expected.get(&name(shard)).map(Vec::len).unwrap_or(0);
    assert_eq!(
        (on("default"), on("s2"), on("s3")),
        (2, 2, 2),
        "{expected:?}"
    );

    drop(router);
    drop(followed);
    for store in opened {
        if let Some(pool) = store.postgres_pool() {
            pool.close().await;
        }
    }
    for (db, _) in databases {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&admin)
            .await
            .expect("dropped");
    }
}
