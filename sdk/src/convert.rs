//! Conversions between the generated WIT types and the contract's types.

use alloc::string::{String, ToString};

use jiff_alloc::Timestamp;

use crate::bindings::types as wit;
use crate::{
    Access, AccessRequest, ApiCall, Approval, CallDecision, Decision, Grant, Identity,
    NamespaceGrant, Rule,
};

impl TryFrom<wit::Identity> for Identity {
    type Error = String;

    /// Fails only on a claim whose text is not JSON (the host always passes JSON).
    fn try_from(identity: wit::Identity) -> Result<Self, String> {
        let claims = identity
            .claims
            .into_iter()
            .map(|claim| {
                serde_json_alloc::from_str(&claim.json)
                    .map(|value| (claim.name.clone(), value))
                    .map_err(|e| alloc::format!("claim `{}` is not JSON: {e}", claim.name))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            subject: identity.subject,
            issuer: identity.issuer,
            groups: identity.groups,
            claims,
        })
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
                .map(|(name, value)| wit::Claim {
                    name,
                    json: value.to_string(),
                })
                .collect(),
        }
    }
}

/// A WIT time as a timestamp; `what` names it in the error when it is out of range.
fn timestamp(at: wit::Datetime, what: &str) -> Result<Timestamp, String> {
    i32::try_from(at.nanoseconds)
        .ok()
        .and_then(|nanos| Timestamp::new(at.seconds, nanos).ok())
        .ok_or_else(|| {
            alloc::format!(
                "{what} {}s {}ns is out of range",
                at.seconds,
                at.nanoseconds
            )
        })
}

/// A timestamp as a WIT time, whose sub-second part is never negative (jiff's has the sign of
/// the time).
fn datetime(at: Timestamp) -> wit::Datetime {
    let (mut seconds, mut nanos) = (at.as_second(), at.subsec_nanosecond());
    if nanos < 0 {
        seconds -= 1;
        nanos += 1_000_000_000;
    }
    wit::Datetime {
        seconds,
        nanoseconds: nanos.unsigned_abs(),
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

    /// Fails only on a time outside the range of representable times.
    fn try_from(request: wit::AccessRequest) -> Result<Self, String> {
        Ok(Self {
            id: request.id,
            cluster: request.cluster,
            namespaces: request.namespaces,
            access: request.access.into(),
            cluster_rules: request.cluster_rules.into_iter().map(Rule::from).collect(),
            duration_seconds: request.duration_seconds,
            reason: request.reason,
            context: request.context.into_iter().collect(),
            requested_at: timestamp(request.requested_at, "request time")?,
            evaluated_at: timestamp(request.evaluated_at, "evaluation time")?,
            extends: request.extends,
        })
    }
}

impl From<AccessRequest> for wit::AccessRequest {
    fn from(request: AccessRequest) -> Self {
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
            requested_at: datetime(request.requested_at),
            evaluated_at: datetime(request.evaluated_at),
            extends: request.extends,
        }
    }
}

impl TryFrom<wit::ApiCall> for ApiCall {
    type Error = String;

    /// Fails only on a call time outside the range of representable times.
    fn try_from(call: wit::ApiCall) -> Result<Self, String> {
        Ok(Self {
            verb: call.verb,
            api_group: call.api_group,
            resource: call.resource,
            subresource: call.subresource,
            namespace: call.namespace,
            name: call.name,
            at: timestamp(call.at, "call time")?,
        })
    }
}

impl From<ApiCall> for wit::ApiCall {
    fn from(call: ApiCall) -> Self {
        Self {
            verb: call.verb,
            api_group: call.api_group,
            resource: call.resource,
            subresource: call.subresource,
            namespace: call.namespace,
            name: call.name,
            at: datetime(call.at),
        }
    }
}

impl From<CallDecision> for wit::CallDecision {
    fn from(decision: CallDecision) -> Self {
        match decision {
            CallDecision::Allow => Self::Allow,
            CallDecision::Deny { reason } => Self::Deny(reason),
        }
    }
}

impl From<wit::CallDecision> for CallDecision {
    fn from(decision: wit::CallDecision) -> Self {
        match decision {
            wit::CallDecision::Allow => Self::Allow,
            wit::CallDecision::Deny(reason) => Self::Deny { reason },
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
            Decision::Abstain { reason } => Self::Abstain(reason),
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
            wit::Decision::Abstain(reason) => Self::Abstain { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::epoch(0, 0, 0, 0)]
    #[case::after(1_795_255_200, 250_000_000, 1_795_255_200, 250_000_000)]
    #[case::before_with_fraction(-1, -500_000_000, -2, 500_000_000)]
    fn request_times_round_trip_through_wit(
        #[case] seconds: i64,
        #[case] nanos: i32,
        #[case] wit_seconds: i64,
        #[case] wit_nanos: u32,
    ) {
        let at = Timestamp::new(seconds, nanos).unwrap();
        let request = AccessRequest::new("prod", Access::role("view"), 60)
            .with_context("ticket", "INC-1")
            .with_cluster_rule(Rule::new([""], ["nodes"], ["get"]))
            .with_requested_at(at);
        let lowered = wit::AccessRequest::from(request.clone());
        assert_eq!(
            (
                lowered.requested_at.seconds,
                lowered.requested_at.nanoseconds
            ),
            (wit_seconds, wit_nanos)
        );
        assert_eq!(AccessRequest::try_from(lowered).unwrap(), request);
    }

    #[test]
    fn out_of_range_request_time_is_an_error() {
        let mut lowered = wit::AccessRequest::from(AccessRequest::new("p", Access::role("v"), 1));
        lowered.evaluated_at.seconds = i64::MAX;
        assert!(
            AccessRequest::try_from(lowered)
                .unwrap_err()
                .starts_with("evaluation time")
        );
    }

    #[test]
    fn evaluation_time_and_extension_cross_the_boundary() {
        let asked = Timestamp::new(1_795_255_200, 0).unwrap();
        let approved = Timestamp::new(1_795_260_000, 5).unwrap();
        let request = AccessRequest::new("prod", Access::role("view"), 60)
            .with_requested_at(asked)
            .with_evaluated_at(approved)
            .with_extends("r0");
        let lowered = wit::AccessRequest::from(request.clone());
        assert_eq!(
            (
                lowered.evaluated_at.seconds,
                lowered.evaluated_at.nanoseconds
            ),
            (1_795_260_000, 5)
        );
        assert_eq!(lowered.extends.as_deref(), Some("r0"));
        let lifted = AccessRequest::try_from(lowered).unwrap();
        assert_eq!(lifted.now(), approved);
        assert_eq!(lifted, request);
        let call = ApiCall::new("get", "", "pods").at(approved);
        assert_eq!(
            ApiCall::try_from(wit::ApiCall::from(call.clone())).unwrap(),
            call
        );
        let abstain = Decision::abstain("not on call");
        assert_eq!(
            Decision::from(wit::Decision::from(abstain.clone())),
            abstain
        );
    }

    #[test]
    fn identity_claims_keep_their_json_text() {
        let identity = Identity::new("ci", "https://issuer")
            .with_group("deployers")
            .with_claim("ref", "refs/heads/main");
        let lowered = wit::Identity::from(identity.clone());
        assert_eq!(lowered.claims[0].json, "\"refs/heads/main\"");
        assert_eq!(Identity::try_from(lowered).unwrap(), identity);
    }
}
