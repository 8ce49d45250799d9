//! `change-window` decided natively through the SDK's testing helper.

use change_window::ChangeWindow;
use rstest::rstest;
use wicket_sdk::testing::{self, timestamp};
use wicket_sdk::{Access, AccessRequest, Decision, Grant, Identity};

const SETTINGS: &str = include_str!("fixtures/settings.json");

fn at(cluster: &str, when: &str, seconds: u64) -> AccessRequest {
    AccessRequest::new(cluster, Access::role("edit"), seconds)
        .with_namespace("payments")
        .with_requested_at(timestamp(when))
}

fn decide(settings: &str, request: &AccessRequest) -> Decision {
    testing::evaluate::<ChangeWindow>(settings, &Identity::new("alice", "https://idp"), request)
}

#[rstest]
#[case::weekday_morning("prod", "2026-11-23T10:00:00+01:00", 1800, 1800)]
#[case::capped_at_window_end("prod", "2026-11-23T16:30:00+01:00", 3600, 1800)]
#[case::utc_request_time("prod", "2026-11-23T15:59:00Z", 3600, 60)]
#[case::friday("prod", "2026-11-27T09:00:00+01:00", 60, 60)]
#[case::overnight_before_midnight("prod", "2026-11-28T23:00:00+01:00", 14400, 10800)]
#[case::overnight_after_midnight("prod", "2026-11-29T01:59:00+01:00", 600, 60)]
#[case::before_a_freeze("prod", "2026-11-25T11:59:00+01:00", 600, 60)]
#[case::after_a_freeze("prod", "2026-11-25T14:00:00+01:00", 600, 600)]
fn allowed_with_ttl(
    #[case] cluster: &str,
    #[case] when: &str,
    #[case] asked: u64,
    #[case] ttl: u64,
) {
    let request = at(cluster, when, asked);
    assert_eq!(
        decide(SETTINGS, &request),
        Decision::allow(Grant::from_request(&request).ttl_seconds(ttl))
    );
}

/// A cluster the calendar does not apply to is not this policy's concern, at any time.
#[test]
fn other_clusters_are_abstained_on() {
    let request = at("staging", "2026-12-25T03:00:00+01:00", 7200);
    assert_eq!(
        decide(SETTINGS, &request),
        Decision::abstain("the change calendar does not apply to cluster `staging`")
    );
}

/// "Now" is the evaluation's time: a request received inside a window and decided again (at
/// approval) during a freeze is denied, and the other way round it is allowed.
#[test]
fn now_is_the_evaluation_time() {
    let in_window = "2026-11-25T10:00:00+01:00";
    let in_freeze = "2026-11-25T12:30:00+01:00";
    let decided_later = at("prod", in_window, 600).with_evaluated_at(timestamp(in_freeze));
    assert!(
        matches!(decide(SETTINGS, &decided_later), Decision::Deny { .. }),
        "{:?}",
        decide(SETTINGS, &decided_later)
    );
    let unfrozen = at("prod", in_freeze, 600).with_evaluated_at(timestamp(in_window));
    assert!(
        matches!(decide(SETTINGS, &unfrozen), Decision::Allow { .. }),
        "{:?}",
        decide(SETTINGS, &unfrozen)
    );
}

#[rstest]
#[case::evening(
    "2026-11-23T17:00:00+01:00",
    "Mon 17:00 (UTC+01:00) is outside every change window"
)]
#[case::sunday(
    "2026-11-29T02:00:00+01:00",
    "Sun 02:00 (UTC+01:00) is outside every change window"
)]
#[case::saturday_afternoon("2026-11-28T14:00:00Z", "Sat 15:00 (UTC+01:00)")]
#[case::release_freeze(
    "2026-11-25T12:00:00+01:00",
    "payments release: no access until 2026-11-25T13:00:00Z"
)]
#[case::year_end("2027-01-03T23:59:59+01:00", "year-end freeze")]
fn denied(#[case] when: &str, #[case] reason: &str) {
    match decide(SETTINGS, &at("prod", when, 600)) {
        Decision::Deny { reason: actual } => assert!(actual.contains(reason), "{actual}"),
        other => panic!("expected deny, got {other:?}"),
    }
}

#[rstest]
#[case::default("", 900)]
#[case::duration(r#", "outside_max_ttl": "30m""#, 1800)]
#[case::older_key(r#", "outside_max_ttl_seconds": 600"#, 600)]
fn cap_ttl_outside_windows(#[case] ttl: &str, #[case] capped: u64) {
    let settings = SETTINGS.replace(
        r#""outside": "deny""#,
        &format!(r#""outside": "cap_ttl"{ttl}"#),
    );
    assert_ne!(settings, SETTINGS);
    let request = at("prod", "2026-11-23T20:00:00+01:00", 3600);
    assert_eq!(
        decide(&settings, &request),
        Decision::allow(Grant::from_request(&request).ttl_seconds(capped))
    );
}

#[test]
fn no_windows_and_no_scope_means_no_access_anywhere() {
    match decide("{}", &at("any", "2026-11-23T10:00:00Z", 60)) {
        Decision::Deny { reason } => assert!(reason.contains("(UTC+00:00)"), "{reason}"),
        other => panic!("expected deny, got {other:?}"),
    }
}

#[rstest]
#[case::start_24(
    r#"{"windows": [{"days": ["mon"], "start": "24:00", "end": "01:00"}]}"#,
    "cannot be `24:00`"
)]
#[case::empty_days(
    r#"{"windows": [{"days": [], "start": "09:00", "end": "17:00"}]}"#,
    "`windows[0].days` is empty"
)]
#[case::same_start_end(
    r#"{"windows": [{"days": ["mon"], "start": "09:00", "end": "09:00"}]}"#,
    "starts and ends at the same time"
)]
#[case::minutes(
    r#"{"windows": [{"days": ["mon"], "start": "09:60", "end": "17:00"}]}"#,
    "`09:60` is not a time of day"
)]
#[case::offset_range(r#"{"utc_offset": "+19:00"}"#, "beyond the largest UTC offset")]
#[case::freeze_without_offset(
    r#"{"freezes": [{"start": "2026-12-20T00:00:00", "end": "2026-12-21T00:00:00Z"}]}"#,
    "is not an RFC 3339 time with a UTC offset"
)]
#[case::zero_ttl(
    r#"{"outside": "cap_ttl", "outside_max_ttl_seconds": 0}"#,
    "invalid settings: outside_max_ttl: `0s` is too short"
)]
#[case::bad_ttl(
    r#"{"outside": "cap_ttl", "outside_max_ttl": "1 fortnight"}"#,
    "invalid settings: outside_max_ttl: `1 fortnight` is not a duration"
)]
#[case::both_ttls(
    r#"{"outside_max_ttl": "1h", "outside_max_ttl_seconds": 60}"#,
    "invalid settings: duplicate field `outside_max_ttl`"
)]
#[case::outside_value(r#"{"outside": "allow"}"#, "unknown variant `allow`")]
#[case::cluster_pattern(
    r#"{"clusters": ["prod", "p*d"]}"#,
    "invalid settings: clusters[1]: `p*d` is not a name or a pattern (`*` only at the end)"
)]
fn invalid_settings(#[case] settings: &str, #[case] message: &str) {
    let error = testing::validate::<ChangeWindow>(settings).unwrap_err();
    assert!(error.contains(message), "{error}");
}

#[test]
fn cases_file_passes() {
    assert_eq!(
        testing::run_cases::<ChangeWindow>(include_str!("../cases.json")),
        18
    );
}
