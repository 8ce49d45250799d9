//! Runs a `cases.json` file natively with the contract's one cases runner, the one
//! `wicket policy test` uses on modules.

use std::format;
use std::marker::PhantomData;
use std::string::{String, ToString};
use std::time::SystemTime;
use std::vec::Vec;

use jiff_alloc::Timestamp;
use serde_json_alloc::Value;
use wicket_contract::cases::{CasesFile, Evaluator};

use crate::{AccessRequest, ApiCall, CallDecision, Decision, Identity, Policy, RelayPolicy};

/// One case of a cases file that did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// The case's name, or `cases file` when the file cannot run.
    pub name: String,
    /// What differed: a diff of expected and actual JSON, or one line.
    pub message: String,
}

/// A policy run natively; `RELAY` when it decides calls too.
struct Native<P, const RELAY: bool>(PhantomData<P>);

/// The calls of [`Native`] that depend on whether `P` is a relay policy.
trait Calls<P: Policy> {
    fn authorize(
        settings: &str,
        identity: &Identity,
        request: &AccessRequest,
        call: &ApiCall,
    ) -> Result<CallDecision, String>;
}

impl<P: Policy> Calls<P> for Native<P, false> {
    fn authorize(
        _: &str,
        _: &Identity,
        _: &AccessRequest,
        _: &ApiCall,
    ) -> Result<CallDecision, String> {
        Err("the policy decides no calls: run relay cases with `run_relay_cases` on a `RelayPolicy`".into())
    }
}

impl<P: RelayPolicy> Calls<P> for Native<P, true> {
    fn authorize(
        settings: &str,
        identity: &Identity,
        request: &AccessRequest,
        call: &ApiCall,
    ) -> Result<CallDecision, String> {
        Ok(super::authorize_call::<P>(
            settings, identity, request, call,
        ))
    }
}

impl<P: Policy, const RELAY: bool> Evaluator for Native<P, RELAY>
where
    Self: Calls<P>,
{
    /// The settings' JSON text, once accepted.
    type Configured = String;

    fn configure(&self, settings: &Value) -> Result<String, String> {
        let text = settings.to_string();
        super::validate::<P>(&text)?;
        Ok(text)
    }

    fn evaluate(
        &self,
        settings: &String,
        identity: &Identity,
        request: &AccessRequest,
    ) -> Result<Decision, String> {
        Ok(super::evaluate::<P>(settings, identity, request))
    }

    fn authorize_call(
        &self,
        settings: &String,
        identity: &Identity,
        request: &AccessRequest,
        call: &ApiCall,
    ) -> Result<CallDecision, String> {
        Self::authorize(settings, identity, request, call)
    }
}

/// Runs every case of `cases_json` (the format of `wicket policy test`) against policy `P` and
/// panics listing every case that failed; returns how many cases passed.
///
/// A request's `id` defaults to `cli` and its `requested_at` to now, as in the CLI. A case
/// with a `call` fails: run those with [`run_relay_cases`].
///
/// # Panics
/// When a case fails or the file is malformed: this is for tests.
pub fn run_cases<P: Policy>(cases_json: &str) -> usize {
    passed_or_panic(run_cases_report::<P>(cases_json))
}

/// Like [`run_cases`], for a [`RelayPolicy`]: cases with a `call` run its `authorize_call`.
///
/// # Panics
/// When a case fails or the file is malformed: this is for tests.
pub fn run_relay_cases<P: RelayPolicy>(cases_json: &str) -> usize {
    passed_or_panic(run_relay_cases_report::<P>(cases_json))
}

/// Like [`run_cases`], but returns the failures instead of panicking; a malformed file is one
/// failure named `cases file`.
pub fn run_cases_report<P: Policy>(cases_json: &str) -> Result<usize, Vec<CaseFailure>> {
    report(&Native::<P, false>(PhantomData), cases_json)
}

/// Like [`run_relay_cases`], but returns the failures instead of panicking.
pub fn run_relay_cases_report<P: RelayPolicy>(cases_json: &str) -> Result<usize, Vec<CaseFailure>> {
    report(&Native::<P, true>(PhantomData), cases_json)
}

