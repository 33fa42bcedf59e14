//! Connection and schema settings of the ScyllaDB store.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::ScyllaError;

/// Replication of the keyspace that `migrate` creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replication {
    /// `SimpleStrategy` with a replication factor (development, one datacenter).
    Simple {
        /// Copies of each row.
        factor: u32,
    },
    /// `NetworkTopologyStrategy` with a factor per datacenter (production).
    NetworkTopology {
        /// (datacenter name, copies of each row in it).
        datacenters: Vec<(String, u32)>,
    },
}

impl Default for Replication {
    fn default() -> Self {
        Replication::Simple { factor: 1 }
    }
}

impl Replication {
    /// The CQL replication map, e.g. `{'class': 'SimpleStrategy', 'replication_factor': 1}`.
    pub fn cql(&self) -> String {
        match self {
            Replication::Simple { factor } => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {factor}}}")
            }
            Replication::NetworkTopology { datacenters } => {
                let mut map = String::from("{'class': 'NetworkTopologyStrategy'");
                for (datacenter, factor) in datacenters {
                    map.push_str(&format!(", '{datacenter}': {factor}"));
                }
                map.push('}');
                map
            }
        }
    }

    fn validate(&self) -> Result<(), ScyllaError> {
        match self {
            Replication::Simple { factor: 0 } => Err(settings("replication factor must be at least 1")),
            Replication::Simple { .. } => Ok(()),
            Replication::NetworkTopology { datacenters } if datacenters.is_empty() => {
                Err(settings("network replication needs at least one datacenter"))
            }
            Replication::NetworkTopology { datacenters } => {
                for (datacenter, factor) in datacenters {
                    let valid = !datacenter.is_empty()
                        && datacenter.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                    if !valid {
                        return Err(settings(format!("invalid datacenter name `{datacenter}`")));
                    }
                    if *factor == 0 {
                        return Err(settings(format!("replication factor of `{datacenter}` must be at least 1")));
                    }
                }
                Ok(())
            }
        }
    }
}

/// Parses `simple:N` or `network:dc1=N,dc2=M` (the form of the `lrs` flags).
impl FromStr for Replication {
    type Err = ScyllaError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || settings(format!("replication `{text}` is neither `simple:N` nor `network:dc=N,…`"));
        let replication = if let Some(factor) = text.strip_prefix("simple:") {
            Replication::Simple { factor: factor.trim().parse().map_err(|_| invalid())? }
        } else if let Some(list) = text.strip_prefix("network:") {
            let mut datacenters = Vec::new();
            for entry in list.split(',') {
                let (datacenter, factor) = entry.split_once('=').ok_or_else(invalid)?;
                datacenters.push((datacenter.trim().to_owned(), factor.trim().parse().map_err(|_| invalid())?));
            }
            Replication::NetworkTopology { datacenters }
        } else {
            return Err(invalid());
        };
        replication.validate()?;
        Ok(replication)
    }
}

impl fmt::Display for Replication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Replication::Simple { factor } => write!(f, "simple:{factor}"),
            Replication::NetworkTopology { datacenters } => {
                let list: Vec<String> = datacenters.iter().map(|(dc, n)| format!("{dc}={n}")).collect();
                write!(f, "network:{}", list.join(","))
            }
        }
    }
}

/// A user name and password for ScyllaDB's password authenticator.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"…").finish()
    }
}

/// Everything `ScyllaStore::connect` needs.
#[derive(Clone, Debug)]
pub struct ScyllaSettings {
    /// Contact points, `host:port` each.
    pub nodes: Vec<String>,
    /// Keyspace of the query tables (lowercase letters, digits, `_`; at most 48).
    pub keyspace: String,
    /// Replication of the keyspace when `migrate` creates it.
    pub replication: Replication,
    /// Rows per page of paged reads (`dump`, and `scan` up to its limit).
    pub page_size: u32,
    /// Optional password authentication.
    pub credentials: Option<Credentials>,
    /// Wait for schema agreement after DDL (keep on for real clusters).
    pub await_schema_agreement: bool,
    /// Timeout of establishing one connection.
    pub connect_timeout: Duration,
}

impl ScyllaSettings {
    /// Settings for `nodes` and `keyspace` with the defaults: `simple:1`
    /// replication, 1000-row pages, no credentials, schema agreement awaited,
    /// 5 s connect timeout.
    pub fn new(nodes: impl IntoIterator<Item = impl Into<String>>, keyspace: impl Into<String>) -> Self {
        Self {
            nodes: nodes.into_iter().map(Into::into).collect(),
            keyspace: keyspace.into(),
            replication: Replication::default(),
            page_size: 1000,
            credentials: None,
            await_schema_agreement: true,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Checks the settings before connecting.
    pub fn validate(&self) -> Result<(), ScyllaError> {
        if self.nodes.is_empty() {
            return Err(settings("no ScyllaDB node given"));
        }
        if !valid_keyspace(&self.keyspace) {
            return Err(settings(format!(
                "keyspace `{}` must be 1–48 lowercase letters, digits or `_`, starting with a letter",
                self.keyspace
            )));
        }
        if self.page_size == 0 || self.page_size > i32::MAX as u32 {
            return Err(settings("page size must be between 1 and 2^31 - 1"));
        }
        self.replication.validate()
    }
}

fn valid_keyspace(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 48
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn settings(message: impl Into<String>) -> ScyllaError {
    ScyllaError::Settings(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_parses_prints_and_renders_cql() {
        let simple: Replication = "simple:3".parse().unwrap();
        assert_eq!(simple, Replication::Simple { factor: 3 });
        assert_eq!(simple.cql(), "{'class': 'SimpleStrategy', 'replication_factor': 3}");
        assert_eq!(simple.to_string(), "simple:3");
        let network: Replication = "network:dc1=3,eu-west=2".parse().unwrap();
        assert_eq!(network.cql(), "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'eu-west': 2}");
        assert_eq!(network.to_string().parse::<Replication>().unwrap(), network);
        for bad in ["", "simple:", "simple:0", "network:", "network:dc1", "network:d'c=1", "quorum:3"] {
            assert!(bad.parse::<Replication>().is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn settings_refuse_unsafe_keyspaces_and_page_sizes() {
        assert!(ScyllaSettings::new(["127.0.0.1:9042"], "lrs").validate().is_ok());
        for keyspace in ["", "Lrs", "1lrs", "lrs;drop", "lrs.x", &"k".repeat(49)] {
            assert!(ScyllaSettings::new(["n:1"], keyspace).validate().is_err(), "{keyspace} must be refused");
        }
        assert!(ScyllaSettings::new(Vec::<String>::new(), "lrs").validate().is_err());
        let mut settings = ScyllaSettings::new(["n:1"], "lrs");
        settings.page_size = 0;
        assert!(settings.validate().is_err());
        let credentials = Credentials { username: "u".into(), password: "secret".into() };
        assert!(!format!("{credentials:?}").contains("secret"));
    }
}
