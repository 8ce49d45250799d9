//! Rules Wicket never grants, whatever a policy or a bindable ClusterRole says: each one lets
//! its holder gain more than it was given (mint or borrow another identity's credentials,
//! write RBAC, reach the kubelet, sign certificates, change what admission or the API serves,
//! relabel namespaces, write nodes or host-path volumes) or names everything at once.

use crate::domain::Rule;

/// Verbs that change what their holder may do, not what it may touch.
const ESCALATING_VERBS: [&str; 3] = ["escalate", "bind", "impersonate"];
/// Verbs that write.
const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
/// The RBAC API group: writing it is granting.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// API groups whose objects act on every request or the whole cluster: writing them reaches
/// past any grant (admission webhooks and policies, aggregated API servers, custom resources).
const CLUSTER_WIDE_GROUPS: [&str; 3] = [
    "admissionregistration.k8s.io",
    "apiregistration.k8s.io",
    "apiextensions.k8s.io",
];
/// Cluster-scoped resources whose writes reach past any grant: namespaces (their Pod Security
/// labels, the protected ones), nodes, and persistent volumes (host paths).
const CLUSTER_WIDE_RESOURCES: [&str; 3] = ["namespaces", "nodes", "persistentvolumes"];

/// Why a rule is never granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// `*` in verbs, resources or API groups.
    #[error("`*` in its {0}")]
    Wildcard(&'static str),
    /// `escalate`, `bind` or `impersonate`.
    #[error("the verb `{0}`")]
    EscalatingVerb(String),
    /// Writes to `rbac.authorization.k8s.io`.
    #[error("writes to `rbac.authorization.k8s.io`")]
    RbacWrite,
    /// Writes to objects that act on the whole cluster.
    #[error("writes to `{0}`, which act on the whole cluster")]
    ClusterWideWrite(String),
    /// A resource whose access mints or borrows credentials or reaches past the API server.
    #[error("the resource `{0}`")]
    Resource(String),
    /// `secrets`, on a cluster that does not opt in.
    #[error("`secrets` (the cluster does not set `grant_secrets = true`)")]
    Secrets,
    /// Writes to `secrets`: never granted.
    #[error("writes to `secrets`")]
    SecretWrite,
}

