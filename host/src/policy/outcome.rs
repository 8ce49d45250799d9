//! What an evaluation returns: the verdict plus, for every module, what it said, its digest,
//! how long it took and what it printed. Serialises to the JSON `wicket policy eval` prints.

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::sandbox::Output;
use super::types::{Approval, Decision, Grant};

/// The combined decision of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
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
        /// Every approval required, one per module that asked for one, in chain order.
        approvals: Vec<Approval>,
        /// What is granted once approved, narrowed like an allow.
        grant: Grant,
    },
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
    /// Not run: an earlier entry that stops the chain on a deny denied (or failed).
    Skipped {
        /// That entry's name.
        after: String,
    },
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
