//! A new access request as the client sends it, and its validation into the
//! [`AccessRequest`] the policies see.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use crate::config::duration;
use crate::domain::{Access, AccessRequest, Rule, is_dns1123_label};

/// The most namespaces one request may name.
pub const MAX_NAMESPACES: usize = 32;
/// The most rules one request may carry (namespaced and cluster-scoped together).
pub const MAX_RULES: usize = 64;
/// The longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 1024;
/// The most context entries.
pub const MAX_CONTEXT_ENTRIES: usize = 32;
/// The longest context key and value, in characters.
pub const MAX_CONTEXT_CHARS: usize = 256;
/// The most entries in one list of a rule (groups, resources, verbs, names).
pub const MAX_RULE_ITEMS: usize = 64;

/// The body of `POST /v1/requests`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The target cluster's configured name.
    pub cluster: String,
    /// The namespaces asked for.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// A ClusterRole to bind in each namespace (`view`, `edit`, ...); or give `rules`.
    #[serde(default)]
    pub role: Option<String>,
    /// Explicit rules for a Role in each namespace; or give `role`.
    #[serde(default)]
    pub rules: Option<Vec<Rule>>,
    /// Cluster-scoped rules.
    #[serde(default)]
    pub cluster_rules: Vec<Rule>,
    /// How long: `"30m"`, `"1h"`, `"90s"` or a number of seconds.
    pub duration: DurationValue,
    /// Why, in the requester's words.
    pub reason: String,
    /// Free-form context for the policies, e.g. `{"ticket": "INC-123"}`.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

