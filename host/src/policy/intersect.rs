//! Narrowing grants: the widest grant that is no wider than each of two grants.
//!
//! - Namespaces: only those both grants name, in the first grant's order.
//! - Per namespace: role and the same role stay that role; rules and rules become their
//!   rule-level intersection (below); a role against a different role, or a role against
//!   rules, cannot be narrowed safely (what a ClusterRole holds is not known here) and is a
//!   [`Conflict`]. A namespace whose rules have nothing in common is dropped.
//! - Rules: every pair of rules meets field by field. In `api_groups`, `resources` and `verbs`
//!   `*` matches everything and `*/sub` matches every resource's `sub` subresource; an empty
//!   `resource_names` means every name. A pair with an empty field after the meet grants
//!   nothing and is dropped.
//! - Cluster rules: the rule-level intersection. TTL: the minimum.

use crate::domain::{Access, Grant, NamespaceGrant, Rule};

/// Two grants that cannot be narrowed to a common grant safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("in namespace `{namespace}`, {left} and {right} cannot be narrowed to a common grant")]
pub struct Conflict {
    /// The namespace.
    pub namespace: String,
    /// What the first grant gives there.
    pub left: String,
    /// What the second grant gives there.
    pub right: String,
}

/// The intersection of two grants; may be empty (no namespaces and no cluster rules).
pub fn grants(left: &Grant, right: &Grant) -> Result<Grant, Conflict> {
    let mut namespaces = Vec::new();
    for l in &left.namespaces {
        let Some(r) = right.namespaces.iter().find(|r| r.namespace == l.namespace) else {
            continue;
        };
        if let Some(access) = access(&l.namespace, &l.access, &r.access)? {
            namespaces.push(NamespaceGrant {
                namespace: l.namespace.clone(),
                access,
            });
        }
    }
    Ok(Grant {
        namespaces,
        cluster_rules: rules(&left.cluster_rules, &right.cluster_rules),
        ttl_seconds: left.ttl_seconds.min(right.ttl_seconds),
    })
}

fn access(namespace: &str, left: &Access, right: &Access) -> Result<Option<Access>, Conflict> {
    match (left, right) {
        (Access::Role(l), Access::Role(r)) if l == r => Ok(Some(Access::Role(l.clone()))),
        (Access::Rules(l), Access::Rules(r)) => {
            let common = rules(l, r);
            Ok((!common.is_empty()).then_some(Access::Rules(common)))
        }
        _ => Err(Conflict {
            namespace: namespace.to_owned(),
            left: describe(left),
            right: describe(right),
        }),
    }
}

fn describe(access: &Access) -> String {
    match access {
        Access::Role(role) => format!("role `{role}`"),
        Access::Rules(rules) => format!("{} explicit rule(s)", rules.len()),
    }
}

/// The rule-level intersection of two rule lists, without duplicates.
pub fn rules(left: &[Rule], right: &[Rule]) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    for l in left {
        for r in right {
            if let Some(rule) = rule(l, r)
                && !out.contains(&rule)
            {
                out.push(rule);
            }
        }
    }
    out
}

fn rule(left: &Rule, right: &Rule) -> Option<Rule> {
    let api_groups = lists(&left.api_groups, &right.api_groups, name);
    let resources = lists(&left.resources, &right.resources, resource);
    let verbs = lists(&left.verbs, &right.verbs, name);
    let resource_names = match (
        left.resource_names.is_empty(),
        right.resource_names.is_empty(),
    ) {
        (true, _) => right.resource_names.clone(),
        (_, true) => left.resource_names.clone(),
        _ => {
            let common = lists(&left.resource_names, &right.resource_names, exact);
            if common.is_empty() {
                return None;
            }
            common
        }
    };
    if api_groups.is_empty() || resources.is_empty() || verbs.is_empty() {
        return None;
    }
    Some(Rule {
        api_groups,
        resources,
        verbs,
        resource_names,
    })
}

/// Meets every entry of `left` with every entry of `right`, without duplicates.
fn lists(left: &[String], right: &[String], meet: fn(&str, &str) -> Option<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in left {
        for r in right {
            if let Some(m) = meet(l, r)
                && !out.contains(&m)
            {
                out.push(m);
            }
        }
    }
    out
}

fn exact(left: &str, right: &str) -> Option<String> {
    (left == right).then(|| left.to_owned())
}

/// An API group or verb: `*` matches everything.
fn name(left: &str, right: &str) -> Option<String> {
    match (left, right) {
        ("*", other) | (other, "*") => Some(other.to_owned()),
        _ => exact(left, right),
    }
}

