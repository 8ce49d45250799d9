//! Generated bindings of every supported `wicket:policy` version (0.1.0 and 0.2.0, side by
//! side) and their conversion to and from the domain types in [`crate::domain`]. Nothing
//! generated leaves the `policy` module.
//!
//! A 0.1.0 module is called as it was built: it gets no `evaluated-at`, `extends` or
//! `api-call.at`, and its decisions (allow, deny, needs-approval) map onto the same domain
//! decisions; it never abstains.

use crate::domain;

/// The conversions both versions share: their identity, rule, access, grant and approval
/// types have the same shape.
macro_rules! shared_conversions {
    () => {
        /// Converts a domain identity to its WIT form; claims become JSON text.
        pub(crate) fn identity(identity: &domain::Identity) -> wit::Identity {
            wit::Identity {
                subject: identity.subject.clone(),
                issuer: identity.issuer.clone(),
                groups: identity.groups.clone(),
                claims: identity
                    .claims
                    .iter()
                    .map(|(name, value)| wit::Claim {
                        name: name.clone(),
                        json: value.to_string(),
                    })
                    .collect(),
            }
        }

        fn datetime(at: jiff::Timestamp) -> wit::Datetime {
            let mut seconds = at.as_second();
            let mut nanoseconds = at.subsec_nanosecond();
            if nanoseconds < 0 {
                seconds -= 1;
                nanoseconds += 1_000_000_000;
            }
            wit::Datetime {
                seconds,
                nanoseconds: u32::try_from(nanoseconds).unwrap_or(0),
            }
        }

        fn rule_to_wit(rule: &domain::Rule) -> wit::Rule {
            wit::Rule {
                api_groups: rule.api_groups.clone(),
                resources: rule.resources.clone(),
                verbs: rule.verbs.clone(),
                resource_names: rule.resource_names.clone(),
            }
        }

        fn access_to_wit(access: &domain::Access) -> wit::Access {
            match access {
                domain::Access::Role(role) => wit::Access::Role(role.clone()),
                domain::Access::Rules(rules) => {
                    wit::Access::Rules(rules.iter().map(rule_to_wit).collect())
                }
            }
        }

        fn approval_from_wit(approval: wit::Approval) -> domain::Approval {
            domain::Approval {
                groups: approval.groups,
                subjects: approval.subjects,
                count: approval.count,
                reason: approval.reason,
                grant: grant_from_wit(approval.grant),
            }
        }

        fn grant_from_wit(grant: wit::Grant) -> domain::Grant {
            domain::Grant {
                namespaces: grant
                    .namespaces
                    .into_iter()
                    .map(|ns| domain::NamespaceGrant {
                        namespace: ns.namespace,
                        access: access_from_wit(ns.access),
                    })
                    .collect(),
                cluster_rules: grant.cluster_rules.into_iter().map(rule_from_wit).collect(),
                ttl_seconds: grant.ttl_seconds,
            }
        }

        fn access_from_wit(access: wit::Access) -> domain::Access {
            match access {
                wit::Access::Role(role) => domain::Access::Role(role),
                wit::Access::Rules(rules) => {
                    domain::Access::Rules(rules.into_iter().map(rule_from_wit).collect())
                }
            }
        }

        fn rule_from_wit(rule: wit::Rule) -> domain::Rule {
            domain::Rule {
                api_groups: rule.api_groups,
                resources: rule.resources,
                verbs: rule.verbs,
                resource_names: rule.resource_names,
            }
        }

        /// Converts a module's answer to an API call to the domain form.
        pub(crate) fn call_decision(decision: wit::CallDecision) -> domain::CallDecision {
            match decision {
                wit::CallDecision::Allow => domain::CallDecision::Allow,
                wit::CallDecision::Deny(reason) => domain::CallDecision::Deny { reason },
            }
        }
    };
}

/// `wicket:policy@0.1.0`.
pub(crate) mod v0_1 {
    use super::domain;

    wasmtime::component::bindgen!({
        world: "relay-policy",
        path: "../wit/0.1.0",
    });

