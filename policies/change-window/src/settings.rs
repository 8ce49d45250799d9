//! The settings of `change-window`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wicket_sdk::name_matches;
use wicket_sdk::serde::Deserialize;

use crate::time::{ClockTime, Day, Instant, UtcOffset};

/// The change calendar of the clusters the policy applies to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Settings {
    /// Cluster names or patterns (`*`, `prefix*`) the calendar applies to; empty (the default)
    /// means every cluster. Requests for other clusters are allowed as requested.
    #[serde(default)]
    pub clusters: Vec<String>,
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
    /// With `outside: cap_ttl`, the longest access granted outside the windows; default 900.
    #[serde(default = "default_outside_max_ttl")]
    pub outside_max_ttl_seconds: u64,
}

fn default_outside_max_ttl() -> u64 {
    900
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
    /// they start, a positive TTL, valid cluster patterns.
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
        if self.outside_max_ttl_seconds == 0 {
            return Err("`outside_max_ttl_seconds` must be more than zero".into());
        }
        if let Some(pattern) = self
            .clusters
            .iter()
            .find(|p| p.is_empty() || p.trim_end_matches('*').contains('*'))
        {
            return Err(format!(
                "`{pattern}` is not a cluster name or pattern (`*` only at the end)"
            ));
        }
        Ok(())
    }

    /// Whether the calendar applies to `cluster`.
    pub fn applies_to(&self, cluster: &str) -> bool {
        self.clusters.is_empty() || self.clusters.iter().any(|p| name_matches(p, cluster))
    }
}
