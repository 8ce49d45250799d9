//! The rule of `group-access`, as a pure function.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wicket_sdk::{Access, AccessRequest, Decision, Grant, Identity};

use crate::settings::{Entry, Settings, max_ttl_seconds};

/// Allows exactly what `request` asks for when one entry of one of the requester's groups
/// covers all of it (the cluster, every namespace, the role or every rule, every cluster
/// rule), for the requested duration capped at the largest `max_ttl_seconds` among the
/// covering entries (`max_ttl`, default one hour). Otherwise denies, saying the first part of the request no entry covers;
/// the reason never lists the settings.
///
/// ```
/// use group_access::{decide, Settings};
/// use wicket_sdk::{serde_json, Access, AccessRequest, Decision, Identity};
///
/// let settings: Settings = serde_json::from_str(r#"{"allow": [{"groups": ["sre"],
///     "clusters": ["prod"], "namespaces": ["pay-*"], "roles": ["edit"], "max_ttl": "1h"}]}"#).unwrap();
/// let alice = Identity::new("alice", "https://idp").with_group("sre");
/// let ask = AccessRequest::new("prod", Access::role("edit"), 7200).with_namespace("pay-api");
/// let Decision::Allow { grant } = decide(&settings, &alice, &ask) else { panic!() };
/// assert_eq!(grant.ttl_seconds, 3600);
/// ```
pub fn decide(settings: &Settings, identity: &Identity, request: &AccessRequest) -> Decision {
    let mine: Vec<&Entry> = settings
        .allow
        .iter()
        .filter(|entry| entry.who.groups.iter().any(|g| identity.in_group(g)))
        .collect();
    if mine.is_empty() {
        return Decision::deny("none of your groups is allowed any access");
    }
    let cluster = request.cluster.as_str();
    let on_cluster: Vec<&Entry> = mine
        .into_iter()
        .filter(|entry| entry.scope.allows_cluster(cluster))
        .collect();
    if on_cluster.is_empty() {
        return Decision::deny(format!(
            "your groups may not request access to cluster `{cluster}`"
        ));
    }
    if let Some(namespace) = request.namespaces.iter().find(|ns| {
        !on_cluster
            .iter()
            .any(|entry| entry.scope.allows_namespace(ns))
    }) {
        return Decision::deny(format!(
            "namespace `{namespace}` on cluster `{cluster}` is not allowed for your groups"
        ));
    }
    let covering = on_cluster
        .iter()
        .filter(|entry| entry.scope.covers(request))
        .map(|entry| max_ttl_seconds(entry))
        .max();
    match covering {
        Some(max_ttl) => Decision::allow(Grant::from_request(request).cap_ttl(max_ttl)),
        None => Decision::deny(uncovered(&on_cluster, request)),
    }
}

/// Why no entry covers the request, given that each of its namespaces is allowed by some entry.
fn uncovered(on_cluster: &[&Entry], request: &AccessRequest) -> String {
    let cluster = &request.cluster;
    let all_namespaces: Vec<&&Entry> = on_cluster
        .iter()
        .filter(|entry| {
            request
                .namespaces
                .iter()
                .all(|ns| entry.scope.allows_namespace(ns))
        })
        .collect();
    if all_namespaces.is_empty() {
        return format!(
            "no single grant of your groups covers all of namespaces {} on cluster `{cluster}`; ask for them separately",
            quoted(&request.namespaces)
        );
    }
    if !request.namespaces.is_empty()
        && !all_namespaces
            .iter()
            .any(|entry| entry.scope.allows_access(&request.access))
    {
        let what = match &request.access {
            Access::Role(role) => format!("role `{role}` is"),
            Access::Rules(rules) => {
                let rules: Vec<String> = rules
                    .iter()
                    .filter(|rule| {
                        !all_namespaces
                            .iter()
                            .any(|e| rule.is_covered_by(&e.scope.rules))
                    })
                    .map(|rule| format!("`{rule}`"))
                    .collect();
                if rules.is_empty() {
                    String::from("these rules together are")
                } else {
                    format!("rules {} are", rules.join(", "))
                }
            }
        };
        return format!(
            "{what} not allowed for your groups in namespaces {} on cluster `{cluster}`",
            quoted(&request.namespaces)
        );
    }
    let rules: Vec<String> = request
        .cluster_rules
        .iter()
        .filter(|rule| {
            !all_namespaces
                .iter()
                .any(|e| rule.is_covered_by(&e.scope.cluster_rules))
        })
        .map(|rule| format!("`{rule}`"))
        .collect();
    if rules.is_empty() {
        format!(
            "no single grant of your groups covers both the namespaced access and the cluster rules asked for on cluster `{cluster}`"
        )
    } else {
        format!(
            "cluster rules {} are not allowed for your groups on cluster `{cluster}`",
            rules.join(", ")
        )
    }
}

fn quoted(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    names.join(", ")
}
