//! The small sections of the configuration: `[data]`, `[limits]`, `[expiry]`, `[reconcile]`,
//! `[reload]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::net::AddrBlock;

/// `[data]`: where Wicket keeps its state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawData")]
pub struct DataConfig {
    /// The SQLite database file.
    pub path: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("wicket.db"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    path: Option<PathBuf>,
    url: Option<String>,
}

impl TryFrom<RawData> for DataConfig {
    type Error = String;

    fn try_from(raw: RawData) -> Result<Self, String> {
        match (raw.path, raw.url) {
            (Some(path), None) => Ok(Self { path }),
            (None, None) => Ok(Self::default()),
            (None, Some(url)) => {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .ok_or_else(|| {
                        let scheme = url.split(':').next().unwrap_or_default();
                        format!(
                            "`url` scheme `{scheme}` is not supported by this version; \
                             use a `sqlite:` URL or `path`"
                        )
                    })?;
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() {
                    return Err(format!("`url` `{url}` names no database file"));
                }
                Ok(Self {
                    path: PathBuf::from(path),
                })
            }
            (Some(_), Some(_)) => Err("give either `path` or `url`, not both".to_owned()),
        }
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
