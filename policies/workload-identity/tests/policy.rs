//! `workload-identity` decided natively through the SDK's testing helper.

use rstest::rstest;
use wicket_sdk::testing::{self, timestamp};
use wicket_sdk::{Access, AccessRequest, Decision, Grant, Identity, Rule};
use workload_identity::WorkloadIdentity;

const SETTINGS: &str = include_str!("fixtures/settings.json");
const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn job(git_ref: &str) -> Identity {
    Identity::new("repo:octo/payments:environment:prod", GITHUB)
        .with_claim("repository", "octo/payments")
        .with_claim("ref", git_ref)
        .with_claim("environment", "prod")
}

fn ask(cluster: &str, namespace: &str, access: Access, seconds: u64) -> AccessRequest {
    AccessRequest::new(cluster, access, seconds)
        .with_namespace(namespace)
        .with_requested_at(timestamp("2026-11-23T10:00:00Z"))
}

fn read_deployments() -> Access {
    Access::rules([Rule::new(["apps"], ["deployments"], ["list"])])
}

#[rstest]
#[case::deploy_capped(
    job("refs/heads/main"),
    ask("prod", "payments", Access::role("edit"), 3600),
    600
)]
#[case::deploy_short(
    job("refs/heads/main"),
    ask("prod", "payments", Access::role("edit"), 30),
    30
)]
#[case::any_branch_reads(
    job("refs/tags/v1"),
    ask("staging", "payments", read_deployments(), 3600),
    300
)]
#[case::best_entry_wins(
    job("refs/heads/main"),
    ask("prod", "payments", read_deployments(), 3600),
    300
)]
#[case::human(Identity::new("alice", "https://idp").with_group("idp:sre"), ask("prod", "kube-system", Access::role("admin"), 3600), 3600)]
fn allowed_never_wider_than_asked(
    #[case] who: Identity,
    #[case] request: AccessRequest,
    #[case] ttl: u64,
) {
    let decision = testing::evaluate::<WorkloadIdentity>(SETTINGS, &who, &request);
    assert_eq!(
        decision,
        Decision::allow(Grant::from_request(&request).ttl_seconds(ttl))
    );
}

#[rstest]
#[case::tag_cannot_edit(
    job("refs/tags/v1"),
    ask("prod", "payments", Access::role("edit"), 60),
    "workload `payments-ci-read` may not have role `edit`"
)]
#[case::wrong_cluster(
    job("refs/heads/main"),
    ask("dev", "payments", Access::role("edit"), 60),
    "may not have cluster `dev`"
)]
#[case::wrong_namespace(
    job("refs/heads/main"),
    ask("prod", "orders", Access::role("edit"), 60),
    "may not have namespace `orders`"
)]
#[case::write_rule(job("refs/tags/v1"), ask("prod", "payments", Access::rules([Rule::new([""], ["pods"], ["delete"])]), 60), "may not have rules `delete on core/pods`")]
#[case::unknown_repository(Identity::new("repo:octo/x", GITHUB).with_claim("repository", "octo/x"), ask("prod", "payments", Access::role("view"), 60), "workload `repo:octo/x` of issuer `https://token.actions.githubusercontent.com` matches no configured workload")]
#[case::claim_missing(
    Identity::new("repo:octo/payments", GITHUB),
    ask("prod", "payments", Access::role("view"), 60),
    "matches no configured workload"
)]
#[case::kubernetes_default_sa(
    Identity::new(
        "system:serviceaccount:default:default",
        "https://kubernetes.default.svc"
    ),
    ask("prod", "payments", Access::role("view"), 60),
    "matches no configured workload"
)]
fn denied(#[case] who: Identity, #[case] request: AccessRequest, #[case] reason: &str) {
    match testing::evaluate::<WorkloadIdentity>(SETTINGS, &who, &request) {
        Decision::Deny { reason: actual } => assert!(actual.contains(reason), "{actual}"),
        other => panic!("expected deny, got {other:?}"),
    }
}

