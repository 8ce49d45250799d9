//! The service configuration: one TOML file, unknown keys rejected with their name and place.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! admin_groups = ["corp:platform-admins"]
//! [[issuers]]
//! alias = "corp"
//! issuer = "https://login.example.com"
//! audiences = ["wicket"]
//! algorithms = ["RS256"]
//! jwks_url = "https://login.example.com/keys"
//! ```
//!
//! See `examples/config/wicket.toml` for every key, documented. Relative paths in the file
//! are resolved against the file's directory.

mod audit;
mod cluster;
pub mod duration;
mod issuer;
mod net;
mod sections;
mod tls;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use audit::AuditConfig;
pub use cluster::{
    ClusterConfig, Connection, DEFAULT_DEADLINE_MS, DEFAULT_MEMORY_LIMIT_MIB, PolicyConfig,
};
pub use issuer::{
    DEFAULT_JWKS_MAX_AGE, DEFAULT_MAX_TOKEN_LIFETIME, IssuerConfig, KeySource, MIN_SECRET_BYTES,
    Secret,
};
pub use net::AddrBlock;
pub use sections::{
    CONNECT_TIMEOUT, DataConfig, Expiry, Limits, PostgresConfig, Reconcile, Reload,
};
pub use tls::{MetricsConfig, TlsConfig};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the schema (unknown key, wrong type, ...).
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file's name as given.
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column of the offending key or value.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The file parses but its values don't make sense together.
    #[error("{file}: {message}")]
    Invalid {
        /// The file's name as given.
        file: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The whole configuration of `wicket serve`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The address the REST API listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Development mode: allows `hs256_secret` issuers, listens on loopback only. Never set
    /// it in production.
    #[serde(default)]
    pub dev: bool,
    /// Allows plain HTTP on a non-loopback `listen` (or `metrics.listen`).
    #[serde(default)]
    pub insecure_http: bool,
    /// HTTPS on the API listener.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Who may read `/metrics`, and where.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Where state is kept.
    #[serde(default)]
    pub data: DataConfig,
    /// Trusted token issuers.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Target clusters.
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    /// Members of these groups see and revoke every request: `<issuer alias>:<group>`.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// Members of these groups read the audit log: `<issuer alias>:<group>`.
    #[serde(default)]
    pub auditor_groups: Vec<String>,
    /// Bounds on what one client may send.
    #[serde(default)]
    pub limits: Limits,
    /// Grant lifetime bounds and teardown retries.
    #[serde(default)]
    pub expiry: Expiry,
    /// The periodic clean-up sweep.
    #[serde(default)]
    pub reconcile: Reconcile,
    /// Picking up policy changes while serving.
    #[serde(default)]
    pub reload: Reload,
    /// Anchoring the audit chain outside the database; without it, nothing shows a rewrite
    /// of the log by whoever can write the database.
    #[serde(default)]
    pub audit: Option<AuditConfig>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Config {
    /// Reads, parses and validates a configuration file. Relative paths inside it are
    /// resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// Parses and validates configuration text; `file` names it in error messages and
    /// relative paths are resolved against `base`.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Self> {
        let mut config = deserialize(text, file)?;
        // Paths first, so that two spellings of one kubeconfig file compare equal.
        config.resolve_paths(base);
        config.validate().map_err(|message| Error::Invalid {
            file: file.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.issuers.is_empty() {
            return Err("no `[[issuers]]`: nobody could authenticate".to_owned());
        }
        if self.clusters.is_empty() {
            return Err("no `[[clusters]]`: there is nothing to grant access to".to_owned());
        }
        tls::Listeners {
            listen: self.listen,
            dev: self.dev,
            insecure_http: self.insecure_http,
            tls: self.tls.as_ref(),
            metrics: &self.metrics,
        }
        .check()?;
        let mut issuers = HashSet::new();
        for issuer in &self.issuers {
            if !issuers.insert(issuer.issuer.as_str()) {
                return Err(format!("issuer `{}` is configured twice", issuer.issuer));
            }
            if matches!(issuer.keys, KeySource::Hs256Secret(_)) && !self.dev {
                return Err(format!(
                    "issuer `{}`: `hs256_secret` is only allowed with `dev = true`",
                    issuer.issuer
                ));
            }
        }
        let mut clusters = HashSet::new();
        for (index, cluster) in self.clusters.iter().enumerate() {
            if !clusters.insert(cluster.name.as_str()) {
                return Err(format!("cluster `{}` is configured twice", cluster.name));
            }
            if let Some(earlier) = self.clusters[..index]
                .iter()
                .find(|earlier| same_jit_namespace(earlier, cluster))
            {
                return Err(format!(
                    "clusters `{}` and `{}` are the same API server (same `server` or the same \
                     connection) with the same JIT `namespace` `{}`: configure the cluster once, \
                     or give each entry its own `namespace`",
                    earlier.name, cluster.name, cluster.namespace
                ));
            }
        }
        issuer::check_aliases(
            &self.issuers,
            &[
                ("admin_groups", &self.admin_groups),
                ("auditor_groups", &self.auditor_groups),
            ],
        )?;
        self.expiry.validate()?;
        self.limits.validate()
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut self.data.path);
        if let Some(postgres) = &mut self.data.postgres {
            postgres.paths_mut().for_each(resolve);
        }
        self.tls
            .iter_mut()
            .flat_map(TlsConfig::paths_mut)
            .chain(self.metrics.token_file.as_mut())
            .chain(self.audit.iter_mut().flat_map(AuditConfig::paths_mut))
            .for_each(resolve);
        for issuer in &mut self.issuers {
            if let KeySource::JwksFile(path) = &mut issuer.keys {
                resolve(path);
            }
        }
        for cluster in &mut self.clusters {
            if let Connection::Kubeconfig { path, .. } = &mut cluster.connection {
                resolve(path);
            }
            if let Some(path) = &mut cluster.ca_file {
                resolve(path);
            }
            for policy in &mut cluster.policies {
                resolve(&mut policy.module);
                if let Some(candidate) = &mut policy.candidate {
                    resolve(candidate);
                }
            }
        }
    }
}

/// Whether two cluster entries put their JIT ServiceAccounts in the same namespace of the same
/// API server: the same namespace, and the same `server` URL or the same connection (kubeconfig
/// file and context, or both in-cluster).
fn same_jit_namespace(a: &ClusterConfig, b: &ClusterConfig) -> bool {
    let server = |c: &ClusterConfig| c.server.as_str().trim_end_matches('/').to_owned();
    a.namespace == b.namespace && (server(a) == server(b) || a.connection == b.connection)
}

fn deserialize(text: &str, file: &str) -> Result<Config> {
    let parse_error = |error: toml::de::Error, at: Option<String>| {
        let offset = error.span().map_or(0, |span| span.start);
        let (line, column) = line_and_column(text, offset);
        let mut message = error.message().trim_end().replace('\n', " ");
        for rust_type in ["usize", "u64", "u32", "u16", "u8"] {
            message = message.replace(
                &format!("expected {rust_type}"),
                "expected a non-negative integer",
            );
        }
        let message = match at {
            Some(at) if !at.is_empty() && at != "." => format!("at `{at}`: {message}"),
            _ => message,
        };
        Error::Parse {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| parse_error(e, None))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let at = e.path().to_string();
        parse_error(e.into_inner(), Some(at))
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests;
