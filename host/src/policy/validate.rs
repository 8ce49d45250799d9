//! Checks that a module's decision is well formed before the host believes it. A malformed
//! decision is a deny with the diagnostic this module produces.

use std::collections::HashSet;

use super::within::{self, Wider};
use crate::domain::{Access, AccessRequest, Approval, Decision, Grant, Rule, is_dns1123_label};

/// Longest deny or approval reason, in bytes.
pub const MAX_REASON_BYTES: usize = 4096;
/// Longest name (role, verb, resource, group, subject...), in bytes.
pub const MAX_NAME_BYTES: usize = 253;
/// Most items in any list of a decision.
pub const MAX_ITEMS: usize = 256;

/// What is wrong with a decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// A grant lasting zero seconds.
    #[error("the grant's ttl_seconds is 0")]
    ZeroTtl,
    /// A grant with no namespaces and no cluster rules.
    #[error("the grant has no namespaces and no cluster rules")]
    EmptyGrant,
    /// A namespace that is not a DNS-1123 label.
    #[error("`{0}` is not a valid namespace name")]
    InvalidNamespace(String),
    /// The same namespace twice in one grant.
    #[error("namespace `{0}` appears twice in the grant")]
    DuplicateNamespace(String),
    /// An empty or unusable ClusterRole name.
    #[error("`{role}` in namespace `{namespace}` is not a valid role name")]
    InvalidRole {
        /// The namespace.
        namespace: String,
        /// The role.
        role: String,
    },
    /// A `rules` access with no rules.
    #[error("namespace `{0}` is granted an empty list of rules")]
    NoRules(String),
    /// A rule with an empty list where one entry is required.
    #[error("a rule has no {0}")]
    EmptyRuleField(&'static str),
    /// An empty or oversized name inside a rule or approval.
    #[error("a {field} entry `{value}` is empty, too long or holds control characters")]
    InvalidName {
        /// Which list.
        field: &'static str,
        /// The entry (cut to 64 characters).
        value: String,
    },
    /// An approval nobody can give.
    #[error("the approval requires no approver")]
    ZeroApprovals,
    /// An approval naming neither groups nor subjects.
    #[error("the approval names no approver groups or subjects")]
    NoApprovers,
    /// An approval with no reason.
    #[error("the approval gives no reason")]
    NoApprovalReason,
    /// A reason too long to show.
    #[error("the {field} is {len} bytes long, more than {MAX_REASON_BYTES}")]
    ReasonTooLong {
        /// Which reason.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A grant that gives more than the request asked for.
    #[error("the grant is wider than the request: {0}")]
    Wider(#[from] Wider),
    /// A list with too many entries.
    #[error("the decision lists {len} {field}, more than {MAX_ITEMS}")]
    TooMany {
        /// Which list.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}

/// Checks a decision on `request`; `Ok` means the host may act on it. A grant must be well
/// formed and within the request ([`within`]).
pub fn check(decision: &Decision, request: &AccessRequest) -> Result<(), Malformed> {
    match decision {
        Decision::Allow { grant } => {
            check_grant(grant)?;
            Ok(within::check(grant, request)?)
        }
        Decision::Deny { reason } => check_reason("deny reason", reason),
        Decision::Abstain { reason } => check_reason("abstain reason", reason),
        Decision::NeedsApproval { approval } => {
            check_approval(approval)?;
            Ok(within::check(&approval.grant, request)?)
        }
    }
}

fn check_approval(approval: &Approval) -> Result<(), Malformed> {
    if approval.count == 0 {
        return Err(Malformed::ZeroApprovals);
    }
    if approval.groups.is_empty() && approval.subjects.is_empty() {
        return Err(Malformed::NoApprovers);
    }
    if approval.reason.trim().is_empty() {
        return Err(Malformed::NoApprovalReason);
    }
    check_reason("approval reason", &approval.reason)?;
    check_names("approver groups", &approval.groups)?;
    check_names("approver subjects", &approval.subjects)?;
    if usize::try_from(approval.count).unwrap_or(usize::MAX) > MAX_ITEMS {
        return Err(Malformed::TooMany {
            field: "required approvals",
            len: approval.count as usize,
        });
    }
    check_grant(&approval.grant)
}

fn check_grant(grant: &Grant) -> Result<(), Malformed> {
    if grant.ttl_seconds == 0 {
        return Err(Malformed::ZeroTtl);
    }
    if grant.namespaces.is_empty() && grant.cluster_rules.is_empty() {
        return Err(Malformed::EmptyGrant);
    }
    check_count("namespaces", grant.namespaces.len())?;
    let mut seen = HashSet::new();
    for ns in &grant.namespaces {
        if !is_dns1123_label(&ns.namespace) {
            return Err(Malformed::InvalidNamespace(cut(&ns.namespace)));
        }
        if !seen.insert(ns.namespace.as_str()) {
            return Err(Malformed::DuplicateNamespace(ns.namespace.clone()));
        }
        match &ns.access {
            Access::Role(role) => {
                if !is_role_name(role) {
                    return Err(Malformed::InvalidRole {
                        namespace: ns.namespace.clone(),
                        role: cut(role),
                    });
                }
            }
            Access::Rules(rules) => {
                if rules.is_empty() {
                    return Err(Malformed::NoRules(ns.namespace.clone()));
                }
                check_rules(rules)?;
            }
        }
    }
    check_rules(&grant.cluster_rules)
}

fn check_rules(rules: &[Rule]) -> Result<(), Malformed> {
    check_count("rules", rules.len())?;
    for rule in rules {
        if rule.api_groups.is_empty() {
            return Err(Malformed::EmptyRuleField("api_groups"));
        }
        if rule.resources.is_empty() {
            return Err(Malformed::EmptyRuleField("resources"));
        }
        if rule.verbs.is_empty() {
            return Err(Malformed::EmptyRuleField("verbs"));
        }
        check_count("api_groups", rule.api_groups.len())?;
        // `""` is the core API group: the only list where an empty entry is meaningful.
        for group in &rule.api_groups {
            if group.len() > MAX_NAME_BYTES || group.chars().any(char::is_control) {
                return Err(Malformed::InvalidName {
                    field: "api_groups",
                    value: cut(group),
                });
            }
        }
        check_names("resources", &rule.resources)?;
        check_names("verbs", &rule.verbs)?;
        check_names("resource_names", &rule.resource_names)?;
    }
    Ok(())
}

fn check_names(field: &'static str, names: &[String]) -> Result<(), Malformed> {
    check_count(field, names.len())?;
    match names
        .iter()
        .find(|n| n.is_empty() || n.len() > MAX_NAME_BYTES || n.chars().any(char::is_control))
    {
        Some(bad) => Err(Malformed::InvalidName {
            field,
            value: cut(bad),
        }),
        None => Ok(()),
    }
}

fn check_count(field: &'static str, len: usize) -> Result<(), Malformed> {
    if len > MAX_ITEMS {
        return Err(Malformed::TooMany { field, len });
    }
    Ok(())
}

pub(crate) fn check_reason(field: &'static str, reason: &str) -> Result<(), Malformed> {
    if reason.len() > MAX_REASON_BYTES {
        return Err(Malformed::ReasonTooLong {
            field,
            len: reason.len(),
        });
    }
    Ok(())
}

/// A ClusterRole name Kubernetes accepts (a path segment name, at most 253 bytes).
fn is_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name != "."
        && name != ".."
        && !name.contains(['/', '%'])
        && !name.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The first 64 characters of `value`, for error messages.
fn cut(value: &str) -> String {
    value.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::domain::NamespaceGrant;

    fn rule(verbs: &[&str]) -> Rule {
        Rule {
            api_groups: vec![String::new()],
            resources: vec!["pods".into()],
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            resource_names: vec![],
        }
    }

    fn grant(namespaces: &[(&str, Access)], ttl: u64) -> Grant {
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

    fn allow(grant: Grant) -> Decision {
        Decision::Allow { grant }
    }

    fn approval(count: u32, groups: &[&str], reason: &str) -> Decision {
        Decision::NeedsApproval {
            approval: Approval {
                groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                subjects: vec![],
                count,
                reason: reason.into(),
                grant: grant(&[("payments", Access::Role("edit".into()))], 60),
            },
        }
    }

    #[rstest]
    #[case::role(allow(grant(&[("payments", Access::Role("edit".into()))], 60)))]
    #[case::rules(allow(grant(&[("payments", Access::Rules(vec![rule(&["get"])]))], 60)))]
    #[case::only_cluster_rules(allow(Grant { namespaces: vec![], cluster_rules: vec![rule(&["list"])], ttl_seconds: 1 }))]
    #[case::deny(Decision::Deny { reason: "no".into() })]
    #[case::abstain(Decision::Abstain { reason: "not on call".into() })]
    #[case::approval(approval(2, &["leads"], "prod needs a second pair of eyes"))]
    fn well_formed_decisions_pass(#[case] decision: Decision) {
        assert_eq!(check(&decision, &asked_for(&decision)), Ok(()));
    }

    /// A request asking for exactly what `decision` grants.
    fn asked_for(decision: &Decision) -> AccessRequest {
        let grant = match decision {
            Decision::Allow { grant } => grant.clone(),
            Decision::NeedsApproval { approval } => approval.grant.clone(),
            Decision::Deny { .. } | Decision::Abstain { .. } => grant(&[], 1),
        };
        AccessRequest {
            id: "r1".into(),
            cluster: "prod".into(),
            namespaces: grant
                .namespaces
                .iter()
                .map(|n| n.namespace.clone())
                .collect(),
            access: grant
                .namespaces
                .first()
                .map_or(Access::Rules(vec![]), |n| n.access.clone()),
            cluster_rules: grant.cluster_rules.clone(),
            duration_seconds: 60,
            reason: "why".into(),
            context: Default::default(),
            requested_at: jiff::Timestamp::UNIX_EPOCH,
            evaluated_at: jiff::Timestamp::UNIX_EPOCH,
            extends: None,
        }
    }

    #[test]
    fn a_grant_wider_than_the_request_is_malformed() {
        let asked = asked_for(&allow(grant(
            &[("payments", Access::Role("view".into()))],
            60,
        )));
        let wider = allow(grant(&[("payments", Access::Role("admin".into()))], 60));
        assert!(matches!(check(&wider, &asked), Err(Malformed::Wider(_))));
        let approval = approval(1, &["leads"], "why");
        assert!(matches!(check(&approval, &asked), Err(Malformed::Wider(_))));
    }

    #[rstest]
    #[case::zero_ttl(allow(grant(&[("payments", Access::Role("edit".into()))], 0)), Malformed::ZeroTtl)]
    #[case::empty_grant(allow(grant(&[], 60)), Malformed::EmptyGrant)]
    #[case::uppercase_namespace(allow(grant(&[("Payments", Access::Role("edit".into()))], 60)), Malformed::InvalidNamespace("Payments".into()))]
    #[case::empty_namespace(allow(grant(&[("", Access::Role("edit".into()))], 60)), Malformed::InvalidNamespace(String::new()))]
    #[case::duplicate_namespace(allow(grant(&[("a", Access::Role("edit".into())), ("a", Access::Role("view".into()))], 60)), Malformed::DuplicateNamespace("a".into()))]
    #[case::empty_role(allow(grant(&[("a", Access::Role(String::new()))], 60)), Malformed::InvalidRole { namespace: "a".into(), role: String::new() })]
    #[case::slash_role(allow(grant(&[("a", Access::Role("x/y".into()))], 60)), Malformed::InvalidRole { namespace: "a".into(), role: "x/y".into() })]
    #[case::no_rules(allow(grant(&[("a", Access::Rules(vec![]))], 60)), Malformed::NoRules("a".into()))]
    #[case::empty_verbs(allow(grant(&[("a", Access::Rules(vec![rule(&[])]))], 60)), Malformed::EmptyRuleField("verbs"))]
    #[case::empty_verb(allow(grant(&[("a", Access::Rules(vec![rule(&[""])]))], 60)), Malformed::InvalidName { field: "verbs", value: String::new() })]
    #[case::zero_approvals(approval(0, &["leads"], "why"), Malformed::ZeroApprovals)]
    #[case::no_approvers(approval(1, &[], "why"), Malformed::NoApprovers)]
    #[case::no_approval_reason(approval(1, &["leads"], " "), Malformed::NoApprovalReason)]
    #[case::huge_reason(Decision::Deny { reason: "x".repeat(MAX_REASON_BYTES + 1) }, Malformed::ReasonTooLong { field: "deny reason", len: MAX_REASON_BYTES + 1 })]
    #[case::huge_abstain_reason(Decision::Abstain { reason: "x".repeat(MAX_REASON_BYTES + 1) }, Malformed::ReasonTooLong { field: "abstain reason", len: MAX_REASON_BYTES + 1 })]
    #[case::too_many_namespaces(allow(grant(&vec![("a", Access::Role("edit".into())); MAX_ITEMS + 1], 60)), Malformed::TooMany { field: "namespaces", len: MAX_ITEMS + 1 })]
    fn malformed_decisions_are_caught(#[case] decision: Decision, #[case] expected: Malformed) {
        assert_eq!(check(&decision, &asked_for(&decision)), Err(expected));
    }
}
