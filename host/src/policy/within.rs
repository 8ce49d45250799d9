//! The request bounds every grant: a module may narrow what was asked for, never widen it.
//!
//! A grant is within a request when every namespace it names was asked for; in each, a role
//! is the role asked for, and rules only allow what the rules asked for allow; cluster rules
//! likewise. Rules are compared by what they allow — each (API group, resource, verb, name)
//! a granted rule allows must be allowed by some asked rule — so a `*` in a granted rule is
//! only within a `*` that was asked for.

use crate::domain::{Access, AccessRequest, Grant, Rule};

/// Most (group, resource, verb, name) combinations one grant's rules may spell out, times the
/// rules asked for they are compared with; a grant over the limit is refused rather than
/// checked.
pub const MAX_COMBINATIONS: usize = 65_536;

/// How a grant goes beyond its request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Wider {
    /// A namespace that was not asked for.
    #[error("it grants namespace `{0}`, which was not asked for")]
    Namespace(String),
    /// Another role than the one asked for.
    #[error("it grants {granted} in namespace `{namespace}` where {asked} was asked for")]
    Access {
        /// The namespace.
        namespace: String,
        /// What the grant gives there.
        granted: String,
        /// What was asked for.
        asked: String,
    },
    /// A rule allowing more than the asked rules.
    #[error("in namespace `{namespace}` it grants `{rule}`, beyond the rules asked for")]
    Rule {
        /// The namespace.
        namespace: String,
        /// The rule, in short form.
        rule: String,
    },
    /// A cluster rule allowing more than the asked cluster rules.
    #[error("it grants cluster rule `{0}`, beyond the cluster rules asked for")]
    ClusterRule(String),
    /// Rules too large to compare.
    #[error("its rules spell out too many combinations to compare (over {MAX_COMBINATIONS})")]
    TooLarge,
}

/// `Ok` when `grant` gives nothing that `request` did not ask for (its TTL is capped
/// elsewhere, not checked here).
pub fn check(grant: &Grant, request: &AccessRequest) -> Result<(), Wider> {
    for ns in &grant.namespaces {
        if !request.namespaces.contains(&ns.namespace) {
            return Err(Wider::Namespace(ns.namespace.clone()));
        }
        match (&ns.access, &request.access) {
            (Access::Role(granted), Access::Role(asked)) if granted == asked => {}
            (Access::Rules(granted), Access::Rules(asked)) => {
                if let Some(rule) = first_outside(granted, asked)? {
                    return Err(Wider::Rule {
                        namespace: ns.namespace.clone(),
                        rule: short(rule),
                    });
                }
            }
            (granted, asked) => {
                return Err(Wider::Access {
                    namespace: ns.namespace.clone(),
                    granted: describe(granted),
                    asked: describe(asked),
                });
            }
        }
    }
    match first_outside(&grant.cluster_rules, &request.cluster_rules)? {
        Some(rule) => Err(Wider::ClusterRule(short(rule))),
        None => Ok(()),
    }
}

fn describe(access: &Access) -> String {
    match access {
        Access::Role(role) => format!("role `{role}`"),
        Access::Rules(_) => "explicit rules".to_owned(),
    }
}

/// `verbs resources (groups) [names]`, e.g. `get,list pods,pods/log (core)`.
pub fn short(rule: &Rule) -> String {
    let groups: Vec<&str> = rule
        .api_groups
        .iter()
        .map(|g| if g.is_empty() { "core" } else { g.as_str() })
        .collect();
    let mut text = format!(
        "{} {} ({})",
        rule.verbs.join(","),
        rule.resources.join(","),
        groups.join(",")
    );
    if !rule.resource_names.is_empty() {
        text.push_str(&format!(" [{}]", rule.resource_names.join(",")));
    }
    text
}

/// The first of `granted` that allows something no rule of `asked` allows.
fn first_outside<'a>(granted: &'a [Rule], asked: &[Rule]) -> Result<Option<&'a Rule>, Wider> {
    let mut combinations = 0usize;
    for rule in granted {
        let names = rule.resource_names.len().max(1);
        // Each combination is compared with every asked rule: bound the whole work.
        combinations = combinations.saturating_add(
            rule.api_groups
                .len()
                .saturating_mul(rule.resources.len())
                .saturating_mul(rule.verbs.len())
                .saturating_mul(names)
                .saturating_mul(asked.len().max(1)),
        );
        if combinations > MAX_COMBINATIONS {
            return Err(Wider::TooLarge);
        }
        if !within(rule, asked) {
            return Ok(Some(rule));
        }
    }
    Ok(None)
}