/// A duration as text (`"30m"`) or whole seconds (`1800`).
#[derive(Debug, Clone, PartialEq)]
pub enum DurationValue {
    /// Whole seconds.
    Seconds(i64),
    /// Text such as `30m`, `1h`, `1h 30m`.
    Text(String),
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationValue;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as `\"30m\"` or a number of seconds")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationValue, E> {
                Ok(DurationValue::Seconds(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationValue, E> {
                Ok(DurationValue::Seconds(i64::try_from(v).unwrap_or(i64::MAX)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationValue, E> {
                Ok(DurationValue::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Why a new request was refused before anything was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The cluster is not configured.
    #[error("cluster `{0}` is not configured")]
    UnknownCluster(String),
    /// Some field is wrong; the message names it.
    #[error("{0}")]
    Field(String),
}

/// What validation checks against the configuration.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// The configured cluster names.
    pub clusters: BTreeSet<String>,
    /// The longest duration a request may ask for.
    pub max_duration: Duration,
}

fn field(message: impl Into<String>) -> Invalid {
    Invalid::Field(message.into())
}

/// A ClusterRole name: a DNS-1123 subdomain that may also hold `:` (as `system:` roles do).
fn is_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b':')
        })
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

fn check_rules(what: &str, rules: &[Rule]) -> Result<(), Invalid> {
    for (index, rule) in rules.iter().enumerate() {
        let at = format!("`{what}[{index}]`");
        if rule.verbs.is_empty() {
            return Err(field(format!("{at} has no verbs")));
        }
        if rule.resources.is_empty() {
            return Err(field(format!("{at} has no resources")));
        }
        if rule.api_groups.is_empty() {
            return Err(field(format!(
                "{at} has no api_groups (use `\"\"` for the core group)"
            )));
        }
        for (name, list) in [
            ("api_groups", &rule.api_groups),
            ("resources", &rule.resources),
            ("verbs", &rule.verbs),
            ("resource_names", &rule.resource_names),
        ] {
            if list.len() > MAX_RULE_ITEMS {
                return Err(field(format!(
                    "{at}.{name} has more than {MAX_RULE_ITEMS} entries"
                )));
            }
            if let Some(bad) = list.iter().find(|item| {
                item.len() > 253 || item.chars().any(|c| c.is_control() || c.is_whitespace())
            }) {
                return Err(field(format!("{at}.{name} holds an invalid entry `{bad}`")));
            }
        }
    }
    Ok(())
}

fn parse_duration(value: &DurationValue, max: Duration) -> Result<u64, Invalid> {
    let seconds = match value {
        DurationValue::Seconds(seconds) if *seconds <= 0 => {
            return Err(field(format!(
                "`duration` must be more than zero, not `{seconds}`"
            )));
        }
        DurationValue::Seconds(seconds) => u64::try_from(*seconds).unwrap_or(u64::MAX),
        DurationValue::Text(text) => {
            let parsed = duration::parse(text).map_err(|e| field(format!("`duration`: {e}")))?;
            if parsed.subsec_nanos() != 0 {
                return Err(field(format!(
                    "`duration` `{text}` must be a whole number of seconds"
                )));
            }
            parsed.as_secs()
        }
    };
    if seconds > max.as_secs() {
        return Err(field(format!(
            "`duration` of {seconds} s is longer than the allowed maximum of {} s",
            max.as_secs()
        )));
    }
    Ok(seconds)
}

impl NewRequest {
    /// Checks every field against `bounds` and builds the request the policies see, with
    /// id `id` received at `now`.
    pub fn validate(
        self,
        bounds: &Bounds,
        id: String,
        now: Timestamp,
    ) -> Result<AccessRequest, Invalid> {
        if !bounds.clusters.contains(&self.cluster) {
            let shown: String = self.cluster.chars().take(64).collect();
            return Err(Invalid::UnknownCluster(shown));
        }
        if self.namespaces.len() > MAX_NAMESPACES {
            return Err(field(format!(
                "`namespaces` may hold at most {MAX_NAMESPACES} names"
            )));
        }
        let mut seen = BTreeSet::new();
        for namespace in &self.namespaces {
            if !is_dns1123_label(namespace) {
                let shown: String = namespace.chars().take(64).collect();
                return Err(field(format!(
                    "namespace `{shown}` is not a DNS-1123 label (lowercase letters, digits and `-`, at most 63)"
                )));
            }
            if !seen.insert(namespace) {
                return Err(field(format!("namespace `{namespace}` is named twice")));
            }
        }
        let access = match (self.role, self.rules) {
            (Some(_), Some(_)) => return Err(field("give either `role` or `rules`, not both")),
            (Some(role), None) => {
                if !is_role_name(&role) {
                    let shown: String = role.chars().take(64).collect();
                    return Err(field(format!("`role` `{shown}` is not a valid role name")));
                }
                Access::Role(role)
            }
            (None, Some(rules)) => {
                if rules.is_empty() {
                    return Err(field("`rules` must not be empty"));
                }
                Access::Rules(rules)
            }
            (None, None) if self.namespaces.is_empty() => Access::Rules(Vec::new()),
            (None, None) => return Err(field("give `role` or `rules` for the namespaces")),
        };
        if self.namespaces.is_empty() && self.cluster_rules.is_empty() {
            return Err(field("ask for at least one namespace or one cluster rule"));
        }
        if let Access::Rules(rules) = &access {
            check_rules("rules", rules)?;
        }
        check_rules("cluster_rules", &self.cluster_rules)?;
        let rule_count = match &access {
            Access::Rules(rules) => rules.len(),
            Access::Role(_) => 0,
        } + self.cluster_rules.len();
        if rule_count > MAX_RULES {
            return Err(field(format!(
                "a request may carry at most {MAX_RULES} rules"
            )));
        }
        let duration_seconds = parse_duration(&self.duration, bounds.max_duration)?;
        let reason = self.reason.trim().to_owned();
        if reason.is_empty() {
            return Err(field("`reason` must not be empty"));
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(field(format!(
                "`reason` is longer than {MAX_REASON_CHARS} characters"
            )));
        }
        if self.context.len() > MAX_CONTEXT_ENTRIES {
            return Err(field(format!(
                "`context` may hold at most {MAX_CONTEXT_ENTRIES} entries"
            )));
        }
        for (key, value) in &self.context {
            if key.is_empty()
                || key.chars().count() > MAX_CONTEXT_CHARS
                || value.chars().count() > MAX_CONTEXT_CHARS
            {
                let shown: String = key.chars().take(64).collect();
                return Err(field(format!(
                    "`context` entry `{shown}` must have a key, and key and value of at most {MAX_CONTEXT_CHARS} characters"
                )));
            }
        }
        Ok(AccessRequest {
            id,
            cluster: self.cluster,
            namespaces: self.namespaces,
            access,
            cluster_rules: self.cluster_rules,
            duration_seconds,
            reason,
            context: self.context,
            requested_at: now,
            evaluated_at: now,
            extends: None,
        })
    }
}
