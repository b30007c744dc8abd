//! Opening the event store the settings name: migrated (the server, `orders migrate`), a
//! SQLite file's folder created, or checked to be migrated (every command that only reads),
//! nothing created. The same for the databases of the other shards, for the commands.

use std::path::Path;

use event_store::EventStore;
use event_store::pool::SlowLogs;

use super::StartupError;
use crate::config::{Settings, redact_url};

/// The smallest PostgreSQL pool the server runs on: group commit, the projections and the
/// reactions each hold a connection while they write.
const POSTGRES_CONNECTIONS_MIN: u32 = 4;

/// Opens the event store that `settings` name (`database_url`, `postgres_max_connections`)
/// and applies its migrations, as the server does. For SQLite the file's folder is created
/// first.
pub async fn open_store(settings: &Settings) -> Result<EventStore, StartupError> {
    migrated(connect_store(settings, Opener::Server).await?, settings).await
}

/// [`open_store`] for `orders migrate`: a command, whose output sqlx's warnings of slow
/// statements stay out of.
pub async fn migrate_store(settings: &Settings) -> Result<EventStore, StartupError> {
    migrated(connect_store(settings, Opener::Migrate).await?, settings).await
}

/// [`migrate_store`] for the database of a shard other than the default, at `url`: its
/// schema is [`crate::migrations::SHARD_MIGRATOR`]'s (the server migrates it as it starts).
pub async fn migrate_shard(settings: &Settings, url: &str) -> Result<EventStore, StartupError> {
    let store = connect(settings, url, Opener::Migrate).await?;
    crate::migrations::run_shard(&store)
        .await
        .map_err(|source| StartupError::Store {
            url: redact_url(url),
            source,
        })?;
    Ok(store)
}

async fn migrated(store: EventStore, settings: &Settings) -> Result<EventStore, StartupError> {
    crate::migrations::run(&store)
        .await
        .map_err(|source| StartupError::Store {
            url: redact_url(&settings.database_url),
            source,
        })?;
    Ok(store)
}

/// Opens the event store that `settings` name without migrating it, for a command that only
/// reads (or writes rows, not the schema): when a migration it needs is missing, it says which
/// and stops, as a role without the right to change the schema would. It creates nothing: a
/// SQLite file that does not exist is no store.
pub async fn open_migrated_store(settings: &Settings) -> Result<EventStore, StartupError> {
    let store = connect_store(settings, Opener::Reader).await?;
    let missing = crate::migrations::first_missing(&store).await;
    checked(store, &settings.database_url, missing)
}

/// [`open_migrated_store`] for the database of a shard other than the default, at `url`
/// (`postgres_max_connections` and the rest from `settings`): for the commands that work on
/// every shard.
pub async fn open_migrated_shard(
    settings: &Settings,
    url: &str,
) -> Result<EventStore, StartupError> {
    let store = connect(settings, url, Opener::Reader).await?;
    let missing = crate::migrations::first_missing_on_shard(&store).await;
    checked(store, url, missing)
}

/// `store`, at `url`, unless `missing` names a migration it lacks or could not be read.
fn checked(
    store: EventStore,
    url: &str,
    missing: Result<Option<(i64, String)>, event_store::StoreError>,
) -> Result<EventStore, StartupError> {
    let url = redact_url(url);
    let missing = missing.map_err(|source| StartupError::Store {
        url: url.clone(),
        source,
    })?;
    match missing {
        Some((version, description)) => Err(StartupError::Unmigrated {
            url,
            version,
            description,
        }),
        None => Ok(store),
    }
}

/// Who opens the store, which decides what opening it may create and how loudly sqlx reports
/// slow statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opener {
    /// The server: it creates a SQLite file and its folder; a slow statement is news.
    Server,
    /// `orders migrate`: it creates them too.
    Migrate,
    /// A command that only reads: it creates nothing.
    Reader,
}

/// Connects to the event store that `settings` name; for the server and `orders migrate`, a
/// SQLite file's folder is created.
async fn connect_store(settings: &Settings, opener: Opener) -> Result<EventStore, StartupError> {
    connect(settings, &settings.database_url, opener).await
}

/// Connects to the event store at `url` with the pool `settings` configure.
async fn connect(
    settings: &Settings,
    url: &str,
    opener: Opener,
) -> Result<EventStore, StartupError> {
    if settings.postgres_max_connections < POSTGRES_CONNECTIONS_MIN {
        return Err(StartupError::Setting {
            name: "postgres_max_connections",
            expected: format!("at least {POSTGRES_CONNECTIONS_MIN}"),
            value: settings.postgres_max_connections.to_string(),
        });
    }
    let failed = |source| StartupError::Store {
        url: redact_url(url),
        source,
    };
    if let Some(path) = sqlite_file(url) {
        if opener == Opener::Reader {
            if !path.is_file() {
                return Err(StartupError::NoStore {
                    url: redact_url(url),
                    path: path.to_owned(),
                });
            }
        } else if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StartupError::Folder {
                path: parent.to_owned(),
                source,
            })?;
        }
    }
    let slow = match opener {
        Opener::Server => SlowLogs::Warn,
        Opener::Migrate | Opener::Reader => SlowLogs::Debug,
    };
    // older versions of events, as the log keeps them, are read as today's (ADR 31)
    let store = EventStore::connect_with_logs(url, settings.postgres_max_connections, slow)
        .await
        .map_err(failed)?
        .with_upcasters(domain::upcasters());
    Ok(store)
}

/// The file of a SQLite URL (none for an in-memory database or another backend).
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (path != ":memory:" && !path.is_empty()).then(|| Path::new(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite:./data/orders.db"),
            Some(Path::new("./data/orders.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///tmp/o.db?mode=rwc"),
            Some(Path::new("/tmp/o.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
