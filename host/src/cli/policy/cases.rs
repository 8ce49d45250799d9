//! The cases file of `wicket policy test` and how one case's expectation is checked.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::cli::{Error, Result};
use crate::policy::types::{Approval, Decision, Grant};
use crate::policy::{ModuleOutcome, ModuleResult};

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
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::Deny => "deny",
            Kind::NeedsApproval => "needs_approval",
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
        },
        ModuleResult::Failed { error, .. } => (Kind::Deny, None, Some(error.as_str()), None),
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
