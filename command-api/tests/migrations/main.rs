//! The schema is owned crate by crate and assembled into one migrator (ADR 34).
//!
//! - every crate's migrations touch only the tables that crate owns;
//! - the assembled set holds every version once, in order;
//! - a database migrated at the old layout (every file in `event-store/migrations/`) migrates
//!   forward with the assembled set: nothing new to apply, no checksum or missing version.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sqlx::migrate::Migrator;
use sqlx::{PgPool, SqlitePool};

/// The tables each crate owns, as its migrations create, alter or index them.
const LOG_TABLES: &[&str] = &[
    "events",
    "snapshots",
    "subscription_checkpoints",
    "dead_letters",
    "leases",
    "gene_fences",
];
const ID_TABLES: &[&str] = &["id_worker_leases", "id_segments"];
const READ_MODEL_TABLES: &[&str] = &[
    "projection_checkpoints",
    "order_detail",
    "buyer_orders",
    "seller_orders",
    "seller_forgets",
    "sku_stock",
    "order_archive",
    "archive_progress",
];
const COMMAND_TABLES: &[&str] = &[
    "payment_deadlines",
    "open_reservations",
    "payment_txns",
    "campaign_ends",
];
/// The shard map's, on PostgreSQL only (the embedded store is one shard).
const SHARD_TABLES: &[&str] = &["shard_map_versions", "shard_map", "reshard_jobs"];

/// The crates that own migrations, each with its own sets (PostgreSQL, SQLite) and tables.
fn owners() -> [(
    &'static str,
    &'static Migrator,
    &'static Migrator,
    &'static [&'static str],
); 4] {
    [
        (
            "event-store",
            &event_store::MIGRATOR,
            &event_store::SQLITE_MIGRATOR,
            LOG_TABLES,
        ),
        (
            "ids",
            &ids::migrations::OWN_MIGRATOR,
            &ids::migrations::OWN_SQLITE_MIGRATOR,
            ID_TABLES,
        ),
        (
            "projections",
            &projections::migrations::OWN_MIGRATOR,
            &projections::migrations::OWN_SQLITE_MIGRATOR,
            READ_MODEL_TABLES,
        ),
        (
            "command-api",
            &command_api::migrations::OWN_MIGRATOR,
            &command_api::migrations::OWN_SQLITE_MIGRATOR,
            COMMAND_TABLES,
        ),
    ]
}

/// The table names a migration set creates, alters or indexes.
fn tables_touched(migrator: &Migrator) -> BTreeSet<String> {
    let mut tables = BTreeSet::new();
    for migration in migrator.iter() {
        // comments are prose ("on either backend"): only statements name tables
        let sql: String = migration
            .sql
            .lines()
            .map(|line| line.split("--").next().unwrap_or_default().to_lowercase() + "\n")
            .collect();
        let words: Vec<&str> = sql
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, pair) in words.windows(2).enumerate() {
            let name = match pair {
                ["create" | "alter", "table"] => words[i + 2..]
                    .iter()
                    .find(|w| !matches!(**w, "if" | "not" | "exists" | "only")),
                ["on", name] if !matches!(*name, "conflict" | "delete" | "update") => Some(name),
                _ => None,
            };
            tables.extend(name.map(|n| n.to_string()));
        }
    }
    tables
}

fn assert_owns_only(migrator: &Migrator, owned: &[&str]) {
    let owned: BTreeSet<String> = owned.iter().map(|t| t.to_string()).collect();
    let stray: Vec<_> = tables_touched(migrator)
        .difference(&owned)
        .cloned()
        .collect();
    assert!(stray.is_empty(), "tables of another crate: {stray:?}");
}

/// (version, SHA-384 hex) of every migration, as `_sqlx_migrations` records them.
fn fingerprint(migrator: &Migrator) -> Vec<(i64, String)> {
    migrator
        .iter()
        .map(|m| {
            let hex = m.checksum.iter().map(|b| format!("{b:02x}")).collect();
            (m.version, hex)
        })
        .collect()
}

/// The old layout's versions and checksums, written down before the files moved.
fn old_layout(backend: &str) -> Vec<(i64, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/migrations/old_layout_{backend}.txt"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let (version, hex) = line.split_once(' ').unwrap();
            (version.parse().unwrap(), hex.to_string())
        })
        .collect()
}

