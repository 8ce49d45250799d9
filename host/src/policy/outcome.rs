//! What an evaluation returns: the verdict plus, for every module, what it said, its digest,
//! how long it took and what it printed. Serialises to the JSON `wicket policy eval` prints.
//!
//! [`Verdict`] is the one model of a chain's result: the workflow acts on it and the store and
//! audit log record it as it is, each module's approval requirement apart.

use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::sandbox::Output;
use crate::domain::{Approval, Decision, Grant};

/// The combined decision of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "decision",
    rename_all = "snake_case",
    try_from = "StoredVerdict"
)]
pub enum Verdict {
    /// Provision exactly this grant.
    Allow {
        /// The grant, already narrowed by every module and capped to the request's duration.
        grant: Grant,
    },
    /// Refuse.
    Deny {
        /// Why, for the requester.
        reason: String,
    },
    /// Provision `grant` once every approval in `approvals` is given.
    NeedsApproval {
        /// Every approval required, one per module that asked for one, in chain order: each
        /// is a separate requirement (its own approvers and count), none is merged into another.
        approvals: Vec<Approval>,
        /// What is granted once approved, narrowed like an allow.
        grant: Grant,
    },
}

impl Verdict {
    /// The grant an allow provisions, or an approval-needing verdict would once approved.
    pub fn grant(&self) -> Option<&Grant> {
        match self {
            Self::Allow { grant } | Self::NeedsApproval { grant, .. } => Some(grant),
            Self::Deny { .. } => None,
        }
    }
}

impl From<Decision> for Verdict {
    /// The verdict of a chain whose one module decided `decision` (a native rule's answer).
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Allow { grant } => Self::Allow { grant },
            Decision::Deny { reason } => Self::Deny { reason },
            Decision::NeedsApproval { approval } => Self::NeedsApproval {
                grant: approval.grant.clone(),
                approvals: vec![approval],
            },
            // A chain whose one module abstains denies: fail closed.
            Decision::Abstain { reason } => Self::Deny {
                reason: format!("every module abstained ({reason})"),
            },
        }
    }
}

/// A verdict as stored: also the form written before each module's approval was kept apart
/// (`"approval"`: one approval carrying the chain's grant).
#[derive(Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
enum StoredVerdict {
    Allow {
        grant: Grant,
    },
    Deny {
        reason: String,
    },
    NeedsApproval {
        #[serde(default)]
        approvals: Vec<Approval>,
        approval: Option<Approval>,
        grant: Option<Grant>,
    },
}

impl TryFrom<StoredVerdict> for Verdict {
    type Error = String;

    fn try_from(stored: StoredVerdict) -> Result<Self, String> {
        Ok(match stored {
            StoredVerdict::Allow { grant } => Self::Allow { grant },
            StoredVerdict::Deny { reason } => Self::Deny { reason },
            StoredVerdict::NeedsApproval {
                mut approvals,
                approval,
                grant,
            } => {
                let grant = grant
                    .or_else(|| approval.as_ref().map(|a| a.grant.clone()))
                    .ok_or("a verdict that needs approval names no grant")?;
                approvals.extend(approval);
                Self::NeedsApproval { approvals, grant }
            }
        })
    }
}

/// What one module of a chain did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleOutcome {
    /// The chain entry's name.
    pub name: String,
    /// The sha256 of the module's bytes, lowercase hex.
    pub digest: String,
    /// Its decision, or why it has none.
    #[serde(flatten)]
    pub result: ModuleResult,
    /// Wall time of the call, instantiation included.
    #[serde(rename = "duration_us", serialize_with = "micros")]
    pub duration: Duration,
    /// What it printed.
    #[serde(skip_serializing_if = "Output::is_empty")]
    pub output: Output,
}

/// A module's decision, or its failure (which the chain treats as a deny).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ModuleResult {
    /// A well-formed decision.
    Decided {
        /// The decision.
        decision: Decision,
    },
    /// A trap, exceeded deadline or memory limit, or a malformed decision.
    Failed {
        /// The diagnostic.
        error: String,
        /// The malformed decision, when the module returned one.
        #[serde(skip_serializing_if = "Option::is_none")]
        returned: Option<Decision>,
    },
    /// Not run: an earlier entry ended the chain.
    Skipped {
        /// That entry's name.
        after: String,
        /// How it ended the chain.
        because: Stop,
    },
}

/// How an entry ended its chain, so that the entries after it did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// It denied (or failed) and is configured `on_deny = "stop"`.
    Deny,
    /// It allowed and is configured `on_allow = "sufficient"`, and no entry before it denied,
    /// failed or asked for approval.
    Sufficient,
}

impl ModuleResult {
    /// Whether `other` decides the same: equal decisions, or two failures (both denies).
    /// A failure and a decision differ, as do two decisions with different details; a
    /// skipped module decided nothing, like nothing else.
    pub fn decides_like(&self, other: &ModuleResult) -> bool {
        match (self, other) {
            (Self::Decided { decision: a }, Self::Decided { decision: b }) => a == b,
            (Self::Failed { .. }, Self::Failed { .. }) => true,
            _ => false,
        }
    }

    /// Whether this is a deny: a denying decision or a failure.
    pub fn denies(&self) -> bool {
        matches!(
            self,
            Self::Decided {
                decision: Decision::Deny { .. }
            } | Self::Failed { .. }
        )
    }
}

/// The result of evaluating a request with a chain. Never an error: failures are denies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The combined decision.
    pub verdict: Verdict,
    /// Every module's outcome, in chain order (skipped ones included).
    pub modules: Vec<ModuleOutcome>,
    /// Wall time of the whole evaluation.
    #[serde(rename = "duration_us", serialize_with = "micros")]
    pub duration: Duration,
}

fn micros<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A verdict stored before each module's approval was kept apart still reads: its one
    /// approval is the one requirement, and the grant is its grant.
    #[test]
    fn a_verdict_stored_with_one_merged_approval_still_reads() {
        let grant =
            json!({"namespaces": [{"namespace": "payments", "role": "edit"}], "ttl_seconds": 600});
        let approval = json!({"groups": ["leads"], "count": 2, "reason": "prod", "grant": grant});
        let old = json!({"decision": "needs_approval", "approval": approval});
        let read: Verdict = serde_json::from_value(old).expect("an old verdict reads");
        let approval: Approval = serde_json::from_value(approval).expect("an approval");
        let grant: Grant = serde_json::from_value(grant).expect("a grant");
        assert_eq!(
            read,
            Verdict::NeedsApproval {
                approvals: vec![approval],
                grant
            }
        );
        let written = serde_json::to_value(&read).expect("serialises");
        assert_eq!(
            serde_json::from_value::<Verdict>(written).expect("reads"),
            read
        );
        let nothing = json!({"decision": "needs_approval"});
        assert!(serde_json::from_value::<Verdict>(nothing).is_err());
    }

    /// A lone abstention decides nothing: as a chain's verdict it is a deny (fail closed).
    #[test]
    fn a_lone_abstention_is_a_deny() {
        let abstain = Decision::Abstain {
            reason: "not on call".into(),
        };
        assert_eq!(
            Verdict::from(abstain),
            Verdict::Deny {
                reason: "every module abstained (not on call)".into()
            }
        );
    }
}
