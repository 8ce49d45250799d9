use alloc::vec::Vec;

use serde_json::json;

use super::*;
use crate::Access;

/// Allows `idp:sre` as asked, capped at the `max` setting; `idp:leads` need an approval by
/// `idp:oncall`; `idp:guests` are not its concern; everyone else is denied. Calls that write
/// are refused from 18:00 UTC. A zero `max` is refused.
struct Fake;

impl Evaluator for Fake {
    type Configured = u64;

    fn configure(&self, settings: &Value) -> Result<u64, String> {
        match settings["max"].as_u64() {
            Some(0) => Err("invalid settings: `max` must be more than zero".into()),
            Some(max) => Ok(max),
            None => Err("invalid settings: `max` is missing".into()),
        }
    }

    fn evaluate(
        &self,
        max: &u64,
        identity: &Identity,
        request: &AccessRequest,
    ) -> Result<Decision, String> {
        let grant = Grant::from_request(request).cap_ttl(*max);
        Ok(if identity.in_group("idp:sre") {
            Decision::allow(grant)
        } else if identity.in_group("idp:leads") {
            Decision::needs_approval(
                Approval::new("leads need a second pair of eyes", grant).by_group("idp:oncall"),
            )
        } else if identity.in_group("idp:guests") {
            Decision::abstain("not about guests")
        } else if identity.in_group("idp:crash") {
            return Err("module trapped: unreachable".into());
        } else {
            Decision::deny(format!("`{}` may not ask", identity.subject))
        })
    }

    fn authorize_call(
        &self,
        _: &u64,
        _: &Identity,
        _: &AccessRequest,
        call: &ApiCall,
    ) -> Result<CallDecision, String> {
        let hour = call.at.as_second().rem_euclid(86_400) / 3600;
        Ok(if call.is_read_only() || hour < 18 {
            CallDecision::Allow
        } else {
            CallDecision::deny("read-only from 18:00")
        })
    }
}

fn now() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn run(file: Value) -> Result<Vec<CaseReport>, CasesError> {
    CasesFile::parse(&file.to_string())?.run(&Fake, now())
}

fn case(name: &str, group: &str, expect: Value) -> Value {
    json!({
        "name": name,
        "identity": {"subject": "alice", "issuer": "https://idp", "groups": [group]},
        "request": {"cluster": "prod", "namespaces": ["web"], "role": "edit", "duration": "1h"},
        "expect": expect,
    })
}

fn problems(reports: &[CaseReport]) -> Vec<(&str, Option<&Problem>)> {
    reports
        .iter()
        .map(|r| (r.name.as_str(), r.problem.as_ref()))
        .collect()
}

/// Every kind of decision and an authorize-call case pass; the request is the REST body.
#[test]
fn every_decision_kind_and_calls_pass() {
    let grant = json!({"namespaces": [{"namespace": "web", "role": "edit"}], "ttl_seconds": 1800});
    let mut call = case(
        "no deletes at night",
        "idp:sre",
        json!({"decision": "deny", "reason_contains": "read-only"}),
    );
    call["call"] = json!({"verb": "delete", "resource": "pods", "namespace": "web", "at": "2026-11-23T22:00:00Z"});
    let mut read = case("reads at night", "idp:sre", json!({"decision": "allow"}));
    read["call"] = json!({"verb": "get", "resource": "pods", "at": "2026-11-23T22:00:00Z"});
    // `at` defaults to the request's `evaluated_at`.
    let mut day = case("deletes by day", "idp:sre", json!({"decision": "allow"}));
    day["call"] = json!({"verb": "delete", "resource": "pods"});
    let reports = run(json!({
        "settings": {"max": 1800},
        "cases": [
            case("sre", "idp:sre", json!({"decision": "allow", "grant": grant})),
            case("leads", "idp:leads", json!({"decision": "needs_approval", "approval": {
                "groups": ["idp:oncall"], "subjects": [], "count": 1,
                "reason": "leads need a second pair of eyes", "grant": grant}})),
            case("guests", "idp:guests", json!({"decision": "abstain", "reason_contains": "guests"})),
            case("others", "idp:x", json!({"decision": "deny", "reason_contains": "`alice` may not"})),
            case("a failure is a deny", "idp:crash", json!({"decision": "deny", "reason_contains": "trapped"})),
            call, read, day,
            {"name": "zero", "settings": {"max": 0}, "expect": {"settings_error_contains": "more than zero"}},
        ]
    }))
    .unwrap();
    assert!(
        reports.iter().all(|r| r.problem.is_none()),
        "{:?}",
        problems(&reports)
    );
    assert_eq!(reports.len(), 9);
}

