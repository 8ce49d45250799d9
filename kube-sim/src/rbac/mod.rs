//! RBAC as the real authorizer evaluates it: deny by default, union of rules, ClusterRoleBindings
//! everywhere, RoleBindings in their namespace (also when they reference a ClusterRole).

pub mod builtin;
pub mod escalation;
pub mod validate;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::UserInfo;
use crate::resources::{RBAC_GROUP, lookup};
use crate::store::{Store, meta_str};

/// A rule of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Verbs (`*` for all).
    #[serde(default)]
    pub verbs: Vec<String>,
    /// API groups (`""` core, `*` all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources (`*`, `res/sub`, `*/sub`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource URLs (a trailing `*` is a prefix match).
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// A subject of a binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    #[serde(default)]
    pub kind: String,
    /// API group of the subject kind.
    #[serde(default)]
    pub api_group: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace (ServiceAccount only).
    #[serde(default)]
    pub namespace: String,
}

/// The role a binding grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// Always `rbac.authorization.k8s.io`.
    #[serde(default)]
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    #[serde(default)]
    pub kind: String,
    /// Role name.
    #[serde(default)]
    pub name: String,
}

/// What a request wants to do, as the authorizer sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Verb (`get`, `list`, `watch`, `create`, ..., or the lowercased method for paths).
    pub verb: String,
    /// Whether this is a resource request (else a non-resource path).
    pub resource_request: bool,
    /// Namespace (empty at cluster scope).
    pub namespace: String,
    /// API group.
    pub api_group: String,
    /// Resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Object name.
    pub name: String,
    /// Path (non-resource requests).
    pub path: String,
}

/// An authorization decision with the real authorizer's reason text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Why it was allowed (empty when denied).
    pub reason: String,
}

fn has(set: &[String], v: &str) -> bool {
    set.iter().any(|s| s == v)
}

/// Whether one rule allows the request (`RuleAllows` in Kubernetes).
pub fn rule_allows(attrs: &Attributes, rule: &PolicyRule) -> bool {
    let verb = has(&rule.verbs, "*") || has(&rule.verbs, &attrs.verb);
    if !attrs.resource_request {
        return verb
            && rule.non_resource_urls.iter().any(|u| {
                u == "*"
                    || *u == attrs.path
                    || u.strip_suffix('*')
                        .is_some_and(|p| attrs.path.starts_with(p))
            });
    }
    let combined = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let group = has(&rule.api_groups, "*") || has(&rule.api_groups, &attrs.api_group);
    let resource = rule.resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!attrs.subresource.is_empty()
                && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    });
    let name = rule.resource_names.is_empty() || has(&rule.resource_names, &attrs.name);
    verb && group && resource && name
}

/// Whether a binding subject designates the user; `binding_ns` is the binding's namespace
/// (the default namespace for ServiceAccount subjects of RoleBindings).
pub fn applies_to_user(user: &UserInfo, subject: &Subject, binding_ns: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.username == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                binding_ns
            } else {
                subject.namespace.as_str()
            };
            !ns.is_empty()
                && user.username == format!("system:serviceaccount:{ns}:{}", subject.name)
        }
        _ => false,
    }
}

/// The keys under which the store indexes a binding: `user:<name>` for each subject a user
/// with that name matches (a ServiceAccount subject is its `system:serviceaccount:` user), and
/// `group:<name>` for each Group subject. A pre-filter only: [`applies_to_user`] decides.
pub fn binding_subject_keys(binding: &Value) -> Vec<String> {
    let binding_ns = meta_str(binding, "namespace");
    subjects_of(binding)
        .into_iter()
        .filter_map(|subject| match subject.kind.as_str() {
            "User" => Some(format!("user:{}", subject.name)),
            "Group" => Some(format!("group:{}", subject.name)),
            "ServiceAccount" => {
                let ns = if subject.namespace.is_empty() {
                    binding_ns
                } else {
                    subject.namespace.as_str()
                };
                (!ns.is_empty())
                    .then(|| format!("user:system:serviceaccount:{ns}:{}", subject.name))
            }
            _ => None,
        })
        .collect()
}

