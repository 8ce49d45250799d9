//! Generated bindings of the `wicket:policy@0.1.0` contract and their conversion to and from the
//! domain types in [`crate::domain`]. Nothing generated leaves the `policy` module.

use crate::domain;

wasmtime::component::bindgen!({
    world: "policy",
    path: "../wit/0.1.0",
});

use self::wicket::policy::types as wit;

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

/// Converts a domain access request to its WIT form.
pub(crate) fn request(request: &domain::AccessRequest) -> wit::AccessRequest {
    let mut seconds = request.requested_at.as_second();
    let mut nanoseconds = request.requested_at.subsec_nanosecond();
    if nanoseconds < 0 {
        seconds -= 1;
        nanoseconds += 1_000_000_000;
    }
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
        requested_at: wit::Datetime {
            seconds,
            nanoseconds: u32::try_from(nanoseconds).unwrap_or(0),
        },
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
        domain::Access::Rules(rules) => wit::Access::Rules(rules.iter().map(rule_to_wit).collect()),
    }
}

/// Converts a module's WIT decision to the domain form (not yet validated).
pub(crate) fn decision(decision: wit::Decision) -> domain::Decision {
    match decision {
        wit::Decision::Allow(grant) => domain::Decision::Allow {
            grant: grant_from_wit(grant),
        },
        wit::Decision::Deny(reason) => domain::Decision::Deny { reason },
        wit::Decision::NeedsApproval(approval) => domain::Decision::NeedsApproval {
            approval: domain::Approval {
                groups: approval.groups,
                subjects: approval.subjects,
                count: approval.count,
                reason: approval.reason,
                grant: grant_from_wit(approval.grant),
            },
        },
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
