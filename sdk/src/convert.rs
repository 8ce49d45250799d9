//! Conversions between the generated WIT types and the curated ones.

use alloc::string::String;

use jiff_alloc::Timestamp;

use crate::bindings::wicket::policy::types as wit;
use crate::{Access, AccessRequest, Approval, Decision, Grant, Identity, NamespaceGrant, Rule};

impl From<wit::Identity> for Identity {
    fn from(identity: wit::Identity) -> Self {
        Self {
            subject: identity.subject,
            issuer: identity.issuer,
            groups: identity.groups,
            claims: identity
                .claims
                .into_iter()
                .map(|claim| (claim.name, claim.json))
                .collect(),
        }
    }
}

impl From<Identity> for wit::Identity {
    fn from(identity: Identity) -> Self {
        Self {
            subject: identity.subject,
            issuer: identity.issuer,
            groups: identity.groups,
            claims: identity
                .claims
                .into_iter()
                .map(|(name, json)| wit::Claim { name, json })
                .collect(),
        }
    }
}

impl From<wit::Rule> for Rule {
    fn from(rule: wit::Rule) -> Self {
        Self {
            api_groups: rule.api_groups,
            resources: rule.resources,
            verbs: rule.verbs,
            resource_names: rule.resource_names,
        }
    }
}

impl From<Rule> for wit::Rule {
    fn from(rule: Rule) -> Self {
        Self {
            api_groups: rule.api_groups,
            resources: rule.resources,
            verbs: rule.verbs,
            resource_names: rule.resource_names,
        }
    }
}

impl From<wit::Access> for Access {
    fn from(access: wit::Access) -> Self {
        match access {
            wit::Access::Role(role) => Self::Role(role),
            wit::Access::Rules(rules) => Self::Rules(rules.into_iter().map(Rule::from).collect()),
        }
    }
}

impl From<Access> for wit::Access {
    fn from(access: Access) -> Self {
        match access {
            Access::Role(role) => Self::Role(role),
            Access::Rules(rules) => Self::Rules(rules.into_iter().map(wit::Rule::from).collect()),
        }
    }
}

impl TryFrom<wit::AccessRequest> for AccessRequest {
    type Error = String;

    /// Fails only on a `requested-at` outside the range of representable times.
    fn try_from(request: wit::AccessRequest) -> Result<Self, String> {
        let at = request.requested_at;
        let requested_at = i32::try_from(at.nanoseconds)
            .ok()
            .and_then(|nanos| Timestamp::new(at.seconds, nanos).ok())
            .ok_or_else(|| {
                alloc::format!(
                    "request time {}s {}ns is out of range",
                    at.seconds,
                    at.nanoseconds
                )
            })?;
        Ok(Self {
            id: request.id,
            cluster: request.cluster,
            namespaces: request.namespaces,
            access: request.access.into(),
            cluster_rules: request.cluster_rules.into_iter().map(Rule::from).collect(),
            duration_seconds: request.duration_seconds,
            reason: request.reason,
            context: request.context.into_iter().collect(),
            requested_at,
        })
    }
}

impl From<AccessRequest> for wit::AccessRequest {
    fn from(request: AccessRequest) -> Self {
        let (mut seconds, mut nanos) = (
            request.requested_at.as_second(),
            request.requested_at.subsec_nanosecond(),
        );
        // jiff keeps the sub-second part with the sign of the time; WIT's is never negative.
        if nanos < 0 {
            seconds -= 1;
            nanos += 1_000_000_000;
        }
        Self {
            id: request.id,
            cluster: request.cluster,
            namespaces: request.namespaces,
            access: request.access.into(),
            cluster_rules: request
                .cluster_rules
                .into_iter()
                .map(wit::Rule::from)
                .collect(),
            duration_seconds: request.duration_seconds,
            reason: request.reason,
            context: request.context.into_iter().collect(),
            requested_at: wit::Datetime {
                seconds,
                nanoseconds: nanos.unsigned_abs(),
            },
        }
    }
}

impl From<Grant> for wit::Grant {
    fn from(grant: Grant) -> Self {
        Self {
            namespaces: grant
                .namespaces
                .into_iter()
                .map(|ns| wit::NamespaceGrant {
                    namespace: ns.namespace,
                    access: ns.access.into(),
                })
                .collect(),
            cluster_rules: grant
                .cluster_rules
                .into_iter()
                .map(wit::Rule::from)
                .collect(),
            ttl_seconds: grant.ttl_seconds,
        }
    }
}

impl From<wit::Grant> for Grant {
    fn from(grant: wit::Grant) -> Self {
        Self {
            namespaces: grant
                .namespaces
                .into_iter()
                .map(|ns| NamespaceGrant {
                    namespace: ns.namespace,
                    access: ns.access.into(),
                })
                .collect(),
            cluster_rules: grant.cluster_rules.into_iter().map(Rule::from).collect(),
            ttl_seconds: grant.ttl_seconds,
        }
    }
}

impl From<Approval> for wit::Approval {
    fn from(approval: Approval) -> Self {
        Self {
            groups: approval.groups,
            subjects: approval.subjects,
            count: approval.count,
            reason: approval.reason,
            grant: approval.grant.into(),
        }
    }
}

impl From<wit::Approval> for Approval {
    fn from(approval: wit::Approval) -> Self {
        Self {
            groups: approval.groups,
            subjects: approval.subjects,
            count: approval.count,
            reason: approval.reason,
            grant: approval.grant.into(),
        }
    }
}

impl From<Decision> for wit::Decision {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Allow { grant } => Self::Allow(grant.into()),
            Decision::Deny { reason } => Self::Deny(reason),
            Decision::NeedsApproval { approval } => Self::NeedsApproval(approval.into()),
        }
    }
}

impl From<wit::Decision> for Decision {
    fn from(decision: wit::Decision) -> Self {
        match decision {
            wit::Decision::Allow(grant) => Self::Allow {
                grant: grant.into(),
            },
            wit::Decision::Deny(reason) => Self::Deny { reason },
            wit::Decision::NeedsApproval(approval) => Self::NeedsApproval {
                approval: approval.into(),
            },
        }
    }
}
