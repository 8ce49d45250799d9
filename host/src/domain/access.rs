//! The host-side domain types of the policy contract.
//!
//! They mirror the `wicket:policy` WIT types and are what the rest of Wicket (workflow,
//! API, store) speaks. Their JSON form is the one used by request files, cases files,
//! `wicket policy eval` output and the REST API:
//!
//! ```json
//! {"decision": "allow", "grant": {"namespaces": [{"namespace": "payments", "role": "edit"}],
//!                                  "cluster_rules": [], "ttl_seconds": 1800}}
//! ```

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Who asks: a person or a workload, as proven by a verified token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The `sub` claim.
    pub subject: String,
    /// The `iss` claim.
    pub issuer: String,
    /// Group memberships, from the claim the issuer's configuration names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Every other claim of the token.
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// One RBAC rule, with the meaning of a Kubernetes `PolicyRule`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    /// API groups, `""` for the core group, `*` for all.
    pub api_groups: Vec<String>,
    /// Resources, optionally `resource/subresource`.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Object names the rule is restricted to; empty means every name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

/// What is asked for or granted inside a namespace: `{"role": "edit"}` or `{"rules": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// A ClusterRole, bound in the namespace by a RoleBinding.
    Role(String),
    /// Explicit rules, placed in a Role in the namespace.
    Rules(Vec<Rule>),
}

/// An access request as the host hands it to policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// The request's id.
    pub id: String,
    /// The target cluster's configured name.
    pub cluster: String,
    /// The namespaces asked for.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// What is asked for in each namespace.
    #[serde(flatten)]
    pub access: Access,
    /// Cluster-scoped rules asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_rules: Vec<Rule>,
    /// How long the access is asked for, in seconds.
    pub duration_seconds: u64,
    /// Why, in the requester's words.
    #[serde(default)]
    pub reason: String,
    /// Free-form context, e.g. `{"ticket": "INC-123"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
    /// When the host received the request; policies use it as "now".
    pub requested_at: Timestamp,
}

/// What one namespace receives: `{"namespace": "payments", "role": "edit"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceGrant {
    /// The namespace.
    pub namespace: String,
    /// A ClusterRole to bind there, or rules for a Role there.
    #[serde(flatten)]
    pub access: Access,
}

/// The access a policy allows; the host provisions exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Per-namespace access.
    #[serde(default)]
    pub namespaces: Vec<NamespaceGrant>,
    /// Cluster-scoped rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_rules: Vec<Rule>,
    /// How long the access lasts, in seconds.
    pub ttl_seconds: u64,
}

/// Approval a request needs before its grant takes effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Members of any of these groups may approve.
    #[serde(default)]
    pub groups: Vec<String>,
    /// These subjects may approve.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// How many distinct approvers are needed.
    pub count: u32,
    /// Why approval is needed.
    pub reason: String,
    /// What is granted once approved.
    pub grant: Grant,
}

/// One policy module's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Allow with exactly this access.
    Allow {
        /// The access allowed.
        grant: Grant,
    },
    /// Deny.
    Deny {
        /// Why, shown to the requester.
        reason: String,
    },
    /// Allow once approved.
    NeedsApproval {
        /// The approval needed and the grant it unlocks.
        approval: Approval,
    },
    /// Not this module's concern: the chain goes on as if the module were not in it.
    Abstain {
        /// Why, for the logs.
        reason: String,
    },
}

/// One call to the Kubernetes API made through the relay, as a relay policy sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    /// The Kubernetes verb, e.g. `get`, `delete`.
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
    /// When the call is made.
    pub at: Timestamp,
}

/// A relay policy's answer to one API call.
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

#[cfg(test)]
impl Rule {
    /// A rule from string slices; an empty `names` means every name.
    pub(crate) fn of(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> Self {
        let own = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            api_groups: own(groups),
            resources: own(resources),
            verbs: own(verbs),
            resource_names: own(names),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms_round_trip() {
        let decision: Decision = serde_json::from_str(
            r#"{"decision":"allow","grant":{"namespaces":[{"namespace":"payments","role":"edit"},
                {"namespace":"orders","rules":[{"api_groups":[""],"resources":["pods"],"verbs":["get"]}]}],
                "ttl_seconds":1800}}"#,
        )
        .unwrap();
        let Decision::Allow { grant } = &decision else {
            panic!("expected allow, got {decision:?}")
        };
        assert_eq!(grant.namespaces[0].access, Access::Role("edit".into()));
        assert_eq!(
            grant.namespaces[1].access,
            Access::Rules(vec![Rule {
                api_groups: vec![String::new()],
                resources: vec!["pods".into()],
                verbs: vec!["get".into()],
                resource_names: vec![],
            }])
        );
        let again: Decision =
            serde_json::from_value(serde_json::to_value(&decision).unwrap()).unwrap();
        assert_eq!(again, decision);
    }

    #[test]
    fn abstain_reads_and_writes_with_its_reason() {
        let abstain = Decision::Abstain {
            reason: "not on call".into(),
        };
        let json = serde_json::json!({"decision": "abstain", "reason": "not on call"});
        assert_eq!(serde_json::to_value(&abstain).unwrap(), json);
        assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), abstain);
    }

    #[test]
    fn request_reads_role_or_rules_and_rfc3339_time() {
        let request: AccessRequest = serde_json::from_str(
            r#"{"id":"r1","cluster":"prod","namespaces":["payments"],"role":"edit",
                "duration_seconds":1800,"reason":"INC-1","requested_at":"2026-11-21T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(request.access, Access::Role("edit".into()));
        assert_eq!(request.requested_at.as_second(), 1_795_255_200);
    }
}
