//! Runs a `cases.json` file natively, with the semantics of `wicket policy test`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::string::{String, ToString};
use std::time::SystemTime;
use std::vec::Vec;
use std::{format, panic};

use jiff_alloc::Timestamp;
use serde_alloc::{Deserialize, Serialize};
use serde_json_alloc::Value;

use crate::{AccessRequest, Approval, Decision, Grant, Identity, Policy};

#[derive(Deserialize)]
#[serde(crate = "serde_alloc", deny_unknown_fields)]
struct CasesFile {
    #[serde(default)]
    settings: Value,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(crate = "serde_alloc", deny_unknown_fields)]
struct Case {
    name: String,
    settings: Option<Value>,
    identity: Option<Identity>,
    request: Option<Value>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(crate = "serde_alloc", deny_unknown_fields)]
struct Expect {
    decision: Option<Kind>,
    grant: Option<Grant>,
    reason_contains: Option<String>,
    approval: Option<Approval>,
    settings_error_contains: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "serde_alloc", rename_all = "snake_case")]
enum Kind {
    Allow,
    Deny,
    NeedsApproval,
}

/// One case of a cases file that did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// The case's name.
    pub name: String,
    /// What differed, with expected and actual JSON.
    pub message: String,
}

/// Runs every case of `cases_json` (the format of `wicket policy test`, see
/// `notes/formats.md`) against policy `P` and panics listing every case that failed; returns
/// how many cases passed.
///
/// A request's `id` defaults to `cli` and its `requested_at` to now, as in the CLI.
///
/// # Panics
/// When a case fails or the file is malformed: this is for tests.
pub fn run_cases<P: Policy>(cases_json: &str) -> usize {
    match run_cases_report::<P>(cases_json) {
        Ok(passed) => passed,
        Err(failures) => {
            let mut report = format!("{} case(s) failed:\n", failures.len());
            for failure in failures {
                let _ = writeln!(report, "FAIL {}\n{}", failure.name, failure.message);
            }
            panic!("{report}")
        }
    }
}

/// Like [`run_cases`], but returns the failures instead of panicking; a malformed file is one
/// failure named `cases file`.
pub fn run_cases_report<P: Policy>(cases_json: &str) -> Result<usize, Vec<CaseFailure>> {
    let file: CasesFile = serde_json_alloc::from_str(cases_json).map_err(|e| {
        std::vec![CaseFailure {
            name: "cases file".into(),
            message: format!("malformed cases file: {e}"),
        }]
    })?;
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    for case in &file.cases {
        let outcome = if names.insert(case.name.as_str()) {
            run_case::<P>(&file.settings, case)
        } else {
            Err(format!(
                "the name `{}` is used by more than one case",
                case.name
            ))
        };
        if let Err(message) = outcome {
            failures.push(CaseFailure {
                name: case.name.clone(),
                message,
            });
        }
    }
    if failures.is_empty() {
        Ok(file.cases.len())
    } else {
        Err(failures)
    }
}

fn run_case<P: Policy>(default_settings: &Value, case: &Case) -> Result<(), String> {
    let settings = case
        .settings
        .as_ref()
        .unwrap_or(default_settings)
        .to_string();
    let expect = &case.expect;
    if let Some(wanted) = &expect.settings_error_contains {
        if case.identity.is_some() || case.request.is_some() || expect.decision.is_some() {
            return Err(
                "a `settings_error_contains` case has no identity, request or decision".into(),
            );
        }
        return match super::validate::<P>(&settings) {
            Ok(()) => Err(format!(
                "settings were accepted, expected an error containing `{wanted}`"
            )),
            Err(message) if message.contains(wanted.as_str()) => Ok(()),
            Err(message) => Err(format!(
                "settings error `{message}` does not contain `{wanted}`"
            )),
        };
    }
    super::validate::<P>(&settings).map_err(|e| format!("settings rejected: {e}"))?;
    let identity = case.identity.as_ref().ok_or("the case has no `identity`")?;
    let request = request(case.request.as_ref().ok_or("the case has no `request`")?)?;
    let kind = expect.decision.ok_or("`expect` has no `decision`")?;
    let actual = super::evaluate::<P>(&settings, identity, &request);
    check(expect, kind, &actual)
}

/// The request of a case, with the CLI's defaults for `id` and `requested_at`.
fn request(value: &Value) -> Result<AccessRequest, String> {
    let mut value = value.clone();
    let object = value.as_object_mut().ok_or("`request` is not an object")?;
    object.entry("id").or_insert_with(|| Value::from("cli"));
    if !object.contains_key("requested_at") {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|e| format!("the clock is before 1970: {e}"))?;
        let now = Timestamp::from_second(i64::try_from(now.as_secs()).unwrap_or(i64::MAX))
            .map_err(|e| format!("the clock is out of range: {e}"))?;
        object.insert("requested_at".into(), Value::from(now.to_string()));
    }
    serde_json_alloc::from_value(value).map_err(|e| format!("malformed `request`: {e}"))
}

