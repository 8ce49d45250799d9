//! Table tests of [`super::combine`]: how module decisions make a verdict.

use std::time::Duration;

use rstest::rstest;

use super::*;
use crate::domain::{Access, NamespaceGrant, Rule};
use crate::policy::sandbox::Output;

fn outcome(name: &str, result: ModuleResult) -> ModuleOutcome {
    ModuleOutcome {
        name: name.into(),
        digest: "00".into(),
        result,
        duration: Duration::ZERO,
        output: Output::default(),
    }
}

fn grant(namespaces: &[(&str, Access)], ttl: u64) -> Grant {
    Grant {
        namespaces: namespaces
            .iter()
            .map(|(ns, access)| NamespaceGrant {
                namespace: (*ns).into(),
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

fn pods(verbs: &[&str]) -> Access {
    Access::Rules(vec![Rule {
        api_groups: vec![String::new()],
        resources: vec!["pods".into()],
        verbs: verbs.iter().map(|v| (*v).into()).collect(),
        resource_names: vec![],
    }])
}

fn allow(name: &str, grant: Grant) -> ModuleOutcome {
    outcome(
        name,
        ModuleResult::Decided {
            decision: Decision::Allow { grant },
        },
    )
}

fn deny(name: &str, reason: &str) -> ModuleOutcome {
    outcome(
        name,
        ModuleResult::Decided {
            decision: Decision::Deny {
                reason: reason.into(),
            },
        },
    )
}

fn failed(name: &str, error: &str) -> ModuleOutcome {
    outcome(
        name,
        ModuleResult::Failed {
            error: error.into(),
            returned: None,
        },
    )
}

fn approval(group: &str, grant: Grant) -> Approval {
    Approval {
        groups: vec![group.into()],
        subjects: vec![],
        count: 1,
        reason: format!("{group} must agree"),
        grant,
    }
}

fn needs(name: &str, approval: Approval) -> ModuleOutcome {
    outcome(
        name,
        ModuleResult::Decided {
            decision: Decision::NeedsApproval { approval },
        },
    )
}

fn verdict_allow(grant: Grant) -> Verdict {
    Verdict::Allow { grant }
}

fn verdict_deny(reason: &str) -> Verdict {
    Verdict::Deny {
        reason: reason.into(),
    }
}

#[rstest]
#[case::single_allow(vec![allow("a", grant(&[("ns", role("edit"))], 600))], verdict_allow(grant(&[("ns", role("edit"))], 600)))]
#[case::ttl_capped_by_request(vec![allow("a", grant(&[("ns", role("edit"))], 7200))], verdict_allow(grant(&[("ns", role("edit"))], 3600)))]
#[case::ttl_is_minimum(vec![allow("a", grant(&[("ns", role("edit"))], 600)), allow("b", grant(&[("ns", role("edit"))], 300))], verdict_allow(grant(&[("ns", role("edit"))], 300)))]
#[case::deny_overrides_allow(vec![allow("a", grant(&[("ns", role("edit"))], 600)), deny("b", "frozen")], verdict_deny("module `b`: frozen"))]
#[case::deny_overrides_approval(vec![needs("a", approval("leads", grant(&[("ns", role("edit"))], 600))), deny("b", "frozen")], verdict_deny("module `b`: frozen"))]
#[case::every_deny_reason(vec![deny("a", "no ticket"), deny("b", "frozen")], verdict_deny("module `a`: no ticket; module `b`: frozen"))]
#[case::failure_is_deny(vec![allow("a", grant(&[("ns", role("edit"))], 600)), failed("b", "deadline of 100 ms exceeded")], verdict_deny("module `b` failed: deadline of 100 ms exceeded"))]
#[case::namespaces_in_all(vec![allow("a", grant(&[("x", role("view")), ("y", role("view"))], 600)), allow("b", grant(&[("y", role("view")), ("z", role("view"))], 600))], verdict_allow(grant(&[("y", role("view"))], 600)))]
#[case::rules_narrowed(vec![allow("a", grant(&[("ns", pods(&["get", "list", "delete"]))], 600)), allow("b", grant(&[("ns", pods(&["*"]))], 600)), allow("c", grant(&[("ns", pods(&["get", "watch"]))], 600))], verdict_allow(grant(&[("ns", pods(&["get"]))], 600)))]
#[case::different_roles_conflict(vec![allow("a", grant(&[("ns", role("edit"))], 600)), allow("b", grant(&[("ns", role("view"))], 600))], verdict_deny("module `b` conflicts with the modules before it: in namespace `ns`, role `edit` and role `view` cannot be narrowed to a common grant"))]
#[case::role_vs_rules_conflict(vec![allow("a", grant(&[("ns", pods(&["get"]))], 600)), allow("b", grant(&[("ns", role("view"))], 600))], verdict_deny("module `b` conflicts with the modules before it: in namespace `ns`, 1 explicit rule(s) and role `view` cannot be narrowed to a common grant"))]
#[case::nothing_in_common(vec![allow("a", grant(&[("x", role("view"))], 600)), allow("b", grant(&[("y", role("view"))], 600))], verdict_deny("the modules' grants have nothing in common"))]
fn combining_decisions(#[case] modules: Vec<ModuleOutcome>, #[case] expected: Verdict) {
    assert_eq!(combine(3600, &modules), expected);
}

#[test]
fn every_approval_is_required_and_the_grant_narrowed() {
    let leads = approval(
        "leads",
        grant(&[("ns", role("edit")), ("other", role("edit"))], 900),
    );
    let security = approval("security", grant(&[("ns", role("edit"))], 1800));
    let modules = vec![
        needs("a", leads.clone()),
        allow("b", grant(&[("ns", role("edit"))], 600)),
        needs("c", security.clone()),
    ];
    assert_eq!(
        combine(3600, &modules),
        Verdict::NeedsApproval {
            approvals: vec![leads, security],
            grant: grant(&[("ns", role("edit"))], 600),
        }
    );
}

fn skipped(name: &str, after: &str) -> ModuleOutcome {
    outcome(
        name,
        ModuleResult::Skipped {
            after: after.into(),
        },
    )
}

#[rstest]
#[case::skipped_after_a_deny(vec![deny("a", "not in sre"), skipped("b", "a")], verdict_deny("module `a`: not in sre"))]
#[case::skipped_after_a_failure(vec![failed("a", "module trapped"), skipped("b", "a"), skipped("c", "a")], verdict_deny("module `a` failed: module trapped"))]
#[case::skipped_without_a_deny_fails_closed(vec![allow("a", grant(&[("ns", role("edit"))], 600)), skipped("b", "a")], verdict_deny("module `b` did not run"))]
fn skipped_modules(#[case] modules: Vec<ModuleOutcome>, #[case] expected: Verdict) {
    assert_eq!(combine(3600, &modules), expected);
}

#[rstest]
#[case::decided_deny(deny("a", "no").result, true)]
#[case::failure(failed("a", "trap").result, true)]
#[case::allow(allow("a", grant(&[("ns", role("edit"))], 600)).result, false)]
#[case::needs_approval(needs("a", approval("leads", grant(&[("ns", role("edit"))], 600))).result, false)]
#[case::skipped(skipped("a", "b").result, false)]
fn what_counts_as_a_deny(#[case] result: ModuleResult, #[case] denies: bool) {
    assert_eq!(result.denies(), denies);
}
