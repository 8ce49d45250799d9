//! Cases files (the format is in `docs/policy-files.md`): a module's own examples with the
//! decision each must get. `wicket policy test` runs them, and a reload runs the cases file
//! that sits beside a module (`<module stem>.cases.json`) before the module may serve.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{Error, Result};
use super::{Chain, ChainEntry, ModuleOutcome, ModuleResult, PolicyModule};
use crate::domain::{AccessRequest, Approval, Decision, Grant, Identity};

/// A cases file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    /// Default settings of every case.
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// The cases, in order.
    pub cases: Vec<Case>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique name.
    pub name: String,
    /// Replaces the file's default settings.
    pub settings: Option<Value>,
    /// Who asks (absent in settings-error cases).
    pub identity: Option<Value>,
    /// What for (absent in settings-error cases).
    pub request: Option<Value>,
    /// What must happen.
    pub expect: Expect,
}

/// What a case expects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The module's decision kind.
    pub decision: Option<Kind>,
    /// The exact grant of an allow.
    pub grant: Option<Grant>,
    /// A substring of the deny or approval reason.
    pub reason_contains: Option<String>,
    /// The exact approval of a needs-approval.
    pub approval: Option<Approval>,
    /// The module must reject its settings with a message holding this.
    pub settings_error_contains: Option<String>,
}

/// A decision kind.
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
    fn name(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::Deny => "deny",
            Kind::NeedsApproval => "needs_approval",
            Kind::Abstain => "abstain",
        }
    }
}

/// What a case is about, once checked for consistency.
pub enum Plan<'a> {
    /// The settings must be rejected with a message containing this.
    SettingsError(&'a str),
    /// The module must decide `identity`'s `request` as expected.
    Decide {
        /// Who asks.
        identity: &'a Value,
        /// What for.
        request: &'a Value,
    },
}

impl CasesFile {
    /// Checks names are unique and every case has what its expectation needs.
    pub fn plans(&self, path: &Path) -> Result<Vec<Plan<'_>>> {
        let bad = |message: String| Error::Cases {
            path: path.to_owned(),
            message,
        };
        if self.cases.is_empty() {
            return Err(bad("the file holds no cases".into()));
        }
        let mut names = HashSet::new();
        self.cases
            .iter()
            .map(|case| {
                if case.name.trim().is_empty() {
                    return Err(bad("a case has an empty name".into()));
                }
                if !names.insert(case.name.as_str()) {
                    return Err(bad(format!("case `{}` appears twice", case.name)));
                }
                let e = &case.expect;
                match (&e.settings_error_contains, e.decision, &case.identity, &case.request) {
                    (Some(message), None, None, None)
                        if e.grant.is_none() && e.reason_contains.is_none() && e.approval.is_none() =>
                    {
                        Ok(Plan::SettingsError(message))
                    }
                    (Some(_), ..) => Err(bad(format!(
                        "case `{}` expects a settings error, so it takes no identity, request or decision",
                        case.name
                    ))),
                    (None, Some(_), Some(identity), Some(request)) => Ok(Plan::Decide { identity, request }),
                    (None, None, ..) => Err(bad(format!(
                        "case `{}` expects neither a decision nor a settings error",
                        case.name
                    ))),
                    (None, Some(_), ..) => Err(bad(format!(
                        "case `{}` needs an identity and a request",
                        case.name
                    ))),
                }
            })
            .collect()
    }
}

/// Compares a module's outcome with the expectation: `None` if it matches, otherwise the
/// expected and actual JSON (with the same keys) to diff.
pub fn compare(expect: &Expect, outcome: &ModuleOutcome) -> Option<(Value, Value)> {
    let kind = expect.decision?;
    let (actual_kind, grant, reason, approval) = match &outcome.result {
        ModuleResult::Decided { decision } => match decision {
            Decision::Allow { grant } => (Kind::Allow, Some(grant), None, None),
            Decision::Deny { reason } => (Kind::Deny, None, Some(reason.as_str()), None),
            Decision::NeedsApproval { approval } => (
                Kind::NeedsApproval,
                None,
                Some(approval.reason.as_str()),
                Some(approval),
            ),
            Decision::Abstain { reason } => (Kind::Abstain, None, Some(reason.as_str()), None),
        },
        ModuleResult::Failed { error, .. } => (Kind::Deny, None, Some(error.as_str()), None),
        // Decided nothing, so matches no expectation.
        ModuleResult::Skipped { after, .. } => {
            return Some((
                json!({ "decision": kind.name() }),
                json!({ "decision": "skipped", "after": after }),
            ));
        }
    };
    let mut expected = Map::new();
    let mut actual = Map::new();
    let mut ok = kind == actual_kind;
    expected.insert("decision".into(), json!(kind.name()));
    actual.insert("decision".into(), json!(actual_kind.name()));
    if let Some(want) = &expect.grant {
        ok &= grant == Some(want);
        expected.insert("grant".into(), json!(want));
        actual.insert("grant".into(), json!(grant));
    }
    if let Some(want) = &expect.approval {
        ok &= approval == Some(want);
        expected.insert("approval".into(), json!(want));
        actual.insert("approval".into(), json!(approval));
    }
    if let Some(want) = &expect.reason_contains {
        ok &= reason.is_some_and(|r| r.contains(want.as_str()));
        expected.insert("reason".into(), json!(format!("(contains) {want}")));
        actual.insert("reason".into(), json!(reason));
    }
    if let ModuleResult::Failed { error, .. } = &outcome.result {
        actual.insert("module_error".into(), json!(error));
    }
    (!ok).then_some((Value::Object(expected), Value::Object(actual)))
}

