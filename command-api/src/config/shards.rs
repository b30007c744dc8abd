//! The `shards` setting: the PostgreSQL databases the shard map names (ADR 42), by name. The
//! name `default` is always the `database_url` and is not configured here.
//!
//! In the file it is a table (`[shards]` with `s1 = "postgres://…"`); in the environment
//! (`ORDERS_SHARDS`) and on the command line (`--shard`, repeated) it is text,
//! `s1=postgres://…,s2=postgres://…`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use shards::ShardName;

use super::redact_url;

/// The configured shards besides `default`: each name with its database URL.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Shards(BTreeMap<ShardName, String>);

impl Shards {
    /// Each shard with its URL, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&ShardName, &str)> {
        self.0.iter().map(|(name, url)| (name, url.as_str()))
    }

    /// Whether no shard besides `default` is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URL of `name`, when configured.
    pub fn url(&self, name: &ShardName) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Refuses shards beside an embedded store (one shard, no map) and two shards on one
    /// database, `default` (`database_url`) included.
    pub(super) fn check_against(&self, database_url: &str) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        if !is_postgres(database_url) {
            return Err(format!(
                "shards need a PostgreSQL database_url: {} is the embedded store, which is one \
                 shard",
                redact_url(database_url)
            ));
        }
        let mut seen = BTreeMap::from([(database_url, "default")]);
        for (name, url) in self.iter() {
            if let Some(other) = seen.insert(url, name.as_str()) {
                return Err(format!(
                    "shard {name} names the same database as shard {other}"
                ));
            }
        }
        Ok(())
    }

    /// Adds `name` at `url`, refusing what no shard can be: `default` (the `database_url`), a
    /// name given twice, a name that is no shard name, a URL that is not PostgreSQL's.
    fn insert(&mut self, name: &str, url: &str) -> Result<(), String> {
        let parsed: ShardName = name.parse().map_err(|err| format!("{err}"))?;
        if parsed == ShardName::default_shard() {
            return Err("the shard default is the database_url; name the others".to_owned());
        }
        if !is_postgres(url) {
            return Err(format!(
                "shard {name}: {} is not a PostgreSQL URL (postgres://USER@HOST:PORT/DB)",
                redact_url(url)
            ));
        }
        if self.0.contains_key(&parsed) {
            return Err(format!("shard {name} is given twice"));
        }
        self.0.insert(parsed, url.to_owned());
        Ok(())
    }

    /// The shards of `text`, `name=url` pairs separated by commas. A comma followed by
    /// something other than a name and `=` belongs to the URL (a PostgreSQL URL may list
    /// several hosts).
    fn parse_text(text: &str) -> Result<Self, String> {
        let mut shards = Self::default();
        if text.trim().is_empty() {
            return Ok(shards);
        }
        for pair in split_pairs(text) {
            let (name, url) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not NAME=URL"))?;
            shards.insert(name.trim(), url.trim())?;
        }
        Ok(shards)
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `text` cut at each comma that starts a new `name=` pair.
fn split_pairs(text: &str) -> Vec<&str> {
    let starts_pair = |rest: &str| {
        rest.split_once('=').is_some_and(|(name, _)| {
            let name = name.trim();
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    let mut pairs = Vec::new();
    let mut start = 0;
    for (at, _) in text.match_indices(',') {
        if starts_pair(&text[at + 1..]) {
            pairs.push(&text[start..at]);
            start = at + 1;
        }
    }
    pairs.push(&text[start..]);
    pairs
}

/// Passwords masked.
impl fmt::Debug for Shards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(name, url)| (name.as_str(), redact_url(url))),
            )
            .finish()
    }
}

impl Serialize for Shards {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, url)| (name.as_str(), url)))
    }
}

impl<'de> Deserialize<'de> for Shards {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShardsVisitor)
    }
}

struct ShardsVisitor;

impl<'de> Visitor<'de> for ShardsVisitor {
    type Value = Shards;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of shard names to postgres:// URLs, or NAME=URL,NAME=URL")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Shards, E> {
        Shards::parse_text(text).map_err(E::custom)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Shards, M::Error> {
        let mut shards = Shards::default();
        while let Some((name, url)) = map.next_entry::<String, String>()? {
            shards.insert(&name, &url).map_err(de::Error::custom)?;
        }
        Ok(shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(shards: &Shards) -> Vec<(&str, &str)> {
        shards.iter().map(|(n, u)| (n.as_str(), u)).collect()
    }

    #[test]
    fn text_is_name_equals_url_pairs_and_a_url_may_hold_commas() {
        let shards = Shards::parse_text(
            "s1=postgres://a@h1:5432/o, s2=postgres://b@h2,h3/o?target_session_attrs=any",
        )
        .unwrap_or_default();
        assert_eq!(
            names(&shards),
            [
                ("s1", "postgres://a@h1:5432/o"),
                ("s2", "postgres://b@h2,h3/o?target_session_attrs=any")
            ]
        );
        assert_eq!(Shards::parse_text(""), Ok(Shards::default()));
    }

    #[test]
    fn what_no_shard_can_be_is_refused_saying_why() {
        let refused = |text| Shards::parse_text(text).err().unwrap_or_default();
        assert!(refused("s1=sqlite:./x.db").contains("not a PostgreSQL URL"));
        assert!(refused("S1=postgres://h/o").contains("bad shard name"));
        assert!(refused("default=postgres://h/o").contains("database_url"));
        assert!(refused("s1=postgres://h/a,s1=postgres://h/b").contains("given twice"));
        assert!(refused("postgres://h/o").contains("is not NAME=URL"));
    }

    #[test]
    fn shards_need_postgresql_and_a_database_each() {
        let shards = Shards::parse_text("s1=postgres://h/a,s2=postgres://h/b").unwrap_or_default();
        assert_eq!(shards.check_against("postgres://h/main"), Ok(()));
        let on_sqlite = shards.check_against("sqlite:./data/orders.db").err();
        assert!(on_sqlite.unwrap_or_default().contains("embedded store"));
        let twice = shards.check_against("postgres://h/b").err();
        assert_eq!(
            twice.as_deref(),
            Some("shard s2 names the same database as shard default")
        );
        assert_eq!(Shards::default().check_against("sqlite:x.db"), Ok(()));
    }

    #[test]
    fn passwords_are_masked_when_shown() {
        let shards = Shards::parse_text("s1=postgres://app:s3cret@h/o").unwrap_or_default();
        let shown = format!("{shards:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@h/o"), "{shown}");
        let refused = Shards::parse_text("s1=mysql://app:s3cret@h/o")
            .err()
            .unwrap_or_default();
        assert!(!refused.contains("s3cret"), "{refused}");
    }
}
