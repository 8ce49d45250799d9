//! Cases files: a policy's own examples with the decision each must get, and the one runner
//! that checks them. `wicket policy test` runs a file against a WebAssembly module and
//! `wicket_sdk::testing` against a policy compiled natively; both implement [`Evaluator`].
//!
//! ```json
//! {
//!   "settings": {"group": "idp:sre"},
//!   "cases": [
//!     {"name": "sre gets edit",
//!      "identity": {"subject": "alice", "issuer": "https://idp", "groups": ["idp:sre"]},
//!      "request": {"cluster": "prod", "namespaces": ["web"], "role": "edit", "duration": "30m"},
//!      "expect": {"decision": "allow"}},
//!     {"name": "no deletes after hours",
//!      "identity": {"subject": "alice", "issuer": "https://idp", "groups": ["idp:sre"]},
//!      "request": {"cluster": "prod", "namespaces": ["web"], "role": "edit", "duration": "30m"},
//!      "call": {"verb": "delete", "resource": "pods", "namespace": "web", "at": "2026-11-23T22:00:00Z"},
//!      "expect": {"decision": "deny", "reason_contains": "read-only"}},
//!     {"name": "a group is required", "settings": {},
//!      "expect": {"settings_error_contains": "group"}}
//!   ]
//! }
//! ```
//!
//! The full format is in Wicket's `docs/policy-files.md`.

pub mod diff;

use alloc::borrow::ToOwned;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    AccessRequest, ApiCall, Approval, CallDecision, Decision, Grant, Identity, RequestError,
    RequestInput,
};

/// The `id` of a request that a request or cases file does not give.
pub const DEFAULT_REQUEST_ID: &str = "cli";

/// What runs a policy for the cases: a WebAssembly module in the host, the policy's own Rust code
/// natively in the SDK. An `Err` is the policy failing (a trap, a deadline, a malformed answer),
/// which counts as a deny whose reason is the diagnostic.
pub trait Evaluator {
    /// The policy configured with one settings value.
    type Configured;

    /// Configures the policy with `settings` as the host does at load (`validate-settings`);
    /// `Err` is the policy's message rejecting them.
    fn configure(&self, settings: &Value) -> Result<Self::Configured, String>;

    /// The policy's decision on `request` by `identity` (`evaluate`).
    fn evaluate(
        &self,
        policy: &Self::Configured,
        identity: &Identity,
        request: &AccessRequest,
    ) -> Result<Decision, String>;

    /// The policy's decision on `call` made under the access granted for `request`
    /// (`authorize-call` of a relay policy).
    fn authorize_call(
        &self,
        policy: &Self::Configured,
        identity: &Identity,
        request: &AccessRequest,
        call: &ApiCall,
    ) -> Result<CallDecision, String>;
}

/// A request file: `{"identity": {...}, "request": {...}}`, the request in either form of
/// [`RequestInput`] (e.g. the REST API's body).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    /// Who asks.
    pub identity: Identity,
    /// What for.
    pub request: RequestInput,
}

impl RequestFile {
    /// The identity and the request, its `id` [`DEFAULT_REQUEST_ID`] and its `requested_at`
    /// `now` unless the file gives them.
    pub fn complete(self, now: Timestamp) -> Result<(Identity, AccessRequest), RequestError> {
        Ok((
            self.identity,
            self.request.complete(DEFAULT_REQUEST_ID, now)?,
        ))
    }
}

/// A cases file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    /// Default settings of every case (default `{}`).
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// The cases, in order.
    pub cases: Vec<Case>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique in the file.
    pub name: String,
    /// Replaces the file's default settings.
    pub settings: Option<Value>,
    /// Who asks (absent in settings-error cases).
    pub identity: Option<Identity>,
    /// What for (absent in settings-error cases).
    pub request: Option<RequestInput>,
    /// An API call made under the request's grant: the case is about `authorize-call`.
    /// Its `at` defaults to the request's `evaluated_at`.
    pub call: Option<Value>,
    /// What must happen.
    pub expect: Expect,
}

