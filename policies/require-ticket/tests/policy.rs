//! `require-ticket` decided natively through the SDK's testing helper.

use require_ticket::RequireTicket;
use rstest::rstest;
use wicket_sdk::testing::{self, timestamp};
use wicket_sdk::{Access, AccessRequest, Approval, Decision, Grant, Identity};

const SETTINGS: &str = include_str!("fixtures/settings.json");

fn request(cluster: &str, namespace: &str, reason: &str) -> AccessRequest {
    AccessRequest::new(cluster, Access::role("edit"), 1800)
        .with_namespace(namespace)
        .with_reason(reason)
        .with_requested_at(timestamp("2026-11-23T10:00:00Z"))
}

fn decide(request: &AccessRequest) -> Decision {
    testing::evaluate::<RequireTicket>(SETTINGS, &Identity::new("alice", "https://idp"), request)
}

#[rstest]
#[case::incident(request("prod", "payments", "INC-1 down"))]
#[case::change_at_end(request("prod", "pay-api", "deploying CHG-77"))]
#[case::in_parentheses(request("prod", "payments", "fix (INC-12)"))]
#[case::context(request("prod", "payments", "down").with_context("ticket", "CHG-3"))]
#[case::out_of_scope_namespace(request("prod", "web", "no ticket"))]
#[case::out_of_scope_cluster(request("dev", "payments", "no ticket"))]
fn allowed_as_requested(#[case] request: AccessRequest) {
    assert_eq!(decide(&request), Decision::allow_as_requested(&request));
}

#[rstest]
#[case::no_ticket(request("prod", "payments", "payments are failing"))]
#[case::empty_reason(request("prod", "payments", ""))]
#[case::digits_missing(request("prod-us", "payments", "INC- soon"))]
#[case::other_prefix(request("prod", "pay-db", "JIRA-12"))]
#[case::bad_context(request("prod", "payments", "down").with_context("ticket", "n/a"))]
fn needs_approval_without_a_ticket(#[case] request: AccessRequest) {
    let expected = Approval::new(
        r"no ticket matching `\b(INC|CHG)-[0-9]+\b` in the reason or the `ticket` context value",
        Grant::from_request(&request),
    )
    .by_group("idp:sre-leads");
    assert_eq!(decide(&request), Decision::needs_approval(expected));
}

#[rstest]
#[case::unclosed(
    r#"{"ticket_pattern": "(INC", "approver_groups": ["l"]}"#,
    "`ticket_pattern` `(INC` is not a valid regular expression"
)]
#[case::empty_match(
    r#"{"ticket_pattern": "x?", "approver_groups": ["l"]}"#,
    "matches an empty reason"
)]
#[case::no_approvers(
    r#"{"ticket_pattern": "INC-1"}"#,
    "name `approver_groups` or `approver_subjects`"
)]
#[case::zero(
    r#"{"ticket_pattern": "INC-1", "approver_groups": ["l"], "approvals": 0}"#,
    "at least 1"
)]
#[case::missing_pattern(r#"{"approver_groups": ["l"]}"#, "missing field `ticket_pattern`")]
#[case::bad_namespace_pattern(
    r#"{"ticket_pattern": "INC-1", "approver_groups": ["l"], "namespaces": ["*a*"]}"#,
    "invalid settings: namespaces[0]: `*a*` is not a name or a pattern (`*` only at the end)"
)]
fn invalid_settings(#[case] settings: &str, #[case] message: &str) {
    let error = testing::validate::<RequireTicket>(settings).unwrap_err();
    assert!(error.contains(message), "{error}");
}

#[test]
fn cases_file_passes() {
    assert_eq!(
        testing::run_cases::<RequireTicket>(include_str!("../cases.json")),
        17
    );
}
