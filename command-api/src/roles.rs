//! The roles a node of the platform plays (`orders serve --role api,projector,…`): one binary,
//! deployed as stateless API nodes beside the workers that follow the log. A projection, a
//! reaction or the relay runs on one node at a time, under a lease ([`crate::leased`]); any
//! number of nodes may have its role, and one of them does the work.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One role of a node.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The command and query HTTP API (every node answers health and metrics).
    Api,
    /// The read models' projections and the archiver.
    Projector,
    /// The reactions to the log (stock, carts, payments, placements) and the cart consumer.
    Reactor,
    /// The relay of the log to NATS JetStream (with `nats_url`).
    Relay,
    /// The payment deadlines' timer and sweeper, and the campaigns' ends.
    Timer,
}

impl Role {
    /// Every role, in the order they are listed.
    pub const ALL: [Role; 5] = [
        Role::Api,
        Role::Projector,
        Role::Reactor,
        Role::Relay,
        Role::Timer,
    ];

    /// Its name, as the setting spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Projector => "projector",
            Role::Reactor => "reactor",
            Role::Relay => "relay",
            Role::Timer => "timer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The roles of a node: a non-empty set, `api,projector,reactor,relay,timer` by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roles(BTreeSet<Role>);

/// A roles setting that names no role or an unknown one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolesError {
    /// No role named.
    #[error("no role named: give one or more of api, projector, reactor, relay, timer")]
    Empty,
    /// An unknown name.
    #[error("unknown role {0:?}: the roles are api, projector, reactor, relay, timer")]
    Unknown(String),
}

impl Roles {
    /// Every role: one node does everything (the embedded default).
    pub fn all() -> Self {
        Self(Role::ALL.into_iter().collect())
    }

    /// `roles`, refused when empty.
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Result<Self, RolesError> {
        let roles: BTreeSet<Role> = roles.into_iter().collect();
        if roles.is_empty() {
            return Err(RolesError::Empty);
        }
        Ok(Self(roles))
    }

    /// Whether the node plays `role`.
    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// The roles, in order.
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
}

impl Default for Roles {
    fn default() -> Self {
        Self::all()
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::name).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Roles {
    type Err = RolesError;

    /// `api,relay` (spaces around names allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let roles = s
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                Role::ALL
                    .into_iter()
                    .find(|role| role.name() == name)
                    .ok_or_else(|| RolesError::Unknown(name.to_owned()))
            })
            .collect::<Result<Vec<Role>, RolesError>>()?;
        Self::new(roles)
    }
}

impl Serialize for Roles {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Roles {
    /// A comma-separated string (`ORDERS_ROLES=api,relay`) or a list (`roles = ["api"]`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Text(String),
            List(Vec<String>),
        }
        let text = match Given::deserialize(deserializer)? {
            Given::Text(text) => text,
            Given::List(list) => list.join(","),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_a_comma_separated_list() {
        let roles: Roles = "api, relay".parse().unwrap();
        assert!(roles.has(Role::Api) && roles.has(Role::Relay));
        assert!(!roles.has(Role::Projector));
        assert_eq!(roles.to_string(), "api,relay");
        assert_eq!(
            Roles::all().to_string(),
            "api,projector,reactor,relay,timer"
        );
    }

    #[test]
    fn no_role_or_an_unknown_one_is_refused_naming_it() {
        assert_eq!("".parse::<Roles>(), Err(RolesError::Empty));
        assert_eq!(
            "api,projecter".parse::<Roles>(),
            Err(RolesError::Unknown("projecter".to_owned()))
        );
    }

    #[test]
    fn roles_read_from_text_or_a_list() {
        let roles: Roles = serde_json::from_str(r#""timer""#).unwrap();
        assert_eq!(roles.to_string(), "timer");
        let roles: Roles = serde_json::from_str(r#"["reactor", "api"]"#).unwrap();
        assert_eq!(roles.to_string(), "api,reactor");
        assert!(serde_json::from_str::<Roles>(r#"["nobody"]"#).is_err());
    }
}
