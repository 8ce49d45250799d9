//! A policy's answer.

use alloc::string::String;

use serde_alloc::{Deserialize, Serialize};

use crate::grant::{Approval, Grant};
use crate::request::AccessRequest;

/// A policy's answer to an access request. In JSON
/// `{"decision": "allow", "grant": {...}}`, `{"decision": "deny", "reason": "..."}` or
/// `{"decision": "needs_approval", "approval": {...}}`.
///
/// ```
/// use wicket_sdk::{Access, AccessRequest, Decision, Grant};
///
/// let request = AccessRequest::new("prod", Access::role("view"), 600).with_namespace("web");
/// let allow = Decision::allow(Grant::from_request(&request));
/// assert!(matches!(allow, Decision::Allow { ref grant } if grant.ttl_seconds == 600));
/// assert_eq!(Decision::deny("no"), Decision::Deny { reason: "no".into() });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "serde_alloc", tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Allow, with exactly this access.
    Allow {
        /// The access allowed.
        grant: Grant,
    },
    /// Deny.
    Deny {
        /// Why, shown to the requester.
        reason: String,
    },
    /// Allow once approved as described.
    NeedsApproval {
        /// The approval needed and the grant it unlocks.
        approval: Approval,
    },
}

impl Decision {
    /// Allow with exactly `grant`.
    pub fn allow(grant: Grant) -> Self {
        Self::Allow { grant }
    }

    /// Allow exactly what `request` asks for ([`Grant::from_request`]).
    pub fn allow_as_requested(request: &AccessRequest) -> Self {
        Self::allow(Grant::from_request(request))
    }

    /// Deny because of `reason`.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::Deny {
            reason: reason.into(),
        }
    }

    /// Allow once `approval` is given.
    pub fn needs_approval(approval: Approval) -> Self {
        Self::NeedsApproval { approval }
    }
}
