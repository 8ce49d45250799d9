//! The settings of `group-access`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wicket_sdk::serde::Deserialize;
use wicket_sdk::{Duration, Scoped};

/// What each group may ask for: `{"allow": [entry, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Settings {
    /// The entries; a request is allowed when one entry of one of the requester's groups
    /// covers all of it.
    pub allow: Vec<Entry>,
}

/// One entry: members of `groups` may ask for what its scope allows (`clusters`, `namespaces`,
/// `roles`, `rules`, `cluster_rules`, `max_ttl`; see [`wicket_sdk::Scope`]).
pub type Entry = Scoped<Members>;

/// Who may use an entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Members {
    /// Members of any of these groups may use the entry.
    pub groups: Vec<String>,
}

/// The longest access an entry grants when it gives no `max_ttl`: one hour.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(3600);

impl Settings {
    /// Checks what reading the settings does not: every entry names groups.
    pub fn validate(&self) -> Result<(), String> {
        for (index, entry) in self.allow.iter().enumerate() {
            let groups = &entry.who.groups;
            if groups.is_empty() {
                return Err(format!("allow[{index}].groups: is empty"));
            }
            if let Some(at) = groups.iter().position(String::is_empty) {
                return Err(format!(
                    "allow[{index}].groups[{at}]: a group name is empty"
                ));
            }
        }
        Ok(())
    }
}

/// The longest access `entry` grants, in seconds.
pub(crate) fn max_ttl_seconds(entry: &Entry) -> u64 {
    entry.scope.max_ttl_or(DEFAULT_MAX_TTL).as_secs()
}
