//! What can be asked for and granted: RBAC rules, a role or rules per namespace, name patterns.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

/// One RBAC rule, with the meaning of a Kubernetes `PolicyRule`: `*` is a wildcard in every
/// list and an empty `resource_names` means every name.
///
/// ```
/// use wicket_contract::Rule;
///
/// let read_pods = Rule::new([""], ["pods", "pods/log"], ["get", "list"]);
/// let one_pod = Rule::new([""], ["pods"], ["get"]).with_resource_names(["web-0"]);
/// assert!(read_pods.covers(&one_pod));
/// assert!(!one_pod.covers(&read_pods));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]

pub struct Rule {
    /// API groups, `""` for the core group.
    pub api_groups: Vec<String>,
    /// Resources, optionally `resource/subresource`, e.g. `pods`, `pods/log`.
    pub resources: Vec<String>,
    /// Verbs, e.g. `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`.
    pub verbs: Vec<String>,
    /// Restricts the rule to objects of these names; empty means every name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

fn strings<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

/// `allowed` holds `*` or every item of `asked` (which is not empty).
fn list_covers(allowed: &[String], asked: &[String]) -> bool {
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    !asked.is_empty() && asked.iter().all(|a| allowed.contains(a))
}

impl Rule {
    /// A rule over every name of `resources` in `api_groups` for `verbs`.
    pub fn new<G, R, V, SG, SR, SV>(api_groups: G, resources: R, verbs: V) -> Self
    where
        G: IntoIterator<Item = SG>,
        R: IntoIterator<Item = SR>,
        V: IntoIterator<Item = SV>,
        SG: Into<String>,
        SR: Into<String>,
        SV: Into<String>,
    {
        Self {
            api_groups: strings(api_groups),
            resources: strings(resources),
            verbs: strings(verbs),
            resource_names: Vec::new(),
        }
    }

    /// The same rule restricted to objects of these names.
    pub fn with_resource_names<N: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        names: N,
    ) -> Self {
        self.resource_names = strings(names);
        self
    }

    /// Whether everything `other` allows is also allowed by `self`.
    ///
    /// Each list of `other` must be inside the same list of `self` (or `self` holds `*` there);
    /// a `*` in `other` is covered only by a `*` in `self`. An `other` restricted to names is
    /// covered by an unrestricted `self`; an unrestricted `other` only by an unrestricted `self`.
    /// A rule with an empty list allows nothing and so is covered by nothing, which keeps
    /// malformed input from passing.
    pub fn covers(&self, other: &Rule) -> bool {
        list_covers(&self.api_groups, &other.api_groups)
            && list_covers(&self.resources, &other.resources)
            && list_covers(&self.verbs, &other.verbs)
            && (self.resource_names.is_empty()
                || (!other.resource_names.is_empty()
                    && list_covers(&self.resource_names, &other.resource_names)))
    }

    /// Whether some rule of `allowed` covers `self` (see [`Rule::covers`]).
    ///
    /// ```
    /// use wicket_contract::Rule;
    ///
    /// let allowed = [Rule::new([""], ["pods"], ["*"]), Rule::new(["apps"], ["deployments"], ["get"])];
    /// assert!(Rule::new([""], ["pods"], ["delete"]).is_covered_by(&allowed));
    /// assert!(!Rule::new(["apps"], ["deployments"], ["delete"]).is_covered_by(&allowed));
    /// ```
    pub fn is_covered_by(&self, allowed: &[Rule]) -> bool {
        allowed.iter().any(|rule| rule.covers(self))
    }
}

/// Shows a rule as `verbs on api-group/resources` for reasons, e.g. `get,list on core/pods`
/// or `update on apps/deployments [web]`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<&str> = self
            .api_groups
            .iter()
            .map(|g| if g.is_empty() { "core" } else { g.as_str() })
            .collect();
        write!(
            f,
            "{} on {}/{}",
            self.verbs.join(","),
            groups.join(","),
            self.resources.join(",")
        )?;
        if !self.resource_names.is_empty() {
            write!(f, " [{}]", self.resource_names.join(","))?;
        }
        Ok(())
    }
}

