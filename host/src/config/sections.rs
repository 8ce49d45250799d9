//! The small sections of the configuration: `[data]`, `[limits]`, `[expiry]`, `[reconcile]`,
//! `[reload]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::net::AddrBlock;

/// `[data]`: where Wicket keeps its state: a SQLite file (`path`, or a `sqlite:` `url`; the
/// default, for one process) or a PostgreSQL database (a `postgres://` `url`, for several
/// replicas).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawData")]
pub struct DataConfig {
    /// The SQLite database file (unused with `postgres`).
    pub path: PathBuf,
    /// The PostgreSQL database, when `url` names one.
    pub postgres: Option<PostgresConfig>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("wicket.db"),
            postgres: None,
        }
    }
}

/// `[data]` with a `postgres://` `url`: the database, its password and TLS, and the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/database` (parameters such as `sslmode` allowed). The
    /// password belongs in `password_file` or `password_env`, not here.
    pub url: String,
    /// A file holding the password (one line; a final newline is not part of it).
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    pub password_env: Option<String>,
    /// How long a store operation waits for a connection (a new one included) before it fails
    /// as unavailable: the API's 503 comes within about this long when the database is down.
    pub connect_timeout: Duration,
    /// The most connections this process opens (readers and the writer).
    pub pool_size: u32,
    /// TLS to the database: `disable`, `prefer`, `require`, `verify-ca` or `verify-full`
    /// (the URL's `sslmode` otherwise; `prefer` if neither says).
    pub ssl_mode: Option<String>,
    /// The CA certificates (PEM) the database's certificate is checked against (else the
    /// Mozilla roots).
    pub ca_file: Option<PathBuf>,
}

impl PostgresConfig {
    /// The password, from `password_file` or `password_env`, if either is set.
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read `data.password_file` `{}`: {e}", path.display())
            })?;
            let password = text.strip_suffix('\n').unwrap_or(&text);
            let password = password.strip_suffix('\r').unwrap_or(password);
            return Ok(Some(password.to_owned()));
        }
        if let Some(name) = &self.password_env {
            return std::env::var(name).map(Some).map_err(|_| {
                format!("`data.password_env`: the environment variable `{name}` is not set")
            });
        }
        Ok(None)
    }

    /// The files it names, to resolve against the configuration's directory.
    pub(super) fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        self.password_file.iter_mut().chain(self.ca_file.iter_mut())
    }
}

/// The default of `data.connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    path: Option<PathBuf>,
    url: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    #[serde(default, deserialize_with = "duration::deserialize_option")]
    connect_timeout: Option<Duration>,
    pool_size: Option<u32>,
    ssl_mode: Option<String>,
    ca_file: Option<PathBuf>,
}

impl TryFrom<RawData> for DataConfig {
    type Error = String;

    fn try_from(raw: RawData) -> Result<Self, String> {
        let postgres_only = [
            ("password_file", raw.password_file.is_some()),
            ("password_env", raw.password_env.is_some()),
            ("connect_timeout", raw.connect_timeout.is_some()),
            ("pool_size", raw.pool_size.is_some()),
            ("ssl_mode", raw.ssl_mode.is_some()),
            ("ca_file", raw.ca_file.is_some()),
        ];
        let url = match (raw.path, raw.url) {
            (Some(_), Some(_)) => return Err("give either `path` or `url`, not both".to_owned()),
            (path, None) => {
                if let Some((key, _)) = postgres_only.iter().find(|(_, set)| *set) {
                    return Err(format!("`{key}` is for a `postgres://` `url`"));
                }
                return Ok(Self {
                    path: path.unwrap_or_else(|| Self::default().path),
                    postgres: None,
                });
            }
            (None, Some(url)) => url,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if raw.password_file.is_some() && raw.password_env.is_some() {
                return Err("give either `password_file` or `password_env`, not both".to_owned());
            }
            if let Some(mode) = &raw.ssl_mode
                && ![
                    "disable",
                    "allow",
                    "prefer",
                    "require",
                    "verify-ca",
                    "verify-full",
                ]
                .contains(&mode.as_str())
            {
                return Err(format!(
                    "`ssl_mode` `{mode}` is not one of `disable`, `allow`, `prefer`, `require`, \
                     `verify-ca`, `verify-full`"
                ));
            }
            let connect_timeout = raw.connect_timeout.unwrap_or(CONNECT_TIMEOUT);
            if connect_timeout.is_zero() {
                return Err("`connect_timeout` must be more than zero".to_owned());
            }
            let pool_size = raw.pool_size.unwrap_or(10);
            if !(2..=1000).contains(&pool_size) {
                return Err(format!(
                    "`pool_size` must be between 2 and 1000, not {pool_size}"
                ));
            }
            return Ok(Self {
                path: Self::default().path,
                postgres: Some(PostgresConfig {
                    url,
                    password_file: raw.password_file,
                    password_env: raw.password_env,
                    connect_timeout,
                    pool_size,
                    ssl_mode: raw.ssl_mode,
                    ca_file: raw.ca_file,
                }),
            });
        }
        if let Some((key, _)) = postgres_only.iter().find(|(_, set)| *set) {
            return Err(format!("`{key}` is for a `postgres://` `url`"));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                let scheme = url.split(':').next().unwrap_or_default();
                format!("`url` scheme `{scheme}` is not supported; use `postgres://` or `sqlite:`")
            })?;
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(format!("`url` `{url}` names no database file"));
        }
        Ok(Self {
            path: PathBuf::from(path),
            postgres: None,
        })
    }
}