/// Why `rule` must not be granted, or `None`. `secrets_allowed` is the cluster's opt-in.
///
/// Resources are matched by name in any API group (a custom resource named `secrets` is
/// refused too): a false refusal is safe, a false grant is not.
pub fn forbidden(rule: &Rule, secrets_allowed: bool) -> Option<Forbidden> {
    for (field, list) in [
        ("verbs", &rule.verbs),
        ("resources", &rule.resources),
        ("API groups", &rule.api_groups),
    ] {
        if list
            .iter()
            .any(|item| item == "*" || item.starts_with("*/"))
        {
            return Some(Forbidden::Wildcard(field));
        }
    }
    if let Some(verb) = rule
        .verbs
        .iter()
        .find(|v| ESCALATING_VERBS.contains(&v.as_str()))
    {
        return Some(Forbidden::EscalatingVerb(verb.clone()));
    }
    let writes = rule.verbs.iter().any(|v| WRITE_VERBS.contains(&v.as_str()));
    if writes && rule.api_groups.iter().any(|g| g == RBAC_GROUP) {
        return Some(Forbidden::RbacWrite);
    }
    if writes
        && let Some(group) = rule
            .api_groups
            .iter()
            .find(|g| CLUSTER_WIDE_GROUPS.contains(&g.as_str()))
    {
        return Some(Forbidden::ClusterWideWrite(group.clone()));
    }
    for resource in &rule.resources {
        let (parent, sub) = match resource.split_once('/') {
            Some((parent, sub)) => (parent, Some(sub)),
            None => (resource.as_str(), None),
        };
        let never = matches!(
            (parent, sub),
            ("serviceaccounts", Some("token"))
                | ("certificatesigningrequests", _)
                | ("nodes", Some("proxy"))
        );
        if never {
            return Some(Forbidden::Resource(resource.clone()));
        }
        if writes && CLUSTER_WIDE_RESOURCES.contains(&parent) {
            return Some(Forbidden::ClusterWideWrite(resource.clone()));
        }
        if parent == "secrets" {
            if writes {
                return Some(Forbidden::SecretWrite);
            }
            if !secrets_allowed {
                return Some(Forbidden::Secrets);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn r(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Rule {
        crate::domain::rule_of(groups, resources, verbs, &[])
    }

    #[rstest]
    #[case::read_pods(r(&[""], &["pods", "pods/log"], &["get", "list", "watch"]))]
    #[case::write_deployments(r(&["apps"], &["deployments", "deployments/scale"], &["create", "patch"]))]
    #[case::read_rbac(r(&[RBAC_GROUP], &["roles", "rolebindings"], &["get", "list"]))]
    #[case::list_nodes(r(&[""], &["nodes"], &["get", "list"]))]
    #[case::create_service_accounts(r(&[""], &["serviceaccounts"], &["create"]))]
    fn ordinary_rules_are_grantable(#[case] rule: Rule) {
        assert_eq!(forbidden(&rule, false), None);
    }

    #[rstest]
    #[case::all_verbs(r(&[""], &["pods"], &["*"]), Forbidden::Wildcard("verbs"))]
    #[case::all_resources(r(&[""], &["*"], &["get"]), Forbidden::Wildcard("resources"))]
    #[case::all_subresources(r(&[""], &["*/exec"], &["create"]), Forbidden::Wildcard("resources"))]
    #[case::all_groups(r(&["*"], &["pods"], &["get"]), Forbidden::Wildcard("API groups"))]
    #[case::escalate(r(&[RBAC_GROUP], &["clusterroles"], &["escalate"]), Forbidden::EscalatingVerb("escalate".into()))]
    #[case::bind(r(&[RBAC_GROUP], &["clusterroles"], &["bind"]), Forbidden::EscalatingVerb("bind".into()))]
    #[case::impersonate(r(&[""], &["serviceaccounts"], &["impersonate"]), Forbidden::EscalatingVerb("impersonate".into()))]
    #[case::rbac_create(r(&[RBAC_GROUP], &["clusterrolebindings"], &["create"]), Forbidden::RbacWrite)]
    #[case::rbac_patch(r(&[RBAC_GROUP], &["roles"], &["get", "patch"]), Forbidden::RbacWrite)]
    #[case::token(r(&[""], &["serviceaccounts/token"], &["create"]), Forbidden::Resource("serviceaccounts/token".into()))]
    #[case::csr(r(&["certificates.k8s.io"], &["certificatesigningrequests"], &["create"]), Forbidden::Resource("certificatesigningrequests".into()))]
    #[case::csr_approval(r(&["certificates.k8s.io"], &["certificatesigningrequests/approval"], &["update"]), Forbidden::Resource("certificatesigningrequests/approval".into()))]
    #[case::node_proxy(r(&[""], &["nodes/proxy"], &["get"]), Forbidden::Resource("nodes/proxy".into()))]
    #[case::secrets(r(&[""], &["secrets"], &["get"]), Forbidden::Secrets)]
    #[case::secret_write(r(&[""], &["secrets"], &["create"]), Forbidden::SecretWrite)]
    #[case::webhooks(r(&["admissionregistration.k8s.io"], &["mutatingwebhookconfigurations"], &["create"]), Forbidden::ClusterWideWrite("admissionregistration.k8s.io".into()))]
    #[case::crds(r(&["apiextensions.k8s.io"], &["customresourcedefinitions"], &["update"]), Forbidden::ClusterWideWrite("apiextensions.k8s.io".into()))]
    #[case::namespaces(r(&[""], &["namespaces"], &["delete"]), Forbidden::ClusterWideWrite("namespaces".into()))]
    #[case::nodes(r(&[""], &["nodes"], &["patch"]), Forbidden::ClusterWideWrite("nodes".into()))]
    #[case::volumes(r(&[""], &["persistentvolumes"], &["create"]), Forbidden::ClusterWideWrite("persistentvolumes".into()))]
    fn dangerous_rules_are_never_granted(#[case] rule: Rule, #[case] why: Forbidden) {
        assert_eq!(forbidden(&rule, false), Some(why));
    }

    #[test]
    fn secrets_only_with_the_opt_in() {
        let read = r(&[""], &["secrets"], &["get"]);
        assert_eq!(forbidden(&read, true), None);
        let write = r(&[""], &["secrets"], &["create"]);
        assert_eq!(forbidden(&write, true), Some(Forbidden::SecretWrite));
        let token = r(&[""], &["serviceaccounts/token"], &["create"]);
        assert!(
            forbidden(&token, true).is_some(),
            "the opt-in is for secrets only"
        );
    }
}
