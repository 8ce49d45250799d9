//! Relay mode: one API call made with an issued credential, and a policy's answer to it.

use alloc::string::String;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One call a requester makes to the Kubernetes API through Wicket's relay. In JSON
/// `{"verb": "delete", "api_group": "", "resource": "pods", "subresource": "", "namespace":
/// "web", "name": "web-0", "at": "2026-11-23T22:00:00Z"}`; every field but `verb`, `resource`
/// and `at` defaults to `""`.
///
/// ```
/// use wicket_contract::ApiCall;
///
/// let call = ApiCall::new("get", "", "pods").in_namespace("web").named("web-0").subresource("log");
/// assert_eq!((call.namespace.as_str(), call.name.as_str(), call.subresource.as_str()), ("web", "web-0", "log"));
/// assert!(call.is_read_only());
/// assert!(!ApiCall::new("delete", "", "pods").is_read_only());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiCall {
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...
    pub verb: String,
    /// API group, `""` for the core group.
    #[serde(default)]
    pub api_group: String,
    /// The resource, e.g. `pods`.
    pub resource: String,
    /// The subresource, e.g. `log`, or `""`.
    #[serde(default)]
    pub subresource: String,
    /// The namespace, or `""` for cluster-scoped calls.
    #[serde(default)]
    pub namespace: String,
    /// The object's name, or `""` for collections.
    #[serde(default)]
    pub name: String,
    /// When the call is made: a relay policy's "now".
    #[serde(with = "crate::json::timestamp")]
    pub at: Timestamp,
}

impl ApiCall {
    /// A call of `verb` on the collection `resource` of `api_group`, cluster-wide, at the Unix
    /// epoch.
    pub fn new(
        verb: impl Into<String>,
        api_group: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            verb: verb.into(),
            api_group: api_group.into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            at: Timestamp::UNIX_EPOCH,
        }
    }

    /// The same call in `namespace`.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The same call on the object `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same call on `subresource` (e.g. `log`, `exec`).
    pub fn subresource(mut self, subresource: impl Into<String>) -> Self {
        self.subresource = subresource.into();
        self
    }

    /// The same call made at `at`.
    pub fn at(mut self, at: Timestamp) -> Self {
        self.at = at;
        self
    }

    /// Whether the verb only reads: `get`, `list` or `watch`.
    pub fn is_read_only(&self) -> bool {
        matches!(self.verb.as_str(), "get" | "list" | "watch")
    }
}

/// A policy's answer to one relayed API call. In JSON `{"decision": "allow"}` or
/// `{"decision": "deny", "reason": "..."}`.
///
/// ```
/// use wicket_contract::CallDecision;
///
/// assert_eq!(CallDecision::deny("read-only after hours"), CallDecision::Deny { reason: "read-only after hours".into() });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum CallDecision {
    /// Let the call through.
    Allow,
    /// Refuse the call.
    Deny {
        /// Why, returned to kubectl.
        reason: String,
    },
}

impl CallDecision {
    /// Refuse the call because of `reason`.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::Deny {
            reason: reason.into(),
        }
    }
}
