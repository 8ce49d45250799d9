//! The settings of `group-access`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wicket_sdk::serde::Deserialize;
use wicket_sdk::{Access, Rule, name_matches};

/// What each group may ask for: `{"allow": [entry, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Settings {
    /// The entries; a request is allowed when one entry of one of the requester's groups
    /// covers all of it.
    pub allow: Vec<Entry>,
}

/// One entry: members of `groups` may ask for this much.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Entry {
    /// Members of any of these groups may use the entry.
    pub groups: Vec<String>,
    /// Cluster names or patterns (`*`, `prefix*`).
    pub clusters: Vec<String>,
    /// Namespace names or patterns (`*`, `prefix*`).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// ClusterRoles that may be bound in those namespaces, by exact name.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Rules whose subsets may be asked for in those namespaces.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Cluster-scoped rules whose subsets may be asked for.
    #[serde(default)]
    pub cluster_rules: Vec<Rule>,
    /// The longest access granted through this entry; default 3600 (one hour).
    #[serde(default = "default_max_ttl")]
    pub max_ttl_seconds: u64,
}

fn default_max_ttl() -> u64 {
    3600
}

impl Settings {
    /// Checks what the types cannot: non-empty names, patterns with `*` only at the end,
    /// entries that can grant something, rules with no empty list, a positive maximum TTL.
    pub fn validate(&self) -> Result<(), String> {
        for (index, entry) in self.allow.iter().enumerate() {
            entry
                .validate()
                .map_err(|e| format!("`allow[{index}]`: {e}"))?;
        }
        Ok(())
    }
}

impl Entry {
    fn validate(&self) -> Result<(), String> {
        if self.groups.is_empty() {
            return Err("`groups` is empty".into());
        }
        if let Some(group) = self.groups.iter().find(|g| g.is_empty()) {
            return Err(format!("`groups` holds an empty name `{group}`"));
        }
        if self.clusters.is_empty() {
            return Err("`clusters` is empty".into());
        }
        for pattern in self.clusters.iter().chain(&self.namespaces) {
            check_pattern(pattern)?;
        }
        if self.namespaces.is_empty() && self.cluster_rules.is_empty() {
            return Err("the entry allows neither namespaces nor cluster rules".into());
        }
        if !self.namespaces.is_empty() && self.roles.is_empty() && self.rules.is_empty() {
            return Err("`namespaces` are listed but neither `roles` nor `rules`".into());
        }
        if let Some(role) = self.roles.iter().find(|r| r.is_empty() || r.contains('*')) {
            return Err(format!("`roles` holds `{role}`: roles are exact names"));
        }
        for rule in self.rules.iter().chain(&self.cluster_rules) {
            if rule.api_groups.is_empty() || rule.resources.is_empty() || rule.verbs.is_empty() {
                return Err(format!("rule `{rule}` has an empty list"));
            }
        }
        if self.max_ttl_seconds == 0 {
            return Err("`max_ttl_seconds` must be more than zero".into());
        }
        Ok(())
    }

    /// Whether the entry names cluster `cluster`.
    pub fn allows_cluster(&self, cluster: &str) -> bool {
        self.clusters.iter().any(|p| name_matches(p, cluster))
    }

    /// Whether the entry names namespace `namespace`.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|p| name_matches(p, namespace))
    }

    /// Whether the entry allows `access` in its namespaces.
    pub fn allows_access(&self, access: &Access) -> bool {
        match access {
            Access::Role(role) => self.roles.contains(role),
            Access::Rules(rules) => rules.iter().all(|rule| rule.is_covered_by(&self.rules)),
        }
    }

    /// Whether the entry allows every one of the cluster-scoped `rules`.
    pub fn allows_cluster_rules(&self, rules: &[Rule]) -> bool {
        rules
            .iter()
            .all(|rule| rule.is_covered_by(&self.cluster_rules))
    }
}

fn check_pattern(pattern: &str) -> Result<(), String> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    if pattern.is_empty() || body.contains('*') {
        return Err(format!(
            "`{pattern}` is not a name or a pattern (`*` only at the end)"
        ));
    }
    Ok(())
}