/// The cases file a reload runs before a module may serve: `<module stem>.cases.json` in
/// the module's directory (`group_access.wasm` → `group_access.cases.json`).
pub fn beside(module: &Path) -> PathBuf {
    let stem = module
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    module.with_file_name(format!("{stem}.cases.json"))
}

/// Reads and parses a cases file.
pub fn read(path: &Path) -> Result<CasesFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Cases {
        path: path.to_owned(),
        message: source.to_string(),
    })
}

/// Turns the JSON of an identity and a request into domain types, filling a missing request
/// `id` with `cli` and a missing `requested_at` with now.
pub fn parse_input(
    identity: Value,
    mut request: Value,
) -> serde_json::Result<(Identity, AccessRequest)> {
    let identity = serde_json::from_value(identity)?;
    if let Value::Object(fields) = &mut request {
        fields.entry("id").or_insert_with(|| Value::from("cli"));
        fields
            .entry("requested_at")
            .or_insert_with(|| Value::from(jiff::Timestamp::now().to_string()));
    }
    Ok((identity, serde_json::from_value(request)?))
}

/// Why one case did not get what it expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The module rejected the case's settings.
    SettingsRejected(String),
    /// The module accepted settings the case expects it to reject.
    SettingsAccepted {
        /// The message the case expects.
        want: String,
    },
    /// The module rejected the settings with another message.
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
        /// What the module decided.
        actual: Value,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
            Self::Mismatch { expected, actual } => {
                write!(f, "expected {expected}, got {actual}")
            }
        }
    }
}

/// One case's result: `None` when it passed.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// What went wrong, if anything.
    pub problem: Option<Problem>,
}

impl CasesFile {
    /// Runs every case against `module`. Every request is parsed before anything runs, so a
    /// malformed file (`path` names it) is an error, not a failed case.
    pub fn run(&self, path: &Path, module: &Arc<PolicyModule>) -> Result<Vec<CaseReport>> {
        let plans = self.plans(path)?;
        let mut prepared = Vec::with_capacity(plans.len());
        for plan in plans {
            prepared.push(match plan {
                Plan::Decide { identity, request } => Ok(parse_input(
                    identity.clone(),
                    request.clone(),
                )
                .map_err(|source| Error::Cases {
                    path: path.to_owned(),
                    message: source.to_string(),
                })?),
                Plan::SettingsError(want) => Err(want),
            });
        }
        Ok(self
            .cases
            .iter()
            .zip(prepared)
            .map(|(case, input)| {
                let settings = case.settings.as_ref().unwrap_or(&self.settings);
                let chain = Chain::new(vec![ChainEntry::new(
                    case.name.clone(),
                    Arc::clone(module),
                    settings,
                )]);
                let problem = match (input, chain) {
                    (Err(want), Ok(_)) => Some(Problem::SettingsAccepted {
                        want: want.to_owned(),
                    }),
                    (Err(want), Err(Error::Settings { message, .. })) if message.contains(want) => {
                        None
                    }
                    (Err(want), Err(error)) => Some(Problem::OtherSettingsError {
                        want: want.to_owned(),
                        got: error.to_string(),
                    }),
                    (Ok(_), Err(error)) => Some(Problem::SettingsRejected(error.to_string())),
                    (Ok((identity, request)), Ok(chain)) => {
                        let evaluation = chain.evaluate(&identity, &request);
                        evaluation.modules.first().and_then(|outcome| {
                            compare(&case.expect, outcome)
                                .map(|(expected, actual)| Problem::Mismatch { expected, actual })
                        })
                    }
                };
                CaseReport {
                    name: case.name.clone(),
                    problem,
                }
            })
            .collect())
    }
}