/// The old layout rebuilt: every crate's files for `backend` of the versions it had, in one
/// folder as event-store's `migrations/` held them, read the way `sqlx::migrate!` reads a
/// folder (later migrations are what migrating forward adds).
async fn old_migrator(backend: &str) -> (Migrator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let old: BTreeSet<i64> = old_layout(backend).into_iter().map(|(v, _)| v).collect();
    for (owner, ..) in owners() {
        let folder: PathBuf = workspace.join(owner).join("migrations").join(backend);
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let version: i64 = name.split('_').next().unwrap().parse().unwrap();
            if old.contains(&version) {
                std::fs::copy(&path, dir.path().join(&name)).unwrap();
            }
        }
    }
    let migrator = Migrator::new(dir.path()).await.unwrap();
    assert_eq!(fingerprint(&migrator), old_layout(backend));
    (migrator, dir)
}

#[test]
fn each_crate_s_migrations_touch_only_its_own_tables() {
    for (owner, postgres, sqlite, tables) in owners() {
        assert!(postgres.iter().count() > 0, "{owner} has no migrations");
        assert_owns_only(postgres, tables);
        assert_owns_only(sqlite, tables);
    }
    assert_owns_only(&shards::MIGRATOR, SHARD_TABLES);
}

#[test]
fn the_assembled_schema_holds_every_crate_s_versions_once_in_order() {
    let postgres: Vec<&Migrator> = owners()
        .map(|o| o.1)
        .into_iter()
        .chain([&shards::MIGRATOR])
        .collect();
    let sqlite: Vec<&Migrator> = owners().map(|o| o.2).to_vec();
    for (assembled, sets) in [
        (&*command_api::MIGRATOR, postgres),
        (&*command_api::SQLITE_MIGRATOR, sqlite),
    ] {
        let versions: Vec<i64> = assembled.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|p| p[0] < p[1]), "{versions:?}");
        let mut owned: Vec<i64> = sets
            .iter()
            .flat_map(|s| s.iter().map(|m| m.version))
            .collect();
        owned.sort_unstable();
        assert_eq!(versions, owned);
    }
}

/// The assembled schema begins with the old layout's versions and checksums, unchanged; what
/// follows came later.
#[test]
fn the_assembled_schema_has_the_old_layout_s_versions_and_checksums() {
    for (assembled, backend) in [
        (&*command_api::MIGRATOR, "postgres"),
        (&*command_api::SQLITE_MIGRATOR, "sqlite"),
    ] {
        let old = old_layout(backend);
        let now = fingerprint(assembled);
        assert_eq!(now[..old.len().min(now.len())], old[..], "{backend}");
        assert!(
            now[old.len()..]
                .iter()
                .all(|(v, _)| *v > old[old.len() - 1].0)
        );
    }
}

#[test]
#[should_panic(expected = "claimed twice")]
fn assembling_two_sets_with_one_version_refuses() {
    event_store::migrations::assemble(&[&event_store::MIGRATOR, &event_store::MIGRATOR]);
}

const APPLIED: &str = "SELECT version, checksum FROM _sqlx_migrations ORDER BY version";

#[sqlx::test(migrations = false)]
async fn a_postgres_database_at_the_old_layout_migrates_forward_with_nothing_to_redo(pool: PgPool) {
    let (old, _dir) = old_migrator("postgres").await;
    old.run(&pool).await.unwrap();
    let before: Vec<(i64, Vec<u8>)> = sqlx::query_as(APPLIED).fetch_all(&pool).await.unwrap();

    command_api::MIGRATOR.run(&pool).await.unwrap();

    let after: Vec<(i64, Vec<u8>)> = sqlx::query_as(APPLIED).fetch_all(&pool).await.unwrap();
    assert_eq!(
        after[..before.len()],
        before[..],
        "the old layout's migrations redone"
    );
    assert_eq!(before.len(), old_layout("postgres").len());
    assert_eq!(after.len(), command_api::MIGRATOR.iter().count());
}

#[tokio::test]
async fn a_sqlite_database_at_the_old_layout_migrates_forward_with_nothing_to_redo() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("events.db").display());
    let pool = SqlitePool::connect(&url).await.unwrap();
    let (old, _files) = old_migrator("sqlite").await;
    old.run(&pool).await.unwrap();
    let before: Vec<(i64, Vec<u8>)> = sqlx::query_as(APPLIED).fetch_all(&pool).await.unwrap();

    command_api::SQLITE_MIGRATOR.run(&pool).await.unwrap();

    let after: Vec<(i64, Vec<u8>)> = sqlx::query_as(APPLIED).fetch_all(&pool).await.unwrap();
    assert_eq!(
        after[..before.len()],
        before[..],
        "the old layout's migrations redone"
    );
    assert_eq!(before.len(), old_layout("sqlite").len());
    assert_eq!(after.len(), command_api::SQLITE_MIGRATOR.iter().count());
}