/// The index keys of the bindings that can apply to `user` (see [`binding_subject_keys`]).
fn user_subject_keys(user: &UserInfo) -> Vec<String> {
    std::iter::once(format!("user:{}", user.username))
        .chain(user.groups.iter().map(|group| format!("group:{group}")))
        .collect()
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

fn subjects_of(obj: &Value) -> Vec<Subject> {
    obj.get("subjects")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

/// The roleRef of a binding object.
pub fn role_ref_of(obj: &Value) -> RoleRef {
    obj.get("roleRef")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

/// The rules of a referenced role, or `None` if the role does not exist.
pub fn role_ref_rules(
    store: &Store,
    role_ref: &RoleRef,
    binding_ns: &str,
) -> Option<Vec<PolicyRule>> {
    let rt = match role_ref.kind.as_str() {
        "ClusterRole" => lookup(RBAC_GROUP, "v1", "clusterroles")?,
        "Role" => lookup(RBAC_GROUP, "v1", "roles")?,
        _ => return None,
    };
    store.get(rt, binding_ns, &role_ref.name).map(rules_of)
}

/// One binding that applies to a user, with the rules of its role.
struct Grant {
    describe: String,
    rules: Vec<PolicyRule>,
}

fn grants(store: &Store, user: &UserInfo, namespace: &str) -> Vec<Grant> {
    let subjects = user_subject_keys(user);
    let mut out = Vec::new();
    let mut visit = |plural: &str, ns: &str, kind: &str| {
        for b in store.bindings_for(plural, ns, &subjects) {
            let binding_ns = meta_str(b, "namespace").to_owned();
            let Some(subject) = subjects_of(b)
                .into_iter()
                .find(|s| applies_to_user(user, s, &binding_ns))
            else {
                continue;
            };
            let role_ref = role_ref_of(b);
            let Some(rules) = role_ref_rules(store, &role_ref, &binding_ns) else {
                continue;
            };
            let who = match subject.kind.as_str() {
                "ServiceAccount" => {
                    let ns = if subject.namespace.is_empty() {
                        &binding_ns
                    } else {
                        &subject.namespace
                    };
                    format!("ServiceAccount \"{}/{ns}\"", subject.name)
                }
                k => format!("{k} {:?}", subject.name),
            };
            let place = if binding_ns.is_empty() {
                format!("{kind} {:?}", meta_str(b, "name"))
            } else {
                format!("{kind} \"{}/{binding_ns}\"", meta_str(b, "name"))
            };
            let describe = format!("{place} of {} {:?} to {who}", role_ref.kind, role_ref.name);
            out.push(Grant { describe, rules });
        }
    };
    visit("clusterrolebindings", "", "ClusterRoleBinding");
    if !namespace.is_empty() {
        visit("rolebindings", namespace, "RoleBinding");
    }
    out
}

/// The RBAC decision for a request. `system:masters` is allowed before RBAC runs, as in Kubernetes.
pub fn authorize(store: &Store, user: &UserInfo, attrs: &Attributes) -> Decision {
    if user.is_master() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    for grant in grants(store, user, &attrs.namespace) {
        if grant.rules.iter().any(|r| rule_allows(attrs, r)) {
            return Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", grant.describe),
            };
        }
    }
    Decision {
        allowed: false,
        reason: String::new(),
    }
}

/// Every rule the user holds in `namespace` (cluster-wide rules included), as `RulesFor` returns them.
pub fn rules_for(store: &Store, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
    if user.is_master() {
        return vec![
            PolicyRule {
                verbs: vec!["*".into()],
                api_groups: vec!["*".into()],
                resources: vec!["*".into()],
                ..Default::default()
            },
            PolicyRule {
                verbs: vec!["*".into()],
                non_resource_urls: vec!["*".into()],
                ..Default::default()
            },
        ];
    }
    grants(store, user, namespace)
        .into_iter()
        .flat_map(|g| g.rules)
        .collect()
}

/// The `Forbidden` reason text for a denied request, worded exactly like the real API server.
pub fn forbidden_message(user: &UserInfo, attrs: &Attributes) -> String {
    let who = &user.username;
    if !attrs.resource_request {
        return format!("User {who:?} cannot {} path {:?}", attrs.verb, attrs.path);
    }
    let mut resource = attrs.resource.clone();
    if !attrs.subresource.is_empty() {
        resource = format!("{resource}/{}", attrs.subresource);
    }
    if attrs.namespace.is_empty() {
        format!(
            "User {who:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
            attrs.verb, attrs.api_group
        )
    } else {
        format!(
            "User {who:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
            attrs.verb, attrs.api_group, attrs.namespace
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::selector::{FieldSelector, LabelSelector};

    fn binding(name: &str, namespace: &str, subjects: Value) -> Value {
        json!({
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": subjects,
        })
    }

    /// The bindings naming `user`, by a scan of every binding (what the authorizer did
    /// before the index) and through the index.
    fn both_ways(
        store: &Store,
        user: &UserInfo,
        plural: &str,
        ns: &str,
    ) -> (Vec<String>, Vec<String>) {
        let rt = lookup(RBAC_GROUP, "v1", plural).unwrap();
        let names = |bindings: Vec<&Value>| -> Vec<String> {
            bindings
                .into_iter()
                .filter(|b| {
                    subjects_of(b)
                        .iter()
                        .any(|s| applies_to_user(user, s, meta_str(b, "namespace")))
                })
                .map(|b| meta_str(b, "name").to_owned())
                .collect()
        };
        let all = store.list(rt, ns, &LabelSelector::default(), &FieldSelector::default());
        let scanned = names(all.iter().collect());
        let keys = user_subject_keys(user);
        (scanned, names(store.bindings_for(plural, ns, &keys)))
    }

    #[test]
    fn the_subject_index_finds_what_a_scan_of_every_binding_finds() {
        let mut store = Store::default();
        let rb = lookup(RBAC_GROUP, "v1", "rolebindings").unwrap();
        let crb = lookup(RBAC_GROUP, "v1", "clusterrolebindings").unwrap();
        let subjects = [
            json!([{"kind": "User", "name": "alice"}]),
            json!([{"kind": "Group", "name": "sre"}, {"kind": "User", "name": "bob"}]),
            json!([{"kind": "ServiceAccount", "name": "robot"}]),
            json!([{"kind": "ServiceAccount", "name": "robot", "namespace": "payments"}]),
            json!([{"kind": "ServiceAccount", "name": "robot", "namespace": ""}]),
            json!([{"kind": "Other", "name": "alice"}]),
            json!([{"kind": "User"}]),
            json!("not a list"),
        ];
        for (n, subject) in subjects.iter().enumerate() {
            for ns in ["payments", "orders"] {
                store
                    .create(rb, ns, binding(&format!("b{n}"), ns, subject.clone()))
                    .unwrap();
            }
            store
                .create(crb, "", binding(&format!("c{n}"), "", subject.clone()))
                .unwrap();
        }
        let user = |name: &str, groups: &[&str]| UserInfo {
            username: name.to_owned(),
            uid: String::new(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            extra: std::collections::BTreeMap::new(),
        };
        let users = [
            user("alice", &[]),
            user("bob", &["sre"]),
            user("carol", &["sre", "system:authenticated"]),
            user("system:serviceaccount:payments:robot", &[]),
            user("system:serviceaccount:orders:robot", &[]),
            user("", &[]),
        ];
        let check = |store: &Store| {
            for user in &users {
                for (plural, ns) in [
                    ("rolebindings", "payments"),
                    ("rolebindings", "orders"),
                    ("clusterrolebindings", ""),
                ] {
                    let (scanned, indexed) = both_ways(store, user, plural, ns);
                    assert_eq!(scanned, indexed, "{} {plural} {ns}", user.username);
                }
            }
        };
        check(&store);
        assert_eq!(
            both_ways(&store, &users[3], "rolebindings", "payments").1,
            ["b2", "b3", "b4"],
            "a ServiceAccount subject without a namespace is in the binding's"
        );
        assert_eq!(
            both_ways(&store, &users[3], "clusterrolebindings", "").1,
            ["c3"],
            "a cluster binding's ServiceAccount subject needs its namespace"
        );
        // A binding whose subjects change, one deleted, a namespace deleted.
        store
            .update(
                rb,
                "payments",
                "b0",
                binding("b0", "payments", json!([{"kind": "Group", "name": "sre"}])),
            )
            .unwrap();
        store.delete(rb, "payments", "b1").unwrap();
        store.delete(crb, "", "c2").unwrap();
        check(&store);
        assert_eq!(
            both_ways(&store, &users[0], "rolebindings", "payments").1,
            Vec::<String>::new()
        );
        assert_eq!(
            both_ways(&store, &users[2], "rolebindings", "payments").1,
            ["b0"]
        );
        let ns = lookup("", "v1", "namespaces").unwrap();
        store
            .create(ns, "", json!({"metadata": {"name": "orders"}}))
            .unwrap();
        store.delete(ns, "", "orders").unwrap();
        check(&store);
        assert!(
            store
                .bindings_for("rolebindings", "orders", &user_subject_keys(&users[0]))
                .is_empty()
        );
    }
}