fn check(expect: &Expect, kind: Kind, actual: &Decision) -> Result<(), String> {
    let ok = match (kind, actual) {
        (Kind::Allow, Decision::Allow { grant }) => {
            expect.grant.as_ref().is_none_or(|g| g == grant)
        }
        (Kind::Deny, Decision::Deny { reason }) => expect
            .reason_contains
            .as_ref()
            .is_none_or(|wanted| reason.contains(wanted.as_str())),
        (Kind::NeedsApproval, Decision::NeedsApproval { approval }) => {
            expect.approval.as_ref().is_none_or(|a| a == approval)
                && expect
                    .reason_contains
                    .as_ref()
                    .is_none_or(|wanted| approval.reason.contains(wanted.as_str()))
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let expected = ExpectedView {
        decision: kind,
        grant: expect.grant.as_ref(),
        reason_contains: expect.reason_contains.as_deref(),
        approval: expect.approval.as_ref(),
    };
    Err(diff(&pretty(&expected), &pretty(actual)))
}

#[derive(Serialize)]
#[serde(crate = "serde_alloc")]
struct ExpectedView<'a> {
    decision: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<&'a Grant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason_contains: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<&'a Approval>,
}

impl Serialize for Kind {
    fn serialize<S: serde_alloc::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            Kind::Allow => "allow",
            Kind::Deny => "deny",
            Kind::NeedsApproval => "needs_approval",
        })
    }
}

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json_alloc::to_string_pretty(value).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}

/// Expected and actual side by side, lines of `actual` that `expected` lacks marked with `!`.
fn diff(expected: &str, actual: &str) -> String {
    let mut out = String::from("  expected:\n");
    for line in expected.lines() {
        let _ = writeln!(out, "    {line}");
    }
    out.push_str("  actual:\n");
    let expected_lines: BTreeSet<&str> = expected.lines().collect();
    for line in actual.lines() {
        let mark = if expected_lines.contains(line) {
            ' '
        } else {
            '!'
        };
        let _ = writeln!(out, "  {mark} {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, AccessRequest as Request};

    /// Allows members of `idp:sre` as requested, capped at the `max` setting; a zero `max` is invalid.
    struct Capped;

    impl Policy for Capped {
        type Settings = u64;

        fn validate(max: &u64) -> Result<(), String> {
            if *max == 0 {
                Err("max must be positive".into())
            } else {
                Ok(())
            }
        }

        fn evaluate(max: &u64, identity: &Identity, request: &Request) -> Decision {
            if identity.in_group("idp:sre") {
                Decision::allow(Grant::from_request(request).cap_ttl(*max))
            } else {
                Decision::deny(format!("`{}` is not in idp:sre", identity.subject))
            }
        }
    }

    const CASES: &str = include_str!("../../tests/fixtures/capped-cases.json");
    const FAILING: &str = include_str!("../../tests/fixtures/capped-failing-cases.json");

    #[test]
    fn passing_file_counts_its_cases() {
        assert_eq!(run_cases::<Capped>(CASES), 4);
    }

    #[test]
    fn failing_cases_are_reported_by_name_with_a_diff() {
        let failures = run_cases_report::<Capped>(FAILING).unwrap_err();
        let names: Vec<&str> = failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "wrong ttl",
                "wrong kind",
                "accepted bad settings",
                "wrong reason",
                "wrong ttl"
            ]
        );
        assert!(
            failures[0].message.contains("  !     \"ttl_seconds\": 600"),
            "{}",
            failures[0].message
        );
        assert!(failures[4].message.contains("more than one case"));
    }

    #[test]
    fn malformed_file_is_one_failure() {
        let failures = run_cases_report::<Capped>(r#"{"cases": [], "extra": 1}"#).unwrap_err();
        assert_eq!(failures[0].name, "cases file");
        assert!(failures[0].message.contains("unknown field `extra`"));
    }

    #[test]
    fn request_defaults_fill_id_and_time() {
        let request = request(
            &serde_json_alloc::json!({"cluster": "prod", "role": "view", "duration_seconds": 60}),
        )
        .unwrap();
        assert_eq!(request.id, "cli");
        assert_eq!(request.access, Access::role("view"));
        assert!(request.requested_at.as_second() > 1_700_000_000);
    }
}