/// What a case expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The decision's kind.
    pub decision: Option<Kind>,
    /// The exact grant of an allow.
    pub grant: Option<Grant>,
    /// A substring of the reason of a deny, an abstain or an approval.
    pub reason_contains: Option<String>,
    /// The exact approval of a needs-approval.
    pub approval: Option<Approval>,
    /// The policy must reject its settings with a message holding this.
    pub settings_error_contains: Option<String>,
}

/// A decision's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
    /// Needs approval.
    NeedsApproval,
    /// Abstain.
    Abstain,
}

impl Kind {
    /// The kind's name as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::Deny => "deny",
            Kind::NeedsApproval => "needs_approval",
            Kind::Abstain => "abstain",
        }
    }
}

/// A cases file that cannot run: malformed JSON, a duplicate name, an inconsistent case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasesError(pub String);

impl fmt::Display for CasesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for CasesError {}

/// What a case does, once checked and its inputs parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The settings must be rejected with a message containing this.
    SettingsError(String),
    /// The policy must decide `identity`'s `request` as expected.
    Decide {
        /// Who asks.
        identity: Identity,
        /// What for.
        request: AccessRequest,
    },
    /// The policy must decide `call`, made under `request`'s grant, as expected.
    AuthorizeCall {
        /// Who calls.
        identity: Identity,
        /// The request the grant came from.
        request: AccessRequest,
        /// The call.
        call: ApiCall,
    },
}

impl CasesFile {
    /// Reads a cases file from its JSON text.
    pub fn parse(text: &str) -> Result<Self, CasesError> {
        serde_json::from_str(text).map_err(|e| CasesError(format!("malformed cases file: {e}")))
    }

    /// Checks that names are unique and every case has what its expectation needs, and parses
    /// every request (`id` [`DEFAULT_REQUEST_ID`], `requested_at` `now` unless given).
    pub fn plans(&self, now: Timestamp) -> Result<Vec<Plan>, CasesError> {
        if self.cases.is_empty() {
            return Err(CasesError("the file holds no cases".into()));
        }
        let mut names = BTreeSet::new();
        self.cases
            .iter()
            .map(|case| {
                if case.name.trim().is_empty() {
                    return Err(CasesError("a case has an empty name".into()));
                }
                if !names.insert(case.name.as_str()) {
                    return Err(CasesError(format!("case `{}` appears twice", case.name)));
                }
                case.plan(now)
                    .map_err(|message| CasesError(format!("case `{}` {message}", case.name)))
            })
            .collect()
    }

    /// Runs every case with `evaluator`. The whole file is checked first ([`CasesFile::plans`]),
    /// so a malformed file is an error, not a failed case.
    pub fn run<E: Evaluator>(
        &self,
        evaluator: &E,
        now: Timestamp,
    ) -> Result<Vec<CaseReport>, CasesError> {
        let plans = self.plans(now)?;
        Ok(self
            .cases
            .iter()
            .zip(plans)
            .map(|(case, plan)| CaseReport {
                name: case.name.clone(),
                problem: case.run(evaluator, &self.settings, plan),
            })
            .collect())
    }
}