#[test]
fn failures_show_the_approval_object_and_a_diff() {
    let reports = run(json!({
        "settings": {"max": 600},
        "cases": [
            case("wants allow", "idp:leads", json!({"decision": "allow"})),
            case("wants abstain", "idp:x", json!({"decision": "abstain"})),
            {"name": "accepts", "expect": {"settings_error_contains": "max"}},
            {"name": "other message", "settings": {}, "expect": {"settings_error_contains": "zero"}},
            case("rejected", "idp:sre", json!({"decision": "allow"})),
        ]
    }))
    .unwrap();
    let Some(Problem::Mismatch { expected, actual }) = &reports[0].problem else {
        panic!("{:?}", reports[0]);
    };
    assert_eq!(expected, &json!({"decision": "allow"}));
    assert_eq!(actual, &json!({"decision": "needs_approval"}));
    let Some(Problem::Mismatch { actual, .. }) = &reports[1].problem else {
        panic!("{:?}", reports[1]);
    };
    assert_eq!(actual, &json!({"decision": "deny"}));
    assert!(
        matches!(&reports[2].problem, Some(Problem::SettingsAccepted { want }) if want == "max")
    );
    assert!(
        matches!(&reports[3].problem, Some(Problem::OtherSettingsError { got, .. }) if got.contains("missing"))
    );
    assert!(reports[4].problem.is_none());

    let approval = json!({"groups": ["idp:oncall"], "count": 2, "reason": "x",
        "grant": {"namespaces": [], "ttl_seconds": 1}});
    let reports = run(json!({"settings": {"max": 600}, "cases": [
        case("approval", "idp:leads", json!({"decision": "needs_approval", "approval": approval})),
    ]}))
    .unwrap();
    let problem = reports[0].problem.as_ref().unwrap();
    let Problem::Mismatch { actual, .. } = problem else {
        panic!("{problem:?}")
    };
    // The one approval shape: groups, subjects, count, reason, grant.
    assert_eq!(
        actual["approval"],
        json!({"groups": ["idp:oncall"], "subjects": [], "count": 1,
               "reason": "leads need a second pair of eyes",
               "grant": {"namespaces": [{"namespace": "web", "role": "edit"}], "ttl_seconds": 600}})
    );
    let shown = render_reports(&reports);
    assert!(
        shown.starts_with("FAIL approval\n  --- expected\n  +++ actual\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  -     \"count\": 2,\n  +     \"count\": 1,\n"),
        "{shown}"
    );
    assert!(shown.ends_with("\n0 passed, 1 failed\n"), "{shown}");
}

#[test]
fn a_failure_shows_the_module_error() {
    let reports = run(json!({"settings": {"max": 1}, "cases": [
        case("crash", "idp:crash", json!({"decision": "allow"})),
    ]}))
    .unwrap();
    let Some(Problem::Mismatch { actual, .. }) = &reports[0].problem else {
        panic!()
    };
    assert_eq!(actual["module_error"], "module trapped: unreachable");
}

#[rstest::rstest]
#[case::no_cases(json!({"cases": []}), "the file holds no cases")]
#[case::twice(json!({"settings": {"max": 1}, "cases": [case("a", "g", json!({"decision": "allow"})), case("a", "g", json!({"decision": "allow"}))]}), "case `a` appears twice")]
#[case::unknown_field(json!({"cases": [], "extra": 1}), "unknown field `extra`")]
#[case::no_expectation(json!({"cases": [case("a", "g", json!({}))]}), "case `a` expects neither")]
#[case::settings_error_with_identity(json!({"cases": [case("a", "g", json!({"settings_error_contains": "x"}))]}), "takes no identity")]
#[case::call_needs_approval(json!({"cases": [{"name": "c", "identity": {"subject": "a", "issuer": "i"},
    "request": {"cluster": "p", "role": "v", "duration": 60}, "call": {"verb": "get", "resource": "pods"},
    "expect": {"decision": "needs_approval"}}]}), "is about a call")]
#[case::bad_call(json!({"cases": [{"name": "c", "identity": {"subject": "a", "issuer": "i"},
    "request": {"cluster": "p", "role": "v", "duration": 60}, "call": {"verb": "get"},
    "expect": {"decision": "allow"}}]}), "case `c` has a malformed `call`: missing field `resource`")]
#[case::two_durations(json!({"cases": [{"name": "r", "identity": {"subject": "a", "issuer": "i"},
    "request": {"cluster": "p", "role": "v", "duration": "1m", "duration_seconds": 60},
    "expect": {"decision": "allow"}}]}), "case `r` has a malformed `request`: give `duration` or `duration_seconds`, not both")]
fn malformed_files_are_one_error(#[case] file: Value, #[case] message: &str) {
    let error = run(file).unwrap_err();
    assert!(error.0.contains(message), "{error}");
}

#[test]
fn request_file_takes_the_rest_body_and_fills_id_and_time() {
    let file: RequestFile = serde_json::from_value(json!({
        "identity": {"subject": "alice", "issuer": "https://idp"},
        "request": {"cluster": "prod", "namespaces": ["web"], "role": "view",
                    "duration": "1d", "reason": "INC-1", "context": {"ticket": "INC-1"}},
    }))
    .unwrap();
    let (identity, request) = file.complete(now()).unwrap();
    assert_eq!(identity.subject, "alice");
    assert_eq!(request.id, DEFAULT_REQUEST_ID);
    assert_eq!(request.access, Access::role("view"));
    assert_eq!(request.duration_seconds, 86_400);
    assert_eq!((request.requested_at, request.evaluated_at), (now(), now()));
    assert_eq!(request.extends, None);
}
