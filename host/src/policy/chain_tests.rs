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

fn abstain(name: &str, reason: &str) -> ModuleOutcome {
    outcome(
        name,
        ModuleResult::Decided {
            decision: Decision::Abstain {
                reason: reason.into(),
            },
        },
    )
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
#[case::abstain_is_skipped(vec![abstain("a", "not on call"), allow("b", grant(&[("ns", role("edit"))], 600))], verdict_allow(grant(&[("ns", role("edit"))], 600)))]
#[case::abstain_does_not_hide_a_deny(vec![abstain("a", "not on call"), deny("b", "frozen")], verdict_deny("module `b`: frozen"))]
#[case::abstain_beside_an_approval(vec![abstain("a", "not on call"), needs("b", approval("leads", grant(&[("ns", role("edit"))], 600)))], Verdict::NeedsApproval { approvals: vec![approval("leads", grant(&[("ns", role("edit"))], 600))], grant: grant(&[("ns", role("edit"))], 600) })]
#[case::every_module_abstains(vec![abstain("a", "not on call"), abstain("b", "not my team")], verdict_deny("every module abstained (module `a`: not on call; module `b`: not my team)"))]
#[case::the_only_module_abstains(vec![abstain("a", "not on call")], verdict_deny("every module abstained (module `a`: not on call)"))]
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
            because: Stop::Deny,
        },
    )
}

fn skipped_sufficient(name: &str, after: &str) -> ModuleOutcome {
    outcome(
        name,
        ModuleResult::Skipped {
            after: after.into(),
            because: Stop::Sufficient,
        },
    )
}

#[rstest]
#[case::skipped_after_a_deny(vec![deny("a", "not in sre"), skipped("b", "a")], verdict_deny("module `a`: not in sre"))]
#[case::skipped_after_a_failure(vec![failed("a", "module trapped"), skipped("b", "a"), skipped("c", "a")], verdict_deny("module `a` failed: module trapped"))]
#[case::skipped_without_a_deny_fails_closed(vec![allow("a", grant(&[("ns", role("edit"))], 600)), skipped("b", "a")], verdict_deny("module `b` did not run"))]
#[case::skipped_after_a_sufficient_allow(vec![allow("a", grant(&[("ns", role("edit"))], 600)), skipped_sufficient("b", "a")], verdict_allow(grant(&[("ns", role("edit"))], 600)))]
#[case::sufficient_after_an_approval_fails_closed(vec![needs("a", approval("leads", grant(&[("ns", role("edit"))], 600))), allow("b", grant(&[("ns", role("edit"))], 600)), skipped_sufficient("c", "b")], verdict_deny("module `c` did not run"))]
#[case::sufficient_without_an_allow_fails_closed(vec![abstain("a", "not mine"), skipped_sufficient("b", "a")], verdict_deny("module `b` did not run"))]
fn skipped_modules(#[case] modules: Vec<ModuleOutcome>, #[case] expected: Verdict) {
    assert_eq!(combine(3600, &modules), expected);
}

#[rstest]
#[case::decided_deny(deny("a", "no").result, true)]
#[case::failure(failed("a", "trap").result, true)]
#[case::allow(allow("a", grant(&[("ns", role("edit"))], 600)).result, false)]
#[case::needs_approval(needs("a", approval("leads", grant(&[("ns", role("edit"))], 600))).result, false)]
#[case::skipped(skipped("a", "b").result, false)]
#[case::abstain(abstain("a", "not mine").result, false)]
fn what_counts_as_a_deny(#[case] result: ModuleResult, #[case] denies: bool) {
    assert_eq!(result.denies(), denies);
}

/// What the entry under test (`a`) answers in the table below.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Allow,
    Deny,
    NeedsApproval,
    Abstain,
}

fn answer(name: &str, answer: Answer) -> ModuleOutcome {
    let edit = grant(&[("ns", role("edit"))], 600);
    match answer {
        Answer::Allow => allow(name, edit),
        Answer::Deny => deny(name, "no"),
        Answer::NeedsApproval => needs(name, approval("leads", edit)),
        Answer::Abstain => abstain(name, "not mine"),
    }
}