impl Case {
    fn plan(&self, now: Timestamp) -> Result<Plan, String> {
        let e = &self.expect;
        if let Some(message) = &e.settings_error_contains {
            let alone = e.decision.is_none()
                && e.grant.is_none()
                && e.reason_contains.is_none()
                && e.approval.is_none()
                && self.identity.is_none()
                && self.request.is_none()
                && self.call.is_none();
            return if alone {
                Ok(Plan::SettingsError(message.clone()))
            } else {
                Err(
                    "expects a settings error, so it takes no identity, request, call or decision"
                        .into(),
                )
            };
        }
        let Some(kind) = e.decision else {
            return Err("expects neither a decision nor a settings error".into());
        };
        let (Some(identity), Some(request)) = (&self.identity, &self.request) else {
            return Err("needs an identity and a request".into());
        };
        let request = request
            .clone()
            .complete(DEFAULT_REQUEST_ID, now)
            .map_err(|e| format!("has a malformed `request`: {e}"))?;
        let Some(call) = &self.call else {
            return Ok(Plan::Decide {
                identity: identity.clone(),
                request,
            });
        };
        if !matches!(kind, Kind::Allow | Kind::Deny) || e.grant.is_some() || e.approval.is_some() {
            return Err(
                "is about a call, so it expects `allow` or `deny` (and at most `reason_contains`)"
                    .into(),
            );
        }
        let mut call = call.clone();
        if let Value::Object(fields) = &mut call {
            fields
                .entry("at")
                .or_insert_with(|| Value::from(request.evaluated_at.to_string()));
        }
        let call =
            serde_json::from_value(call).map_err(|e| format!("has a malformed `call`: {e}"))?;
        Ok(Plan::AuthorizeCall {
            identity: identity.clone(),
            request,
            call,
        })
    }

    fn run<E: Evaluator>(&self, evaluator: &E, default: &Value, plan: Plan) -> Option<Problem> {
        let configured = evaluator.configure(self.settings.as_ref().unwrap_or(default));
        let (policy, plan) = match (configured, plan) {
            (Ok(_), Plan::SettingsError(want)) => return Some(Problem::SettingsAccepted { want }),
            (Err(got), Plan::SettingsError(want)) if got.contains(want.as_str()) => return None,
            (Err(got), Plan::SettingsError(want)) => {
                return Some(Problem::OtherSettingsError { want, got });
            }
            (Err(error), _) => return Some(Problem::SettingsRejected(error)),
            (Ok(policy), plan) => (policy, plan),
        };
        let compared = match plan {
            Plan::Decide { identity, request } => compare(
                &self.expect,
                &evaluator.evaluate(&policy, &identity, &request),
            ),
            Plan::AuthorizeCall {
                identity,
                request,
                call,
            } => compare_call(
                &self.expect,
                &evaluator.authorize_call(&policy, &identity, &request, &call),
            ),
            Plan::SettingsError(_) => None,
        };
        compared.map(|(expected, actual)| Problem::Mismatch { expected, actual })
    }
}

/// Compares a decision (or a failure, a deny whose reason is the diagnostic) with what a case
/// expects: `None` if it matches, otherwise the expected and actual JSON, with the same keys, to
/// diff. An approval is shown as the [`Approval`] object, as everywhere.
pub fn compare(expect: &Expect, actual: &Result<Decision, String>) -> Option<(Value, Value)> {
    let kind = expect.decision?;
    let (actual_kind, grant, reason, approval) = match actual {
        Ok(Decision::Allow { grant }) => (Kind::Allow, Some(grant), None, None),
        Ok(Decision::Deny { reason }) => (Kind::Deny, None, Some(reason.as_str()), None),
        Ok(Decision::Abstain { reason }) => (Kind::Abstain, None, Some(reason.as_str()), None),
        Ok(Decision::NeedsApproval { approval }) => (
            Kind::NeedsApproval,
            None,
            Some(approval.reason.as_str()),
            Some(approval),
        ),
        Err(error) => (Kind::Deny, None, Some(error.as_str()), None),
    };
    let mut view = Views::new(kind, actual_kind);
    if let Some(want) = &expect.grant {
        view.field("grant", grant == Some(want), json!(want), json!(grant));
    }
    if let Some(want) = &expect.approval {
        view.field(
            "approval",
            approval == Some(want),
            json!(want),
            json!(approval),
        );
    }
    view.reason(expect, reason);
    view.failure(actual.as_ref().err());
    view.finish()
}

