//! `group-access` decided natively through the SDK's testing helper.

use group_access::GroupAccess;
use rstest::rstest;
use wicket_sdk::testing::{self, timestamp};
use wicket_sdk::{Access, AccessRequest, Decision, Grant, Identity, Rule};

const SETTINGS: &str = include_str!("fixtures/settings.json");

fn person(groups: &[&str]) -> Identity {
    groups.iter().fold(
        Identity::new("alice", "https://idp.example.com"),
        |who, g| who.with_group(*g),
    )
}

fn ask(cluster: &str, namespaces: &[&str], access: Access, seconds: u64) -> AccessRequest {
    namespaces
        .iter()
        .fold(AccessRequest::new(cluster, access, seconds), |r, ns| {
            r.with_namespace(*ns)
        })
        .with_requested_at(timestamp("2026-11-23T10:00:00Z"))
}

fn pods(verbs: &[&str]) -> Rule {
    Rule::new([""], ["pods"], verbs.iter().copied())
}

#[rstest]
#[case::sre_edit_as_requested(&["idp:sre"], ask("prod", &["payments"], Access::role("edit"), 1800), 1800)]
#[case::capped(&["idp:sre"], ask("staging", &["team-a"], Access::role("view"), 90_000), 3600)]
#[case::second_group_counts(&["idp:nobody", "idp:sre"], ask("prod", &["payments"], Access::role("view"), 60), 60)]
#[case::wildcard_namespace_entry(&["idp:sre"], ask("prod", &["kube-system"], Access::role("view"), 3600), 900)]
#[case::rule_subset(&["idp:developers"], ask("staging", &["team-a"], Access::rules([pods(&["get"])]), 600), 600)]
#[case::cluster_rules_only(&["idp:sre"], ask("prod", &[], Access::role("view"), 600).with_cluster_rule(Rule::new([""], ["nodes"], ["get"])), 600)]
fn allowed_exactly_as_requested(
    #[case] groups: &[&str],
    #[case] request: AccessRequest,
    #[case] ttl: u64,
) {
    let decision = testing::evaluate::<GroupAccess>(SETTINGS, &person(groups), &request);
    assert_eq!(
        decision,
        Decision::allow(Grant::from_request(&request).ttl_seconds(ttl))
    );
}

#[rstest]
#[case::no_groups(&[], ask("prod", &["payments"], Access::role("view"), 60), "none of your groups is allowed any access")]
#[case::other_cluster(&["idp:developers"], ask("prod", &["team-a"], Access::role("view"), 60), "your groups may not request access to cluster `prod`")]
#[case::namespace(&["idp:sre"], ask("staging", &["kube-system"], Access::role("view"), 60), "namespace `kube-system` on cluster `staging` is not allowed for your groups")]
#[case::role(&["idp:sre"], ask("prod", &["payments"], Access::role("admin"), 60), "role `admin` is not allowed for your groups in namespaces `payments` on cluster `prod`")]
#[case::wider_verbs(&["idp:developers"], ask("staging", &["team-a"], Access::rules([pods(&["delete"])]), 60), "rules `delete on core/pods` are not allowed")]
#[case::wildcard_verbs(&["idp:developers"], ask("staging", &["team-a"], Access::rules([pods(&["*"])]), 60), "rules `* on core/pods` are not allowed")]
#[case::edit_beyond_the_view_entry(&["idp:sre"], ask("prod", &["payments", "kube-system"], Access::role("edit"), 60), "role `edit` is not allowed for your groups in namespaces `payments`, `kube-system` on cluster `prod`")]
#[case::cluster_rule(&["idp:sre"], ask("staging", &["payments"], Access::role("view"), 60).with_cluster_rule(Rule::new([""], ["nodes"], ["get"])), "cluster rules `get on core/nodes` are not allowed for your groups on cluster `staging`")]
fn denied_with_what_was_not_covered(
    #[case] groups: &[&str],
    #[case] request: AccessRequest,
    #[case] reason: &str,
) {
    match testing::evaluate::<GroupAccess>(SETTINGS, &person(groups), &request) {
        Decision::Deny { reason: actual } => assert!(actual.contains(reason), "{actual}"),
        other => panic!("expected deny, got {other:?}"),
    }
}

#[rstest]
#[case::empty_groups(
    r#"{"allow": [{"groups": [], "clusters": ["p"], "namespaces": ["*"], "roles": ["view"]}]}"#,
    "`allow[0]`: `groups` is empty"
)]
#[case::no_clusters(
    r#"{"allow": [{"groups": ["g"], "clusters": [], "namespaces": ["*"], "roles": ["view"]}]}"#,
    "`clusters` is empty"
)]
#[case::grants_nothing(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"]}]}"#,
    "neither `roles` nor `rules`"
)]
#[case::no_scope(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "roles": ["view"]}]}"#,
    "neither namespaces nor cluster rules"
)]
#[case::role_pattern(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"], "roles": ["*"]}]}"#,
    "roles are exact names"
)]
#[case::empty_verbs(r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"], "rules": [{"api_groups": [""], "resources": ["pods"], "verbs": []}]}]}"#, "has an empty list")]
#[case::zero_ttl(r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"], "roles": ["view"], "max_ttl_seconds": 0}]}"#, "`max_ttl_seconds` must be more than zero")]
#[case::not_json("{", "invalid settings: EOF")]
fn invalid_settings_are_rejected(#[case] settings: &str, #[case] message: &str) {
    let error = testing::validate::<GroupAccess>(settings).unwrap_err();
    assert!(error.contains(message), "{error}");
    let request = ask("p", &["x"], Access::role("view"), 60);
    assert!(matches!(
        testing::evaluate::<GroupAccess>(settings, &person(&["g"]), &request),
        Decision::Deny { .. }
    ));
}

#[test]
fn cases_file_passes() {
    assert_eq!(
        testing::run_cases::<GroupAccess>(include_str!("../cases.json")),
        23
    );
}