/// What is asked for or granted inside a namespace. In JSON `{"role": "edit"}` or
/// `{"rules": [...]}`.
///
/// ```
/// use wicket_contract::{Access, Rule};
///
/// assert_eq!(Access::role("edit"), Access::Role("edit".into()));
/// let read = Access::rules([Rule::new([""], ["pods"], ["get"])]);
/// assert!(matches!(read, Access::Rules(ref rules) if rules.len() == 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// A ClusterRole by name (e.g. `view`, `edit`, `admin`), bound in the namespace by a
    /// RoleBinding.
    Role(String),
    /// Explicit rules, placed in a Role in the namespace.
    Rules(Vec<Rule>),
}

impl Access {
    /// A ClusterRole by name.
    pub fn role(name: impl Into<String>) -> Self {
        Self::Role(name.into())
    }

    /// Explicit rules.
    pub fn rules(rules: impl IntoIterator<Item = Rule>) -> Self {
        Self::Rules(rules.into_iter().collect())
    }
}

/// Shows `role \`edit\`` or the rules, for reasons.
impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Role(role) => write!(f, "role `{role}`"),
            Access::Rules(rules) => {
                f.write_str("rules ")?;
                for (i, rule) in rules.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{rule}`")?;
                }
                Ok(())
            }
        }
    }
}

/// Whether `name` matches `pattern`: `*` matches everything, `prefix*` every name that starts
/// with `prefix`, anything else only itself.
///
/// ```
/// use wicket_contract::name_matches;
///
/// assert!(name_matches("team-*", "team-payments"));
/// assert!(name_matches("payments", "payments"));
/// assert!(!name_matches("team-*", "kube-system"));
/// assert!(name_matches("*", "kube-system"));
/// ```
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::same(Rule::new([""], ["pods"], ["get"]), Rule::new([""], ["pods"], ["get"]), true)]
    #[case::subset_of_verbs(Rule::new([""], ["pods"], ["get", "list"]), Rule::new([""], ["pods"], ["get"]), true)]
    #[case::wildcard_verbs(Rule::new([""], ["pods"], ["*"]), Rule::new([""], ["pods"], ["delete"]), true)]
    #[case::wildcard_asked_not_allowed(Rule::new([""], ["pods"], ["get"]), Rule::new([""], ["pods"], ["*"]), false)]
    #[case::other_group(Rule::new([""], ["deployments"], ["get"]), Rule::new(["apps"], ["deployments"], ["get"]), false)]
    #[case::extra_resource(Rule::new([""], ["pods"], ["get"]), Rule::new([""], ["pods", "secrets"], ["get"]), false)]
    #[case::names_inside_all(Rule::new([""], ["pods"], ["get"]), Rule::new([""], ["pods"], ["get"]).with_resource_names(["a"]), true)]
    #[case::all_names_not_inside_some(Rule::new([""], ["pods"], ["get"]).with_resource_names(["a"]), Rule::new([""], ["pods"], ["get"]), false)]
    #[case::other_names(Rule::new([""], ["pods"], ["get"]).with_resource_names(["a"]), Rule::new([""], ["pods"], ["get"]).with_resource_names(["b"]), false)]
    #[case::empty_verbs_never_covered(Rule::new([""], ["pods"], ["get"]), Rule::new([""], ["pods"], Vec::<String>::new()), false)]
    fn rule_coverage(#[case] allowed: Rule, #[case] asked: Rule, #[case] covered: bool) {
        assert_eq!(allowed.covers(&asked), covered);
    }

    #[rstest]
    #[case::exact("payments", "payments", true)]
    #[case::exact_other("payments", "payment", false)]
    #[case::prefix("team-*", "team-a", true)]
    #[case::prefix_itself("team-*", "team-", true)]
    #[case::prefix_other("team-*", "teams", false)]
    #[case::everything("*", "kube-system", true)]
    fn name_patterns(#[case] pattern: &str, #[case] name: &str, #[case] matches: bool) {
        assert_eq!(name_matches(pattern, name), matches);
    }

    #[test]
    fn rules_display_for_reasons() {
        let rule = Rule::new(["", "apps"], ["pods"], ["get", "list"]).with_resource_names(["web"]);
        assert_eq!(alloc::format!("{rule}"), "get,list on core,apps/pods [web]");
        assert_eq!(alloc::format!("{}", Access::role("edit")), "role `edit`");
    }
}