/// Like [`compare`], for the answer to a call.
pub fn compare_call(
    expect: &Expect,
    actual: &Result<CallDecision, String>,
) -> Option<(Value, Value)> {
    let kind = expect.decision?;
    let (actual_kind, reason) = match actual {
        Ok(CallDecision::Allow) => (Kind::Allow, None),
        Ok(CallDecision::Deny { reason }) => (Kind::Deny, Some(reason.as_str())),
        Err(error) => (Kind::Deny, Some(error.as_str())),
    };
    let mut view = Views::new(kind, actual_kind);
    view.reason(expect, reason);
    view.failure(actual.as_ref().err());
    view.finish()
}

/// The expected and actual JSON of one comparison, built field by field.
struct Views {
    ok: bool,
    expected: Map<String, Value>,
    actual: Map<String, Value>,
}

impl Views {
    fn new(kind: Kind, actual: Kind) -> Self {
        let mut views = Self {
            ok: true,
            expected: Map::new(),
            actual: Map::new(),
        };
        views.field(
            "decision",
            kind == actual,
            json!(kind.name()),
            json!(actual.name()),
        );
        views
    }

    fn field(&mut self, name: &str, equal: bool, expected: Value, actual: Value) {
        self.ok &= equal;
        self.expected.insert(name.to_owned(), expected);
        self.actual.insert(name.to_owned(), actual);
    }

    fn reason(&mut self, expect: &Expect, reason: Option<&str>) {
        if let Some(want) = &expect.reason_contains {
            let holds = reason.is_some_and(|r| r.contains(want.as_str()));
            self.field(
                "reason",
                holds,
                json!(format!("(contains) {want}")),
                json!(reason),
            );
        }
    }

    fn failure(&mut self, error: Option<&String>) {
        if let Some(error) = error {
            self.actual.insert("module_error".into(), json!(error));
        }
    }

    fn finish(self) -> Option<(Value, Value)> {
        (!self.ok).then_some((Value::Object(self.expected), Value::Object(self.actual)))
    }
}

/// Why one case did not get what it expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The policy rejected the case's settings.
    SettingsRejected(String),
    /// The policy accepted settings the case expects it to reject.
    SettingsAccepted {
        /// The message the case expects.
        want: String,
    },
    /// The policy rejected the settings with another message.
    OtherSettingsError {
        /// The message the case expects.
        want: String,
        /// What it said.
        got: String,
    },
    /// The decision differs: the expected and actual JSON, with the same keys.
    Mismatch {
        /// What the case expects.
        expected: Value,
        /// What the policy decided.
        actual: Value,
    },
}

impl Problem {
    /// The problem for a person: one line, or for a mismatch the diff of expected against
    /// actual ([`diff::render`]); every line indented.
    pub fn explain(&self) -> String {
        match self {
            Self::Mismatch { expected, actual } => diff::render(expected, actual),
            other => format!("  {other}\n"),
        }
    }
}

/// One line.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SettingsRejected(error) => write!(f, "settings rejected: {error}"),
            Self::SettingsAccepted { want } => write!(
                f,
                "expected the settings to be rejected with a message containing `{want}`, but they were accepted"
            ),
            Self::OtherSettingsError { want, got } => {
                write!(
                    f,
                    "expected a settings error containing `{want}`, got: {got}"
                )
            }
            Self::Mismatch { expected, actual } => write!(f, "expected {expected}, got {actual}"),
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// What went wrong; `None` when the case passed.
    pub problem: Option<Problem>,
}

/// The report `wicket policy test` prints: `ok   <name>` or `FAIL <name>` and what went wrong,
/// per case, then `<n> passed, <m> failed`.
pub fn render_reports(reports: &[CaseReport]) -> String {
    let mut out = String::new();
    let mut failed = 0;
    for report in reports {
        match &report.problem {
            None => out.push_str(&format!("ok   {}\n", report.name)),
            Some(problem) => {
                failed += 1;
                out.push_str(&format!("FAIL {}\n{}", report.name, problem.explain()));
            }
        }
    }
    out.push_str(&format!(
        "\n{} passed, {failed} failed\n",
        reports.len() - failed
    ));
    out
}

#[cfg(test)]
mod tests;