    pub(crate) use self::exports::wicket::policy::evaluator::GuestIndices as Evaluator;
    pub(crate) use self::exports::wicket::policy::relay::GuestIndices as Relay;
    pub(crate) use self::wicket::policy::types as wit;

    shared_conversions!();

    /// Converts a domain access request to its 0.1.0 form.
    pub(crate) fn request(request: &domain::AccessRequest) -> wit::AccessRequest {
        wit::AccessRequest {
            id: request.id.clone(),
            cluster: request.cluster.clone(),
            namespaces: request.namespaces.clone(),
            access: access_to_wit(&request.access),
            cluster_rules: request.cluster_rules.iter().map(rule_to_wit).collect(),
            duration_seconds: request.duration_seconds,
            reason: request.reason.clone(),
            context: request
                .context
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            requested_at: datetime(request.requested_at),
        }
    }

    /// Converts a domain API call to its 0.1.0 form (which has no time).
    pub(crate) fn call(call: &domain::ApiCall) -> wit::ApiCall {
        wit::ApiCall {
            verb: call.verb.clone(),
            api_group: call.api_group.clone(),
            resource: call.resource.clone(),
            subresource: call.subresource.clone(),
            namespace: call.namespace.clone(),
            name: call.name.clone(),
        }
    }

    /// Converts a 0.1.0 decision to the domain form (not yet validated).
    pub(crate) fn decision(decision: wit::Decision) -> domain::Decision {
        match decision {
            wit::Decision::Allow(grant) => domain::Decision::Allow {
                grant: grant_from_wit(grant),
            },
            wit::Decision::Deny(reason) => domain::Decision::Deny { reason },
            wit::Decision::NeedsApproval(approval) => domain::Decision::NeedsApproval {
                approval: approval_from_wit(approval),
            },
        }
    }
}

/// `wicket:policy@0.2.0`.
pub(crate) mod v0_2 {
    use super::domain;

    wasmtime::component::bindgen!({
        world: "relay-policy",
        path: "../wit",
    });

    pub(crate) use self::exports::wicket::policy::evaluator::GuestIndices as Evaluator;
    pub(crate) use self::exports::wicket::policy::relay::GuestIndices as Relay;
    pub(crate) use self::wicket::policy::types as wit;

    shared_conversions!();

    /// Converts a domain access request to its 0.2.0 form.
    pub(crate) fn request(request: &domain::AccessRequest) -> wit::AccessRequest {
        wit::AccessRequest {
            id: request.id.clone(),
            cluster: request.cluster.clone(),
            namespaces: request.namespaces.clone(),
            access: access_to_wit(&request.access),
            cluster_rules: request.cluster_rules.iter().map(rule_to_wit).collect(),
            duration_seconds: request.duration_seconds,
            reason: request.reason.clone(),
            context: request
                .context
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            requested_at: datetime(request.requested_at),
            evaluated_at: datetime(request.evaluated_at),
            extends: request.extends.clone(),
        }
    }

    /// Converts a domain API call to its 0.2.0 form.
    pub(crate) fn call(call: &domain::ApiCall) -> wit::ApiCall {
        wit::ApiCall {
            verb: call.verb.clone(),
            api_group: call.api_group.clone(),
            resource: call.resource.clone(),
            subresource: call.subresource.clone(),
            namespace: call.namespace.clone(),
            name: call.name.clone(),
            at: datetime(call.at),
        }
    }

    /// Converts a 0.2.0 decision to the domain form (not yet validated).
    pub(crate) fn decision(decision: wit::Decision) -> domain::Decision {
        match decision {
            wit::Decision::Allow(grant) => domain::Decision::Allow {
                grant: grant_from_wit(grant),
            },
            wit::Decision::Deny(reason) => domain::Decision::Deny { reason },
            wit::Decision::NeedsApproval(approval) => domain::Decision::NeedsApproval {
                approval: approval_from_wit(approval),
            },
            wit::Decision::Abstain(reason) => domain::Decision::Abstain { reason },
        }
    }
}