/// A resource: `*` matches everything, `*/sub` every resource's `sub` subresource.
fn resource(left: &str, right: &str) -> Option<String> {
    let covers = |wide: &str, narrow: &str| {
        wide.strip_prefix("*/").is_some_and(|sub| {
            narrow
                .split_once('/')
                .is_some_and(|(_, narrow_sub)| narrow_sub == sub)
        })
    };
    if let Some(m) = name(left, right) {
        Some(m)
    } else if covers(left, right) {
        Some(right.to_owned())
    } else if covers(right, left) {
        Some(left.to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn r(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> Rule {
        crate::domain::rule_of(groups, resources, verbs, names)
    }

    #[rstest]
    #[case::same(vec![r(&[""], &["pods"], &["get"], &[])], vec![r(&[""], &["pods"], &["get"], &[])], vec![r(&[""], &["pods"], &["get"], &[])])]
    #[case::verbs_narrow(vec![r(&[""], &["pods"], &["get", "list", "delete"], &[])], vec![r(&[""], &["pods"], &["get", "list"], &[])], vec![r(&[""], &["pods"], &["get", "list"], &[])])]
    #[case::wildcard_verbs(vec![r(&[""], &["pods"], &["*"], &[])], vec![r(&[""], &["pods"], &["get"], &[])], vec![r(&[""], &["pods"], &["get"], &[])])]
    #[case::wildcard_everything(vec![r(&["*"], &["*"], &["*"], &[])], vec![r(&["apps"], &["deployments"], &["patch"], &["web"])], vec![r(&["apps"], &["deployments"], &["patch"], &["web"])])]
    #[case::subresource_wildcard(vec![r(&[""], &["*/log"], &["get"], &[])], vec![r(&[""], &["pods/log", "pods"], &["get"], &[])], vec![r(&[""], &["pods/log"], &["get"], &[])])]
    #[case::resource_names_meet(vec![r(&[""], &["secrets"], &["get"], &["a", "b"])], vec![r(&[""], &["secrets"], &["get"], &["b", "c"])], vec![r(&[""], &["secrets"], &["get"], &["b"])])]
    #[case::resource_names_all_vs_some(vec![r(&[""], &["secrets"], &["get"], &[])], vec![r(&[""], &["secrets"], &["get"], &["b"])], vec![r(&[""], &["secrets"], &["get"], &["b"])])]
    #[case::resource_names_disjoint(vec![r(&[""], &["secrets"], &["get"], &["a"])], vec![r(&[""], &["secrets"], &["get"], &["b"])], vec![])]
    #[case::groups_disjoint(vec![r(&["apps"], &["deployments"], &["get"], &[])], vec![r(&[""], &["deployments"], &["get"], &[])], vec![])]
    #[case::verbs_disjoint(vec![r(&[""], &["pods"], &["get"], &[])], vec![r(&[""], &["pods"], &["delete"], &[])], vec![])]
    #[case::pairwise(vec![r(&[""], &["pods"], &["get"], &[]), r(&["apps"], &["*"], &["list"], &[])], vec![r(&["apps", ""], &["deployments", "pods"], &["get", "list"], &[])], vec![r(&[""], &["pods"], &["get"], &[]), r(&["apps"], &["deployments", "pods"], &["list"], &[])])]
    fn rule_intersection(
        #[case] left: Vec<Rule>,
        #[case] right: Vec<Rule>,
        #[case] expected: Vec<Rule>,
    ) {
        assert_eq!(rules(&left, &right), expected);
        // The meet is symmetric up to order.
        let mut swapped = rules(&right, &left);
        let mut expected = expected;
        swapped.sort();
        expected.sort();
        assert_eq!(swapped, expected);
    }

    fn g(namespaces: &[(&str, Access)], ttl: u64) -> Grant {
        Grant {
            namespaces: namespaces
                .iter()
                .map(|(ns, access)| NamespaceGrant {
                    namespace: (*ns).to_owned(),
                    access: access.clone(),
                })
                .collect(),
            cluster_rules: vec![],
            ttl_seconds: ttl,
        }
    }

    fn role(name: &str) -> Access {
        Access::Role(name.into())
    }

    fn get_pods() -> Access {
        Access::Rules(vec![r(&[""], &["pods"], &["get"], &[])])
    }

    #[rstest]
    #[case::same_role(g(&[("a", role("edit"))], 600), g(&[("a", role("edit"))], 300), Ok(g(&[("a", role("edit"))], 300)))]
    #[case::namespaces_in_both(g(&[("a", role("view")), ("b", role("view"))], 60), g(&[("b", role("view")), ("c", role("view"))], 60), Ok(g(&[("b", role("view"))], 60)))]
    #[case::disjoint_namespaces(g(&[("a", role("view"))], 60), g(&[("b", role("view"))], 60), Ok(g(&[], 60)))]
    #[case::rules_meet(g(&[("a", Access::Rules(vec![r(&[""], &["pods"], &["get", "delete"], &[])]))], 60), g(&[("a", get_pods())], 60), Ok(g(&[("a", get_pods())], 60)))]
    #[case::rules_disjoint_drop_namespace(g(&[("a", get_pods()), ("b", role("view"))], 60), g(&[("a", Access::Rules(vec![r(&[""], &["secrets"], &["get"], &[])])), ("b", role("view"))], 60), Ok(g(&[("b", role("view"))], 60)))]
    #[case::different_roles(g(&[("a", role("edit"))], 60), g(&[("a", role("view"))], 60), Err(Conflict { namespace: "a".into(), left: "role `edit`".into(), right: "role `view`".into() }))]
    #[case::role_vs_rules(g(&[("a", role("edit"))], 60), g(&[("a", get_pods())], 60), Err(Conflict { namespace: "a".into(), left: "role `edit`".into(), right: "1 explicit rule(s)".into() }))]
    fn grant_intersection(
        #[case] left: Grant,
        #[case] right: Grant,
        #[case] expected: Result<Grant, Conflict>,
    ) {
        assert_eq!(grants(&left, &right), expected);
    }
}
