//! The settings of `change-window`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wicket_sdk::serde::Deserialize;
use wicket_sdk::{Duration, NamePattern};

use crate::time::{ClockTime, Day, Instant, UtcOffset};

/// The change calendar of the clusters the policy applies to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Settings {
    /// Cluster names or patterns (`*`, `prefix*`) the calendar applies to; empty (the default)
    /// means every cluster. Requests for other clusters are not this policy's concern: it
    /// abstains.
    #[serde(default)]
    pub clusters: Vec<NamePattern>,
    /// The offset the weekly windows are written in; default `Z` (UTC).
    #[serde(default)]
    pub utc_offset: UtcOffset,
    /// Weekly change windows.
    #[serde(default)]
    pub windows: Vec<Window>,
    /// Freeze periods: no access at all.
    #[serde(default)]
    pub freezes: Vec<Freeze>,
    /// What happens outside every window; default `deny`.
    #[serde(default)]
    pub outside: Outside,
    /// With `outside: cap_ttl`, the longest access granted outside the windows: a duration
    /// (`"15m"`) or seconds; default 15 minutes. Also read from the older
    /// `outside_max_ttl_seconds`.
    #[serde(default = "default_outside_max_ttl", alias = "outside_max_ttl_seconds")]
    pub outside_max_ttl: Duration,
}

fn default_outside_max_ttl() -> Duration {
    Duration::from_secs(900)
}

/// A weekly window: on each of `days`, from `start` to `end` (at the settings' `utc_offset`).
/// An `end` at or before `start` ends on the next day (`22:00`–`06:00`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Window {
    /// The days the window opens on.
    pub days: Vec<Day>,
    /// When it opens, `HH:MM`.
    pub start: ClockTime,
    /// When it closes, `HH:MM` (`24:00` for midnight).
    pub end: ClockTime,
}

/// A freeze: from `start` (included) to `end` (excluded), no access.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Freeze {
    /// Start, RFC 3339 with a UTC offset.
    pub start: Instant,
    /// End, RFC 3339 with a UTC offset.
    pub end: Instant,
    /// Shown to the requester, e.g. `year-end freeze`.
    #[serde(default)]
    pub reason: String,
}

/// What happens to a request outside every window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(crate = "wicket_sdk::serde", rename_all = "snake_case")]
pub enum Outside {
    /// Deny it.
    #[default]
    Deny,
    /// Allow it as requested, for at most `outside_max_ttl_seconds`.
    CapTtl,
}

impl Settings {
    /// Checks what the types cannot: windows with days and a length, freezes that end after
    /// they start, a TTL of at least a second.
    pub fn validate(&self) -> Result<(), String> {
        for (i, window) in self.windows.iter().enumerate() {
            if window.days.is_empty() {
                return Err(format!("`windows[{i}].days` is empty"));
            }
            if window.start.0 == 24 * 60 {
                return Err(format!("`windows[{i}].start` cannot be `24:00`"));
            }
            if window.start == window.end {
                return Err(format!("`windows[{i}]` starts and ends at the same time"));
            }
        }
        for (i, freeze) in self.freezes.iter().enumerate() {
            if freeze.end <= freeze.start {
                return Err(format!("`freezes[{i}]` does not end after it starts"));
            }
        }
        if self.outside_max_ttl.as_secs() == 0 {
            return Err(format!(
                "outside_max_ttl: `{}` is too short: a maximum TTL is at least one second",
                self.outside_max_ttl
            ));
        }
        Ok(())
    }

    /// Whether the calendar applies to `cluster`.
    pub fn applies_to(&self, cluster: &str) -> bool {
        self.clusters.is_empty() || self.clusters.iter().any(|p| p.matches(cluster))
    }
}