/// Without `humans`, a person is not this policy's concern: it abstains (and a chain in which
/// every module abstains denies), so joining a chain never lets people through by itself.
#[test]
fn humans_are_another_policys_concern_by_default() {
    let settings = SETTINGS.replace(r#""humans": "allow","#, "");
    assert_ne!(settings, SETTINGS);
    let decision = testing::evaluate::<WorkloadIdentity>(
        &settings,
        &Identity::new("alice", "https://idp"),
        &ask("prod", "payments", Access::role("view"), 60),
    );
    assert_eq!(
        decision,
        Decision::abstain(
            "issuer `https://idp` is not a workload issuer: people are another policy's concern"
        )
    );
}

#[test]
fn humans_denied_when_configured() {
    let settings = SETTINGS.replace(r#""humans": "allow""#, r#""humans": "deny""#);
    assert_ne!(settings, SETTINGS);
    let decision = testing::evaluate::<WorkloadIdentity>(
        &settings,
        &Identity::new("alice", "https://idp"),
        &ask("prod", "payments", Access::role("view"), 60),
    );
    assert_eq!(
        decision,
        Decision::deny(
            "only workloads may request access; issuer `https://idp` is not a workload issuer"
        )
    );
}

#[rstest]
#[case::unpinned(r#"{"workloads": [{"name": "a", "issuer": "i", "clusters": ["p"], "namespaces": ["n"], "roles": ["view"]}]}"#, "invalid settings: workloads[0] (`a`): neither `subject` nor `claims`")]
#[case::no_name(r#"{"workloads": [{"name": "", "issuer": "i", "subject": "s", "clusters": ["p"], "namespaces": ["n"], "roles": ["view"]}]}"#, "`name` is empty")]
#[case::nothing_to_grant(r#"{"workloads": [{"name": "a", "issuer": "i", "subject": "s", "clusters": ["p"], "namespaces": ["n"]}]}"#, "neither `roles` nor `rules`")]
#[case::zero_ttl(r#"{"workloads": [{"name": "a", "issuer": "i", "subject": "s", "clusters": ["p"], "namespaces": ["n"], "roles": ["view"], "max_ttl_seconds": 0}]}"#, "invalid settings: workloads[0].max_ttl_seconds: `0s` is too short")]
#[case::bad_ttl(r#"{"workloads": [{"name": "a", "issuer": "i", "subject": "s", "clusters": ["p"], "namespaces": ["n"], "roles": ["view"], "max_ttl": "1y"}]}"#, "invalid settings: workloads[0].max_ttl: duration `1y` uses months or years")]
#[case::empty_issuer(
    r#"{"workload_issuers": [""]}"#,
    "invalid settings: workload_issuers[0]: an issuer is empty"
)]
#[case::unknown_field(r#"{"workloads": [], "human": "deny"}"#, "unknown field `human`")]
fn invalid_settings(#[case] settings: &str, #[case] message: &str) {
    let error = testing::validate::<WorkloadIdentity>(settings).unwrap_err();
    assert!(error.contains(message), "{error}");
}

#[rstest]
#[case::duration(r#""max_ttl": "1d""#, 86_400)]
#[case::older_key(r#""max_ttl_seconds": 600"#, 600)]
#[case::default(r#""cluster_rules": []"#, 900)]
fn the_max_ttl_is_a_duration_and_the_older_key_still_reads(#[case] ttl: &str, #[case] capped: u64) {
    let settings = format!(
        r#"{{"workloads": [{{"name": "a", "issuer": "i", "subject": "s", "clusters": ["p"], "namespaces": ["n"], "roles": ["view"], {ttl}}}]}}"#
    );
    let request = ask("p", "n", Access::role("view"), 200_000);
    assert_eq!(
        testing::evaluate::<WorkloadIdentity>(&settings, &Identity::new("s", "i"), &request),
        Decision::allow(Grant::from_request(&request).ttl_seconds(capped))
    );
}

#[test]
fn cases_file_passes() {
    assert_eq!(
        testing::run_cases::<WorkloadIdentity>(include_str!("../cases.json")),
        17
    );
}