fn report<E: Evaluator>(evaluator: &E, cases_json: &str) -> Result<usize, Vec<CaseFailure>> {
    let file_failure = |message: String| {
        std::vec![CaseFailure {
            name: "cases file".into(),
            message,
        }]
    };
    let reports = CasesFile::parse(cases_json)
        .and_then(|file| file.run(evaluator, now()))
        .map_err(|e| file_failure(e.to_string()))?;
    let failures: Vec<CaseFailure> = reports
        .iter()
        .filter_map(|report| {
            Some(CaseFailure {
                name: report.name.clone(),
                message: report.problem.as_ref()?.explain(),
            })
        })
        .collect();
    if failures.is_empty() {
        Ok(reports.len())
    } else {
        Err(failures)
    }
}

fn passed_or_panic(outcome: Result<usize, Vec<CaseFailure>>) -> usize {
    match outcome {
        Ok(passed) => passed,
        Err(failures) => {
            let mut report = format!("{} case(s) failed:\n", failures.len());
            for failure in failures {
                report.push_str(&format!("FAIL {}\n{}", failure.name, failure.message));
            }
            panic!("{report}")
        }
    }
}

/// Now, for requests without `requested_at` (the clock read as whole seconds).
fn now() -> Timestamp {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    Timestamp::from_second(i64::try_from(seconds).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX)
}

/// The report of `wicket policy test` for `cases_json` run against `P`, for tests that check
/// what an author sees.
#[cfg(test)]
fn rendered<P: Policy>(cases_json: &str) -> String {
    let file = CasesFile::parse(cases_json).expect("a cases file");
    let reports = file
        .run(&Native::<P, false>(PhantomData), now())
        .expect("runs");
    wicket_contract::cases::render_reports(&reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessRequest as Request, Grant};

    /// Allows members of `idp:sre` as requested, capped at the `max` setting; abstains for
    /// `idp:guests`; a zero `max` is invalid. Calls that write are refused.
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
            } else if identity.in_group("idp:guests") {
                Decision::abstain("guests are another policy's concern")
            } else {
                Decision::deny(format!("`{}` is not in idp:sre", identity.subject))
            }
        }
    }

    impl RelayPolicy for Capped {
        fn authorize_call(_: &u64, _: &Identity, _: &Request, call: &ApiCall) -> CallDecision {
            if call.is_read_only() {
                CallDecision::Allow
            } else {
                CallDecision::deny(format!("`{}` is a write", call.verb))
            }
        }
    }

    const CASES: &str = include_str!("../../tests/fixtures/capped-cases.json");
    const FAILING: &str = include_str!("../../tests/fixtures/capped-failing-cases.json");
    const RELAY: &str = include_str!("../../tests/fixtures/capped-relay-cases.json");

    #[test]
    fn passing_file_counts_its_cases() {
        assert_eq!(run_cases::<Capped>(CASES), 6);
        assert_eq!(run_relay_cases::<Capped>(CASES), 6);
    }

    #[test]
    fn relay_cases_run_authorize_call() {
        assert_eq!(run_relay_cases::<Capped>(RELAY), 2);
        let writes = RELAY.replace("\"verb\": \"get\"", "\"verb\": \"patch\"");
        let failures = run_relay_cases_report::<Capped>(&writes).unwrap_err();
        assert_eq!(failures[0].name, "reads pass the relay");
        assert!(
            failures[0].message.contains("  +   \"decision\": \"deny\""),
            "{}",
            failures[0].message
        );
        // A policy that is not a relay policy fails call cases, saying why.
        let failures = run_cases_report::<Capped>(RELAY).unwrap_err();
        assert!(
            failures[0].message.contains("decides no calls"),
            "{}",
            failures[0].message
        );
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
                "wrong reason"
            ]
        );
        assert!(
            failures[0].message.contains("  +     \"ttl_seconds\": 600"),
            "{}",
            failures[0].message
        );
        let shown = rendered::<Capped>(FAILING);
        assert!(shown.contains("ok   allowed\n"), "{shown}");
        assert!(shown.ends_with("\n1 passed, 4 failed\n"), "{shown}");
    }

    #[test]
    fn malformed_file_is_one_failure() {
        let failures = run_cases_report::<Capped>(r#"{"cases": [], "extra": 1}"#).unwrap_err();
        assert_eq!(failures[0].name, "cases file");
        assert!(failures[0].message.contains("unknown field `extra`"));
        let twice = FAILING.replace("wrong reason", "wrong ttl");
        let failures = run_cases_report::<Capped>(&twice).unwrap_err();
        assert_eq!(failures[0].message, "case `wrong ttl` appears twice");
    }
}