fn within(rule: &Rule, asked: &[Rule]) -> bool {
    let names: Vec<Option<&str>> = if rule.resource_names.is_empty() {
        vec![None]
    } else {
        rule.resource_names
            .iter()
            .map(|n| Some(n.as_str()))
            .collect()
    };
    rule.api_groups.iter().all(|group| {
        rule.resources.iter().all(|resource| {
            rule.verbs.iter().all(|verb| {
                names.iter().all(|name| {
                    asked
                        .iter()
                        .any(|a| allows(a, group, resource, verb, *name))
                })
            })
        })
    })
}

/// Whether `rule` allows `verb` on `resource` of `group`, named `name` (`None`: every name).
fn allows(rule: &Rule, group: &str, resource: &str, verb: &str, name: Option<&str>) -> bool {
    rule.api_groups.iter().any(|g| g == "*" || g == group)
        && rule.verbs.iter().any(|v| v == "*" || v == verb)
        && rule.resources.iter().any(|r| covers(r, resource))
        && (rule.resource_names.is_empty()
            || name.is_some_and(|n| rule.resource_names.iter().any(|r| r == n)))
}

/// Whether the resource entry `wide` covers the entry `narrow` (`*`, `*/sub`, or equal).
fn covers(wide: &str, narrow: &str) -> bool {
    wide == "*"
        || wide == narrow
        || wide.strip_prefix("*/").is_some_and(|sub| {
            narrow
                .split_once('/')
                .is_some_and(|(parent, narrow_sub)| parent != "*" && narrow_sub == sub)
        })
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use rstest::rstest;

    use super::*;
    use crate::domain::NamespaceGrant;

    fn r(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> Rule {
        crate::domain::rule_of(groups, resources, verbs, names)
    }

    fn request(namespaces: &[&str], access: Access, cluster_rules: Vec<Rule>) -> AccessRequest {
        AccessRequest {
            id: "r1".into(),
            cluster: "prod".into(),
            namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
            access,
            cluster_rules,
            duration_seconds: 600,
            reason: "why".into(),
            context: Default::default(),
            requested_at: Timestamp::UNIX_EPOCH,
            evaluated_at: Timestamp::UNIX_EPOCH,
            extends: None,
        }
    }

    fn grant(namespaces: &[(&str, Access)], cluster_rules: Vec<Rule>) -> Grant {
        Grant {
            namespaces: namespaces
                .iter()
                .map(|(ns, access)| NamespaceGrant {
                    namespace: (*ns).to_owned(),
                    access: access.clone(),
                })
                .collect(),
            cluster_rules,
            ttl_seconds: 600,
        }
    }

    fn role(name: &str) -> Access {
        Access::Role(name.into())
    }

    fn rules(list: Vec<Rule>) -> Access {
        Access::Rules(list)
    }

    #[rstest]
    #[case::same_role(grant(&[("a", role("view"))], vec![]), request(&["a", "b"], role("view"), vec![]))]
    #[case::fewer_namespaces(grant(&[("b", role("view"))], vec![]), request(&["a", "b"], role("view"), vec![]))]
    #[case::narrower_verbs(grant(&[("a", rules(vec![r(&[""], &["pods"], &["get"], &[])]))], vec![]), request(&["a"], rules(vec![r(&[""], &["pods"], &["get", "list"], &[])]), vec![]))]
    #[case::split_across_asked_rules(grant(&[("a", rules(vec![r(&[""], &["pods"], &["get", "list"], &[])]))], vec![]), request(&["a"], rules(vec![r(&[""], &["pods"], &["get"], &[]), r(&[""], &["pods"], &["list"], &[])]), vec![]))]
    #[case::named_within_all(grant(&[("a", rules(vec![r(&[""], &["configmaps"], &["get"], &["x"])]))], vec![]), request(&["a"], rules(vec![r(&[""], &["configmaps"], &["get"], &[])]), vec![]))]
    #[case::within_wildcards(grant(&[("a", rules(vec![r(&["apps"], &["deployments/scale"], &["patch"], &[])]))], vec![]), request(&["a"], rules(vec![r(&["*"], &["*/scale"], &["*"], &[])]), vec![]))]
    #[case::cluster_rules(grant(&[], vec![r(&[""], &["nodes"], &["get"], &[])]), request(&[], rules(vec![]), vec![r(&[""], &["nodes"], &["get", "list"], &[])]))]
    fn grants_within_their_request_pass(#[case] grant: Grant, #[case] request: AccessRequest) {
        assert_eq!(check(&grant, &request), Ok(()));
    }

    #[rstest]
    #[case::other_namespace(grant(&[("kube-system", role("view"))], vec![]), request(&["a"], role("view"), vec![]), Wider::Namespace("kube-system".into()))]
    #[case::wider_role(grant(&[("a", role("admin"))], vec![]), request(&["a"], role("view"), vec![]), Wider::Access { namespace: "a".into(), granted: "role `admin`".into(), asked: "role `view`".into() })]
    #[case::rules_for_a_role(grant(&[("a", rules(vec![r(&[""], &["pods"], &["get"], &[])]))], vec![]), request(&["a"], role("view"), vec![]), Wider::Access { namespace: "a".into(), granted: "explicit rules".into(), asked: "role `view`".into() })]
    #[case::extra_verb(grant(&[("a", rules(vec![r(&[""], &["pods"], &["get", "delete"], &[])]))], vec![]), request(&["a"], rules(vec![r(&[""], &["pods"], &["get"], &[])]), vec![]), Wider::Rule { namespace: "a".into(), rule: "get,delete pods (core)".into() })]
    #[case::wildcard_verb(grant(&[("a", rules(vec![r(&[""], &["pods"], &["*"], &[])]))], vec![]), request(&["a"], rules(vec![r(&[""], &["pods"], &["get", "list", "watch", "create", "update", "patch", "delete"], &[])]), vec![]), Wider::Rule { namespace: "a".into(), rule: "* pods (core)".into() })]
    #[case::all_names_for_some(grant(&[("a", rules(vec![r(&[""], &["configmaps"], &["get"], &[])]))], vec![]), request(&["a"], rules(vec![r(&[""], &["configmaps"], &["get"], &["x"])]), vec![]), Wider::Rule { namespace: "a".into(), rule: "get configmaps (core)".into() })]
    #[case::other_group(grant(&[("a", rules(vec![r(&["apps", ""], &["pods"], &["get"], &[])]))], vec![]), request(&["a"], rules(vec![r(&[""], &["pods"], &["get"], &[])]), vec![]), Wider::Rule { namespace: "a".into(), rule: "get pods (apps,core)".into() })]
    #[case::subresource_wildcard_is_not_everything(grant(&[("a", rules(vec![r(&[""], &["*"], &["get"], &[])]))], vec![]), request(&["a"], rules(vec![r(&[""], &["*/log"], &["get"], &[])]), vec![]), Wider::Rule { namespace: "a".into(), rule: "get * (core)".into() })]
    #[case::unasked_cluster_rule(grant(&[("a", role("view"))], vec![r(&["rbac.authorization.k8s.io"], &["clusterrolebindings"], &["create"], &[])]), request(&["a"], role("view"), vec![]), Wider::ClusterRule("create clusterrolebindings (rbac.authorization.k8s.io)".into()))]
    fn wider_grants_are_refused(
        #[case] grant: Grant,
        #[case] request: AccessRequest,
        #[case] expected: Wider,
    ) {
        assert_eq!(check(&grant, &request), Err(expected));
    }

    #[test]
    fn a_grant_too_large_to_compare_is_refused() {
        let many: Vec<String> = (0..64).map(|i| format!("r{i}")).collect();
        let names: Vec<&str> = many.iter().map(String::as_str).collect();
        let huge = r(&names, &names, &names, &names[..2]);
        let ask = request(&["a"], rules(vec![r(&["*"], &["*"], &["*"], &[])]), vec![]);
        let g = grant(&[("a", rules(vec![huge]))], vec![]);
        assert_eq!(check(&g, &ask), Err(Wider::TooLarge));
    }
}