/// Runs a chain of `a` (answering `first`, with the controls) then `b` (answering `then`):
/// the verdict, and whether `b` ran.
fn two(on_deny: OnDeny, on_allow: OnAllow, first: Answer, then: Answer) -> (Verdict, bool) {
    let steps = [
        Step {
            name: "a",
            digest: "00",
            on_deny,
            on_allow,
        },
        Step {
            name: "b",
            digest: "00",
            on_deny: OnDeny::Continue,
            on_allow: OnAllow::Continue,
        },
    ];
    let modules = run(&steps, |index| match index {
        0 => answer("a", first),
        _ => answer("b", then),
    });
    let ran = !matches!(modules[1].result, ModuleResult::Skipped { .. });
    (combine(3600, &modules), ran)
}

fn edit_for_leads() -> Verdict {
    Verdict::NeedsApproval {
        approvals: vec![approval("leads", grant(&[("ns", role("edit"))], 600))],
        grant: grant(&[("ns", role("edit"))], 600),
    }
}

fn allowed_edit() -> Verdict {
    verdict_allow(grant(&[("ns", role("edit"))], 600))
}

/// Every cell of the table in `docs/policy-composition.md`: each control of the first entry
/// × its answer, followed by a module that denies (so a stop shows in the verdict) and by
/// one that allows.
#[rstest]
// on_deny = "continue" (the default): nothing ends the chain.
#[case::continue_allow(
    OnDeny::Continue,
    OnAllow::Continue,
    Answer::Allow,
    Answer::Deny,
    verdict_deny("module `b`: no"),
    true
)]
#[case::continue_deny(
    OnDeny::Continue,
    OnAllow::Continue,
    Answer::Deny,
    Answer::Deny,
    verdict_deny("module `a`: no; module `b`: no"),
    true
)]
#[case::continue_needs_approval(
    OnDeny::Continue,
    OnAllow::Continue,
    Answer::NeedsApproval,
    Answer::Allow,
    edit_for_leads(),
    true
)]
#[case::continue_abstain(
    OnDeny::Continue,
    OnAllow::Continue,
    Answer::Abstain,
    Answer::Allow,
    allowed_edit(),
    true
)]
// on_deny = "stop": a deny ends the chain, nothing else does.
#[case::stop_allow(
    OnDeny::Stop,
    OnAllow::Continue,
    Answer::Allow,
    Answer::Deny,
    verdict_deny("module `b`: no"),
    true
)]
#[case::stop_deny(
    OnDeny::Stop,
    OnAllow::Continue,
    Answer::Deny,
    Answer::Deny,
    verdict_deny("module `a`: no"),
    false
)]
#[case::stop_needs_approval(
    OnDeny::Stop,
    OnAllow::Continue,
    Answer::NeedsApproval,
    Answer::Deny,
    verdict_deny("module `b`: no"),
    true
)]
#[case::stop_abstain(
    OnDeny::Stop,
    OnAllow::Continue,
    Answer::Abstain,
    Answer::Deny,
    verdict_deny("module `b`: no"),
    true
)]
// on_allow = "sufficient": an allow ends the chain with that allow, nothing else does.
#[case::sufficient_allow(
    OnDeny::Continue,
    OnAllow::Sufficient,
    Answer::Allow,
    Answer::Deny,
    allowed_edit(),
    false
)]
#[case::sufficient_deny(
    OnDeny::Continue,
    OnAllow::Sufficient,
    Answer::Deny,
    Answer::Allow,
    verdict_deny("module `a`: no"),
    true
)]
#[case::sufficient_needs_approval(
    OnDeny::Continue,
    OnAllow::Sufficient,
    Answer::NeedsApproval,
    Answer::Allow,
    edit_for_leads(),
    true
)]
#[case::sufficient_abstain(
    OnDeny::Continue,
    OnAllow::Sufficient,
    Answer::Abstain,
    Answer::Deny,
    verdict_deny("module `b`: no"),
    true
)]
// Both on one entry: each answer ends the chain as its own control says.
#[case::both_allow(
    OnDeny::Stop,
    OnAllow::Sufficient,
    Answer::Allow,
    Answer::Deny,
    allowed_edit(),
    false
)]
#[case::both_deny(
    OnDeny::Stop,
    OnAllow::Sufficient,
    Answer::Deny,
    Answer::Allow,
    verdict_deny("module `a`: no"),
    false
)]
#[case::both_needs_approval(
    OnDeny::Stop,
    OnAllow::Sufficient,
    Answer::NeedsApproval,
    Answer::Allow,
    edit_for_leads(),
    true
)]
#[case::both_abstain(
    OnDeny::Stop,
    OnAllow::Sufficient,
    Answer::Abstain,
    Answer::Allow,
    allowed_edit(),
    true
)]
fn each_control_and_answer(
    #[case] on_deny: OnDeny,
    #[case] on_allow: OnAllow,
    #[case] first: Answer,
    #[case] then: Answer,
    #[case] expected: Verdict,
    #[case] then_runs: bool,
) {
    assert_eq!(
        two(on_deny, on_allow, first, then),
        (expected, then_runs),
        "{on_deny:?} {on_allow:?} {first:?} then {then:?}"
    );
}

