//! What is asked for.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use jiff_alloc::Timestamp;
use serde_alloc::{Deserialize, Serialize};

use crate::access::{Access, Rule};

/// An access request as the requester sent it, validated by the host.
///
/// In JSON the access is flattened: `{"id": "r1", "cluster": "prod", "namespaces": ["payments"],
/// "role": "edit", "duration_seconds": 1800, "reason": "INC-1", "requested_at":
/// "2026-11-23T10:00:00Z"}` (or `"rules": [...]` instead of `"role"`).
///
/// ```
/// use wicket_sdk::{Access, AccessRequest};
///
/// let request = AccessRequest::new("prod", Access::role("edit"), 1800)
///     .with_namespace("payments")
///     .with_reason("INC-123 payments failing")
///     .with_context("ticket", "INC-123");
/// assert_eq!(request.context("ticket"), Some("INC-123"));
/// assert_eq!(request.namespaces, ["payments"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "serde_alloc")]
pub struct AccessRequest {
    /// The request's id, unique and stable.
    pub id: String,
    /// The target cluster's configured name.
    pub cluster: String,
    /// The namespaces asked for.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// What is asked for in each namespace.
    #[serde(flatten)]
    pub access: Access,
    /// Cluster-scoped rules asked for; usually empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_rules: Vec<Rule>,
    /// How long the access is asked for, in seconds.
    pub duration_seconds: u64,
    /// Why, in the requester's words.
    #[serde(default)]
    pub reason: String,
    /// Free-form context, e.g. `ticket` → `INC-123`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
    /// When the host received the request: a policy's "now" (the sandbox has no clock).
    #[serde(with = "crate::json::timestamp")]
    pub requested_at: Timestamp,
}

impl AccessRequest {
    /// A request with id `request`, no namespaces, no reason, no context, made at the Unix epoch.
    pub fn new(cluster: impl Into<String>, access: Access, duration_seconds: u64) -> Self {
        Self {
            id: String::from("request"),
            cluster: cluster.into(),
            namespaces: Vec::new(),
            access,
            cluster_rules: Vec::new(),
            duration_seconds,
            reason: String::new(),
            context: BTreeMap::new(),
            requested_at: Timestamp::UNIX_EPOCH,
        }
    }

    /// The same request with id `id`.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The same request, also for `namespace`.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespaces.push(namespace.into());
        self
    }

    /// The same request, also for the cluster-scoped `rule`.
    pub fn with_cluster_rule(mut self, rule: Rule) -> Self {
        self.cluster_rules.push(rule);
        self
    }

    /// The same request with reason `reason`.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// The same request with context `key` set to `value`.
    pub fn with_context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// The same request, received at `at`.
    pub fn with_requested_at(mut self, at: Timestamp) -> Self {
        self.requested_at = at;
        self
    }

    /// Context value `key`, if the requester sent one.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context.get(key).map(String::as_str)
    }
}