/// `[limits]`: bounds on what one client may send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest request body accepted, in bytes.
    pub body_bytes: usize,
    /// Requests accepted per minute from one subject.
    pub requests_per_minute: u32,
    /// Calls accepted per minute from one source address (an IPv6 /64), on every route and
    /// before authentication, sustained.
    pub source_requests_per_minute: u32,
    /// Calls a source address may send at once beyond that rate (the token bucket's size).
    pub source_burst: u32,
    /// Peers whose `X-Forwarded-For` names the client (reverse proxies, load balancers).
    pub trusted_proxies: Vec<AddrBlock>,
    /// The most source addresses tracked at once (by the rate limit and by the count of
    /// failed authentications); beyond it, further sources share one allowance and one count.
    pub tracked_sources: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 64 * 1024,
            requests_per_minute: 60,
            source_requests_per_minute: 600,
            source_burst: 100,
            trusted_proxies: Vec::new(),
            tracked_sources: 10_000,
        }
    }
}

impl Limits {
    pub(super) fn validate(&self) -> Result<(), String> {
        if !(1..=16 * 1024 * 1024).contains(&self.body_bytes) {
            return Err(format!(
                "`limits.body_bytes` must be between 1 and 16777216, not {}",
                self.body_bytes
            ));
        }
        if self.requests_per_minute == 0 {
            return Err("`limits.requests_per_minute` must be more than zero".to_owned());
        }
        if self.source_requests_per_minute == 0 {
            return Err("`limits.source_requests_per_minute` must be more than zero".to_owned());
        }
        if self.source_burst == 0 {
            return Err("`limits.source_burst` must be more than zero".to_owned());
        }
        if !(1..=10_000_000).contains(&self.tracked_sources) {
            return Err(format!(
                "`limits.tracked_sources` must be between 1 and 10000000, not {}",
                self.tracked_sources
            ));
        }
        Ok(())
    }
}

/// `[expiry]`: how long grants may last, how long provisioning one may take, and how their
/// teardown is retried.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expiry {
    /// The longest duration a request may ask for.
    #[serde(deserialize_with = "duration::deserialize")]
    pub max_duration: Duration,
    /// How long to wait before the first retry of a teardown that failed (each next retry
    /// waits twice as long, up to `retry_max_interval`).
    #[serde(deserialize_with = "duration::deserialize")]
    pub retry_interval: Duration,
    /// The longest wait between two teardown attempts.
    #[serde(deserialize_with = "duration::deserialize")]
    pub retry_max_interval: Duration,
    /// How long creating a grant's objects may take before it is abandoned and rolled back.
    #[serde(deserialize_with = "duration::deserialize")]
    pub provision_timeout: Duration,
}

impl Default for Expiry {
    fn default() -> Self {
        Self {
            max_duration: Duration::from_secs(12 * 3600),
            retry_interval: Duration::from_secs(10),
            retry_max_interval: Duration::from_secs(300),
            provision_timeout: Duration::from_secs(60),
        }
    }
}

impl Expiry {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.retry_max_interval < self.retry_interval {
            return Err(
                "`expiry.retry_max_interval` must be at least `expiry.retry_interval`".to_owned(),
            );
        }
        Ok(())
    }
}

/// `[reconcile]`: the periodic sweep that removes objects whose grant is over.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reconcile {
    /// Time between two sweeps (one also runs at start).
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
}

impl Default for Reconcile {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
        }
    }
}

/// `[reload]`: how policy changes are picked up while serving.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reload {
    /// Watch the configuration file and the directories of the configured modules, and
    /// reload when they change.
    pub watch: bool,
    /// How long the watched files must stay quiet before a reload starts.
    #[serde(deserialize_with = "duration::deserialize")]
    pub debounce: Duration,
    /// A watched module file changed less than this long ago that does not load is taken to
    /// be still being written: it is retried later instead of rejected.
    #[serde(deserialize_with = "duration::deserialize")]
    pub settle: Duration,
}

impl Default for Reload {
    fn default() -> Self {
        Self {
            watch: true,
            debounce: Duration::from_millis(250),
            settle: Duration::from_secs(2),
        }
    }
}
