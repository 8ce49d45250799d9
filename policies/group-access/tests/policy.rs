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
    "allow[0].groups: is empty"
)]
#[case::no_clusters(
    r#"{"allow": [{"groups": ["g"], "clusters": [], "namespaces": ["*"], "roles": ["view"]}]}"#,
    "allow[0].clusters: is empty"
)]
#[case::grants_nothing(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"]}]}"#,
    "allow[0]: `namespaces` are listed but neither `roles` nor `rules`"
)]
#[case::no_scope(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "roles": ["view"]}]}"#,
    "allow[0]: neither `namespaces` nor `cluster_rules` is given, so nothing is allowed"
)]
#[case::role_pattern(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"], "roles": ["*"]}]}"#,
    "allow[0].roles[0]: `*` is not a role name (roles are exact names)"
)]
#[case::empty_verbs(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"], "rules": [{"api_groups": [""], "resources": ["pods"], "verbs": []}]}]}"#,
    "allow[0].rules[0]: rule ` on core/pods` has an empty list"
)]
#[case::zero_ttl(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"], "roles": ["view"], "max_ttl_seconds": 0}]}"#,
    "allow[0].max_ttl_seconds: `0s` is too short: a maximum TTL is at least one second"
)]
#[case::bad_ttl(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p"], "namespaces": ["*"], "roles": ["view"]}, {"groups": ["g"], "clusters": ["p"], "namespaces": ["*"], "roles": ["view"], "max_ttl": true}]}"#,
    "allow[1].max_ttl: invalid type: boolean `true`, expected a duration such as"
)]
#[case::pattern(
    r#"{"allow": [{"groups": ["g"], "clusters": ["p", "a*b"], "namespaces": ["*"], "roles": ["view"]}]}"#,
    "allow[0].clusters[1]: `a*b` is not a name or a pattern (`*` only at the end)"
)]
#[case::not_json("{", "EOF while parsing an object at line 1 column 1")]
fn invalid_settings_are_rejected_naming_the_field(#[case] settings: &str, #[case] message: &str) {
    let error = testing::validate::<GroupAccess>(settings).unwrap_err();
    assert!(
        error.starts_with(&format!("invalid settings: {message}")),
        "{error}"
    );
    let request = ask("p", &["x"], Access::role("view"), 60);
    assert!(matches!(
        testing::evaluate::<GroupAccess>(settings, &person(&["g"]), &request),
        Decision::Deny { .. }
    ));
}

/// The settings as the host writes a TOML inline table: compact JSON. A type error names the
/// field, never a position in that text.
#[test]
fn a_type_error_in_host_written_settings_names_the_field_not_a_column() {
    let toml_table = r#"{"allow":[{"clusters":["prod"],"groups":["idp:sre"],"max_ttl":"1h","namespaces":"payments","roles":["view"]}]}"#;
    let error = testing::validate::<GroupAccess>(toml_table).unwrap_err();
    assert_eq!(
        error,
        "invalid settings: allow[0].namespaces: invalid type: string \"payments\", expected a sequence"
    );
}

#[rstest]
#[case::hour(r#""max_ttl": "1h""#, 3600)]
#[case::day(r#""max_ttl": "1d""#, 86_400)]
#[case::minutes(r#""max_ttl": "90m""#, 5400)]
#[case::seconds(r#""max_ttl": 120"#, 120)]
#[case::older_key(r#""max_ttl_seconds": 600"#, 600)]
#[case::default(r#""cluster_rules": []"#, 3600)]
fn the_max_ttl_is_a_duration_and_the_older_key_still_reads(#[case] ttl: &str, #[case] capped: u64) {
    let settings = format!(
        r#"{{"allow": [{{"groups": ["idp:sre"], "clusters": ["prod"], "namespaces": ["payments"], "roles": ["view"], {ttl}}}]}}"#
    );
    let request = ask("prod", &["payments"], Access::role("view"), 200_000);
    assert_eq!(
        testing::evaluate::<GroupAccess>(&settings, &person(&["idp:sre"]), &request),
        Decision::allow(Grant::from_request(&request).ttl_seconds(capped))
    );
}

#[test]
fn cases_file_passes() {
    assert_eq!(
        testing::run_cases::<GroupAccess>(include_str!("../cases.json")),
        23
    );
}
