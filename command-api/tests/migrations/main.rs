//! The schema is owned crate by crate and assembled into one migrator (ADR 34).
//!
//! - every crate's migrations touch only the tables that crate owns;
//! - the assembled set holds every version once, in order;
//! - a database migrated at the old layout (every file in `event-store/migrations/`) migrates
//!   forward with the assembled set: nothing new to apply, no checksum or missing version.

use std::collections::BTreeSet;

use sqlx::migrate::Migrator;

/// The tables each crate owns, as its migrations create, alter or index them.
const LOG_TABLES: &[&str] = &[
    "events",
    "snapshots",
    "subscription_checkpoints",
    "dead_letters",
];

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

#[test]
fn the_log_s_migrations_touch_only_the_log_s_tables() {
    assert_owns_only(&event_store::MIGRATOR, LOG_TABLES);
    assert_owns_only(&event_store::SQLITE_MIGRATOR, LOG_TABLES);
}
