//! The command side's routing ([`Stores`]) on real PostgreSQL: two databases in the one
//! server (made with random names, dropped at the end), the map in the first. A command that
//! meets a gene's fence waits for the node to follow the map that moved the gene and runs on
//! the new shard; past the bound it is refused, and nothing is written to the old shard.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use event_store::{EventMetadata, EventStore, ExecuteError, StoreError};
use shards::{FollowedMap, MapStore, ShardMap, ShardRouter, Stores};
use sqlx::PgPool;

mod common;
use common::{Never, Noted, Stream, name};

/// An order id whose gene is 889 (its low ten bits).
const ORDER: &str = "123456789012345";
/// How often the test's node polls the map.
const POLL: Duration = Duration::from_millis(50);

/// Order streams: their gene is the one the order id carries.
type OrderStream = Stream<0>;

/// Two fresh databases (the catalog, `default`, and `s2`), migrated, and the node's view of
/// them: its followed map and the stores routing by it.
struct Two {
    admin: PgPool,
    names: Vec<String>,
    catalog: MapStore,
    followed: FollowedMap,
    stores: Stores,
}

impl Two {
    async fn new(moved_wait: Duration) -> Self {
        let admin_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let (server, _) = admin_url.rsplit_once('/').expect("a database in the URL");
        let admin = PgPool::connect(&admin_url)
            .await
            .expect("the server answers");
        let catalog_schema =
            event_store::migrations::assemble(&[&event_store::MIGRATOR, &shards::MIGRATOR]);
        let mut names = Vec::new();
        let mut opened = BTreeMap::new();
        for shard in ["default", "s2"] {
            let db = format!("stores_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {db}"))
                .execute(&admin)
                .await
                .expect("created");
            let store = EventStore::connect_with_pool(&format!("{server}/{db}"), 4)
                .await
                .expect("opened");
            let schema = if shard == "default" {
                &catalog_schema
            } else {
                &event_store::MIGRATOR
            };
            store
                .migrate(schema, &event_store::SQLITE_MIGRATOR)
                .await
                .expect("migrated");
            names.push(db);
            opened.insert(name(shard), store);
        }
        let default = opened[&name("default")].clone();
        let catalog = MapStore::new(default.postgres_pool().expect("PostgreSQL").clone());
        let followed = FollowedMap::start(catalog.clone(), POLL)
            .await
            .expect("followed");
        let router = ShardRouter::new(followed.subscribe(), opened);
        let stores = Stores::sharded(default, router).with_moved_wait(moved_wait);
        Self {
            admin,
            names,
            catalog,
            followed,
            stores,
        }
    }

    fn store(&self, shard: &str) -> &EventStore {
        self.stores
            .router()
            .and_then(|r| r.store(&name(shard)))
            .expect("a configured shard")
    }

    async fn note(&self) -> Result<u64, ExecuteError<Never>> {
        let meta = EventMetadata::default();
        self.stores
            .execute::<OrderStream, _>(ORDER, None, &meta, |_| Ok(vec![Noted]))
            .await
            .map(|executed| executed.version)
    }

    async fn count(&self, shard: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
            .bind(ORDER)
            .fetch_one(self.store(shard).postgres_pool().expect("PostgreSQL"))
            .await
            .expect("counted")
    }

    /// The map in force with the order's gene written to `s2`, published.
    async fn move_writes(&self) -> ShardMap {
        let moved = self
            .followed
            .current()
            .with_writes_on(889..=889, &name("s2"))
            .expect("a map");
        self.catalog
            .publish(&moved, "gene 889 written on s2")
            .await
            .expect("published");
        moved
    }

    async fn drop_all(self) {
        let Self {
            admin,
            names,
            stores,
            followed,
            ..
        } = self;
        for store in stores.every() {
            if let Some(pool) = store.postgres_pool() {
                pool.close().await;
            }
        }
        drop(followed);
        for db in names {
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&admin)
                .await
                .expect("dropped");
        }
    }
}

#[tokio::test]
async fn a_fenced_command_waits_for_the_new_map_and_lands_on_the_new_shard() {
    let two = Two::new(Duration::from_secs(5)).await;
    assert_eq!(two.note().await.expect("noted"), 1);
    assert_eq!((two.count("default").await, two.count("s2").await), (1, 0));

    let fenced_by = two.followed.current().version() + 1;
    two.store("default")
        .fence_gene(889, fenced_by)
        .await
        .expect("fenced");
    let started = Instant::now();
    let (noted, moved) = tokio::join!(two.note(), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        two.move_writes().await
    });
    assert_eq!(moved.version(), fenced_by);
    // the move copies no history in this test: the stream starts on s2
    assert_eq!(noted.expect("noted on s2"), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((two.count("default").await, two.count("s2").await), (1, 1));
    two.drop_all().await;
}

#[tokio::test]
async fn a_fenced_command_without_a_new_map_is_refused_after_the_bound() {
    let two = Two::new(Duration::from_millis(400)).await;
    assert_eq!(two.note().await.expect("noted"), 1);
    let fenced_by = two.followed.current().version() + 1;
    two.store("default")
        .fence_gene(889, fenced_by)
        .await
        .expect("fenced");
    let started = Instant::now();
    let refused = two.note().await;
    assert!(
        matches!(
            refused,
            Err(ExecuteError::Store(StoreError::Moved { gene: 889, map_version })) if map_version == fenced_by
        ),
        "{refused:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!((two.count("default").await, two.count("s2").await), (1, 0));
    two.drop_all().await;
}

/// Without shards the stores are the one store: every stream goes there, with no map.
#[tokio::test]
async fn one_store_takes_every_stream() {
    let path = std::env::temp_dir().join(format!("stores_{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite:{}?mode=rwc", path.display());
    let store = EventStore::connect(&url).await.expect("opened");
    store
        .migrate(&event_store::MIGRATOR, &event_store::SQLITE_MIGRATOR)
        .await
        .expect("migrated");
    let stores = Stores::one(store.clone());
    assert!(stores.router().is_none());
    assert!(std::ptr::eq(
        stores.writes::<OrderStream>(ORDER).expect("routed"),
        stores.default_store()
    ));
    let meta = EventMetadata::default();
    let executed = stores
        .execute::<OrderStream, _>(ORDER, None, &meta, |_| Ok(vec![Noted]))
        .await
        .expect("noted");
    assert_eq!(executed.version, 1);
    assert_eq!(
        stores
            .load::<OrderStream>(ORDER)
            .await
            .expect("loaded")
            .version,
        1
    );
    if let Some(pool) = store.sqlite_pool() {
        pool.close().await;
    }
    let _ = std::fs::remove_file(path);
}