/// A chain of three, the sufficient entry (`s`) last but one: what ran before it decides
/// whether its allow is enough.
fn before_sufficient(before: ModuleOutcome, sufficient: Grant) -> (Verdict, Vec<ModuleOutcome>) {
    let steps = [
        Step {
            name: "before",
            digest: "00",
            on_deny: OnDeny::Continue,
            on_allow: OnAllow::Continue,
        },
        Step {
            name: "s",
            digest: "00",
            on_deny: OnDeny::Continue,
            on_allow: OnAllow::Sufficient,
        },
        Step {
            name: "after",
            digest: "00",
            on_deny: OnDeny::Continue,
            on_allow: OnAllow::Continue,
        },
    ];
    let mut before = Some(before);
    let modules = run(&steps, |index| match index {
        0 => before.take().expect("decided once"),
        1 => allow("s", sufficient.clone()),
        _ => deny("after", "no"),
    });
    (combine(3600, &modules), modules)
}

#[test]
fn a_sufficient_allow_ends_the_chain_only_when_nothing_before_held_it() {
    let edit = grant(&[("ns", role("edit")), ("other", role("edit"))], 1800);
    let ran = |modules: &[ModuleOutcome]| {
        modules
            .iter()
            .filter(|m| !matches!(m.result, ModuleResult::Skipped { .. }))
            .count()
    };

    // An abstention before it holds nothing: the allow is enough, `after` is skipped.
    let (verdict, modules) = before_sufficient(abstain("before", "not mine"), edit.clone());
    assert_eq!(verdict, verdict_allow(edit.clone()));
    assert_eq!(
        modules[2].result,
        ModuleResult::Skipped {
            after: "s".into(),
            because: Stop::Sufficient
        }
    );

    // An allow before it narrows its grant: never more than an earlier module allowed.
    let narrow = grant(&[("ns", role("edit"))], 600);
    let (verdict, modules) = before_sufficient(allow("before", narrow.clone()), edit.clone());
    assert_eq!(verdict, verdict_allow(narrow));
    assert_eq!(ran(&modules), 2);

    // A deny (or a failure) before it: still a deny, and the chain goes on.
    let (verdict, modules) = before_sufficient(deny("before", "frozen"), edit.clone());
    assert_eq!(
        verdict,
        verdict_deny("module `before`: frozen; module `after`: no")
    );
    assert_eq!(ran(&modules), 3);
    let (verdict, _) = before_sufficient(failed("before", "module trapped"), edit.clone());
    assert_eq!(
        verdict,
        verdict_deny("module `before` failed: module trapped; module `after`: no")
    );

    // An approval asked for before it: still required, and the chain goes on.
    let leads = approval("leads", grant(&[("ns", role("edit"))], 900));
    let (verdict, modules) = before_sufficient(needs("before", leads), edit);
    assert_eq!(verdict, verdict_deny("module `after`: no"));
    assert_eq!(ran(&modules), 3);
}
