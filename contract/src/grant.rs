//! What a policy allows: grants and the approvals that unlock them.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::access::{Access, Rule};
use crate::request::AccessRequest;

/// What one namespace receives. In JSON `{"namespace": "payments", "role": "edit"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]

pub struct NamespaceGrant {
    /// The namespace.
    pub namespace: String,
    /// A ClusterRole to bind there, or rules for a Role there.
    #[serde(flatten)]
    pub access: Access,
}

/// The access a policy allows; the host provisions exactly this, never more than was asked.
///
/// A policy that has nothing to restrict allows exactly what was requested:
///
/// ```
/// use wicket_contract::{Access, AccessRequest, Grant};
///
/// let request = AccessRequest::new("prod", Access::role("edit"), 7200).with_namespace("payments");
/// let grant = Grant::from_request(&request).cap_ttl(3600);
/// assert_eq!(grant.ttl_seconds, 3600);
/// assert_eq!(grant.namespaces[0].namespace, "payments");
/// assert_eq!(grant.namespaces[0].access, Access::role("edit"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Per-namespace access.
    #[serde(default)]
    pub namespaces: Vec<NamespaceGrant>,
    /// Cluster-scoped rules; usually empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_rules: Vec<Rule>,
    /// How long the access lasts, in seconds (more than zero).
    pub ttl_seconds: u64,
}

impl Grant {
    /// Exactly what `request` asks for: its access in each requested namespace, its cluster
    /// rules, for the requested duration.
    pub fn from_request(request: &AccessRequest) -> Self {
        Self {
            namespaces: request
                .namespaces
                .iter()
                .map(|namespace| NamespaceGrant {
                    namespace: namespace.clone(),
                    access: request.access.clone(),
                })
                .collect(),
            cluster_rules: request.cluster_rules.clone(),
            ttl_seconds: request.duration_seconds,
        }
    }

    /// A grant of nothing yet, lasting `ttl_seconds`; add to it with
    /// [`Grant::with_namespace`] and [`Grant::with_cluster_rule`].
    pub fn new(ttl_seconds: u64) -> Self {
        Self {
            namespaces: Vec::new(),
            cluster_rules: Vec::new(),
            ttl_seconds,
        }
    }

    /// The same grant, also giving `access` in `namespace`.
    pub fn with_namespace(mut self, namespace: impl Into<String>, access: Access) -> Self {
        self.namespaces.push(NamespaceGrant {
            namespace: namespace.into(),
            access,
        });
        self
    }

    /// The same grant, also giving the cluster-scoped `rule`.
    pub fn with_cluster_rule(mut self, rule: Rule) -> Self {
        self.cluster_rules.push(rule);
        self
    }

    /// The same grant lasting exactly `ttl_seconds`.
    pub fn ttl_seconds(mut self, ttl_seconds: u64) -> Self {
        self.ttl_seconds = ttl_seconds;
        self
    }

    /// The same grant lasting at most `max_seconds`.
    pub fn cap_ttl(mut self, max_seconds: u64) -> Self {
        self.ttl_seconds = self.ttl_seconds.min(max_seconds);
        self
    }
}

/// Approval a request needs before its grant takes effect.
///
/// ```
/// use wicket_contract::{Access, AccessRequest, Approval, Grant};
///
/// let request = AccessRequest::new("prod", Access::role("edit"), 1800).with_namespace("payments");
/// let approval = Approval::new("no ticket cited", Grant::from_request(&request))
///     .by_group("corp:sre-leads")
///     .by_subject("corp:carol")
///     .count(2);
/// assert_eq!(approval.groups, ["corp:sre-leads"]);
/// assert_eq!(approval.count, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Members of any of these groups may approve, each `<issuer alias>:<group>` (as in
    /// [`Identity::groups`](crate::Identity::groups)).
    #[serde(default)]
    pub groups: Vec<String>,
    /// These subjects may approve, each `<issuer alias>:<sub>`: a subject only of the issuer
    /// with that alias.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// How many distinct approvers are needed (at least one).
    pub count: u32,
    /// Why approval is needed, shown to the requester and the approvers.
    pub reason: String,
    /// What is granted once approved.
    pub grant: Grant,
}

impl Approval {
    /// One approval, by nobody yet: name approvers with [`Approval::by_group`] or
    /// [`Approval::by_subject`].
    pub fn new(reason: impl Into<String>, grant: Grant) -> Self {
        Self {
            groups: Vec::new(),
            subjects: Vec::new(),
            count: 1,
            reason: reason.into(),
            grant,
        }
    }

    /// Members of `group` (`<issuer alias>:<group>`) may also approve.
    pub fn by_group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }

    /// `subject` (`<issuer alias>:<sub>`) may also approve.
    pub fn by_subject(mut self, subject: impl Into<String>) -> Self {
        self.subjects.push(subject.into());
        self
    }

    /// `count` distinct approvers are needed.
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }
}
