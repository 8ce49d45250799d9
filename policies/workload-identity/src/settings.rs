//! The settings of `workload-identity`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wicket_sdk::serde::Deserialize;
use wicket_sdk::serde_json::Value;
use wicket_sdk::{Access, Identity, Rule, name_matches};

/// The known workloads and what they may have.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Settings {
    /// Issuers whose tokens are workloads, besides the issuers named in `workloads`.
    #[serde(default)]
    pub workload_issuers: Vec<String>,
    /// What happens to people (tokens of any other issuer); default `allow`.
    #[serde(default)]
    pub humans: Humans,
    /// The workloads.
    #[serde(default)]
    pub workloads: Vec<Workload>,
}

/// What happens to a requester whose issuer is not a workload issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(crate = "wicket_sdk::serde", rename_all = "snake_case")]
pub enum Humans {
    /// Allowed as requested: another policy of the chain (e.g. `group-access`) decides.
    #[default]
    Allow,
    /// Denied: only workloads may use this cluster.
    Deny,
}

/// One workload: who it is and the most it may have.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Workload {
    /// A name for reasons and logs, e.g. `payments-deploy`.
    pub name: String,
    /// The token issuer, exactly.
    pub issuer: String,
    /// The token subject, exactly; any subject when absent.
    #[serde(default)]
    pub subject: Option<String>,
    /// Claims the token must carry with exactly these JSON values.
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
    /// Cluster names or patterns (`*`, `prefix*`).
    pub clusters: Vec<String>,
    /// Namespace names or patterns.
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
    /// The longest access granted; default 900 (15 minutes).
    #[serde(default = "default_max_ttl")]
    pub max_ttl_seconds: u64,
}

fn default_max_ttl() -> u64 {
    900
}

impl Settings {
    /// Checks what the types cannot: named, uniquely named workloads, each pinned by subject or
    /// claims, able to grant something, with valid patterns, rules and a positive TTL.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(issuer) = self.workload_issuers.iter().find(|i| i.is_empty()) {
            return Err(format!(
                "`workload_issuers` holds an empty issuer `{issuer}`"
            ));
        }
        for (index, workload) in self.workloads.iter().enumerate() {
            workload
                .validate()
                .map_err(|e| format!("`workloads[{index}]` (`{}`): {e}", workload.name))?;
            if self.workloads[..index]
                .iter()
                .any(|other| other.name == workload.name)
            {
                return Err(format!(
                    "`workloads[{index}]`: the name `{}` is used twice",
                    workload.name
                ));
            }
        }
        Ok(())
    }

    /// Whether `identity` is a workload: its issuer is a workload issuer.
    pub fn is_workload(&self, identity: &Identity) -> bool {
        self.workload_issuers.contains(&identity.issuer)
            || self.workloads.iter().any(|w| w.issuer == identity.issuer)
    }
}

impl Workload {
    fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("`name` is empty".into());
        }
        if self.issuer.is_empty() {
            return Err("`issuer` is empty".into());
        }
        if self.subject.is_none() && self.claims.is_empty() {
            return Err(
                "neither `subject` nor `claims` is given, so every token of the issuer would match"
                    .into(),
            );
        }
        if self.clusters.is_empty() {
            return Err("`clusters` is empty".into());
        }
        if let Some(pattern) = self
            .clusters
            .iter()
            .chain(&self.namespaces)
            .find(|p| p.is_empty() || p.trim_end_matches('*').contains('*'))
        {
            return Err(format!(
                "`{pattern}` is not a name or a pattern (`*` only at the end)"
            ));
        }
        if self.namespaces.is_empty() && self.cluster_rules.is_empty() {
            return Err("the workload may have neither namespaces nor cluster rules".into());
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

    /// Whether `identity` is this workload: same issuer, same subject if one is given, and
    /// every configured claim present with exactly the configured value.
    pub fn matches(&self, identity: &Identity) -> bool {
        identity.issuer == self.issuer
            && self.subject.as_ref().is_none_or(|s| *s == identity.subject)
            && self
                .claims
                .iter()
                .all(|(name, value)| identity.claim::<Value>(name).as_ref() == Some(value))
    }

    /// The first part of a request for `cluster`, `namespaces`, `access` and `cluster_rules`
    /// that this workload may not have, or `None` when it may have all of it.
    pub fn uncovered(
        &self,
        cluster: &str,
        namespaces: &[String],
        access: &Access,
        cluster_rules: &[Rule],
    ) -> Option<String> {
        if !self.clusters.iter().any(|p| name_matches(p, cluster)) {
            return Some(format!("cluster `{cluster}`"));
        }
        if let Some(ns) = namespaces
            .iter()
            .find(|ns| !self.namespaces.iter().any(|p| name_matches(p, ns)))
        {
            return Some(format!("namespace `{ns}`"));
        }
        let access_allowed = match access {
            Access::Role(role) => self.roles.contains(role),
            Access::Rules(rules) => rules.iter().all(|r| r.is_covered_by(&self.rules)),
        };
        if !namespaces.is_empty() && !access_allowed {
            return Some(format!("{access}"));
        }
        cluster_rules
            .iter()
            .find(|r| !r.is_covered_by(&self.cluster_rules))
            .map(|rule| format!("cluster rule `{rule}`"))
    }
}
